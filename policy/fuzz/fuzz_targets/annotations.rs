//! Fuzz the annotation parser and everything a parsed policy is used for.
//!
//! Input: UTF-8 text, one annotation per line as `key=value` (a line without '=' is a key
//! with an empty value). Invariants checked beyond "no panic":
//! - an accepted policy survives a JSON round trip equal and deciding the same;
//! - every decision on a value token is consistent (invalid names are blocked);
//! - normalising an accepted name again gives the same name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use policy::{normalize_domain, Policy, Verdict};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let pairs: Vec<(&str, &str)> = text
        .lines()
        .map(|line| line.split_once('=').unwrap_or((line, "")))
        .collect();

    // Every token anywhere in the input is also a query name and maybe an address.
    let tokens: Vec<&str> = text
        .split(|c: char| c == ',' || c == '=' || c.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
        .collect();
    for t in &tokens {
        if let Ok(n) = normalize_domain(t) {
            assert_eq!(
                normalize_domain(&n).as_deref(),
                Ok(n.as_str()),
                "not idempotent: {t:?}"
            );
        }
    }

    let Ok(Some(policy)) = Policy::from_annotations(pairs.iter().copied()) else {
        return;
    };
    let _ = policy.explain();
    let json = serde_json::to_string(&policy).expect("policy serialises");
    let back: Policy =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("own JSON refused: {e}\n{json}"));
    assert_eq!(back, policy, "round trip changed the policy: {json}");
    for t in &tokens {
        let d = policy.decide_domain(t);
        assert_eq!(back.decide_domain(t), d);
        if d.rule.as_deref() == Some("invalid name") {
            assert_eq!(d.verdict, Verdict::Block);
        }
        if let Ok(ip) = t.parse() {
            assert_eq!(back.decide_ip(ip), policy.decide_ip(ip));
            let _ = policy::special_address_reason(ip);
        }
    }
});
