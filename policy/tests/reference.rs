//! Property tests: the indexed matcher agrees with a deliberately simple reference (a linear
//! scan with string suffix checks on label boundaries), block wins over allow, and the JSON
//! form round-trips to an equal, equally-behaving policy.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use policy::{normalize_domain, Cidr, Policy, Verdict};
use proptest::prelude::*;

/// A small label alphabet so that generated names often hit generated patterns, including
/// labels that are suffixes of each other ("ample"/"example") to probe label boundaries.
const LABELS: &[&str] = &[
    "a",
    "b",
    "ex",
    "ample",
    "example",
    "xample",
    "evil",
    "x-y",
    "_s",
    "xn--bcher-kva",
];

#[derive(Clone, Debug)]
struct Pat {
    wildcard: bool,
    base: Vec<&'static str>, // labels, leftmost first; ".test" is appended
}

impl Pat {
    fn base(&self) -> String {
        let mut labels = self.base.clone();
        labels.push("test");
        labels.join(".")
    }
    fn text(&self) -> String {
        if self.wildcard {
            format!("*.{}", self.base())
        } else {
            self.base()
        }
    }
    /// Reference semantics, written independently of the crate: plain string suffix test
    /// with an explicit dot boundary.
    fn matches(&self, name: &str) -> bool {
        let base = self.base();
        let sub = name.len() > base.len() + 1 && name.ends_with(&format!(".{base}"));
        if self.wildcard {
            sub
        } else {
            name == base || sub
        }
    }
}

fn pat() -> impl Strategy<Value = Pat> {
    (
        any::<bool>(),
        prop::collection::vec(prop::sample::select(LABELS), 1..3),
    )
        .prop_map(|(wildcard, base)| Pat { wildcard, base })
}

/// A name plus how to spell it on the wire (case, trailing dot).
fn name() -> impl Strategy<Value = (String, bool, bool)> {
    (
        prop::collection::vec(prop::sample::select(LABELS), 0..5),
        prop::sample::select(&["test", "com", "example", "evil"][..]),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(mut labels, tld, upper, dot)| {
            labels.push(tld);
            (labels.join("."), upper, dot)
        })
}

fn spell(name: &str, upper: bool, dot: bool) -> String {
    let mut s = if upper {
        name.to_ascii_uppercase()
    } else {
        name.to_owned()
    };
    if dot {
        s.push('.');
    }
    s
}

fn build(allow: &[Pat], block: &[Pat], with_allow: bool) -> Option<Policy> {
    let join = |ps: &[Pat]| ps.iter().map(Pat::text).collect::<Vec<_>>().join(", ");
    let allow_text = join(allow);
    let block_text = join(block);
    let mut ann = vec![("cgfw.io/block", block_text.as_str())];
    if with_allow {
        ann.push(("cgfw.io/allow", allow_text.as_str()));
    }
    Policy::from_annotations(ann).ok().flatten()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn domain_matching_agrees_with_linear_scan(
        allow in prop::collection::vec(pat(), 0..6),
        block in prop::collection::vec(pat(), 0..4),
        with_allow in any::<bool>(),
        names in prop::collection::vec(name(), 1..8),
    ) {
        let with_allow = with_allow || block.is_empty();
        let policy = build(&allow, &block, with_allow).expect("generated policies are valid");
        for (n, upper, dot) in names {
            let wire = spell(&n, upper, dot);
            let got = policy.decide_domain(&wire);
            let block_hit: Vec<&Pat> = block.iter().filter(|p| p.matches(&n)).collect();
            let allow_hit: Vec<&Pat> = if with_allow { allow.iter().filter(|p| p.matches(&n)).collect() } else { vec![] };
            let (want, candidates, word) = if !block_hit.is_empty() {
                (Verdict::Block, block_hit, "block")
            } else if !allow_hit.is_empty() {
                (Verdict::Allow, allow_hit, "allow")
            } else {
                (if with_allow { Verdict::Block } else { Verdict::Allow }, vec![], "")
            };
            prop_assert_eq!(got.verdict, want, "name {}", wire);
            match &got.rule {
                None => prop_assert!(candidates.is_empty(), "{} matched {:?} but no rule named", wire, candidates),
                Some(rule) => {
                    // The named rule is one that really matched, of the winning kind.
                    let named: Vec<String> = candidates.iter().map(|p| format!("{word} {}", p.text())).collect();
                    prop_assert!(named.contains(rule), "{} named {:?}, candidates {:?}", wire, rule, named);
                }
            }
        }
    }

    #[test]
    fn ipv4_cidr_matching_agrees_with_masks(
        allow in prop::collection::vec((any::<u32>(), 0u8..=32), 0..6),
        block in prop::collection::vec((any::<u32>(), 0u8..=32), 0..4),
        probes in prop::collection::vec((any::<u32>(), any::<bool>()), 1..16),
    ) {
        let mask = |len: u8| if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let nets = |v: &[(u32, u8)]| -> Vec<(u32, u8)> { v.iter().map(|&(a, l)| (a & mask(l), l)).collect() };
        let (allow, block) = (nets(&allow), nets(&block));
        let text = |v: &[(u32, u8)]| v.iter().map(|&(a, l)| format!("{}/{l}", Ipv4Addr::from(a))).collect::<Vec<_>>().join(" ");
        let (at, bt) = (text(&allow), text(&block));
        let policy = Policy::from_annotations([("cgfw.io/allow", at.as_str()), ("cgfw.io/block", bt.as_str())])
            .unwrap().unwrap();
        for (addr, mapped) in probes {
            let v4 = Ipv4Addr::from(addr);
            let ip = if mapped { IpAddr::V6(v4.to_ipv6_mapped()) } else { IpAddr::V4(v4) };
            let hit = |v: &[(u32, u8)]| v.iter().any(|&(a, l)| addr & mask(l) == a);
            let want = if hit(&block) { Verdict::Block } else if hit(&allow) { Verdict::Allow } else { Verdict::Block };
            prop_assert_eq!(policy.decide_ip(ip).verdict, want);
            prop_assert_eq!(policy.cidr_allows(ip), hit(&allow) && !hit(&block));
        }
    }

    #[test]
    fn ipv6_cidr_contains_agrees_with_masks(addr in any::<u128>(), len in 0u8..=128, probe in any::<u128>()) {
        let mask = if len == 0 { 0 } else { u128::MAX << (128 - len) };
        let net = Ipv6Addr::from(addr & mask);
        let probe_ip = Ipv6Addr::from(probe);
        // Mapped networks and addresses are IPv4 by design; the unit tests cover them.
        prop_assume!(net.to_ipv4_mapped().is_none() && probe_ip.to_ipv4_mapped().is_none());
        let cidr: Cidr = format!("{net}/{len}").parse().unwrap();
        prop_assert_eq!(cidr.contains(IpAddr::V6(probe_ip)), probe & mask == addr & mask);
        // A probe that shares the network bits is always inside.
        let inside = Ipv6Addr::from((addr & mask) | (probe & !mask));
        prop_assert!(cidr.contains(IpAddr::V6(inside)) || inside.to_ipv4_mapped().is_some());
    }

    #[test]
    fn json_round_trip(
        allow in prop::collection::vec(pat(), 0..6),
        block in prop::collection::vec(pat(), 0..4),
        with_allow in any::<bool>(),
        names in prop::collection::vec(name(), 1..8),
    ) {
        let with_allow = with_allow || block.is_empty();
        let policy = build(&allow, &block, with_allow).unwrap();
        let json = serde_json::to_string(&policy).unwrap();
        let back: Policy = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &policy);
        for (n, upper, dot) in names {
            let wire = spell(&n, upper, dot);
            prop_assert_eq!(back.decide_domain(&wire), policy.decide_domain(&wire));
        }
    }

    #[test]
    fn normalize_is_idempotent_and_never_panics(s in "\\PC{0,80}") {
        if let Ok(n) = normalize_domain(&s) {
            prop_assert_eq!(normalize_domain(&n), Ok(n.clone()));
            prop_assert!(n.len() <= 253);
            prop_assert!(n.split('.').all(|l| !l.is_empty() && l.len() <= 63));
            prop_assert!(n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'));
        }
    }
}
