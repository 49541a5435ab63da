//! Which workload a container belongs to, as the engine told the runtime: the Kubernetes pod
//! (namespace, pod name, container name, sandbox id) from the CRI's bundle annotations, or the
//! podman container name. Events and the report carry it so a node's logs say which pod.
//!
//! Every value is untrusted (annotations come from the pod spec, names from whoever runs
//! podman) and ends up in JSON logs, the report's table and Prometheus labels: a value is kept
//! only if it is 1 to [`MAX_VALUE_LEN`] bytes of `[A-Za-z0-9._-]` (what Kubernetes object
//! names, container names, podman names and sandbox ids are made of). Anything else is
//! dropped with a warning — in the runtime's log and in the report — and the container is
//! still created: who it belongs to is information, not policy, and a container that runs
//! under runc must run under cgfw-runc.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Longest value kept: a Kubernetes object name (DNS subdomain) is at most 253 bytes.
pub const MAX_VALUE_LEN: usize = 253;
/// c/storage's container list is read only up to this size (podman's container name).
const MAX_CONTAINERS_JSON: u64 = 16 << 20;

/// containerd's CRI plugin (and CRI-O, which sets both sets).
const CRI_NAMESPACE: &str = "io.kubernetes.cri.sandbox-namespace";
const CRI_POD: &str = "io.kubernetes.cri.sandbox-name";
const CRI_CONTAINER: &str = "io.kubernetes.cri.container-name";
const CRI_SANDBOX_ID: &str = "io.kubernetes.cri.sandbox-id";
/// CRI-O (the kubelet's labels, copied into the spec's annotations).
const CRIO_NAMESPACE: &str = "io.kubernetes.pod.namespace";
const CRIO_POD: &str = "io.kubernetes.pod.name";
const CRIO_CONTAINER: &str = "io.kubernetes.container.name";
const CRIO_SANDBOX_ID: &str = "io.kubernetes.cri-o.SandboxID";
/// podman marks its containers with this annotation (value `libpod`).
const PODMAN_MANAGER: &str = "io.container.manager";

/// The report's `workload` object; events carry it without `sandbox_id` (kept compact: the
/// container id is on every line, the sandbox id once in the report).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Workload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox_id: Option<String>,
    /// The engine's own name for the container (podman's `--name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// What an event line carries (the workload without the sandbox id).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventWorkload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl Workload {
    pub fn is_empty(&self) -> bool {
        *self == Workload::default()
    }

    /// The fields events carry, or None when there are none.
    pub fn for_events(&self) -> Option<EventWorkload> {
        let event = EventWorkload {
            namespace: self.namespace.clone(),
            pod: self.pod.clone(),
            container: self.container.clone(),
            name: self.name.clone(),
        };
        (event != EventWorkload::default()).then_some(event)
    }

    /// `namespace/pod container` (or the name), for people.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        match (&self.namespace, &self.pod) {
            (Some(ns), Some(pod)) => parts.push(format!("pod {ns}/{pod}")),
            (None, Some(pod)) => parts.push(format!("pod {pod}")),
            (Some(ns), None) => parts.push(format!("namespace {ns}")),
            (None, None) => {}
        }
        if let Some(c) = &self.container {
            parts.push(format!("container {c}"));
        }
        if let Some(n) = &self.name {
            parts.push(format!("name {n}"));
        }
        if let Some(s) = &self.sandbox_id {
            parts.push(format!("sandbox {s}"));
        }
        parts.join(", ")
    }
}

/// The workload named by a bundle's annotations (CRI) or by podman's container store, and
/// warnings for values that were dropped.
pub fn from_bundle(annotations: &HashMap<String, String>, bundle: &Path, id: &str) -> (Workload, Vec<String>) {
    let mut warnings = Vec::new();
    let mut pick = |keys: &[&str]| -> Option<String> {
        let (key, value) = keys.iter().find_map(|k| annotations.get(*k).map(|v| (*k, v)))?;
        checked(key, value, &mut warnings)
    };
    let mut workload = Workload {
        namespace: pick(&[CRI_NAMESPACE, CRIO_NAMESPACE]),
        pod: pick(&[CRI_POD, CRIO_POD]),
        container: pick(&[CRI_CONTAINER, CRIO_CONTAINER]),
        sandbox_id: pick(&[CRI_SANDBOX_ID, CRIO_SANDBOX_ID]),
        name: None,
    };
    if annotations.get(PODMAN_MANAGER).map(String::as_str) == Some("libpod") {
        if let Some(name) = podman_name(bundle, id) {
            workload.name = checked("podman container name", &name, &mut warnings);
        }
    }
    (workload, warnings)
}

/// `value` if it is a well-formed name, else None and a warning that shows it escaped and cut.
fn checked(source: &str, value: &str, warnings: &mut Vec<String>) -> Option<String> {
    let ok = !value.is_empty()
        && value.len() <= MAX_VALUE_LEN
        && value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        return Some(value.to_string());
    }
    let shown: String = value.chars().take(64).collect::<String>().escape_default().collect();
    let cut = if value.chars().count() > 64 { "..." } else { "" };
    warnings.push(format!(
        "workload identity: {source} dropped (not 1-{MAX_VALUE_LEN} bytes of A-Z a-z 0-9 . _ -): \"{shown}{cut}\" ({} bytes)",
        value.len()
    ));
    None
}

/// podman 4 puts no name in the spec (the hostname is the short id): its name is in the
/// container store next to the bundle, `<graphroot>/<driver>-containers/containers.json`, the
/// bundle being `<graphroot>/<driver>-containers/<id>/userdata`. Read only when the bundle is
/// exactly there and the entry's id is the container's.
fn podman_name(bundle: &Path, id: &str) -> Option<String> {
    use std::io::Read;
    #[derive(Deserialize)]
    struct Entry {
        id: String,
        #[serde(default)]
        names: Vec<String>,
    }
    if bundle.file_name()? != "userdata" || bundle.parent()?.file_name()? != id {
        return None;
    }
    let list = bundle.parent()?.parent()?.join("containers.json");
    let mut text = Vec::new();
    std::fs::File::open(list).ok()?.take(MAX_CONTAINERS_JSON).read_to_end(&mut text).ok()?;
    let entries: Vec<Entry> = serde_json::from_slice(&text).ok()?;
    entries.into_iter().find(|e| e.id == id)?.names.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn annotations(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn cri_annotations_name_the_pod() {
        let a = annotations(&[
            (CRI_NAMESPACE, "team-a"),
            (CRI_POD, "deploy-7f9c-x2"),
            (CRI_CONTAINER, "deploy"),
            (CRI_SANDBOX_ID, &"ab".repeat(32)),
            ("io.kubernetes.cri.container-type", "container"),
        ]);
        let (w, warnings) = from_bundle(&a, Path::new("/nowhere"), "c1");
        assert!(warnings.is_empty());
        assert_eq!(w.namespace.as_deref(), Some("team-a"));
        assert_eq!(w.pod.as_deref(), Some("deploy-7f9c-x2"));
        assert_eq!(w.container.as_deref(), Some("deploy"));
        assert_eq!(w.sandbox_id.as_deref(), Some(&*"ab".repeat(32)));
        let json = serde_json::to_string(&w.for_events().unwrap()).unwrap();
        assert_eq!(json, r#"{"namespace":"team-a","pod":"deploy-7f9c-x2","container":"deploy"}"#);
    }

    #[test]
    fn crio_annotations_are_read_and_cri_wins() {
        let a = annotations(&[(CRIO_NAMESPACE, "ns1"), (CRIO_POD, "p1"), (CRIO_CONTAINER, "c1"), (CRI_POD, "p2")]);
        let (w, _) = from_bundle(&a, Path::new("/nowhere"), "c1");
        assert_eq!((w.namespace.as_deref(), w.pod.as_deref(), w.container.as_deref()), (Some("ns1"), Some("p2"), Some("c1")));
    }

    #[test]
    fn nothing_known_is_empty_and_serializes_to_nothing() {
        let (w, warnings) = from_bundle(&annotations(&[("cgfw.io/allow", "x.test")]), Path::new("/b"), "c1");
        assert!(w.is_empty() && warnings.is_empty());
        assert!(w.for_events().is_none());
        assert_eq!(serde_json::to_string(&w).unwrap(), "{}");
    }

    #[test]
    fn bad_values_are_dropped_with_an_escaped_warning() {
        let long = "a".repeat(MAX_VALUE_LEN + 1);
        let a = annotations(&[
            (CRI_NAMESPACE, "ok-ns"),
            (CRI_POD, "evil\n{\"verdict\":\"allowed\"}"),
            (CRI_CONTAINER, &long),
            (CRI_SANDBOX_ID, ""),
        ]);
        let (w, warnings) = from_bundle(&a, Path::new("/b"), "c1");
        assert_eq!(w, Workload { namespace: Some("ok-ns".into()), ..Default::default() });
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        let pod = warnings.iter().find(|w| w.contains(CRI_POD)).unwrap();
        assert!(pod.contains(r#"evil\n{\"verdict"#) && !pod.contains('\n'), "{pod}");
        let container = warnings.iter().find(|w| w.contains(CRI_CONTAINER)).unwrap();
        assert!(container.contains("...") && container.contains("254 bytes") && container.len() < 300, "{container}");
        // The longest accepted value, and the characters podman names use.
        let (w, warnings) =
            from_bundle(&annotations(&[(CRI_POD, &long[1..]), (CRI_CONTAINER, "My_app.v2")]), Path::new("/b"), "c1");
        assert!(warnings.is_empty());
        assert_eq!(w.pod.unwrap().len(), MAX_VALUE_LEN);
        assert_eq!(w.container.as_deref(), Some("My_app.v2"));
    }

    #[test]
    fn podman_name_comes_from_the_store_next_to_the_bundle() {
        let dir = std::env::temp_dir().join(format!("cgfw-wl-{}", std::process::id()));
        let id = "4ddab167e3ee417550affb62976513da80a5a0898b7ba47c3d0b1141e522a368";
        let bundle = dir.join("overlay-containers").join(id).join("userdata");
        std::fs::create_dir_all(&bundle).unwrap();
        std::fs::write(
            dir.join("overlay-containers/containers.json"),
            format!(r#"[{{"id":"other","names":["x"]}},{{"id":"{id}","names":["myname-x2"],"layer":"l"}}]"#),
        )
        .unwrap();
        let podman = annotations(&[(PODMAN_MANAGER, "libpod")]);
        assert_eq!(from_bundle(&podman, &bundle, id).0.name.as_deref(), Some("myname-x2"));
        // Not podman's, another id, or a bundle elsewhere: no name.
        assert_eq!(from_bundle(&annotations(&[]), &bundle, id).0.name, None);
        assert_eq!(from_bundle(&podman, &bundle, "other").0.name, None);
        assert_eq!(from_bundle(&podman, &dir, id).0.name, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
