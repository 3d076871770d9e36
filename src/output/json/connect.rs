//! The `--connect` documents: the intended connect and its verdict, and the
//! local port range's use by destination.

use std::io::{self, Write};

use super::writer::Json;
use super::{write_document, SCHEMA_VERSION};
use crate::diagnosis::connect::{ConnectVerdict, IntendedConnect, PortPressure};
use crate::errno::Errno;
use crate::model::{NamespaceId, SourceKind};

/// What the document is about: a connect and its verdict, or the range's
/// use alone (`--connect` without a destination).
pub enum ConnectDocument<'a> {
    Verdict {
        verdict: &'a ConnectVerdict,
        /// The bind(0) probe: the port the kernel chose, or its errno.
        probe: Option<&'a Result<u16, Errno>>,
        pressure: &'a PortPressure,
    },
    Pressure(&'a PortPressure),
}

/// Writes a `--connect` document: `"connect"` (remote, local, options) and
/// `"verdict"` (blocked, errno, range, reserved, free, shared, held,
/// time_wait_same_tuple, reusable_now, next_reusable_in_ms, tw_reuse,
/// explanation, advice), or for the bare `--connect` only `"pressure"`.
pub fn write_connect(
    out: &mut impl Write,
    source: SourceKind,
    netns: Option<&NamespaceId>,
    document: &ConnectDocument,
    pretty: bool,
) -> io::Result<()> {
    write_document(out, pretty, |json| {
        json.raw("{\"schema_version\":")?;
        json.number(SCHEMA_VERSION)?;
        json.raw(",\"source\":")?;
        json.name(source.as_str())?;
        json.raw(",\"netns\":")?;
        json.optional_namespace_id(netns)?;
        match document {
            ConnectDocument::Verdict {
                verdict,
                probe,
                pressure,
            } => {
                json.raw(",\"connect\":")?;
                json.intended_connect(&verdict.connect)?;
                json.raw(",\"verdict\":")?;
                json.connect_verdict(verdict, *probe)?;
                json.raw(",\"pressure\":")?;
                json.pressure(pressure)?;
            }
            ConnectDocument::Pressure(pressure) => {
                json.raw(",\"pressure\":")?;
                json.pressure(pressure)?;
            }
        }
        json.raw("}")
    })
}

impl<W: Write> Json<W> {
    fn intended_connect(&mut self, connect: &IntendedConnect) -> io::Result<()> {
        self.raw("{\"remote_addr\":")?;
        self.address(connect.remote.ip())?;
        self.raw(",\"remote_port\":")?;
        self.number(connect.remote.port())?;
        // The four-tuple's local address: the client's, or routing's choice.
        self.raw(",\"local_addr\":")?;
        match connect.local {
            Some(addr) => self.address(addr)?,
            None => self.raw("null")?,
        }
        self.raw(",\"bind_zero\":")?;
        self.boolean(connect.bind_zero)?;
        self.raw(",\"no_port\":")?;
        self.boolean(connect.no_port)?;
        self.raw(",\"reuseaddr\":")?;
        self.boolean(connect.reuseaddr)?;
        self.raw("}")
    }

    fn connect_verdict(
        &mut self,
        verdict: &ConnectVerdict,
        probe: Option<&Result<u16, Errno>>,
    ) -> io::Result<()> {
        self.raw("{\"blocked\":")?;
        self.boolean(verdict.blocked)?;
        // False where the answer depends on what no table shows.
        self.raw(",\"certain\":")?;
        self.boolean(verdict.certain)?;
        self.raw(",\"errno\":")?;
        self.optional_string(verdict.errno.map(Errno::name))?;
        self.raw(",\"range\":")?;
        self.range(verdict.range)?;
        self.raw(",\"reserved\":")?;
        self.number(verdict.reserved)?;
        self.raw(",\"usable\":")?;
        self.number(verdict.usable)?;
        self.raw(",\"free\":")?;
        self.number(verdict.free)?;
        self.raw(",\"shared\":")?;
        self.number(verdict.shared)?;
        self.raw(",\"held\":")?;
        self.number(verdict.held)?;
        self.raw(",\"in_use_same_tuple\":")?;
        self.number(verdict.in_use_same_tuple)?;
        self.raw(",\"time_wait_same_tuple\":")?;
        self.number(verdict.time_wait_same_tuple)?;
        self.raw(",\"reusable_now\":")?;
        self.number(verdict.reusable_now)?;
        self.raw(",\"next_reusable_in_ms\":")?;
        self.optional_number(verdict.next_reusable_in_ms)?;
        self.raw(",\"tw_reuse\":")?;
        self.number(verdict.tw_reuse.sysctl_value())?;
        self.raw(",\"probe\":")?;
        match probe {
            None => self.raw("null")?,
            Some(result) => {
                self.raw("{\"ok\":")?;
                self.boolean(result.is_ok())?;
                self.raw(",\"port\":")?;
                self.optional_number(result.as_ref().ok().copied())?;
                self.raw(",\"errno\":")?;
                self.optional_string(result.as_ref().err().map(|errno| errno.name()))?;
                self.raw("}")?;
            }
        }
        self.raw(",\"explanation\":")?;
        self.string(&verdict.explanation)?;
        self.raw(",\"advice\":")?;
        self.array(&verdict.advice, |json, advice| json.string(&advice.text))?;
        self.raw("}")
    }

    fn pressure(&mut self, pressure: &PortPressure) -> io::Result<()> {
        self.raw("{\"range\":")?;
        self.range(pressure.range)?;
        self.raw(",\"reserved\":")?;
        self.number(pressure.reserved)?;
        self.raw(",\"usable\":")?;
        self.number(pressure.usable)?;
        self.raw(",\"used\":")?;
        self.number(pressure.used)?;
        self.raw(",\"free\":")?;
        self.number(pressure.free)?;
        self.raw(",\"held\":")?;
        self.number(pressure.held)?;
        self.raw(",\"destinations\":")?;
        self.array(&pressure.destinations, |json, destination| {
            json.raw("{\"remote_addr\":")?;
            json.address(destination.remote.ip())?;
            json.raw(",\"remote_port\":")?;
            json.number(destination.remote.port())?;
            json.raw(",\"ports\":")?;
            json.number(destination.ports)?;
            json.raw(",\"time_wait\":")?;
            json.number(destination.time_wait)?;
            json.raw(",\"live\":")?;
            json.number(destination.live)?;
            // Per mille as a number with three decimals: no float formatting.
            json.raw(",\"share\":")?;
            json.raw(&share_text(destination.share))?;
            json.raw("}")
        })?;
        self.raw("}")
    }

    fn range(&mut self, (low, high): (u16, u16)) -> io::Result<()> {
        self.raw("[")?;
        self.number(low)?;
        self.raw(",")?;
        self.number(high)?;
        self.raw("]")
    }
}

/// A share from 0.0 to 1.0 as JSON with three decimals ("0.125", "1.0").
fn share_text(share: f64) -> String {
    let thousandths = (share.clamp(0.0, 1.0) * 1000.0).round() as u32;
    let text = format!("{}.{:03}", thousandths / 1000, thousandths % 1000);
    let trimmed = text.trim_end_matches('0');
    if trimmed.ends_with('.') {
        format!("{trimmed}0")
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_plain_json_numbers() {
        assert_eq!(share_text(0.0), "0.0");
        assert_eq!(share_text(1.0), "1.0");
        assert_eq!(share_text(0.125), "0.125");
        assert_eq!(share_text(0.5), "0.5");
        assert_eq!(share_text(2.0), "1.0");
        for text in ["0.0", "1.0", "0.125", "0.5"] {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&value).unwrap(), text);
        }
    }
}
