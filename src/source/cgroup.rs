//! Which container or systemd unit a process belongs to, read from
//! /proc/PID/cgroup (cgroup v1 lines `N:controllers:/path`, v2 `0::/path`).
//!
//! [`workload_of`] parses the file's text; [`read_workload`] reads a pid's.
//! Recognised layouts (path components, innermost container wins):
//!
//! | runtime    | systemd cgroup driver                       | cgroupfs driver                  |
//! |------------|---------------------------------------------|----------------------------------|
//! | docker     | `docker-<id>.scope`                         | `/docker/<id>`                   |
//! | containerd | `kubepods…-pod<uid>.slice/cri-containerd-<id>.scope` | `/kubepods/[<qos>/]pod<uid>/<id>` |
//! | cri-o      | `crio-<id>.scope`                           | `crio-<id>`                      |
//! | podman     | `libpod-<id>.scope`                         | `libpod-<id>`                    |
//! | nspawn     | `machine-<name>.scope` (name unescaped: `\x2d` → `-`) |                        |
//!
//! `<id>` is 64 lowercase hex digits. The pod uid comes from an enclosing
//! `pod<uid>` (cgroupfs) or `kubepods[-<qos>]-pod<uid>.slice` (systemd, where
//! the uid's dashes were escaped as underscores: turned back). The bare
//! `/kubepods/…/pod<uid>/<id>` layout names no runtime; containerd is the one
//! that makes it since Kubernetes removed dockershim (1.24). The monitors
//! `crio-conmon-<id>` and `libpod-conmon-<id>` are no container; nor are
//! libvirt's machines (`machine-qemu…`, `machine-lxc…`).
//!
//! The unit is the last `<name>.service` component; for a process in a
//! container, the last one inside the container (a service of an nspawn
//! machine), never the host's service around it (`user@1000.service` of a
//! rootless podman, containerd.service on a hybrid host's unified line).
//! Anything else gives no container and no unit: never a guess.
//!
//! Which line is read: the v2 line first, then v1 `name=systemd`, then the
//! other v1 lines in file order; the first line that names a container (or a
//! unit) gives it.

use std::io;
use std::path::Path;

pub use crate::model::{Container, Runtime, Workload};

/// Reads /proc/PID/cgroup of this host.
pub fn read_workload(pid: u32) -> io::Result<Workload> {
    read_workload_from(Path::new(crate::source::HOST_PROC), pid)
}

/// Reads PROC_ROOT/PID/cgroup.
pub fn read_workload_from(proc_root: &Path, pid: u32) -> io::Result<Workload> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("cgroup"))?;
    Ok(workload_of(&text))
}

/// Parses the text of a /proc/PID/cgroup file. Malformed lines are ignored.
pub fn workload_of(cgroup_file_text: &str) -> Workload {
    let mut paths: Vec<(u8, &str)> = cgroup_file_text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':');
            let hierarchy = fields.next()?;
            let controllers = fields.next()?;
            let path = fields.next()?;
            if hierarchy.parse::<u32>().is_err() || !path.starts_with('/') {
                return None;
            }
            let rank = match (hierarchy, controllers) {
                ("0", "") => 0,
                (_, "name=systemd") => 1,
                _ => 2,
            };
            Some((rank, path))
        })
        .collect();
    paths.sort_by_key(|(rank, _)| *rank);
    // Inside a container only its own services count: a hybrid host's docker
    // container sits in containerd.service on the unified line.
    if let Some((container, inner)) = paths.iter().find_map(|(_, path)| container_in(path)) {
        return Workload {
            unit: unit_in(&inner),
            container: Some(container),
        };
    }
    Workload {
        unit: paths.iter().find_map(|(_, path)| unit_in(path)),
        container: None,
    }
}

/// The last `<name>.service` component.
fn unit_in(path: &str) -> Option<String> {
    path.split('/')
        .rev()
        .find(|component| component.len() > ".service".len() && component.ends_with(".service"))
        .map(str::to_string)
}

/// The innermost container a cgroup path names, and the path below it.
fn container_in(path: &str) -> Option<(Container, String)> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let mut in_kubepods = false;
    let mut pod_uid: Option<String> = None;
    let mut found = None;
    for (index, component) in components.iter().enumerate() {
        if component.starts_with("kubepods") {
            in_kubepods = true;
        }
        if in_kubepods {
            if let Some(uid) = pod_uid_in(component) {
                pod_uid = Some(uid);
                continue;
            }
        }
        let previous = index.checked_sub(1).map(|i| components[i]);
        let (runtime, id) = if let Some(named) = named_container(component) {
            named
        } else if crate::model::is_container_id(component) && previous == Some("docker") {
            (Runtime::Docker, component.to_string())
        } else if crate::model::is_container_id(component)
            && in_kubepods
            && previous.is_some_and(|p| pod_uid_in(p).is_some())
        {
            (Runtime::Containerd, component.to_string())
        } else {
            continue;
        };
        let container = Container {
            runtime,
            id,
            pod_uid: pod_uid.clone(),
        };
        found = Some((container, components[index + 1..].join("/")));
    }
    found
}

/// A component that names its runtime: `docker-<id>.scope` and the like.
fn named_container(component: &str) -> Option<(Runtime, String)> {
    let scope = component.strip_suffix(".scope");
    let base = scope.unwrap_or(component);
    let hex_id = |prefix: &str| {
        base.strip_prefix(prefix)
            .filter(|id| crate::model::is_container_id(id))
            .map(str::to_string)
    };
    if scope.is_some() {
        if let Some(id) = hex_id("docker-") {
            return Some((Runtime::Docker, id));
        }
        if let Some(id) = hex_id("cri-containerd-") {
            return Some((Runtime::Containerd, id));
        }
        if let Some(name) = base.strip_prefix("machine-").and_then(nspawn_machine) {
            return Some((Runtime::Nspawn, name));
        }
    }
    if let Some(id) = hex_id("crio-") {
        return Some((Runtime::CriO, id));
    }
    hex_id("libpod-").map(|id| (Runtime::Podman, id))
}

/// The machine name of `machine-<escaped>.scope`, unless libvirt made it.
fn nspawn_machine(escaped: &str) -> Option<String> {
    let name = systemd_unescape(escaped)?;
    let libvirt = name.starts_with("qemu-") || name.starts_with("lxc-");
    (!name.is_empty() && !libvirt).then_some(name)
}

/// Undoes systemd's `\xNN` escaping; None when the result is not UTF-8 or a
/// `\x` is not followed by two hex digits.
fn systemd_unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let hex = bytes.get(i + 2..i + 4)?;
            if bytes.get(i + 1) != Some(&b'x') {
                return None;
            }
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The pod uid of `pod<uid>` (cgroupfs) or `kubepods[-<qos>]-pod<uid>.slice` (systemd).
fn pod_uid_in(component: &str) -> Option<String> {
    let uid = match component.strip_suffix(".slice") {
        Some(slice) => {
            let (prefix, last) = slice.rsplit_once('-')?;
            if !prefix.starts_with("kubepods") {
                return None;
            }
            last.strip_prefix("pod")?.replace('_', "-")
        }
        None => component.strip_prefix("pod")?.to_string(),
    };
    let valid = uid.bytes().any(|b| b.is_ascii_hexdigit())
        && uid.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    valid.then_some(uid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/cgroup");

    fn fixture(name: &str) -> Workload {
        let path = Path::new(FIXTURES).join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        workload_of(&text)
    }

    const ID: &str = "3f4e2a1b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";

    fn container(runtime: Runtime, id: &str, pod_uid: Option<&str>) -> Option<Container> {
        Some(Container {
            runtime,
            id: id.to_string(),
            pod_uid: pod_uid.map(str::to_string),
        })
    }

    #[test]
    fn docker_systemd_driver_v2() {
        let workload = fixture("docker-v2.txt");
        assert_eq!(
            workload.container,
            container(
                Runtime::Docker,
                "8c1d7b0f4e5a6d2c3b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d7c",
                None
            )
        );
        assert_eq!(workload.unit, None);
    }

    #[test]
    fn docker_cgroupfs_driver_v1() {
        let workload = fixture("docker-v1.txt");
        assert_eq!(
            workload.container,
            container(
                Runtime::Docker,
                "a2b5c9d1e3f4a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1",
                None
            )
        );
        // The unified line's containerd.service is the shim's, not the container's.
        assert_eq!(workload.unit, None);
    }

    #[test]
    fn containerd_under_kubernetes_systemd_driver_v2() {
        let workload = fixture("k8s-containerd-systemd-v2.txt");
        assert_eq!(
            workload.container,
            container(
                Runtime::Containerd,
                "5d2e8f1a3b4c6d7e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e",
                Some("7c1f6b2e-9a3d-4e8f-b5c1-2d7e9f0a3b4c")
            )
        );
    }

    #[test]
    fn containerd_guaranteed_pod_has_no_qos_slice() {
        let workload = fixture("k8s-containerd-guaranteed-v2.txt");
        assert_eq!(
            workload.container,
            container(
                Runtime::Containerd,
                "0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c",
                Some("e4d3c2b1-a0f9-4e8d-8c7b-6a5f4e3d2c1b")
            )
        );
    }

    #[test]
    fn containerd_under_kubernetes_cgroupfs_driver_v1() {
        let workload = fixture("k8s-cgroupfs-v1.txt");
        assert_eq!(
            workload.container,
            container(
                Runtime::Containerd,
                "f1e2d3c4b5a69788796a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e",
                Some("2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d")
            )
        );
    }

    #[test]
    fn cri_o_systemd_driver_v2() {
        let workload = fixture("k8s-crio-v2.txt");
        assert_eq!(
            workload.container,
            container(
                Runtime::CriO,
                "9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f9e8d",
                Some("5b6c7d8e-9f0a-4b1c-8d2e-3f4a5b6c7d8e")
            )
        );
    }

    #[test]
    fn cri_o_cgroupfs_driver_v1() {
        let workload = fixture("k8s-crio-cgroupfs-v1.txt");
        assert_eq!(
            workload.container,
            container(
                Runtime::CriO,
                "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b",
                Some("8f9e0d1c-2b3a-4c5d-9e6f-7a8b9c0d1e2f")
            )
        );
    }

    #[test]
    fn cri_o_conmon_is_no_container() {
        let workload = fixture("k8s-crio-conmon-v2.txt");
        assert_eq!(workload.container, None);
    }

    #[test]
    fn static_pod_uid_is_a_hash() {
        let workload = workload_of(&format!(
            "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f3c9a1e5b7d2f4a6c8e0b1d3f5a7c9e.slice/cri-containerd-{ID}.scope\n"
        ));
        assert_eq!(
            workload.container.and_then(|c| c.pod_uid),
            Some("0f3c9a1e5b7d2f4a6c8e0b1d3f5a7c9e".to_string())
        );
    }

    #[test]
    fn docker_under_kubernetes_keeps_the_pod() {
        let workload = workload_of(&format!(
            "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod11111111_2222_3333_4444_555555555555.slice/docker-{ID}.scope\n"
        ));
        assert_eq!(
            workload.container,
            container(
                Runtime::Docker,
                ID,
                Some("11111111-2222-3333-4444-555555555555")
            )
        );
    }

    #[test]
    fn podman_rootful_and_rootless() {
        let rootful = fixture("podman-v2.txt");
        assert_eq!(
            rootful.container,
            container(
                Runtime::Podman,
                "c0ffee0123456789abcdef0123456789abcdef0123456789abcdef0123456789",
                None
            )
        );
        let rootless = fixture("podman-rootless-v2.txt");
        assert_eq!(
            rootless.container,
            container(
                Runtime::Podman,
                "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2",
                None
            )
        );
        assert_eq!(
            rootless.unit, None,
            "user@1000.service holds the container, it is not its unit"
        );
        let cgroupfs = workload_of(&format!("4:memory:/libpod_parent/libpod-{ID}\n"));
        assert_eq!(cgroupfs.container, container(Runtime::Podman, ID, None));
        let conmon = workload_of(&format!("0::/machine.slice/libpod-conmon-{ID}.scope\n"));
        assert_eq!(conmon.container, None);
    }

    #[test]
    fn nspawn_machine_name_is_unescaped_and_its_services_are_units() {
        let workload = fixture("nspawn-v2.txt");
        assert_eq!(
            workload.container,
            container(Runtime::Nspawn, "web-front", None)
        );
        assert_eq!(workload.unit.as_deref(), Some("nginx.service"));
        assert_eq!(
            workload.container.as_ref().map(Container::short_id),
            Some("web-front")
        );
    }

    #[test]
    fn libvirt_machines_are_no_nspawn_container() {
        let vm = workload_of("0::/machine.slice/machine-qemu\\x2d1\\x2dvm1.scope/emulator\n");
        assert_eq!(vm.container, None);
        let lxc = workload_of("0::/machine.slice/machine-lxc\\x2d4242\\x2dbox.scope\n");
        assert_eq!(lxc.container, None);
        let broken = workload_of("0::/machine.slice/machine-bad\\x2.scope\n");
        assert_eq!(broken.container, None);
    }

    #[test]
    fn plain_service_v2_and_hybrid() {
        let v2 = fixture("service-v2.txt");
        assert_eq!(v2.container, None);
        assert_eq!(v2.unit.as_deref(), Some("nginx.service"));
        // Hybrid: the unified line is "/" and name=systemd has the unit.
        let hybrid = fixture("service-hybrid-v1.txt");
        assert_eq!(hybrid.container, None);
        assert_eq!(hybrid.unit.as_deref(), Some("postgresql@15-main.service"));
    }

    #[test]
    fn docker_in_docker_is_the_inner_container() {
        let outer = "a".repeat(64);
        let workload = workload_of(&format!("0::/docker/{outer}/docker/{ID}\n"));
        assert_eq!(workload.container, container(Runtime::Docker, ID, None));
    }

    #[test]
    fn unknown_layouts_give_nothing() {
        for name in ["login-session-v2.txt", "unknown-v1.txt"] {
            assert_eq!(fixture(name), Workload::default(), "{name}");
        }
        let cases = [
            "",
            "0::/\n",
            "garbage\n",
            "0::/docker-abc.scope\n",
            // Upper-case or short ids are not what runtimes write.
            &format!("0::/docker/{}\n", ID.to_uppercase()),
            &format!("0::/docker/{}\n", &ID[..63]),
            // A bare id outside a pod and outside /docker.
            &format!("0::/something/{ID}\n"),
            // A pod directory outside kubepods.
            &format!("0::/elsewhere/pod1234/{ID}\n"),
            // ".service" alone is no unit; docker-<id> needs its .scope.
            "0::/system.slice/.service\n",
            &format!("0::/system.slice/docker-{ID}\n"),
            // The path must be absolute and the hierarchy a number.
            &format!("x::/docker/{ID}\n"),
            &format!("0::docker/{ID}\n"),
        ];
        for text in cases {
            assert_eq!(workload_of(text), Workload::default(), "{text:?}");
        }
    }

    #[test]
    fn v2_line_wins_over_v1_lines() {
        let other = "b".repeat(64);
        let text = format!("4:memory:/docker/{other}\n0::/system.slice/docker-{ID}.scope\n");
        assert_eq!(
            workload_of(&text).container,
            container(Runtime::Docker, ID, None)
        );
    }

    #[test]
    fn short_ids() {
        let docker = Container {
            runtime: Runtime::Docker,
            id: ID.to_string(),
            pod_uid: None,
        };
        assert_eq!(docker.short_id(), "3f4e2a1b9c8d");
    }

    #[test]
    fn runtime_names_match_the_schema() {
        let workload = workload_of(&format!(
            "0::/kubepods.slice/kubepods-pod0a_1.slice/crio-{ID}.scope\n"
        ));
        assert_eq!(
            workload,
            Workload {
                unit: None,
                container: Some(Container {
                    runtime: Runtime::CriO,
                    id: ID.to_string(),
                    pod_uid: Some("0a-1".to_string()),
                }),
            }
        );
        let names: Vec<&str> = [
            Runtime::Docker,
            Runtime::Containerd,
            Runtime::CriO,
            Runtime::Podman,
            Runtime::Nspawn,
        ]
        .iter()
        .map(|r| r.as_str())
        .collect();
        assert_eq!(names, ["docker", "containerd", "cri-o", "podman", "nspawn"]);
    }

    #[test]
    fn reads_a_pid_under_a_proc_root() {
        let root = std::env::temp_dir().join(format!("twi-cgroup-{}", std::process::id()));
        std::fs::create_dir_all(root.join("77")).unwrap();
        std::fs::write(
            root.join("77/cgroup"),
            format!("0::/system.slice/docker-{ID}.scope\n"),
        )
        .unwrap();
        let workload = read_workload_from(&root, 77).unwrap();
        assert_eq!(workload.container, container(Runtime::Docker, ID, None));
        assert!(read_workload_from(&root, 78).is_err());
        std::fs::remove_dir_all(&root).unwrap();
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC*") {
            let _ = workload_of(&text);
        }

        /// Lines built from the pieces real layouts use, in any order: no
        /// panic, and any container found carries a well-formed id.
        #[test]
        fn layout_pieces_never_panic(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just("kubepods".to_string()),
                    Just("kubepods.slice".to_string()),
                    Just("kubepods-burstable-pod1_2.slice".to_string()),
                    Just("pod-".to_string()),
                    Just("pod".to_string()),
                    Just("docker".to_string()),
                    Just(format!("docker-{ID}.scope")),
                    Just(format!("crio-{ID}")),
                    Just(ID.to_string()),
                    Just("machine-\\x2d.scope".to_string()),
                    Just("machine-\\x".to_string()),
                    Just("machine-\\xff.scope".to_string()),
                    Just("x.service".to_string()),
                    "[a-z0-9\\\\:_.-]{0,12}",
                ],
                0..8,
            ),
            hierarchy in "[0-9]{1,2}|x",
        ) {
            let text = format!("{hierarchy}::/{}\n", parts.join("/"));
            if let Some(found) = workload_of(&text).container {
                prop_assert!(!found.id.is_empty());
                prop_assert!(found.short_id().len() <= found.id.len());
            }
        }
    }
}
