//! The container's upstream resolvers as one: which to ask for a query, when to ask the next,
//! which answer wins. The proxy replaces the resolver the container would have used, so it
//! must fail over at least as well; and glibc's own failover cannot help, since its next
//! nameserver is redirected to this same proxy.
//!
//! - Staggered queries: the preferred upstream is asked first; if it has given no usable
//!   answer after its stagger delay, the next one is asked too, and so on; the first usable
//!   answer wins and the exchanges still running are dropped (their sockets closed, never
//!   reused). The delay follows RFC 8305's connection attempt delay (happy eyeballs): 250 ms
//!   until the upstream has answered, then its smoothed RTT plus four deviations (as TCP's
//!   retransmission timer), kept within 100-400 ms. 100 ms is RFC 8305's floor: a resolver's
//!   cache miss is often longer than its round trip, and each early hedge is a duplicate
//!   query; 400 ms keeps two silent upstreams and the answer of a third within glibc's
//!   shortest timeout (1 s, `options timeout:1`).
//! - Immediate failover: an exchange that fails (an ICMP error such as port unreachable, a
//!   local error, a TCP reset) or an answer with rcode SERVFAIL or REFUSED does not end the
//!   query: the next upstream is asked at once. If no upstream gives a usable answer, the
//!   client gets the last SERVFAIL/REFUSED answer, else an error (the proxy answers SERVFAIL).
//! - Bounded: a query ends [`QUERY_TIMEOUT`] after it started, whatever the upstreams do,
//!   before the client's usual timeout (glibc and Go: 5 s), which leaves the client time to
//!   act on the SERVFAIL. Every upstream asked still gets at least the 2 s each had when they
//!   were asked one after the other.
//! - Memory: an upstream that failed (no answer in time, or an error) is demoted: asked after
//!   the others, so later queries go to a live one first at full speed. After
//!   [`DEMOTED_FIRST`] it is tried first again by one query (a probe; concurrent queries still
//!   see it demoted); a failed probe doubles the period, up to [`DEMOTED_MAX`]; any answer
//!   from it restores it. "No answer in time" includes losing: asked first, silent through its
//!   stagger delay, and another upstream answered. SERVFAIL and REFUSED do not demote (the
//!   upstream is there; the failure may be the name's).
//! - Order: resolv.conf's, among the upstreams of the same standing (as glibc without
//!   `rotate`). The server a client's query was addressed to (known to the kernel programs,
//!   which redirect it) is not used: glibc moves to its second nameserver only after its own
//!   timeout on the first, by which time this proxy has asked the second itself (after one
//!   stagger delay) and demoted the silent first; following the client would add a map read
//!   per query and a field to the shared kernel ABI, and `options rotate` would then undo the
//!   preference for the live upstream.
//!
//! Every exchange keeps upstream.rs's properties: a socket (or connection) of its own, a
//! random id and question case of its own, refused messages counted as they arrive, also on
//! an exchange that is then dropped.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::time::Instant;

use super::upstream::{Exchange, Refused, Upstream};
use super::upstream_query;

/// The longest a query waits for upstreams, from its first exchange.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// Stagger delay before an upstream has answered once (RFC 8305's default).
const STAGGER_DEFAULT: Duration = Duration::from_millis(250);
const STAGGER_MIN: Duration = Duration::from_millis(100);
const STAGGER_MAX: Duration = Duration::from_millis(400);
/// How long a failed upstream is asked last, the first time; doubled per failed probe.
pub const DEMOTED_FIRST: Duration = Duration::from_secs(5);
pub const DEMOTED_MAX: Duration = Duration::from_secs(60);
/// rcodes that end one upstream's exchange, not the query.
const SERVFAIL: u8 = 2;
const REFUSED: u8 = 5;

pub struct Upstreams {
    members: Vec<Member>,
    /// QUERY_TIMEOUT, and no fixed stagger delay; the tests set them.
    query_timeout: Duration,
    fixed_stagger: Option<Duration>,
}

struct Member {
    upstream: Upstream,
    health: Health,
}

/// What the proxy remembers of one upstream: its round trip, and whether it is demoted.
#[derive(Default)]
struct Health {
    /// Smoothed RTT and its mean deviation, in µs; 0: no answer yet.
    srtt_us: Cell<u32>,
    rttvar_us: Cell<u32>,
    /// Asked after the others until then.
    demoted_until: Cell<Option<Instant>>,
    /// Failures in a row (each failed probe doubles the demotion).
    failures: Cell<u32>,
    /// When a query started probing it after its demotion (one probe at a time).
    probe_since: Cell<Option<Instant>>,
}

impl Health {
    /// Asked after the live ones: demoted, or its probe is in flight.
    fn demoted(&self, now: Instant) -> bool {
        self.demoted_until.get().is_some_and(|until| now < until) || self.probing(now)
    }

    fn probing(&self, now: Instant) -> bool {
        self.probe_since.get().is_some_and(|since| now < since + QUERY_TIMEOUT)
    }

    /// Its demotion is over and nobody has tried it since: this query is its probe.
    fn due_for_probe(&self, now: Instant) -> bool {
        self.failures.get() > 0 && !self.demoted(now)
    }

    fn stagger(&self) -> Duration {
        match self.srtt_us.get() {
            0 => STAGGER_DEFAULT,
            srtt => {
                let rto = u64::from(srtt) + 4 * u64::from(self.rttvar_us.get());
                Duration::from_micros(rto).clamp(STAGGER_MIN, STAGGER_MAX)
            }
        }
    }

    /// It answered, `rtt` after it was asked.
    fn answered(&self, rtt: Duration) {
        let sample = u32::try_from(rtt.as_micros()).unwrap_or(u32::MAX).max(1);
        let srtt = self.srtt_us.get();
        if srtt == 0 {
            self.srtt_us.set(sample);
            self.rttvar_us.set(sample / 2);
        } else {
            // RFC 6298: rttvar = 3/4 rttvar + 1/4 |srtt - r|, srtt = 7/8 srtt + 1/8 r.
            let var = (3 * u64::from(self.rttvar_us.get()) + u64::from(srtt.abs_diff(sample))) / 4;
            self.rttvar_us.set(var as u32);
            self.srtt_us.set(((7 * u64::from(srtt) + u64::from(sample)) / 8).max(1) as u32);
        }
        self.demoted_until.set(None);
        self.failures.set(0);
        self.probe_since.set(None);
    }

    /// It failed (error, or silent for at least its stagger delay): demoted, unless it already
    /// is (queries in flight together fail together: one demotion, not several).
    fn failed(&self, now: Instant) {
        self.probe_since.set(None);
        if self.demoted_until.get().is_some_and(|until| now < until) {
            return;
        }
        let failures = self.failures.get().saturating_add(1);
        self.failures.set(failures);
        let period = DEMOTED_FIRST.saturating_mul(1 << (failures - 1).min(16)).min(DEMOTED_MAX);
        self.demoted_until.set(Some(now + period));
    }
}

type Running<'a> = Pin<Box<dyn Future<Output = Result<Exchange>> + 'a>>;

/// An exchange in flight: which member, since when, and the exchange itself.
struct InFlight<'a> {
    member: usize,
    asked: Instant,
    exchange: Running<'a>,
}

impl Upstreams {
    pub fn new(upstreams: Vec<Upstream>) -> Upstreams {
        Upstreams {
            members: upstreams.into_iter().map(|upstream| Member { upstream, health: Health::default() }).collect(),
            query_timeout: QUERY_TIMEOUT,
            fixed_stagger: None,
        }
    }

    fn stagger(&self, member: usize) -> Duration {
        self.fixed_stagger.unwrap_or_else(|| self.members[member].health.stagger())
    }


    /// The answer to `request` (the client's query, with its own id): see the module doc.
    /// The exchange's `refused` tallies the messages refused on every upstream asked.
    pub async fn exchange(&self, request: &[u8]) -> Result<Exchange> {
        if self.members.is_empty() {
            bail!("no upstream resolver configured (cgfw.io/dns-upstream or resolv.conf)");
        }
        if !upstream_query::plain_question(request) {
            bail!("the query's question name is not a plain sequence of labels (compressed or cut short)");
        }
        let start = Instant::now();
        let deadline = start + self.query_timeout;
        let seen = Cell::new(Refused::default());
        if let [only] = &self.members[..] {
            // Nobody to fail over to (and nothing to remember): the exchange is the answer.
            let mut exchange = only.upstream.exchange(request, deadline, &seen).await?;
            exchange.refused = seen.get();
            return Ok(exchange);
        }
        let mut order = Vec::with_capacity(self.members.len());
        order.extend((0..self.members.len()).filter(|&i| !self.members[i].health.demoted(start)));
        order.extend((0..self.members.len()).filter(|&i| self.members[i].health.demoted(start)));
        let mut next = 0;
        let mut running: Vec<InFlight<'_>> = Vec::with_capacity(order.len());
        let mut launch_at = start;
        let mut failures: Vec<String> = Vec::new();
        let mut unusable: Option<Exchange> = None;
        let timer = tokio::time::sleep_until(deadline);
        tokio::pin!(timer);
        loop {
            let now = Instant::now();
            while next < order.len() && now < deadline && (running.is_empty() || now >= launch_at) {
                let member = order[next];
                next += 1;
                let health = &self.members[member].health;
                if health.due_for_probe(now) {
                    health.probe_since.set(Some(now));
                }
                let exchange = Box::pin(self.members[member].upstream.exchange(request, deadline, &seen));
                running.push(InFlight { member, asked: now, exchange });
                launch_at = now + self.stagger(member);
            }
            if running.is_empty() {
                break;
            }
            // The next upstream is due at launch_at: wait for that or for an exchange to end
            // (each ends by the deadline by itself).
            let hedge = next < order.len() && launch_at < deadline;
            if hedge {
                timer.as_mut().reset(launch_at);
            }
            let ended = poll_fn(|cx| {
                for (k, flight) in running.iter_mut().enumerate() {
                    if let Poll::Ready(result) = flight.exchange.as_mut().poll(cx) {
                        return Poll::Ready(Some((k, result)));
                    }
                }
                if hedge && timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(None);
                }
                Poll::Pending
            })
            .await;
            let Some((k, result)) = ended else { continue };
            let flight = running.swap_remove(k);
            let now = Instant::now();
            let member = &self.members[flight.member];
            match result {
                Ok(exchange) => {
                    member.health.answered(now - flight.asked);
                    let rcode = exchange.answer[3] & 0x0f;
                    if rcode != SERVFAIL && rcode != REFUSED {
                        self.losers(&running, now);
                        drop(running);
                        return Ok(Exchange { refused: seen.get(), ..exchange });
                    }
                    failures.push(format!("{} answered {}", member.upstream.addr(), if rcode == SERVFAIL { "SERVFAIL" } else { "REFUSED" }));
                    unusable = Some(exchange);
                }
                Err(err) => {
                    // No answer by the deadline, or an error: the query is known to be
                    // answerable (plain question, checked above), so the upstream failed.
                    member.health.failed(now);
                    failures.push(format!("{err:#}"));
                }
            }
            // Failed: the next upstream now.
            launch_at = now;
        }
        match unusable {
            Some(exchange) => Ok(Exchange { refused: seen.get(), ..exchange }),
            None => bail!("{}", failures.join("; ")),
        }
    }

    /// The query has its answer: the exchanges still running are dropped. One that has been
    /// silent for its stagger delay or longer counts as failed (else a silent upstream would
    /// never be demoted: its exchanges are always cut short by the next one's answer); one asked
    /// more recently says nothing yet.
    fn losers(&self, running: &[InFlight<'_>], now: Instant) {
        for flight in running {
            let health = &self.members[flight.member].health;
            if now - flight.asked >= self.stagger(flight.member) {
                health.failed(now);
            } else if health.probing(now) && health.probe_since.get() == Some(flight.asked) {
                health.probe_since.set(None);
            }
        }
    }

    /// Sockets of finished exchanges closed, spare ones made (off the client's path).
    pub fn tidy(&self) {
        for member in &self.members {
            member.upstream.tidy();
        }
    }

    pub fn refused_so_far(&self) -> u64 {
        self.members.iter().map(|m| m.upstream.refused_so_far()).sum()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::net::SocketAddr;
    use std::rc::Rc;

    use tokio::net::UdpSocket;

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

    fn rcode(answer: &[u8]) -> u8 {
        answer[3] & 0x0f
    }

    #[derive(Clone, Copy)]
    enum Behaviour {
        /// Echoes the query as a response with this rcode.
        Answer(u8),
        /// Reads and never answers (a server behind a drop rule).
        Silent,
        /// Sends a response with a wrong id (a blind forger's guess), then nothing.
        ForgeThenSilent,
    }

    /// A fake upstream on loopback: a real UDP socket served by a local task. `asked` gets the
    /// source port of every query it receives.
    struct Fake {
        addr: SocketAddr,
        asked: Rc<RefCell<Vec<u16>>>,
    }

    async fn fake(behaviour: Behaviour) -> Fake {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let asked = Rc::new(RefCell::new(Vec::new()));
        let seen = asked.clone();
        tokio::task::spawn_local(async move {
            let mut buf = [0u8; 512];
            loop {
                let (len, from) = socket.recv_from(&mut buf).await.unwrap();
                seen.borrow_mut().push(from.port());
                let mut answer = buf[..len].to_vec();
                answer[2] |= 0x80;
                match behaviour {
                    Behaviour::Answer(rcode) => {
                        answer[3] = (answer[3] & 0xf0) | rcode;
                        socket.send_to(&answer, from).await.unwrap();
                    }
                    Behaviour::Silent => {}
                    Behaviour::ForgeThenSilent => {
                        answer[0] ^= 0xff;
                        socket.send_to(&answer, from).await.unwrap();
                    }
                }
            }
        });
        Fake { addr, asked }
    }

    /// A loopback port where nothing listens: a query there gets ICMP port unreachable.
    fn closed() -> SocketAddr {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        socket.local_addr().unwrap()
    }

    async fn upstreams(addrs: &[SocketAddr]) -> Upstreams {
        let mut list = Vec::new();
        for addr in addrs {
            list.push(Upstream::connect(*addr).await.unwrap());
        }
        Upstreams::new(list)
    }

    /// No hedging within the test's time: the next upstream is asked only when one has failed.
    fn no_hedge(mut u: Upstreams) -> Upstreams {
        u.fixed_stagger = Some(Duration::from_secs(600));
        u
    }

    fn demoted(u: &Upstreams, member: usize) -> bool {
        u.members[member].health.demoted(Instant::now())
    }

    async fn local<F: Future>(test: F) -> F::Output {
        tokio::task::LocalSet::new().run_until(test).await
    }

    #[tokio::test(flavor = "current_thread")]
    async fn an_icmp_error_fails_over_at_once_and_the_dead_upstream_is_asked_last_after() {
        local(async {
            let good = fake(Behaviour::Answer(0)).await;
            let u = no_hedge(upstreams(&[closed(), good.addr]).await);
            // Without hedging, the good upstream is asked only because the first one failed,
            // and before the deadline: an ICMP error ended its exchange.
            let request = query("www.allowed.test");
            let got = u.exchange(&request).await.unwrap();
            assert_eq!(got.answer[..2], request[..2]);
            assert_eq!(rcode(&got.answer), 0);
            assert_eq!(good.asked.borrow().len(), 1);
            assert!(demoted(&u, 0) && !demoted(&u, 1));
            // Later queries go to the live one first (and it answers at once).
            for _ in 0..3 {
                u.exchange(&request).await.unwrap();
            }
            assert_eq!(good.asked.borrow().len(), 4);
            assert!(demoted(&u, 0));
        })
        .await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn servfail_and_refused_answers_fail_over_at_once_without_demoting() {
        local(async {
            let servfail = fake(Behaviour::Answer(SERVFAIL)).await;
            let refused = fake(Behaviour::Answer(REFUSED)).await;
            let good = fake(Behaviour::Answer(3)).await; // NXDOMAIN: an answer like any other
            let u = no_hedge(upstreams(&[servfail.addr, refused.addr, good.addr]).await);
            let got = u.exchange(&query("gone.allowed.test")).await.unwrap();
            assert_eq!(rcode(&got.answer), 3);
            assert_eq!((servfail.asked.borrow().len(), refused.asked.borrow().len(), good.asked.borrow().len()), (1, 1, 1));
            // The upstreams are there: the failure may be the name's. Nobody demoted.
            assert!((0..3).all(|m| !demoted(&u, m)));
        })
        .await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn when_every_upstream_fails_the_last_servfail_or_refused_answer_is_passed_on() {
        local(async {
            let servfail = fake(Behaviour::Answer(SERVFAIL)).await;
            let refused = fake(Behaviour::Answer(REFUSED)).await;
            let u = no_hedge(upstreams(&[servfail.addr, closed(), refused.addr]).await);
            let got = u.exchange(&query("www.allowed.test")).await.unwrap();
            assert_eq!(rcode(&got.answer), REFUSED);
            assert_eq!((servfail.asked.borrow().len(), refused.asked.borrow().len()), (1, 1));
        })
        .await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn with_no_answer_at_all_the_query_ends_by_its_deadline_naming_each_failure() {
        local(async {
            let silent = fake(Behaviour::Silent).await;
            let dead = closed();
            let mut u = upstreams(&[silent.addr, dead]).await;
            u.query_timeout = Duration::from_millis(300);
            let err = u.exchange(&query("www.allowed.test")).await.unwrap_err().to_string();
            assert!(err.contains(&silent.addr.to_string()) && err.contains(&dead.to_string()), "{err}");
            assert!(err.contains("unreachable") && err.contains("no answer"), "{err}");
            assert!(demoted(&u, 0) && demoted(&u, 1));
        })
        .await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_silent_upstream_is_hedged_after_its_stagger_then_asked_last() {
        local(async {
            let silent = fake(Behaviour::Silent).await;
            let good = fake(Behaviour::Answer(0)).await;
            // The real stagger delays; the silent one never ends its exchange before the
            // deadline, so only hedging can have the good one asked in time.
            let u = upstreams(&[silent.addr, good.addr]).await;
            let request = query("www.allowed.test");
            let got = u.exchange(&request).await.unwrap();
            assert_eq!(rcode(&got.answer), 0);
            assert_eq!((silent.asked.borrow().len(), good.asked.borrow().len()), (1, 1));
            // One socket per exchange: two ports at once.
            assert_ne!(silent.asked.borrow()[0], good.asked.borrow()[0]);
            // It lost after its stagger delay: demoted. The next queries skip it.
            assert!(demoted(&u, 0) && !demoted(&u, 1));
            for _ in 0..3 {
                u.exchange(&request).await.unwrap();
            }
            assert_eq!((silent.asked.borrow().len(), good.asked.borrow().len()), (1, 4));
        })
        .await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_demoted_upstream_is_probed_once_its_time_is_up_and_restored_when_it_answers() {
        local(async {
            let first = fake(Behaviour::Answer(0)).await;
            let second = fake(Behaviour::Answer(0)).await;
            let u = no_hedge(upstreams(&[first.addr, second.addr]).await);
            let health = &u.members[0].health;
            health.failed(Instant::now());
            assert!(demoted(&u, 0));
            u.exchange(&query("a.allowed.test")).await.unwrap();
            assert_eq!((first.asked.borrow().len(), second.asked.borrow().len()), (0, 1));
            // The demotion is over: the next query probes it first, and it answers.
            health.demoted_until.set(Some(Instant::now()));
            assert!(health.due_for_probe(Instant::now()));
            u.exchange(&query("a.allowed.test")).await.unwrap();
            assert_eq!((first.asked.borrow().len(), second.asked.borrow().len()), (1, 1));
            assert!(!demoted(&u, 0) && health.failures.get() == 0);
        })
        .await;
    }

    #[test]
    fn a_failed_probe_doubles_the_demotion_and_failures_together_count_once() {
        let health = Health::default();
        let t0 = Instant::now();
        health.failed(t0);
        assert_eq!(health.demoted_until.get(), Some(t0 + DEMOTED_FIRST));
        // Another query's exchange failing while it is demoted changes nothing.
        health.failed(t0 + Duration::from_secs(1));
        assert_eq!(health.failures.get(), 1);
        // The probe after the demotion fails: twice as long, and so on up to the most.
        let t1 = t0 + DEMOTED_FIRST;
        assert!(health.due_for_probe(t1));
        health.probe_since.set(Some(t1));
        assert!(health.demoted(t1) && !health.due_for_probe(t1));
        health.failed(t1);
        assert_eq!(health.demoted_until.get(), Some(t1 + 2 * DEMOTED_FIRST));
        for _ in 0..10 {
            let t = health.demoted_until.get().unwrap();
            health.failed(t);
        }
        let t = health.demoted_until.get().unwrap();
        health.failed(t);
        assert_eq!(health.demoted_until.get(), Some(t + DEMOTED_MAX));
        health.answered(Duration::from_millis(3));
        assert!(!health.demoted(t) && health.failures.get() == 0);
    }

    #[test]
    fn the_stagger_follows_the_measured_round_trip_within_bounds() {
        let health = Health::default();
        assert_eq!(health.stagger(), STAGGER_DEFAULT);
        for _ in 0..50 {
            health.answered(Duration::from_micros(300));
        }
        assert_eq!(health.stagger(), STAGGER_MIN);
        for _ in 0..50 {
            health.answered(Duration::from_millis(150));
        }
        assert!(health.stagger() > STAGGER_MIN && health.stagger() <= STAGGER_MAX, "{:?}", health.stagger());
        for _ in 0..50 {
            health.answered(Duration::from_secs(1));
        }
        assert_eq!(health.stagger(), STAGGER_MAX);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_message_refused_on_an_exchange_that_is_dropped_is_still_counted() {
        local(async {
            let forger = fake(Behaviour::ForgeThenSilent).await;
            let good = fake(Behaviour::Answer(0)).await;
            let u = upstreams(&[forger.addr, good.addr]).await;
            let got = u.exchange(&query("www.allowed.test")).await.unwrap();
            assert_eq!(rcode(&got.answer), 0);
            // The forged message came on the first exchange, dropped when the second answered.
            assert_eq!(got.refused.mismatched, 1);
            assert_eq!(u.refused_so_far(), 1);
        })
        .await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_query_that_cannot_go_upstream_demotes_nobody() {
        local(async {
            let good = fake(Behaviour::Answer(0)).await;
            let u = upstreams(&[good.addr, closed()]).await;
            let mut request = query("a.test");
            request[12] = 0xc0; // a compression pointer for the question name
            assert!(u.exchange(&request).await.is_err());
            assert!(!demoted(&u, 0) && !demoted(&u, 1));
            assert!(good.asked.borrow().is_empty());
        })
        .await;
    }
}
