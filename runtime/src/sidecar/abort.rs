//! Aborting a TCP connection whose packets the firewall drops, so that the program sees an
//! error at once instead of retransmitting into a black hole for minutes.
//!
//! The egress filter refuses a TCP socket's packets only when the connection never passed the
//! connect check as it stands (a connect that did pass is bound to its peer and lives on, see
//! ebpf's `cgfw_pkt_on_connection`): a socket bound to a foreign source address (IP_FREEBIND),
//! one connected by a process outside the container and handed in, a connection to an
//! address a block rule covers. The kernel gives the sender no error for a dropped segment:
//! TCP just retransmits (a SYN for about two minutes, data for up to fifteen). So when the
//! sidecar reads such a drop from the ring buffer, it destroys the socket through the kernel's
//! sock_diag interface (SOCK_DESTROY, CONFIG_INET_DIAG_DESTROY; needs CAP_NET_ADMIN in the
//! namespace, which the sidecar has): the program's next call fails with ECONNABORTED and
//! the peer gets a reset.
//!
//! The event names the socket by its cookie. SOCK_DESTROY wants the socket's addresses too,
//! so the namespace's TCP sockets are listed (a dump of each address family, filtered by
//! nothing: a container's namespace holds few) and the one with that cookie is destroyed.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// netlink message types and flags (linux/sock_diag.h, linux/netlink.h).
const SOCK_DIAG_BY_FAMILY: u16 = 20;
const SOCK_DESTROY: u16 = 21;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const ALL_TCP_STATES: u32 = !0;

/// struct inet_diag_sockid: ports and addresses in network order, the cookie as two host
/// order halves (low first).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SockId {
    sport: u16,
    dport: u16,
    src: [u32; 4],
    dst: [u32; 4],
    ifindex: u32,
    cookie: [u32; 2],
}

/// struct inet_diag_req_v2.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Request {
    family: u8,
    protocol: u8,
    ext: u8,
    pad: u8,
    states: u32,
    id: SockId,
}

/// struct nlmsghdr followed by the request.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Message {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
    req: Request,
}

const HEADER: usize = 16;
/// Offset of the sockid in a struct inet_diag_msg (family, state, timer, retrans).
const MSG_ID_OFFSET: usize = 4;

/// Destroys the TCP socket with this cookie in the caller's network namespace. Ok(false) if
/// no such socket exists (any more).
pub fn abort_tcp(cookie: u64) -> io::Result<bool> {
    let socket = open()?;
    for family in [libc::AF_INET as u8, libc::AF_INET6 as u8] {
        if let Some(id) = find(&socket, family, cookie)? {
            destroy(&socket, family, id)?;
            return Ok(true);
        }
    }
    Ok(false)
}

fn open() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned from here on.
    let fd = unsafe { libc::socket(libc::AF_NETLINK, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, libc::NETLINK_SOCK_DIAG) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just created and is not owned elsewhere.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // A dump of a quiet namespace answers at once; never wait long on the event loop.
    let timeout = libc::timeval { tv_sec: 0, tv_usec: 200_000 };
    // SAFETY: setsockopt with a timeval of the right size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&timeout as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        );
    }
    Ok(socket)
}

fn send(socket: &OwnedFd, kind: u16, flags: u16, req: Request) -> io::Result<()> {
    let msg = Message { len: std::mem::size_of::<Message>() as u32, kind, flags, seq: 1, pid: 0, req };
    // SAFETY: Message is repr(C) plain data; the kernel is the destination (no address: the
    // socket is unbound and unconnected, netlink sends to the kernel by default).
    let sent = unsafe {
        libc::send(socket.as_raw_fd(), (&msg as *const Message).cast(), std::mem::size_of::<Message>(), 0)
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn recv(socket: &OwnedFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: buf is writable for its length.
    let n = unsafe { libc::recv(socket.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Dumps the family's TCP sockets; returns the id of the one with this cookie.
fn find(socket: &OwnedFd, family: u8, cookie: u64) -> io::Result<Option<SockId>> {
    let req = Request {
        family,
        protocol: libc::IPPROTO_TCP as u8,
        states: ALL_TCP_STATES,
        id: SockId { cookie: [!0, !0], ..SockId::default() }, // INET_DIAG_NOCOOKIE
        ..Request::default()
    };
    send(socket, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, req)?;
    let mut buf = vec![0u8; 32 * 1024];
    let mut found = None;
    loop {
        let n = recv(socket, &mut buf)?;
        let mut off = 0;
        while off + HEADER <= n {
            let len = u32::from_ne_bytes(buf[off..off + 4].try_into().unwrap()) as usize;
            let kind = u16::from_ne_bytes(buf[off + 4..off + 6].try_into().unwrap());
            if len < HEADER || off + len > n {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "truncated sock_diag message"));
            }
            match kind {
                NLMSG_DONE => return Ok(found),
                NLMSG_ERROR => return Err(netlink_error(&buf[off + HEADER..off + len])),
                SOCK_DIAG_BY_FAMILY if found.is_none() => {
                    let body = &buf[off + HEADER..off + len];
                    let id_end = MSG_ID_OFFSET + std::mem::size_of::<SockId>();
                    if body.len() >= id_end {
                        // SAFETY: SockId is plain data and the slice holds enough bytes.
                        let id: SockId = unsafe { std::ptr::read_unaligned(body[MSG_ID_OFFSET..].as_ptr().cast()) };
                        if (u64::from(id.cookie[1]) << 32 | u64::from(id.cookie[0])) == cookie {
                            found = Some(id);
                        }
                    }
                }
                _ => {}
            }
            off += (len + 3) & !3;
        }
    }
}

fn destroy(socket: &OwnedFd, family: u8, id: SockId) -> io::Result<()> {
    let req = Request { family, protocol: libc::IPPROTO_TCP as u8, states: ALL_TCP_STATES, id, ..Request::default() };
    send(socket, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, req)?;
    let mut buf = [0u8; 512];
    let n = recv(socket, &mut buf)?;
    if n < HEADER + 4 || u16::from_ne_bytes(buf[4..6].try_into().unwrap()) != NLMSG_ERROR {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "no acknowledgement from sock_diag"));
    }
    match netlink_error(&buf[HEADER..n]) {
        e if e.raw_os_error() == Some(0) => Ok(()),
        e => Err(e),
    }
}

/// struct nlmsgerr starts with the negated errno (0: an acknowledgement).
fn netlink_error(body: &[u8]) -> io::Error {
    let code = body.get(..4).map_or(libc::EPROTO, |b| -i32::from_ne_bytes(b.try_into().unwrap()));
    io::Error::from_raw_os_error(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};

    fn cookie(stream: &TcpStream) -> u64 {
        let mut cookie = 0u64;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        // SAFETY: SO_COOKIE writes a u64.
        let r = unsafe {
            libc::getsockopt(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_COOKIE, (&mut cookie as *mut u64).cast(), &mut len)
        };
        assert_eq!(r, 0, "SO_COOKIE");
        cookie
    }

    /// A real connection on loopback (root only: SOCK_DESTROY needs CAP_NET_ADMIN): after the
    /// abort, the client's read fails with ECONNABORTED at once and the server sees a reset
    /// or the end; an unknown cookie finds nothing.
    #[test]
    fn an_aborted_connection_fails_at_once_on_both_ends() {
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root");
            return;
        }
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(listener) = TcpListener::bind(bind) else { continue };
            let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
            let (mut server, _) = listener.accept().unwrap();
            client.write_all(b"x").unwrap();
            let mut b = [0u8; 1];
            server.read_exact(&mut b).unwrap();

            assert!(abort_tcp(cookie(&client)).unwrap(), "{bind}: socket found");
            client.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            let err = client.read(&mut b).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ECONNABORTED), "{bind}: client error");
            server.set_read_timeout(Some(std::time::Duration::from_secs(5))).unwrap();
            match server.read(&mut b) {
                Ok(0) => {}
                Err(e) => assert_eq!(e.raw_os_error(), Some(libc::ECONNRESET), "{bind}: server error"),
                Ok(n) => panic!("{bind}: server read {n} bytes"),
            }
        }
        assert!(!abort_tcp(0x7fff_ffff_ffff_fff1).unwrap(), "no socket has that cookie");
    }
}
