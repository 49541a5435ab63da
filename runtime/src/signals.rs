//! Signal names as runc accepts them: `KILL`, `SIGKILL`, `9`, `RTMIN+3`, `SIGRTMAX-1`.

use anyhow::{bail, Result};

const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP), ("INT", libc::SIGINT), ("QUIT", libc::SIGQUIT), ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP), ("ABRT", libc::SIGABRT), ("IOT", libc::SIGIOT), ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE), ("KILL", libc::SIGKILL), ("USR1", libc::SIGUSR1), ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2), ("PIPE", libc::SIGPIPE), ("ALRM", libc::SIGALRM), ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT), ("CHLD", libc::SIGCHLD), ("CLD", libc::SIGCHLD), ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP), ("TSTP", libc::SIGTSTP), ("TTIN", libc::SIGTTIN), ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG), ("XCPU", libc::SIGXCPU), ("XFSZ", libc::SIGXFSZ), ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF), ("WINCH", libc::SIGWINCH), ("IO", libc::SIGIO), ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR), ("SYS", libc::SIGSYS),
];

/// Parses a signal the way `runc kill` does; the error text matches runc's.
pub fn parse_signal(raw: &str) -> Result<i32> {
    let invalid = || anyhow::anyhow!("unknown signal {raw:?}");
    if let Ok(number) = raw.parse::<i32>() {
        // 0 is runc's "is it alive" probe: nothing is delivered.
        if (0..=libc::SIGRTMAX()).contains(&number) {
            return Ok(number);
        }
        bail!(invalid());
    }
    let upper = raw.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(&(_, number)) = NAMES.iter().find(|(n, _)| *n == name) {
        return Ok(number);
    }
    let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
    let rt = if name == "RTMIN" {
        Some(min)
    } else if name == "RTMAX" {
        Some(max)
    } else if let Some(offset) = name.strip_prefix("RTMIN+") {
        offset.parse::<i32>().ok().map(|o| min + o)
    } else if let Some(offset) = name.strip_prefix("RTMAX-") {
        offset.parse::<i32>().ok().map(|o| max - o)
    } else {
        None
    };
    match rt {
        Some(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_prefixes() {
        assert_eq!(parse_signal("KILL").unwrap(), 9);
        assert_eq!(parse_signal("SIGKILL").unwrap(), 9);
        assert_eq!(parse_signal("sigterm").unwrap(), 15);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(parse_signal("0").unwrap(), 0);
        assert_eq!(parse_signal("RTMIN").unwrap(), libc::SIGRTMIN());
        assert_eq!(parse_signal("SIGRTMIN+3").unwrap(), libc::SIGRTMIN() + 3);
        assert_eq!(parse_signal("RTMAX-1").unwrap(), libc::SIGRTMAX() - 1);
    }

    #[test]
    fn rejects_unknown_and_out_of_range() {
        for bad in ["", "-1", "65", "FOO", "SIG", "RTMIN+100", "RTMAX-x", "9x"] {
            assert!(parse_signal(bad).is_err(), "{bad} accepted");
        }
    }
}
