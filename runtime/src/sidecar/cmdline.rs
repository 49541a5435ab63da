//! Command lines as the firewall keeps and writes them: argv joined by spaces, cut at
//! [`MAX_CMDLINE_BYTES`] on a UTF-8 boundary, and marked when cut. A process in the container
//! chooses its argv (up to ~2 MB on Linux), so nothing here ever holds more than the limit:
//! `/proc/PID/cmdline` is read only as far as the limit needs.

use std::io::Read;

/// Longest command line kept in events, caches and the report (bytes of UTF-8).
pub const MAX_CMDLINE_BYTES: usize = 1024;

/// A command line, at most [`MAX_CMDLINE_BYTES`] long; `truncated` says the process's argv
/// was longer (events carry it as `cmdline_truncated: true`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmdline {
    pub text: String,
    pub truncated: bool,
}

impl Cmdline {
    /// `text` cut to the limit; `truncated` is also set when the source was already cut
    /// (the kernel's exec capture keeps 256 bytes).
    pub fn new(mut text: String, truncated: bool) -> Cmdline {
        let cut = cut_at_char_boundary(&mut text, MAX_CMDLINE_BYTES);
        Cmdline { text, truncated: truncated || cut }
    }

    /// Bytes this value keeps on the heap (for the byte-bounded caches).
    pub fn heap_bytes(&self) -> usize {
        self.text.len()
    }
}

/// Truncates `text` to at most `max` bytes without splitting a character. Returns whether
/// anything was cut.
pub fn cut_at_char_boundary(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    true
}

/// The command line of a live process, reading at most the limit (plus the byte that tells
/// whether there was more, plus argv's final NUL) of `/proc/PID/cmdline`.
pub fn read(pid: u32) -> Option<Cmdline> {
    let file = std::fs::File::open(format!("/proc/{pid}/cmdline")).ok()?;
    let mut raw = Vec::with_capacity(MAX_CMDLINE_BYTES + 2);
    file.take(MAX_CMDLINE_BYTES as u64 + 2).read_to_end(&mut raw).ok()?;
    Some(from_argv(&raw, MAX_CMDLINE_BYTES + 2))
}

/// A command line from the first bytes of a NUL-separated argv, `read_limit` being how many
/// bytes the reader asked for: a read that filled it may have left more behind.
pub fn from_argv(raw: &[u8], read_limit: usize) -> Cmdline {
    let more_unread = raw.len() >= read_limit;
    Cmdline::new(argv_to_cmdline(raw), more_unread)
}

/// A NUL-separated argv as one line (empty arguments dropped, as before).
pub fn argv_to_cmdline(raw: &[u8]) -> String {
    raw.split(|b| *b == 0)
        .filter(|part| !part.is_empty())
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_command_lines_are_kept_whole() {
        let c = from_argv(b"wget\0-q\0http://x/\0", MAX_CMDLINE_BYTES + 2);
        assert_eq!(c.text, "wget -q http://x/");
        assert!(!c.truncated);
    }

    #[test]
    fn long_command_lines_are_cut_on_a_char_boundary_and_marked() {
        // 'é' is two bytes: 1023 ASCII bytes + 'é' would end at 1025, so the cut is at 1023.
        let mut argv = vec![b'a'; MAX_CMDLINE_BYTES - 1];
        argv.extend_from_slice("é and more".as_bytes());
        let c = from_argv(&argv, argv.len() + 1);
        assert_eq!(c.text.len(), MAX_CMDLINE_BYTES - 1);
        assert!(c.text.chars().all(|ch| ch == 'a'));
        assert!(c.truncated);
        // A four-byte character straddling the limit.
        let mut s = "b".repeat(MAX_CMDLINE_BYTES - 2);
        s.push('🦀');
        let c = Cmdline::new(s, false);
        assert_eq!(c.text.len(), MAX_CMDLINE_BYTES - 2);
        assert!(c.truncated);
        // Exactly at the limit: not cut.
        let c = Cmdline::new("c".repeat(MAX_CMDLINE_BYTES), false);
        assert_eq!((c.text.len(), c.truncated), (MAX_CMDLINE_BYTES, false));
    }

    #[test]
    fn a_read_that_filled_its_buffer_is_marked_truncated() {
        let argv = vec![b'x'; 10];
        assert!(from_argv(&argv, 10).truncated, "there may be more behind");
        assert!(!from_argv(&argv, 11).truncated);
        // The kernel's capture says it was cut: kept as cut.
        assert!(Cmdline::new("short".into(), true).truncated);
    }

    #[test]
    fn a_huge_argv_is_read_only_up_to_the_limit() {
        // A child with a 600 KB argv.
        let big = "z".repeat(100_000);
        let mut child = std::process::Command::new("/bin/sh")
            // (Two commands: a shell that would exec a lone one would lose this argv.)
            .args(["-c", "sleep 5; :", "sh"])
            .args(std::iter::repeat(big.as_str()).take(6))
            .spawn()
            .expect("spawning sleep");
        // `spawn` returns when the exec is past its point of no return, before the kernel has
        // set the new argv up (cmdline reads empty until then): wait for it.
        let mut got = None;
        for _ in 0..200 {
            got = read(child.id()).filter(|c| !c.text.is_empty());
            if got.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let got = got.expect("reading its cmdline");
        let _ = child.kill();
        let _ = child.wait();
        assert!(got.text.starts_with("/bin/sh -c sleep 5; : sh zzz"), "{:?}", got.text.get(..40));
        assert_eq!(got.text.len(), MAX_CMDLINE_BYTES);
        assert!(got.truncated);
    }
}
