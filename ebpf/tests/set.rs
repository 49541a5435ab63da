//! The program set and per-container state: pins that outlive the loader and unpin, map
//! memory per container, nested cgroups, two containers sharing the programs but not their
//! state, a full allow map failing closed for its container alone.
//!
//! Real kernel, real cgroups, real network namespaces. Root only. Each test builds its own
//! topology (unique names, tests/common), so tests run in parallel.
//! Traffic goes only to loopback and to 198.18.0.0/24 / fd00:cf::/64 inside test netns.

mod common;

use std::time::Duration;

use common::*;
use ebpf::Firewall;

#[test]
fn pinned_programs_survive_the_loader_and_unpin_detaches() {
    let env = Env::new("pin");
    let dir = pin_dir("pin");
    let _guard = PinGuard(dir.clone());
    // The loader is a child process that pins and then dies by SIGKILL.
    let cg = env.cgroup.clone();
    let d2 = dir.clone();
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let r = std::panic::catch_unwind(|| {
            let mut fw = Firewall::load(&cfg()).unwrap();
            fw.attach(&cg).unwrap();
            fw.pin(&d2).unwrap();
        });
        if r.is_err() {
            unsafe { libc::_exit(1) };
        }
        unsafe { libc::raise(libc::SIGKILL) };
        unsafe { libc::_exit(2) };
    }
    assert_eq!(wait_pid(pid), 128 + libc::SIGKILL, "loader killed after pinning");
    // Still enforcing with no process holding the programs.
    assert_eq!(env.run_client(|| tcp_echo(sa(ALLOWED, TCP_PORT))), EPERM, "fail closed after loader died");
    // A restarted sidecar re-opens the maps and allows an IP.
    let fw = Firewall::from_pins(&dir).unwrap();
    fw.set_local_addrs(&env.client_addrs()).unwrap();
    fw.allow_ip(ALLOWED.parse().unwrap(), Duration::from_secs(60)).unwrap();
    assert_eq!(env.run_client(|| tcp_echo(sa(ALLOWED, TCP_PORT))), 0, "allowed via re-opened maps");
    // The packet-socket guard's link is pinned with the others (where the kernel runs it).
    if fw.packet_socket_guard_unavailable().is_none() {
        assert!(dir.join("link_cgfw_socket_create").exists());
        let eth_p_all = (libc::ETH_P_ALL as u16).to_be() as i32;
        assert_eq!(env.run_client(move || make_socket(libc::AF_PACKET, libc::SOCK_RAW, eth_p_all)), EPERM, "guard pinned");
    } else {
        println!("packet-socket guard not pinned: {:?}", fw.packet_socket_guard_unavailable());
    }
    // The exec hooks are the set's (attached once per host): they still record, readable
    // through the pins.
    assert!(fw.program_set().has_exec_capture());
    let mut cmd = env.client_cmd("/bin/true");
    cmd.arg("cgfw-pinned-marker");
    let pid = run_cmd(cmd);
    assert_eq!(fw.exec_cmdline(pid).as_deref(), Some("/bin/true cgfw-pinned-marker"));
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED, TCP_PORT))), EPERM);
    drop(fw);
    Firewall::unpin(&dir).unwrap();
    assert!(!dir.exists());
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED, TCP_PORT))), 0, "unblocked after unpin");
}

#[test]
fn in_process_pin_then_drop_keeps_attached() {
    let env = Env::new("pid");
    let dir = pin_dir("pid");
    let _guard = PinGuard(dir.clone());
    let mut fw = firewall(&env, &cfg());
    fw.pin(&dir).unwrap();
    drop(fw); // closes every fd this process had: only the pins hold the objects
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED, TCP_PORT))), EPERM);
    let fw = Firewall::from_pins(&dir).unwrap();
    fw.detach().unwrap(); // pinned: detach removes the pins and detaches
    assert!(!dir.exists());
    assert_eq!(env.run_client(|| tcp_echo(sa(DENIED, TCP_PORT))), 0);
}

/// Per-container map memory and the shared maps' (counted once per host), against the
/// density target: at most 256 KiB of map memory per container with 50 containers.
#[test]
fn map_memory_is_bounded() {
    let env = Env::new("mem");
    let fw = firewall(&env, &cfg());
    let mem = fw.map_memory().unwrap();
    for m in &mem {
        println!("map {:<18} {:<9} memlock {:>9} bytes", m.name, if m.shared { "shared" } else { "own" }, m.memlock_bytes);
    }
    let own: u64 = mem.iter().filter(|m| !m.shared).map(|m| m.memlock_bytes).sum();
    let shared: u64 = mem.iter().filter(|m| m.shared).map(|m| m.memlock_bytes).sum();
    println!("own {own} bytes ({:.1} KiB), shared {shared} bytes ({:.2} MiB)", own as f64 / 1024.0, shared as f64 / 1048576.0);
    for n in [1u64, 50, 200] {
        println!("per container with {n}: {:.1} KiB", (own + shared / n) as f64 / 1024.0);
    }
    assert!(own > 16 * 1024, "implausibly small: {own}");
    assert!(own + shared / 50 <= 256 * 1024, "{} bytes per container with 50 containers, budget 256 KiB", own + shared / 50);
}

/// A process in a cgroup nested below the container's (one the container made for itself, one
/// an `exec` joins) is confined exactly like the container's own processes: the programs
/// attached to the container's cgroup run for its whole subtree and decide with its state.
#[test]
fn nested_cgroups_are_confined_like_the_container() {
    let env = Env::new("nest");
    let fw = firewall(&env, &cfg());
    fw.allow_ip(ALLOWED.parse().unwrap(), Duration::from_secs(60)).unwrap();
    let nested = env.cgroup.join("made-by-the-container");
    let deeper = nested.join("deeper");
    std::fs::create_dir_all(&deeper).unwrap();
    struct Rmdir(Vec<std::path::PathBuf>);
    impl Drop for Rmdir {
        fn drop(&mut self) {
            for d in &self.0 {
                let _ = std::fs::remove_dir(d);
            }
        }
    }
    let _cleanup = Rmdir(vec![deeper.clone(), nested.clone()]);
    for cg in [nested.clone(), deeper.clone()] {
        let procs = cg.join("cgroup.procs");
        let code = env.run_client(move || {
            if std::fs::write(&procs, "0").is_err() {
                return 90;
            }
            match (tcp_echo(sa(ALLOWED, TCP_PORT)), tcp_echo(sa(DENIED, TCP_PORT))) {
                (0, EPERM) => 0,
                (a, _) if a != 0 => 91,
                _ => 92,
            }
        });
        assert_eq!(code, 0, "in {}: 91 = allowed refused, 92 = denied reached", cg.display());
    }
    // The exec hook names processes of nested cgroups too.
    let mut cmd = env.client_cmd("/bin/sh");
    cmd.arg("-c").arg(format!("echo 0 > {}/cgroup.procs && exec /bin/true cgfw-nested-marker", deeper.display()));
    let pid = run_cmd(cmd);
    assert_eq!(fw.exec_cmdline(pid).as_deref(), Some("/bin/true cgfw-nested-marker"));
}

/// Two containers share the host's programs and maps, and neither sees nor changes the
/// other's state: allow lists, events.
#[test]
fn containers_share_programs_not_state() {
    let a = Env::new("isoa");
    let b = Env::new("isob");
    let fa = firewall(&a, &cfg());
    let fb = firewall(&b, &cfg());
    assert_eq!(fa.program_set().dir(), fb.program_set().dir(), "one program set");
    assert_ne!(fa.id(), fb.id());
    fa.allow_ip(ALLOWED.parse().unwrap(), Duration::from_secs(60)).unwrap();
    fb.allow_ip(OTHER.parse().unwrap(), Duration::from_secs(60)).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (mut ea, mut eb) = rt.block_on(async { (fa.events().unwrap(), fb.events().unwrap()) });
    assert_eq!(a.run_client(|| tcp_echo(sa(ALLOWED, TCP_PORT))), 0);
    assert_eq!(a.run_client(|| tcp_echo(sa(OTHER, TCP_PORT))), EPERM, "b's allow entry must not open a's");
    assert_eq!(b.run_client(|| tcp_echo(sa(OTHER, TCP_PORT))), 0);
    assert_eq!(b.run_client(|| tcp_echo(sa(ALLOWED, TCP_PORT))), EPERM, "a's allow entry must not open b's");
    let (ev_a, ev_b) = (next_event(&rt, &mut ea), next_event(&rt, &mut eb));
    assert_eq!(ev_a.daddr, OTHER.parse::<std::net::IpAddr>().unwrap());
    assert_eq!(ev_b.daddr, ALLOWED.parse::<std::net::IpAddr>().unwrap());
    assert!(ea.try_next().is_none() && eb.try_next().is_none(), "each stream has its own container's event only");
}

/// A container that fills its allow map fills its own: the kernel refuses the next insert
/// (the address stays refused for that container), and the other containers are untouched.
#[test]
fn a_full_map_fails_closed_for_its_container_alone() {
    let a = Env::new("quota");
    let b = Env::new("quotb");
    let fa = firewall(&a, &cfg());
    let fb = firewall(&b, &cfg());
    let entries = ebpf::abi::ALLOW_IP_ENTRIES;
    for i in 0..entries {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000u32 + i);
        fa.allow_ip(ip.into(), Duration::from_secs(60)).unwrap_or_else(|e| panic!("entry {i}: {e}"));
    }
    let err = fa.allow_ip(ALLOWED.parse().unwrap(), Duration::from_secs(60)).unwrap_err();
    println!("the {}th entry: {err}", entries + 1);
    assert_eq!(a.run_client(|| tcp_echo(sa(ALLOWED, TCP_PORT))), EPERM, "fail closed");
    fb.allow_ip(ALLOWED.parse().unwrap(), Duration::from_secs(60)).expect("the other container's map has room");
    assert_eq!(b.run_client(|| tcp_echo(sa(ALLOWED, TCP_PORT))), 0);
}

/// Re-runs this file's scenarios with /sys/fs/cgroup being cgroup2 (a private mount namespace
/// with the unified hierarchy bound over /sys/fs/cgroup), as on a pure-v2 host.
#[test]
fn pure_v2_view() {
    rerun_in_pure_v2(&[
        "pinned_programs_survive_the_loader_and_unpin_detaches",
    ]);
}

#[test]
fn pure_v2_inner_check() {
    inner_check_pure_v2();
}
