//! Matching cost with 1000 domain patterns and 1000 CIDRs (the target: well under a
//! microsecond per decision). Run: `cargo bench -p policy --bench match`.

use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use policy::Policy;

/// 1000 allow patterns (a quarter of them wildcards) and 50 block patterns over a few
/// hundred registrable domains, plus 1000 allow networks of mixed prefix lengths.
fn big_policy() -> Policy {
    let mut allow = Vec::new();
    for i in 0..1000 {
        let pattern = match i % 4 {
            0 => format!("*.svc{i}.corp{}.example", i % 37),
            1 => format!("api{i}.vendor{}.com", i % 53),
            2 => format!("cdn{i}.static{}.net", i % 11),
            _ => format!("host{i}.internal{}.test", i % 97),
        };
        allow.push(pattern);
    }
    for i in 0..1000u32 {
        let len = [8u8, 16, 24, 32][(i % 4) as usize];
        let addr = (10u32 << 24) | (i << 8) | (i & 0xff);
        // Mask to the chosen length: host bits set would be refused.
        let masked = addr & (u32::MAX << (32 - len));
        allow.push(format!("{}/{len}", std::net::Ipv4Addr::from(masked)));
    }
    let block: Vec<String> = (0..50)
        .map(|i| format!("bad{i}.vendor{}.com", i % 53))
        .collect();
    let allow = allow.join(",");
    let block = block.join(",");
    Policy::from_annotations([
        ("cgfw.io/allow", allow.as_str()),
        ("cgfw.io/block", block.as_str()),
    ])
    .unwrap()
    .unwrap()
}

fn bench(c: &mut Criterion) {
    let p = big_policy();
    assert_eq!(p.allow_domains().len(), 1000);
    let mut g = c.benchmark_group("1000 patterns");
    for (label, name) in [
        ("decide_domain hit (wildcard)", "db.svc400.corp30.example"),
        (
            "decide_domain hit (apex, mixed case, dot)",
            "API401.vendor30.com.",
        ),
        ("decide_domain blocked", "x.bad7.vendor7.com"),
        ("decide_domain miss", "www.unrelated.org"),
        (
            "decide_domain miss, 12 labels",
            "a.b.c.d.e.f.g.h.i.j.unrelated.org",
        ),
        ("decide_domain IDN", "bücher.host403.internal15.test"),
        ("decide_domain invalid", "example..com"),
    ] {
        g.bench_function(label, |b| b.iter(|| p.decide_domain(black_box(name))));
    }
    for (label, ip) in [
        ("decide_ip hit", "10.1.2.3"),
        ("decide_ip miss", "192.0.2.1"),
        ("decide_ip v4-mapped", "::ffff:10.3.4.5"),
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        g.bench_function(label, |b| b.iter(|| p.decide_ip(black_box(ip))));
    }
    g.finish();

    let annotations = {
        let allow: Vec<String> = p.allow_domains().iter().map(|d| d.to_string()).collect();
        allow.join(",")
    };
    c.bench_function("parse 1000 patterns", |b| {
        b.iter(|| Policy::from_annotations([("cgfw.io/allow", black_box(annotations.as_str()))]))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
