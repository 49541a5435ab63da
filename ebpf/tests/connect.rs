//! Policy at connect/sendmsg: allowed IPs with expiry, allowed and blocked CIDRs, v4, v6 and
//! v4-mapped, TCP and UDP (connected and sendto), loopback, processes outside the cgroup, audit
//! mode, detach; default allow with a block list; attach errors.
//!
//! Real kernel, real cgroups, real network namespaces. Root only. Each test builds its own
//! topology (unique names, tests/common), so tests run in parallel.
//! Traffic goes only to loopback and to 198.18.0.0/24 / fd00:cf::/64 inside test netns.

mod common;

use std::time::Duration;

use common::*;
use ebpf::{Firewall, FirewallConfig, Mode};

#[test]
fn connect_policy_v4_v6_mapped_tcp_udp() {
    let env = Env::new("pol");
    // Baseline without the firewall: everything reachable.
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED, TCP_PORT))), 0, "baseline tcp");
    let fw = firewall(&env, &cfg());

    // Not allowed: EPERM at connect (TCP, UDP connect, UDP sendto), v4, v6, v4-mapped.
    for ip in [ALLOWED, ALLOWED6, &mapped(ALLOWED)] {
        assert_eq!(env.run_client(|| tcp_echo(sa(ip, TCP_PORT))), EPERM, "tcp {ip}");
        assert_eq!(env.run_client(|| udp_echo(sa(ip, UDP_PORT), true)), EPERM, "udp connect {ip}");
        assert_eq!(env.run_client(|| udp_echo(sa(ip, UDP_PORT), false)), EPERM, "udp sendto {ip}");
    }
    // Loopback is always allowed (no server there: ECONNREFUSED, not EPERM).
    assert_eq!(env.run_client(|| tcp_echo(sa("127.0.0.1", 9))), libc::ECONNREFUSED);
    assert_eq!(env.run_client(|| tcp_echo(sa("::1", 9))), libc::ECONNREFUSED);

    // allow_ip: reachable.
    fw.allow_ip(ALLOWED.parse().unwrap(), Duration::from_secs(60)).unwrap();
    fw.allow_ip(ALLOWED6.parse().unwrap(), Duration::from_secs(60)).unwrap();
    for ip in [ALLOWED, ALLOWED6, &mapped(ALLOWED)] {
        assert_eq!(env.run_client(|| tcp_echo(sa(ip, TCP_PORT))), 0, "tcp {ip} after allow");
        assert_eq!(env.run_client(|| udp_echo(sa(ip, UDP_PORT), true)), 0, "udp connect {ip} after allow");
        assert_eq!(env.run_client(|| udp_echo(sa(ip, UDP_PORT), false)), 0, "udp sendto {ip} after allow");
    }
    // Others still blocked.
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED, TCP_PORT))), EPERM);
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED6, TCP_PORT))), EPERM);

    // Expiry: a short TTL; extending with a shorter TTL keeps the later expiry.
    fw.allow_ip(OTHER.parse().unwrap(), Duration::from_millis(400)).unwrap();
    let e1 = fw.ip_expiry(OTHER.parse().unwrap()).unwrap().unwrap();
    fw.allow_ip(OTHER.parse().unwrap(), Duration::from_millis(1)).unwrap();
    assert_eq!(fw.ip_expiry(OTHER.parse().unwrap()).unwrap().unwrap(), e1, "later expiry kept");
    assert_eq!(env.run_client(|| tcp_echo(sa(OTHER, TCP_PORT))), 0, "before expiry");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(env.run_client(|| tcp_echo(sa(OTHER, TCP_PORT))), EPERM, "after expiry");
    assert_eq!(env.run_client(|| udp_echo(sa(OTHER, UDP_PORT), false)), EPERM, "after expiry udp");

    // allow CIDR; block CIDR wins over it and over allowed IPs.
    fw.allow_cidr("198.18.0.0".parse().unwrap(), 24).unwrap();
    fw.allow_cidr("fd00:cf::".parse().unwrap(), 64).unwrap();
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED, TCP_PORT))), 0, "allow cidr v4");
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED6, TCP_PORT))), 0, "allow cidr v6");
    assert_eq!(env.run_client(|| tcp_echo(sa(&mapped(DENIED), TCP_PORT))), 0, "allow cidr mapped");
    fw.block_cidr(DENIED.parse().unwrap(), 32).unwrap();
    fw.block_cidr(ALLOWED.parse().unwrap(), 31).unwrap(); // 198.18.0.10/31: covers an allowed IP
    fw.block_cidr(DENIED6.parse().unwrap(), 128).unwrap();
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED, TCP_PORT))), EPERM, "block wins v4");
    assert_eq!(env.run_client(|| tcp_echo(sa(ALLOWED, TCP_PORT))), EPERM, "block wins over allow_ip");
    assert_eq!(env.run_client(|| tcp_echo(sa(&mapped(ALLOWED), TCP_PORT))), EPERM, "block wins mapped");
    assert_eq!(env.run_client(|| udp_echo(sa(DENIED, UDP_PORT), false)), EPERM, "block wins sendto");
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED6, TCP_PORT))), EPERM, "block wins v6");
    assert_eq!(env.run_client(|| tcp_echo(sa(WORLD, TCP_PORT))), 0, "rest of the cidr");

    // A process outside the cgroup (same netns) is unaffected.
    assert_eq!(env.run_outside(|| tcp_echo(sa(DENIED, TCP_PORT))), 0, "outside cgroup");
    assert_eq!(env.run_outside(|| udp_echo(sa(DENIED6, UDP_PORT), false)), 0, "outside cgroup v6");

    // Audit mode: nothing blocked.
    fw.set_mode(Mode::Audit).unwrap();
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED, TCP_PORT))), 0, "audit");
    fw.set_mode(Mode::Enforce).unwrap();
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED, TCP_PORT))), EPERM, "enforce again");
    fw.detach().unwrap();
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED, TCP_PORT))), 0, "after detach");
}

#[test]
fn default_allow_with_block_list() {
    let env = Env::new("dal");
    let fw = firewall(&env, &FirewallConfig { default_allow: true, ..cfg() });
    fw.block_cidr(DENIED.parse().unwrap(), 32).unwrap();
    assert_eq!(env.run_client(|| tcp_echo(sa(ALLOWED, TCP_PORT))), 0);
    assert_eq!(env.run_client(|| tcp_echo(sa(ALLOWED6, TCP_PORT))), 0);
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED, TCP_PORT))), EPERM);
    // Raw/ICMP to the blocked IP is dropped by the skb backstop, to others passes.
    assert!(ping(&env, DENIED).is_err());
    assert!(ping(&env, ALLOWED).is_ok());
}

#[test]
fn attach_rejects_non_cgroup2() {
    let mut fw = Firewall::load(&cfg()).unwrap();
    let err = fw.attach(std::path::Path::new("/tmp")).unwrap_err();
    assert!(err.to_string().contains("not a cgroup v2"), "{err}");
}

/// Re-runs this file's scenarios with /sys/fs/cgroup being cgroup2 (a private mount namespace
/// with the unified hierarchy bound over /sys/fs/cgroup), as on a pure-v2 host.
#[test]
fn pure_v2_view() {
    rerun_in_pure_v2(&[
        "connect_policy_v4_v6_mapped_tcp_udp",
    ]);
}

#[test]
fn pure_v2_inner_check() {
    inner_check_pure_v2();
}
