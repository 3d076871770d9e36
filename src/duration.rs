//! How durations are written, in every face and in the diagnosis's prose:
//! one rounding, always up, so a timer that has not fired never reads 0 and
//! a report, the dashboard and `--wait` show the same figure for one timer.

/// Seconds with one decimal, rounded up to the tenth: 43,250 ms is "43.3s".
pub fn seconds_text(ms: u64) -> String {
    let tenths = ms.div_ceil(100);
    format!("{}.{}s", tenths / 10, tenths % 10)
}

/// Whole seconds, rounded up: "free in ~N s" is never said too early.
pub fn whole_seconds(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_up() {
        assert_eq!(seconds_text(43_250), "43.3s");
        assert_eq!(seconds_text(41_700), "41.7s");
        assert_eq!(seconds_text(1), "0.1s");
        assert_eq!(seconds_text(0), "0.0s");
        assert_eq!(whole_seconds(41_001), 42);
        assert_eq!(whole_seconds(60_000), 60);
        assert_eq!(whole_seconds(0), 0);
    }
}
