use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use oci_spec::runtime::Spec;
use serde_json::{json, Value};

/// `spec`: writes the same starting configuration as `runc spec` (runc 1.1), which scripts,
/// engines' tests and runc's own integration suite take as given: an interactive `sh` on a
/// terminal, hostname "runc", a device cgroup that denies everything not listed, the namespaces
/// runc creates (a cgroup namespace only on a cgroup v2-only host), no inheritable
/// capabilities, no annotations.
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
    like_runc(&mut value, args.rootless, cgroup2_only());
    let text = serde_json::to_string_pretty(&value)?;
    std::fs::write(&path, text + "\n").with_context(|| format!("writing {}", path.display()))
}

/// Whether /sys/fs/cgroup is the cgroup v2 filesystem (not a hybrid or v1 host).
fn cgroup2_only() -> bool {
    nix::sys::statfs::statfs("/sys/fs/cgroup").is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

fn like_runc(spec: &mut Value, rootless: bool, cgroup2_only: bool) {
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
        let has_cgroup = namespaces.iter().any(|ns| ns["type"] == "cgroup");
        if !cgroup2_only {
            namespaces.retain(|ns| ns["type"] != "cgroup");
        } else if !has_cgroup {
            namespaces.push(json!({"type": "cgroup"}));
        }
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
        like_runc(&mut v, false, false);
        assert_eq!(v["process"]["terminal"], true);
        assert_eq!(v["hostname"], "runc");
        assert!(v.get("annotations").is_none());
        assert!(v["process"]["capabilities"].get("inheritable").is_none());
        assert_eq!(v["process"]["capabilities"]["bounding"][0], "CAP_AUDIT_WRITE");
        assert!(v["linux"]["namespaces"].as_array().unwrap().iter().all(|n| n["type"] != "cgroup"));
        assert_eq!(v["linux"]["resources"]["devices"], json!([{"allow": false, "access": "rwm"}]));
        // Still a valid spec.
        let _: Spec = serde_json::from_value(v).unwrap();
        let mut v2 = serde_json::to_value(Spec::default()).unwrap();
        like_runc(&mut v2, false, true);
        assert_eq!(v2["linux"]["namespaces"].as_array().unwrap().iter().filter(|n| n["type"] == "cgroup").count(), 1);
    }
}
