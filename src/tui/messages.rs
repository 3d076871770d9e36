//! What the dashboard's threads send each other: the event loop's inbox
//! (keys, readings, stop) and the collector's (commands). Both sides import
//! this module instead of each other.

use std::time::Duration;

use crossterm::event::Event;

use crate::session::FailureReport;
use crate::source::bpf::Closed;
use crate::tui::{CollectRequest, Snapshot};

/// What the event loop receives.
pub(crate) enum LoopEvent {
    Input(Event),
    Reading(Box<crate::Result<Snapshot>>),
    /// A bind that failed with EADDRINUSE, judged by the watcher thread.
    Failure(Box<FailureReport>),
    /// Connections the watcher saw closed in one poll: who left each
    /// TIME_WAIT.
    Closes(Vec<Closed>),
    /// SIGTERM, SIGINT, SIGHUP, the terminal is gone, or the collector died.
    Stop,
}

/// What the event loop tells the collector.
#[derive(Debug)]
pub(crate) enum Command {
    Collect(CollectRequest),
    Interval(Duration),
    Pause(bool),
    /// A reading the screen is done with: freed here, off the event loop.
    Discard(Box<Snapshot>),
}
