//! Events: pid, comm, address, kind, verdict and reason of blocked connects, sendto and
//! backstop packets; would_block in audit mode; allowed events on request; the rate limit and
//! the suppressed counter.
//!
//! Real kernel, real cgroups, real network namespaces. Root only. Each test builds its own
//! topology (unique names, tests/common), so tests run in parallel.
//! Traffic goes only to loopback and to 198.18.0.0/24 / fd00:cf::/64 inside test netns.

mod common;

use std::time::Duration;

use common::*;
use ebpf::{EventKind, FirewallConfig, Mode, Reason, Verdict};

#[test]
fn events_pid_comm_verdict_and_rate_limit() {
    let env = Env::new("evt");
    let fw = firewall(&env, &FirewallConfig { events_per_sec: 20, ..cfg() });
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut stream = rt.block_on(async { fw.events() }).unwrap();
    let pid = env.spawn_client("cgfw-probe", true, || tcp_echo(sa(DENIED, TCP_PORT)));
    assert_eq!(wait_pid(pid), EPERM);
    let ev = rt
        .block_on(async { tokio::time::timeout(Duration::from_secs(3), stream.next()).await })
        .expect("event within 3s")
        .unwrap();
    assert_eq!(ev.tgid, pid as u32);
    assert_eq!(ev.pid, pid as u32);
    assert_eq!(ev.comm, "cgfw-probe");
    assert_eq!(ev.daddr, DENIED.parse::<std::net::IpAddr>().unwrap());
    assert_eq!(ev.dport, TCP_PORT);
    assert_eq!(ev.kind, EventKind::Connect);
    assert_eq!(ev.verdict, Verdict::Blocked);
    assert_eq!(ev.reason, Reason::DefaultDeny);
    assert_eq!(ev.proto, libc::IPPROTO_TCP as u8);
    assert!(ev.cookie != 0 && ev.cgroup_id != 0);

    // v6 sendto, and a packet event from the skb backstop (raw socket).
    let pid = env.spawn_client("cgfw-udp6", true, || udp_echo(sa(DENIED6, UDP_PORT), false));
    assert_eq!(wait_pid(pid), EPERM);
    let ev = rt.block_on(async { tokio::time::timeout(Duration::from_secs(3), stream.next()).await }).unwrap().unwrap();
    assert_eq!((ev.tgid, ev.kind, ev.dport, ev.family), (pid as u32, EventKind::Sendmsg, UDP_PORT, libc::AF_INET6 as u8));
    assert_eq!(ev.daddr, DENIED6.parse::<std::net::IpAddr>().unwrap());
    let pid = env.spawn_client("cgfw-raw", true, || raw_icmp(DENIED));
    assert_eq!(wait_pid(pid), EPERM);
    let ev = rt.block_on(async { tokio::time::timeout(Duration::from_secs(3), stream.next()).await }).unwrap().unwrap();
    assert_eq!((ev.kind, ev.verdict, ev.proto), (EventKind::Packet, Verdict::Blocked, libc::IPPROTO_ICMP as u8));
    assert_eq!(ev.daddr, DENIED.parse::<std::net::IpAddr>().unwrap());

    // Audit: would_block, and allowed events only when report_allowed.
    fw.set_mode(Mode::Audit).unwrap();
    let pid = env.spawn_client("cgfw-audit", true, || tcp_echo(sa(DENIED, TCP_PORT)));
    assert_eq!(wait_pid(pid), 0);
    let ev = rt.block_on(async { tokio::time::timeout(Duration::from_secs(3), stream.next()).await }).unwrap().unwrap();
    assert_eq!((ev.verdict, ev.kind, ev.tgid), (Verdict::WouldBlock, EventKind::Connect, pid as u32));
    // The backstop reports the connection's packets as would_block too (rate-limited).
    std::thread::sleep(Duration::from_millis(100));
    let mut packets = 0;
    while let Some(ev) = stream.try_next() {
        assert_eq!(ev.verdict, Verdict::WouldBlock);
        assert_eq!(ev.kind, EventKind::Packet);
        packets += 1;
    }
    assert!(packets >= 1, "audit mode reports packets");
    fw.set_mode(Mode::Enforce).unwrap();
    fw.allow_ip(ALLOWED.parse().unwrap(), Duration::from_secs(60)).unwrap();
    assert_eq!(env.run_client(|| tcp_echo(sa(ALLOWED, TCP_PORT))), 0);
    assert!(stream.try_next().is_none(), "no allowed event unless report_allowed");
    fw.set_report_allowed(true).unwrap();
    assert_eq!(env.run_client(|| tcp_echo(sa(ALLOWED, TCP_PORT))), 0);
    let ev = rt.block_on(async { tokio::time::timeout(Duration::from_secs(3), stream.next()).await }).unwrap().unwrap();
    assert_eq!((ev.verdict, ev.reason), (Verdict::Allowed, Reason::AllowIp));

    // Flood: 300 blocked connects from one process; the bucket (20/s) lets few through.
    std::thread::sleep(Duration::from_millis(1100)); // refill
    let before = fw.suppressed_events();
    assert_eq!(
        env.run_client(|| {
            for _ in 0..300 {
                if tcp_echo(sa(DENIED, TCP_PORT)) != EPERM {
                    return 1;
                }
            }
            0
        }),
        0
    );
    let mut got = 0;
    while stream.try_next().is_some() {
        got += 1;
    }
    let suppressed = fw.suppressed_events() - before;
    assert!(got <= 60, "rate limit let {got} events through");
    assert!(suppressed >= 240, "suppressed counter {suppressed}");
    assert_eq!(stream.suppressed(), fw.suppressed_events());
}
