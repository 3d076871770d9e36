//! Scoped threads as this crate uses them: work spread over threads whose
//! panics are the caller's.

use std::thread::ScopedJoinHandle;

/// What `thread` returned; its panic, if it panicked, resumed here.
pub(crate) fn joined<T>(thread: ScopedJoinHandle<'_, T>) -> T {
    thread
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
