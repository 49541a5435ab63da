//! Loads the firewall, attaches it to a cgroup v2 directory and waits (for benchmarks and
//! manual testing).
//!
//! usage: attach CGROUP_DIR [--allow IP/PREFIX]... [--allow-ip IP]... [--default-allow]
//!        [--audit] [--pin DIR] [--proxy4 IP:PORT] [--exit]
//! Prints "ready" on stdout once attached; then waits for stdin to close (or exits at once
//! with --exit, leaving only pins behind).
use std::{io::Read, net::IpAddr, path::PathBuf, time::Duration};

use ebpf::{Firewall, FirewallConfig, Mode};

fn main() {
    let mut args = std::env::args().skip(1);
    let cgroup = PathBuf::from(args.next().expect("usage: attach CGROUP_DIR [options]"));
    let mut cfg = FirewallConfig::default();
    let (mut cidrs, mut ips, mut pin, mut exit) = (vec![], vec![], None, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--allow" => {
                let v = args.next().unwrap();
                let (ip, len) = v.split_once('/').unwrap();
                cidrs.push((ip.parse::<IpAddr>().unwrap(), len.parse::<u8>().unwrap()));
            }
            "--allow-ip" => ips.push(args.next().unwrap().parse::<IpAddr>().unwrap()),
            "--default-allow" => cfg.default_allow = true,
            "--audit" => cfg.mode = Mode::Audit,
            "--pin" => pin = Some(PathBuf::from(args.next().unwrap())),
            "--proxy4" => cfg.proxy_v4 = Some(args.next().unwrap().parse().unwrap()),
            "--exit" => exit = true,
            other => panic!("unknown argument {other}"),
        }
    }
    let mut fw = Firewall::load(&cfg).unwrap_or_else(|e| panic!("load: {e}"));
    for (ip, len) in cidrs {
        fw.allow_cidr(ip, len).unwrap();
    }
    for ip in ips {
        fw.allow_ip(ip, Duration::from_secs(3600)).unwrap();
    }
    fw.attach(&cgroup).unwrap_or_else(|e| panic!("attach: {e}"));
    if let Some(dir) = &pin {
        fw.pin(dir).unwrap_or_else(|e| panic!("pin: {e}"));
    }
    println!("ready");
    if exit {
        return;
    }
    let mut buf = [0u8; 64];
    while matches!(std::io::stdin().read(&mut buf), Ok(n) if n > 0) {}
    fw.detach().unwrap();
}
