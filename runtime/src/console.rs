//! Terminals of `run`, `create` and `exec`, handled as runc handles them.
//!
//! libcontainer 0.7 creates the container's pseudo-terminal inside the container (after
//! pivot_root, from the container's devpts) and sends its master over a console socket, as
//! runc does. What it leaves out, and this module adds:
//!
//! - A foreground `run -t` / `exec -t` (no `--console-socket`): runc receives the master itself
//!   and relays it to its own stdio (libcontainer would just inherit our stdio). Here the
//!   master goes to a private socket of ours and [`Relay`] copies stdin to it and it to stdout,
//!   with the host terminal (if any) in raw mode, its size given to the container's terminal
//!   and SIGWINCH resizing it, ONLCR cleared on the container's terminal (as runc).
//! - The terminal's owner: runc makes the process's uid own its stdio (the gid, 5 from the
//!   devpts mount, stays); libcontainer leaves root as the owner.
//! - `process.consoleSize`: runc sizes the terminal with it; libcontainer ignores it.
//!
//! So every terminal goes through a [`Broker`]: libcontainer is given the broker's socket; a
//! thread of ours receives the master, chowns the terminal, sizes it, and then hands the master
//! on, to the caller's `--console-socket` (connected before the build, so a bad path fails as
//! with runc) or to the foreground relay. An exec'd process can run as soon as its build
//! returns, so an exec'd process waits for the broker before its final exec: the executor
//! reads one byte from a pipe the broker writes once the terminal is ready (bounded wait). A
//! container's init needs no wait: `create`/`run` return, and so `start` comes, only once the
//! broker is done.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags, UnixAddr};
use nix::sys::termios::{self, SetArg, Termios};

/// How long the container process waits for the broker before its final exec. The broker
/// answers as soon as it has the master (sent before the process can get there), so this
/// bound only matters if the runtime died in between.
pub const EXECUTOR_WAIT: Duration = Duration::from_secs(10);

/// runc's checkTerminal: a console socket is for a detached process with a terminal, and a
/// detached process with a terminal needs one.
pub fn check_terminal(terminal: bool, detach: bool, console_socket: Option<&Path>) -> Result<()> {
    if detach && terminal && console_socket.is_none() {
        bail!("cannot allocate tty if runc will detach without setting console socket");
    }
    if (!detach || !terminal) && console_socket.is_some() {
        bail!("cannot use console socket if runc will not detach or allocate tty");
    }
    Ok(())
}

/// What the terminal is set up for.
pub struct Terminal {
    /// Host uid that is to own the terminal (the process's uid, mapped out of its user
    /// namespace); `None`: leave the owner.
    pub owner: Option<u32>,
    /// `process.consoleSize` (rows, columns).
    pub size: Option<(u16, u16)>,
}

impl Terminal {
    /// The terminal of `process`, in a container whose spec is `spec` (for the uid mapping).
    pub fn of(process: &oci_spec::runtime::Process, spec: Option<&oci_spec::runtime::Spec>) -> Terminal {
        let uid = process.user().uid();
        let owner = match spec.and_then(|s| s.linux().as_ref()).and_then(|l| l.uid_mappings().as_ref()) {
            Some(maps) if !maps.is_empty() => maps
                .iter()
                .find(|m| uid >= m.container_id() && uid - m.container_id() < m.size())
                .map(|m| m.host_id() + (uid - m.container_id())),
            _ => Some(uid),
        };
        let size = process.console_size().as_ref().map(|b| (b.height() as u16, b.width() as u16));
        Terminal { owner, size }
    }
}

/// Where the master goes once the terminal is ready.
pub enum Target {
    /// To us: `run`/`exec` in the foreground relay it.
    Foreground,
    /// To the caller's `--console-socket` (already connected).
    Forward(UnixStream),
}

impl Target {
    /// The caller's console socket, connected now (a bad path fails before anything is built).
    pub fn forward_to(path: &Path) -> Result<Target> {
        let stream = UnixStream::connect(path)
            .with_context(|| format!("connecting to console socket {}", path.display()))?;
        Ok(Target::Forward(stream))
    }
}

/// Receives the master from libcontainer, sets the terminal up and hands it on (module doc).
pub struct Broker {
    dir: PathBuf,
    socket: PathBuf,
    sync_read: OwnedFd,
    cancel: Arc<AtomicBool>,
    done: mpsc::Receiver<Result<Option<OwnedFd>>>,
    foreground: bool,
}

impl Broker {
    /// Starts the broker: a private listening socket (give [`Broker::socket`] to libcontainer)
    /// and its thread. Its fds are kept at or above `min_fd` (the container's preserved fds
    /// and the packet guard's listener sit below).
    pub fn start(target: Target, terminal: Terminal, min_fd: RawFd) -> Result<Broker> {
        let dir = private_dir()?;
        let socket = dir.join("console.sock");
        let listener = UnixListener::bind(&socket).with_context(|| format!("binding {}", socket.display()))?;
        let listener = UnixListener::from(raise_fd(OwnedFd::from(listener), min_fd)?);
        listener.set_nonblocking(true)?;
        let (sync_read, sync_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).context("creating the terminal sync pipe")?;
        let sync_read = raise_fd(sync_read, min_fd)?;
        let sync_write = raise_fd(sync_write, min_fd)?;
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, done) = mpsc::channel();
        let foreground = matches!(target, Target::Foreground);
        let thread_cancel = cancel.clone();
        std::thread::Builder::new()
            .name("console".into())
            .spawn(move || {
                let result = broker_thread(listener, target, terminal, sync_write, &thread_cancel);
                let _ = tx.send(result);
            })
            .context("starting the console thread")?;
        Ok(Broker { dir, socket, sync_read, cancel, done, foreground })
    }

    /// The socket libcontainer is to send the master to.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The fd the container process reads before its final exec (see [`crate::commands`]'s
    /// executor); present in it as in us, since libcontainer clones without exec.
    pub fn executor_sync_fd(&self) -> RawFd {
        self.sync_read.as_raw_fd()
    }

    /// After a successful build: waits for the broker to have set the terminal up and handed
    /// it on; the master for a foreground broker.
    pub fn finish(self) -> Result<Option<OwnedFd>> {
        let result = match self.done.recv_timeout(Duration::from_secs(30)) {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("no terminal received from the container")),
        };
        let master = result.context("setting up the container's terminal")?;
        if self.foreground && master.is_none() {
            bail!("no terminal received from the container");
        }
        Ok(master)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.cancel.store(true, Ordering::Relaxed);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn private_dir() -> Result<PathBuf> {
    let base = std::env::temp_dir();
    let template = base.join("cgfw-runc-console.XXXXXX");
    nix::unistd::mkdtemp(&template).with_context(|| format!("creating a private directory in {}", base.display()))
}

/// The same open file at an fd number >= `min_fd` (close-on-exec).
fn raise_fd<F: Into<OwnedFd>>(fd: F, min_fd: RawFd) -> Result<OwnedFd> {
    let fd: OwnedFd = fd.into();
    if fd.as_raw_fd() >= min_fd {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on an fd we own returns a new fd that we then own.
    let moved = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min_fd) };
    if moved < 0 {
        return Err(std::io::Error::last_os_error()).context("moving an fd");
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(moved) })
}

fn broker_thread(
    listener: UnixListener,
    target: Target,
    terminal: Terminal,
    sync_write: OwnedFd,
    cancel: &AtomicBool,
) -> Result<Option<OwnedFd>> {
    // Whatever happens, the container process is let go (it waits for this byte).
    struct Release(OwnedFd);
    impl Drop for Release {
        fn drop(&mut self) {
            let _ = nix::unistd::write(&self.0, b"t");
        }
    }
    let release = Release(sync_write);

    let conn = loop {
        match listener.accept() {
            Ok((conn, _)) => break conn,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if cancel.load(Ordering::Relaxed) {
                    bail!("cancelled");
                }
                let fd = std::os::fd::AsFd::as_fd(&listener);
                let mut fds = [nix::poll::PollFd::new(fd, nix::poll::PollFlags::POLLIN)];
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e).context("accepting the console connection"),
        }
    };
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    let (name, master) = receive_fd(&conn)?;

    if matches!(target, Target::Foreground) {
        // As runc's recvtty: "\n" stays "\n" on its way out.
        clear_onlcr(&master)?;
    }
    if let Some((rows, cols)) = terminal.size.filter(|(r, c)| *r > 0 && *c > 0) {
        set_size(master.as_raw_fd(), rows, cols)?;
    }
    if matches!(target, Target::Foreground) {
        // The host terminal's size, as runc's resize after start, but before the process can
        // look (an exec'd process runs as soon as it is released).
        if let Some(host) = host_console() {
            resize_from(host.as_raw_fd(), master.as_raw_fd());
        }
    }
    if let Some(uid) = terminal.owner {
        chown_peer(&master, uid)?;
    }
    drop(release);

    match target {
        Target::Foreground => Ok(Some(master)),
        Target::Forward(stream) => {
            let fds = [master.as_raw_fd()];
            let iov = [IoSlice::new(&name)];
            sendmsg::<UnixAddr>(stream.as_raw_fd(), &iov, &[ControlMessage::ScmRights(&fds)], MsgFlags::empty(), None)
                .context("sending the terminal to the console socket")?;
            Ok(None)
        }
    }
}

/// One message with one fd (SCM_RIGHTS), as libcontainer's setup_console sends it.
fn receive_fd(conn: &UnixStream) -> Result<(Vec<u8>, OwnedFd)> {
    let mut buf = vec![0u8; 4096];
    let mut cmsg = nix::cmsg_space!([RawFd; 4]);
    let (bytes, fds) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = loop {
            match recvmsg::<UnixAddr>(conn.as_raw_fd(), &mut iov, Some(&mut cmsg), MsgFlags::MSG_CMSG_CLOEXEC) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => break other.context("receiving the terminal from the container")?,
            }
        };
        let mut fds = Vec::new();
        for c in msg.cmsgs().context("reading the control message")? {
            if let ControlMessageOwned::ScmRights(r) = c {
                fds.extend(r);
            }
        }
        (msg.bytes, fds)
    };
    // SAFETY: the kernel just installed these fds in this process; nothing else owns them.
    let mut owned: Vec<OwnedFd> = fds.into_iter().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }).collect();
    if owned.is_empty() {
        bail!("the container sent no terminal");
    }
    buf.truncate(bytes);
    Ok((buf, owned.swap_remove(0)))
}

fn clear_onlcr(master: &OwnedFd) -> Result<()> {
    let mut t = termios::tcgetattr(master).context("reading the terminal's settings")?;
    t.output_flags.remove(termios::OutputFlags::ONLCR);
    termios::tcsetattr(master, SetArg::TCSANOW, &t).context("clearing ONLCR")?;
    Ok(())
}

fn set_size(fd: RawFd, rows: u16, cols: u16) -> Result<()> {
    let ws = libc::winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize that lives for the call.
    if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } < 0 {
        return Err(std::io::Error::last_os_error()).context("setting the terminal size");
    }
    Ok(())
}

fn get_size(fd: RawFd) -> Option<libc::winsize> {
    let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCGWINSZ writes a winsize that lives for the call.
    (unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) } == 0).then_some(ws)
}

/// runc's fixStdioPermissions for a terminal: its owner becomes the process's uid, its group
/// stays (the devpts mount's, 5). Done from outside, on the peer of the master.
fn chown_peer(master: &OwnedFd, uid: u32) -> Result<()> {
    // SAFETY: TIOCGPTPEER returns a new fd (or -1) for the master's terminal.
    let peer = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if peer < 0 {
        return Err(std::io::Error::last_os_error()).context("opening the container's terminal");
    }
    // SAFETY: the fd was just returned to us.
    let peer = unsafe { OwnedFd::from_raw_fd(peer) };
    let st = nix::sys::stat::fstat(peer.as_raw_fd()).context("stat of the container's terminal")?;
    if st.st_uid == uid {
        return Ok(());
    }
    match nix::unistd::fchown(peer.as_raw_fd(), Some(nix::unistd::Uid::from_raw(uid)), Some(nix::unistd::Gid::from_raw(st.st_gid))) {
        // As runc: an owner or group not mapped in a user namespace is left alone.
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::EPERM) => Ok(()),
        Err(e) => Err(e).context("changing the owner of the container's terminal"),
    }
}

/// In the container process, right before its final exec: waits (bounded) for the broker to
/// have set the terminal up. Async-signal-safe enough: poll and read only.
pub fn wait_for_broker(fd: RawFd) {
    let deadline = Instant::now() + EXECUTOR_WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
        // SAFETY: poll on one pollfd that lives for the call.
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if n > 0 {
            let mut b = 0u8;
            // SAFETY: read of one byte into a local.
            unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
            return;
        }
        if n == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

/// The terminal of the caller of a foreground `run -t`/`exec -t`, as runc finds it: stderr,
/// stdout or stdin if one is a terminal, else /dev/tty. None: there is none (runc fails then;
/// we relay without one).
fn host_console() -> Option<OwnedFd> {
    for fd in [2, 1, 0] {
        // SAFETY: isatty on a plain fd number.
        if unsafe { libc::isatty(fd) } == 1 {
            // SAFETY: fd is open (isatty succeeded); the borrow lives for the dup.
            return nix::unistd::dup(fd).ok().map(|d| unsafe { OwnedFd::from_raw_fd(d) });
        }
    }
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open("/dev/tty")
        .ok()
        .map(OwnedFd::from)
}

/// The foreground relay (module doc). Dropping it puts the host terminal back.
pub struct Relay {
    host: Option<(Arc<OwnedFd>, Termios)>,
    output: mpsc::Receiver<()>,
    winch: Option<signal_hook::iterator::Handle>,
}

impl Relay {
    /// Starts copying: stdin to the container's terminal, the terminal to stdout; the host
    /// terminal (if any) goes raw, and its size (now and on SIGWINCH) is the container's.
    pub fn start(master: OwnedFd) -> Relay {
        let master = Arc::new(master);
        let host = host_console().and_then(|fd| {
            let saved = termios::tcgetattr(&fd).ok()?;
            Some((Arc::new(fd), saved))
        });
        let mut winch = None;
        if let Some((fd, saved)) = &host {
            resize_from(fd.as_raw_fd(), master.as_raw_fd());
            let mut raw = saved.clone();
            termios::cfmakeraw(&mut raw);
            let _ = termios::tcsetattr(&**fd, SetArg::TCSANOW, &raw);
            if let Ok(mut signals) = signal_hook::iterator::Signals::new([libc::SIGWINCH]) {
                winch = Some(signals.handle());
                let (host, master) = (fd.clone(), master.clone());
                let _ = std::thread::Builder::new().name("tty-winch".into()).spawn(move || {
                    for _ in signals.forever() {
                        resize_from(host.as_raw_fd(), master.as_raw_fd());
                    }
                });
            }
        }

        let input = master.clone();
        // Ends with stdin (EOF, error) or with the process; never waited for.
        let _ = std::thread::Builder::new().name("tty-in".into()).spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 8192];
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => return,
                };
                if write_all_fd(input.as_raw_fd(), &buf[..n]).is_err() {
                    return;
                }
            }
        });
        let (tx, output) = mpsc::channel();
        let _ = std::thread::Builder::new().name("tty-out".into()).spawn(move || {
            let mut buf = [0u8; 8192];
            loop {
                // EIO once no process holds the terminal any more.
                match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        let mut stdout = std::io::stdout().lock();
                        if stdout.write_all(&buf[..n]).and_then(|()| stdout.flush()).is_err() {
                            break;
                        }
                    }
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(_) => break,
                }
            }
            let _ = tx.send(());
        });
        Relay { host, output, winch }
    }

    /// After the process ended: the rest of its output (until its terminal has no holder,
    /// bounded), then the host terminal as it was (drop).
    pub fn finish(self) {
        let _ = self.output.recv_timeout(Duration::from_secs(5));
    }
}

fn resize_from(host: RawFd, master: RawFd) {
    if let Some(ws) = get_size(host).filter(|ws| ws.ws_row > 0 && ws.ws_col > 0) {
        let _ = set_size(master, ws.ws_row, ws.ws_col);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(h) = self.winch.take() {
            h.close();
        }
        if let Some((fd, saved)) = &self.host {
            let _ = termios::tcsetattr(&**fd, SetArg::TCSANOW, saved);
        }
    }
}

fn write_all_fd(fd: RawFd, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        // SAFETY: the fd is alive for the call (held by the Arc); data is a live slice.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_checks_are_runcs() {
        let sock = Path::new("/run/x.sock");
        assert!(check_terminal(true, true, Some(sock)).is_ok());
        assert!(check_terminal(true, false, None).is_ok());
        assert!(check_terminal(false, true, None).is_ok());
        assert!(check_terminal(false, false, None).is_ok());
        let e = check_terminal(true, true, None).unwrap_err().to_string();
        assert!(e.contains("cannot allocate tty if runc will detach without setting console socket"), "{e}");
        for (terminal, detach) in [(true, false), (false, true), (false, false)] {
            let e = check_terminal(terminal, detach, Some(sock)).unwrap_err().to_string();
            assert!(e.contains("cannot use console socket if runc will not detach or allocate tty"), "{e}");
        }
    }

    #[test]
    fn terminal_owner_is_the_process_uid_mapped_out_of_its_user_namespace() {
        let mut process = oci_spec::runtime::Process::default();
        let mut user = process.user().clone();
        user.set_uid(1000);
        process.set_user(user);
        process.set_console_size(Some(oci_spec::runtime::BoxBuilder::default().height(10u64).width(110u64).build().unwrap()));
        let t = Terminal::of(&process, None);
        assert_eq!(t.owner, Some(1000));
        assert_eq!(t.size, Some((10, 110)));

        let mapping = oci_spec::runtime::LinuxIdMappingBuilder::default()
            .container_id(0u32)
            .host_id(100000u32)
            .size(65536u32)
            .build()
            .unwrap();
        let mut spec = oci_spec::runtime::Spec::default();
        let mut linux = spec.linux().clone().unwrap_or_default();
        linux.set_uid_mappings(Some(vec![mapping]));
        spec.set_linux(Some(linux));
        assert_eq!(Terminal::of(&process, Some(&spec)).owner, Some(101000));
    }
}
