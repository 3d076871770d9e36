//! The bind failures panel's source: a thread that polls the kernel
//! watcher ([`crate::source::bpf::Watcher`]), remembers closes in a
//! [`CloseLog`] (who left each TIME_WAIT), has the session judge each
//! failed bind ([`Session::judge_failure`]) and sends the report to the
//! event loop, and the batch's closes too (the table's "left by" prefers
//! them). It ends when told to or when the loop is gone; the watcher
//! drops with it, which detaches its programs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use crate::session::{BatchVerdicts, Session};
use crate::source::bpf::{monotonic_now_ns, CloseLog, WatchEvent, Watcher};
use crate::tui::messages::LoopEvent;

/// How long one poll waits: the longest a stop request goes unnoticed.
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Closes remembered for `left_by` (each ~100 bytes; older ones go first).
const CLOSE_LOG_CAPACITY: usize = 65_536;

/// Starts the thread; the returned receiver disconnects when it has ended
/// (and the watcher is detached).
pub(crate) fn spawn(
    mut watcher: Watcher,
    session: Session,
    stop: Arc<AtomicBool>,
    events: Sender<LoopEvent>,
) -> std::io::Result<Receiver<()>> {
    let (ended, ended_receiver) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("tw-inspect watcher".into())
        .spawn(move || {
            let _ended = ended;
            let mut close_log = CloseLog::new(CLOSE_LOG_CAPACITY);
            let mut verdicts = BatchVerdicts::default();
            while !stop.load(Ordering::Relaxed) {
                let batch = watcher.poll(POLL_INTERVAL);
                close_log.prune(monotonic_now_ns());
                verdicts.clear();
                let mut closes = Vec::new();
                for event in batch {
                    match event {
                        WatchEvent::Closed(closed) => {
                            closes.push(closed.clone());
                            close_log.record(closed);
                        }
                        // (Our own probe binds, which fail too, are left out
                        // in the kernel: the scope ignores this process.)
                        WatchEvent::BindFailed(failed) => {
                            let report = session.judge_failure(&failed, &close_log, &mut verdicts);
                            if events.send(LoopEvent::Failure(Box::new(report))).is_err() {
                                return;
                            }
                        }
                    }
                }
                if !closes.is_empty() && events.send(LoopEvent::Closes(closes)).is_err() {
                    return;
                }
            }
        })?;
    Ok(ended_receiver)
}
