//! Test topology: per test a client netns and a "world" netns joined by a veth pair
//! (198.18.0.0/24, fd00:cf::/64 only; no other route), TCP/UDP echo servers in the world,
//! and a cgroup v2 directory for the client processes. Everything is torn down on Drop,
//! also when the test fails. Needs root.
//!
//! Shared by every test file (each is its own binary and compiles this module, so any one uses
//! part of it): the topology and the TCP/UDP probes here; `fw`: the firewall as the sidecar
//! sets it up, and its events; `probes`: more child-side probes and process helpers;
//! `pure_v2`: re-running tests where /sys/fs/cgroup is the cgroup2 tree.
#![allow(dead_code)]

mod fw;
mod probes;
mod pure_v2;

// Each binary uses some of these.
#[allow(unused_imports)]
pub use fw::*;
#[allow(unused_imports)]
pub use probes::*;
#[allow(unused_imports)]
pub use pure_v2::*;

use std::{
    fs::File,
    io::{self, Read, Write},
    net::{SocketAddr, TcpListener, UdpSocket},
    os::{
        fd::{AsRawFd, RawFd},
        unix::process::CommandExt,
    },
    path::{Path, PathBuf},
    process::{Command, Output},
    sync::{
        atomic::{AtomicBool, AtomicU32, Ordering},
        Arc,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

pub const WORLD: &str = "198.18.0.2";
pub const ALLOWED: &str = "198.18.0.10";
pub const OTHER: &str = "198.18.0.11";
pub const DENIED: &str = "198.18.0.12";
pub const WORLD6: &str = "fd00:cf::2";
pub const ALLOWED6: &str = "fd00:cf::10";
pub const DENIED6: &str = "fd00:cf::12";
pub const TCP_PORT: u16 = 7000;
pub const UDP_PORT: u16 = 7001;
pub const PROXY_PORT: u16 = 5300;

/// Where cgroup2 is mounted: /sys/fs/cgroup on a pure-v2 host (or view), or the hybrid
/// /sys/fs/cgroup/unified. Read from /proc/self/mountinfo.
pub fn cgroup2_root() -> PathBuf {
    let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    let mut found = Vec::new();
    for line in info.lines() {
        // ... mountpoint ... - fstype source opts
        let (pre, post) = line.split_once(" - ").unwrap_or((line, ""));
        if post.split_whitespace().next() == Some("cgroup2") {
            if let Some(mp) = pre.split_whitespace().nth(4) {
                found.push(PathBuf::from(mp));
            }
        }
    }
    // The last mount on a path wins; prefer /sys/fs/cgroup when it is cgroup2.
    let fsroot = Path::new("/sys/fs/cgroup");
    if fs_is_cgroup2(fsroot) {
        return fsroot.into();
    }
    found
        .into_iter()
        .rev()
        .find(|p| fs_is_cgroup2(p))
        .expect("no cgroup2 mount found")
}

fn fs_is_cgroup2(p: &Path) -> bool {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == 0x63677270 }
}

pub fn sh(cmd: &str) -> Output {
    let out = Command::new("sh").arg("-c").arg(cmd).output().expect("sh");
    out
}

pub fn must(cmd: &str) {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

static SEQ: AtomicU32 = AtomicU32::new(0);

pub struct Env {
    pub id: String,
    pub client_ns: String,
    pub world_ns: String,
    pub cgroup: PathBuf,
    client_fd: File,
    world_fd: File,
    procs: File,
    stop: Arc<AtomicBool>,
    servers: Vec<JoinHandle<()>>,
}

impl Env {
    /// Builds the topology and starts the world's echo servers.
    pub fn new(tag: &str) -> Env {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        // Short: interface names are at most 15 bytes.
        let id = format!("{}{}{}", tag.chars().take(3).collect::<String>(), std::process::id() % 100000, n);
        let client_ns = format!("cgfwc-{id}");
        let world_ns = format!("cgfww-{id}");
        let cgroup = cgroup2_root().join(format!("cgfw-test-{id}"));
        // From here on Drop cleans up whatever exists.
        let mut env = Env {
            id: id.clone(),
            client_ns: client_ns.clone(),
            world_ns: world_ns.clone(),
            cgroup: cgroup.clone(),
            client_fd: File::open("/dev/null").unwrap(),
            world_fd: File::open("/dev/null").unwrap(),
            procs: File::open("/dev/null").unwrap(),
            stop: Arc::new(AtomicBool::new(false)),
            servers: Vec::new(),
        };
        let (c, w) = (&client_ns, &world_ns);
        must(&format!("ip netns add {c} && ip netns add {w}"));
        let (vc, vw) = (format!("c{}", &id[..id.len().min(13)]), format!("w{}", &id[..id.len().min(13)]));
        must(&format!("ip link add {vc} netns {c} type veth peer name {vw} netns {w}"));
        must(&format!(
            "ip -n {c} link set lo up && ip -n {c} link set {vc} up && \
             ip -n {c} addr add 198.18.0.1/24 dev {vc} && ip -n {c} addr add fd00:cf::1/64 dev {vc} nodad"
        ));
        must(&format!(
            "ip -n {w} link set lo up && ip -n {w} link set {vw} up && \
             ip -n {w} addr add {WORLD}/24 dev {vw} && ip -n {w} addr add {ALLOWED}/24 dev {vw} && \
             ip -n {w} addr add {OTHER}/24 dev {vw} && ip -n {w} addr add {DENIED}/24 dev {vw} && \
             ip -n {w} addr add {WORLD6}/64 dev {vw} nodad && ip -n {w} addr add {ALLOWED6}/64 dev {vw} nodad && \
             ip -n {w} addr add {DENIED6}/64 dev {vw} nodad"
        ));
        std::fs::create_dir(&cgroup).expect("create test cgroup");
        env.client_fd = File::open(format!("/run/netns/{c}")).unwrap();
        env.world_fd = File::open(format!("/run/netns/{w}")).unwrap();
        env.procs = std::fs::OpenOptions::new().write(true).open(cgroup.join("cgroup.procs")).unwrap();
        env.start_servers();
        env
    }

    /// The client netns's own addresses (loopback excluded), as `ip` lists them.
    pub fn client_addrs(&self) -> Vec<std::net::IpAddr> {
        let out = sh(&format!("ip -n {} -o addr show", self.client_ns));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| {
                let mut fields = line.split_whitespace().skip(3);
                fields.next()?.split('/').next()?.parse().ok()
            })
            .collect()
    }

    pub fn client_ns_fd(&self) -> RawFd {
        self.client_fd.as_raw_fd()
    }

    /// Runs `f` on a new thread inside the world (or client) netns; the thread is joined at
    /// Drop and should return once `stop` is set.
    pub fn spawn_in_ns<F>(&mut self, world: bool, f: F)
    where
        F: FnOnce(Arc<AtomicBool>) + Send + 'static,
    {
        let fd = if world { self.world_fd.as_raw_fd() } else { self.client_fd.as_raw_fd() };
        let fd = unsafe { libc::dup(fd) };
        let stop = self.stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        self.servers.push(std::thread::spawn(move || {
            let r = unsafe { libc::setns(fd, libc::CLONE_NEWNET) };
            unsafe { libc::close(fd) };
            assert_eq!(r, 0, "setns: {}", io::Error::last_os_error());
            tx.send(()).unwrap();
            f(stop)
        }));
        rx.recv_timeout(Duration::from_secs(5)).expect("netns thread started");
    }

    fn start_servers(&mut self) {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let tx2 = tx.clone();
        self.spawn_in_ns(true, move |stop| {
            // Dual-stack listener: v4 and v6 clients.
            let l = TcpListener::bind(("::", TCP_PORT)).expect("bind tcp");
            l.set_nonblocking(true).unwrap();
            tx.send(()).unwrap();
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                match l.accept() {
                    Ok((mut s, _)) => {
                        std::thread::spawn(move || {
                            s.set_nonblocking(false).ok();
                            s.set_read_timeout(Some(Duration::from_secs(5))).ok();
                            let mut buf = [0u8; 512];
                            for _ in 0..1000 {
                                match s.read(&mut buf) {
                                    Ok(0) | Err(_) => break,
                                    Ok(n) => {
                                        if s.write_all(&buf[..n]).is_err() {
                                            break;
                                        }
                                    }
                                }
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        // One UDP socket per address, so replies leave from the address that was asked
        // (connected UDP clients only accept those).
        self.spawn_in_ns(true, move |stop| {
            let socks: Vec<UdpSocket> = [WORLD, ALLOWED, OTHER, DENIED, WORLD6, ALLOWED6, DENIED6]
                .iter()
                .map(|ip| {
                    let u = UdpSocket::bind((ip.parse::<std::net::IpAddr>().unwrap(), UDP_PORT)).expect("bind udp");
                    u.set_nonblocking(true).unwrap();
                    u
                })
                .collect();
            tx2.send(()).unwrap();
            let deadline = Instant::now() + Duration::from_secs(120);
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let mut idle = true;
                for u in &socks {
                    if let Ok((n, from)) = u.recv_from(&mut buf) {
                        let _ = u.send_to(&buf[..n], from);
                        idle = false;
                    }
                }
                if idle {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        });
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }

    /// Forks a child that joins the client netns and the test cgroup, names itself `comm`,
    /// runs `f` and exits with its return value. Returns the child's pid.
    pub fn spawn_client<F: FnOnce() -> i32>(&self, comm: &str, in_cgroup: bool, f: F) -> libc::pid_t {
        let comm = std::ffi::CString::new(comm).unwrap();
        let nsfd = self.client_fd.as_raw_fd();
        let procs = self.procs.as_raw_fd();
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork");
        if pid == 0 {
            unsafe {
                if libc::setns(nsfd, libc::CLONE_NEWNET) != 0 {
                    libc::_exit(200);
                }
                if in_cgroup && libc::write(procs, b"0\n".as_ptr().cast(), 2) != 2 {
                    libc::_exit(201);
                }
                libc::prctl(libc::PR_SET_NAME, comm.as_ptr());
            }
            let code = f();
            unsafe { libc::_exit(code) };
        }
        pid
    }

    /// spawn_client + wait (at most 30 s). Returns the exit code.
    pub fn run_client<F: FnOnce() -> i32>(&self, f: F) -> i32 {
        let pid = self.spawn_client("cgfw-probe", true, f);
        wait_pid(pid)
    }

    pub fn run_outside<F: FnOnce() -> i32>(&self, f: F) -> i32 {
        let pid = self.spawn_client("cgfw-outside", false, f);
        wait_pid(pid)
    }

    /// A command that runs in the client netns and the test cgroup.
    pub fn client_cmd(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        let nsfd = self.client_fd.as_raw_fd();
        let procs = self.procs.as_raw_fd();
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(nsfd, libc::CLONE_NEWNET) != 0 {
                    return Err(io::Error::last_os_error());
                }
                if libc::write(procs, b"0\n".as_ptr().cast(), 2) != 2 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }
}

/// Waits for a child (bounded: 30 s, then SIGKILL). Returns the exit code, or 128+signal.
pub fn wait_pid(pid: libc::pid_t) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut status = 0;
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            if libc::WIFEXITED(status) {
                return libc::WEXITSTATUS(status);
            }
            return 128 + libc::WTERMSIG(status);
        }
        if Instant::now() > deadline {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for h in self.servers.drain(..) {
            let _ = h.join();
        }
        // Kill whatever is left in the cgroup, then remove it (bounded retries).
        for _ in 0..50 {
            let procs = std::fs::read_to_string(self.cgroup.join("cgroup.procs")).unwrap_or_default();
            for p in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            if !self.cgroup.exists() || std::fs::remove_dir(&self.cgroup).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = sh(&format!("ip netns del {} 2>/dev/null; ip netns del {} 2>/dev/null", self.client_ns, self.world_ns));
    }
}

/// Removes a pin directory on drop.
pub struct PinGuard(pub PathBuf);
impl Drop for PinGuard {
    fn drop(&mut self) {
        let _ = ebpf::Firewall::unpin(&self.0);
    }
}

pub fn pin_dir(tag: &str) -> PathBuf {
    PathBuf::from(format!("/sys/fs/bpf/cgfw-test/{tag}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst)))
}

pub fn errno(r: io::Result<impl Sized>) -> i32 {
    match r {
        Ok(_) => 0,
        Err(e) => e.raw_os_error().unwrap_or(255),
    }
}

/// Child-side: TCP connect + echo. 0 on success, errno otherwise.
pub fn tcp_echo(addr: SocketAddr) -> i32 {
    let mut s = match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(s) => s,
        Err(e) => return e.raw_os_error().unwrap_or(254),
    };
    s.set_read_timeout(Some(Duration::from_secs(2))).ok();
    if let Err(e) = s.write_all(b"ping") {
        return e.raw_os_error().unwrap_or(253);
    }
    let mut b = [0u8; 4];
    match s.read_exact(&mut b) {
        Ok(()) if &b == b"ping" => 0,
        Ok(()) => 252,
        Err(e) => e.raw_os_error().unwrap_or(251),
    }
}

/// Child-side: UDP connect (or sendto if !connect) + echo. 0 on success, errno otherwise.
pub fn udp_echo(addr: SocketAddr, connect: bool) -> i32 {
    let bind: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0".parse().unwrap() } else { "[::]:0".parse().unwrap() };
    let u = UdpSocket::bind(bind).unwrap();
    u.set_read_timeout(Some(Duration::from_millis(1500))).ok();
    let r = if connect {
        u.connect(addr).and_then(|_| u.send(b"ping"))
    } else {
        u.send_to(b"ping", addr)
    };
    if let Err(e) = r {
        return e.raw_os_error().unwrap_or(254);
    }
    let mut b = [0u8; 16];
    match u.recv_from(&mut b) {
        Ok((4, _)) if &b[..4] == b"ping" => 0,
        Ok(_) => 252,
        Err(e) => e.raw_os_error().unwrap_or(251),
    }
}

pub fn sa(ip: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), port)
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}
