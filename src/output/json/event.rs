//! The `--watch` event document (schema v1): one compact line per failed
//! bind. Keys in the README's order:
//! `schema_version, event, time, pid, comm, uid, cmdline, netns, container,
//! unit, bind, verdict, verdict_error`; each blocker in the verdict gains
//! `left_by` ({pid, comm, at} or null).

use std::io::{self, Write};

use super::writer::Json;
use super::SCHEMA_VERSION;
use crate::output::event::rfc3339_utc;
use crate::session::{FailureReport, LeftBy};

/// Writes one event document and its newline (compact: one line per event).
pub fn write_event(out: &mut impl Write, report: &FailureReport) -> io::Result<()> {
    let mut json = Json::new(&mut *out);
    json.event(report)?;
    json.finish()?;
    out.write_all(b"\n")
}

impl<W: Write> Json<W> {
    fn event(&mut self, report: &FailureReport) -> io::Result<()> {
        self.raw("{\"schema_version\":")?;
        self.number(SCHEMA_VERSION)?;
        self.raw(",\"event\":\"bind_failed\",\"time\":")?;
        self.string(&rfc3339_utc(report.time))?;
        self.raw(",\"pid\":")?;
        self.number(report.pid)?;
        self.raw(",\"comm\":")?;
        self.string(&report.comm)?;
        self.raw(",\"uid\":")?;
        self.number(report.uid)?;
        self.raw(",\"cmdline\":")?;
        self.string(&report.cmdline)?;
        self.raw(",\"netns\":{")?;
        self.namespace_id_fields(&report.netns)?;
        self.raw("},\"container\":")?;
        self.optional_container(report.workload.container.as_ref())?;
        self.raw(",\"unit\":")?;
        self.optional_string(report.workload.unit.as_deref())?;
        self.raw(",\"bind\":{")?;
        self.bind_fields(&report.bind)?;
        self.raw("},\"verdict\":")?;
        match &report.verdict {
            Ok(verdict) => {
                let mut index = 0;
                self.verdict_with(verdict, |json, blocker| {
                    json.blocker_fields(blocker)?;
                    json.raw(",\"left_by\":")?;
                    json.left_by(report.left_by.get(index).and_then(Option::as_ref))?;
                    index += 1;
                    json.raw("}")
                })?;
            }
            Err(_) => self.raw("null")?,
        }
        self.raw(",\"verdict_error\":")?;
        self.optional_string(report.verdict.as_ref().err().map(String::as_str))?;
        self.raw("}")
    }

    fn left_by(&mut self, left_by: Option<&LeftBy>) -> io::Result<()> {
        let Some(left_by) = left_by else {
            return self.raw("null");
        };
        self.raw("{\"pid\":")?;
        self.number(left_by.pid)?;
        self.raw(",\"comm\":")?;
        self.string(&left_by.comm)?;
        self.raw(",\"at\":")?;
        self.string(&rfc3339_utc(left_by.at))?;
        self.raw("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnosis::{Blocker, Conflict, Reason, Verdict};
    use crate::model::{Container, NamespaceId, Runtime, Workload};
    use std::time::{Duration, UNIX_EPOCH};

    fn report() -> FailureReport {
        use crate::testing::{bind, owned_by, time_wait};
        let blocker = |socket| Blocker {
            socket,
            reason: Reason::TimeWait,
            conflict: Conflict::Yes,
            why: "a TIME_WAIT \"holds\" it".into(),
        };
        let bind = bind("127.0.0.1:7001");
        let verdict = Verdict {
            bind: bind.clone(),
            blocked: true,
            refused: None,
            free_in_ms: Some(59_000),
            client_time_waits: 0,
            blockers: vec![
                blocker(time_wait("127.0.0.1:7001", "127.0.0.1:40000", 59_000)),
                blocker(owned_by(
                    time_wait("127.0.0.1:7001", "127.0.0.1:40001", 1),
                    9,
                    "x",
                )),
            ],
            probes: vec![],
            explanation: "line\nbreak".into(),
            advice: vec!["wait".into()],
        };
        FailureReport {
            time: UNIX_EPOCH + Duration::from_secs(1),
            pid: 42,
            comm: "py\u{1b}thon".into(),
            uid: 0,
            cmdline: "python3 -c \"x\"".into(),
            netns: NamespaceId {
                inode: 4026532000,
                name: Some("blue".into()),
            },
            workload: Workload {
                unit: Some("web.service".into()),
                container: Some(Container {
                    runtime: Runtime::Docker,
                    id: "abc".into(),
                    pod_uid: None,
                }),
            },
            bind,
            verdict: Ok(verdict),
            left_by: vec![
                Some(LeftBy {
                    pid: 7,
                    comm: "server".into(),
                    at: UNIX_EPOCH,
                }),
                None,
            ],
        }
    }

    fn document(report: &FailureReport) -> (String, serde_json::Value) {
        let mut out = Vec::new();
        write_event(&mut out, report).unwrap();
        let text = String::from_utf8(out).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        (text, value)
    }

    #[test]
    fn event_is_one_canonical_line_with_keys_in_order() {
        let (text, value) = document(&report());
        assert_eq!(serde_json::to_string(&value).unwrap() + "\n", text);
        assert_eq!(text.lines().count(), 1);
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "schema_version",
                "event",
                "time",
                "pid",
                "comm",
                "uid",
                "cmdline",
                "netns",
                "container",
                "unit",
                "bind",
                "verdict",
                "verdict_error"
            ]
        );
        assert_eq!(value["event"], "bind_failed");
        assert_eq!(value["time"], "1970-01-01T00:00:01.000Z");
        assert_eq!(value["netns"]["name"], "blue");
        assert_eq!(value["container"]["runtime"], "docker");
        assert_eq!(value["bind"]["port"], 7001);
        let blockers = &value["verdict"]["blockers"];
        assert_eq!(
            blockers[0]["left_by"],
            serde_json::json!({"pid": 7, "comm": "server", "at": "1970-01-01T00:00:00.000Z"})
        );
        assert_eq!(blockers[1]["left_by"], serde_json::Value::Null);
        assert_eq!(blockers[0]["why"], "a TIME_WAIT \"holds\" it");
        assert_eq!(value["verdict_error"], serde_json::Value::Null);
    }

    #[test]
    fn a_missing_verdict_is_null_with_its_reason() {
        let mut report = report();
        report.verdict = Err("net:[1]: gone".into());
        let (_, value) = document(&report);
        assert_eq!(value["verdict"], serde_json::Value::Null);
        assert_eq!(value["verdict_error"], "net:[1]: gone");
    }
}
