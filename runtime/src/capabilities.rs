//! Refuses a firewalled container, or a process `exec` adds to one, that may hold a capability
//! defeating the firewall ([`policy::DEFEATING_CAPABILITIES`]) in any capability set, unless
//! the policy's `cgfw.io/accept-capabilities` accepts it: then the caller gets a warning to log
//! and to put in the report. The bounding set counts like the others: root in the container
//! regains any capability of its bounding set by executing a file (setuid root, file caps).

use anyhow::Result;
use oci_spec::runtime::{Capability, LinuxCapabilities, LinuxNamespaceType, Spec};
use policy::{DefeatingCapability, Policy, ANNOTATION_ACCEPT_CAPABILITIES};

/// The capability sets, in the order errors name them.
const SETS: [&str; 5] = ["bounding", "effective", "permitted", "inheritable", "ambient"];

/// A defeating capability the process may hold, and where from.
#[derive(Debug, PartialEq, Eq)]
pub struct Held {
    pub capability: &'static DefeatingCapability,
    /// "bounding", "effective (absent from config.json: kept from the runtime)", "exec --cap"…
    pub sources: Vec<String>,
}

/// A process's capability sets as libcontainer applies them: each set config.json gives is
/// set exactly; an absent bounding set becomes empty, any other absent set is left as the
/// runtime has it, and without `capabilities` at all nothing is changed (the runtime's own).
pub fn held_by(caps: Option<&LinuxCapabilities>) -> Vec<Held> {
    let own = RuntimeCapabilities::read();
    let mut held: Vec<Held> = Vec::new();
    let mut note = |name: &str, source: String| {
        let Some(capability) = policy::defeating(name) else { return };
        match held.iter_mut().find(|h| h.capability.name == name) {
            Some(h) => h.sources.push(source),
            None => held.push(Held { capability, sources: vec![source] }),
        }
    };
    let Some(caps) = caps else {
        for (set, names) in SETS.iter().zip(own.sets.iter()) {
            for name in names {
                note(name, format!("{set} (process.capabilities is absent: the runtime's own set is kept)"));
            }
        }
        in_table_order(&mut held);
        return held;
    };
    let given = [caps.bounding(), caps.effective(), caps.permitted(), caps.inheritable(), caps.ambient()];
    for (i, (set, listed)) in SETS.iter().zip(given).enumerate() {
        match listed {
            Some(listed) => {
                for cap in listed {
                    note(&capability_name(cap), set.to_string());
                }
            }
            // libcontainer drops the bounding set to nothing when it is absent.
            None if i == 0 => {}
            None => {
                for name in &own.sets[i] {
                    note(name, format!("{set} (absent from config.json: the runtime's own set is kept)"));
                }
            }
        }
    }
    in_table_order(&mut held);
    held
}

/// Sorts by [`policy::DEFEATING_CAPABILITIES`]' order: config.json's sets are sets (oci-spec
/// keeps them in a HashSet), and messages should not change from run to run.
fn in_table_order(held: &mut [Held]) {
    held.sort_by_key(|h| policy::DEFEATING_CAPABILITIES.iter().position(|c| c.name == h.capability.name));
}

/// Adds capabilities `exec --cap` grants (libcontainer adds them to the bounding, effective,
/// permitted and, where the spec has an inheritable set, ambient sets).
pub fn add_exec_caps(held: &mut Vec<Held>, caps: &[String]) {
    for cap in caps {
        // libcontainer accepts CAP_X; be lenient about spelling here so nothing slips by.
        let upper = cap.to_ascii_uppercase();
        let name = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
        let Some(capability) = policy::defeating(&name) else { continue };
        let source = format!("exec --cap {cap}");
        match held.iter_mut().find(|h| h.capability.name == name) {
            Some(h) => h.sources.push(source),
            None => held.push(Held { capability, sources: vec![source] }),
        }
    }
    in_table_order(held);
}

/// Leaves out the capabilities that a user namespace of the container's own takes away from
/// it (see [`DefeatingCapability::user_namespace_confines`]).
pub fn without_confined(held: Vec<Held>, spec: &Spec) -> Vec<Held> {
    if !has_confining_user_namespace(spec) {
        return held;
    }
    held.into_iter().filter(|h| !h.capability.user_namespace_confines).collect()
}

/// Whether the container gets a user namespace of its own that does not map host root: its
/// capabilities then count only there. A user namespace joined by path is not counted (what it
/// maps is unknown here, and it may be the host's).
fn has_confining_user_namespace(spec: &Spec) -> bool {
    let Some(linux) = spec.linux().as_ref() else { return false };
    let new_userns = linux
        .namespaces()
        .as_ref()
        .is_some_and(|nss| nss.iter().any(|ns| ns.typ() == LinuxNamespaceType::User && ns.path().is_none()));
    let maps_host_root = linux
        .uid_mappings()
        .as_ref()
        .is_none_or(|maps| maps.is_empty() || maps.iter().any(|m| m.host_id() == 0));
    new_userns && !maps_host_root
}

/// The check `create` makes for a firewalled container: the spec's process, less what its own
/// user namespace confines. Returns the warnings for accepted capabilities.
pub fn check_container(spec: &Spec, policy: &Policy) -> Result<Vec<String>> {
    let caps = spec.process().as_ref().and_then(|p| p.capabilities().as_ref());
    check(&without_confined(held_by(caps), spec), Some(policy), "the process of this firewalled container")
}

/// The decision: `Err` naming every capability the policy does not accept (what it is in, why
/// it defeats the firewall, how to accept the risk); `Ok` with one warning per accepted one.
/// `what` names the process ("the process of this firewalled container").
pub fn check(held: &[Held], policy: Option<&Policy>, what: &str) -> Result<Vec<String>> {
    let accepted = |name: &str| policy.is_some_and(|p| p.accepts_capability(name));
    let (ok, refused): (Vec<&Held>, Vec<&Held>) = held.iter().partition(|h| accepted(h.capability.name));
    if !refused.is_empty() {
        let each: Vec<String> = refused.iter().map(|h| describe(h)).collect();
        let names: Vec<&str> = refused.iter().map(|h| h.capability.name).collect();
        anyhow::bail!(
            "{what} can hold {}; a firewall in the container's cgroup \
             and network namespace cannot hold against that. Remove {} from process.capabilities \
             (every set, bounding included), or accept the risk with the annotation \
             {ANNOTATION_ACCEPT_CAPABILITIES}: \"{}\"",
            each.join("; and "),
            if names.len() == 1 { "it" } else { "them" },
            accepted_value(policy, &names),
        );
    }
    Ok(ok
        .iter()
        .map(|h| format!("accepted by {ANNOTATION_ACCEPT_CAPABILITIES}: {what} can hold {}", describe(h)))
        .collect())
}

/// "CAP_NET_ADMIN (in bounding, effective): it installs …"
fn describe(held: &Held) -> String {
    format!("{} (in {}): it {}", held.capability.name, held.sources.join(", "), held.capability.how)
}

/// The annotation value that would accept `names` on top of what the policy accepts already.
fn accepted_value(policy: Option<&Policy>, names: &[&str]) -> String {
    let mut all: Vec<&str> = policy.map(|p| p.accepted_capabilities().to_vec()).unwrap_or_default();
    all.extend(names.iter().filter(|n| !all.contains(n)).collect::<Vec<_>>());
    all.join(",")
}

/// `CAP_NET_ADMIN` for [`Capability::NetAdmin`] (its serde name, as in config.json).
fn capability_name(cap: &Capability) -> String {
    serde_json::to_value(cap).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

/// The runtime's own capability sets, from /proc/self/status (what an absent set keeps).
struct RuntimeCapabilities {
    /// Names per set, in [`SETS`] order.
    sets: [Vec<&'static str>; 5],
}

impl RuntimeCapabilities {
    fn read() -> RuntimeCapabilities {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        Self::parse(&status)
    }

    fn parse(status: &str) -> RuntimeCapabilities {
        let fields = ["CapBnd:", "CapEff:", "CapPrm:", "CapInh:", "CapAmb:"];
        let sets = fields.map(|field| {
            let mask = status
                .lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
                // Unreadable: assume every capability (the runtime normally runs as root).
                .unwrap_or(u64::MAX);
            policy::CAPABILITY_NAMES
                .iter()
                .enumerate()
                .filter(|(bit, _)| mask & (1 << bit) != 0)
                .map(|(_, name)| *name)
                .collect()
        });
        RuntimeCapabilities { sets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(json: &str) -> LinuxCapabilities {
        serde_json::from_str(json).unwrap()
    }

    fn names(held: &[Held]) -> Vec<&str> {
        held.iter().map(|h| h.capability.name).collect()
    }

    fn spec(json: serde_json::Value) -> Spec {
        let mut base = serde_json::json!({"ociVersion": "1.0.2", "root": {"path": "rootfs"}});
        base.as_object_mut().unwrap().extend(json.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    fn policy_accepting(value: &str) -> Policy {
        Policy::from_annotations([("cgfw.io/allow", ""), ("cgfw.io/accept-capabilities", value)]).unwrap().unwrap()
    }

    /// podman 4.3 (containers.conf default_capabilities), containerd 1.6 (oci.DefaultSpec, also
    /// what its CRI plugin starts from), CRI-O, and `runc spec`: none holds a defeating one.
    #[test]
    fn engine_default_sets_pass() {
        let podman = r#"["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FOWNER","CAP_FSETID","CAP_KILL","CAP_NET_BIND_SERVICE","CAP_SETFCAP","CAP_SETGID","CAP_SETPCAP","CAP_SETUID","CAP_SYS_CHROOT"]"#;
        let containerd = r#"["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_MKNOD","CAP_NET_RAW","CAP_SETGID","CAP_SETUID","CAP_SETFCAP","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_SYS_CHROOT","CAP_KILL","CAP_AUDIT_WRITE"]"#;
        let crio = r#"["CAP_CHOWN","CAP_DAC_OVERRIDE","CAP_FSETID","CAP_FOWNER","CAP_SETGID","CAP_SETUID","CAP_SETPCAP","CAP_NET_BIND_SERVICE","CAP_KILL"]"#;
        let runc = r#"["CAP_AUDIT_WRITE","CAP_KILL","CAP_NET_BIND_SERVICE"]"#;
        for set in [podman, containerd, crio, runc] {
            // containerd leaves inheritable and ambient out; podman sets them empty or out.
            let c = caps(&format!(r#"{{"bounding":{set},"effective":{set},"permitted":{set},"inheritable":[],"ambient":[]}}"#));
            let held = held_by(Some(&c));
            assert!(held.is_empty(), "{set}: {held:?}");
            assert!(check(&held, None, "the process of this firewalled container").unwrap().is_empty());
        }
    }

    #[test]
    fn every_set_counts_bounding_included() {
        for set in SETS {
            let mut json = serde_json::json!({"bounding": [], "effective": [], "permitted": [], "inheritable": [], "ambient": []});
            json[set] = serde_json::json!(["CAP_NET_ADMIN", "CAP_CHOWN"]);
            let c: LinuxCapabilities = serde_json::from_value(json).unwrap();
            let held = held_by(Some(&c));
            assert_eq!(names(&held), ["CAP_NET_ADMIN"], "{set}");
            assert_eq!(held[0].sources, [set.to_string()]);
        }
        let c = caps(r#"{"bounding":["CAP_SYS_ADMIN","CAP_BPF"],"effective":["CAP_SYS_ADMIN"],"permitted":[],"inheritable":[],"ambient":[]}"#);
        let held = held_by(Some(&c));
        assert_eq!(names(&held), ["CAP_SYS_ADMIN", "CAP_BPF"]);
        assert_eq!(held[0].sources, ["bounding", "effective"]);
    }

    #[test]
    fn an_absent_bounding_set_is_empty_and_other_absent_sets_are_the_runtimes() {
        // Only bounding given: the rest comes from the runtime (root here: everything).
        let c = caps(r#"{"bounding":[]}"#);
        let own = RuntimeCapabilities::read();
        let held = held_by(Some(&c));
        if own.sets[1].contains(&"CAP_SYS_ADMIN") {
            let h = held.iter().find(|h| h.capability.name == "CAP_SYS_ADMIN").unwrap();
            assert!(h.sources[0].starts_with("effective (absent from config.json"), "{:?}", h.sources);
            assert!(!h.sources.iter().any(|s| s.starts_with("bounding")));
        }
    }

    #[test]
    fn runtime_sets_are_parsed_by_bit() {
        let own = RuntimeCapabilities::parse(
            "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t0000000000001000\nCapEff:\t0000000000201000\n\
             CapBnd:\t000001ffffffffff\nCapAmb:\t0000008000000000\n",
        );
        assert_eq!(own.sets[0].len(), 41);
        assert_eq!(own.sets[1], ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]);
        assert_eq!(own.sets[2], ["CAP_NET_ADMIN"]);
        assert!(own.sets[3].is_empty());
        assert_eq!(own.sets[4], ["CAP_BPF"]);
    }

    #[test]
    fn refusal_names_capability_sets_reason_and_the_annotation() {
        let c = caps(r#"{"bounding":["CAP_NET_ADMIN"],"effective":[],"permitted":[],"inheritable":[],"ambient":["CAP_BPF"]}"#);
        let err = check(&held_by(Some(&c)), None, "the process of this firewalled container").unwrap_err().to_string();
        assert!(err.contains("CAP_NET_ADMIN (in bounding): it installs nftables or tc rules"), "{err}");
        assert!(err.contains("CAP_BPF (in ambient): it loads privileged BPF programs"), "{err}");
        assert!(err.contains("cgfw.io/accept-capabilities: \"CAP_NET_ADMIN,CAP_BPF\""), "{err}");
        // One accepted, one not: only the other is refused, and the hint keeps the first.
        let p = policy_accepting("CAP_NET_ADMIN");
        let err = check(&held_by(Some(&c)), Some(&p), "the process of this firewalled container").unwrap_err().to_string();
        assert!(!err.contains("CAP_NET_ADMIN (in"), "{err}");
        assert!(err.contains("\"CAP_NET_ADMIN,CAP_BPF\""), "{err}");
    }

    #[test]
    fn accepted_capabilities_become_warnings() {
        let c = caps(r#"{"bounding":["CAP_NET_ADMIN"],"effective":["CAP_NET_ADMIN"],"permitted":[],"inheritable":[],"ambient":[]}"#);
        let p = policy_accepting("CAP_NET_ADMIN,CAP_SYS_ADMIN");
        let warnings = check(&held_by(Some(&c)), Some(&p), "the process of this firewalled container").unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].starts_with(
                "accepted by cgfw.io/accept-capabilities: the process of this firewalled container can hold CAP_NET_ADMIN (in bounding, effective): it installs"
            ),
            "{}",
            warnings[0]
        );
    }

    #[test]
    fn exec_caps_are_added_whatever_the_spelling() {
        let mut held = Vec::new();
        add_exec_caps(&mut held, &["CAP_NET_ADMIN".into(), "sys_admin".into(), "CAP_CHOWN".into()]);
        assert_eq!(names(&held), ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]);
        assert_eq!(held[1].sources, ["exec --cap sys_admin"]);
    }

    #[test]
    fn own_user_namespace_confines_all_but_net_admin() {
        let c = caps(r#"{"bounding":["CAP_NET_ADMIN","CAP_SYS_ADMIN","CAP_BPF","CAP_SYS_MODULE","CAP_SYS_PTRACE"],"effective":[],"permitted":[],"inheritable":[],"ambient":[]}"#);
        let userns = |host_id: u32, path: Option<&str>| {
            let mut ns = serde_json::json!({"type": "user"});
            if let Some(p) = path {
                ns["path"] = p.into();
            }
            spec(serde_json::json!({"linux": {
                "namespaces": [ns, {"type": "network"}],
                "uidMappings": [{"containerID": 0, "hostID": host_id, "size": 65536}],
                "gidMappings": [{"containerID": 0, "hostID": host_id, "size": 65536}]}}))
        };
        assert_eq!(names(&without_confined(held_by(Some(&c)), &userns(100000, None))), ["CAP_NET_ADMIN"]);
        // Mapping host root, or joining one by path, takes nothing away.
        assert_eq!(without_confined(held_by(Some(&c)), &userns(0, None)).len(), 5);
        assert_eq!(without_confined(held_by(Some(&c)), &userns(100000, Some("/proc/1/ns/user"))).len(), 5);
        let no_userns = spec(serde_json::json!({"linux": {"namespaces": [{"type": "network"}]}}));
        assert_eq!(without_confined(held_by(Some(&c)), &no_userns).len(), 5);
    }
}
