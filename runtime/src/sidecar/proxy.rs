//! The per-container DNS proxy: UDP and TCP on loopback inside the container's network
//! namespace, where the BPF connect/sendmsg hooks send every port-53 packet of the container.
//! Denied names are answered NXDOMAIN here; allowed names are forwarded upstream, the answer
//! checked, its addresses written to the BPF allow map, and only then is the answer released.
//! Runs on a single-threaded runtime (`spawn_local`), so shared state is `Rc<RefCell<..>>`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use ebpf::{Firewall, Proto};
use hickory_proto::op::{Message, ResponseCode};
use policy::Policy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::time::timeout;

use super::dns::{self, Action, QueryError};
use super::recorder::{now, EventKind, EventVerdict, LogEvent, Recorder};

/// Queries in flight at once; beyond this, clients get SERVFAIL at once (bounded memory).
const MAX_INFLIGHT: usize = 256;
/// TCP client connections at once.
const MAX_TCP_CLIENTS: usize = 64;
/// Queries served on one TCP connection before it is closed.
const MAX_QUERIES_PER_TCP: usize = 256;
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Allow-map lifetime of an address: its TTL clamped to [MIN, MAX], plus GRACE so a client
/// that connects right after the answer (or caches to the last second) is not refused.
const MIN_ALLOW_TTL: u32 = 10;
const MAX_ALLOW_TTL: u32 = 86_400;
const ALLOW_GRACE: Duration = Duration::from_secs(30);
const MAX_MESSAGE: usize = 65_535;

pub struct Proxy {
    pub policy: Policy,
    pub firewall: Rc<Firewall>,
    pub recorder: Rc<RefCell<Recorder>>,
    pub upstreams: Vec<SocketAddr>,
    inflight: Semaphore,
    tcp_clients: Semaphore,
}

impl Proxy {
    pub fn new(policy: Policy, firewall: Rc<Firewall>, recorder: Rc<RefCell<Recorder>>, upstreams: Vec<SocketAddr>) -> Proxy {
        Proxy {
            policy,
            firewall,
            recorder,
            upstreams,
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
            let mut bytes = vec![0u8; usize::from(len)];
            timeout(TCP_IDLE_TIMEOUT, stream.read_exact(&mut bytes)).await??;
            if let Some(reply) = self.answer(&bytes, client, Proto::Tcp).await {
                let mut framed = Vec::with_capacity(reply.len() + 2);
                framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
                framed.extend_from_slice(&reply);
                stream.write_all(&framed).await?;
            }
        }
        Ok(())
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
        let comm = owner.map(|o| o.comm);
        let cmdline = pid.and_then(|p| {
            let live = self.recorder.borrow_mut().cmdline(p).filter(|c| !c.is_empty());
            live.or_else(|| self.firewall.exec_cmdline(p)) // exited: argv recorded at exec
        });
        let (action, decision) = dns::decide(&self.policy, &query);
        let mut event = LogEvent {
            time: now(),
            container: self.recorder.borrow().container().to_string(),
            pid,
            cmdline,
            comm,
            kind: EventKind::Dns,
            domain: Some(query.name.clone()),
            ip: None,
            port: Some(53),
            proto: if proto == Proto::Udp { "udp".into() } else { "tcp".into() },
            verdict: EventVerdict::Allowed,
            rule: rule_text(&decision),
            qtype: Some(query.qtype.to_string()),
            answers: vec![],
            cnames: vec![],
            dropped: vec![],
        };
        let reply = match action {
            Action::Deny => {
                event.verdict = EventVerdict::Blocked;
                dns::local_answer(&query.message, ResponseCode::NXDomain)
            }
            Action::Forward { would_block } => {
                if would_block {
                    event.verdict = EventVerdict::WouldBlock;
                }
                match self.resolve(&query.message).await {
                    Ok(checked) => {
                        event.answers = checked.addresses.iter().map(|(ip, _)| *ip).collect();
                        event.cnames = checked.chain;
                        event.dropped = checked.dropped;
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
            recorder.remember_answer(&query.name, &event.answers);
        }
        recorder.record(event);
        Some(reply)
    }

    /// Forwards upstream, checks the answer and opens the firewall for its addresses.
    async fn resolve(&self, query: &Message) -> Result<dns::CheckedAnswer> {
        let request = query.to_vec().context("encoding query")?;
        let bytes = self.forward(&request).await?;
        let checked = dns::check_answer(&self.policy, query, &bytes)?;
        for (ip, ttl) in &checked.addresses {
            let ttl = Duration::from_secs(u64::from((*ttl).clamp(MIN_ALLOW_TTL, MAX_ALLOW_TTL))) + ALLOW_GRACE;
            // The map write completes before the answer is released: the client's connect
            // that follows can never race ahead of it.
            self.firewall.allow_ip(*ip, ttl).with_context(|| format!("allowing {ip}"))?;
        }
        Ok(checked)
    }

    async fn forward(&self, request: &[u8]) -> Result<Vec<u8>> {
        if self.upstreams.is_empty() {
            bail!("no upstream resolver configured (cgfw.io/dns-upstream or resolv.conf)");
        }
        let mut last_err = None;
        for upstream in &self.upstreams {
            match forward_udp(request, *upstream).await {
                // Truncated: ask again over TCP for the whole answer.
                Ok(bytes) if bytes.len() > 2 && bytes[2] & 0x02 != 0 => match forward_tcp(request, *upstream).await {
                    Ok(bytes) => return Ok(bytes),
                    Err(e) => last_err = Some(e),
                },
                Ok(bytes) => return Ok(bytes),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow::anyhow!("no upstream answered")))
    }
}

/// The rule an event names: the matching rule, else the default that applied.
fn rule_text(decision: &policy::Decision) -> String {
    match (&decision.rule, decision.verdict) {
        (Some(rule), _) => rule.clone(),
        (None, policy::Verdict::Allow) => "default allow (no cgfw.io/allow list)".into(),
        (None, policy::Verdict::Block) => "default deny (not in cgfw.io/allow)".into(),
    }
}

/// One UDP exchange from a fresh socket (a fresh random source port per query makes
/// off-path answer spoofing harder). Answers with another id are ignored.
async fn forward_udp(request: &[u8], upstream: SocketAddr) -> Result<Vec<u8>> {
    let bind: SocketAddr = if upstream.is_ipv4() { "0.0.0.0:0".parse()? } else { "[::]:0".parse()? };
    let socket = UdpSocket::bind(bind).await?;
    socket.connect(upstream).await.with_context(|| format!("connecting to {upstream}"))?;
    socket.send(request).await?;
    let mut buf = vec![0u8; MAX_MESSAGE];
    let deadline = tokio::time::Instant::now() + UPSTREAM_TIMEOUT;
    loop {
        let len = tokio::time::timeout_at(deadline, socket.recv(&mut buf))
            .await
            .with_context(|| format!("no answer from {upstream} within {UPSTREAM_TIMEOUT:?}"))??;
        if len >= 2 && buf[..2] == request[..2] {
            return Ok(buf[..len].to_vec());
        }
    }
}

async fn forward_tcp(request: &[u8], upstream: SocketAddr) -> Result<Vec<u8>> {
    let exchange = async {
        let mut stream = TcpStream::connect(upstream).await.with_context(|| format!("connecting to {upstream}"))?;
        let mut framed = (request.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(request);
        stream.write_all(&framed).await?;
        let len = stream.read_u16().await?;
        let mut bytes = vec![0u8; usize::from(len)];
        stream.read_exact(&mut bytes).await?;
        anyhow::Ok(bytes)
    };
    timeout(UPSTREAM_TIMEOUT, exchange).await.with_context(|| format!("no TCP answer from {upstream}"))?
}
