//! DNS: the redirect to the sidecar's proxy (set at load or after it) and the restored
//! addresses the client sees, attribution of each query to its process, the original
//! destination kept with the socket, real resolvers (busybox, glibc) through the redirect.
//!
//! Real kernel, real cgroups, real network namespaces. Root only. Each test builds its own
//! topology (unique names, tests/common), so tests run in parallel.
//! Traffic goes only to loopback and to 198.18.0.0/24 / fd00:cf::/64 inside test netns.

mod common;

use std::{
    io::{Read, Write},
    net::{TcpListener, UdpSocket},
    sync::{atomic::Ordering, Arc},
    time::{Duration, Instant},
};

use common::*;
use ebpf::{Firewall, FirewallConfig, Proto};

/// The runtime loads the programs before the proxy exists and sets its address afterwards:
/// the result is the configuration a load with the address would have written, and the DNS
/// redirect works (checked end to end by every firewall test that resolves a name).
#[test]
fn dns_proxy_set_after_load_matches_load_with_it() {
    let with = Firewall::load(&cfg()).unwrap_or_else(|e| panic!("load: {e}"));
    let later = Firewall::load(&FirewallConfig { proxy_v4: None, proxy_v6: None, ..cfg() }).unwrap();
    assert_eq!(later.config().unwrap().has_proxy4, 0);
    later.set_dns_proxy(cfg().proxy_v4, cfg().proxy_v6).unwrap();
    assert_eq!(later.config().unwrap(), with.config().unwrap());
    later.set_dns_proxy(None, None).unwrap();
    assert_eq!((later.config().unwrap().has_proxy4, later.config().unwrap().has_proxy6), (0, 0));
}

/// A test DNS "proxy" in the client netns: answers every query with the owner's tgid as
/// seen through dns_client_owner, so each client can check its own attribution.
fn start_proxy(env: &mut Env, fw: Arc<Firewall>) {
    for bind in [format!("127.0.0.1:{PROXY_PORT}"), format!("[::1]:{PROXY_PORT}")] {
        let fw2 = fw.clone();
        let bind2 = bind.clone();
        env.spawn_in_ns(false, move |stop| {
            let u = UdpSocket::bind(&bind2).unwrap();
            u.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                if let Ok((_n, from)) = u.recv_from(&mut buf) {
                    let tgid = fw2.dns_client_owner(Proto::Udp, from).map_or(0, |o| o.tgid);
                    let _ = u.send_to(&tgid.to_ne_bytes(), from);
                }
            }
        });
        let fw3 = fw.clone();
        env.spawn_in_ns(false, move |stop| {
            let l = TcpListener::bind(&bind).unwrap();
            l.set_nonblocking(true).unwrap();
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                match l.accept() {
                    Ok((mut s, from)) => {
                        s.set_nonblocking(false).unwrap();
                        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
                        let tgid = fw3.dns_client_owner(Proto::Tcp, from).map_or(0, |o| o.tgid);
                        let mut b = [0u8; 4];
                        if s.read_exact(&mut b).is_ok() {
                            let _ = s.write_all(&tgid.to_ne_bytes());
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
    }
}

/// Child-side DNS client: `n` queries to `server`:53; each reply must come "from" server:53
/// and carry our own pid. 0 on success.
fn dns_client(server: &str, tcp: bool, connect: bool, n: usize) -> i32 {
    let dst = sa(server, 53);
    let me = std::process::id();
    for _ in 0..n {
        if tcp {
            let mut s = match std::net::TcpStream::connect_timeout(&dst, Duration::from_secs(2)) {
                Ok(s) => s,
                Err(e) => return e.raw_os_error().unwrap_or(250),
            };
            if s.peer_addr().ok() != Some(dst) {
                return 20; // getpeername not restored
            }
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut b = [0u8; 4];
            if s.write_all(b"q\0\0\0").is_err() || s.read_exact(&mut b).is_err() {
                return 21;
            }
            if u32::from_ne_bytes(b) != me {
                return 22; // wrong attribution
            }
        } else {
            let bind = if dst.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
            let u = UdpSocket::bind(bind).unwrap();
            u.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let r = if connect { u.connect(dst).and_then(|_| u.send(b"q")) } else { u.send_to(b"q", dst) };
            if let Err(e) = r {
                return e.raw_os_error().unwrap_or(250);
            }
            if connect && u.peer_addr().ok() != Some(dst) {
                return 30;
            }
            let mut b = [0u8; 16];
            match u.recv_from(&mut b) {
                Ok((4, from)) => {
                    if from != dst {
                        return 31; // recvmsg not restored
                    }
                    if u32::from_ne_bytes(b[..4].try_into().unwrap()) != me {
                        return 32;
                    }
                }
                Ok(_) => return 33,
                Err(_) => return 34,
            }
        }
    }
    0
}

#[test]
fn dns_redirect_restore_and_attribution() {
    let mut env = Env::new("dns");
    let fw = Arc::new(firewall(&env, &cfg()));
    start_proxy(&mut env, fw.clone());
    let v4 = "198.18.0.53";
    let v6 = "fd00:cf::53";
    let m = mapped(v4);
    for (server, tcp, connect) in [
        (v4, false, false),
        (v4, false, true),
        (v4, true, true),
        (v6, false, false),
        (v6, false, true),
        (v6, true, true),
        (m.as_str(), false, false),
        (m.as_str(), false, true),
        (m.as_str(), true, true),
    ] {
        assert_eq!(env.run_client(|| dns_client(server, tcp, connect, 3)), 0, "dns {server} tcp={tcp} connect={connect}");
    }
    // Concurrency: several clients at once, each must be told its own pid.
    let pids: Vec<_> = (0..4)
        .map(|i| {
            let server = if i % 2 == 0 { v4 } else { v6 };
            env.spawn_client("cgfw-dns", true, move || dns_client(server, i >= 2, false, 25))
        })
        .collect();
    for p in pids {
        assert_eq!(wait_pid(p), 0, "concurrent dns client {p}");
    }
    // The firewall keeps the original destination and the owner with the socket (socket
    // storage): readable through a socket fd, here the client's own.
    let path = std::env::temp_dir().join(format!("cgfw-sock-{}", env.id));
    let p2 = path.clone();
    let fw2 = fw.clone();
    let code = env.run_client(move || {
        use std::os::fd::AsFd;
        let u = UdpSocket::bind("0.0.0.0:0").unwrap();
        if u.connect(sa(v4, 53)).is_err() {
            return 1;
        }
        let orig = fw2.original_dns_destination(u.as_fd()).map_or("none".into(), |a| a.to_string());
        let comm = fw2.socket_owner(u.as_fd()).map_or("none".into(), |o| o.comm);
        std::fs::write(&p2, format!("{orig} {comm}")).map_or(2, |_| 0)
    });
    assert_eq!(code, 0);
    let seen = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(seen, format!("{} cgfw-probe", sa(v4, 53)));
}

#[test]
fn real_resolvers_busybox_and_glibc() {
    let env = Env::new("res");
    let _fw = firewall(&env, &cfg());
    // dnsmasq plays the proxy: loopback in the client netns, outside the cgroup.
    let dnsmasq = std::process::Command::new("ip")
        .args(["netns", "exec", &env.client_ns, "dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts",
            "--conf-file=/dev/null", "--pid-file", "--user=root", "--bind-interfaces",
            "--listen-address=127.0.0.1", "--listen-address=::1", &format!("--port={PROXY_PORT}"),
            "--address=/allowed.test/198.18.0.10", "--address=/allowed.test/fd00:cf::10"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("dnsmasq");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _dnsmasq = Kill(dnsmasq);
    std::thread::sleep(Duration::from_millis(300));

    // busybox nslookup against a server that does not exist: only the redirect can answer.
    let out = env.client_cmd("busybox").args(["nslookup", "allowed.test", "198.18.0.53"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("198.18.0.10"), "busybox nslookup: {text}{}", String::from_utf8_lossy(&out.stderr));

    // glibc getent with resolv.conf / nsswitch.conf bound in a private mount namespace.
    let dir = std::env::temp_dir().join(format!("cgfw-res-{}", env.id));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("resolv.conf"), "nameserver 198.18.0.53\noptions attempts:2 timeout:2\n").unwrap();
    std::fs::write(dir.join("nsswitch.conf"), "hosts: dns\n").unwrap();
    for (server_line, db) in [("nameserver 198.18.0.53\n", "ahostsv4"), ("nameserver fd00:cf::53\n", "ahostsv4")] {
        std::fs::write(dir.join("resolv.conf"), format!("{server_line}options attempts:2 timeout:2\n")).unwrap();
        let script = format!(
            "mount --make-rprivate / && mount --bind {d}/resolv.conf /etc/resolv.conf && \
             mount --bind {d}/nsswitch.conf /etc/nsswitch.conf && exec getent {db} allowed.test",
            d = dir.display()
        );
        let out = env.client_cmd("unshare").args(["-m", "sh", "-c", &script]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("198.18.0.10"), "getent via {server_line}: {text}{}", String::from_utf8_lossy(&out.stderr));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Re-runs this file's scenarios with /sys/fs/cgroup being cgroup2 (a private mount namespace
/// with the unified hierarchy bound over /sys/fs/cgroup), as on a pure-v2 host.
#[test]
fn pure_v2_view() {
    rerun_in_pure_v2(&[
        "dns_redirect_restore_and_attribution",
    ]);
}

#[test]
fn pure_v2_inner_check() {
    inner_check_pure_v2();
}
