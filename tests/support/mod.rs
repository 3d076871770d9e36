//! Helpers for the fault and security tests: the LD_PRELOAD shim compiled at
//! test time, temporary directories, and running the binary with a deadline
//! (a fault must never turn into a hang).
#![allow(dead_code)] // each test binary uses its own subset

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "tw-inspect-faults-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// tests/support/netlink_shim.c compiled with gcc (once per test binary)
/// into cargo's scratch directory for tests, named after the source's hash:
/// reused while the source is unchanged, nothing left in /tmp. None, with
/// the reason printed, when gcc is missing.
pub fn netlink_shim() -> Option<PathBuf> {
    static SHIM: OnceLock<Option<PathBuf>> = OnceLock::new();
    SHIM.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/netlink_shim.c");
        let text = std::fs::read(&source).expect("read the shim's source");
        // FNV-1a: stable across runs and toolchains, unlike std's hasher.
        let hash = text.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
        });
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let out = dir.join(format!("netlink_shim-{hash:016x}.so"));
        if out.exists() {
            return Some(out);
        }
        // Built under a name of its own, then renamed: test binaries that
        // run at once never load a half-written library.
        let partial = dir.join(format!("netlink_shim-{}.so.partial", std::process::id()));
        let built = Command::new("gcc")
            .args(["-shared", "-fPIC", "-O1", "-Wall", "-o"])
            .arg(&partial)
            .arg(&source)
            .arg("-ldl")
            .output();
        match built {
            Ok(o) if o.status.success() => {
                std::fs::rename(&partial, &out).expect("rename the built shim");
                Some(out)
            }
            Ok(o) => panic!(
                "the shim does not compile: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => {
                eprintln!("SKIP: gcc is not available to build the LD_PRELOAD shim: {e}");
                None
            }
        }
    })
    .clone()
}

/// Runs `command` with stdin closed, collecting its output; kills it (by
/// pid) and fails the test if it runs longer than `limit`.
pub fn output_within(command: &mut Command, limit: Duration) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{command:?} still running after {limit:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The failure contract: exit 2, exactly one line on stderr naming the
/// program, nothing on stdout, no panic.
pub fn assert_one_line_failure(out: &Output, what: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: exit {:?}, stderr {stderr:?}",
        out.status
    );
    assert_eq!(
        stderr.lines().count(),
        1,
        "{what}: not one line: {stderr:?}"
    );
    assert!(stderr.starts_with("tw-inspect: "), "{what}: {stderr:?}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr:?}");
    assert!(
        out.stdout.is_empty(),
        "{what}: wrote to stdout: {:?}",
        text(&out.stdout)
    );
}

/// No panic message and no control character but newline in `bytes`.
pub fn assert_no_panic(out: &Output, what: &str) {
    let stderr = text(&out.stderr);
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert_ne!(out.status.code(), Some(101), "{what}: {stderr}");
}

/// A private tmux server (its own socket), killed on drop; one session "t".
pub struct Tmux {
    pub socket: String,
}

impl Tmux {
    /// None (with the reason printed) when tmux is not installed.
    pub fn start(name: &str, program: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!("SKIP: tmux is not installed");
            return None;
        }
        let tmux = Tmux {
            socket: format!("twi-{name}-{}", std::process::id()),
        };
        let status = tmux
            .cmd()
            .args([
                "new-session",
                "-d",
                "-s",
                "t",
                "-x",
                "150",
                "-y",
                "45",
                program,
            ])
            .status()
            .unwrap();
        assert!(status.success());
        Some(tmux)
    }

    pub fn cmd(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]);
        command
    }

    /// The pane's text; with `escapes`, with its colors as SGR sequences.
    pub fn capture(&self, escapes: bool) -> String {
        let mut command = self.cmd();
        command.args(["capture-pane", "-p", "-t", "t"]);
        if escapes {
            command.arg("-e");
        }
        text(&command.output().unwrap().stdout)
    }

    /// Quits with `q`, checks the program ended with exit code 0, and
    /// returns the screen it left.
    pub fn quit_cleanly(&self) -> String {
        self.keys(&["q"]);
        let end = self.wait_for("EXITED", Duration::from_secs(5));
        assert!(
            end.contains("EXITED 0"),
            "program did not end cleanly:\n{end}"
        );
        end
    }

    pub fn wait_for(&self, what: &str, timeout: Duration) -> String {
        let started = Instant::now();
        loop {
            let screen = self.capture(false);
            if screen.contains(what) || started.elapsed() > timeout {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn keys(&self, keys: &[&str]) {
        let status = self
            .cmd()
            .args(["send-keys", "-t", "t"])
            .args(keys)
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// A tmux format for the pane, e.g. `#{pane_title}`.
    pub fn display(&self, format: &str) -> String {
        let out = self
            .cmd()
            .args(["display-message", "-p", "-t", "t", format])
            .output()
            .unwrap();
        text(&out.stdout).trim_end().to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}
