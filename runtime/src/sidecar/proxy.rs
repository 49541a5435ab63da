//! The per-container DNS proxy: UDP and TCP on loopback inside the container's network
//! namespace, where the BPF connect/sendmsg hooks send every port-53 packet of the container.
//! Denied names are answered NXDOMAIN here; allowed names are forwarded upstream, the answer
//! checked, its addresses written to the BPF allow map, and only then is the answer released.
//! Runs on a single-threaded runtime (`spawn_local`), so shared state is `Rc<RefCell<..>>`.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use ebpf::{Firewall, Proto};
use hickory_proto::op::{Message, ResponseCode};
use policy::Policy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::timeout;

use super::cmdline::Cmdline;
use super::dns::{self, Action, QueryError};
use super::failover::Upstreams;
use super::upstream::Exchange;
use super::upstream_query;
use super::recorder::{EventKind, EventVerdict, LogEvent, Recorder};

/// Queries in flight at once; beyond this, clients get SERVFAIL at once (bounded memory:
/// each holds at most a MAX_QUERY-byte query while it waits for the upstream).
const MAX_INFLIGHT: usize = 256;
/// Longest client query taken (a question with EDNS options is a few hundred bytes); longer
/// ones get FORMERR (UDP) or the connection closed (TCP), so in-flight queries stay small.
const MAX_QUERY: usize = 4096;
/// TCP client connections at once.
const MAX_TCP_CLIENTS: usize = 64;
/// Queries served on one TCP connection before it is closed.
const MAX_QUERIES_PER_TCP: usize = 256;
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Allow-map lifetime of an address: its TTL clamped to [MIN, MAX], plus GRACE so a client
/// that connects right after the answer (or caches to the last second) is not refused. MIN +
/// GRACE covers the clients that keep an answer longer than its TTL: libcurl (curl, git, …)
/// keeps every answer 60 s, Java 30 s. Connections made in time outlive the entry (ebpf:
/// a socket is bound to the peer its connect was allowed to reach).
const MIN_ALLOW_TTL: u32 = 30;
const MAX_ALLOW_TTL: u32 = 86_400;
const ALLOW_GRACE: Duration = Duration::from_secs(30);
/// An address already allowed until at least (new expiry - this) is not rewritten: the entry
/// still outlives any client cache of the answer by more than ALLOW_GRACE - this.
const REWRITE_SLACK: Duration = Duration::from_secs(5);
/// Expired allow-map entries are kept this long (events then say "expired"), then removed so
/// the map never fills up with dead addresses.
const EXPIRED_KEEP: Duration = Duration::from_secs(60);
const MAX_MESSAGE: usize = 65_535;

pub struct Proxy {
    pub policy: Policy,
    pub firewall: Rc<Firewall>,
    pub recorder: Rc<RefCell<Recorder>>,
    upstreams: Upstreams,
    /// Set once the report carries the warning about refused (suspected forged) answers.
    warned_refused: Cell<bool>,
    /// What this proxy wrote to the kernel allow map, and until when. Bounded by the map:
    /// an address is added here only once the kernel took it (4096 entries at most).
    allowed: RefCell<HashMap<IpAddr, Instant>>,
    inflight: Semaphore,
    tcp_clients: Semaphore,
}

impl Proxy {
    pub fn new(policy: Policy, firewall: Rc<Firewall>, recorder: Rc<RefCell<Recorder>>, upstreams: Upstreams) -> Proxy {
        Proxy {
            policy,
            firewall,
            recorder,
            upstreams,
            warned_refused: Cell::new(false),
            allowed: RefCell::new(HashMap::new()),
            inflight: Semaphore::new(MAX_INFLIGHT),
            tcp_clients: Semaphore::new(MAX_TCP_CLIENTS),
        }
    }

    pub async fn serve_udp(self: Rc<Self>, socket: UdpSocket) {
        let socket = Rc::new(socket);
        let mut buf = vec![0u8; MAX_MESSAGE];
        loop {
            let (len, client) = match socket.recv_from(&mut buf).await {
                Ok(got) => got,
                Err(_) => continue,
            };
            if len > MAX_QUERY {
                let id = u16::from_be_bytes([buf[0], buf[1]]);
                let _ = socket.send_to(&dns::header_only(id, ResponseCode::FormErr), client).await;
                continue;
            }
            let bytes = buf[..len].to_vec();
            let Ok(permit) = self.inflight.try_acquire() else {
                if let Ok(q) = dns::parse_query(&bytes) {
                    let _ = socket.send_to(&dns::local_answer(&q.message, ResponseCode::ServFail), client).await;
                }
                continue;
            };
            permit.forget();
            let (proxy, socket) = (self.clone(), socket.clone());
            tokio::task::spawn_local(async move {
                if let Some(reply) = proxy.answer(&bytes, client, Proto::Udp).await {
                    let _ = socket.send_to(&reply, client).await;
                }
                proxy.inflight.add_permits(1);
                proxy.tidy_upstreams();
            });
        }
    }

    pub async fn serve_tcp(self: Rc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, client)) = listener.accept().await else { continue };
            let Ok(permit) = self.tcp_clients.try_acquire() else { continue };
            permit.forget();
            let proxy = self.clone();
            tokio::task::spawn_local(async move {
                let _ = proxy.serve_tcp_client(stream, client).await;
                proxy.tcp_clients.add_permits(1);
            });
        }
    }

    async fn serve_tcp_client(&self, mut stream: TcpStream, client: SocketAddr) -> Result<()> {
        for _ in 0..MAX_QUERIES_PER_TCP {
            let Ok(Ok(len)) = timeout(TCP_IDLE_TIMEOUT, stream.read_u16()).await else { return Ok(()) };
            if usize::from(len) > MAX_QUERY {
                bail!("query of {len} bytes (most taken: {MAX_QUERY})");
            }
            let mut bytes = vec![0u8; usize::from(len)];
            timeout(TCP_IDLE_TIMEOUT, stream.read_exact(&mut bytes)).await??;
            if let Some(reply) = self.answer(&bytes, client, Proto::Tcp).await {
                let mut framed = Vec::with_capacity(reply.len() + 2);
                framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
                framed.extend_from_slice(&reply);
                stream.write_all(&framed).await?;
            }
            self.tidy_upstreams();
        }
        Ok(())
    }

    /// Upstream sockets: the used ones closed, spare ones made, now that the client has its
    /// answer (see upstream.rs).
    fn tidy_upstreams(&self) {
        self.upstreams.tidy();
    }

    /// The reply to one client message, or None when it deserves no answer.
    async fn answer(&self, bytes: &[u8], client: SocketAddr, proto: Proto) -> Option<Vec<u8>> {
        let query = match dns::parse_query(bytes) {
            Ok(query) => query,
            Err(QueryError::Unparseable) => return None,
            Err(QueryError::Reply(id, code)) => return Some(dns::header_only(id, code)),
        };
        let udp_limit = (proto == Proto::Udp).then(|| dns::client_udp_limit(&query.message));
        let owner = self.firewall.dns_client_owner(proto, client);
        let pid = owner.as_ref().map(|o| o.tgid);
        let comm = owner.as_ref().map(|o| o.comm.clone());
        let cmdline = owner.as_ref().and_then(|o| {
            let live = self.recorder.borrow_mut().socket_cmdline(o.tgid, o.cookie).filter(|c| !c.text.is_empty());
            // Exited: argv as recorded at exec (the kernel keeps 256 bytes and says if it cut).
            live.or_else(|| self.firewall.exec_info(o.tgid).map(|i| Cmdline::new(i.cmdline, i.truncated)))
        });
        let (action, decision) = dns::decide(&self.policy, &query);
        let proto_name = if proto == Proto::Udp { "udp" } else { "tcp" };
        let mut event = LogEvent {
            pid,
            comm,
            domain: Some(query.name.clone()),
            port: Some(53),
            qtype: Some(query.qtype.to_string()),
            ..LogEvent::new(self.recorder.borrow().container(), EventKind::Dns, proto_name, EventVerdict::Allowed, rule_text(&decision))
        };
        event.set_cmdline(cmdline);
        let reply = match action {
            Action::Deny => {
                event.verdict = EventVerdict::Blocked;
                dns::local_answer(&query.message, ResponseCode::NXDomain)
            }
            Action::Forward { would_block } => {
                if would_block {
                    event.verdict = EventVerdict::WouldBlock;
                }
                let request = dns::upstream_request(&query.message, bytes);
                // Boxed: inline, this future would take the query's task past 1 KiB, which glibc
                // serves from its slow path (consolidating the small free lists every time).
                let resolved = Box::pin(self.resolve(&query.message, &request, &event)).await;
                self.warn_once_if_refused();
                match resolved {
                    Ok(Resolved { checked, refused }) => {
                        event.answers = checked.addresses.iter().map(|(ip, _)| *ip).collect();
                        event.cnames = checked.chain;
                        event.dropped = checked.dropped;
                        event.dropped.extend(refused);
                        dns::encode_for_client(&checked.message, udp_limit)
                    }
                    Err(err) => {
                        event.rule = format!("{} (upstream failed: {err:#})", event.rule);
                        dns::local_answer(&query.message, ResponseCode::ServFail)
                    }
                }
            }
        };
        let mut recorder = self.recorder.borrow_mut();
        if !event.answers.is_empty() {
            recorder.remember_answer(pid, &query.name, &event.answers);
        }
        recorder.record(event);
        Some(reply)
    }

    /// Forwards upstream, checks the answer and opens the firewall for its addresses.
    /// `request` is the client's query as received: it parsed as exactly one question with no
    /// answer or authority records, so it is forwarded as is (re-encoding cost more than it
    /// bought).
    /// `asker` is the query's event so far (who asked, for which name): a full allow map is
    /// recorded with it.
    async fn resolve(&self, query: &Message, request: &[u8], asker: &LogEvent) -> Result<Resolved> {
        let exchange = self.forward(request).await?;
        let refused = (exchange.refused.total() > 0).then(|| exchange.refused.to_string());
        let mut checked = dns::check_answer(&self.policy, query, &exchange.answer)?;
        // The upstream saw (and echoed) the name in random case: the client gets its own.
        upstream_query::restore_client_case(&mut checked.message, &query.queries[0].name);
        let now = Instant::now();
        for (ip, ttl) in &checked.addresses {
            let lifetime = Duration::from_secs(u64::from((*ttl).clamp(MIN_ALLOW_TTL, MAX_ALLOW_TTL))) + ALLOW_GRACE;
            let wanted = now + lifetime;
            let known = self.allowed.borrow().get(ip).copied();
            if known.is_some_and(|until| until + REWRITE_SLACK >= wanted) {
                continue;
            }
            // The map write completes before the answer is released: the client's connect
            // that follows can never race ahead of it.
            if self.firewall.allow_ip(*ip, lifetime).is_err() {
                // Full of expired addresses? Make room and try once more.
                self.prune_expired(Duration::ZERO);
                if let Err(err) = self.firewall.allow_ip(*ip, lifetime) {
                    // Fail closed (the address stays refused, the client gets SERVFAIL), and
                    // say so: a full map is otherwise indistinguishable from a policy refusal.
                    if is_map_full(&err) {
                        self.record_allow_map_full(asker, *ip);
                    }
                    return Err(err).with_context(|| format!("allowing {ip}"));
                }
            }
            self.allowed.borrow_mut().insert(*ip, known.map_or(wanted, |k| k.max(wanted)));
        }
        Ok(Resolved { checked, refused })
    }

    /// The first time any upstream refused an answer, a warning in the report (once: a flood
    /// of forged packets must not grow the report; each query's event says what it refused,
    /// in "dropped" when answered, in the rule when the upstream failed).
    fn warn_once_if_refused(&self) {
        if self.warned_refused.get() || self.upstreams.refused_so_far() == 0 {
            return;
        }
        self.warned_refused.set(true);
        self.recorder.borrow_mut().add_warning(
            "the DNS proxy refused upstream answers whose id or question (sent in random letter \
             case) did not match the query: suspected forged DNS answers; see the dns events"
                .into(),
        );
    }

    fn record_allow_map_full(&self, asker: &LogEvent, ip: IpAddr) {
        let mut recorder = self.recorder.borrow_mut();
        let event = LogEvent {
            pid: asker.pid,
            cmdline: asker.cmdline.clone(),
            cmdline_truncated: asker.cmdline_truncated,
            comm: asker.comm.clone(),
            domain: asker.domain.clone(),
            ip: Some(ip),
            qtype: asker.qtype.clone(),
            ..LogEvent::new(
                recorder.container(),
                EventKind::AllowMapFull,
                &asker.proto,
                EventVerdict::Blocked,
                "allow map full: address not allowed (fail closed)".into(),
            )
        };
        recorder.record(event);
    }

    /// Removes allow-map entries that expired more than `keep` ago.
    pub fn prune_expired(&self, keep: Duration) {
        let now = Instant::now();
        let mut allowed = self.allowed.borrow_mut();
        allowed.retain(|ip, until| {
            if *until + keep > now {
                return true;
            }
            let _ = self.firewall.revoke_ip(*ip);
            false
        });
    }

    pub fn prune_long_expired(&self) {
        self.prune_expired(EXPIRED_KEEP);
    }

    /// The upstreams' answer (failover.rs: staggered, failing over, bounded in time).
    async fn forward(&self, request: &[u8]) -> Result<Exchange> {
        self.upstreams.exchange(request).await
    }
}

/// A checked answer, and what was refused on the way to it.
struct Resolved {
    checked: dns::CheckedAnswer,
    refused: Option<String>,
}

/// The kernel refused a new entry because the map has no room (a preallocated hash map says
/// E2BIG, one that allocates ENOMEM).
fn is_map_full(err: &ebpf::EbpfError) -> bool {
    matches!(err, ebpf::EbpfError::Map { source, .. } if matches!(source.raw_os_error(), Some(libc::E2BIG | libc::ENOMEM)))
}

/// The rule an event names: the matching rule, else the default that applied.
fn rule_text(decision: &policy::Decision) -> String {
    match (&decision.rule, decision.verdict) {
        (Some(rule), _) => rule.clone(),
        (None, policy::Verdict::Allow) => "default allow (no cgfw.io/allow list)".into(),
        (None, policy::Verdict::Block) => "default deny (not in cgfw.io/allow)".into(),
    }
}
