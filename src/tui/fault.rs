//! Debug builds only: `TW_INSPECT_TEST_PANIC=collector` (or `main`) makes
//! that thread panic at its second reading, once the dashboard is up, so the
//! tests can check that a panic gives the terminal back. Release builds
//! compile this to nothing.

#[cfg(debug_assertions)]
pub(crate) fn on_reading(thread: &str) {
    use std::cell::Cell;
    thread_local!(static READINGS: Cell<u32> = const { Cell::new(0) });
    let readings = READINGS.with(|count| {
        count.set(count.get() + 1);
        count.get()
    });
    if readings == 2 && std::env::var("TW_INSPECT_TEST_PANIC").is_ok_and(|asked| asked == thread) {
        panic!("TW_INSPECT_TEST_PANIC={thread}: a panic on the {thread} thread, as asked");
    }
}

#[cfg(not(debug_assertions))]
pub(crate) fn on_reading(_thread: &str) {}
