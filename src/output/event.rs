//! One failed bind caught by `--watch`, as the faces print it: the human
//! line ([`write_event_line`]) here, the JSON document in
//! [`crate::output::json::write_event`]. Both render a [`FailureReport`],
//! which [`crate::session::Session::judge_failure`] fills from the watcher's
//! event and the verdict; nothing here reads the kernel.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::duration::seconds_text;
use crate::output::human::{bind_text, endpoint, namespace_text};
use crate::output::inert::inert;
use crate::session::FailureReport;

/// RFC 3339 in UTC with milliseconds: `2026-11-30T18:40:01.123Z`.
pub fn rfc3339_utc(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The human form: a headline, then the blockers, why, and advice indented.
///
/// ```text
/// 2026-11-30T18:40:01.123Z python3 (pid 4242, uid 0) could not bind 127.0.0.1:7001 (no SO_REUSEADDR, no SO_REUSEPORT) in net:[4026532512] "blue"
///   cmdline: python3 server.py
///   blocked by TIME_WAIT 127.0.0.1:7001 <-> 127.0.0.1:40112, left by pid 4100 python3 at 2026-11-30T18:40:00.990Z
///   frees in 59.9s: <explanation>
///   advice: <first advice>
/// ```
pub fn write_event_line(out: &mut impl Write, report: &FailureReport) -> io::Result<()> {
    write!(
        out,
        "{} {} (pid {}, uid {}) could not bind {} in {}",
        rfc3339_utc(report.time),
        inert(&report.comm),
        report.pid,
        report.uid,
        bind_text(&report.bind),
        namespace_text(&report.netns),
    )?;
    if let Some(container) = &report.workload.container {
        let short: String = container.id.chars().take(12).collect();
        write!(out, " [{} {}]", container.runtime.as_str(), inert(&short))?;
    }
    if let Some(unit) = &report.workload.unit {
        write!(out, " [{}]", inert(unit))?;
    }
    writeln!(out)?;
    if !report.cmdline.is_empty() {
        writeln!(out, "  cmdline: {}", inert(&report.cmdline))?;
    }
    let verdict = match &report.verdict {
        Ok(verdict) => verdict,
        Err(why) => return writeln!(out, "  no verdict: {}", inert(why)),
    };
    for (i, blocker) in verdict.blockers.iter().enumerate() {
        let socket = &blocker.socket;
        write!(
            out,
            "  blocked by {} {}",
            socket.state.name(),
            endpoint(&socket.local)
        )?;
        if !is_unspecified(&socket.remote) {
            write!(out, " <-> {}", endpoint(&socket.remote))?;
        }
        if let Some(process) = socket.processes.first() {
            write!(out, " held by pid {} {}", process.pid, inert(&process.comm))?;
        }
        if let Some(Some(left_by)) = report.left_by.get(i) {
            write!(
                out,
                ", left by pid {} {} at {}",
                left_by.pid,
                inert(&left_by.comm),
                rfc3339_utc(left_by.at)
            )?;
        }
        writeln!(out, ": {}", inert(&blocker.why))?;
    }
    let explanation = inert(&verdict.explanation).replace('\n', " ");
    match verdict.free_in_ms {
        Some(ms) => writeln!(out, "  frees in {}: {explanation}", seconds_text(ms))?,
        None => writeln!(out, "  {explanation}")?,
    }
    if let Some(advice) = verdict.advice.first() {
        writeln!(out, "  advice: {}", inert(advice))?;
    }
    Ok(())
}

fn is_unspecified(addr: &SocketAddr) -> bool {
    addr.ip().is_unspecified() && addr.port() == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339_utc(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let leap_day = UNIX_EPOCH + Duration::from_millis(951_782_400_123);
        assert_eq!(rfc3339_utc(leap_day), "2000-02-29T00:00:00.123Z");
        let later = UNIX_EPOCH + Duration::from_secs(1_796_056_801);
        assert_eq!(rfc3339_utc(later), "2026-11-30T16:40:01.000Z");
    }
}
