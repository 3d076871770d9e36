//! source::cgroup on a live process: cgroup v2 directories named like a
//! container's (docker, Kubernetes + containerd, an nspawn machine's
//! service), a sleeping child moved into each, and `read_workload` of its
//! pid. The child is killed by pid and the directories removed at the end.
mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::ChildGuard;
use tw_inspect::source::cgroup::{read_workload, Container, Runtime};

const ID: &str = "5e2c1f0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e";

/// Where cgroup2 is mounted (from /proc/self/mountinfo), or why it cannot be used.
fn cgroup2_root() -> Result<PathBuf, String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("needs root to create cgroups".into());
    }
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").map_err(|e| e.to_string())?;
    let mount_point = mountinfo
        .lines()
        .find_map(|line| {
            let (mount, fs) = line.split_once(" - ")?;
            fs.starts_with("cgroup2 ")
                .then(|| mount.split(' ').nth(4).map(PathBuf::from))
                .flatten()
        })
        .ok_or("cgroup2 is not mounted (a v1-only host)")?;
    let probe = mount_point.join(format!("twi-probe-{}", std::process::id()));
    fs::create_dir(&probe)
        .map_err(|e| format!("cannot create a cgroup under {mount_point:?}: {e}"))?;
    fs::remove_dir(&probe).map_err(|e| e.to_string())?;
    Ok(mount_point)
}

/// Nested cgroup directories, removed (innermost first) on drop; the
/// processes in them must have been killed and reaped before.
struct Cgroups(Vec<PathBuf>);

impl Cgroups {
    fn create(root: &Path, relative: &str) -> Cgroups {
        let mut made = Cgroups(Vec::new());
        let mut path = root.to_path_buf();
        for component in relative.split('/') {
            path.push(component);
            fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {path:?}: {e}"));
            made.0.push(path.clone());
        }
        made
    }

    fn leaf(&self) -> &Path {
        self.0.last().expect("at least one directory")
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for dir in self.0.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }
}

fn sleeper() -> ChildGuard {
    ChildGuard(
        Command::new("sleep")
            .arg("60")
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sleep"),
    )
}

/// Moves a fresh sleeping child into ROOT/RELATIVE and reads its workload.
fn workload_in(root: &Path, relative: &str) -> tw_inspect::source::cgroup::Workload {
    let cgroups = Cgroups::create(root, relative);
    let mut child = sleeper();
    fs::write(cgroups.leaf().join("cgroup.procs"), child.pid().to_string())
        .expect("move the child into the cgroup");
    let cgroup_file = fs::read_to_string(format!("/proc/{}/cgroup", child.pid())).unwrap();
    assert!(
        cgroup_file.contains(relative),
        "the kernel shows the child in {relative}: {cgroup_file}"
    );
    let workload = read_workload(child.pid()).unwrap();
    let _ = child.0.kill();
    let _ = child.0.wait();
    drop(cgroups);
    workload
}

#[test]
fn a_process_in_cgroups_named_like_containers() {
    let root = match cgroup2_root() {
        Ok(root) => root,
        Err(why) => {
            eprintln!("SKIP {}: {why}", module_path!());
            return;
        }
    };
    let top = format!("twi-test-{}.slice", std::process::id());

    let docker = workload_in(&root, &format!("{top}/docker-{ID}.scope"));
    assert_eq!(
        docker.container,
        Some(Container {
            runtime: Runtime::Docker,
            id: ID.to_string(),
            pod_uid: None,
        })
    );
    assert_eq!(docker.container.unwrap().short_id(), &ID[..12]);

    let pod = workload_in(
        &root,
        &format!(
            "{top}/kubepods-burstable.slice/kubepods-burstable-pod0a1b2c3d_4e5f_6a7b_8c9d_0e1f2a3b4c5d.slice/cri-containerd-{ID}.scope"
        ),
    );
    assert_eq!(
        pod.container,
        Some(Container {
            runtime: Runtime::Containerd,
            id: ID.to_string(),
            pod_uid: Some("0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d".to_string()),
        })
    );

    let machine = workload_in(
        &root,
        &format!("{top}/machine-web\\x2dfront.scope/payload/system.slice/nginx.service"),
    );
    assert_eq!(
        machine.container,
        Some(Container {
            runtime: Runtime::Nspawn,
            id: "web-front".to_string(),
            pod_uid: None,
        })
    );
    assert_eq!(machine.unit.as_deref(), Some("nginx.service"));

    let service = workload_in(&root, &format!("{top}/twi-plain.service"));
    assert_eq!(service.container, None);
    assert_eq!(service.unit.as_deref(), Some("twi-plain.service"));

    assert!(!root.join(&top).exists(), "the test's cgroups are removed");
}

/// `--all-netns` names a namespace by the container its process runs in: a
/// server in a fresh namespace, moved into a cgroup named like a docker
/// container's, holds a port; the report finds that namespace and says
/// "docker <short id>".
#[test]
fn all_netns_names_the_container_of_a_namespace() {
    let root = match cgroup2_root() {
        Ok(root) => root,
        Err(why) => {
            eprintln!("SKIP {}: {why}", module_path!());
            return;
        }
    };
    if !common::can_use_netns(module_path!()) {
        return;
    }
    let ns = common::Netns::new();
    let cgroups = Cgroups::create(
        &root,
        &format!("twi-test-{}-ns.slice/docker-{ID}.scope", std::process::id()),
    );
    let mut server = ns.spawn(
        "python3",
        &[
            "-c",
            "import socket,sys,time\n\
             s=socket.socket(); s.bind(('127.0.0.1',47301)); s.listen()\n\
             print('ready'); sys.stdout.flush(); time.sleep(60)",
        ],
    );
    assert_eq!(server.read_line(), "ready");
    fs::write(
        cgroups.leaf().join("cgroup.procs"),
        server.pid().to_string(),
    )
    .expect("move the server into the cgroup");
    let out = Command::new(common::BIN)
        .args(["--port", "47301", "--all-netns", "--json"])
        .output()
        .unwrap();
    let text = Command::new(common::BIN)
        .args(["--port", "47301", "--all-netns"])
        .output()
        .unwrap();
    let _ = server.0.kill();
    let _ = server.0.wait();
    drop(cgroups);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = common::json(&out);
    let found = doc["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|entry| entry["netns"]["name"] == ns.name.as_str())
        .expect("the server's namespace holds the port");
    assert_eq!(found["netns"]["pids"], serde_json::json!([server.pid()]));
    assert_eq!(found["netns"]["container"]["runtime"], "docker");
    assert_eq!(found["netns"]["container"]["id"], ID);
    // The socket's owner carries the same container, in JSON and in words.
    let owner = &found["sockets"][0]["processes"][0];
    assert_eq!(owner["pid"], server.pid());
    assert_eq!(owner["container"]["runtime"], "docker");
    assert_eq!(owner["container"]["id"], ID);
    let human = String::from_utf8_lossy(&text.stdout);
    assert!(
        human.contains(&format!("· docker {}", &ID[..12])),
        "{human}"
    );
    assert!(
        human.contains(&format!("/python3 [docker {}]", &ID[..12])),
        "{human}"
    );
}
