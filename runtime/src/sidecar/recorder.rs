//! The firewall's record: JSON-lines event log and the audit report.
//! Event log: `<log dir>/<id>.jsonl`, one event per line, filtered by `cgfw.io/log`.
//! Report: `<log dir>/<id>.report.json`, rewritten atomically when it changed (at most once a
//! second, and at exit), so `cgfw-runc report` can read it while the container runs.
//!
//! Everything here grows with what the container does, so everything has a bound (README,
//! "Cost per container"): log lines are rate limited ([`super::ratelimit`]) and the log is
//! rotated under a cap ([`super::eventlog`]); command lines are cut ([`super::cmdline`]);
//! caches have budgets in entries and bytes ([`super::bounded`]); the report's tables and
//! what each entry lists have caps, per entry and report-wide. What a bound leaves out is
//! counted in the report's totals, never silently dropped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Instant;

use anyhow::{Context, Result};
use policy::LogLevel;
use serde::{Deserialize, Serialize};

use super::bounded::BoundedCache;
use super::cmdline::{self, Cmdline};
use super::eventlog::{LogLimits, RotatingLog};
use super::ratelimit::LogRateLimit;
use super::search::{Expansions, Refused, SearchList};
use super::workload::{EventWorkload, Workload};

/// Caps that keep the sidecar's memory bounded whatever the container does. Worst case, all
/// full: ~2 MiB of report tables, ~1 MiB of command lines in them, 4 caches of 1 MiB, and
/// the report built from them once a second (about twice that, briefly).
const MAX_REPORT_DOMAINS: usize = 4096;
const MAX_REPORT_DESTINATIONS: usize = 4096;
const MAX_PIDS_PER_ENTRY: usize = 32;
const MAX_IPS_PER_ENTRY: usize = 64;
/// Distinct command lines listed per blocked destination.
const MAX_CMDLINES_PER_ENTRY: usize = 8;
/// Report-wide budgets for what entries list.
const MAX_REPORT_IPS: usize = 16_384;
const MAX_REPORT_PIDS: usize = 16_384;
const MAX_REPORT_CMDLINE_BYTES: usize = 1 << 20;
const MAX_RULE_TEXTS: usize = 256;
/// Names listed in the report's `search_expansions` (the rest counted in `report_overflow`).
const MAX_REPORT_EXPANSIONS: usize = 1024;
const MAX_WARNINGS: usize = 32;
/// Caches: command lines by process / by DNS client socket, names by address.
const MAX_CMDLINES: usize = 4096;
const MAX_CMDLINE_CACHE_BYTES: usize = 1 << 20;
const MAX_IP_NAMES: usize = 16_384;
const MAX_IP_NAME_BYTES: usize = 1 << 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventVerdict {
    Allowed,
    Blocked,
    WouldBlock,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Dns,
    Connect,
    Packet,
    /// A multicast group join or source filter (the address is the group).
    Multicast,
    /// A packet from outside to the container's network namespace (the address is its source).
    Inbound,
    /// A packet the kernel sent for the namespace (a reply, a report), not a socket of the
    /// container.
    Boundary,
    /// An address of an allowed name could not be written to the full allow map: it stays
    /// refused (fail closed) and the query got SERVFAIL.
    #[serde(rename = "allow_map_full")]
    AllowMapFull,
}

impl EventKind {
    /// A small tag for the rate limit's per-(process, kind) buckets.
    fn tag(self) -> u8 {
        self as u8
    }
}

/// One line of the event log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LogEvent {
    pub time: String,
    pub container: String,
    /// Who the container is (pod, container name), when the engine said so.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub workload: Option<EventWorkload>,
    pub pid: Option<u32>,
    /// At most [`cmdline::MAX_CMDLINE_BYTES`]; `cmdline_truncated` says it was cut.
    pub cmdline: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub cmdline_truncated: bool,
    pub comm: Option<String>,
    pub kind: EventKind,
    pub domain: Option<String>,
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub proto: String,
    pub verdict: EventVerdict,
    /// DNS only: a refused query labelled as an expansion of the container's own search list
    /// (see `search.rs`); written only at `cgfw.io/log: all`.
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub search_expansion: bool,
    pub rule: String,
    /// DNS only: query type and the addresses the answer allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qtype: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub answers: Vec<IpAddr>,
    /// DNS only: CNAME targets followed from the question name.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub cnames: Vec<String>,
    /// DNS only: answer records the proxy refused (off the CNAME chain, rebinding guard).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub dropped: Vec<String>,
}

impl LogEvent {
    /// An event stamped now with what every event has; who, where and the DNS details are
    /// filled in by the caller (struct update syntax).
    pub fn new(container: &str, kind: EventKind, proto: &str, verdict: EventVerdict, rule: String) -> LogEvent {
        LogEvent {
            time: now(),
            container: container.to_string(),
            workload: None,
            pid: None,
            cmdline: None,
            cmdline_truncated: false,
            comm: None,
            kind,
            domain: None,
            ip: None,
            port: None,
            proto: proto.to_string(),
            verdict,
            search_expansion: false,
            rule,
            qtype: None,
            answers: vec![],
            cnames: vec![],
            dropped: vec![],
        }
    }

    pub fn set_cmdline(&mut self, cmdline: Option<Cmdline>) {
        self.cmdline_truncated = cmdline.as_ref().is_some_and(|c| c.truncated);
        self.cmdline = cmdline.map(|c| c.text);
    }
}

/// The log line written (at most once a second) after lines were suppressed by the rate
/// limit, so a reader of the log alone knows lines are missing and how many.
#[derive(Serialize)]
struct SuppressedNote<'a> {
    time: String,
    container: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    workload: Option<&'a EventWorkload>,
    kind: &'static str,
    suppressed: u64,
    rule: &'static str,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DomainEntry {
    pub domain: String,
    pub verdict: Option<EventVerdict>,
    pub rule: String,
    pub count: u64,
    pub ips: BTreeSet<IpAddr>,
    pub pids: BTreeSet<u32>,
    pub first_seen: String,
    pub last_seen: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DestinationEntry {
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub proto: String,
    pub domain: Option<String>,
    pub verdict: Option<EventVerdict>,
    pub rule: String,
    pub count: u64,
    pub pids: BTreeSet<u32>,
    pub cmdlines: BTreeSet<String>,
    /// One of `cmdlines` was cut at the command-line limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cmdlines_truncated: bool,
    pub first_seen: String,
    pub last_seen: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Totals {
    pub dns_queries: u64,
    pub dns_blocked: u64,
    pub dns_would_block: u64,
    pub connects_blocked: u64,
    pub packets_blocked: u64,
    pub would_block: u64,
    /// Kernel events dropped by the kernel-side rate limit or a full ring buffer: not seen by
    /// the sidecar, so not in any other count here.
    pub events_suppressed: u64,
    /// Events counted in this report whose event-log line was not written because of the
    /// per-container log rate limit (userspace).
    pub log_lines_suppressed: u64,
    /// Domains and blocked destinations not added to the report because its tables were full.
    pub report_overflow: u64,
    /// Pids, addresses and command lines not listed in an entry because of the per-entry or
    /// report-wide caps.
    pub details_not_tracked: u64,
    /// Times a cache (command lines, names of addresses) was emptied to stay in its budget.
    pub cache_resets: u64,
    /// Addresses of allowed names refused because the allow map was full (fail closed).
    pub allow_map_full: u64,
    pub event_log_errors: u64,
    /// Refused queries labelled as expansions of the container's search list (in
    /// `dns_queries`, not in `dns_blocked`; see `search_expansions`).
    pub search_expansions: u64,
}

/// A name refused as a search-list expansion, and how often.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ExpansionEntry {
    pub domain: String,
    pub count: u64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    pub container: String,
    /// Who the container is, as the engine said (CRI annotations, podman's name); absent when
    /// nothing is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<Workload>,
    pub mode: String,
    pub started: String,
    pub updated: String,
    pub domains: Vec<DomainEntry>,
    pub blocked_destinations: Vec<DestinationEntry>,
    /// Refused queries that were expansions of the container's own search list (enforce mode,
    /// never left the host), by name; kept out of `domains`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search_expansions: Vec<ExpansionEntry>,
    pub totals: Totals,
    /// Gaps in this container's confinement that the firewall knows of (e.g. a kernel that
    /// cannot run one of its programs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

pub fn report_path(log_dir: &Path, id: &str) -> PathBuf {
    log_dir.join(format!("{id}.report.json"))
}

pub fn event_log_path(log_dir: &Path, id: &str) -> PathBuf {
    log_dir.join(format!("{id}.jsonl"))
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Per-domain report counters, kept small: a container may query thousands of names.
struct DomainStats {
    verdict: EventVerdict,
    rule: Rc<str>,
    count: u64,
    ips: Vec<IpAddr>,
    pids: Vec<u32>,
    /// Unix time in microseconds.
    first_seen: i64,
    last_seen: i64,
}

impl DomainStats {
    /// Adds the new ones of `ips`, at most `budget` (what the report-wide cap has left) and
    /// the entry's own cap. Returns (added, left out).
    fn add_ips(&mut self, ips: &[IpAddr], budget: usize) -> (usize, u64) {
        let (mut added, mut left_out) = (0, 0);
        for ip in ips {
            if self.ips.contains(ip) {
                continue;
            }
            if self.ips.len() < MAX_IPS_PER_ENTRY && added < budget {
                self.ips.push(*ip);
                added += 1;
            } else {
                left_out += 1;
            }
        }
        (added, left_out)
    }

    fn to_entry(&self, domain: &str) -> DomainEntry {
        DomainEntry {
            domain: domain.to_string(),
            verdict: Some(self.verdict),
            rule: self.rule.to_string(),
            count: self.count,
            ips: self.ips.iter().copied().collect(),
            pids: self.pids.iter().copied().collect(),
            first_seen: format_micros(self.first_seen),
            last_seen: format_micros(self.last_seen),
        }
    }
}

fn micros_now() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn format_micros(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

pub struct Recorder {
    container: String,
    workload: Option<Workload>,
    event_workload: Option<EventWorkload>,
    /// Refused queries held until they are known to be search-list expansions, or not.
    expansions: Expansions<LogEvent>,
    search_expansions: HashMap<Box<str>, u64>,
    level: LogLevel,
    log: Option<RotatingLog>,
    rate_limit: LogRateLimit,
    /// Lines suppressed since the last note in the log.
    unnoted_suppressed: u64,
    report_path: PathBuf,
    /// Compact per-domain counters; `DomainEntry` (with strings) is built only for output.
    domains: HashMap<Box<str>, DomainStats>,
    /// Rule texts shared by every entry that names them.
    rules: HashMap<String, Rc<str>>,
    destinations: BTreeMap<(Option<IpAddr>, Option<u16>, String), DestinationEntry>,
    totals: Totals,
    mode: String,
    started: String,
    warnings: Vec<String>,
    warnings_dropped: u64,
    /// The first address the full allow map refused, for the report's warning.
    first_allow_map_full: Option<String>,
    dirty: bool,
    /// Which name each allowed address came from, to name the domain of later packets:
    /// per querying process first (two names may share an address), then the latest.
    ip_names: BoundedCache<IpAddr, Rc<str>>,
    pid_ip_names: BoundedCache<(u32, IpAddr), Rc<str>>,
    /// cmdline by (pid, socket cookie) for DNS clients: a socket outlives no exec (resolver
    /// sockets are close-on-exec), so the pair names one process image without a /proc stat.
    socket_cmdlines: BoundedCache<(u32, u64), Cmdline>,
    /// cmdline by (pid, process start time), so a reused pid never gets a stale cmdline.
    cmdlines: BoundedCache<(u32, u64), Cmdline>,
    /// What the report's entries list, report-wide (see MAX_REPORT_*).
    report_ips: usize,
    report_pids: usize,
    report_cmdline_bytes: usize,
}

fn name_bytes(name: &Rc<str>) -> usize {
    name.len() + 16
}

impl Recorder {
    pub fn new(log_dir: &Path, id: &str, level: LogLevel, mode: &str, limits: LogLimits) -> Result<Recorder> {
        std::fs::create_dir_all(log_dir).with_context(|| format!("creating log dir {}", log_dir.display()))?;
        let log = match level {
            LogLevel::None => None,
            _ => {
                let path = event_log_path(log_dir, id);
                Some(RotatingLog::create(&path, limits).with_context(|| format!("opening event log {}", path.display()))?)
            }
        };
        let mut recorder = Recorder {
            container: id.to_string(),
            workload: None,
            event_workload: None,
            expansions: Expansions::new(SearchList::default()),
            search_expansions: HashMap::new(),
            level,
            log,
            rate_limit: LogRateLimit::new(Instant::now()),
            unnoted_suppressed: 0,
            report_path: report_path(log_dir, id),
            domains: HashMap::new(),
            rules: HashMap::new(),
            destinations: BTreeMap::new(),
            totals: Totals::default(),
            mode: mode.to_string(),
            started: now(),
            warnings: Vec::new(),
            warnings_dropped: 0,
            first_allow_map_full: None,
            dirty: true,
            ip_names: BoundedCache::new(MAX_IP_NAMES, MAX_IP_NAME_BYTES, name_bytes),
            pid_ip_names: BoundedCache::new(MAX_IP_NAMES, MAX_IP_NAME_BYTES, name_bytes),
            socket_cmdlines: BoundedCache::new(MAX_CMDLINES, MAX_CMDLINE_CACHE_BYTES, Cmdline::heap_bytes),
            cmdlines: BoundedCache::new(MAX_CMDLINES, MAX_CMDLINE_CACHE_BYTES, Cmdline::heap_bytes),
            report_ips: 0,
            report_pids: 0,
            report_cmdline_bytes: 0,
        };
        recorder.flush_report()?;
        Ok(recorder)
    }

    pub fn container(&self) -> &str {
        &self.container
    }

    /// Who the container is: in the report and on every event line from now on.
    pub fn set_workload(&mut self, workload: Workload) {
        self.event_workload = workload.for_events();
        self.workload = (!workload.is_empty()).then_some(workload);
        self.dirty = true;
    }

    /// The container's search list: refused expansions of it are told apart (enforce mode
    /// only: in audit mode every refused query was forwarded, see `search.rs`).
    pub fn set_search_list(&mut self, list: SearchList) {
        if self.mode == "enforce" {
            self.expansions = Expansions::new(list);
        }
    }

    /// The command line of `pid` (cut at the limit), read from /proc once and cached.
    pub fn cmdline(&mut self, pid: u32) -> Option<Cmdline> {
        let start = process_start_time(pid)?;
        if let Some(cached) = self.cmdlines.get(&(pid, start)) {
            return Some(cached.clone());
        }
        let cmdline = cmdline::read(pid)?;
        self.cmdlines.insert((pid, start), cmdline.clone());
        self.note_cache_resets();
        Some(cmdline)
    }

    /// The command line of the process owning a DNS client socket.
    pub fn socket_cmdline(&mut self, pid: u32, cookie: u64) -> Option<Cmdline> {
        if let Some(cached) = self.socket_cmdlines.get(&(pid, cookie)) {
            return Some(cached.clone());
        }
        let cmdline = cmdline::read(pid)?;
        self.socket_cmdlines.insert((pid, cookie), cmdline.clone());
        self.note_cache_resets();
        Some(cmdline)
    }

    pub fn remember_answer(&mut self, pid: Option<u32>, domain: &str, ips: &[IpAddr]) {
        // The same name for the same addresses again (a client asking over and over) changes
        // nothing: no new string, no re-insert.
        let known = |name: Option<&Rc<str>>| name.is_some_and(|n| **n == *domain);
        if ips.iter().all(|ip| {
            known(self.ip_names.get(ip)) && pid.is_none_or(|pid| known(self.pid_ip_names.get(&(pid, *ip))))
        }) {
            return;
        }
        let name: Rc<str> = Rc::from(domain);
        for ip in ips {
            self.ip_names.insert(*ip, name.clone());
            if let Some(pid) = pid {
                self.pid_ip_names.insert((pid, *ip), name.clone());
            }
        }
        self.note_cache_resets();
    }

    fn note_cache_resets(&mut self) {
        let resets = self.cmdlines.resets + self.socket_cmdlines.resets + self.ip_names.resets + self.pid_ip_names.resets;
        if resets != self.totals.cache_resets {
            self.totals.cache_resets = resets;
            self.dirty = true;
        }
    }

    /// The name `pid` resolved to `ip`, else the last name any process resolved to it.
    pub fn domain_of(&self, pid: Option<u32>, ip: &IpAddr) -> Option<String> {
        pid.and_then(|p| self.pid_ip_names.get(&(p, *ip)))
            .or_else(|| self.ip_names.get(ip))
            .map(|name| name.to_string())
    }

    /// A warning for the report (each text once; at most MAX_WARNINGS, the rest counted).
    pub fn add_warning(&mut self, warning: String) {
        if self.warnings.contains(&warning) {
            return;
        }
        if self.warnings.len() >= MAX_WARNINGS {
            self.warnings_dropped += 1;
        } else {
            self.warnings.push(warning);
        }
        self.dirty = true;
    }

    pub fn add_suppressed(&mut self, total: u64) {
        if total != self.totals.events_suppressed {
            self.totals.events_suppressed = total;
            self.dirty = true;
        }
    }

    pub fn record(&mut self, event: LogEvent) {
        if event.kind == EventKind::Dns && !self.expansions.inactive() {
            if let Some(name) = event.domain.as_deref() {
                let now = Instant::now();
                for expansion in self.expansions.asked(now, event.pid, name) {
                    self.record_expansion(expansion);
                }
                if event.verdict == EventVerdict::Blocked {
                    let name = name.to_string();
                    match self.expansions.refused(now, event.pid, &name, event) {
                        Refused::Ordinary(event) => self.record_now(event),
                        Refused::Expansion(event) => self.record_expansion(event),
                        Refused::Held => {}
                    }
                    return;
                }
            }
        }
        self.record_now(event)
    }

    /// Held refused queries whose stem did not come in time (every one with `all`, at exit):
    /// recorded as the ordinary blocked events they are.
    pub fn release_held(&mut self, all: bool) {
        for event in self.expansions.expired(Instant::now(), all) {
            self.record_now(event);
        }
    }

    fn record_expansion(&mut self, mut event: LogEvent) {
        self.dirty = true;
        self.totals.dns_queries += 1;
        self.totals.search_expansions += 1;
        let name = event.domain.as_deref().unwrap_or("-");
        if let Some(count) = self.search_expansions.get_mut(name) {
            *count += 1;
        } else if self.search_expansions.len() < MAX_REPORT_EXPANSIONS {
            self.search_expansions.insert(Box::from(name), 1);
        } else {
            self.totals.report_overflow += 1;
        }
        if self.level == LogLevel::All {
            event.search_expansion = true;
            self.write_event(event);
        }
    }

    fn record_now(&mut self, event: LogEvent) {
        self.dirty = true;
        match event.kind {
            EventKind::AllowMapFull => {
                self.totals.allow_map_full += 1;
                if self.first_allow_map_full.is_none() {
                    let ip = event.ip.map(|ip| ip.to_string()).unwrap_or_default();
                    self.first_allow_map_full =
                        Some(format!("{} -> {ip} at {}", event.domain.as_deref().unwrap_or("-"), event.time));
                }
            }
            EventKind::Dns => {
                self.totals.dns_queries += 1;
                match event.verdict {
                    EventVerdict::Blocked => self.totals.dns_blocked += 1,
                    EventVerdict::WouldBlock => self.totals.dns_would_block += 1,
                    EventVerdict::Allowed => {}
                }
                self.add_domain(&event);
            }
            EventKind::Connect | EventKind::Packet | EventKind::Multicast | EventKind::Inbound | EventKind::Boundary => {
                match (event.kind, event.verdict) {
                    (_, EventVerdict::WouldBlock) => self.totals.would_block += 1,
                    (EventKind::Connect, EventVerdict::Blocked) => self.totals.connects_blocked += 1,
                    (_, EventVerdict::Blocked) => self.totals.packets_blocked += 1,
                    _ => {}
                }
                if event.verdict != EventVerdict::Allowed {
                    self.add_destination(&event);
                } else if let Some(domain) = event.domain.clone() {
                    // An allowed connection to a name we resolved: the domain was contacted.
                    let mut as_dns = event.clone();
                    as_dns.domain = Some(domain);
                    as_dns.answers = event.ip.into_iter().collect();
                    self.add_domain_contact(&as_dns);
                }
            }
        }
        let wanted = match self.level {
            LogLevel::None => false,
            LogLevel::Blocked => event.verdict != EventVerdict::Allowed,
            LogLevel::All => true,
        };
        if wanted {
            self.write_event(event);
        }
    }

    /// One event line, if the log's rate limit lets it through (else counted).
    fn write_event(&mut self, mut event: LogEvent) {
        if self.log.is_none() {
            return;
        }
        if self.rate_limit.allow(event.pid, event.kind.tag(), Instant::now()) {
            event.workload = self.event_workload.clone();
            let line = serde_json::to_vec(&event).unwrap_or_default();
            self.write_line(&line);
        } else {
            self.totals.log_lines_suppressed += 1;
            self.unnoted_suppressed += 1;
        }
    }

    fn write_line(&mut self, line: &[u8]) {
        if let Some(log) = self.log.as_mut() {
            if log.write_line(line).is_err() {
                // A full disk must not stop the firewall; the loss is counted in the report.
                self.totals.event_log_errors += 1;
            }
        }
    }

    /// Writes a `log_suppressed` line if lines were suppressed since the last one (called
    /// once a second and at exit, so these notes are rate limited too).
    pub fn note_suppressed(&mut self) {
        if self.unnoted_suppressed == 0 {
            return;
        }
        let note = SuppressedNote {
            time: now(),
            container: &self.container,
            workload: self.event_workload.as_ref(),
            kind: "log_suppressed",
            suppressed: std::mem::take(&mut self.unnoted_suppressed),
            rule: "event log rate limit (per process and kind, and per container); every event is still counted in the report",
        };
        let line = serde_json::to_vec(&note).unwrap_or_default();
        self.write_line(&line);
    }

    fn intern_rule(&mut self, rule: &str) -> Rc<str> {
        if let Some(shared) = self.rules.get(rule) {
            return shared.clone();
        }
        let shared: Rc<str> = Rc::from(rule);
        // Rules come from the policy (few); upstream error texts vary, so the table is capped.
        if self.rules.len() < MAX_RULE_TEXTS {
            self.rules.insert(rule.to_string(), shared.clone());
        }
        shared
    }

    fn add_domain(&mut self, event: &LogEvent) {
        let Some(domain) = event.domain.as_deref() else { return };
        if !self.domains.contains_key(domain) && self.domains.len() >= MAX_REPORT_DOMAINS {
            self.totals.report_overflow += 1;
            return;
        }
        let now = micros_now();
        let rule = self.intern_rule(&event.rule);
        // Looked up first: the key is allocated only for a new name.
        if !self.domains.contains_key(domain) {
            self.domains.insert(
                Box::from(domain),
                DomainStats {
                    verdict: event.verdict,
                    rule: rule.clone(),
                    count: 0,
                    ips: Vec::new(),
                    pids: Vec::new(),
                    first_seen: now,
                    last_seen: now,
                },
            );
        }
        let entry = self.domains.get_mut(domain).expect("inserted above");
        entry.count += 1;
        // The strictest verdict seen is the one the report shows, with its rule.
        if event.verdict >= entry.verdict {
            entry.verdict = event.verdict;
            entry.rule = rule;
        }
        let (added, left_out) = entry.add_ips(&event.answers, MAX_REPORT_IPS - self.report_ips);
        self.report_ips += added;
        self.totals.details_not_tracked += left_out;
        if let Some(pid) = event.pid {
            if !entry.pids.contains(&pid) {
                if entry.pids.len() < MAX_PIDS_PER_ENTRY && self.report_pids < MAX_REPORT_PIDS {
                    entry.pids.push(pid);
                    self.report_pids += 1;
                } else {
                    self.totals.details_not_tracked += 1;
                }
            }
        }
        entry.last_seen = now;
    }

    fn add_domain_contact(&mut self, event: &LogEvent) {
        if let Some(entry) = event.domain.as_deref().and_then(|d| self.domains.get_mut(d)) {
            let (added, left_out) = entry.add_ips(&event.answers, MAX_REPORT_IPS - self.report_ips);
            self.report_ips += added;
            self.totals.details_not_tracked += left_out;
            entry.last_seen = micros_now();
        }
    }

    fn add_destination(&mut self, event: &LogEvent) {
        let key = (event.ip, event.port, event.proto.clone());
        if !self.destinations.contains_key(&key) && self.destinations.len() >= MAX_REPORT_DESTINATIONS {
            self.totals.report_overflow += 1;
            return;
        }
        let entry = self.destinations.entry(key).or_insert_with(|| DestinationEntry {
            ip: event.ip,
            port: event.port,
            proto: event.proto.clone(),
            first_seen: event.time.clone(),
            ..Default::default()
        });
        entry.count += 1;
        entry.verdict = entry.verdict.max(Some(event.verdict));
        entry.rule = event.rule.clone();
        if entry.domain.is_none() {
            entry.domain = event.domain.clone();
        }
        if let Some(pid) = event.pid {
            if !entry.pids.contains(&pid) {
                if entry.pids.len() < MAX_PIDS_PER_ENTRY && self.report_pids < MAX_REPORT_PIDS {
                    entry.pids.insert(pid);
                    self.report_pids += 1;
                } else {
                    self.totals.details_not_tracked += 1;
                }
            }
        }
        if let Some(cmdline) = &event.cmdline {
            if !entry.cmdlines.contains(cmdline) {
                if entry.cmdlines.len() < MAX_CMDLINES_PER_ENTRY
                    && self.report_cmdline_bytes + cmdline.len() <= MAX_REPORT_CMDLINE_BYTES
                {
                    entry.cmdlines.insert(cmdline.clone());
                    entry.cmdlines_truncated |= event.cmdline_truncated;
                    self.report_cmdline_bytes += cmdline.len();
                } else {
                    self.totals.details_not_tracked += 1;
                }
            }
        }
        entry.last_seen = event.time.clone();
    }

    pub fn report(&self) -> Report {
        Report {
            container: self.container.clone(),
            workload: self.workload.clone(),
            mode: self.mode.clone(),
            started: self.started.clone(),
            updated: now(),
            domains: {
                let mut domains: Vec<DomainEntry> =
                    self.domains.iter().map(|(name, stats)| stats.to_entry(name)).collect();
                domains.sort_by(|a, b| a.domain.cmp(&b.domain));
                domains
            },
            blocked_destinations: self.destinations.values().cloned().collect(),
            search_expansions: {
                let mut names: Vec<ExpansionEntry> = self
                    .search_expansions
                    .iter()
                    .map(|(domain, count)| ExpansionEntry { domain: domain.to_string(), count: *count })
                    .collect();
                names.sort_by(|a, b| a.domain.cmp(&b.domain));
                names
            },
            totals: self.totals.clone(),
            warnings: self.report_warnings(),
        }
    }

    fn report_warnings(&self) -> Vec<String> {
        let mut warnings = self.warnings.clone();
        if let Some(first) = &self.first_allow_map_full {
            warnings.push(format!(
                "the allow map was full: {} addresses of allowed names were not allowed (fail closed: \
                 their queries got SERVFAIL; allow_map_full events in the log); first: {first}",
                self.totals.allow_map_full
            ));
        }
        if self.warnings_dropped > 0 {
            warnings.push(format!("{} more warnings not kept", self.warnings_dropped));
        }
        warnings
    }

    /// Writes the report if anything changed since the last write (atomic rename).
    /// Writes out buffered event-log lines.
    pub fn flush_log(&mut self) {
        if let Some(log) = self.log.as_mut() {
            let _ = log.flush();
        }
    }

    pub fn flush_report(&mut self) -> Result<()> {
        self.flush_log();
        if !self.dirty {
            return Ok(());
        }
        let tmp = self.report_path.with_extension("json.tmp");
        // Streamed to the file: the report is never held a second time as text.
        (|| -> Result<()> {
            let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            serde_json::to_writer_pretty(&mut out, &self.report())?;
            out.flush()?;
            Ok(())
        })()
        .with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.report_path).with_context(|| format!("writing {}", self.report_path.display()))?;
        self.dirty = false;
        Ok(())
    }

    /// Writes the report even if nothing changed: `cgfw-runc report` asked for it and waits
    /// for the new file (a rename always gives it a new inode).
    pub fn rewrite_report(&mut self) -> Result<()> {
        self.dirty = true;
        self.flush_report()
    }
}

/// Start time of a live process (field 22 of /proc/<pid>/stat), which tells reused pids
/// apart. A zombie counts as gone: it has exited, only its parent has not reaped it yet.
pub fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 2..].split_whitespace();
    if matches!(fields.next()?, "Z" | "X" | "x") {
        return None;
    }
    fields.nth(18)?.parse().ok()
}

/// Renders a report for people.
pub fn render_table(report: &Report) -> String {
    let mut out = String::new();
    out.push_str(&format!("container {} (mode {}), since {}, updated {}\n", report.container, report.mode, report.started, report.updated));
    if let Some(workload) = &report.workload {
        out.push_str(&format!("workload: {}\n", workload.describe()));
    }
    out.push('\n');
    out.push_str(&format!("{:<40} {:<12} {:>6}  {:<36} {:<16} {}\n", "DOMAIN", "VERDICT", "COUNT", "RULE", "PIDS", "IPS"));
    for d in &report.domains {
        out.push_str(&format!(
            "{:<40} {:<12} {:>6}  {:<36} {:<16} {}\n",
            d.domain,
            verdict_name(d.verdict),
            d.count,
            d.rule,
            join(d.pids.iter()),
            join(d.ips.iter()),
        ));
    }
    out.push_str(&format!("\n{:<40} {:<6} {:<12} {:>6}  {:<24} {}\n", "BLOCKED DESTINATION", "PROTO", "VERDICT", "COUNT", "DOMAIN", "PIDS / CMDLINES"));
    for d in &report.blocked_destinations {
        let dest = match (d.ip, d.port) {
            (Some(IpAddr::V6(ip)), Some(port)) => format!("[{ip}]:{port}"),
            (Some(ip), Some(port)) => format!("{ip}:{port}"),
            (Some(ip), None) => ip.to_string(),
            _ => "-".into(),
        };
        out.push_str(&format!(
            "{:<40} {:<6} {:<12} {:>6}  {:<24} {} {}\n",
            dest,
            d.proto,
            verdict_name(d.verdict),
            d.count,
            d.domain.as_deref().unwrap_or("-"),
            join(d.pids.iter()),
            join(d.cmdlines.iter().map(|c| format!("{c:?}"))),
        ));
    }
    if !report.search_expansions.is_empty() {
        out.push_str(&format!(
            "\nsearch-list expansions refused (NXDOMAIN, never left the host; the name itself was asked next): {}\n",
            report.totals.search_expansions
        ));
        for e in &report.search_expansions {
            out.push_str(&format!("  {:<60} {:>6}\n", e.domain, e.count));
        }
    }
    for warning in &report.warnings {
        out.push_str(&format!("\nWARNING: {warning}\n"));
    }
    let t = &report.totals;
    out.push_str(&format!(
        "\ntotals: {} DNS queries ({} blocked, {} would block), {} connects blocked, {} packets blocked, {} would block, {} events suppressed by the kernel's rate limit, {} log lines suppressed by the log's rate limit\n",
        t.dns_queries,
        t.dns_blocked,
        t.dns_would_block,
        t.connects_blocked,
        t.packets_blocked,
        t.would_block,
        t.events_suppressed,
        t.log_lines_suppressed
    ));
    out
}

fn verdict_name(v: Option<EventVerdict>) -> &'static str {
    match v {
        Some(EventVerdict::Allowed) => "allowed",
        Some(EventVerdict::Blocked) => "blocked",
        Some(EventVerdict::WouldBlock) => "would_block",
        None => "-",
    }
}

fn join<T: ToString>(items: impl Iterator<Item = T>) -> String {
    let parts: Vec<String> = items.map(|i| i.to_string()).collect();
    if parts.is_empty() { "-".into() } else { parts.join(",") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, verdict: EventVerdict, domain: Option<&str>, ip: Option<&str>) -> LogEvent {
        LogEvent {
            pid: Some(42),
            cmdline: Some("wget http://github.com".into()),
            comm: Some("wget".into()),
            domain: domain.map(String::from),
            ip: ip.map(|s| s.parse().unwrap()),
            port: Some(80),
            ..LogEvent::new("c1", kind, "tcp", verdict, "block github.com".into())
        }
    }

    #[test]
    fn log_level_filters_lines_and_report_counts_everything() {
        let dir = std::env::temp_dir().join(format!("cgfw-rec-{}", std::process::id()));
        let mut rec = Recorder::new(&dir, "c1", LogLevel::Blocked, "enforce", LogLimits::default()).unwrap();
        rec.record(event(EventKind::Dns, EventVerdict::Allowed, Some("allowed.test"), None));
        rec.record(event(EventKind::Dns, EventVerdict::Blocked, Some("github.com"), None));
        rec.record(event(EventKind::Connect, EventVerdict::Blocked, None, Some("198.18.0.20")));
        rec.flush_report().unwrap();
        let lines = std::fs::read_to_string(event_log_path(&dir, "c1")).unwrap();
        assert_eq!(lines.lines().count(), 2, "{lines}");
        assert!(lines.contains("\"domain\":\"github.com\""));
        let report: Report = serde_json::from_slice(&std::fs::read(report_path(&dir, "c1")).unwrap()).unwrap();
        assert_eq!(report.domains.len(), 2);
        assert_eq!(report.totals.dns_queries, 2);
        assert_eq!(report.totals.dns_blocked, 1);
        assert_eq!(report.totals.connects_blocked, 1);
        assert_eq!(report.blocked_destinations[0].cmdlines.iter().next().unwrap(), "wget http://github.com");
        assert!(render_table(&report).contains("github.com"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_flood_is_counted_in_full_while_the_log_and_the_report_stay_bounded() {
        let dir = std::env::temp_dir().join(format!("cgfw-rec4-{}", std::process::id()));
        let mut rec = Recorder::new(&dir, "c4", LogLevel::Blocked, "enforce", LogLimits::default()).unwrap();
        let long = Cmdline::new("x".repeat(5000), false);
        for i in 0..20_000u32 {
            let mut e = event(EventKind::Dns, EventVerdict::Blocked, Some(&format!("f{i}.flood.test")), None);
            e.pid = Some(100 + i % 7);
            e.set_cmdline(Some(long.clone()));
            rec.record(e);
            let mut e = event(EventKind::Connect, EventVerdict::Blocked, None, Some(&format!("198.18.{}.{}", i / 256 % 256, i % 256)));
            e.cmdline = Some(format!("{}{i}", "y".repeat(1000)));
            rec.record(e);
        }
        rec.note_suppressed();
        rec.flush_report().unwrap();
        let report: Report = serde_json::from_slice(&std::fs::read(report_path(&dir, "c4")).unwrap()).unwrap();
        let t = &report.totals;
        // Every event counted; what the bounds left out counted too.
        assert_eq!((t.dns_blocked, t.connects_blocked), (20_000, 20_000));
        assert_eq!(report.domains.len(), MAX_REPORT_DOMAINS);
        assert_eq!(report.blocked_destinations.len(), MAX_REPORT_DESTINATIONS);
        assert_eq!(t.report_overflow, 2 * 20_000 - (MAX_REPORT_DOMAINS + MAX_REPORT_DESTINATIONS) as u64);
        let cmdline_bytes: usize = report.blocked_destinations.iter().flat_map(|d| d.cmdlines.iter()).map(|c| c.len()).sum();
        assert!(cmdline_bytes <= MAX_REPORT_CMDLINE_BYTES, "{cmdline_bytes}");
        assert!(t.details_not_tracked > 0, "the report-wide command-line budget was reached");
        // The log (well under its cap here: rotation has tests of its own): rate limited per
        // process (7 DNS clients and one connecting process, 100 lines each at once), the
        // rest counted, command lines cut and marked, and the suppression noted in it.
        let log = std::fs::read_to_string(event_log_path(&dir, "c4")).unwrap();
        let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        let events = lines.iter().filter(|l| l["kind"] != "log_suppressed").count() as u64;
        // (At least the bursts; the buckets refill a little while the loop runs.)
        assert!((8 * super::super::ratelimit::SOURCE_BURST as u64..2000).contains(&events), "{events}");
        assert_eq!(t.log_lines_suppressed + events, 40_000);
        assert!(lines.iter().all(|l| l["cmdline"].as_str().map_or(true, |c| c.len() <= cmdline::MAX_CMDLINE_BYTES)));
        assert!(lines.iter().any(|l| l["cmdline_truncated"] == true));
        let note = lines.iter().find(|l| l["kind"] == "log_suppressed").expect("a log_suppressed note");
        assert_eq!(note["suppressed"], t.log_lines_suppressed);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn dns(name: &str, verdict: EventVerdict, pid: u32) -> LogEvent {
        let mut e = event(EventKind::Dns, verdict, Some(name), None);
        e.pid = Some(pid);
        e
    }

    fn read_report(dir: &Path, id: &str) -> Report {
        serde_json::from_slice(&std::fs::read(report_path(dir, id)).unwrap()).unwrap()
    }

    #[test]
    fn search_list_expansions_are_counted_apart_and_the_rest_stays_blocked() {
        use crate::sidecar::search::SearchList;
        let dir = std::env::temp_dir().join(format!("cgfw-rec6-{}", std::process::id()));
        let mut rec = Recorder::new(&dir, "c6", LogLevel::All, "enforce", LogLimits::default()).unwrap();
        rec.set_search_list(SearchList::parse("search ns.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n"));
        rec.set_workload(Workload { namespace: Some("ns".into()), pod: Some("p".into()), sandbox_id: Some("s1".into()), ..Default::default() });
        for d in ["ns.svc.cluster.local", "svc.cluster.local", "cluster.local"] {
            rec.record(dns(&format!("allowed.test.{d}"), EventVerdict::Blocked, 42));
        }
        // A lone expansion-shaped query, and one whose stem another process asks.
        rec.record(dns("lone.cluster.local", EventVerdict::Blocked, 42));
        rec.record(dns("other.cluster.local", EventVerdict::Blocked, 42));
        rec.record(dns("other", EventVerdict::Blocked, 43));
        rec.record(dns("allowed.test", EventVerdict::Allowed, 42));
        rec.release_held(true);
        rec.flush_report().unwrap();
        let report = read_report(&dir, "c6");
        let t = &report.totals;
        assert_eq!((t.search_expansions, t.dns_blocked, t.dns_queries), (3, 3, 7));
        let names: Vec<&str> = report.domains.iter().map(|d| d.domain.as_str()).collect();
        assert_eq!(names, ["allowed.test", "lone.cluster.local", "other", "other.cluster.local"]);
        assert_eq!(report.search_expansions.len(), 3);
        assert_eq!(report.workload.as_ref().unwrap().sandbox_id.as_deref(), Some("s1"));
        let log = std::fs::read_to_string(event_log_path(&dir, "c6")).unwrap();
        let lines: Vec<serde_json::Value> = log.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.iter().filter(|l| l["search_expansion"] == true).count(), 3);
        assert!(lines.iter().all(|l| l["workload"] == serde_json::json!({"namespace": "ns", "pod": "p"})), "{log}");
        assert!(render_table(&report).contains("workload: pod ns/p, sandbox s1"));
        std::fs::remove_dir_all(&dir).unwrap();

        // Audit mode: nothing is labelled (would-block queries were forwarded).
        let mut rec = Recorder::new(&dir, "c7", LogLevel::Blocked, "audit", LogLimits::default()).unwrap();
        rec.set_search_list(SearchList::parse("search cluster.local\noptions ndots:5\n"));
        rec.record(dns("allowed.test.cluster.local", EventVerdict::WouldBlock, 42));
        rec.record(dns("allowed.test", EventVerdict::Allowed, 42));
        rec.flush_report().unwrap();
        let report = read_report(&dir, "c7");
        assert_eq!((report.totals.search_expansions, report.totals.dns_would_block), (0, 1));
        assert!(report.workload.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_full_allow_map_is_one_warning_with_a_count() {
        let dir = std::env::temp_dir().join(format!("cgfw-rec5-{}", std::process::id()));
        let mut rec = Recorder::new(&dir, "c5", LogLevel::Blocked, "enforce", LogLimits::default()).unwrap();
        for _ in 0..3 {
            rec.record(event(EventKind::AllowMapFull, EventVerdict::Blocked, Some("allowed.test"), Some("198.18.0.10")));
        }
        rec.add_warning("something else".into());
        rec.add_warning("something else".into());
        rec.flush_report().unwrap();
        let report: Report = serde_json::from_slice(&std::fs::read(report_path(&dir, "c5")).unwrap()).unwrap();
        assert_eq!(report.totals.allow_map_full, 3);
        assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
        let w = report.warnings.iter().find(|w| w.contains("allow map")).unwrap();
        assert!(w.contains("3 addresses") && w.contains("allowed.test -> 198.18.0.10"), "{w}");
        let log = std::fs::read_to_string(event_log_path(&dir, "c5")).unwrap();
        assert_eq!(log.lines().filter(|l| l.contains("\"kind\":\"allow_map_full\"")).count(), 3);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_asked_for_report_is_a_new_file_even_when_nothing_changed() {
        // `cgfw-runc report` waits for the report's inode to change; the periodic flush skips
        // an unchanged report, the asked-for rewrite must not.
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("cgfw-rec3-{}", std::process::id()));
        let mut rec = Recorder::new(&dir, "c3", LogLevel::None, "enforce", LogLimits::default()).unwrap();
        let inode = || std::fs::metadata(report_path(&dir, "c3")).unwrap().ino();
        let first = inode();
        rec.flush_report().unwrap();
        assert_eq!(inode(), first, "nothing changed, nothing written");
        rec.rewrite_report().unwrap();
        assert_ne!(inode(), first);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn own_cmdline_and_start_time_are_read() {
        let mut rec_dir = std::env::temp_dir();
        rec_dir.push(format!("cgfw-rec2-{}", std::process::id()));
        let mut rec = Recorder::new(&rec_dir, "c2", LogLevel::None, "audit", LogLimits::default()).unwrap();
        let me = std::process::id();
        assert!(process_start_time(me).is_some());
        assert!(!rec.cmdline(me).unwrap().text.is_empty());
        assert!(!event_log_path(&rec_dir, "c2").exists());
        std::fs::remove_dir_all(&rec_dir).unwrap();
    }
}
