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

/// Child-side: connects, echoes once, waits `pause` (the test lets the allow entry expire or
/// changes the policy meanwhile), echoes again on the same connection. 0 if both echoes came
/// back; 100 + errno if the first failed, the errno (or 25x) of the second otherwise.
fn tcp_echo_twice(addr: std::net::SocketAddr, pause: Duration) -> i32 {
    use std::io::{Read, Write};
    let mut s = match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(s) => s,
        Err(e) => return 100 + e.raw_os_error().unwrap_or(154),
    };
    s.set_read_timeout(Some(Duration::from_millis(1500))).ok();
    let mut echo = |s: &mut std::net::TcpStream| -> i32 {
        let mut b = [0u8; 4];
        match s.write_all(b"ping").and_then(|_| s.read_exact(&mut b)) {
            Ok(()) if &b == b"ping" => 0,
            Ok(()) => 252,
            Err(e) => e.raw_os_error().unwrap_or(251),
        }
    };
    let first = echo(&mut s);
    if first != 0 {
        return 100 + first;
    }
    std::thread::sleep(pause);
    echo(&mut s)
}

/// The same over a connected UDP socket.
fn udp_echo_twice(addr: std::net::SocketAddr, pause: Duration) -> i32 {
    let bind: std::net::SocketAddr = if addr.is_ipv4() { sa("0.0.0.0", 0) } else { sa("::", 0) };
    let u = std::net::UdpSocket::bind(bind).unwrap();
    u.set_read_timeout(Some(Duration::from_millis(1500))).ok();
    if let Err(e) = u.connect(addr) {
        return 100 + e.raw_os_error().unwrap_or(154);
    }
    let echo = || -> i32 {
        let mut b = [0u8; 16];
        match u.send(b"ping").and_then(|_| u.recv(&mut b)) {
            Ok(4) if &b[..4] == b"ping" => 0,
            Ok(_) => 252,
            Err(e) => e.raw_os_error().unwrap_or(251),
        }
    };
    let first = echo();
    if first != 0 {
        return 100 + first;
    }
    std::thread::sleep(pause);
    echo()
}

/// A connection its connect was allowed to make outlives the allow entry (expired, or pruned
/// by the proxy): a long download must not stall when its DNS answer's TTL runs out. New
/// connects and unconnected sends to the address are refused as soon as it expired, a
/// re-connect elsewhere loses the binding, and a block CIDR still cuts the connection.
#[test]
fn connections_outlive_the_allow_entry() {
    let env = Env::new("est");
    let fw = firewall(&env, &cfg());
    let ttl = Duration::from_millis(400);
    let pause = Duration::from_millis(900);

    for ip in [ALLOWED, ALLOWED6, &mapped(ALLOWED)] {
        fw.allow_ip(ip.parse().unwrap(), ttl).unwrap();
        assert_eq!(env.run_client(|| tcp_echo_twice(sa(ip, TCP_PORT), pause)), 0, "tcp {ip} past expiry");
        fw.allow_ip(ip.parse().unwrap(), ttl).unwrap();
        assert_eq!(env.run_client(|| udp_echo_twice(sa(ip, UDP_PORT), pause)), 0, "udp {ip} past expiry");
        // Expired for everything new.
        assert_eq!(env.run_client(|| tcp_echo(sa(ip, TCP_PORT))), EPERM, "new tcp {ip} after expiry");
        assert_eq!(env.run_client(|| udp_echo(sa(ip, UDP_PORT), false)), EPERM, "sendto {ip} after expiry");
    }

    // Pruned (the proxy deletes long-expired entries) instead of merely expired.
    let ip: std::net::IpAddr = OTHER.parse().unwrap();
    fw.allow_ip(ip, Duration::from_secs(60)).unwrap();
    let pid = env.spawn_client("established", true, || tcp_echo_twice(sa(OTHER, TCP_PORT), Duration::from_millis(900)));
    std::thread::sleep(Duration::from_millis(300));
    assert!(fw.revoke_ip(ip).unwrap(), "entry was there");
    assert_eq!(wait_pid(pid), 0, "connection outlives the pruned entry");

    // A block CIDR still cuts an established connection.
    fw.allow_ip(ip, Duration::from_secs(60)).unwrap();
    let pid = env.spawn_client("established", true, || tcp_echo_twice(sa(OTHER, TCP_PORT), Duration::from_millis(900)));
    std::thread::sleep(Duration::from_millis(300));
    fw.block_cidr(ip, 32).unwrap();
    assert_ne!(wait_pid(pid), 0, "a block CIDR cuts the connection");

    // A UDP socket connected to an allowed peer, then re-connected to a refused one: the
    // refused connect leaves the kernel's connection as it was but clears the binding, so once
    // the entry expired its sends are refused (with the binding they would pass).
    fw.allow_ip(ALLOWED.parse().unwrap(), ttl).unwrap();
    let code = env.run_client(|| {
        let u = std::net::UdpSocket::bind(sa("0.0.0.0", 0)).unwrap();
        if u.connect(sa(ALLOWED, UDP_PORT)).is_err() {
            return 1;
        }
        match u.connect(sa(DENIED, UDP_PORT)) {
            Err(e) if e.raw_os_error() == Some(EPERM) => {}
            _ => return 2,
        }
        std::thread::sleep(Duration::from_millis(900));
        match u.send(b"ping") {
            Err(e) => e.raw_os_error().unwrap_or(3),
            Ok(_) => 0,
        }
    });
    assert_eq!(code, EPERM, "a refused re-connect drops the binding");
}
