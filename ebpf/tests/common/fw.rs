//! The firewall as the runtime's sidecar sets it up for a test container: the configuration
//! (DNS proxy on loopback), load + attach + the anti-spoofing set, and reading its events.

use std::time::Duration;

use ebpf::{Firewall, FirewallConfig};

use super::{Env, PROXY_PORT};

pub const EPERM: i32 = libc::EPERM;

pub fn cfg() -> FirewallConfig {
    FirewallConfig {
        proxy_v4: Some(format!("127.0.0.1:{PROXY_PORT}").parse().unwrap()),
        proxy_v6: Some(format!("[::1]:{PROXY_PORT}").parse().unwrap()),
        ..FirewallConfig::default()
    }
}

pub fn firewall(env: &Env, cfg: &FirewallConfig) -> Firewall {
    let mut fw = Firewall::load(cfg).unwrap_or_else(|e| panic!("load: {e}"));
    fw.attach(&env.cgroup).unwrap_or_else(|e| panic!("attach: {e}"));
    // What the runtime's sidecar does in the container's netns: the anti-spoofing set.
    fw.set_local_addrs(&env.client_addrs()).unwrap_or_else(|e| panic!("local addresses: {e}"));
    fw
}

pub fn mapped(ip: &str) -> String {
    format!("::ffff:{ip}")
}

pub fn next_event(rt: &tokio::runtime::Runtime, stream: &mut ebpf::EventStream) -> ebpf::Event {
    rt.block_on(async { tokio::time::timeout(Duration::from_secs(3), stream.next()).await })
        .expect("event within 3s")
        .unwrap()
}
