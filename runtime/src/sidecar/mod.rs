//! The per-container firewall sidecar: a detached re-exec of `cgfw-runc` that opens the host's
//! BPF program set (loading it if it is the build's first), puts the container's state in it,
//! attaches the set's programs to the container's cgroup, pins the links (so they outlive it:
//! fail closed), serves the DNS proxy inside the container's network namespace, and writes the
//! event log and audit report. `create` spawns it and waits for "ready" on a pipe.

mod abort;
mod boundary;
mod bounded;
pub mod cmdline;
mod memory;
pub mod dns;
pub mod eventlog;
mod proxy;
mod ratelimit;
pub mod recorder;
pub mod search;
mod failover;
mod upstream;
mod upstream_query;
pub mod workload;

use std::cell::RefCell;
use std::fs::File;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ebpf::{Firewall, FirewallConfig};
use policy::{LogLevel, Mode, Policy, Verdict};
use serde::{Deserialize, Serialize};

use crate::cli::GlobalOpts;
use crate::packet_guard::{self, GuardedCall, PacketGuard};
use cmdline::Cmdline;
use eventlog::LogLimits;
use recorder::{EventKind, EventVerdict, LogEvent, Recorder};

/// The fd numbers the ready pipe (sidecar writes "ok" or its error) and the go pipe (the
/// runtime writes the config, then the built container's place) have in the sidecar.
const READY_FD: i32 = 3;
const GO_FD: i32 = 4;
const READY_TIMEOUT: Duration = Duration::from_secs(20);
pub const PIN_ROOT: &str = "/sys/fs/bpf/cgfw";
/// Kernel event budget per container (token bucket rate and burst).
const EVENTS_PER_SEC: u32 = 2000;
/// Guard events waiting for the main loop; when full, the guard thread waits (and so does
/// the caller it has not answered yet): nothing is dropped, nothing grows.
const GUARD_EVENT_QUEUE: usize = 256;

/// What the sidecar needs to load its programs: known before the container is built. `create`
/// sends it as the first line of the go pipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SidecarConfig {
    pub id: String,
    pub policy: Policy,
    pub upstreams: Vec<SocketAddr>,
    pub log_dir: PathBuf,
    pub pin_dir: PathBuf,
    /// How packet sockets are refused: the LSM program is loaded only for `Lsm`; for
    /// `Seccomp` the runtime hands the filter's listener over the guard socket.
    #[serde(default)]
    pub packet_guard: PacketGuard,
    /// The event log's size cap (the operator's `--cgfw-log-max-mib`, `--cgfw-log-keep`).
    #[serde(default)]
    pub log_limits: LogLimits,
    /// What the runtime wants said in the report from the start (capabilities accepted by
    /// `cgfw.io/accept-capabilities`).
    #[serde(default)]
    pub warnings: Vec<String>,
    /// Who the container is (CRI annotations, podman's name), for events and the report.
    #[serde(default)]
    pub workload: workload::Workload,
    /// The container's resolv.conf search list and ndots (search-list expansions).
    #[serde(default)]
    pub search: search::SearchList,
}

/// Where the built container lives: the second line of the go pipe.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerPlace {
    /// The cgroup v2 the programs attach to.
    pub cgroup: PathBuf,
    /// The container's network namespace, where the proxy listens.
    pub netns: PathBuf,
}

pub fn pin_dir(id: &str) -> PathBuf {
    Path::new(PIN_ROOT).join(id)
}

/// A sidecar started before the container is built: it opens the program set and puts the
/// container's state in it (map-of-maps updates that wait for RCU grace periods) while
/// libcontainer builds the container, then waits on the go pipe for [`PendingSidecar::start`].
/// Dropped unstarted (the build failed), it is told so and exits, taking its state with it;
/// if the runtime is killed meanwhile, so is it (parent-death signal, cleared once it has the
/// container's place).
pub struct PendingSidecar {
    pid: i32,
    go: Option<File>,
    ready: Option<OwnedFd>,
}

/// Starts the sidecar on `config` (it begins loading at once). Returns before it is ready.
pub fn spawn(global: &GlobalOpts, config: &SidecarConfig) -> Result<PendingSidecar> {
    let cloexec = nix::fcntl::OFlag::O_CLOEXEC;
    let (ready_read, ready_write) = nix::unistd::pipe2(cloexec).context("creating ready pipe")?;
    let (go_read, go_write) = nix::unistd::pipe2(cloexec).context("creating go pipe")?;
    let (ready_raw, go_raw) = (ready_write.as_raw_fd(), go_read.as_raw_fd());
    let runtime_pid = std::process::id() as libc::pid_t;
    let mut command = Command::new("/proc/self/exe");
    command
        .arg("--root")
        .arg(&global.root)
        .arg("--cgfw-log-dir")
        .arg(&global.cgfw_log_dir)
        .args(global.debug.then_some("--debug"))
        .arg("sidecar")
        .arg(&config.id)
        // conmon and containerd's shim read the runtime's stdout/stderr until EOF: the
        // sidecar must hold none of the fds it was given, or `create` would never end.
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only async-signal-safe syscalls between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Until it has the container's place, the sidecar dies with the runtime. (The go
            // pipe's EOF cannot tell: libcontainer's container init, cloned from the runtime,
            // holds a copy of its write end until `start`.)
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) < 0 || libc::getppid() != runtime_pid {
                return Err(std::io::Error::other("the runtime exited"));
            }
            // The go pipe's end may sit on fd 3: move it out of the way first.
            let go_tmp = libc::fcntl(go_raw, libc::F_DUPFD, 10);
            if go_tmp < 0 || libc::dup2(ready_raw, READY_FD) < 0 || libc::dup2(go_tmp, GO_FD) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // Everything else inherited (preserved fds, the caller's pipes) is closed.
            libc::syscall(libc::SYS_close_range, GO_FD as u32 + 1, u32::MAX, 0);
            Ok(())
        });
    }
    let child = command.spawn().context("starting the firewall sidecar")?;
    drop((ready_write, go_read));
    let mut pending = PendingSidecar { pid: child.id() as i32, go: Some(File::from(go_write)), ready: Some(ready_read) };
    let mut line = serde_json::to_vec(config)?;
    line.push(b'\n');
    // A sidecar that failed at once has closed the pipe: its error is read in `start`.
    if let Some(go) = pending.go.as_mut() {
        let _ = go.write_all(&line);
    }
    Ok(pending)
}

impl PendingSidecar {
    /// Tells the sidecar where the built container is and waits until it reports ready (or
    /// its error). Returns its pid.
    pub fn start(mut self, place: &ContainerPlace) -> Result<i32> {
        let mut line = serde_json::to_vec(place)?;
        line.push(b'\n');
        if let Some(mut go) = self.go.take() {
            // Failing here means the sidecar already exited: the ready pipe says why.
            let _ = go.write_all(&line);
        }
        let ready = self.ready.take().context("sidecar already started")?;
        // On error the pid stays set and drop kills the sidecar.
        read_ready(ready)?;
        Ok(std::mem::replace(&mut self.pid, 0))
    }
}

impl Drop for PendingSidecar {
    /// The build failed: closing the go pipe tells the sidecar there is nothing to guard, and
    /// it exits by itself after taking the container's state out of the program set (its
    /// firewall's drop); SIGKILL only if it has not within a second (a killed sidecar would
    /// leave that state behind).
    fn drop(&mut self) {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        if self.pid <= 0 {
            return;
        }
        let pid = nix::unistd::Pid::from_raw(self.pid);
        self.go = None;
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        while std::time::Instant::now() < deadline {
            match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => std::thread::sleep(Duration::from_millis(2)),
                _ => return, // exited (reaped), or not our child any more
            }
        }
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::SIGKILL);
        let _ = waitpid(pid, None);
    }
}

fn read_ready(read_end: OwnedFd) -> Result<()> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut pipe = File::from(read_end);
    let mut message = Vec::new();
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            bail!("firewall sidecar did not report ready within {READY_TIMEOUT:?}");
        }
        let mut fds = [PollFd::new(std::os::fd::AsFd::as_fd(&pipe), PollFlags::POLLIN)];
        let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32).unwrap_or(PollTimeout::MAX);
        if poll(&mut fds, ms).context("waiting for the sidecar")? == 0 {
            continue;
        }
        let mut chunk = [0u8; 4096];
        let n = pipe.read(&mut chunk).context("reading the sidecar's ready message")?;
        if n == 0 {
            break;
        }
        message.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&message);
    match text.trim_end() {
        "ok" => Ok(()),
        "" => bail!("firewall sidecar exited before reporting ready"),
        error => bail!("firewall sidecar: {}", error.trim_start_matches("error: ")),
    }
}

/// Entry point of `cgfw-runc sidecar <id>`.
pub fn run(global: &GlobalOpts, id: &str) -> Result<i32> {
    // A DNS client that closes its TCP connection early must not kill the firewall.
    // SAFETY: ignoring SIGPIPE at startup, before any threads.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // SAFETY: fds 3 and 4 are the pipes `spawn` placed there; nothing else here owns them.
    let mut ready = unsafe { File::from_raw_fd(READY_FD) };
    let mut go = std::io::BufReader::new(unsafe { File::from_raw_fd(GO_FD) });
    let container_dir = crate::container_ref::container_dir(&global.root, id)?;
    let setup = (|| {
        use std::io::BufRead;
        let mut line = String::new();
        go.read_line(&mut line).context("reading the sidecar config")?;
        let config: SidecarConfig = serde_json::from_str(&line).context("parsing the sidecar config")?;
        // The slow part, while libcontainer builds the container.
        let firewall = load_firewall(&config)?;
        line.clear();
        if go.read_line(&mut line).context("waiting for the container")? == 0 {
            // The build failed, or the runtime died: nothing to guard.
            return Ok(None);
        }
        let place: ContainerPlace = serde_json::from_str(&line).context("parsing the container's place")?;
        // From here on the sidecar outlives the runtime (`create` exits after "ready").
        // SAFETY: prctl on this process; no pointers.
        unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, 0) };
        Firewalled::set_up(config, place, firewall, &container_dir).map(Some)
    })();
    let firewalled = match setup {
        Ok(Some(f)) => f,
        Ok(None) => return Ok(0),
        Err(err) => {
            let _ = writeln!(ready, "error: {err:#}");
            return Ok(1);
        }
    };
    let _ = writeln!(ready, "ok");
    drop(ready);
    // The build's first sidecar parsed the BPF object and the kernel's BTF to load the program
    // set (tens of MiB, now freed): give that memory back, so the long-running sidecar stays small.
    // SAFETY: malloc_trim only releases free heap pages.
    unsafe { libc::malloc_trim(0) };
    memory::release_startup_code();
    firewalled.serve()
}

/// The programs loaded and the policy's CIDRs in their maps: all but the proxy's address,
/// which exists once the container's network namespace does.
fn load_firewall(config: &SidecarConfig) -> Result<Firewall> {
    let policy = &config.policy;
    let fw_config = FirewallConfig {
        proxy_v4: None,
        proxy_v6: None,
        mode: match policy.mode() {
            Mode::Enforce => ebpf::Mode::Enforce,
            Mode::Audit => ebpf::Mode::Audit,
        },
        default_allow: policy.default_verdict() == Verdict::Allow,
        report_allowed: policy.log_level() == LogLevel::All,
        events_per_sec: EVENTS_PER_SEC,
        packet_socket_guard: config.packet_guard == PacketGuard::Lsm,
    };
    let firewall = Firewall::load(&fw_config)?;
    for cidr in policy.allow_cidrs() {
        firewall.allow_cidr(cidr.addr, cidr.prefix_len)?;
    }
    for cidr in policy.block_cidrs() {
        firewall.block_cidr(cidr.addr, cidr.prefix_len)?;
    }
    Ok(firewall)
}

/// The sidecar after set-up: programs attached and pinned, proxy sockets bound.
struct Firewalled {
    config: SidecarConfig,
    firewall: Firewall,
    udp: Vec<std::net::UdpSocket>,
    tcp: Vec<std::net::TcpListener>,
    recorder: Recorder,
    /// Where the runtime hands over seccomp listeners (packet-guard fallback).
    guard_socket: std::os::unix::net::UnixListener,
    /// Link and address changes of the container's network namespace.
    netns_changes: boundary::Watcher,
}

impl Firewalled {
    fn set_up(config: SidecarConfig, place: ContainerPlace, mut firewall: Firewall, container_dir: &Path) -> Result<Firewalled> {
        let recorder = Recorder::new(
            &config.log_dir,
            &config.id,
            config.policy.log_level(),
            match config.policy.mode() {
                Mode::Enforce => "enforce",
                Mode::Audit => "audit",
            },
            config.log_limits,
        )?;
        // Bound before entering the container's network namespace (a path socket does not
        // belong to one, but its directory must be resolved in ours).
        let guard_socket = bind_guard_socket(container_dir)?;
        // From here on this thread (the runtime's only I/O thread) lives in the container's
        // network namespace: the proxy's sockets, and the upstream sockets it makes per
        // query, belong there. They are outside the container's cgroup, so not redirected.
        boundary::refuse_host_netns(&place.netns)?;
        crate::netns::enter(&place.netns)?;
        crate::netns::bring_loopback_up()?;
        let (udp, tcp, proxy_v4, proxy_v6) = bind_proxy_sockets()?;
        firewall.set_dns_proxy(proxy_v4, proxy_v6)?;
        // Stale pins from a container of the same id that was not cleaned up.
        if config.pin_dir.exists() {
            Firewall::unpin(&config.pin_dir)?;
        }
        // The namespace's addresses and interfaces, followed from before the first look so no
        // change is missed; the upstreams may be reached past the boundary filter.
        let netns_changes = boundary::Watcher::open()?;
        let upstream_ips: Vec<IpAddr> = config.upstreams.iter().map(|u| u.ip()).collect();
        firewall.set_upstreams(&upstream_ips)?;
        firewall.attach(&place.cgroup)?;
        firewall.pin(&config.pin_dir)?;
        boundary::sync(&firewall)?;
        if config.packet_guard == PacketGuard::Lsm {
            if let Some(reason) = firewall.packet_socket_guard_unavailable() {
                // The runtime's probe said the kernel runs it: fail closed rather than leave
                // a CAP_NET_RAW container able to send frames past the firewall.
                bail!("the packet-socket guard did not load ({reason}); the container holds CAP_NET_RAW");
            }
        }
        let mut recorder = recorder;
        recorder.set_workload(config.workload.clone());
        recorder.set_search_list(config.search.clone());
        for warning in &config.warnings {
            recorder.add_warning(warning.clone());
        }
        if !config.warnings.is_empty() || !config.workload.is_empty() {
            let _ = recorder.flush_report();
        }
        if config.packet_guard == PacketGuard::Seccomp {
            // Not a gap, but a difference a user will notice: say it in the report.
            recorder.add_warning(
                "this kernel cannot run the BPF LSM packet-socket guard: a seccomp filter refuses \
                 AF_PACKET/AF_XDP sockets and io_uring instead (the container holds CAP_NET_RAW)"
                    .into(),
            );
            let _ = recorder.flush_report();
        }
        Ok(Firewalled { config, firewall, udp, tcp, recorder, guard_socket, netns_changes })
    }

    fn serve(self) -> Result<i32> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let local = tokio::task::LocalSet::new();
        local.block_on(&runtime, self.serve_async())
    }

    async fn serve_async(self) -> Result<i32> {
        use tokio::signal::unix::{signal, SignalKind};
        let Firewalled { config, firewall, udp, tcp, recorder, guard_socket, mut netns_changes } = self;
        let mut events = firewall.events()?;
        let firewall = Rc::new(firewall);
        let recorder = Rc::new(RefCell::new(recorder));
        let mut upstreams = Vec::new();
        for addr in &config.upstreams {
            // An upstream without a route is left out; with none left, allowed names get SERVFAIL.
            if let Ok(upstream) = upstream::Upstream::connect(*addr).await {
                upstreams.push(upstream);
            }
        }
        let upstreams = failover::Upstreams::new(upstreams);
        let proxy = Rc::new(proxy::Proxy::new(config.policy.clone(), firewall.clone(), recorder.clone(), upstreams));
        for socket in udp {
            socket.set_nonblocking(true)?;
            tokio::task::spawn_local(proxy.clone().serve_udp(tokio::net::UdpSocket::from_std(socket)?));
        }
        for listener in tcp {
            listener.set_nonblocking(true)?;
            tokio::task::spawn_local(proxy.clone().serve_tcp(tokio::net::TcpListener::from_std(listener)?));
        }
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut flush_now = signal(SignalKind::user_defined1())?;
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut ticks: u32 = 0;
        let mut next_housekeeping = std::time::Instant::now();
        guard_socket.set_nonblocking(true)?;
        let guard_socket = tokio::net::UnixListener::from_std(guard_socket)?;
        let (guard_tx, mut guard_events) = tokio::sync::mpsc::channel::<GuardEvent>(GUARD_EVENT_QUEUE);
        let refuse = config.policy.mode() == Mode::Enforce;
        loop {
            tokio::select! {
                Some(event) = guard_events.recv() => {
                    record_guard_event(refuse, &mut recorder.borrow_mut(), event);
                }
                accepted = guard_socket.accept() => {
                    if let Ok((stream, _)) = accepted {
                        take_guard_listener(stream, refuse, guard_tx.clone());
                    }
                }
                event = events.next() => {
                    if let Ok(event) = event {
                        abort_if_cut(&event, &mut recorder.borrow_mut());
                        record_kernel_event(&config.policy, &firewall, &mut recorder.borrow_mut(), event);
                    }
                }
                changed = netns_changes.changed() => {
                    let result = changed.and_then(|()| boundary::sync(&firewall));
                    if let Err(err) = result {
                        // Fail closed already: an unknown address is not a source, an interface
                        // without the boundary filter is reported, not silently left open.
                        tracing::warn!("following the network namespace: {err:#}");
                        recorder.borrow_mut().add_warning(format!("following the network namespace: {err:#}"));
                    }
                }
                _ = tick.tick() => {
                    proxy.prune_long_expired();
                    let mut rec = recorder.borrow_mut();
                    rec.release_held(false);
                    rec.add_suppressed(events.suppressed());
                    rec.note_suppressed();
                    rec.flush_log();
                    // Rewriting the report and trimming the heap stall the proxy while they run
                    // (milliseconds with thousands of names): at most 1 % of the time, so a big
                    // report is written less often than every second. `cgfw-runc report` asks
                    // for a fresh one (SIGUSR1 below) and the last is written at exit.
                    if std::time::Instant::now() >= next_housekeeping {
                        let started = std::time::Instant::now();
                        let _ = rec.flush_report();
                        // Bursts of queries leave freed buffers behind: hand them back.
                        // SAFETY: malloc_trim only releases free heap pages.
                        unsafe { libc::malloc_trim(0) };
                        next_housekeeping = started + (started.elapsed() * 100).max(Duration::from_secs(1));
                    }
                    ticks = ticks.saturating_add(1);
                    if ticks == 3 {
                        // The loop's own start-up (runtime, tasks, first report) is behind us.
                        memory::release_startup_code();
                    }
                }
                _ = flush_now.recv() => {
                    let mut rec = recorder.borrow_mut();
                    rec.add_suppressed(events.suppressed());
                    let _ = rec.rewrite_report();
                }
                _ = term.recv() => break,
                _ = interrupt.recv() => break,
            }
        }
        // Drain what the kernel already queued, then write the final report.
        let mut rec = recorder.borrow_mut();
        while let Some(event) = events.try_next() {
            record_kernel_event(&config.policy, &firewall, &mut rec, event);
        }
        while let Ok(event) = guard_events.try_recv() {
            record_guard_event(refuse, &mut rec, event);
        }
        rec.release_held(true);
        rec.add_suppressed(events.suppressed());
        rec.note_suppressed();
        rec.flush_report()?;
        Ok(0)
    }
}

fn bind_guard_socket(container_dir: &Path) -> Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let dir = File::open(container_dir).with_context(|| format!("opening {}", container_dir.display()))?;
    let path = packet_guard::short_socket_path(&dir, packet_guard::SOCKET_NAME);
    let _ = std::fs::remove_file(&path);
    let socket = std::os::unix::net::UnixListener::bind(&path)
        .with_context(|| format!("binding {}", container_dir.join(packet_guard::SOCKET_NAME).display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    Ok(socket)
}

/// A guarded call, as the listener thread saw it (cmdline read while the caller waited).
struct GuardEvent {
    pid: u32,
    cmdline: Option<Cmdline>,
    comm: Option<String>,
    call: GuardedCall,
}

/// Takes a seccomp listener from the runtime (it sends right after connecting) and answers its
/// notifications on a thread of its own: the kernel's RECV blocks.
fn take_guard_listener(stream: tokio::net::UnixStream, refuse: bool, events: tokio::sync::mpsc::Sender<GuardEvent>) {
    let Ok(stream) = stream.into_std() else { return };
    if stream.set_nonblocking(false).is_err() || stream.set_read_timeout(Some(Duration::from_secs(2))).is_err() {
        return;
    }
    let listener = match packet_guard::take_from_runtime(&stream) {
        Ok(l) => l,
        Err(err) => {
            tracing::warn!("packet guard: {err:#}");
            return;
        }
    };
    let spawned = std::thread::Builder::new().name("packet-guard".into()).spawn(move || {
        let fd = listener.as_raw_fd();
        loop {
            match packet_guard::receive(fd, 1000) {
                Ok(Some(n)) => {
                    let cmdline = cmdline::read(n.pid).filter(|c| !c.text.is_empty());
                    let comm = std::fs::read(format!("/proc/{}/comm", n.pid))
                        .ok()
                        .map(|raw| String::from_utf8_lossy(&raw).trim_end().to_string());
                    packet_guard::answer(fd, &n, refuse);
                    if events.blocking_send(GuardEvent { pid: n.pid, cmdline, comm, call: n.call }).is_err() {
                        break;
                    }
                }
                Ok(None) if events.is_closed() => break,
                Ok(None) => {}
                // Every process of this filter is gone.
                Err(_) => break,
            }
        }
    });
    if let Err(err) = spawned {
        tracing::warn!("packet guard: starting its thread: {err}");
    }
}

fn record_guard_event(refuse: bool, recorder: &mut Recorder, event: GuardEvent) {
    let proto = match event.call {
        GuardedCall::IoUringSetup => "io_uring",
        _ => "packet-socket",
    };
    let verdict = if refuse { EventVerdict::Blocked } else { EventVerdict::WouldBlock };
    let mut log_event = LogEvent {
        pid: Some(event.pid),
        comm: event.comm,
        ..LogEvent::new(recorder.container(), EventKind::Packet, proto, verdict, event.call.rule())
    };
    log_event.set_cmdline(event.cmdline);
    recorder.record(log_event);
}

/// UDP and TCP on 127.0.0.1:P and, where the namespace has IPv6, [::1]:P (same port).
#[allow(clippy::type_complexity)]
fn bind_proxy_sockets() -> Result<(Vec<std::net::UdpSocket>, Vec<std::net::TcpListener>, Option<SocketAddrV4>, Option<SocketAddrV6>)> {
    for _attempt in 0..16 {
        let udp4 = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the DNS proxy (udp)")?;
        let port = udp4.local_addr()?.port();
        let Ok(tcp4) = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)) else { continue };
        let mut udp = vec![udp4];
        let mut tcp = vec![tcp4];
        let mut v6 = None;
        if let (Ok(u), Ok(t)) = (
            std::net::UdpSocket::bind((Ipv6Addr::LOCALHOST, port)),
            std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, port)),
        ) {
            udp.push(u);
            tcp.push(t);
            v6 = Some(SocketAddrV6::new(Ipv6Addr::LOCALHOST, port, 0, 0));
        }
        return Ok((udp, tcp, Some(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)), v6));
    }
    bail!("could not bind the DNS proxy to one port for UDP and TCP on 127.0.0.1")
}

/// A TCP segment the egress filter dropped (not in audit mode): the connection cannot work,
/// so it is aborted now rather than left to retransmit for minutes (abort.rs). Each further
/// dropped segment of a connection already gone finds nothing, cheaply.
fn abort_if_cut(event: &ebpf::Event, recorder: &mut Recorder) {
    if !(event.kind == ebpf::EventKind::Packet
        && event.verdict == ebpf::Verdict::Blocked
        && event.proto == libc::IPPROTO_TCP as u8
        && event.cookie != 0)
    {
        return;
    }
    if let Err(err) = abort::abort_tcp(event.cookie) {
        tracing::warn!("aborting a cut TCP connection: {err}");
        recorder.add_warning(format!(
            "a TCP connection whose packets the firewall dropped could not be aborted ({err}): the program \
             retransmits until its own timeout"
        ));
    }
}

fn record_kernel_event(policy: &Policy, firewall: &Firewall, recorder: &mut Recorder, event: ebpf::Event) {
    let kind = match event.kind {
        ebpf::EventKind::Connect | ebpf::EventKind::Sendmsg => EventKind::Connect,
        ebpf::EventKind::Packet => EventKind::Packet,
        ebpf::EventKind::Multicast => EventKind::Multicast,
        ebpf::EventKind::Inbound => EventKind::Inbound,
        ebpf::EventKind::Boundary => EventKind::Boundary,
        // DNS is recorded by the proxy, with the name.
        _ => return,
    };
    let verdict = match event.verdict {
        ebpf::Verdict::Allowed => EventVerdict::Allowed,
        ebpf::Verdict::Blocked => EventVerdict::Blocked,
        ebpf::Verdict::WouldBlock => EventVerdict::WouldBlock,
        ebpf::Verdict::Unknown(_) => return,
    };
    let ip = event.daddr;
    // AF_PACKET/AF_XDP socket refused at creation: no destination yet.
    let packet_socket = event.reason == ebpf::Reason::PacketSocket;
    let rule = match event.reason {
        ebpf::Reason::PacketSocket => "packet sockets are not allowed in firewalled containers".into(),
        ebpf::Reason::BlockCidr | ebpf::Reason::AllowCidr => policy.decide_ip(ip).rule_name().to_string(),
        ebpf::Reason::AllowIp => "resolved by an allowed name".into(),
        ebpf::Reason::Expired => "address from an expired DNS answer".into(),
        ebpf::Reason::DefaultDeny => "default deny: no allowed name resolved to this address".into(),
        ebpf::Reason::DefaultAllow => "default allow".into(),
        ebpf::Reason::Loopback => "loopback".into(),
        ebpf::Reason::SpoofedSource => "source address is not one of the network namespace's own (forged)".into(),
        ebpf::Reason::LoopbackOffLo => "loopback or unspecified address outside the loopback device".into(),
        ebpf::Reason::LinkMessage => "neighbour discovery / MLD message from a process's socket, to a destination the policy does not allow".into(),
        other => format!("{other:?}").to_lowercase(),
    };
    let rule = match event.kind {
        // From cgroup/setsockopt, proto is the option's level (SOL_IP 0, SOL_IPV6 41); from the
        // boundary filter, the report's protocol (IGMP 2, ICMPv6 58).
        ebpf::EventKind::Multicast if matches!(event.proto, 2 | 58) => {
            format!("membership report the kernel sent naming a group or source the policy does not allow (a join no hook saw, e.g. a 32-bit setsockopt): {rule}")
        }
        ebpf::EventKind::Multicast => format!("multicast join or source filter ({}): {rule}", sockopt_name(event.proto, event.dport)),
        ebpf::EventKind::Inbound => format!("inbound from a source the policy does not allow: {rule}"),
        ebpf::EventKind::Boundary => format!("sent by the kernel for the namespace: {rule}"),
        _ => rule,
    };
    let pid = (event.tgid != 0).then_some(event.tgid);
    // /proc while the process lives; else argv as the kernel recorded it at exec (a blocked
    // tool has usually exited by now). An entry that started after the event is a reused pid.
    let cmdline = pid.and_then(|p| {
        recorder.cmdline(p).filter(|c| !c.text.is_empty()).or_else(|| {
            firewall
                .exec_info(p)
                .filter(|i| i.start_time_ns <= event.ts_ns)
                .map(|i| Cmdline::new(i.cmdline, i.truncated))
        })
    });
    let multicast = event.kind == ebpf::EventKind::Multicast;
    let proto = match event.proto {
        _ if packet_socket => "packet-socket".to_string(),
        _ if multicast => "multicast".to_string(),
        6 => "tcp".to_string(),
        17 => "udp".to_string(),
        1 => "icmp".to_string(),
        58 => "icmpv6".to_string(),
        n => format!("ip-proto-{n}"),
    };
    let domain = if packet_socket { None } else { recorder.domain_of(pid, &ip) };
    let mut log_event = LogEvent {
        pid,
        comm: Some(event.comm).filter(|c| !c.is_empty()),
        domain,
        ip: (!packet_socket).then_some(ip),
        port: (!packet_socket && !multicast && event.dport != 0).then_some(event.dport),
        ..LogEvent::new(recorder.container(), kind, &proto, verdict, rule)
    };
    log_event.set_cmdline(cmdline);
    recorder.record(log_event);
}

/// The setsockopt option a multicast event names (level SOL_IP 0 / SOL_IPV6 41).
fn sockopt_name(level: u8, option: u16) -> String {
    let name = match (level, option) {
        (0, 35) => "IP_ADD_MEMBERSHIP",
        (0, 37) => "IP_UNBLOCK_SOURCE",
        (0, 38) => "IP_BLOCK_SOURCE",
        (0, 39) => "IP_ADD_SOURCE_MEMBERSHIP",
        (0, 40) => "IP_DROP_SOURCE_MEMBERSHIP",
        (0, 41) => "IP_MSFILTER",
        (41, 20) => "IPV6_ADD_MEMBERSHIP",
        (41, 27) => "IPV6_JOIN_ANYCAST",
        (_, 42) => "MCAST_JOIN_GROUP",
        (_, 43) => "MCAST_BLOCK_SOURCE",
        (_, 44) => "MCAST_UNBLOCK_SOURCE",
        (_, 46) => "MCAST_JOIN_SOURCE_GROUP",
        (_, 48) => "MCAST_MSFILTER",
        _ => return format!("level {level} option {option}"),
    };
    name.to_string()
}

/// The resolv.conf the container will see: a bind mount over /etc/resolv.conf (as podman's
/// --dns and the CRI make), else the rootfs's own file. None if it cannot be read.
pub fn resolv_conf_of(spec: &oci_spec::runtime::Spec, bundle: &Path) -> Option<String> {
    let mounted = spec.mounts().as_ref().and_then(|mounts| {
        mounts
            .iter()
            .rev()
            .find(|m| m.destination() == Path::new("/etc/resolv.conf"))
            .and_then(|m| m.source().clone())
    });
    let file = mounted.unwrap_or_else(|| {
        let root = spec.root().as_ref().map(|r| r.path().clone()).unwrap_or_else(|| PathBuf::from("rootfs"));
        let root = if root.is_absolute() { root } else { bundle.join(root) };
        root.join("etc/resolv.conf")
    });
    use std::io::Read;
    let mut text = String::new();
    // A resolv.conf is a few hundred bytes; a huge file is not one.
    File::open(file).ok()?.take(64 << 10).read_to_string(&mut text).ok()?;
    Some(text)
}

/// The upstream resolvers for a container: the policy's, else the nameservers of its
/// resolv.conf ([`resolv_conf_of`]).
pub fn upstreams_for(policy: &Policy, resolv_conf: Option<&str>) -> Vec<SocketAddr> {
    if !policy.dns_upstreams().is_empty() {
        return policy.dns_upstreams().to_vec();
    }
    resolv_conf.map(parse_nameservers).unwrap_or_default()
}

fn parse_nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            // Drop a zone suffix (fe80::1%eth0): link-local resolvers are not supported.
            let ip: IpAddr = words.next()?.split('%').next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .take(3)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_come_from_resolv_conf() {
        let text = "# comment\nsearch x\nnameserver 198.18.0.1\nnameserver fd00:cf::1\nnameserver bogus\noptions ndots:1\n";
        let got = parse_nameservers(text);
        assert_eq!(got, vec!["198.18.0.1:53".parse().unwrap(), "[fd00:cf::1]:53".parse().unwrap()]);
    }
}
