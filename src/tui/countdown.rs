//! Timers between two readings: a timer read as `expires_ms` at `read_at`
//! keeps counting down in real time, so the screen moves smoothly while the
//! next reading is on its way.

use std::time::Instant;

use crate::model::TIME_WAIT_LEN_MS;

/// What is left at `now` of a timer that had `expires_ms` left at `read_at`;
/// never below 0.
pub(crate) fn remaining_ms(expires_ms: u64, read_at: Instant, now: Instant) -> u64 {
    let elapsed = now.saturating_duration_since(read_at).as_millis();
    u64::try_from(u128::from(expires_ms).saturating_sub(elapsed)).unwrap_or(0)
}

/// How much of the 2MSL lifetime is left, from 0.0 to 1.0.
pub(crate) fn lifetime_fraction(ms: u64) -> f64 {
    (ms as f64 / TIME_WAIT_LEN_MS as f64).clamp(0.0, 1.0)
}

/// A text gauge `cells` wide of the lifetime left: "██████░░░░".
pub(crate) fn lifetime_gauge(ms: u64, cells: usize) -> String {
    let filled = (lifetime_fraction(ms) * cells as f64).round() as usize;
    let mut gauge = "█".repeat(filled.min(cells));
    gauge.push_str(&"░".repeat(cells.saturating_sub(filled)));
    gauge
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn counts_down_from_the_reading_and_stops_at_zero() {
        let read_at = Instant::now();
        assert_eq!(remaining_ms(5_000, read_at, read_at), 5_000);
        let later = read_at + Duration::from_millis(1_250);
        assert_eq!(remaining_ms(5_000, read_at, later), 3_750);
        assert_eq!(
            remaining_ms(5_000, read_at, read_at + Duration::from_secs(9)),
            0
        );
        // A `now` before the reading (clock skew between threads) is no time at all.
        assert_eq!(remaining_ms(5_000, later, read_at), 5_000);
    }

    #[test]
    fn gauge_scales_to_the_two_msl_lifetime() {
        assert_eq!(lifetime_gauge(60_000, 10), "██████████");
        assert_eq!(lifetime_gauge(30_000, 10), "█████░░░░░");
        assert_eq!(lifetime_gauge(0, 4), "░░░░");
        // A timer longer than 60 s (tcp_fin_timeout on FIN_WAIT2) fills, never overflows.
        assert_eq!(lifetime_gauge(90_000, 4), "████");
    }
}
