use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

/// `spec`: writes the same starting configuration as `runc spec` (runc 1.1), which scripts,
/// engines' tests and runc's own integration suite take as given: an interactive `sh` on a
/// terminal, hostname "runc", a device cgroup that denies everything not listed, the five
/// namespaces runc creates (no cgroup namespace), no inheritable capabilities, no annotations.
/// libcontainer's default differs on each of these.
pub fn spec(args: liboci_cli::Spec) -> Result<()> {
    let dir = args.bundle.unwrap_or_else(|| PathBuf::from("."));
    let path = dir.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let spec = if args.rootless {
        Spec::rootless(nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw())
    } else {
        Spec::default()
    };
    let mut value = serde_json::to_value(&spec)?;
    like_runc(&mut value, args.rootless);
    let text = serde_json::to_string_pretty(&value)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

fn like_runc(spec: &mut Value, rootless: bool) {
    spec["process"]["terminal"] = json!(true);
    spec["hostname"] = json!("runc");
    if let Some(obj) = spec.as_object_mut() {
        obj.remove("annotations");
    }
    let caps = json!(["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    if let Some(c) = spec["process"]["capabilities"].as_object_mut() {
        c.remove("inheritable");
        for set in ["bounding", "effective", "permitted", "ambient"] {
            if c.contains_key(set) {
                c.insert(set.into(), caps.clone());
            }
        }
    }
    if let Some(namespaces) = spec["linux"]["namespaces"].as_array_mut() {
        namespaces.retain(|ns| ns["type"] != "cgroup");
    }
    if !rootless {
        spec["linux"]["resources"]["devices"] = json!([{"allow": false, "access": "rwm"}]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_spec_is_runcs() {
        let mut v = serde_json::to_value(Spec::default()).unwrap();
        like_runc(&mut v, false);
        assert_eq!(v["process"]["terminal"], true);
        assert_eq!(v["hostname"], "runc");
        assert!(v.get("annotations").is_none());
        assert!(v["process"]["capabilities"].get("inheritable").is_none());
        assert_eq!(v["process"]["capabilities"]["bounding"][0], "CAP_AUDIT_WRITE");
        assert!(v["linux"]["namespaces"].as_array().unwrap().iter().all(|n| n["type"] != "cgroup"));
        assert_eq!(v["linux"]["resources"]["devices"], json!([{"allow": false, "access": "rwm"}]));
        // Still a valid spec.
        let _: Spec = serde_json::from_value(v).unwrap();
    }
}
