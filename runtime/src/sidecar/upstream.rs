//! Upstream resolvers, reached from the container's network namespace, where a container that
//! holds CAP_NET_RAW can send raw packets claiming to come from the resolver and can read
//! /proc/net/udp. So every UDP query gets its own socket: the kernel picks a random source
//! port, the socket is connected to the upstream (the kernel delivers only datagrams from the
//! upstream's address and port), and it is closed after the answer or the timeout; a
//! long-lived socket would show its port for the proxy's whole life. The query carries a
//! random id and its question name in random letter case (DNS 0x20, see upstream_query.rs),
//! and only an answer with that id and that exact question is taken: a forger has to hit
//! port, id and case while the query is in flight. Anything else that arrives is counted as
//! refused (suspected forgery), at once (also on an exchange then dropped because another
//! upstream answered first, failover.rs), and the query keeps waiting for the real answer
//! until its deadline: a forged answer cannot cut the exchange short. An ICMP error on the
//! socket (port unreachable) does end the exchange, so that the query fails over to the next
//! upstream at once: a forged one (which the egress filter's anti-spoofing stops from inside
//! the container anyway) can only do that, or fail the query, never have an answer taken.
//! TCP (for truncated answers) uses a connection per exchange with the same id and question
//! checks. The same query sent to several upstreams (failover.rs) is an exchange on each, with
//! a socket, an id and a case of its own.
//!
//! The container sees the port of a socket in flight (/proc/net/udp), so against it the UDP
//! secret is the id and the case: 16 bits plus one per letter. Every wrong guess that reaches
//! a socket is refused and counted, so forging shows itself long before it can succeed: an
//! exchange that saw a refused message is asked again over TCP (its UDP answer is not used),
//! and the upstream is asked over TCP only until no message has been refused for
//! [`TCP_AFTER_REFUSAL`]. A blind TCP injection also has to hit the connection's sequence and
//! acknowledgement numbers. README.md ("DNS proxy: upstream answers that cannot be forged
//! blind") gives the entropy and the measured cost.
//!
//! Cost: making a socket (and registering it with the event loop) and closing it are about a
//! third of the proxy's CPU per query. Neither needs to happen while a client waits: a few
//! sockets are made ahead of time and kept *unbound and unconnected* (no port: nothing can
//! reach them, and /proc/net/udp does not list them); a query takes one, `connect` gives it its
//! random port right then, and after the query it is closed, never reused. Closing and
//! replenishing happen in [`Upstream::tidy`], which the proxy calls after the client has its
//! answer. So the exposure of each port is what it was (from the query to its answer, plus
//! the moment until the reply is out), and each socket still carries exactly one query. An
//! exchange dropped before its end (another upstream answered first) leaves its socket to the
//! same `tidy`.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::TcpStream;
#[cfg(test)]
use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Instant};

use super::upstream_query::{Outgoing, Refusal};

/// After a refused (suspected forged) message, queries to that upstream go over TCP for this
/// long, counted from the last refusal.
pub const TCP_AFTER_REFUSAL: Duration = Duration::from_secs(60);
/// Largest UDP answer read; anything that fills it is treated as truncated (retried on TCP).
const UDP_ANSWER_BUFFER: usize = 4096;
/// Unbound sockets kept ready per upstream. A burst that takes more makes the rest in line.
const SPARE_SOCKETS: usize = 8;
/// Used sockets waiting to be closed; beyond this they are closed at once.
const MAX_SPENT: usize = 64;

pub struct Upstream {
    addr: SocketAddr,
    /// Messages refused on this upstream's sockets and connections since the start.
    refused_total: Cell<u64>,
    /// When the last message was refused: UDP is not used until TCP_AFTER_REFUSAL after it.
    last_refusal: Cell<Option<Instant>>,
    /// Fresh sockets, neither bound nor connected (no port yet), each for one query.
    spare: RefCell<Vec<QuerySocket>>,
    /// Sockets whose query is over, closed by `tidy` (off the client's path).
    spent: RefCell<Vec<QuerySocket>>,
    /// Where UDP answers are read (one at a time: the runtime has one thread and no read
    /// holds it across an await).
    buffer: RefCell<Box<[u8]>>,
}

/// A UDP socket for one upstream query, watched for reading by the event loop.
type QuerySocket = AsyncFd<std::net::UdpSocket>;

/// What a query socket waits for: an answer, or an error (an ICMP error sets the socket's
/// error, which epoll reports as EPOLLERR alone: a wait for readable would miss it).
const ANSWER_OR_ERROR: Interest = Interest::READABLE.add(Interest::ERROR);

/// An answer taken from the upstream, with the client's id already restored.
#[derive(Debug)]
pub struct Exchange {
    pub answer: Vec<u8>,
    /// Messages that arrived on the query's socket or connection before the answer and were
    /// refused (wrong id or question): suspected forged answers.
    pub refused: Refused,
}

/// Counts of refused messages, by reason, for one exchange.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refused {
    /// Wrong id, not a response, cut short, another question: a blind forger's guesses.
    pub mismatched: u32,
    /// The right id and name but not the letter case sent: a forger who guessed the id, or an
    /// upstream that does not keep the question's case.
    pub case_changed: u32,
}

impl Refused {
    fn note(&mut self, refusal: Refusal) {
        match refusal {
            Refusal::CaseChanged => self.case_changed = self.case_changed.saturating_add(1),
            _ => self.mismatched = self.mismatched.saturating_add(1),
        }
    }

    pub fn total(&self) -> u32 {
        self.mismatched.saturating_add(self.case_changed)
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} upstream answers refused (suspected forgery): {} with a wrong id or question, {} with the question's letter case changed",
            self.total(),
            self.mismatched,
            self.case_changed
        )
    }
}

impl Upstream {
    /// Checks that the upstream has a route from here (the container's network namespace, on
    /// the runtime thread) by connecting a UDP socket once; the sockets that carry queries are
    /// made per query.
    pub async fn connect(addr: SocketAddr) -> Result<Upstream> {
        let upstream = Upstream::new(addr);
        upstream.query_socket()?;
        upstream.tidy();
        Ok(upstream)
    }

    fn new(addr: SocketAddr) -> Upstream {
        Upstream {
            addr,
            refused_total: Cell::new(0),
            last_refusal: Cell::new(None),
            spare: RefCell::new(Vec::with_capacity(SPARE_SOCKETS)),
            spent: RefCell::new(Vec::new()),
            buffer: RefCell::new(vec![0u8; UDP_ANSWER_BUFFER].into_boxed_slice()),
        }
    }

    /// Closes the sockets of finished queries and makes spare ones: work kept off the path of
    /// a query (the proxy calls this after a reply is sent). A failure to make a socket is
    /// left for the query that needs one to report.
    pub fn tidy(&self) {
        self.spent.borrow_mut().clear();
        let mut spare = self.spare.borrow_mut();
        while spare.len() < SPARE_SOCKETS {
            match self.unbound_socket() {
                Ok(socket) => spare.push(socket),
                Err(_) => break,
            }
        }
    }

    /// One exchange, ending by `deadline` (the query's, see failover.rs): over UDP, then over
    /// TCP if the answer was truncated or anything was refused on the way; over TCP alone while
    /// this upstream is under suspicion. Every refused message is counted as it arrives, on
    /// this upstream and in `seen` (the query's tally, across the upstreams it asks), so the
    /// count holds even if the exchange is dropped because another upstream answered first.
    pub async fn exchange(&self, request: &[u8], deadline: Instant, seen: &Cell<Refused>) -> Result<Exchange> {
        // The TCP exchange's future is boxed: it is the rare path, and inline it would make
        // every query's task larger (an allocation glibc serves slowly past 1 KiB).
        if self.under_suspicion() {
            return Box::pin(self.exchange_tcp(request, deadline, seen)).await;
        }
        let udp = self.exchange_udp(request, deadline, seen).await?;
        let truncated = udp.answer[2] & 0x02 != 0;
        if !truncated && udp.refused.total() == 0 {
            return Ok(udp);
        }
        let mut tcp = Box::pin(self.exchange_tcp(request, deadline, seen)).await?;
        tcp.refused.mismatched = tcp.refused.mismatched.saturating_add(udp.refused.mismatched);
        tcp.refused.case_changed = tcp.refused.case_changed.saturating_add(udp.refused.case_changed);
        Ok(tcp)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn under_suspicion(&self) -> bool {
        self.last_refusal.get().is_some_and(|at| at.elapsed() < TCP_AFTER_REFUSAL)
    }

    pub fn refused_so_far(&self) -> u64 {
        self.refused_total.get()
    }

    /// A UDP socket for one query, connected to the upstream: a spare one if there is one
    /// (else a new one), on a port the kernel picks at random when `connect` binds it (no
    /// separate `bind`: one system call fewer per query).
    fn query_socket(&self) -> Result<QuerySocket> {
        use nix::sys::socket::{connect, SockaddrIn, SockaddrIn6};
        let spare = self.spare.borrow_mut().pop();
        let socket = match spare {
            Some(socket) => socket,
            None => self.unbound_socket()?,
        };
        match self.addr {
            SocketAddr::V4(a) => connect(socket.as_raw_fd(), &SockaddrIn::from(a)),
            SocketAddr::V6(a) => connect(socket.as_raw_fd(), &SockaddrIn6::from(a)),
        }
        .with_context(|| format!("connecting to upstream {}", self.addr))?;
        Ok(socket)
    }

    /// A new UDP socket of the upstream's family, registered with the event loop for reading
    /// and errors (a send on a UDP socket does not wait; an ICMP error on a connected socket
    /// makes it report an error, not readable), neither bound nor connected: it has no port,
    /// so nothing can be sent to it.
    fn unbound_socket(&self) -> Result<QuerySocket> {
        use nix::sys::socket::{socket, AddressFamily, SockFlag, SockType};
        let flags = SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC;
        let family = if self.addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
        let fd = socket(family, SockType::Datagram, flags, None).context("creating an upstream socket")?;
        // SAFETY: the std socket owns the descriptor (just made) and keeps it open, unchanged,
        // for as long as the AsyncFd holds it.
        unsafe { AsyncFd::register_with_interest(std::net::UdpSocket::from(fd), ANSWER_OR_ERROR) }
            .map_err(|e| e.into_parts().1)
            .context("registering an upstream socket")
    }

    /// A socket whose query is over: closed now if many wait, else by the next `tidy`.
    fn spend(&self, socket: QuerySocket) {
        let mut spent = self.spent.borrow_mut();
        if spent.len() < MAX_SPENT {
            spent.push(socket);
        }
    }

    /// One exchange over UDP, on a socket of its own. The answer comes back with the
    /// request's own id (the client's question spelling is restored by the caller, on the
    /// parsed answer: `upstream_query::restore_client_case`).
    async fn exchange_udp(&self, request: &[u8], deadline: Instant, seen: &Cell<Refused>) -> Result<Exchange> {
        let outgoing = prepare(request)?;
        // Spent when the exchange ends, also when it is dropped (another upstream answered
        // first): the socket is closed then, by the next `tidy`, and never carries another query.
        let socket = Spend { upstream: self, socket: Some(self.query_socket()?) };
        self.exchange_on(socket.get(), &outgoing, request, deadline, seen).await
    }

    async fn exchange_on(
        &self,
        socket: &QuerySocket,
        outgoing: &Outgoing,
        request: &[u8],
        deadline: Instant,
        seen: &Cell<Refused>,
    ) -> Result<Exchange> {
        // One datagram on a fresh socket: its send buffer is empty, so the send never has to
        // wait (if it ever said EAGAIN, the exchange fails like on any send error).
        socket.get_ref().send(&outgoing.wire).with_context(|| format!("sending to {}", self.addr))?;
        let mut refused = Refused::default();
        loop {
            // Read only once the socket is readable, into the shared buffer (never held across
            // an await): no buffer per query.
            let mut ready = match timeout_at(deadline, socket.ready(ANSWER_OR_ERROR)).await {
                Err(_) => return Err(self.no_answer("", &refused)),
                Ok(Err(_)) => continue,
                Ok(Ok(ready)) => ready,
            };
            let mut buf = self.buffer.borrow_mut();
            let len = match ready.try_io(|s| s.get_ref().recv(&mut buf)) {
                Ok(Ok(len)) => len,
                // Nothing there after all (readiness cleared): wait again.
                Err(_would_block) => continue,
                // An ICMP error (port unreachable: nothing listens there; the kernel reports
                // it on a connected socket) or a local error: this upstream has no answer for
                // us, the query moves on to the next one now (failover.rs). A forged ICMP
                // error can do no more than that: end this exchange, never make an answer taken.
                Ok(Err(err)) => return Err(self.unreachable(err, &refused)),
            };
            match outgoing.check(&buf[..len]) {
                Ok(()) => {
                    let mut answer = buf[..len].to_vec();
                    answer[..2].copy_from_slice(&request[..2]);
                    if len == UDP_ANSWER_BUFFER {
                        // Possibly cut by our buffer: mark truncated so the caller asks over TCP.
                        answer[2] |= 0x02;
                    }
                    return Ok(self.taken(answer, refused));
                }
                Err(refusal) => self.refuse(refusal, &mut refused, seen),
            }
        }
    }

    /// One exchange over TCP, on a connection of its own, with the same checks as UDP.
    async fn exchange_tcp(&self, request: &[u8], deadline: Instant, seen: &Cell<Refused>) -> Result<Exchange> {
        let addr = self.addr;
        let outgoing = prepare(request)?;
        let mut refused = Refused::default();
        let exchange = async {
            let mut stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
            let mut framed = (outgoing.wire.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&outgoing.wire);
            stream.write_all(&framed).await?;
            // A server sends one answer per query; anything before a matching one is refused
            // and the next message is read, until the deadline.
            loop {
                let len = stream.read_u16().await?;
                let mut bytes = vec![0u8; usize::from(len)];
                stream.read_exact(&mut bytes).await?;
                match outgoing.check(&bytes) {
                    Ok(()) => return anyhow::Ok(bytes),
                    Err(refusal) => self.refuse(refusal, &mut refused, seen),
                }
            }
        };
        let mut answer = match timeout_at(deadline, exchange).await {
            Err(_) => return Err(self.no_answer("TCP ", &refused)),
            Ok(result) => result.with_context(|| format!("TCP exchange with {addr}"))?,
        };
        answer[..2].copy_from_slice(&request[..2]);
        Ok(self.taken(answer, refused))
    }

    fn taken(&self, answer: Vec<u8>, refused: Refused) -> Exchange {
        if refused.total() > 0 {
            tracing::warn!("upstream {}: {refused} before the answer", self.addr);
        }
        Exchange { answer, refused }
    }

    /// A message refused on one of this upstream's sockets or connections: counted at once
    /// (the exchange may be dropped before it ends), in the exchange's, the query's and the
    /// upstream's tallies; the upstream is then asked over TCP only for a while.
    fn refuse(&self, refusal: Refusal, exchange: &mut Refused, seen: &Cell<Refused>) {
        exchange.note(refusal);
        let mut query = seen.get();
        query.note(refusal);
        seen.set(query);
        self.refused_total.set(self.refused_total.get().saturating_add(1));
        if !self.under_suspicion() {
            tracing::warn!("upstream {}: answers refused; asking it over TCP only for {TCP_AFTER_REFUSAL:?}", self.addr);
        }
        self.last_refusal.set(Some(Instant::now()));
    }

    fn unreachable(&self, err: std::io::Error, refused: &Refused) -> anyhow::Error {
        let mut message = format!("upstream {} unreachable: {err}", self.addr);
        if refused.total() > 0 {
            message.push_str(&format!(" ({refused})"));
        }
        anyhow::anyhow!(message)
    }

    fn no_answer(&self, transport: &str, refused: &Refused) -> anyhow::Error {
        let mut message = format!("no {transport}answer from {} in time", self.addr);
        if refused.total() > 0 {
            tracing::warn!("upstream {}: {refused}, and no real answer", self.addr);
            message.push_str(&format!(" ({refused})"));
            if refused.case_changed > 0 && refused.mismatched == 0 {
                // Every message had the right id: more likely an upstream that rewrites the
                // question's case than a forger who guessed the id each time. Say so.
                message.push_str(
                    "; the upstream may not preserve the question's letter case, which the proxy requires (DNS 0x20)",
                );
            }
        }
        anyhow::anyhow!(message)
    }
}

/// A query's socket, spent (see [`Upstream::spend`]) when the exchange ends or is dropped.
struct Spend<'a> {
    upstream: &'a Upstream,
    socket: Option<QuerySocket>,
}

impl Spend<'_> {
    fn get(&self) -> &QuerySocket {
        self.socket.as_ref().expect("a socket until dropped")
    }
}

impl Drop for Spend<'_> {
    fn drop(&mut self) {
        if let Some(socket) = self.socket.take() {
            self.upstream.spend(socket);
        }
    }
}

/// The query as sent upstream: a random id, the question name's letters in random case.
fn prepare(request: &[u8]) -> Result<Outgoing> {
    if request.len() < 12 {
        bail!("query too short");
    }
    let mut id = [0u8; 2];
    fill_random(&mut id);
    Outgoing::new(request, u16::from_be_bytes(id), fill_random).context("preparing the query for upstream")
}

/// Bytes from the kernel's CSPRNG, drawn in batches to keep syscalls rare.
fn fill_random(out: &mut [u8]) {
    const BATCH: usize = 512;
    thread_local! {
        static POOL: RefCell<(Vec<u8>, usize)> = const { RefCell::new((Vec::new(), 0)) };
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let mut done = 0;
        while done < out.len() {
            if pool.1 >= pool.0.len() {
                let mut bytes = vec![0u8; BATCH];
                let mut filled = 0;
                while filled < bytes.len() {
                    // SAFETY: getrandom into our own buffer.
                    let n = unsafe { libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0) };
                    if n > 0 {
                        filled += n as usize;
                    }
                }
                *pool = (bytes, 0);
            }
            let at = pool.1;
            let take = (out.len() - done).min(pool.0.len() - at);
            out[done..done + take].copy_from_slice(&pool.0[at..at + take]);
            // Used bytes are not handed out twice.
            pool.0[at..at + take].fill(0);
            pool.1 += take;
            done += take;
        }
    });
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use tokio::net::TcpListener;

    use super::*;

    /// A client query for `name` (type A) with id 0x4242.
    fn query(name: &str) -> Vec<u8> {
        let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.extend_from_slice(&[0, 0, 1, 0, 1]);
        q
    }

    fn deadline() -> Instant {
        Instant::now() + Duration::from_secs(2)
    }

    /// The upstream's answer to `got`: the same message with QR set (question echoed as is).
    fn echo(got: &[u8]) -> Vec<u8> {
        let mut answer = got.to_vec();
        answer[2] |= 0x80;
        answer
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_forged_answer_is_refused_the_real_one_taken_and_the_upstream_asked_over_tcp_after() {
        // A fake upstream on loopback: over UDP it first sends a "forgery" (right id, name in
        // lower case, as a forger who guessed the id would), then the real echo; TCP echoes.
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind(addr).await.unwrap();
        let tcp_queries = Rc::new(Cell::new(0u32));
        let local = tokio::task::LocalSet::new();
        let counter = tcp_queries.clone();
        local.spawn_local(async move {
            let mut buf = [0u8; 512];
            loop {
                let (len, from) = udp.recv_from(&mut buf).await.unwrap();
                let mut forged = echo(&buf[..len]);
                forged[12..len - 4].make_ascii_lowercase();
                udp.send_to(&forged, from).await.unwrap();
                udp.send_to(&echo(&buf[..len]), from).await.unwrap();
            }
        });
        local.spawn_local(async move {
            loop {
                let (mut stream, _) = tcp.accept().await.unwrap();
                let len = stream.read_u16().await.unwrap();
                let mut got = vec![0u8; usize::from(len)];
                stream.read_exact(&mut got).await.unwrap();
                counter.set(counter.get() + 1);
                let answer = echo(&got);
                stream.write_all(&(answer.len() as u16).to_be_bytes()).await.unwrap();
                stream.write_all(&answer).await.unwrap();
            }
        });
        local
            .run_until(async {
                let upstream = Upstream::new(addr);
                let request = query("www.allowed.test");
                let seen = Cell::new(Refused::default());
                let first = upstream.exchange(&request, deadline(), &seen).await.unwrap();
                assert_eq!(seen.get(), first.refused);
                assert_eq!(first.refused, Refused { mismatched: 0, case_changed: 1 });
                // The client's id is back; the UDP answer was not used: TCP asked again.
                assert_eq!(first.answer[..2], request[..2]);
                assert_eq!(first.answer[12..].to_ascii_lowercase(), request[12..]);
                assert_eq!(tcp_queries.get(), 1);
                assert!(upstream.under_suspicion());
                assert_eq!(upstream.refused_so_far(), 1);
                // Under suspicion: TCP only (no forgery offered there).
                let second = upstream.exchange(&request, deadline(), &Cell::default()).await.unwrap();
                assert_eq!(second.refused.total(), 0);
                assert_eq!(tcp_queries.get(), 2);
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn without_refusals_udp_alone_answers() {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let local = tokio::task::LocalSet::new();
        let ports = Rc::new(RefCell::new(Vec::new()));
        let seen = ports.clone();
        local.spawn_local(async move {
            let mut buf = [0u8; 512];
            loop {
                let (len, from) = udp.recv_from(&mut buf).await.unwrap();
                seen.borrow_mut().push(from.port());
                udp.send_to(&echo(&buf[..len]), from).await.unwrap();
            }
        });
        local
            .run_until(async {
                let upstream = Upstream::new(addr);
                for _ in 0..3 {
                    let got = upstream.exchange(&query("allowed.test"), deadline(), &Cell::default()).await.unwrap();
                    assert_eq!(got.refused.total(), 0);
                    assert_eq!(got.answer[..2], [0x42, 0x42]);
                }
                assert!(!upstream.under_suspicion());
            })
            .await;
        // A socket per query: three source ports (the kernel picks each at random).
        let ports = ports.borrow();
        assert_eq!(ports.len(), 3);
        assert!(ports[0] != ports[1] || ports[1] != ports[2], "{ports:?}");
    }

    #[test]
    fn random_bytes_are_not_repeated_across_draws() {
        let mut a = [0u8; 300];
        let mut b = [0u8; 300];
        fill_random(&mut a);
        fill_random(&mut b); // crosses a batch boundary
        assert_ne!(a, b);
        assert!(a.iter().any(|&x| x != 0) && b.iter().any(|&x| x != 0));
    }

    #[test]
    fn refusals_are_counted_by_reason_and_explained() {
        let mut r = Refused::default();
        r.note(Refusal::WrongId);
        r.note(Refusal::CaseChanged);
        r.note(Refusal::OtherQuestion);
        assert_eq!(r, Refused { mismatched: 2, case_changed: 1 });
        assert_eq!(r.total(), 3);
        assert!(r.to_string().contains("3 upstream answers refused"));
        let only_case = Refused { mismatched: 0, case_changed: 2 };
        let err = Upstream::new("198.18.0.2:53".parse().unwrap()).no_answer("", &only_case).to_string();
        assert!(err.contains("198.18.0.2:53") && err.contains("letter case"), "{err}");
    }
}
