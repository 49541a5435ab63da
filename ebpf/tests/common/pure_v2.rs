//! The pure-v2 view: re-running some of a test binary's tests where /sys/fs/cgroup is the
//! cgroup2 tree (a private mount namespace with the unified hierarchy bound over
//! /sys/fs/cgroup on a hybrid host), as on a pure cgroup v2 host.
//!
//! Each test file with such tests has two tests calling into here:
//!
//! ```ignore
//! #[test]
//! fn pure_v2_view() {
//!     rerun_in_pure_v2(&["test_a", "test_b"]);
//! }
//!
//! #[test]
//! fn pure_v2_inner_check() {
//!     inner_check_pure_v2();
//! }
//! ```

use std::path::{Path, PathBuf};

use super::cgroup2_root;

/// Set in the inner run (also by hack/pure-v2.sh).
const INNER: &str = "CGFW_PURE_V2";

/// Re-runs `tests` (exact names) of the current test binary, plus its `pure_v2_inner_check`,
/// in the pure-v2 view, two at a time; asserts the run succeeds with all of them passed (a
/// misspelt name is filtered out, which the count catches). Does nothing in the inner run.
pub fn rerun_in_pure_v2(tests: &[&str]) {
    if std::env::var_os(INNER).is_some() {
        return; // we are the inner run
    }
    let exe = std::env::current_exe().unwrap();
    let hybrid = cgroup2_root() != Path::new("/sys/fs/cgroup");
    let script = if hybrid {
        "mount --make-rprivate / && mount --bind /sys/fs/cgroup/unified /sys/fs/cgroup && exec \"$0\" \"$@\""
    } else {
        "exec \"$0\" \"$@\""
    };
    let out = std::process::Command::new("unshare")
        .args(["-m", "sh", "-c", script])
        .arg(&exe)
        .args(["--exact", "--test-threads=2", "pure_v2_inner_check"])
        .args(tests)
        .env(INNER, "1")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "pure-v2 run failed:\n{text}");
    let expected = tests.len() + 1;
    assert!(
        text.contains(&format!("test result: ok. {expected} passed;")),
        "expected {expected} inner tests:\n{text}"
    );
}

/// The body of each binary's `pure_v2_inner_check`: in the inner run, /sys/fs/cgroup is
/// cgroup2. Does nothing in the outer run.
pub fn inner_check_pure_v2() {
    if std::env::var_os(INNER).is_none() {
        return;
    }
    assert_eq!(cgroup2_root(), PathBuf::from("/sys/fs/cgroup"), "pure-v2 view must expose cgroup2 at /sys/fs/cgroup");
}
