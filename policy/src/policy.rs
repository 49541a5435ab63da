//! Annotations -> [`Policy`], the policy's decisions, and its JSON form.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::capabilities::{parse_accepted, CapabilityError, DEFEATING_CAPABILITIES};
use crate::cidr::{canonical_ip, Cidr, CidrError, CidrSet};
use crate::domain::{normalize_wire_name, DomainPattern, PatternError, FORCE_PREFIX};
use crate::matcher::{DomainIndex, DomainMatch};
use crate::{
    Decision, LogLevel, Mode, Verdict, ANNOTATION_ACCEPT_CAPABILITIES, ANNOTATION_ALLOW, ANNOTATION_BLOCK,
    ANNOTATION_DNS_UPSTREAM, ANNOTATION_LOG, ANNOTATION_MODE, KNOWN_ANNOTATIONS,
};

/// Port used for an upstream resolver given without one.
pub const DEFAULT_DNS_PORT: u16 = 53;

/// Rule name reported when a query name is not a valid DNS name.
const INVALID_NAME_RULE: &str = "invalid name";

/// Tokens longer than this are shortened in error messages (the full token stays in the error
/// value), so a pasted blob does not flood the runtime's log.
const MAX_SHOWN_TOKEN: usize = 120;

/// A policy error: always names the annotation, and the offending token where there is one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// `cgfw.io/allow: "exa mple.com": invalid character ' '`
    #[error("{annotation}: {}: {reason}", shown(.token))]
    InvalidToken {
        annotation: String,
        token: String,
        reason: TokenError,
    },
    #[error(
        "{annotation}: unknown cgfw annotation (known: cgfw.io/allow, cgfw.io/block, cgfw.io/mode, \
         cgfw.io/dns-upstream, cgfw.io/log, cgfw.io/accept-capabilities); refusing to guess, a typo must not disable the firewall"
    )]
    UnknownAnnotation { annotation: String },
    #[error("{annotation}: given more than once")]
    DuplicateAnnotation { annotation: String },
    #[error(
        "cgfw.io/block: no rules and no cgfw.io/allow, so the policy would restrict nothing; \
         add cgfw.io/allow (an empty value denies all egress) or cgfw.io/block rules, \
         or remove the cgfw.io/* annotations to run without the firewall"
    )]
    NoRules,
}

/// Why one token of an annotation value was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Pattern(#[from] PatternError),
    #[error(transparent)]
    Cidr(#[from] CidrError),
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    #[error(transparent)]
    Capability(#[from] CapabilityError),
    #[error("expected {0}")]
    Expected(&'static str),
    #[error("'!' only forces domain patterns that are public suffixes; addresses take no '!'")]
    ForceOnAddress,
    #[error("this is a URL; write just the host name, e.g. {0:?}")]
    Url(String),
    #[error("ports are not supported (rules cover every port); write just {0:?}")]
    Port(String),
}

/// Why a `cgfw.io/dns-upstream` entry was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    #[error("expected IP, IP:port, [IPv6] or [IPv6]:port")]
    Syntax,
    #[error("port 0 is not a usable port")]
    PortZero,
    #[error("{0} is not a usable resolver address ({1})")]
    Unusable(IpAddr, &'static str),
    #[error("no resolver listed; remove the annotation to use the container's /etc/resolv.conf")]
    Empty,
}

/// Quote a token for an error message with Rust string escaping (so control characters and
/// quotes stay visible), shortened if very long.
fn shown(token: &str) -> String {
    if token.chars().count() <= MAX_SHOWN_TOKEN {
        format!("{token:?}")
    } else {
        let head: String = token.chars().take(MAX_SHOWN_TOKEN).collect();
        format!("{head:?}… ({} bytes)", token.len())
    }
}

/// One entry of an allow or block list.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    Domain(DomainPattern),
    Cidr(Cidr),
}

fn parse_rule(token: &str) -> Result<Rule, TokenError> {
    let (forced, body) = match token.strip_prefix(FORCE_PREFIX) {
        Some(rest) => (true, rest),
        None => (false, token),
    };
    if let Some((_, rest)) = body.split_once("://") {
        let host = rest.split(['/', ':', '?', '#']).next().unwrap_or_default();
        return Err(TokenError::Url(host.to_owned()));
    }
    // A domain never contains ':' or '/', and a token of only digits and dots is an address
    // attempt ("10.0.0" is a typo, not a name): both are parsed as addresses so the error
    // talks about addresses.
    let addressy = body.contains([':', '/'])
        || (!body.is_empty() && body.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
    if addressy {
        if let Some((host, port)) = body.rsplit_once(':') {
            let host_is_name = host.bytes().any(|b| b.is_ascii_alphabetic()) && !host.contains(':');
            if host_is_name && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) {
                return Err(TokenError::Port(host.to_owned()));
            }
        }
        if forced {
            return Err(TokenError::ForceOnAddress);
        }
        return Ok(Rule::Cidr(Cidr::from_str(body)?));
    }
    Ok(Rule::Domain(DomainPattern::parse(token)?))
}

/// Split a list value on commas and ASCII whitespace, dropping empty pieces.
fn list_tokens(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(|c: char| c == ',' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
}

fn parse_upstream(token: &str) -> Result<SocketAddr, UpstreamError> {
    let addr = if let Ok(sa) = SocketAddr::from_str(token) {
        sa
    } else if let Ok(ip) = IpAddr::from_str(token) {
        SocketAddr::new(ip, DEFAULT_DNS_PORT)
    } else if let Some(inner) = token.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let ip = std::net::Ipv6Addr::from_str(inner).map_err(|_| UpstreamError::Syntax)?;
        SocketAddr::new(IpAddr::V6(ip), DEFAULT_DNS_PORT)
    } else {
        return Err(UpstreamError::Syntax);
    };
    validate_upstream(addr)
}

/// Checks shared by the annotation parser and deserialisation.
fn validate_upstream(addr: SocketAddr) -> Result<SocketAddr, UpstreamError> {
    if let SocketAddr::V6(v6) = addr {
        // Zone ids would tie the policy to an interface name inside the container.
        if v6.scope_id() != 0 || v6.flowinfo() != 0 {
            return Err(UpstreamError::Syntax);
        }
    }
    let ip = canonical_ip(addr.ip());
    if addr.port() == 0 {
        return Err(UpstreamError::PortZero);
    }
    let why = if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_multicast() {
        Some("multicast")
    } else if ip == IpAddr::V4(std::net::Ipv4Addr::BROADCAST) {
        Some("broadcast")
    } else {
        None
    };
    match why {
        Some(why) => Err(UpstreamError::Unusable(ip, why)),
        None => Ok(SocketAddr::new(ip, addr.port())),
    }
}

fn parse_keyword<T: Copy>(
    annotation: &str,
    value: &str,
    choices: &[(&str, T)],
    expected: &'static str,
) -> Result<T, PolicyError> {
    let word = value.trim();
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(word))
        .map(|(_, v)| *v)
        .ok_or_else(|| PolicyError::InvalidToken {
            annotation: annotation.to_owned(),
            token: value.to_owned(),
            reason: TokenError::Expected(expected),
        })
}

/// Whether an annotation key is meant for us: its letters and digits, lowercased, start with
/// "cgfw". Wider than the exact prefix on purpose, so `CGFW.io/allow`, `cgfw.io.allow` or
/// `cgfw-io/allow` is reported as unknown instead of silently leaving the container
/// unfirewalled.
fn is_cgfw_key(key: &str) -> bool {
    let mut letters = key.chars().filter(|c| c.is_ascii_alphanumeric());
    "cgfw".chars().all(|want| {
        letters
            .next()
            .is_some_and(|c| c.eq_ignore_ascii_case(&want))
    })
}

/// A validated egress policy for one container.
///
/// Built from annotations ([`Policy::from_annotations`]) or from its JSON form, which is
/// validated exactly like annotations so an invalid policy cannot be deserialised.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(into = "PolicySpec", try_from = "PolicySpec")]
pub struct Policy {
    mode: Mode,
    log_level: LogLevel,
    default_verdict: Verdict,
    dns_upstreams: Vec<SocketAddr>,
    allow_domains: Vec<DomainPattern>,
    block_domains: Vec<DomainPattern>,
    allow_cidrs: Vec<Cidr>,
    block_cidrs: Vec<Cidr>,
    /// `cgfw.io/accept-capabilities`, canonical names in the order given.
    accepted_capabilities: Vec<&'static str>,
    // Derived from the fields above; not compared, not serialised.
    domain_index: DomainIndex,
    allow_domain_rules: Vec<String>,
    block_domain_rules: Vec<String>,
    allow_cidr_rules: Vec<String>,
    block_cidr_rules: Vec<String>,
    allow_set: CidrSet,
    block_set: CidrSet,
}

impl PartialEq for Policy {
    fn eq(&self, other: &Self) -> bool {
        self.mode == other.mode
            && self.log_level == other.log_level
            && self.default_verdict == other.default_verdict
            && self.dns_upstreams == other.dns_upstreams
            && self.allow_domains == other.allow_domains
            && self.block_domains == other.block_domains
            && self.allow_cidrs == other.allow_cidrs
            && self.block_cidrs == other.block_cidrs
            && self.accepted_capabilities == other.accepted_capabilities
    }
}

impl Eq for Policy {}

/// The JSON form of a policy (what the runtime sends to the sidecar). Rules are in their
/// canonical annotation spelling and re-parsed on the way in.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicySpec {
    mode: Mode,
    log: LogLevel,
    default: Verdict,
    #[serde(default)]
    dns_upstreams: Vec<SocketAddr>,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    block: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    accept_capabilities: Vec<String>,
}

impl From<Policy> for PolicySpec {
    fn from(p: Policy) -> PolicySpec {
        let rules = |domains: &[DomainPattern], cidrs: &[Cidr]| -> Vec<String> {
            domains
                .iter()
                .map(ToString::to_string)
                .chain(cidrs.iter().map(ToString::to_string))
                .collect()
        };
        PolicySpec {
            mode: p.mode,
            log: p.log_level,
            default: p.default_verdict,
            dns_upstreams: p.dns_upstreams.clone(),
            allow: rules(&p.allow_domains, &p.allow_cidrs),
            block: rules(&p.block_domains, &p.block_cidrs),
            accept_capabilities: p.accepted_capabilities.iter().map(|c| c.to_string()).collect(),
        }
    }
}

impl TryFrom<PolicySpec> for Policy {
    type Error = PolicyError;

    fn try_from(spec: PolicySpec) -> Result<Policy, PolicyError> {
        let parse_list = |annotation: &str, tokens: &[String]| -> Result<Vec<Rule>, PolicyError> {
            tokens
                .iter()
                .map(|t| {
                    parse_rule(t).map_err(|reason| PolicyError::InvalidToken {
                        annotation: annotation.to_owned(),
                        token: t.clone(),
                        reason,
                    })
                })
                .collect()
        };
        let allow = parse_list(ANNOTATION_ALLOW, &spec.allow)?;
        let block = parse_list(ANNOTATION_BLOCK, &spec.block)?;
        // A default-allow policy with allow rules can not come from annotations (allow present
        // means default deny); refuse it rather than invent a meaning.
        if spec.default == Verdict::Allow && !allow.is_empty() {
            return Err(PolicyError::InvalidToken {
                annotation: ANNOTATION_ALLOW.to_owned(),
                token: spec.allow.join(","),
                reason: TokenError::Expected("no allow rules in a default-allow policy"),
            });
        }
        let upstreams = spec
            .dns_upstreams
            .iter()
            .map(|a| {
                validate_upstream(*a).map_err(|reason| PolicyError::InvalidToken {
                    annotation: ANNOTATION_DNS_UPSTREAM.to_owned(),
                    token: a.to_string(),
                    reason: reason.into(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tokens: Vec<&str> = spec.accept_capabilities.iter().map(String::as_str).collect();
        let accepted = accepted_capabilities(&tokens)?;
        let allow = (spec.default == Verdict::Block).then_some(allow);
        Policy::build(spec.mode, spec.log, allow, block, upstreams, accepted)
    }
}

impl Policy {
    /// Read the `cgfw.io/*` annotations of a bundle.
    ///
    /// `Ok(None)` when no annotation is ours: the container runs unfirewalled, exactly like
    /// runc. Annotations not starting with "cgfw" are ignored. Any key that looks like ours
    /// but is not one of [`crate::KNOWN_ANNOTATIONS`] is an error, as is a key given twice.
    ///
    /// `cgfw.io/allow` present (even empty) makes the policy default-deny; an empty allow list
    /// therefore denies all egress. `cgfw.io/block` alone makes it default-allow. With neither
    /// allow nor a non-empty block list the policy would restrict nothing: that is an error
    /// ([`PolicyError::NoRules`]), since setting `cgfw.io/mode` or `cgfw.io/log` alone almost
    /// certainly expected some confinement.
    pub fn from_annotations<'a, I: IntoIterator<Item = (&'a str, &'a str)>>(
        annotations: I,
    ) -> Result<Option<Policy>, PolicyError> {
        let mut values: [Option<&str>; KNOWN_ANNOTATIONS.len()] = [None; KNOWN_ANNOTATIONS.len()];
        let mut any = false;
        for (key, value) in annotations {
            if !is_cgfw_key(key) {
                continue;
            }
            any = true;
            let Some(slot) = KNOWN_ANNOTATIONS.iter().position(|k| *k == key) else {
                return Err(PolicyError::UnknownAnnotation {
                    annotation: key.to_owned(),
                });
            };
            if values[slot].replace(value).is_some() {
                return Err(PolicyError::DuplicateAnnotation {
                    annotation: key.to_owned(),
                });
            }
        }
        if !any {
            return Ok(None);
        }
        let get = |name: &str| values[KNOWN_ANNOTATIONS.iter().position(|k| *k == name).unwrap()];

        let rules = |annotation: &str, value: &str| -> Result<Vec<Rule>, PolicyError> {
            list_tokens(value)
                .map(|token| {
                    parse_rule(token).map_err(|reason| PolicyError::InvalidToken {
                        annotation: annotation.to_owned(),
                        token: token.to_owned(),
                        reason,
                    })
                })
                .collect()
        };
        let allow = get(ANNOTATION_ALLOW)
            .map(|v| rules(ANNOTATION_ALLOW, v))
            .transpose()?;
        let block = get(ANNOTATION_BLOCK)
            .map(|v| rules(ANNOTATION_BLOCK, v))
            .transpose()?
            .unwrap_or_default();
        let mode = get(ANNOTATION_MODE)
            .map(|v| {
                parse_keyword(
                    ANNOTATION_MODE,
                    v,
                    &[("enforce", Mode::Enforce), ("audit", Mode::Audit)],
                    "enforce or audit",
                )
            })
            .transpose()?
            .unwrap_or_default();
        let log = get(ANNOTATION_LOG)
            .map(|v| {
                parse_keyword(
                    ANNOTATION_LOG,
                    v,
                    &[
                        ("none", LogLevel::None),
                        ("blocked", LogLevel::Blocked),
                        ("all", LogLevel::All),
                    ],
                    "none, blocked or all",
                )
            })
            .transpose()?
            .unwrap_or_default();
        let upstreams = match get(ANNOTATION_DNS_UPSTREAM) {
            None => Vec::new(),
            Some(value) => {
                let err = |token: &str, reason: UpstreamError| PolicyError::InvalidToken {
                    annotation: ANNOTATION_DNS_UPSTREAM.to_owned(),
                    token: token.to_owned(),
                    reason: reason.into(),
                };
                let list = list_tokens(value)
                    .map(|t| parse_upstream(t).map_err(|e| err(t, e)))
                    .collect::<Result<Vec<_>, _>>()?;
                if list.is_empty() {
                    return Err(err(value, UpstreamError::Empty));
                }
                list
            }
        };
        let accepted = match get(ANNOTATION_ACCEPT_CAPABILITIES) {
            None => Vec::new(),
            Some(value) => {
                let tokens: Vec<&str> = list_tokens(value).collect();
                if tokens.is_empty() {
                    return Err(PolicyError::InvalidToken {
                        annotation: ANNOTATION_ACCEPT_CAPABILITIES.to_owned(),
                        token: value.to_owned(),
                        reason: CapabilityError::Empty.into(),
                    });
                }
                accepted_capabilities(&tokens)?
            }
        };
        Policy::build(mode, log, allow, block, upstreams, accepted).map(Some)
    }

    /// Assemble and index a policy. `allow` is `None` when there is no allow list at all
    /// (default allow), `Some(empty)` for "allow nothing".
    fn build(
        mode: Mode,
        log_level: LogLevel,
        allow: Option<Vec<Rule>>,
        block: Vec<Rule>,
        upstreams: Vec<SocketAddr>,
        accepted_capabilities: Vec<&'static str>,
    ) -> Result<Policy, PolicyError> {
        let default_verdict = if allow.is_some() {
            Verdict::Block
        } else {
            Verdict::Allow
        };
        if allow.is_none() && block.is_empty() {
            return Err(PolicyError::NoRules);
        }
        let (allow_domains, allow_cidrs) = split_rules(allow.unwrap_or_default());
        let (block_domains, block_cidrs) = split_rules(block);
        // Rule names are built once: a decision then costs one string copy, not a format.
        fn rule_names<T: std::fmt::Display>(verdict: Verdict, list: &[T]) -> Vec<String> {
            list.iter()
                .map(|r| format!("{} {r}", verdict.as_str()))
                .collect()
        }
        Ok(Policy {
            mode,
            log_level,
            default_verdict,
            dns_upstreams: dedup(upstreams),
            domain_index: DomainIndex::new(&allow_domains, &block_domains),
            allow_domain_rules: rule_names(Verdict::Allow, &allow_domains),
            block_domain_rules: rule_names(Verdict::Block, &block_domains),
            allow_cidr_rules: rule_names(Verdict::Allow, &allow_cidrs),
            block_cidr_rules: rule_names(Verdict::Block, &block_cidrs),
            allow_set: CidrSet::new(&allow_cidrs),
            block_set: CidrSet::new(&block_cidrs),
            allow_domains,
            block_domains,
            allow_cidrs,
            block_cidrs,
            accepted_capabilities,
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn log_level(&self) -> LogLevel {
        self.log_level
    }

    /// `Block` when `cgfw.io/allow` was given, `Allow` for a block-list-only policy.
    pub fn default_verdict(&self) -> Verdict {
        self.default_verdict
    }

    /// Upstream resolvers from `cgfw.io/dns-upstream`; empty means "use the nameservers in the
    /// container rootfs's /etc/resolv.conf".
    pub fn dns_upstreams(&self) -> &[SocketAddr] {
        &self.dns_upstreams
    }

    /// Domain patterns of the allow list, in canonical form.
    pub fn allow_domains(&self) -> &[DomainPattern] {
        &self.allow_domains
    }

    /// Domain patterns of the block list, in canonical form.
    pub fn block_domains(&self) -> &[DomainPattern] {
        &self.block_domains
    }

    pub fn allow_cidrs(&self) -> &[Cidr] {
        &self.allow_cidrs
    }

    pub fn block_cidrs(&self) -> &[Cidr] {
        &self.block_cidrs
    }

    /// Capabilities from [`DEFEATING_CAPABILITIES`] that `cgfw.io/accept-capabilities` accepts.
    pub fn accepted_capabilities(&self) -> &[&'static str] {
        &self.accepted_capabilities
    }

    /// Whether `cgfw.io/accept-capabilities` lists `name` (exact `CAP_…` spelling).
    pub fn accepts_capability(&self, name: &str) -> bool {
        self.accepted_capabilities.contains(&name)
    }

    /// Decide a DNS query name, as it comes off the wire (any case, optional trailing dot,
    /// punycode or the Unicode display form of it). Block patterns win over allow patterns;
    /// the most specific matching rule is named. A name that is not a valid host name is
    /// blocked with rule `"invalid name"`, whatever the default.
    pub fn decide_domain(&self, name: &str) -> Decision {
        let Ok(name) = normalize_wire_name(name) else {
            return Decision {
                verdict: Verdict::Block,
                rule: Some(INVALID_NAME_RULE.to_owned()),
            };
        };
        match self.domain_index.lookup(&name) {
            Some(DomainMatch::Block(i)) => Decision {
                verdict: Verdict::Block,
                rule: Some(self.block_domain_rules[i].clone()),
            },
            Some(DomainMatch::Allow(i)) => Decision {
                verdict: Verdict::Allow,
                rule: Some(self.allow_domain_rules[i].clone()),
            },
            None => Decision {
                verdict: self.default_verdict,
                rule: None,
            },
        }
    }

    /// Decide a destination address by the CIDR rules only (block CIDRs win, the most specific
    /// matching network is named), else the default verdict with rule `None`. Addresses learnt
    /// from allowed DNS answers are the DNS proxy's business, not this function's.
    /// IPv4-mapped IPv6 addresses are decided as IPv4.
    pub fn decide_ip(&self, ip: IpAddr) -> Decision {
        if let Some(i) = self.block_set.longest_match(ip) {
            return Decision {
                verdict: Verdict::Block,
                rule: Some(self.block_cidr_rules[i].clone()),
            };
        }
        if let Some(i) = self.allow_set.longest_match(ip) {
            return Decision {
                verdict: Verdict::Allow,
                rule: Some(self.allow_cidr_rules[i].clone()),
            };
        }
        Decision {
            verdict: self.default_verdict,
            rule: None,
        }
    }

    /// Whether an allow CIDR covers `ip` and no block CIDR does. The DNS proxy uses this to
    /// accept answers that [`crate::special_address_reason`] would otherwise drop.
    pub fn cidr_allows(&self, ip: IpAddr) -> bool {
        self.allow_set.longest_match(ip).is_some() && self.block_set.longest_match(ip).is_none()
    }

    /// A multi-line description of the effective policy, in words.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let _ = match self.mode {
            Mode::Enforce => writeln!(out, "Mode: enforce. Traffic the policy blocks is stopped."),
            Mode::Audit => writeln!(
                out,
                "Mode: audit. Nothing is stopped; traffic the policy would block is logged as would_block."
            ),
        };
        let _ = match self.default_verdict {
            Verdict::Block if self.allow_domains.is_empty() && self.allow_cidrs.is_empty() => {
                writeln!(
                    out,
                    "Default: block. Nothing is allowed: all egress is denied."
                )
            }
            Verdict::Block => writeln!(
                out,
                "Default: block. Only the destinations allowed below are reachable."
            ),
            Verdict::Allow => writeln!(
                out,
                "Default: allow. Everything is reachable except what is blocked below."
            ),
        };
        let describe = |p: &DomainPattern| {
            let scope = if p.subdomains_only() {
                format!("subdomains of {} (not {} itself)", p.base(), p.base())
            } else {
                format!("{} and all its subdomains", p.base())
            };
            if p.forced() {
                format!("{scope} [public suffix, forced with '!']")
            } else {
                scope
            }
        };
        let mut section = |title: &str, items: Vec<String>| {
            if !items.is_empty() {
                let _ = writeln!(out, "{title}:");
                for item in items {
                    let _ = writeln!(out, "  - {item}");
                }
            }
        };
        section(
            "Allowed domains",
            self.allow_domains.iter().map(describe).collect(),
        );
        section(
            "Allowed networks",
            self.allow_cidrs.iter().map(|c| c.to_string()).collect(),
        );
        section(
            "Blocked domains (block wins over allow)",
            self.block_domains.iter().map(describe).collect(),
        );
        section(
            "Blocked networks (block wins over allow)",
            self.block_cidrs.iter().map(|c| c.to_string()).collect(),
        );
        if self.dns_upstreams.is_empty() {
            out.push_str(
                "DNS: forwarded to the nameservers in the container's /etc/resolv.conf.\n",
            );
        } else {
            let list: Vec<String> = self.dns_upstreams.iter().map(|a| a.to_string()).collect();
            let _ = writeln!(out, "DNS: forwarded to {}.", list.join(", "));
        }
        out.push_str(
            "DNS answers for allowed names that point at loopback, link-local, metadata, \
             unspecified, multicast or broadcast addresses are dropped unless an allowed \
             network covers them.\n",
        );
        if !self.accepted_capabilities.is_empty() {
            out.push_str(
                "Capabilities accepted although they defeat the firewall (the container may hold \
                 them; create warns instead of refusing):\n",
            );
            for name in &self.accepted_capabilities {
                let how = DEFEATING_CAPABILITIES.iter().find(|c| c.name == *name).map_or("", |c| c.how);
                let _ = writeln!(out, "  - {name}: it {how}");
            }
        }
        let _ = match self.log_level {
            LogLevel::None => writeln!(out, "Log: no events are written."),
            LogLevel::Blocked => {
                writeln!(out, "Log: blocked (and would-block) events are written.")
            }
            LogLevel::All => writeln!(out, "Log: every event, allowed or blocked, is written."),
        };
        out
    }
}

/// `cgfw.io/accept-capabilities` tokens -> canonical names, or the error naming the token.
fn accepted_capabilities(tokens: &[&str]) -> Result<Vec<&'static str>, PolicyError> {
    parse_accepted(tokens).map_err(|(token, reason)| PolicyError::InvalidToken {
        annotation: ANNOTATION_ACCEPT_CAPABILITIES.to_owned(),
        token,
        reason: reason.into(),
    })
}

/// Separate domain patterns from networks, dropping exact duplicates (keeping the first).
fn split_rules(rules: Vec<Rule>) -> (Vec<DomainPattern>, Vec<Cidr>) {
    let mut domains = Vec::new();
    let mut cidrs = Vec::new();
    for rule in rules {
        match rule {
            Rule::Domain(d) => domains.push(d),
            Rule::Cidr(c) => cidrs.push(c),
        }
    }
    (dedup(domains), dedup(cidrs))
}

fn dedup<T: Eq + std::hash::Hash + Clone>(items: Vec<T>) -> Vec<T> {
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    items
        .into_iter()
        .filter(|i| seen.insert(i.clone()))
        .collect()
}

#[cfg(test)]
mod tests;
