//! Records the source commit for `cgfw-runc --version` (`commit:` line, as runc prints one).
//! Without git (a source tarball) the line says "unknown"; CGFW_RUNC_COMMIT overrides.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=CGFW_RUNC_COMMIT");
    // Re-run when the checked-out commit or the sources (dirty or not) change.
    println!("cargo:rerun-if-changed=src");
    if let (Some(dir), Some(common)) = (git(&["rev-parse", "--git-dir"]), git(&["rev-parse", "--git-common-dir"])) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        println!("cargo:rerun-if-changed={dir}/index");
        println!("cargo:rerun-if-changed={common}/packed-refs");
        if let Some(head_ref) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={common}/{head_ref}");
        }
    }
    let commit = std::env::var("CGFW_RUNC_COMMIT")
        .ok()
        .or_else(|| git(&["describe", "--always", "--dirty", "--abbrev=12"]));
    if let Some(commit) = commit {
        println!("cargo:rustc-env=CGFW_RUNC_COMMIT={commit}");
    }
}
