//! Read-only by default, seen from outside with strace: nothing is opened
//! for writing, created, removed or renamed; writes go only to stdout and
//! stderr; the only execve is the binary itself and no process is forked;
//! probes bind() but never listen() or connect(), and close every socket.
mod common;
mod support;

use std::collections::{HashMap, HashSet};
use std::process::Command;

use common::{sockets, Netns};
use support::{text, TempDir};

const TRACED: &str =
    "trace=openat,open,creat,mkdir,mkdirat,unlink,unlinkat,rename,renameat,renameat2,\
truncate,ftruncate,link,linkat,symlink,symlinkat,chmod,fchmod,fchmodat,chown,fchown,fchownat,\
write,writev,pwrite64,pwritev,execve,execveat,listen,bind,socket,close,connect,sendto,sendmsg,\
clone,clone3,fork,vfork";

fn have_strace() -> bool {
    if Command::new("strace").arg("-V").output().is_err() {
        eprintln!("SKIP: strace is not installed (apt-get install strace)");
        return false;
    }
    true
}

/// Runs tw-inspect under strace in the namespace; the trace's lines, each
/// as `PID name(args...) = ret`. One file per thread (`-ff`), so that no
/// call is split into "unfinished" and "resumed" halves by another thread's.
fn traced(ns: &Netns, args: &[&str]) -> (Vec<String>, std::process::Output) {
    let dir = TempDir::new("strace");
    let log = dir.path().join("trace");
    let out = ns
        .exec("strace")
        .args(["-ff", "-s", "64", "-e", TRACED, "-o"])
        .arg(&log)
        .arg(common::BIN)
        .args(args)
        .output()
        .unwrap();
    let mut lines = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("trace.") else {
            continue;
        };
        let trace = std::fs::read_to_string(&path).unwrap();
        lines.extend(trace.lines().map(|line| format!("{pid} {line}")));
    }
    (lines, out)
}

/// The syscall name of a trace line `PID name(args...) = ret`.
fn call(line: &str) -> &str {
    let rest = line.split_once(' ').map_or(line, |(_, r)| r.trim_start());
    rest.split('(').next().unwrap_or("")
}

struct Summary {
    inet_binds: usize,
}

fn check(lines: &[String], what: &str) -> Summary {
    let mut execs = 0;
    let mut inet_binds = 0;
    // Per pid: fds of AF_INET/AF_INET6 sockets not yet closed.
    let mut open_inet: HashMap<String, HashSet<String>> = HashMap::new();
    for line in lines {
        let pid = line.split(' ').next().unwrap_or("").to_string();
        let name = call(line);
        match name {
            "execve" | "execveat" => {
                execs += 1;
                assert!(
                    line.contains(&format!("\"{}\"", common::BIN)) && line.ends_with("= 0"),
                    "{what}: exec of something else: {line}"
                );
            }
            "open" | "openat" => {
                for flag in ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"] {
                    assert!(!line.contains(flag), "{what}: opened for writing: {line}");
                }
            }
            "creat" | "mkdir" | "mkdirat" | "unlink" | "unlinkat" | "rename" | "renameat"
            | "renameat2" | "truncate" | "ftruncate" | "link" | "linkat" | "symlink"
            | "symlinkat" | "chmod" | "fchmod" | "fchmodat" | "chown" | "fchown" | "fchownat" => {
                panic!("{what}: changes the file system: {line}")
            }
            "write" | "writev" | "pwrite64" | "pwritev" => {
                let fd = line
                    .split_once('(')
                    .and_then(|(_, r)| r.split(',').next())
                    .unwrap_or("");
                assert!(fd == "1" || fd == "2", "{what}: wrote to fd {fd}: {line}");
            }
            "listen" => panic!("{what}: listen() called: {line}"),
            "connect" => {
                assert!(
                    !line.contains("AF_INET"),
                    "{what}: connected somewhere: {line}"
                )
            }
            "fork" | "vfork" => panic!("{what}: forked: {line}"),
            "clone" | "clone3" => {
                assert!(
                    line.contains("CLONE_THREAD"),
                    "{what}: a process, not a thread: {line}"
                )
            }
            "sendto" | "sendmsg" => {
                assert!(
                    !line.contains("SOCK_DESTROY") && !line.contains("nlmsg_type=0x15"),
                    "{what}: destroyed a socket: {line}"
                );
            }
            "socket" if line.contains("socket(AF_INET") => {
                if let Some((_, fd)) = line.rsplit_once("= ") {
                    if fd.parse::<i32>().is_ok() {
                        open_inet.entry(pid).or_default().insert(fd.to_string());
                    }
                }
            }
            "bind" if line.contains("sa_family=AF_INET") => inet_binds += 1,
            "close" => {
                let fd = line
                    .split_once('(')
                    .and_then(|(_, r)| r.split(')').next())
                    .unwrap_or("");
                if let Some(fds) = open_inet.get_mut(&pid) {
                    fds.remove(fd);
                }
            }
            _ => {}
        }
    }
    assert_eq!(execs, 1, "{what}: {execs} execs");
    for (pid, fds) in open_inet {
        assert!(
            fds.is_empty(),
            "{what}: pid {pid} left probe sockets open: {fds:?}"
        );
    }
    Summary { inet_binds }
}

#[test]
fn runs_are_read_only_and_probes_never_listen() {
    require_netns!();
    if !have_strace() {
        return;
    }
    let ns = Netns::new();
    let _held = ns.run(|| {
        sockets::server_side_time_wait("127.0.0.1:9527".parse().unwrap(), Default::default());
        std::net::TcpListener::bind("127.0.0.1:8080").unwrap()
    });
    let runs: [(&[&str], bool); 9] = [
        (&[], false),
        (&["--json"], false),
        (&["--source", "proc", "--json"], false),
        (&["--port", "8080"], true),
        (&["--port", "8080", "--addr", "::", "--json"], true),
        (&["--port", "9527", "--reuseport"], true),
        (&["--port", "9527", "--wait", "--timeout", "1"], true),
        (&["--port", "9527", "--free", "--dry-run"], true),
        (&["--port", "9527", "--no-probe"], false),
    ];
    for (args, probes) in runs {
        let (lines, out) = traced(&ns, args);
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        assert!(lines.len() > 3, "{args:?}: no trace");
        let summary = check(&lines, &format!("{args:?}"));
        if probes {
            assert!(
                summary.inet_binds > 0,
                "{args:?}: no probe seen in the trace"
            );
        } else {
            assert_eq!(summary.inet_binds, 0, "{args:?}: probed when it should not");
        }
    }
}

#[test]
fn captured_files_are_only_read() {
    if !have_strace() {
        return;
    }
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/proc/capture");
    let dir = TempDir::new("strace-captured");
    let log = dir.path().join("trace");
    let out = Command::new("strace")
        .args(["-f", "-s", "64", "-e", TRACED, "-o"])
        .arg(&log)
        .arg(common::BIN)
        .args(["--proc-root", fixture, "--port", "9527"])
        .output()
        .unwrap();
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}",
        text(&out.stderr)
    );
    let trace = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<String> = trace.lines().map(str::to_string).collect();
    let summary = check(&lines, "--proc-root");
    // Captured files describe another host: probing this one would lie.
    assert_eq!(summary.inet_binds, 0);
}
