//! The firewall's figures in the Prometheus text exposition format (version 0.0.4), as
//! node_exporter's textfile collector reads them (`cgfw-runc metrics`, commands/metrics.rs).
//!
//! Per firewalled container: its report's counters (the sidecar rewrites the report about once
//! a second) and whether its sidecar runs. Node-wide: how many containers are firewalled and
//! how many sidecars run or are gone. Label sets are bounded and the same for every series of a
//! family (the textfile collector rejects a family whose series differ in label names): the
//! container id and the workload the engine named (`namespace`, `pod`, `container`; empty when
//! unknown) — never a domain, an address or a pid.
//!
//! No node-wide sum of a counter is written: it would fall when a container is deleted, which
//! Prometheus reads as a counter reset. `sum without (container_id, namespace, pod, container)
//! (rate(cgfw_dns_queries_total[5m]))` is the node-wide rate, correct across deletions.

use std::fmt::Write;

use serde::Deserialize;

/// The report fields this module reads; everything else in the report (its tables, up to a few
/// MiB) is skipped by the parser without being kept.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ReportFigures {
    #[serde(default)]
    pub mode: String,
    #[serde(default)]
    pub totals: crate::sidecar::recorder::Totals,
    #[serde(default)]
    pub workload: Workload,
}

/// Who the container is, as the engine told the runtime (CRI or podman annotations). Written
/// into the report as `"workload": {"namespace", "pod", "container", "sandbox_id", "name"}`;
/// only the three Kubernetes names become labels (one value each per container: bounded).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct Workload {
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
}

impl ReportFigures {
    pub fn parse(json: &[u8]) -> serde_json::Result<ReportFigures> {
        serde_json::from_slice(json)
    }
}

/// The state of a firewalled container's sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sidecar {
    Running,
    /// Recorded, and no longer running (killed, OOM-killed, crashed): the pinned programs still
    /// refuse what the policy refuses, but DNS goes unanswered and nothing is logged.
    Dead,
    /// Not recorded yet: `create` is starting it (or died while starting it).
    Starting,
}

impl Sidecar {
    fn name(self) -> &'static str {
        match self {
            Sidecar::Running => "running",
            Sidecar::Dead => "dead",
            Sidecar::Starting => "starting",
        }
    }
}

/// One firewalled container: its id, its sidecar and its report (None: missing or unreadable;
/// the container still gets its liveness series).
#[derive(Debug, Clone)]
pub struct ContainerFigures {
    pub id: String,
    pub sidecar: Sidecar,
    pub report: Option<ReportFigures>,
}

/// A label value longer than this is cut (at a character boundary): Kubernetes names are at
/// most 253 bytes, and a value comes from annotations a pod spec sets.
const MAX_LABEL_VALUE: usize = 253;

/// The label names every per-container series has, in this order.
const CONTAINER_LABELS: [&str; 4] = ["container_id", "namespace", "pod", "container"];

/// A per-container counter taken from the report's totals.
struct Counter {
    name: &'static str,
    help: &'static str,
    /// Extra label (name, value) and the total it reads.
    series: &'static [(Option<(&'static str, &'static str)>, fn(&ReportFigures) -> u64)],
}

fn dns_allowed(r: &ReportFigures) -> u64 {
    let t = &r.totals;
    t.dns_queries
        .saturating_sub(t.dns_blocked)
        .saturating_sub(t.dns_would_block)
        .saturating_sub(t.search_expansions)
}

const COUNTERS: &[Counter] = &[
    Counter {
        name: "cgfw_dns_queries_total",
        help: "DNS queries the container's firewall answered, by verdict (would_block: audit mode let it through; search_expansion: refused expansions of the container's own search list, README \"Search-list expansions\").",
        series: &[
            (Some(("verdict", "allowed")), dns_allowed),
            (Some(("verdict", "blocked")), |r| r.totals.dns_blocked),
            (Some(("verdict", "would_block")), |r| r.totals.dns_would_block),
            (Some(("verdict", "search_expansion")), |r| r.totals.search_expansions),
        ],
    },
    Counter {
        name: "cgfw_connects_refused_total",
        help: "Connections the firewall refused (connect, sendmsg to a new destination).",
        series: &[(None, |r| r.totals.connects_blocked)],
    },
    Counter {
        name: "cgfw_packets_dropped_total",
        help: "Packets the firewall dropped (egress filter, multicast, inbound, boundary).",
        series: &[(None, |r| r.totals.packets_blocked)],
    },
    Counter {
        name: "cgfw_would_block_total",
        help: "Connections and packets audit mode let through that enforce mode would refuse.",
        series: &[(None, |r| r.totals.would_block)],
    },
    Counter {
        name: "cgfw_events_suppressed_total",
        help: "Kernel events dropped by the kernel-side rate limit or a full ring buffer (not in the other counters).",
        series: &[(None, |r| r.totals.events_suppressed)],
    },
    Counter {
        name: "cgfw_log_lines_suppressed_total",
        help: "Events counted whose event-log line the log's rate limit left out.",
        series: &[(None, |r| r.totals.log_lines_suppressed)],
    },
    Counter {
        name: "cgfw_allow_map_full_total",
        help: "Addresses of allowed names refused because the container's allow map was full (fail closed).",
        series: &[(None, |r| r.totals.allow_map_full)],
    },
    Counter {
        name: "cgfw_event_log_errors_total",
        help: "Event-log lines that could not be written (e.g. a full disk).",
        series: &[(None, |r| r.totals.event_log_errors)],
    },
];

/// Renders the exposition: every family once (HELP, TYPE, then its series, containers in the
/// order given), ending with a newline.
pub fn render(containers: &[ContainerFigures]) -> String {
    let mut out = String::with_capacity(512 + containers.len() * 2048);
    let labels: Vec<String> = containers.iter().map(container_labels).collect();

    family(&mut out, "cgfw_firewalled_containers", "gauge", "Containers with a cgfw.io policy under this runtime root.");
    let _ = writeln!(out, "cgfw_firewalled_containers {}", containers.len());

    family(&mut out, "cgfw_sidecars", "gauge", "Firewall sidecars of the firewalled containers, by state (dead: the container runs on without DNS answers or event log).");
    for state in [Sidecar::Running, Sidecar::Dead, Sidecar::Starting] {
        let n = containers.iter().filter(|c| c.sidecar == state).count();
        let _ = writeln!(out, "cgfw_sidecars{{state=\"{}\"}} {n}", state.name());
    }

    family(&mut out, "cgfw_reports_unreadable", "gauge", "Firewalled containers whose report is missing or could not be parsed.");
    let _ = writeln!(out, "cgfw_reports_unreadable {}", containers.iter().filter(|c| c.report.is_none()).count());

    family(&mut out, "cgfw_sidecar_up", "gauge", "1 if the container's firewall sidecar runs, 0 if it is gone or not started yet.");
    for (c, l) in containers.iter().zip(&labels) {
        let _ = writeln!(out, "cgfw_sidecar_up{{{l}}} {}", u8::from(c.sidecar == Sidecar::Running));
    }

    family(&mut out, "cgfw_audit_mode", "gauge", "1 if the container's policy is in audit mode (nothing refused, would_block counted).");
    for (c, l) in containers.iter().zip(&labels) {
        if let Some(r) = &c.report {
            let _ = writeln!(out, "cgfw_audit_mode{{{l}}} {}", u8::from(r.mode == "audit"));
        }
    }

    for counter in COUNTERS {
        family(&mut out, counter.name, "counter", counter.help);
        for (c, l) in containers.iter().zip(&labels) {
            let Some(report) = &c.report else { continue };
            for (extra, value) in counter.series {
                match extra {
                    Some((name, v)) => {
                        let _ = writeln!(out, "{}{{{l},{name}=\"{v}\"}} {}", counter.name, value(report));
                    }
                    None => {
                        let _ = writeln!(out, "{}{{{l}}} {}", counter.name, value(report));
                    }
                }
            }
        }
    }
    out
}

fn family(out: &mut String, name: &str, typ: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {typ}");
}

/// `container_id="…",namespace="…",pod="…",container="…"` (no braces).
fn container_labels(c: &ContainerFigures) -> String {
    let w = c.report.as_ref().map(|r| &r.workload);
    let values = [
        Some(c.id.as_str()),
        w.and_then(|w| w.namespace.as_deref()),
        w.and_then(|w| w.pod.as_deref()),
        w.and_then(|w| w.container.as_deref()),
    ];
    let mut out = String::new();
    for (i, (name, value)) in CONTAINER_LABELS.iter().zip(values).enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{name}=\"{}\"", escape_label_value(value.unwrap_or("")));
    }
    out
}

/// A label value as the format wants it: `\`, `"` and line feed escaped; cut at
/// [`MAX_LABEL_VALUE`] bytes.
pub fn escape_label_value(value: &str) -> String {
    let mut cut = value.len().min(MAX_LABEL_VALUE);
    while !value.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut out = String::with_capacity(cut + 8);
    for ch in value[..cut].chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// HELP text: `\` and line feed escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(json: &str) -> ReportFigures {
        ReportFigures::parse(json.as_bytes()).unwrap()
    }

    /// A report as the sidecar writes it (its tables too), with a workload.
    const REPORT: &str = r#"{
        "container": "c1", "mode": "enforce", "started": "x", "updated": "y",
        "domains": [{"domain": "allowed.test", "verdict": "allowed", "rule": "allow allowed.test", "count": 2,
                     "ips": ["198.18.0.10"], "pids": [7], "first_seen": "a", "last_seen": "b"}],
        "blocked_destinations": [],
        "totals": {"dns_queries": 12, "dns_blocked": 3, "dns_would_block": 0, "search_expansions": 2, "connects_blocked": 4,
                   "packets_blocked": 5, "would_block": 0, "events_suppressed": 6, "log_lines_suppressed": 7,
                   "report_overflow": 0, "details_not_tracked": 0, "cache_resets": 0, "allow_map_full": 8,
                   "event_log_errors": 0},
        "workload": {"namespace": "team-a", "pod": "web-7d9f", "container": "app", "sandbox_id": "abc", "name": "x"}
    }"#;

    fn sample(out: &str, prefix: &str) -> Vec<String> {
        out.lines().filter(|l| l.starts_with(prefix)).map(String::from).collect()
    }

    #[test]
    fn a_report_becomes_labelled_counters() {
        let out = render(&[ContainerFigures { id: "c1".into(), sidecar: Sidecar::Running, report: Some(figures(REPORT)) }]);
        let l = r#"container_id="c1",namespace="team-a",pod="web-7d9f",container="app""#;
        for want in [
            format!("cgfw_dns_queries_total{{{l},verdict=\"allowed\"}} 7"),
            format!("cgfw_dns_queries_total{{{l},verdict=\"blocked\"}} 3"),
            format!("cgfw_dns_queries_total{{{l},verdict=\"would_block\"}} 0"),
            format!("cgfw_dns_queries_total{{{l},verdict=\"search_expansion\"}} 2"),
            format!("cgfw_connects_refused_total{{{l}}} 4"),
            format!("cgfw_packets_dropped_total{{{l}}} 5"),
            format!("cgfw_events_suppressed_total{{{l}}} 6"),
            format!("cgfw_log_lines_suppressed_total{{{l}}} 7"),
            format!("cgfw_allow_map_full_total{{{l}}} 8"),
            format!("cgfw_sidecar_up{{{l}}} 1"),
            format!("cgfw_audit_mode{{{l}}} 0"),
            "cgfw_firewalled_containers 1".to_string(),
            "cgfw_sidecars{state=\"running\"} 1".to_string(),
            "cgfw_sidecars{state=\"dead\"} 0".to_string(),
            "cgfw_reports_unreadable 0".to_string(),
        ] {
            assert!(out.lines().any(|line| line == want), "missing {want} in\n{out}");
        }
        // Nothing of the report's tables becomes a label.
        assert!(!out.contains("allowed.test") && !out.contains("198.18.0.10"), "{out}");
    }

    #[test]
    fn every_family_has_help_and_type_once_and_counters_end_in_total() {
        let containers = [
            ContainerFigures { id: "a".into(), sidecar: Sidecar::Running, report: Some(figures(REPORT)) },
            ContainerFigures { id: "b".into(), sidecar: Sidecar::Dead, report: None },
        ];
        let out = render(&containers);
        let types: Vec<&str> = out.lines().filter(|l| l.starts_with("# TYPE ")).collect();
        let mut names: Vec<&str> = types.iter().map(|l| l.split(' ').nth(2).unwrap()).collect();
        for t in &types {
            let mut parts = t.split(' ').skip(2);
            let (name, typ) = (parts.next().unwrap(), parts.next().unwrap());
            assert!(name.starts_with("cgfw_"), "{t}");
            assert_eq!(typ == "counter", name.ends_with("_total"), "{t}");
            assert!(out.contains(&format!("# HELP {name} ")), "{name} has no HELP");
        }
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "a family twice: {types:?}");
        // Every sample belongs to the family declared last before it.
        let mut current = "";
        for line in out.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap();
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(name, current, "{line}");
            }
        }
        assert!(out.ends_with('\n'));
    }

    #[test]
    fn a_container_without_a_readable_report_keeps_its_liveness_series() {
        let containers = [
            ContainerFigures { id: "ok".into(), sidecar: Sidecar::Running, report: Some(figures(REPORT)) },
            ContainerFigures { id: "gone".into(), sidecar: Sidecar::Dead, report: None },
        ];
        let out = render(&containers);
        let gone = r#"container_id="gone",namespace="",pod="",container="""#;
        assert!(out.contains(&format!("cgfw_sidecar_up{{{gone}}} 0\n")), "{out}");
        assert!(out.contains("cgfw_sidecars{state=\"dead\"} 1\n"));
        assert!(out.contains("cgfw_reports_unreadable 1\n"));
        assert!(out.contains("cgfw_firewalled_containers 2\n"));
        assert!(sample(&out, "cgfw_dns_queries_total").iter().all(|l| !l.contains("\"gone\"")), "{out}");
    }

    #[test]
    fn an_old_report_without_workload_or_some_totals_is_read() {
        let r = figures(r#"{"mode": "audit", "totals": {"dns_queries": 2, "dns_would_block": 1}}"#);
        let out = render(&[ContainerFigures { id: "x".into(), sidecar: Sidecar::Starting, report: Some(r) }]);
        let l = r#"container_id="x",namespace="",pod="",container="""#;
        assert!(out.contains(&format!("cgfw_dns_queries_total{{{l},verdict=\"would_block\"}} 1\n")), "{out}");
        assert!(out.contains(&format!("cgfw_dns_queries_total{{{l},verdict=\"allowed\"}} 1\n")), "{out}");
        assert!(out.contains(&format!("cgfw_audit_mode{{{l}}} 1\n")), "{out}");
        assert!(out.contains("cgfw_sidecars{state=\"starting\"} 1\n"));
        assert!(ReportFigures::parse(b"{\"totals\": ").is_err());
        assert!(ReportFigures::parse(b"garbage").is_err());
    }

    #[test]
    fn label_values_are_escaped_and_bounded() {
        assert_eq!(escape_label_value(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escape_label_value("a\nb"), "a\\nb");
        let long = "é".repeat(200);
        let cut = escape_label_value(&long);
        assert!(cut.len() <= MAX_LABEL_VALUE && cut.chars().all(|c| c == 'é'), "{}", cut.len());
        let mut r = figures(REPORT);
        r.workload.pod = Some("evil\"} 1\ncgfw_fake 2".into());
        let out = render(&[ContainerFigures { id: "c".into(), sidecar: Sidecar::Running, report: Some(r) }]);
        assert!(!out.lines().any(|l| l.starts_with("cgfw_fake")), "{out}");
        assert!(out.contains(r#"pod="evil\"} 1\ncgfw_fake 2""#), "{out}");
    }

    #[test]
    fn no_containers_is_still_a_valid_exposition() {
        let out = render(&[]);
        assert!(out.contains("cgfw_firewalled_containers 0\n"));
        assert!(out.contains("cgfw_sidecars{state=\"dead\"} 0\n"));
        assert!(!out.lines().any(|l| l.starts_with("cgfw_dns_queries_total")));
    }
}
