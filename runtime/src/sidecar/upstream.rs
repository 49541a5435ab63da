//! Upstream resolvers, reached from the container's network namespace. UDP goes through a
//! few long-lived connected sockets per upstream, with queries multiplexed by DNS id: making
//! a socket per query (socket, connect, epoll add/del, close) cost more than the rest of the
//! proxy. Each forwarded query gets a fresh random id, unique among those in flight on its
//! socket, and the client's id is restored on the answer. TCP (for truncated answers) uses a
//! connection per exchange.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::oneshot;
use tokio::time::timeout;

pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// Sockets per upstream: more spread the source ports (harder to spoof) and the id space.
const SOCKETS_PER_UPSTREAM: usize = 4;
/// Largest UDP answer read; anything that fills it is treated as truncated (retried on TCP).
const UDP_ANSWER_BUFFER: usize = 4096;

type Pending = RefCell<HashMap<u16, oneshot::Sender<Vec<u8>>>>;

struct PooledSocket {
    socket: Rc<UdpSocket>,
    pending: Rc<Pending>,
}

pub struct Upstream {
    addr: SocketAddr,
    sockets: Vec<PooledSocket>,
    next: Cell<usize>,
}

impl Upstream {
    /// Binds and connects the pool; must run on the (single) runtime thread, which lives in
    /// the container's network namespace. Spawns one reader task per socket.
    pub async fn connect(addr: SocketAddr) -> Result<Upstream> {
        let bind: SocketAddr = if addr.is_ipv4() { "0.0.0.0:0".parse()? } else { "[::]:0".parse()? };
        let mut sockets = Vec::with_capacity(SOCKETS_PER_UPSTREAM);
        for _ in 0..SOCKETS_PER_UPSTREAM {
            let socket = UdpSocket::bind(bind).await.context("binding an upstream socket")?;
            socket.connect(addr).await.with_context(|| format!("connecting to upstream {addr}"))?;
            let socket = Rc::new(socket);
            let pending: Rc<Pending> = Rc::default();
            tokio::task::spawn_local(read_answers(socket.clone(), pending.clone()));
            sockets.push(PooledSocket { socket, pending });
        }
        Ok(Upstream { addr, sockets, next: Cell::new(0) })
    }

    /// One exchange over UDP. The answer comes back with the request's own id.
    pub async fn exchange_udp(&self, request: &[u8]) -> Result<Vec<u8>> {
        if request.len() < 12 {
            bail!("query too short");
        }
        let index = self.next.get();
        self.next.set((index + 1) % self.sockets.len());
        let pooled = &self.sockets[index];
        let id = {
            let pending = pooled.pending.borrow();
            if pending.len() >= usize::from(u16::MAX) / 2 {
                bail!("too many queries in flight to {}", self.addr);
            }
            let mut id = random_u16();
            while pending.contains_key(&id) {
                id = random_u16();
            }
            id
        };
        let (tx, rx) = oneshot::channel();
        pooled.pending.borrow_mut().insert(id, tx);
        let mut wire = request.to_vec();
        wire[..2].copy_from_slice(&id.to_be_bytes());
        let result = async {
            pooled.socket.send(&wire).await.with_context(|| format!("sending to {}", self.addr))?;
            timeout(UPSTREAM_TIMEOUT, rx)
                .await
                .with_context(|| format!("no answer from {} within {UPSTREAM_TIMEOUT:?}", self.addr))?
                .context("upstream reader stopped")
        }
        .await;
        pooled.pending.borrow_mut().remove(&id);
        let mut answer = result?;
        answer[..2].copy_from_slice(&request[..2]);
        Ok(answer)
    }

    pub async fn exchange_tcp(&self, request: &[u8]) -> Result<Vec<u8>> {
        let addr = self.addr;
        let exchange = async {
            let mut stream = TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
            let mut framed = (request.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(request);
            stream.write_all(&framed).await?;
            let len = stream.read_u16().await?;
            let mut bytes = vec![0u8; usize::from(len)];
            stream.read_exact(&mut bytes).await?;
            anyhow::Ok(bytes)
        };
        timeout(UPSTREAM_TIMEOUT, exchange).await.with_context(|| format!("no TCP answer from {addr}"))?
    }
}

/// Hands each answer to the query waiting for its id; answers nobody waits for (late, or
/// spoofed with a guessed id that is not in flight) are dropped.
async fn read_answers(socket: Rc<UdpSocket>, pending: Rc<Pending>) {
    let mut buf = vec![0u8; UDP_ANSWER_BUFFER];
    loop {
        let Ok(len) = socket.recv(&mut buf).await else {
            // ICMP errors (upstream port closed) surface here; the waiter times out or retries.
            tokio::task::yield_now().await;
            continue;
        };
        if len < 12 {
            continue;
        }
        let id = u16::from_be_bytes([buf[0], buf[1]]);
        let Some(waiter) = pending.borrow_mut().remove(&id) else { continue };
        let mut answer = buf[..len].to_vec();
        if len == UDP_ANSWER_BUFFER {
            // Possibly cut by our buffer: mark truncated so the caller asks over TCP.
            answer[2] |= 0x02;
        }
        let _ = waiter.send(answer);
    }
}

/// Random ids from the kernel's CSPRNG, drawn in batches to keep syscalls rare.
fn random_u16() -> u16 {
    thread_local! {
        static POOL: RefCell<(Vec<u8>, usize)> = const { RefCell::new((Vec::new(), 0)) };
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        if pool.1 + 2 > pool.0.len() {
            let mut bytes = vec![0u8; 512];
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
        pool.1 += 2;
        u16::from_be_bytes([pool.0[at], pool.0[at + 1]])
    })
}
