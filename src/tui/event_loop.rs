//! The event loop: one channel brings keys, readings and signals; state
//! changes in [`App`]; a frame is drawn after each change, and every 100 ms
//! only while a countdown on screen is running, so an idle dashboard sleeps.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossterm::event::{self, Event};
use ratatui::backend::Backend;
use ratatui::Terminal;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::session::Session;
use crate::source::bpf::Watcher;
use crate::tui::app::{App, Effect};
use crate::tui::collector;
use crate::tui::messages::{Command, LoopEvent};
use crate::tui::terminal::{self, TerminalSession};
use crate::tui::watcher as failures_watcher;
use crate::tui::{render, CollectRequest, Snapshot, TuiConfig};
use crate::Error;

/// Time between frames while a countdown runs: smooth tenths of a second.
const FRAME: Duration = Duration::from_millis(100);

/// How often the input thread looks up from waiting to see if it must stop.
const INPUT_STOP_CHECK: Duration = Duration::from_millis(250);

pub(crate) fn run(
    config: TuiConfig,
    collect: impl FnMut(&CollectRequest) -> crate::Result<Snapshot> + Send + 'static,
    session: Session,
    watcher: Option<Watcher>,
) -> crate::Result<()> {
    let mut app = App::new(config);
    let (events, event_receiver) = mpsc::channel();
    let (commands, command_receiver) = mpsc::channel();

    let signals = Signals::new([SIGTERM, SIGINT, SIGHUP]).map_err(|e| Error::io("signals", e))?;
    let signal_handle = signals.handle();
    let signal_thread = spawn_signal_thread(signals, events.clone())?;

    let result = TerminalSession::enter().and_then(|mut terminal| {
        let stop_input = Arc::new(AtomicBool::new(false));
        let input_ended = spawn_input_thread(Arc::clone(&stop_input), events.clone())?;
        // Not joined: it may be in the middle of a slow reading, and ends by
        // itself when it finds the loop gone.
        collector::spawn(
            collect,
            app.request(),
            app.interval,
            command_receiver,
            events.clone(),
        )
        .map_err(|e| Error::io("collector thread", e))?;
        let stop_watcher = Arc::new(AtomicBool::new(false));
        let watcher_ended = match watcher {
            Some(watcher) => Some(
                failures_watcher::spawn(
                    watcher,
                    session.clone(),
                    Arc::clone(&stop_watcher),
                    events.clone(),
                )
                .map_err(|e| Error::io("watcher thread", e))?,
            ),
            None => None,
        };
        let result = event_loop(
            &mut terminal.terminal,
            &mut app,
            &event_receiver,
            &commands,
            &session,
        );
        stop_input.store(true, Ordering::Relaxed);
        // Let it stop before the terminal is given back (it must not take
        // keys meant for the shell), but never wait on it for long: a
        // thread stuck in crossterm must not keep the process alive.
        let _ = input_ended.recv_timeout(2 * INPUT_STOP_CHECK);
        // Detach the programs before leaving (they cost every bind on the
        // host), unless a judgement is slow: the exit detaches them too.
        stop_watcher.store(true, Ordering::Relaxed);
        if let Some(ended) = watcher_ended {
            let _ = ended.recv_timeout(4 * INPUT_STOP_CHECK);
        }
        result
    });
    signal_handle.close();
    let _ = signal_thread.join();
    result
}

fn event_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    events: &Receiver<LoopEvent>,
    commands: &Sender<Command>,
    session: &Session,
) -> crate::Result<()> {
    loop {
        if terminal::restored() {
            return ended();
        }
        let now = Instant::now();
        app.expire_status(now);
        terminal
            .draw(|frame| render::draw(frame, app, now))
            .map_err(|e| Error::Invalid(format!("drawing the dashboard: {e}")))?;
        // Woken for the next countdown frame, or to clear a report.
        let wake = if app.countdown_running(now) {
            Some(FRAME)
        } else {
            app.status_until
                .map(|until| until.saturating_duration_since(now))
        };
        let first = if let Some(wake) = wake {
            match events.recv_timeout(wake) {
                Ok(event) => event,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return ended(),
            }
        } else {
            match events.recv() {
                Ok(event) => event,
                Err(_) => return ended(),
            }
        };
        // Everything already queued goes into the same frame.
        for event in std::iter::once(first).chain(events.try_iter()) {
            if handle(event, app, commands, session) == Flow::Quit {
                return ended();
            }
        }
    }
}

/// How the loop ended: by the user or a signal, or after a panic on another
/// thread (whose hook has restored the terminal already).
fn ended() -> crate::Result<()> {
    if terminal::restored() {
        return Err(Error::Invalid(
            "the dashboard stopped: a thread panicked (message above)".to_string(),
        ));
    }
    Ok(())
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Quit,
}

fn handle(event: LoopEvent, app: &mut App, commands: &Sender<Command>, session: &Session) -> Flow {
    let effect = match event {
        LoopEvent::Input(Event::Key(key)) => app.handle_key(key),
        // A resize, focus change or paste just redraws.
        LoopEvent::Input(_) => None,
        LoopEvent::Reading(reading) => {
            super::fault::on_reading("main");
            if let Some(replaced) = app.apply_reading(*reading) {
                let _ = commands.send(Command::Discard(Box::new(replaced)));
            }
            None
        }
        LoopEvent::Failure(report) => {
            app.add_failure(*report);
            None
        }
        LoopEvent::Closes(closes) => {
            for closed in closes {
                app.left_by.record_close(
                    closed.local,
                    closed.remote,
                    closed.task.tgid,
                    &closed.task.comm,
                );
            }
            None
        }
        LoopEvent::Stop => Some(Effect::Quit),
    };
    apply(effect, app, commands, session)
}

fn apply(
    effect: Option<Effect>,
    app: &mut App,
    commands: &Sender<Command>,
    session: &Session,
) -> Flow {
    // A collector that is gone has reported why through its last reading.
    let _ = match effect {
        None => Ok(()),
        Some(Effect::Quit) => return Flow::Quit,
        Some(Effect::Collect(request)) => commands.send(Command::Collect(request)),
        Some(Effect::SetInterval(interval)) => commands.send(Command::Interval(interval)),
        Some(Effect::SetPaused(paused)) => commands.send(Command::Pause(paused)),
        // SOCK_DESTROY answers within a netlink round trip: no thread needed.
        Some(Effect::Destroy(targets)) => {
            let result = session.destroy_all(&targets);
            let next = app.destroyed(&targets, result, Instant::now());
            return apply(next, app, commands, session);
        }
    };
    Flow::Continue
}

/// Reads keys on its own thread and ends when told to, when the terminal
/// is gone, or when the loop is. Returns a receiver that disconnects when
/// the thread has ended.
fn spawn_input_thread(
    stop: Arc<AtomicBool>,
    events: Sender<LoopEvent>,
) -> crate::Result<Receiver<()>> {
    let (ended, ended_receiver) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("tw-inspect input".into())
        .spawn(move || {
            let _ended = ended;
            let tty = Tty::open();
            let gone = || {
                let _ = events.send(LoopEvent::Stop);
            };
            while !stop.load(Ordering::Relaxed) {
                // Checked before every call into crossterm, which spins on a
                // terminal that hung up (see `Tty`).
                if tty.wait(Duration::ZERO) == TtyInput::Gone {
                    return gone();
                }
                let event = match event::poll(Duration::ZERO) {
                    Ok(true) => event::read(),
                    Ok(false) => match tty.wait(INPUT_STOP_CHECK) {
                        TtyInput::Gone => return gone(),
                        TtyInput::Ready | TtyInput::Idle => continue,
                    },
                    Err(error) => Err(error),
                };
                let sent = match event {
                    Ok(event) => events.send(LoopEvent::Input(event)),
                    // The terminal is gone: nothing more can be shown.
                    Err(_) => return gone(),
                };
                if sent.is_err() {
                    return;
                }
            }
        })
        .map_err(|e| Error::io("input thread", e))?;
    Ok(ended_receiver)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TtyInput {
    Ready,
    Idle,
    Gone,
}

/// The terminal the keys come from (crossterm reads stdin when it is a
/// terminal, else /dev/tty), watched with poll(2). crossterm cannot wait on
/// a terminal that hung up (ssh dropped, tmux pane killed): every read then
/// returns 0 bytes and crossterm retries at once, spinning a core forever.
/// poll reports the hangup instead.
enum Tty {
    Stdin,
    Opened(std::fs::File),
    /// No terminal to watch: crossterm alone decides.
    Unknown,
}

impl Tty {
    fn open() -> Tty {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            return Tty::Stdin;
        }
        std::fs::File::open("/dev/tty").map_or(Tty::Unknown, Tty::Opened)
    }

    /// Waits up to `timeout` for input.
    fn wait(&self, timeout: Duration) -> TtyInput {
        use std::os::fd::AsRawFd;
        let fd = match self {
            Tty::Stdin => libc::STDIN_FILENO,
            Tty::Opened(file) => file.as_raw_fd(),
            Tty::Unknown => {
                std::thread::sleep(timeout);
                return TtyInput::Idle;
            }
        };
        let mut watched = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd that outlives the call.
        let ready = unsafe { libc::poll(&mut watched, 1, millis) };
        if ready <= 0 {
            // A timeout, or EINTR (a signal: the loop looks at `stop`).
            return TtyInput::Idle;
        }
        if watched.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            TtyInput::Gone
        } else {
            TtyInput::Ready
        }
    }
}

fn spawn_signal_thread(
    mut signals: Signals,
    events: Sender<LoopEvent>,
) -> crate::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tw-inspect signals".into())
        .spawn(move || {
            // Ends when the handle is closed; dropping `signals` unregisters.
            if signals.forever().next().is_some() {
                let _ = events.send(LoopEvent::Stop);
            }
        })
        .map_err(|e| Error::io("signal thread", e))
}
