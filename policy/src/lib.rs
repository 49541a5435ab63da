//! `cgfw.io/*` OCI annotations -> a validated egress [`Policy`], and the matching the firewall
//! needs: domain names (for the DNS proxy), addresses (for the eBPF maps) and the DNS
//! rebinding guard ([`special_address_reason`]).
//!
//! Pure library: no I/O, no BPF, no async. The user-facing reference is `policy/README.md`.
//!
//! ```
//! use policy::{Policy, Verdict};
//! let p = Policy::from_annotations([("cgfw.io/allow", "example.com, 10.0.0.0/8")])
//!     .unwrap()
//!     .expect("cgfw.io annotations present");
//! assert_eq!(p.decide_domain("WWW.Example.com.").verdict, Verdict::Allow);
//! assert_eq!(p.decide_domain("badexample.com").verdict, Verdict::Block);
//! ```

mod capabilities;
mod cidr;
mod domain;
mod fasthash;
mod matcher;
mod policy;
mod special;

use serde::{Deserialize, Serialize};

pub use capabilities::{defeating, CapabilityError, DefeatingCapability, CAPABILITY_NAMES, DEFEATING_CAPABILITIES};
pub use cidr::{canonical_ip, Cidr, CidrError};
pub use domain::{
    normalize_domain, DomainError, DomainPattern, PatternError, FORCE_PREFIX, MAX_LABEL_LEN,
    MAX_NAME_LEN,
};
pub use policy::{Policy, PolicyError, TokenError, UpstreamError};
pub use special::special_address_reason;

/// Every annotation this crate reads starts with this.
pub const ANNOTATION_PREFIX: &str = "cgfw.io/";
/// Domain patterns and CIDRs to allow; its presence makes the policy default-deny.
pub const ANNOTATION_ALLOW: &str = "cgfw.io/allow";
/// Domain patterns and CIDRs to block; wins over allow.
pub const ANNOTATION_BLOCK: &str = "cgfw.io/block";
/// `enforce` (default) or `audit`.
pub const ANNOTATION_MODE: &str = "cgfw.io/mode";
/// Upstream resolvers, `IP[:port]` list.
pub const ANNOTATION_DNS_UPSTREAM: &str = "cgfw.io/dns-upstream";
/// `none`, `blocked` (default) or `all`.
pub const ANNOTATION_LOG: &str = "cgfw.io/log";
/// Capabilities that defeat the firewall ([`DEFEATING_CAPABILITIES`]) which the container may
/// hold anyway: the bundle's author accepts the risk (the runtime warns instead of refusing).
pub const ANNOTATION_ACCEPT_CAPABILITIES: &str = "cgfw.io/accept-capabilities";
/// All annotations understood; any other key under our prefix is an error.
pub const KNOWN_ANNOTATIONS: [&str; 6] = [
    ANNOTATION_ALLOW,
    ANNOTATION_BLOCK,
    ANNOTATION_MODE,
    ANNOTATION_DNS_UPSTREAM,
    ANNOTATION_LOG,
    ANNOTATION_ACCEPT_CAPABILITIES,
];

/// Whether blocked traffic is stopped or only reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Block what the policy does not allow.
    #[default]
    Enforce,
    /// Block nothing; record what would have been blocked.
    Audit,
}

/// Which events are written to the event log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    None,
    /// Blocked (or, in audit mode, would-be-blocked) events only.
    #[default]
    Blocked,
    All,
}

/// The outcome of matching a name or an address. In audit mode `Block` still comes back:
/// the caller turns it into a "would block" event and lets the traffic through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Allow,
    Block,
}

impl Verdict {
    /// `"allow"` or `"block"`, as used in rule names.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Block => "block",
        }
    }
}

/// A verdict and the rule that produced it, for events and reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub verdict: Verdict,
    /// `"allow example.com"`, `"block *.evil.test"`, `"block 10.0.0.0/8"`,
    /// `"invalid name"`; `None` when the policy's default verdict applied.
    pub rule: Option<String>,
}

impl Decision {
    /// The rule name, or `"default"` when no rule matched.
    pub fn rule_name(&self) -> &str {
        self.rule.as_deref().unwrap_or("default")
    }
}
