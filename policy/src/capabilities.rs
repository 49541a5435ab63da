//! Capabilities that defeat a firewall scoped to the container's cgroup and network namespace,
//! and the `cgfw.io/accept-capabilities` annotation that accepts the risk of exactly those
//! listed. The runtime refuses a firewalled container whose process may hold one that is not
//! accepted; the reasoning per capability is in docs/security-model.md ("Capabilities").

/// Every Linux capability, at the index of its bit number (linux/capability.h,
/// capabilities(7)), spelt as config.json spells it.
pub const CAPABILITY_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A capability with which root in the container can get past a firewall that lives in the
/// container's cgroup and network namespace.
#[derive(Debug, PartialEq, Eq)]
pub struct DefeatingCapability {
    /// `CAP_…`, as in config.json.
    pub name: &'static str,
    /// What it lets the container do to the firewall (completes "it …" in an error).
    pub how: &'static str,
    /// True when the kernel checks it only against the initial user namespace (or against
    /// objects owned by it), so a process whose capabilities are those of a user namespace of
    /// its own cannot use it against the firewall.
    pub user_namespace_confines: bool,
}

/// The capabilities `create` refuses unless accepted; see docs/security-model.md for the
/// ones considered and not listed (CAP_PERFMON, CAP_NET_RAW, CAP_SYS_BOOT, …).
pub const DEFEATING_CAPABILITIES: [DefeatingCapability; 7] = [
    DefeatingCapability {
        name: "CAP_NET_ADMIN",
        how: "installs nftables or tc rules on the container's own interfaces, which run after the \
              firewall's cgroup egress hook and can rewrite a packet to an allowed address into one \
              to any address",
        // The network namespace runc creates with a user namespace belongs to that user
        // namespace: nftables and tc accept its CAP_NET_ADMIN.
        user_namespace_confines: false,
    },
    DefeatingCapability {
        name: "CAP_SYS_ADMIN",
        how: "can detach the firewall's BPF programs or write its allow map with bpf(), and mount \
              cgroup2 to move out of the firewalled cgroup",
        user_namespace_confines: true,
    },
    DefeatingCapability {
        name: "CAP_BPF",
        how: "loads privileged BPF programs into the host kernel (with CAP_PERFMON tracing programs \
              that run on every process's kernel paths, with CAP_NET_ADMIN programs on the \
              container's interfaces); the kernel does not treat privileged BPF as a boundary \
              against the process holding it, and the firewall is BPF",
        user_namespace_confines: true,
    },
    DefeatingCapability {
        name: "CAP_SYS_MODULE",
        how: "loads a kernel module, which runs as the kernel and can remove the firewall",
        user_namespace_confines: true,
    },
    DefeatingCapability {
        name: "CAP_SYS_PTRACE",
        how: "can ptrace or take file descriptors (pidfd_getfd) of processes it can see but that are \
              not confined like it: in the host's or a shared pid namespace the firewall's sidecar \
              (which holds the allow map), and in its own the runtime while `exec` enters it",
        user_namespace_confines: true,
    },
    DefeatingCapability {
        name: "CAP_SYS_RAWIO",
        how: "gets raw I/O port and device memory access (iopl, /dev/mem), which reaches the \
              network hardware beneath the kernel's network stack",
        user_namespace_confines: true,
    },
    DefeatingCapability {
        name: "CAP_DAC_READ_SEARCH",
        how: "opens any file of a host filesystem it has a file on with open_by_handle_at (the \
              \"shocker\" escape), and with CAP_DAC_OVERRIDE writes it: the runtime's state and \
              binaries included",
        user_namespace_confines: true,
    },
];

/// The entry for `name` (exact `CAP_…` spelling) if it defeats the firewall.
pub fn defeating(name: &str) -> Option<&'static DefeatingCapability> {
    DEFEATING_CAPABILITIES.iter().find(|c| c.name == name)
}

/// Why one entry of `cgfw.io/accept-capabilities` was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CapabilityError {
    #[error("write capability names as config.json does, in capitals with the CAP_ prefix: {0:?}")]
    Spelling(String),
    #[error("not a Linux capability (see capabilities(7))")]
    Unknown,
    #[error(
        "this capability does not defeat the firewall, so there is no risk to accept; only these \
         can be listed: {}", defeating_names()
    )]
    NotDefeating,
    #[error("listed twice")]
    Duplicate,
    #[error(
        "no capability listed; remove the annotation to accept none (capabilities that can be \
         listed: {})", defeating_names()
    )]
    Empty,
}

fn defeating_names() -> String {
    DEFEATING_CAPABILITIES.map(|c| c.name).join(", ")
}

/// Parses the value of `cgfw.io/accept-capabilities`: a comma/whitespace list of capabilities
/// from [`DEFEATING_CAPABILITIES`], each at most once. On error: the offending token and why.
pub(crate) fn parse_accepted(tokens: &[&str]) -> Result<Vec<&'static str>, (String, CapabilityError)> {
    let mut accepted: Vec<&'static str> = Vec::with_capacity(tokens.len());
    for &token in tokens {
        let entry = match defeating(token) {
            Some(entry) => entry,
            None => {
                let canonical = canonical_spelling(token);
                let reason = if canonical.as_deref().is_some_and(|c| c != token) {
                    CapabilityError::Spelling(canonical.unwrap_or_default())
                } else if canonical.is_some() {
                    CapabilityError::NotDefeating
                } else {
                    CapabilityError::Unknown
                };
                return Err((token.to_owned(), reason));
            }
        };
        if accepted.contains(&entry.name) {
            return Err((token.to_owned(), CapabilityError::Duplicate));
        }
        accepted.push(entry.name);
    }
    Ok(accepted)
}

/// `net_admin`, `NET_ADMIN`, `cap_net_admin` -> `CAP_NET_ADMIN`, if that is a capability.
fn canonical_spelling(token: &str) -> Option<String> {
    let upper = token.to_ascii_uppercase();
    let name = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
    CAPABILITY_NAMES.contains(&name.as_str()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_in_bit_order() {
        // Spot checks against linux/capability.h.
        assert_eq!(CAPABILITY_NAMES[0], "CAP_CHOWN");
        assert_eq!(CAPABILITY_NAMES[12], "CAP_NET_ADMIN");
        assert_eq!(CAPABILITY_NAMES[13], "CAP_NET_RAW");
        assert_eq!(CAPABILITY_NAMES[21], "CAP_SYS_ADMIN");
        assert_eq!(CAPABILITY_NAMES[38], "CAP_PERFMON");
        assert_eq!(CAPABILITY_NAMES[39], "CAP_BPF");
        assert_eq!(CAPABILITY_NAMES[40], "CAP_CHECKPOINT_RESTORE");
        let mut sorted = CAPABILITY_NAMES.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), CAPABILITY_NAMES.len());
    }

    #[test]
    fn every_defeating_capability_is_a_capability() {
        for c in &DEFEATING_CAPABILITIES {
            assert!(CAPABILITY_NAMES.contains(&c.name), "{}", c.name);
            assert!(!c.how.is_empty());
        }
    }

    #[test]
    fn user_namespace_does_not_confine_net_admin() {
        assert!(!defeating("CAP_NET_ADMIN").unwrap().user_namespace_confines);
        assert!(defeating("CAP_SYS_ADMIN").unwrap().user_namespace_confines);
        assert!(defeating("CAP_BPF").unwrap().user_namespace_confines);
    }

    #[test]
    fn parses_exact_names_in_order() {
        assert_eq!(
            parse_accepted(&["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]).unwrap(),
            vec!["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]
        );
    }

    #[test]
    fn refuses_bad_tokens_with_the_reason() {
        let err = |t: &[&str]| parse_accepted(t).unwrap_err();
        assert_eq!(err(&["NET_ADMIN"]), ("NET_ADMIN".into(), CapabilityError::Spelling("CAP_NET_ADMIN".into())));
        assert_eq!(err(&["cap_bpf"]), ("cap_bpf".into(), CapabilityError::Spelling("CAP_BPF".into())));
        assert_eq!(err(&["CAP_NET_ADMN"]), ("CAP_NET_ADMN".into(), CapabilityError::Unknown));
        assert_eq!(err(&["CAP_CHOWN"]), ("CAP_CHOWN".into(), CapabilityError::NotDefeating));
        assert_eq!(err(&["CAP_NET_RAW"]), ("CAP_NET_RAW".into(), CapabilityError::NotDefeating));
        assert_eq!(
            err(&["CAP_BPF", "CAP_SYS_ADMIN", "CAP_BPF"]),
            ("CAP_BPF".into(), CapabilityError::Duplicate)
        );
        // A spelling variant of one already listed is still a spelling error, named first.
        assert_eq!(err(&["CAP_BPF", "bpf"]), ("bpf".into(), CapabilityError::Spelling("CAP_BPF".into())));
    }

    #[test]
    fn not_defeating_names_what_can_be_listed() {
        let text = CapabilityError::NotDefeating.to_string();
        for c in &DEFEATING_CAPABILITIES {
            assert!(text.contains(c.name), "{text}");
        }
    }
}
