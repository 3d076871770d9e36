//! The collector thread: calls the CLI's closure every interval (at once
//! when the intended bind changes) and sends each reading to the event loop.
//! Reading 100k sockets and probing take time; the screen must not wait.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::tui::event_loop::LoopEvent;
use crate::tui::{CollectRequest, Snapshot};

/// What the event loop tells the collector.
#[derive(Debug)]
pub(crate) enum Command {
    Collect(CollectRequest),
    Interval(Duration),
    Pause(bool),
    /// A reading the screen is done with: freed here, off the event loop.
    Discard(Box<Snapshot>),
}

/// Starts the thread; it reads at once, then every `interval`. It ends when
/// the command sender is dropped or the event loop is gone.
pub(crate) fn spawn(
    mut collect: impl FnMut(&CollectRequest) -> crate::Result<Snapshot> + Send + 'static,
    mut request: CollectRequest,
    mut interval: Duration,
    commands: Receiver<Command>,
    events: Sender<LoopEvent>,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tw-inspect collector".into())
        .spawn(move || {
            // Wakes the event loop if the CLI's closure panics, so that it
            // ends instead of drawing over the panic message.
            let _stop_on_panic = StopOnPanic(events.clone());
            let mut paused = false;
            let mut next_read = Instant::now();
            loop {
                let command = if paused {
                    commands.recv().map_err(|_| RecvTimeoutError::Disconnected)
                } else {
                    commands.recv_timeout(next_read.saturating_duration_since(Instant::now()))
                };
                let due = match command {
                    // A changed bind is read at once, paused or not: the
                    // user is waiting for its verdict.
                    Ok(Command::Collect(new_request)) => {
                        request = new_request;
                        true
                    }
                    Ok(Command::Interval(new_interval)) => {
                        next_read = next_read
                            .checked_sub(interval)
                            .map_or_else(Instant::now, |last| last + new_interval);
                        interval = new_interval;
                        false
                    }
                    Ok(Command::Pause(pause)) => {
                        paused = pause;
                        !pause
                    }
                    Ok(Command::Discard(reading)) => {
                        drop(reading);
                        false
                    }
                    Err(RecvTimeoutError::Timeout) => true,
                    Err(RecvTimeoutError::Disconnected) => return,
                };
                if !due {
                    continue;
                }
                let reading = collect(&request);
                next_read = Instant::now() + interval;
                if events.send(LoopEvent::Reading(Box::new(reading))).is_err() {
                    return;
                }
            }
        })
}

struct StopOnPanic(Sender<LoopEvent>);

impl Drop for StopOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.send(LoopEvent::Stop);
        }
    }
}
