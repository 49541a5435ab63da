//! Search-list expansions: a resolver given `name` with fewer than `ndots` dots first asks for
//! `name.<each search domain>` (Kubernetes: `ns.svc.cluster.local svc.cluster.local
//! cluster.local`, `ndots:5`), then for `name` itself; with at least `ndots` dots, `name` first,
//! then the expansions if it failed. Under a policy, each expansion is a refused query: six
//! blocked events per lookup (A and AAAA), twelve with Go's resolver.
//!
//! The rule (README, "Search-list expansions"). A refused query is labelled an expansion, and
//! kept out of the report's domain list and out of the event log below `cgfw.io/log: all`, only
//! if all of these hold:
//! - the policy is enforced: the query was answered NXDOMAIN by the proxy and never left the
//!   host (in audit mode a would-block query was forwarded upstream, so it stays an ordinary
//!   event: the label never hides a query that reached the network);
//! - its name is `stem.D` with a non-empty stem and `D` one of the container's own search
//!   domains (read from its resolv.conf at create; the container cannot change that list);
//! - the process that asked (same pid) also asks for `stem` itself, within [`HOLD`]: after it
//!   (the refused query is held until then), or before it (`stem` had `ndots` dots or more).
//!
//! Anything else — a lone `x.ns.svc.cluster.local`, a domain not in the list, a query whose
//! asker is unknown, a held query whose stem never came, more held queries than [`MAX_HELD`],
//! a query still held when the sidecar stops — is an ordinary blocked event, late by at most
//! [`HOLD`]. A labelled expansion is still counted (`totals.search_expansions`, `dns_queries`)
//! and listed by name in the report's `search_expansions` table (bounded), and written to the
//! event log with `"search_expansion": true` at `cgfw.io/log: all`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long a refused possible expansion waits for its stem; and how long an asked stem with
/// `ndots` dots or more labels the expansions that follow it.
pub const HOLD: Duration = Duration::from_secs(3);
/// Refused queries held at once; beyond this they are recorded at once, as ordinary events.
pub const MAX_HELD: usize = 256;
/// Stems asked first (`ndots` dots or more) remembered at once.
const MAX_RECENT: usize = 256;
/// Search domains kept (glibc used at most 6 until 2.26).
const MAX_DOMAINS: usize = 32;

/// The container's search list and ndots, from its resolv.conf.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SearchList {
    /// Lower case, no trailing dot, non-empty.
    pub domains: Vec<String>,
    pub ndots: u32,
}

impl SearchList {
    /// `search`/`domain` (the last such line wins, as in glibc) and `options ndots:N`
    /// (default 1, at most 15).
    pub fn parse(resolv_conf: &str) -> SearchList {
        let mut domains = Vec::new();
        let mut ndots = 1;
        for line in resolv_conf.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("search" | "domain") => {
                    domains = words
                        .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
                        .filter(|d| !d.is_empty() && d.len() <= 253)
                        .take(MAX_DOMAINS)
                        .collect();
                }
                Some("options") => {
                    for option in words {
                        if let Some(n) = option.strip_prefix("ndots:").and_then(|n| n.parse::<u32>().ok()) {
                            ndots = n.min(15);
                        }
                    }
                }
                _ => {}
            }
        }
        SearchList { domains, ndots }
    }

    /// The stems `name` expands: `stem` for every search domain `D` with `name == stem.D`.
    pub fn stems<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.domains.iter().filter_map(move |d| {
            let stem = name.strip_suffix(d.as_str())?.strip_suffix('.')?;
            (!stem.is_empty()).then_some(stem)
        })
    }

    fn asked_first(&self, name: &str) -> bool {
        name.bytes().filter(|b| *b == b'.').count() as u32 >= self.ndots
    }
}

/// Refused possible expansions waiting for their stem, and stems recently asked first.
pub struct Expansions<T> {
    list: SearchList,
    held: VecDeque<Held<T>>,
    recent: VecDeque<(u32, String, Instant)>,
}

struct Held<T> {
    pid: u32,
    name: String,
    at: Instant,
    item: T,
}

/// What to do with a refused query now.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused<T> {
    /// Not an expansion (or cannot be told): record it as an ordinary event.
    Ordinary(T),
    /// An expansion of a stem the same process asked just before: record it labelled.
    Expansion(T),
    /// Held until its stem is asked or [`HOLD`] passes.
    Held,
}

impl<T> Expansions<T> {
    pub fn new(list: SearchList) -> Expansions<T> {
        Expansions { list, held: VecDeque::new(), recent: VecDeque::new() }
    }

    /// Nothing to do at all: the container has no search list.
    pub fn inactive(&self) -> bool {
        self.list.domains.is_empty()
    }

    /// A query the proxy refused locally (enforce mode), asked by `pid`.
    pub fn refused(&mut self, now: Instant, pid: Option<u32>, name: &str, item: T) -> Refused<T> {
        let Some(pid) = pid else { return Refused::Ordinary(item) };
        let mut stems = self.list.stems(name).peekable();
        if stems.peek().is_none() {
            return Refused::Ordinary(item);
        }
        let asked_before = stems.any(|stem| {
            self.recent.iter().any(|(p, n, at)| *p == pid && n == stem && now.duration_since(*at) <= HOLD)
        });
        if asked_before {
            return Refused::Expansion(item);
        }
        if self.held.len() >= MAX_HELD {
            return Refused::Ordinary(item);
        }
        self.held.push_back(Held { pid, name: name.to_string(), at: now, item });
        Refused::Held
    }

    /// Any query (allowed or not) for `name` by `pid`: the held expansions of `name` by the
    /// same process, now labelled. Also remembers `name` as a stem asked first.
    pub fn asked(&mut self, now: Instant, pid: Option<u32>, name: &str) -> Vec<T> {
        let Some(pid) = pid else { return Vec::new() };
        if self.inactive() {
            return Vec::new();
        }
        if self.list.asked_first(name) {
            if self.recent.len() >= MAX_RECENT {
                self.recent.pop_front();
            }
            self.recent.push_back((pid, name.to_string(), now));
        }
        if self.held.is_empty() {
            return Vec::new();
        }
        let mut labelled = Vec::new();
        let mut kept = VecDeque::with_capacity(self.held.len());
        for held in self.held.drain(..) {
            let expands = held.pid == pid && now.duration_since(held.at) <= HOLD && self.list.stems(&held.name).any(|s| s == name);
            if expands {
                labelled.push(held.item);
            } else {
                kept.push_back(held);
            }
        }
        self.held = kept;
        labelled
    }

    /// Held queries whose stem did not come within [`HOLD`] (all of them with `all`): they
    /// are ordinary events. Also forgets old stems.
    pub fn expired(&mut self, now: Instant, all: bool) -> Vec<T> {
        while self.recent.front().is_some_and(|(_, _, at)| now.duration_since(*at) > HOLD) {
            self.recent.pop_front();
        }
        let mut out = Vec::new();
        while self.held.front().is_some_and(|h| all || now.duration_since(h.at) > HOLD) {
            out.extend(self.held.pop_front().map(|h| h.item));
        }
        out
    }

    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K8S: &str = "search team-a.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n";

    fn k8s<T>() -> Expansions<T> {
        Expansions::new(SearchList::parse(K8S))
    }

    #[test]
    fn resolv_conf_search_and_ndots() {
        let list = SearchList::parse(K8S);
        assert_eq!(list.domains, ["team-a.svc.cluster.local", "svc.cluster.local", "cluster.local"]);
        assert_eq!(list.ndots, 5);
        // The last of search/domain wins; a trailing dot and case are normalised.
        let list = SearchList::parse("search a.example\ndomain Corp.Example.\n");
        assert_eq!((list.domains, list.ndots), (vec!["corp.example".to_string()], 1));
        assert_eq!(SearchList::parse("nameserver 1.1.1.1\noptions ndots:99 timeout:1").ndots, 15);
        assert!(SearchList::parse("").domains.is_empty());
    }

    #[test]
    fn stems_are_on_a_label_boundary_and_non_empty() {
        let list = SearchList::parse(K8S);
        let stems: Vec<&str> = list.stems("allowed.test.svc.cluster.local").collect();
        assert_eq!(stems, ["allowed.test", "allowed.test.svc"]);
        assert_eq!(list.stems("cluster.local").count(), 0);
        assert_eq!(list.stems("xcluster.local").count(), 0);
        assert_eq!(list.stems("x.cluster.local.evil.test").count(), 0);
    }

    #[test]
    fn expansions_of_a_real_lookup_are_labelled_when_the_stem_follows() {
        let mut e = k8s();
        let t = Instant::now();
        // glibc, ndots:5: the three expansions (A and AAAA), then the name itself.
        for (i, name) in ["allowed.test.team-a.svc.cluster.local", "allowed.test.svc.cluster.local", "allowed.test.cluster.local"]
            .iter()
            .enumerate()
        {
            assert_eq!(e.refused(t, Some(7), name, "a"), Refused::Held, "{i}");
            assert_eq!(e.refused(t, Some(7), name, "aaaa"), Refused::Held, "{i}");
        }
        // Another process's query for the stem does not label them.
        assert!(e.asked(t, Some(8), "allowed.test").is_empty());
        assert_eq!(e.asked(t + Duration::from_millis(5), Some(7), "allowed.test").len(), 6);
        assert_eq!(e.held(), 0);
        assert!(e.expired(t + HOLD * 2, true).is_empty());
    }

    #[test]
    fn expansions_after_a_stem_asked_first_are_labelled() {
        // ndots:1 (podman --dns-search): "github.com" is asked first, refused, then expanded.
        let mut e = Expansions::new(SearchList::parse("search corp.example\n"));
        let t = Instant::now();
        assert!(e.asked(t, Some(3), "github.com").is_empty());
        assert_eq!(e.refused(t, Some(3), "github.com.corp.example", 1), Refused::Expansion(1));
        // Another process, or too late: held / ordinary.
        assert_eq!(e.refused(t, Some(4), "github.com.corp.example", 2), Refused::Held);
        let late = t + HOLD + Duration::from_millis(1);
        assert_eq!(e.refused(late, Some(3), "github.com.corp.example", 3), Refused::Held);
        // A stem with fewer dots than ndots is not remembered (it is asked after its expansions).
        let mut e = k8s();
        assert!(e.asked(t, Some(3), "allowed.test").is_empty());
        assert_eq!(e.refused(t, Some(3), "allowed.test.cluster.local", 1), Refused::Held);
    }

    #[test]
    fn what_is_not_an_expansion_stays_an_ordinary_block() {
        let mut e = k8s();
        let t = Instant::now();
        // A domain not in the container's list.
        assert_eq!(e.refused(t, Some(7), "x.other-ns.svc.cluster.local.example", 1), Refused::Ordinary(1));
        assert_eq!(e.refused(t, Some(7), "github.com", 2), Refused::Ordinary(2));
        // Unknown asker.
        assert_eq!(e.refused(t, None, "x.cluster.local", 3), Refused::Ordinary(3));
        // A lone expansion: held, then ordinary once HOLD has passed (or at exit).
        assert_eq!(e.refused(t, Some(7), "x.team-a.svc.cluster.local", 4), Refused::Held);
        assert_eq!(e.refused(t, Some(7), "y.team-a.svc.cluster.local", 5), Refused::Held);
        assert!(e.expired(t + HOLD, false).is_empty());
        // The stem of another held name labels only that one.
        assert_eq!(e.asked(t, Some(7), "y"), vec![5]);
        assert_eq!(e.expired(t + HOLD + Duration::from_millis(1), false), vec![4]);
        // A stem that comes after HOLD labels nothing.
        assert_eq!(e.refused(t, Some(7), "z.cluster.local", 6), Refused::Held);
        assert!(e.asked(t + HOLD + Duration::from_millis(1), Some(7), "z").is_empty());
        assert_eq!(e.expired(t + HOLD * 2, false), vec![6]);
        // "x.team-a.svc.cluster.local" expands stem "x.team-a" too (search domain
        // "svc.cluster.local"), but "x.team" is no stem of it.
        assert_eq!(e.refused(t, Some(7), "x.team-a.svc.cluster.local", 7), Refused::Held);
        assert!(e.asked(t, Some(7), "x.team").is_empty());
        assert_eq!(e.asked(t, Some(7), "x.team-a"), vec![7]);
    }

    #[test]
    fn the_hold_is_bounded_and_released_at_exit() {
        let mut e = k8s();
        let t = Instant::now();
        for i in 0..MAX_HELD {
            assert_eq!(e.refused(t, Some(1), &format!("n{i}.cluster.local"), i), Refused::Held);
        }
        assert_eq!(e.refused(t, Some(1), "over.cluster.local", 999), Refused::Ordinary(999));
        assert_eq!(e.expired(t, true).len(), MAX_HELD);
        // No search list: nothing is ever held.
        let mut none = Expansions::new(SearchList::parse("nameserver 1.1.1.1\n"));
        assert!(none.inactive());
        assert_eq!(none.refused(t, Some(1), "x.cluster.local", 1), Refused::Ordinary(1));
    }
}
