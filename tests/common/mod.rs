//! Shared helpers for integration tests that need a real kernel: a fresh
//! network namespace per test (deleted on drop), threads that create sockets
//! inside it, and child processes ended by pid.
#![allow(dead_code)] // each test binary uses its own subset

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Path of the built tw-inspect binary.
pub const BIN: &str = env!("CARGO_BIN_EXE_tw-inspect");

/// setpriv's arguments for running as `nobody` with no privilege left.
pub const NOBODY: [&str; 4] = [
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
    "--inh-caps=-all",
];

/// Returns false, printing why, when this process cannot create network
/// namespaces (not root, or no `ip`): the calling test then skips.
pub fn can_use_netns(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP {test}: needs root to create a network namespace (CI runs it as root)");
        return false;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        eprintln!("SKIP {test}: `ip` (iproute2) is not installed");
        return false;
    }
    true
}

/// Skips the calling test (returns) when network namespaces cannot be used.
#[macro_export]
macro_rules! require_netns {
    () => {
        if !common::can_use_netns(module_path!()) {
            return;
        }
    };
}

/// A fresh network namespace with `lo` up, deleted when dropped.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "twi-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        run_ok(Command::new("ip").args(["netns", "add", &name]));
        let netns = Netns { name };
        run_ok(netns.exec("ip").args(["link", "set", "lo", "up"]));
        netns
    }

    /// A command that runs inside the namespace (`ip netns exec NAME program`).
    pub fn exec(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Runs `f` on a thread that has entered the namespace: sockets it creates
    /// live in the namespace (and stay there after the thread ends).
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let file = File::open(&path).expect("open netns file");
                    // SAFETY: setns on a valid namespace fd affects only this thread.
                    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                    f()
                })
                .join()
                .expect("namespace thread panicked")
        })
    }

    /// Runs tw-inspect inside the namespace.
    pub fn tw_inspect<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.exec(BIN).args(args).output().expect("run tw-inspect")
    }

    /// tw-inspect inside the namespace as `nobody` (uid and gid 65534, no
    /// groups, no inheritable capabilities): the unprivileged user's view.
    pub fn tw_inspect_as_nobody(&self) -> Command {
        let mut command = self.exec("setpriv");
        command.args(NOBODY).arg("--").arg(BIN);
        command
    }

    /// `ss` inside the namespace, as an outside witness.
    pub fn ss(&self, args: &[&str]) -> String {
        let out = self.exec("ss").args(args).output().expect("run ss");
        assert!(out.status.success(), "ss failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a long-running process inside the namespace; ended by pid on drop.
    pub fn spawn(&self, program: &str, args: &[&str]) -> ChildGuard {
        let child = self
            .exec(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn child in netns");
        ChildGuard(child)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A child process killed (by pid) and reaped when dropped.
pub struct ChildGuard(pub Child);

impl ChildGuard {
    pub fn pid(&self) -> u32 {
        self.0.id()
    }

    /// Reads one line the child prints on stdout (e.g. "ready").
    pub fn read_line(&mut self) -> String {
        use std::io::BufRead;
        let stdout = self.0.stdout.as_mut().expect("child stdout is piped");
        let mut line = String::new();
        // One byte at a time so nothing past the line is buffered away.
        let mut reader = std::io::BufReader::with_capacity(1, stdout);
        reader.read_line(&mut line).expect("read child line");
        line.trim_end().to_string()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run_ok(command: &mut Command) {
    let out = command.output().expect("run command");
    assert!(out.status.success(), "{command:?} failed: {out:?}");
}

/// The local "addr:port" of every socket of a JSON document, sorted.
pub fn local_endpoints(doc: &serde_json::Value) -> Vec<String> {
    let mut endpoints: Vec<String> = doc["sockets"]
        .as_array()
        .expect("a sockets array")
        .iter()
        .map(|s| format!("{}:{}", s["local_addr"].as_str().unwrap(), s["local_port"]))
        .collect();
    endpoints.sort();
    endpoints
}

impl Netns {
    /// The local "addr:port" of every socket `ss ARGS` shows in the
    /// namespace (brackets of IPv6 addresses dropped), sorted.
    pub fn ss_local_endpoints(&self, args: &[&str]) -> Vec<String> {
        let mut endpoints: Vec<String> = self
            .ss(args)
            .lines()
            .map(|line| {
                line.split_whitespace()
                    .nth(3)
                    .unwrap()
                    .replace(['[', ']'], "")
            })
            .collect();
        endpoints.sort();
        endpoints
    }
}

/// Parses stdout as JSON.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

pub mod sockets {
    //! Real TCP and UDP sockets for building scenarios; call inside `Netns::run`.
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) {
        // SAFETY: fd is a live socket; value is an int option.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                level,
                name,
                (&value as *const i32).cast(),
                std::mem::size_of::<i32>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
    }

    /// Options for a socket made with [`bind_with`].
    #[derive(Clone, Copy, Default)]
    pub struct Opts {
        pub reuseaddr: bool,
        pub reuseport: bool,
        pub v6only: Option<bool>,
        /// SO_BINDTODEVICE interface name.
        pub device: Option<&'static str>,
    }

    /// A TCP socket with the options set, bound to `addr`; Err(errno) when bind() fails.
    pub fn bind_with(addr: SocketAddr, opts: Opts) -> Result<OwnedFd, std::io::Error> {
        bind_kind(libc::SOCK_STREAM, addr, opts)
    }

    /// A UDP socket with the options set, bound to `addr`; Err(errno) when bind() fails.
    pub fn bind_udp(addr: SocketAddr, opts: Opts) -> Result<OwnedFd, std::io::Error> {
        bind_kind(libc::SOCK_DGRAM, addr, opts)
    }

    /// A socket of `kind` (SOCK_STREAM, SOCK_DGRAM) with the options set,
    /// bound to `addr`.
    fn bind_kind(kind: i32, addr: SocketAddr, opts: Opts) -> Result<OwnedFd, std::io::Error> {
        let domain = if addr.is_ipv4() {
            libc::AF_INET
        } else {
            libc::AF_INET6
        };
        // SAFETY: plain socket(2); the fd is owned below.
        let fd = unsafe { libc::socket(domain, kind | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        // SAFETY: fd was just returned by socket(2) and is owned by nobody else.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        if opts.reuseaddr {
            setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
        }
        if opts.reuseport {
            setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1);
        }
        if let Some(v6only) = opts.v6only {
            setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, v6only as i32);
        }
        if let Some(device) = opts.device {
            // SAFETY: the name bytes are readable for the call.
            let rc = unsafe {
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_BINDTODEVICE,
                    device.as_ptr().cast(),
                    device.len() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        let storage = sockaddr(addr);
        // SAFETY: storage holds a valid sockaddr of the given length.
        let rc = unsafe { libc::bind(fd, storage.0.as_ptr().cast(), storage.1) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(owned)
    }

    /// A listening socket with the options set.
    pub fn listen_with(addr: SocketAddr, opts: Opts) -> TcpListener {
        let fd = bind_with(addr, opts).expect("bind listener");
        // SAFETY: fd is a bound socket.
        assert_eq!(unsafe { libc::listen(fd.as_raw_fd(), 128) }, 0);
        TcpListener::from(fd)
    }

    /// The bytes of a sockaddr_in / sockaddr_in6 for `addr`, and their length.
    pub fn sockaddr(addr: SocketAddr) -> (Vec<u8>, libc::socklen_t) {
        match addr {
            SocketAddr::V4(v4) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(v4.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                let len = std::mem::size_of::<libc::sockaddr_in>();
                // SAFETY: sockaddr_in is plain old data.
                let bytes = unsafe {
                    std::slice::from_raw_parts((&sin as *const libc::sockaddr_in).cast::<u8>(), len)
                };
                (bytes.to_vec(), len as libc::socklen_t)
            }
            SocketAddr::V6(v6) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr {
                        s6_addr: v6.ip().octets(),
                    },
                    sin6_scope_id: v6.scope_id(),
                };
                let len = std::mem::size_of::<libc::sockaddr_in6>();
                // SAFETY: sockaddr_in6 is plain old data.
                let bytes = unsafe {
                    std::slice::from_raw_parts(
                        (&sin6 as *const libc::sockaddr_in6).cast::<u8>(),
                        len,
                    )
                };
                (bytes.to_vec(), len as libc::socklen_t)
            }
        }
    }

    /// The restart case: a server on `addr` accepts one client and closes
    /// first, leaving TIME_WAIT on the server's port (once the client closes
    /// too). Returns the client's local address (the TIME_WAIT's peer).
    pub fn server_side_time_wait(addr: SocketAddr, server_opts: Opts) -> SocketAddr {
        let listener = listen_with(addr, server_opts);
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let client_addr = client.local_addr().unwrap();
        drop(listener);
        drop(accepted); // server closes first: FIN_WAIT2 on the server side...
        wait_for_eof(&client);
        drop(client); // ...then TIME_WAIT once the client closes.
        std::thread::sleep(std::time::Duration::from_millis(50));
        client_addr
    }

    /// A client that closes first: TIME_WAIT lands on its ephemeral port.
    /// Returns (listener kept open or dropped per `keep_listener`, client port).
    pub fn client_side_time_wait(addr: SocketAddr) -> SocketAddr {
        let listener = listen_with(addr, Opts::default());
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let client_addr = client.local_addr().unwrap();
        drop(client);
        wait_for_eof(&accepted);
        drop(accepted);
        drop(listener);
        std::thread::sleep(std::time::Duration::from_millis(50));
        client_addr
    }

    fn wait_for_eof(stream: &TcpStream) {
        use std::io::Read;
        let mut buf = [0u8; 16];
        let mut reader = stream;
        stream
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        while reader.read(&mut buf).map(|n| n > 0).unwrap_or(false) {}
    }

    /// Whether a plain bind with these options succeeds right now: the judge.
    pub fn kernel_allows(addr: SocketAddr, opts: Opts) -> bool {
        bind_with(addr, opts).is_ok()
    }
}
