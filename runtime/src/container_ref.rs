//! Finding containers under `--root`. Container ids become path components (state dirs, pins,
//! cgroups, logs), so they are validated as runc does before any path is built from them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use libcontainer::container::Container;

/// runc's rule: `^[\w+-\.]+$`, and never `.` or `..`.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        bail!("invalid container id format: id is empty");
    }
    if id == "." || id == ".." {
        bail!("invalid container id format: {id}");
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || "_+-.".contains(*c))) {
        bail!("invalid container id format: {id} (character {c:?} not allowed)");
    }
    if id.len() > 1024 {
        bail!("invalid container id format: id longer than 1024 bytes");
    }
    Ok(())
}

pub fn container_dir(root: &Path, id: &str) -> Result<PathBuf> {
    validate_id(id)?;
    Ok(root.join(id))
}

pub fn exists(root: &Path, id: &str) -> Result<bool> {
    Ok(container_dir(root, id)?.join("state.json").exists())
}

/// Loads a container's state and refreshes its status from /proc.
pub fn load(root: &Path, id: &str) -> Result<Container> {
    let dir = container_dir(root, id)?;
    if !dir.join("state.json").exists() {
        bail!("container does not exist");
    }
    // libcontainer rewrites state.json in place (truncate, then write): a reader can catch it
    // empty or half written. Retry briefly before calling it corrupt.
    let mut attempt = 0;
    let mut container = loop {
        match Container::load(dir.clone()) {
            Ok(container) => break container,
            Err(_) if attempt < 50 => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            Err(e) => return Err(e).with_context(|| format!("loading state of container {id}")),
        }
    };
    container.refresh_status().with_context(|| format!("refreshing status of container {id}"))?;
    Ok(container)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_would_escape_the_root_are_refused() {
        for bad in ["", ".", "..", "../x", "a/b", "a b", "a\0b", "é"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["abc", "a.b", "A_B-c+1", "..x"] {
            assert!(validate_id(good).is_ok(), "{good:?} refused");
        }
    }
}
