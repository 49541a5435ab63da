//! Unit tests for annotation parsing, decisions, explain and the JSON form.

use super::*;

fn policy(pairs: &[(&str, &str)]) -> Policy {
    Policy::from_annotations(pairs.iter().copied())
        .unwrap_or_else(|e| panic!("{pairs:?}: {e}"))
        .expect("policy present")
}

fn error(pairs: &[(&str, &str)]) -> String {
    Policy::from_annotations(pairs.iter().copied())
        .expect_err("should be refused")
        .to_string()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn verdict(p: &Policy, name: &str) -> Verdict {
    p.decide_domain(name).verdict
}

#[test]
fn no_cgfw_annotations_means_no_policy() {
    let none = Policy::from_annotations([
        ("io.kubernetes.cri.sandbox-id", "abc"),
        ("org.opencontainers.image.ref.name", "busybox"),
    ])
    .unwrap();
    assert_eq!(none, None);
    assert_eq!(Policy::from_annotations(std::iter::empty()).unwrap(), None);
}

#[test]
fn unknown_and_lookalike_keys_are_errors() {
    assert_eq!(
        error(&[("cgfw.io/alow", "example.com")]),
        "cgfw.io/alow: unknown cgfw annotation (known: cgfw.io/allow, cgfw.io/block, cgfw.io/mode, \
         cgfw.io/dns-upstream, cgfw.io/log, cgfw.io/accept-capabilities); refusing to guess, a typo must not disable the firewall"
    );
    for key in [
        "CGFW.IO/allow",
        "cgfw.io.allow",
        "cgfw-io/allow",
        "cgfw.io/Allow",
        "cgfw.io/allow ",
    ] {
        assert!(
            matches!(
                Policy::from_annotations([(key, "example.com")]),
                Err(PolicyError::UnknownAnnotation { .. })
            ),
            "{key}"
        );
    }
}

#[test]
fn duplicate_keys_are_errors() {
    assert_eq!(
        error(&[("cgfw.io/allow", "a.test"), ("cgfw.io/allow", "b.test")]),
        "cgfw.io/allow: given more than once"
    );
}

#[test]
fn error_format_names_annotation_token_and_reason() {
    // A space can not survive list splitting, so build the error the parser would build for
    // a token that contains one (e.g. from the JSON form) and check the exact format.
    let spec = r#"{"mode":"enforce","log":"blocked","default":"block","allow":["exa mple.com"]}"#;
    let err = serde_json::from_str::<Policy>(spec)
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(r#"cgfw.io/allow: "exa mple.com": invalid character ' '"#),
        "{err}"
    );
    assert_eq!(
        error(&[("cgfw.io/allow", "ok.test, exa$mple.com")]),
        r#"cgfw.io/allow: "exa$mple.com": invalid character '$'"#
    );
    assert_eq!(
        error(&[("cgfw.io/block", "example..com")]),
        r#"cgfw.io/block: "example..com": empty label (two dots in a row, or a leading dot)"#
    );
    assert_eq!(
        error(&[("cgfw.io/allow", "10.0.0.1/8")]),
        r#"cgfw.io/allow: "10.0.0.1/8": host bits are set; write the network as 10.0.0.0/8, or 10.0.0.1/32 for the single address"#
    );
    assert_eq!(
        error(&[("cgfw.io/allow", "*.co.uk")]),
        "cgfw.io/allow: \"*.co.uk\": \"co.uk\" is a public suffix, so this rule would cover every \
         domain registered under it; if that is really meant, force it with a leading '!': \"!*.co.uk\""
    );
    // Control characters stay visible; huge tokens are shortened.
    assert!(error(&[("cgfw.io/allow", "a\u{7}b.com")]).contains(r#""a\u{7}b.com""#));
    let long = "a".repeat(5000);
    let msg = error(&[("cgfw.io/allow", &long)]);
    assert!(msg.len() < 400 && msg.contains("(5000 bytes)"), "{msg}");
}

#[test]
fn list_splitting() {
    let p = policy(&[(
        "cgfw.io/allow",
        " a.test,b.test  c.test,\n\td.test ,, 10.0.0.0/8,",
    )]);
    let names: Vec<String> = p.allow_domains().iter().map(|d| d.to_string()).collect();
    assert_eq!(names, ["a.test", "b.test", "c.test", "d.test"]);
    assert_eq!(p.allow_cidrs(), &["10.0.0.0/8".parse::<Cidr>().unwrap()]);
}

#[test]
fn allow_present_means_default_deny() {
    let p = policy(&[("cgfw.io/allow", "example.com")]);
    assert_eq!(p.default_verdict(), Verdict::Block);
    assert_eq!(p.mode(), Mode::Enforce);
    assert_eq!(p.log_level(), LogLevel::Blocked);
    assert!(p.dns_upstreams().is_empty());
    let d = p.decide_domain("www.example.com");
    assert_eq!(
        d,
        Decision {
            verdict: Verdict::Allow,
            rule: Some("allow example.com".into())
        }
    );
    let d = p.decide_domain("other.test");
    assert_eq!(
        d,
        Decision {
            verdict: Verdict::Block,
            rule: None
        }
    );
    assert_eq!(d.rule_name(), "default");
}

#[test]
fn block_alone_means_default_allow() {
    let p = policy(&[("cgfw.io/block", "*.evil.test, 10.0.0.0/8")]);
    assert_eq!(p.default_verdict(), Verdict::Allow);
    assert_eq!(
        p.decide_domain("evil.test"),
        Decision {
            verdict: Verdict::Allow,
            rule: None
        }
    );
    assert_eq!(
        p.decide_domain("x.evil.test"),
        Decision {
            verdict: Verdict::Block,
            rule: Some("block *.evil.test".into())
        }
    );
    assert_eq!(
        p.decide_ip(ip("10.1.2.3")),
        Decision {
            verdict: Verdict::Block,
            rule: Some("block 10.0.0.0/8".into())
        }
    );
    assert_eq!(
        p.decide_ip(ip("1.1.1.1")),
        Decision {
            verdict: Verdict::Allow,
            rule: None
        }
    );
}

#[test]
fn block_wins_over_allow() {
    let p = policy(&[
        ("cgfw.io/allow", "example.com, 10.0.0.0/8"),
        ("cgfw.io/block", "bad.example.com, 10.6.6.0/24"),
    ]);
    assert_eq!(verdict(&p, "good.example.com"), Verdict::Allow);
    assert_eq!(
        p.decide_domain("x.BAD.example.com."),
        Decision {
            verdict: Verdict::Block,
            rule: Some("block bad.example.com".into())
        }
    );
    assert_eq!(p.decide_ip(ip("10.6.6.6")).verdict, Verdict::Block);
    assert_eq!(
        p.decide_ip(ip("10.7.0.1")).rule.as_deref(),
        Some("allow 10.0.0.0/8")
    );
    // The same pattern on both lists: blocked.
    let p = policy(&[
        ("cgfw.io/allow", "example.com"),
        ("cgfw.io/block", "example.com"),
    ]);
    assert_eq!(verdict(&p, "example.com"), Verdict::Block);
}

#[test]
fn bypass_shaped_names() {
    let p = policy(&[("cgfw.io/allow", "example.com, *.wild.test, bücher.example")]);
    for (name, expected) in [
        ("example.com", Verdict::Allow),
        ("EXAMPLE.COM.", Verdict::Allow),
        ("a.b.example.com", Verdict::Allow),
        ("evilexample.com", Verdict::Block),
        ("badexample.com", Verdict::Block),
        ("example.com.evil", Verdict::Block),
        ("example.com..", Verdict::Block),
        ("example..com", Verdict::Block),
        (".example.com", Verdict::Block),
        ("example.com\0.evil", Verdict::Block),
        ("exam ple.com", Verdict::Block),
        ("wild.test", Verdict::Block),
        ("a.wild.test", Verdict::Allow),
        ("awild.test", Verdict::Block),
        ("xn--bcher-kva.example", Verdict::Allow),
        ("XN--BCHER-KVA.EXAMPLE.", Verdict::Allow),
        ("bücher.example", Verdict::Allow),
        ("www.bücher.example", Verdict::Allow),
        ("xn--zz.example.com", Verdict::Block), // invalid punycode under an allowed name
        ("xn--bcher-kva.example.com", Verdict::Allow),
        // Homograph: Cyrillic 'е' in "еxample.com" is a different domain.
        ("\u{0435}xample.com", Verdict::Block),
        ("xn--xample-2of.com", Verdict::Block),
        // Fullwidth forms and an ideographic full stop are not what is on the wire for
        // example.com; refuse rather than map.
        ("ｅｘａｍｐｌｅ.com", Verdict::Block),
        ("evil\u{3002}example.com", Verdict::Block),
        ("", Verdict::Block),
        (".", Verdict::Block),
    ] {
        assert_eq!(verdict(&p, name), expected, "{name:?}");
    }
    assert_eq!(
        p.decide_domain("example.com..").rule.as_deref(),
        Some("invalid name")
    );
}

#[test]
fn long_names_at_the_limits() {
    let p = policy(&[("cgfw.io/allow", "example.com")]);
    let l63 = "a".repeat(63);
    let l64 = "a".repeat(64);
    assert_eq!(verdict(&p, &format!("{l63}.example.com")), Verdict::Allow);
    assert_eq!(
        p.decide_domain(&format!("{l64}.example.com"))
            .rule
            .as_deref(),
        Some("invalid name")
    );
    // 253 and 254 bytes ending in example.com.
    let tail = ".example.com";
    let head = |n: usize| {
        let mut s = String::new();
        while s.len() + 64 < n {
            s.push_str(&l63);
            s.push('.');
        }
        s.push_str(&"b".repeat(n - s.len()));
        s
    };
    let n253 = format!("{}{tail}", head(253 - tail.len()));
    let n254 = format!("{}{tail}", head(254 - tail.len()));
    assert_eq!((n253.len(), n254.len()), (253, 254));
    assert_eq!(verdict(&p, &n253), Verdict::Allow);
    assert_eq!(verdict(&p, &format!("{n253}.")), Verdict::Allow);
    assert_eq!(p.decide_domain(&n254).rule.as_deref(), Some("invalid name"));
}

#[test]
fn invalid_names_are_blocked_even_by_default_allow() {
    let p = policy(&[("cgfw.io/block", "evil.test")]);
    assert_eq!(
        p.decide_domain("a..b"),
        Decision {
            verdict: Verdict::Block,
            rule: Some("invalid name".into())
        }
    );
}

#[test]
fn empty_allow_denies_everything() {
    let p = policy(&[("cgfw.io/allow", "")]);
    assert_eq!(p.default_verdict(), Verdict::Block);
    assert_eq!(verdict(&p, "example.com"), Verdict::Block);
    assert_eq!(p.decide_ip(ip("1.1.1.1")).verdict, Verdict::Block);
    assert!(p.explain().contains("all egress is denied"));
    let p = policy(&[("cgfw.io/allow", " , "), ("cgfw.io/mode", "audit")]);
    assert_eq!(p.mode(), Mode::Audit);
}

#[test]
fn no_rules_is_an_error() {
    for pairs in [
        &[("cgfw.io/mode", "audit")][..],
        &[("cgfw.io/log", "all")][..],
        &[("cgfw.io/block", "")][..],
        &[("cgfw.io/block", " ,"), ("cgfw.io/dns-upstream", "1.1.1.1")][..],
    ] {
        assert_eq!(
            Policy::from_annotations(pairs.iter().copied()),
            Err(PolicyError::NoRules),
            "{pairs:?}"
        );
    }
    assert!(error(&[("cgfw.io/mode", "audit")]).contains("an empty value denies all egress"));
}

#[test]
fn mode_and_log_values() {
    let p = policy(&[
        ("cgfw.io/allow", ""),
        ("cgfw.io/mode", " Audit "),
        ("cgfw.io/log", "ALL"),
    ]);
    assert_eq!((p.mode(), p.log_level()), (Mode::Audit, LogLevel::All));
    let p = policy(&[
        ("cgfw.io/allow", ""),
        ("cgfw.io/mode", "enforce"),
        ("cgfw.io/log", "none"),
    ]);
    assert_eq!((p.mode(), p.log_level()), (Mode::Enforce, LogLevel::None));
    assert_eq!(
        error(&[("cgfw.io/allow", ""), ("cgfw.io/mode", "enfroce")]),
        r#"cgfw.io/mode: "enfroce": expected enforce or audit"#
    );
    assert_eq!(
        error(&[("cgfw.io/allow", ""), ("cgfw.io/mode", "")]),
        r#"cgfw.io/mode: "": expected enforce or audit"#
    );
    assert_eq!(
        error(&[("cgfw.io/allow", ""), ("cgfw.io/log", "blocked,all")]),
        r#"cgfw.io/log: "blocked,all": expected none, blocked or all"#
    );
}

#[test]
fn dns_upstreams() {
    let p = policy(&[
        ("cgfw.io/allow", ""),
        (
            "cgfw.io/dns-upstream",
            "198.18.0.1, 1.1.1.1:5353 [fd00:cf::1]:53,fd00:cf::2 [2001:db8::3] [::ffff:9.9.9.9]:54",
        ),
    ]);
    let want: Vec<SocketAddr> = [
        "198.18.0.1:53",
        "1.1.1.1:5353",
        "[fd00:cf::1]:53",
        "[fd00:cf::2]:53",
        "[2001:db8::3]:53",
        "9.9.9.9:54",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    assert_eq!(p.dns_upstreams(), want.as_slice());
    // Loopback resolvers inside the container are legitimate.
    assert_eq!(
        policy(&[
            ("cgfw.io/allow", ""),
            ("cgfw.io/dns-upstream", "127.0.0.53")
        ])
        .dns_upstreams()[0],
        "127.0.0.53:53".parse().unwrap()
    );
    for (bad, why) in [
        ("dns.google", "expected IP, IP:port, [IPv6] or [IPv6]:port"),
        ("1.1.1.1:0", "port 0 is not a usable port"),
        (
            "1.1.1.1:65536",
            "expected IP, IP:port, [IPv6] or [IPv6]:port",
        ),
        (
            "0.0.0.0",
            "0.0.0.0 is not a usable resolver address (unspecified)",
        ),
        (
            "224.0.0.1",
            "224.0.0.1 is not a usable resolver address (multicast)",
        ),
        (
            "255.255.255.255",
            "255.255.255.255 is not a usable resolver address (broadcast)",
        ),
        (
            "[fe80::1%2]:53",
            "expected IP, IP:port, [IPv6] or [IPv6]:port",
        ),
        ("1.1.1.1/32", "expected IP, IP:port, [IPv6] or [IPv6]:port"),
    ] {
        assert_eq!(
            error(&[("cgfw.io/allow", ""), ("cgfw.io/dns-upstream", bad)]),
            format!("cgfw.io/dns-upstream: {bad:?}: {why}")
        );
    }
    assert_eq!(
        error(&[("cgfw.io/allow", ""), ("cgfw.io/dns-upstream", " ")]),
        "cgfw.io/dns-upstream: \" \": no resolver listed; remove the annotation to use the \
         container's /etc/resolv.conf"
    );
}

#[test]
fn token_classification_errors() {
    for (token, want) in [
        ("https://example.com/x", "this is a URL; write just the host name, e.g. \"example.com\""),
        ("example.com:443", "ports are not supported (rules cover every port); write just \"example.com\""),
        ("!10.0.0.0/8", "'!' only forces domain patterns that are public suffixes; addresses take no '!'"),
        ("10.0.0", "not an IP address or CIDR"),
        ("[::1]:53", "not an IP address or CIDR"),
        ("!example.com", "'!' only forces a public-suffix pattern and \"example.com\" is not one; remove the '!' (it does not negate a rule)"),
        ("*", "'*' alone would match every name; list the domains instead"),
        ("a.*.test", "'*' is only allowed as the whole leftmost label, as in *.example.com"),
    ] {
        assert_eq!(error(&[("cgfw.io/allow", token)]), format!("cgfw.io/allow: {token:?}: {want}"));
    }
}

#[test]
fn forced_public_suffix() {
    let p = policy(&[("cgfw.io/allow", "!test, !*.co.uk")]);
    assert_eq!(
        p.decide_domain("x.test").rule.as_deref(),
        Some("allow !test")
    );
    assert_eq!(verdict(&p, "co.uk"), Verdict::Block);
    assert_eq!(
        p.decide_domain("a.co.uk").rule.as_deref(),
        Some("allow !*.co.uk")
    );
    assert!(p.explain().contains("forced"));
}

#[test]
fn cidrs_and_mapped_addresses() {
    let p = policy(&[
        (
            "cgfw.io/allow",
            "10.0.0.0/8 192.168.1.7 fd00:cf::/64 ::ffff:172.16.0.0/108",
        ),
        ("cgfw.io/block", "10.1.0.0/16"),
    ]);
    assert_eq!(p.allow_cidrs().len(), 4);
    assert_eq!(p.allow_cidrs()[3].to_string(), "172.16.0.0/12");
    assert_eq!(
        p.decide_ip(ip("::ffff:10.2.3.4")).rule.as_deref(),
        Some("allow 10.0.0.0/8")
    );
    assert_eq!(
        p.decide_ip(ip("::ffff:10.1.3.4")).rule.as_deref(),
        Some("block 10.1.0.0/16")
    );
    assert_eq!(
        p.decide_ip(ip("192.168.1.7")).rule.as_deref(),
        Some("allow 192.168.1.7/32")
    );
    assert_eq!(
        p.decide_ip(ip("192.168.1.8")),
        Decision {
            verdict: Verdict::Block,
            rule: None
        }
    );
    assert_eq!(p.decide_ip(ip("fd00:cf::9")).verdict, Verdict::Allow);
    assert_eq!(p.decide_ip(ip("172.20.0.1")).verdict, Verdict::Allow);
    assert!(p.cidr_allows(ip("10.2.0.1")));
    assert!(!p.cidr_allows(ip("10.1.0.1")));
    assert!(!p.cidr_allows(ip("8.8.8.8")));
    // Domain rules never affect decide_ip and vice versa.
    let p = policy(&[("cgfw.io/allow", "example.com")]);
    assert_eq!(p.decide_ip(ip("93.184.216.34")).verdict, Verdict::Block);
    assert!(!p.cidr_allows(ip("127.0.0.1")));
}

#[test]
fn duplicates_are_merged() {
    let p = policy(&[(
        "cgfw.io/allow",
        "a.test A.TEST a.test. 10.0.0.0/8 10.0.0.0/8",
    )]);
    assert_eq!(p.allow_domains().len(), 1);
    assert_eq!(p.allow_cidrs().len(), 1);
}

#[test]
fn explain_describes_the_policy() {
    let p = policy(&[
        ("cgfw.io/allow", "example.com *.svc.test 10.0.0.0/8"),
        ("cgfw.io/block", "bad.example.com"),
        ("cgfw.io/mode", "audit"),
        ("cgfw.io/dns-upstream", "198.18.0.1"),
        ("cgfw.io/log", "all"),
    ]);
    let text = p.explain();
    for needle in [
        "Mode: audit",
        "Default: block",
        "example.com and all its subdomains",
        "subdomains of svc.test (not svc.test itself)",
        "10.0.0.0/8",
        "bad.example.com",
        "198.18.0.1:53",
        "Log: every event",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert!(text.lines().count() >= 8);
    let p = policy(&[("cgfw.io/block", "evil.test")]);
    assert!(p.explain().contains("Default: allow"));
    assert!(p.explain().contains("/etc/resolv.conf"));
}

#[test]
fn json_round_trip_is_equal_and_behaves_equally() {
    let p = policy(&[
        (
            "cgfw.io/allow",
            "example.com, *.svc.test, bücher.example, !*.co.uk, 10.0.0.0/8, fd00::/8",
        ),
        ("cgfw.io/block", "bad.example.com, 10.6.0.0/16"),
        ("cgfw.io/mode", "audit"),
        ("cgfw.io/dns-upstream", "198.18.0.1, [fd00:cf::1]:5353"),
        ("cgfw.io/log", "all"),
    ]);
    let json = serde_json::to_string(&p).unwrap();
    let back: Policy = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    for name in [
        "example.com",
        "x.bad.example.com",
        "db.svc.test",
        "svc.test",
        "a.co.uk",
        "xn--bcher-kva.example",
        "other.test",
    ] {
        assert_eq!(back.decide_domain(name), p.decide_domain(name), "{name}");
    }
    for a in ["10.1.1.1", "10.6.1.1", "fd00::1", "1.1.1.1"] {
        assert_eq!(back.decide_ip(ip(a)), p.decide_ip(ip(a)), "{a}");
    }
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["mode"], "audit");
    assert_eq!(value["default"], "block");
    assert_eq!(value["allow"][0], "example.com");
    assert_eq!(value["allow"][2], "xn--bcher-kva.example");
    assert_eq!(value["dns_upstreams"][1], "[fd00:cf::1]:5353");
}

#[test]
fn deserialisation_revalidates() {
    let bad = [
        // Invalid pattern, public suffix without force, bad CIDR.
        r#"{"mode":"enforce","log":"blocked","default":"block","allow":["exa$mple.com"]}"#,
        r#"{"mode":"enforce","log":"blocked","default":"block","allow":["com"]}"#,
        r#"{"mode":"enforce","log":"blocked","default":"block","block":["10.0.0.1/8"]}"#,
        // Default allow with nothing blocked, or with allow rules.
        r#"{"mode":"enforce","log":"blocked","default":"allow"}"#,
        r#"{"mode":"enforce","log":"blocked","default":"allow","allow":["a.test"],"block":["b.test"]}"#,
        // Unknown field, unknown mode, bad upstream, missing default.
        r#"{"mode":"enforce","log":"blocked","default":"block","extra":1}"#,
        r#"{"mode":"permissive","log":"blocked","default":"block"}"#,
        r#"{"mode":"enforce","log":"blocked","default":"block","dns_upstreams":["0.0.0.0:53"]}"#,
        r#"{"mode":"enforce","log":"blocked"}"#,
    ];
    for json in bad {
        assert!(serde_json::from_str::<Policy>(json).is_err(), "{json}");
    }
    let ok = r#"{"mode":"enforce","log":"blocked","default":"block"}"#;
    let p: Policy = serde_json::from_str(ok).unwrap();
    assert_eq!(p, policy(&[("cgfw.io/allow", "")]));
}

#[test]
fn is_cgfw_key_is_wide() {
    assert!(is_cgfw_key("cgfw.io/allow"));
    assert!(is_cgfw_key("CGFW.IO/x"));
    assert!(is_cgfw_key("cgfw/allow"));
    assert!(!is_cgfw_key("io.cgfw/allow"));
    assert!(!is_cgfw_key("cgf"));
    assert!(!is_cgfw_key(""));
}

#[test]
fn rebinding_guard_with_cidr_override() {
    use crate::special_address_reason;
    // The proxy drops a special answer unless an allow CIDR (not blocked) covers it.
    let p = policy(&[
        (
            "cgfw.io/allow",
            "metadata.test, 169.254.169.254, 127.0.0.0/8",
        ),
        ("cgfw.io/block", "127.0.0.1"),
    ]);
    let accept = |a: &str| special_address_reason(ip(a)).is_none() || p.cidr_allows(ip(a));
    assert!(accept("169.254.169.254"));
    assert!(accept("::ffff:169.254.169.254"));
    assert!(accept("127.0.0.2"));
    assert!(!accept("127.0.0.1"), "block CIDR wins over the allow CIDR");
    assert!(!accept("169.254.1.1"));
    assert!(accept("10.0.0.1"), "private addresses are not special");
}

#[test]
fn decision_serialises_for_events() {
    let p = policy(&[("cgfw.io/allow", "example.com")]);
    let json = serde_json::to_string(&p.decide_domain("www.example.com")).unwrap();
    assert_eq!(json, r#"{"verdict":"allow","rule":"allow example.com"}"#);
    let json = serde_json::to_string(&p.decide_domain("other.test")).unwrap();
    assert_eq!(json, r#"{"verdict":"block","rule":null}"#);
}

#[test]
fn accept_capabilities_lists_exactly_what_is_accepted() {
    let p = policy(&[
        ("cgfw.io/allow", "example.com"),
        ("cgfw.io/accept-capabilities", " CAP_NET_ADMIN,\tCAP_SYS_ADMIN "),
    ]);
    assert_eq!(p.accepted_capabilities(), ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]);
    assert!(p.accepts_capability("CAP_NET_ADMIN"));
    assert!(!p.accepts_capability("CAP_BPF"));
    assert!(p.explain().contains("CAP_SYS_ADMIN: it can detach"), "{}", p.explain());
    // Absent: nothing accepted, and the JSON form stays as it was.
    let plain = policy(&[("cgfw.io/allow", "example.com")]);
    assert!(plain.accepted_capabilities().is_empty());
    assert!(!serde_json::to_string(&plain).unwrap().contains("accept_capabilities"));
}

#[test]
fn accept_capabilities_errors_name_annotation_token_and_reason() {
    let with = |v: &str| error(&[("cgfw.io/allow", "example.com"), ("cgfw.io/accept-capabilities", v)]);
    assert_eq!(
        with("NET_ADMIN"),
        "cgfw.io/accept-capabilities: \"NET_ADMIN\": write capability names as config.json does, \
         in capitals with the CAP_ prefix: \"CAP_NET_ADMIN\""
    );
    assert_eq!(
        with("CAP_NET_ADMIN, CAP_NETADMIN"),
        "cgfw.io/accept-capabilities: \"CAP_NETADMIN\": not a Linux capability (see capabilities(7))"
    );
    assert_eq!(
        with("CAP_NET_ADMIN CAP_NET_ADMIN"),
        "cgfw.io/accept-capabilities: \"CAP_NET_ADMIN\": listed twice"
    );
    let harmless = with("CAP_CHOWN");
    assert!(
        harmless.starts_with(
            "cgfw.io/accept-capabilities: \"CAP_CHOWN\": this capability does not defeat the firewall, \
             so there is no risk to accept; only these can be listed: CAP_NET_ADMIN, CAP_SYS_ADMIN"
        ),
        "{harmless}"
    );
    let empty = with(" , ");
    assert!(
        empty.starts_with("cgfw.io/accept-capabilities: \" , \": no capability listed; remove the annotation"),
        "{empty}"
    );
    // Given twice as a key, like every other annotation.
    assert_eq!(
        Policy::from_annotations([
            ("cgfw.io/allow", ""),
            ("cgfw.io/accept-capabilities", "CAP_BPF"),
            ("cgfw.io/accept-capabilities", "CAP_BPF"),
        ])
        .unwrap_err()
        .to_string(),
        "cgfw.io/accept-capabilities: given more than once"
    );
    // Alone it restricts nothing: the usual "no rules" error, not a silent no-firewall.
    assert_eq!(
        Policy::from_annotations([("cgfw.io/accept-capabilities", "CAP_BPF")]).unwrap_err(),
        PolicyError::NoRules
    );
}

#[test]
fn accept_capabilities_round_trips_through_json_and_is_revalidated() {
    let p = policy(&[("cgfw.io/allow", ""), ("cgfw.io/accept-capabilities", "CAP_BPF,CAP_NET_ADMIN")]);
    let json = serde_json::to_string(&p).unwrap();
    assert!(json.contains(r#""accept_capabilities":["CAP_BPF","CAP_NET_ADMIN"]"#), "{json}");
    assert_eq!(serde_json::from_str::<Policy>(&json).unwrap(), p);
    let bad = json.replace("CAP_BPF", "CAP_CHOWN");
    let err = serde_json::from_str::<Policy>(&bad).unwrap_err().to_string();
    assert!(err.contains("\"CAP_CHOWN\": this capability does not defeat"), "{err}");
}
