//! The `--connect` report for a person: will the next connect() get a local
//! port, the numbers behind the answer, why, what to do, and which
//! destinations use up the range.

use std::io::{self, Write};

use super::human::{write_prose, Style};
use crate::diagnosis::connect::{ConnectVerdict, PortPressure};
use crate::duration::seconds_text;
use crate::errno::Errno;

/// Destinations listed before "+N more".
const TOP_DESTINATIONS: usize = 10;

/// The verdict first, then the counts, the reasoning, the advice and the
/// destinations that use the range most.
pub fn write_connect_report(
    out: &mut impl Write,
    verdict: &ConnectVerdict,
    probe: Option<&Result<u16, Errno>>,
    pressure: &PortPressure,
    style: Style,
) -> io::Result<()> {
    let connect = &verdict.connect;
    let from = match connect.local {
        Some(addr) => format!(" from {addr}"),
        None => String::new(),
    };
    let call = if connect.bind_zero && !connect.no_port {
        "bind(0) + connect"
    } else {
        "connect"
    };
    let status = match (verdict.blocked, verdict.certain, verdict.errno) {
        (false, _, _) => style.good("GETS A PORT"),
        (true, true, Some(errno)) => style.alarm(&format!("FAILS ({errno})")),
        (true, _, Some(errno)) => style.alarm(&format!("MAY FAIL ({errno})")),
        (true, _, None) => style.alarm("FAILS"),
    };
    writeln!(out, "{call} {}{from}: {status}", connect.remote)?;
    let (low, high) = verdict.range;
    let mut counts = format!(
        "local ports {low}-{high}: {} usable ({} reserved); {} free, {} shared with other \
         destinations, {} held by bind()/listeners, {} in TIME_WAIT to this destination",
        verdict.usable,
        verdict.reserved,
        verdict.free,
        verdict.shared,
        verdict.held,
        verdict.time_wait_same_tuple
    );
    if verdict.time_wait_same_tuple > 0 {
        counts.push_str(&format!(
            ", {} reusable now (tcp_tw_reuse={})",
            verdict.reusable_now,
            verdict.tw_reuse.sysctl_value()
        ));
        if let Some(ms) = verdict.next_reusable_in_ms {
            counts.push_str(&format!(", the next in {}", seconds_text(ms)));
        }
    }
    write_prose(out, &counts, "", "  ")?;
    if let Some(probe) = probe {
        let said = match probe {
            Ok(port) => {
                format!("a probe bind(0) got port {port} (closed at once, never connected)")
            }
            Err(errno) => format!("a probe bind(0) failed with {errno}"),
        };
        writeln!(out, "{said}")?;
    }
    writeln!(out)?;
    writeln!(out, "{}", style.heading("Why"))?;
    write_prose(out, &verdict.explanation, "  ", "  ")?;
    if !verdict.advice.is_empty() {
        writeln!(out)?;
        writeln!(out, "{}", style.heading("What to do"))?;
        for (i, advice) in verdict.advice.iter().enumerate() {
            write_prose(out, &advice.text, &format!("  {}. ", i + 1), "     ")?;
        }
    }
    writeln!(out)?;
    write_pressure(out, pressure, style)
}

/// Which destinations use up the local port range: the first question when
/// connect() runs out of ports.
pub fn write_pressure(
    out: &mut impl Write,
    pressure: &PortPressure,
    style: Style,
) -> io::Result<()> {
    let (low, high) = pressure.range;
    writeln!(
        out,
        "{}",
        style.heading(&format!(
            "Local port range {low}-{high}: {} usable, {} in use, {} free, {} held by bind()/listeners",
            pressure.usable, pressure.used, pressure.free, pressure.held
        ))
    )?;
    if pressure.destinations.is_empty() {
        writeln!(out, "  no connection uses the range")?;
        return Ok(());
    }
    let rows: Vec<[String; 4]> = pressure
        .destinations
        .iter()
        .take(TOP_DESTINATIONS)
        .map(|d| {
            [
                d.remote.to_string(),
                d.time_wait.to_string(),
                d.live.to_string(),
                format!("{:.1}%", d.share * 100.0),
            ]
        })
        .collect();
    let headers = ["Destination", "TIME_WAIT", "Live", "Share of range"];
    let mut widths = headers.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let line = |cells: [&str; 4]| {
        format!(
            "  {:<w0$}  {:>w1$}  {:>w2$}  {:>w3$}",
            cells[0],
            cells[1],
            cells[2],
            cells[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3]
        )
    };
    writeln!(out, "{}", style.heading(&line(headers)))?;
    for row in &rows {
        writeln!(out, "{}", line([&row[0], &row[1], &row[2], &row[3]]))?;
    }
    if pressure.destinations.len() > TOP_DESTINATIONS {
        writeln!(
            out,
            "  +{} more destinations",
            pressure.destinations.len() - TOP_DESTINATIONS
        )?;
    }
    Ok(())
}
