//! The collector thread: calls the CLI's closure every interval (at once
//! when the intended bind changes) and sends each reading to the event loop.
//! Reading 100k sockets and probing take time; the screen must not wait.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::tui::messages::{Command, LoopEvent};
use crate::tui::{CollectRequest, Snapshot};

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
                super::fault::on_reading("collector");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProtocolSet;
    use crate::tui::test_fixtures::{scenario, spec_8080};
    use std::sync::mpsc;

    const PATIENCE: Duration = Duration::from_secs(5);

    /// A collector whose readings carry the requested port in `skipped_rows`.
    fn start(interval: Duration) -> (Sender<Command>, Receiver<LoopEvent>, JoinHandle<()>) {
        let (commands, command_receiver) = mpsc::channel();
        let (events, event_receiver) = mpsc::channel();
        let thread = spawn(
            |request: &CollectRequest| {
                let mut snapshot = scenario(Instant::now());
                snapshot.table.skipped_rows =
                    request.bind.as_ref().map_or(0, |b| usize::from(b.port));
                Ok(snapshot)
            },
            CollectRequest {
                bind: None,
                protocols: ProtocolSet::TCP,
                pressure: false,
            },
            interval,
            command_receiver,
            events,
        )
        .expect("collector thread");
        (commands, event_receiver, thread)
    }

    fn next_port(events: &Receiver<LoopEvent>, within: Duration) -> Option<usize> {
        match events.recv_timeout(within).ok()? {
            LoopEvent::Reading(reading) => Some((*reading).expect("reading").table.skipped_rows),
            _ => None,
        }
    }

    #[test]
    fn reads_at_once_then_every_interval() {
        let (_commands, events, _) = start(Duration::from_millis(20));
        assert_eq!(next_port(&events, PATIENCE), Some(0));
        assert_eq!(next_port(&events, PATIENCE), Some(0));
    }

    #[test]
    fn pause_stops_reading_but_a_new_bind_is_read_at_once() {
        let (commands, events, thread) = start(Duration::from_secs(3600));
        assert_eq!(next_port(&events, PATIENCE), Some(0));
        commands.send(Command::Pause(true)).expect("send");
        commands
            .send(Command::Collect(CollectRequest {
                bind: Some(spec_8080()),
                protocols: ProtocolSet::TCP,
                pressure: false,
            }))
            .expect("send");
        assert_eq!(next_port(&events, PATIENCE), Some(8080));
        commands
            .send(Command::Interval(Duration::from_millis(10)))
            .expect("send");
        assert_eq!(
            next_port(&events, Duration::from_millis(200)),
            None,
            "paused"
        );
        commands.send(Command::Pause(false)).expect("send");
        assert_eq!(next_port(&events, PATIENCE), Some(8080));
        commands
            .send(Command::Discard(Box::new(scenario(Instant::now()))))
            .expect("send");
        drop(commands);
        thread
            .join()
            .expect("the thread ends when the loop is gone");
    }
}
