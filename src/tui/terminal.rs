//! Entering and leaving the dashboard's terminal mode (raw, alternate
//! screen, hidden cursor). The terminal is restored however the dashboard
//! ends: a normal return, an error, a signal (the event loop returns), or a
//! panic (the hook restores before the panic message prints).

use std::io::{self, Stdout};
use std::panic::{self, PanicHookInfo};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

use crate::Error;

/// Set once the terminal is given back, by whichever thread: after a panic
/// on another thread the event loop must not draw over the message.
static RESTORED: AtomicBool = AtomicBool::new(false);

type PanicHook = Arc<dyn Fn(&PanicHookInfo<'_>) + Sync + Send + 'static>;

/// The dashboard's terminal; dropping it restores the terminal and the
/// panic hook that was there before.
pub(crate) struct TerminalSession {
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
    previous_hook: PanicHook,
}

impl TerminalSession {
    pub fn enter() -> crate::Result<TerminalSession> {
        let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))
            .map_err(|e| Error::io("terminal", e))?;
        let previous_hook: PanicHook = Arc::from(panic::take_hook());
        let chained = Arc::clone(&previous_hook);
        panic::set_hook(Box::new(move |info| {
            restore();
            chained(info);
        }));
        let session = TerminalSession {
            terminal,
            previous_hook,
        };
        RESTORED.store(false, Ordering::SeqCst);
        // From here on, Drop restores whatever part of this succeeded.
        enable_raw_mode().map_err(|e| Error::io("terminal (raw mode)", e))?;
        execute!(io::stdout(), EnterAlternateScreen, Hide).map_err(|e| Error::io("terminal", e))?;
        Ok(session)
    }
}

impl Drop for TerminalSession {
    fn drop(&mut self) {
        restore();
        // Unwinding from a panic on this thread: the hook cannot be changed
        // now (std aborts), and the process is on its way out anyway.
        if std::thread::panicking() {
            return;
        }
        let previous = Arc::clone(&self.previous_hook);
        // The dashboard's hook is dropped here; a panic after the dashboard
        // gets the program's own hook back.
        let _ = panic::take_hook();
        panic::set_hook(Box::new(move |info| previous(info)));
    }
}

/// Puts the terminal back as the shell had it. Errors are ignored: this
/// runs on the way out, when there is no one left to tell.
fn restore() {
    // Once only: leaving the alternate screen twice moves the cursor back
    // over whatever was printed in between (a panic message).
    if RESTORED.swap(true, Ordering::SeqCst) {
        return;
    }
    let _ = disable_raw_mode();
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
}

/// True once the terminal has been restored (a panic on some thread).
pub(crate) fn restored() -> bool {
    RESTORED.load(Ordering::SeqCst)
}
