//! Domain names and domain patterns.
//!
//! Everything here works on one canonical form: lowercase ASCII, internationalised labels in
//! punycode (`xn--…`), no trailing dot. Patterns are normalised with the same function as the
//! names they are matched against, so a pattern and a query name can only compare equal when
//! they denote the same DNS name.
//!
//! Label boundaries are ASCII dots and nothing else. UTS #46 maps some characters to a dot
//! (`。`, `．`, …); a label that would map to something containing a dot is refused rather than
//! split, because on the wire it is a single label and splitting it would make the policy see a
//! different name from the one the upstream resolver is asked about.

use std::borrow::Cow;
use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

/// Longest DNS label, in bytes of its ASCII form (RFC 1035 §2.3.4).
pub const MAX_LABEL_LEN: usize = 63;
/// Longest DNS name in dotted form without the trailing dot (255 wire bytes minus the length
/// octets and the root label).
pub const MAX_NAME_LEN: usize = 253;

/// Prefix that forces a pattern that is a public suffix (`!co.uk`). It does not negate.
pub const FORCE_PREFIX: char = '!';

/// Why a string is not a usable DNS name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("empty name")]
    Empty,
    #[error("empty label (two dots in a row, or a leading dot)")]
    EmptyLabel,
    #[error("invalid character {0:?}")]
    InvalidCharacter(char),
    #[error("label is {len} bytes long; a DNS label is at most {MAX_LABEL_LEN}")]
    LabelTooLong { len: usize },
    #[error("name is {len} bytes long; a DNS name is at most {MAX_NAME_LEN}")]
    NameTooLong { len: usize },
    #[error("label {0:?} starts or ends with '-'")]
    HyphenAtLabelEdge(String),
    #[error("label {0:?} is not a valid internationalised (IDNA/punycode) label")]
    InvalidIdna(String),
    #[error("label {0:?} is made only of characters that IDNA ignores, so it would be empty")]
    OnlyIgnoredCharacters(String),
}

/// Why a token is not a usable domain pattern.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("'*' alone would match every name; list the domains instead")]
    BareWildcard,
    #[error("'*' is only allowed as the whole leftmost label, as in *.example.com")]
    MisplacedWildcard,
    #[error(
        "{suffix:?} is a public suffix, so this rule would cover every domain registered under it; \
         if that is really meant, force it with a leading '!': \"!{pattern}\""
    )]
    PublicSuffix { suffix: String, pattern: String },
    #[error(
        "'!' only forces a public-suffix pattern and {0:?} is not one; remove the '!' \
         (it does not negate a rule)"
    )]
    NeedlessForce(String),
}

/// Normalise a DNS name to the canonical form used for matching: lowercase ASCII, IDN labels
/// as punycode, no trailing dot. Fails for anything that is not a valid host name.
///
/// Accepted label characters are letters, digits, `-` (not first or last) and `_` (used by
/// SRV/TXT service names such as `_dmarc.example.com`). Non-ASCII labels are converted with
/// UTS #46 (the `idna` crate); `xn--` labels must be valid punycode.
pub fn normalize_domain(name: &str) -> Result<String, DomainError> {
    normalize(name, Strictness::Lenient)
}

/// How to treat non-ASCII input.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Strictness {
    /// Apply the full UTS #46 mapping (`Bücher` and fullwidth letters are accepted): for
    /// patterns typed by people.
    Lenient,
    /// A non-ASCII label is accepted only when it already is the normalised Unicode form of its
    /// punycode (what a resolver library's "to Unicode" display produces). Names off the wire
    /// are not mapped: a label that only *maps* to an allowed label is a different DNS name.
    WireForm,
}

fn normalize(name: &str, strictness: Strictness) -> Result<String, DomainError> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(DomainError::Empty);
    }
    // Cheap early bound so a megabyte of input is not pushed through IDNA. Unicode labels can
    // shrink a little under mapping, so the exact check happens on the output.
    if trimmed.len() > MAX_NAME_LEN * 4 {
        return Err(DomainError::NameTooLong { len: trimmed.len() });
    }
    let mut out = String::with_capacity(trimmed.len());
    for (i, label) in trimmed.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        let ascii = normalize_label(label, strictness)?;
        if ascii.len() > MAX_LABEL_LEN {
            return Err(DomainError::LabelTooLong { len: ascii.len() });
        }
        out.push_str(&ascii);
    }
    if out.len() > MAX_NAME_LEN {
        return Err(DomainError::NameTooLong { len: out.len() });
    }
    Ok(out)
}

/// Whether an ASCII byte may appear in a label of a normalised name.
fn is_label_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

fn normalize_label(label: &str, strictness: Strictness) -> Result<Cow<'_, str>, DomainError> {
    if label.is_empty() {
        return Err(DomainError::EmptyLabel);
    }
    let ascii: Cow<'_, str> = if label.is_ascii() {
        if let Some(bad) = label.bytes().find(|&b| !is_label_byte(b)) {
            return Err(DomainError::InvalidCharacter(bad as char));
        }
        let lower = if label.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(label.to_ascii_lowercase())
        } else {
            Cow::Borrowed(label)
        };
        if lower.starts_with("xn--") {
            check_punycode(&lower)?;
        }
        lower
    } else {
        Cow::Owned(unicode_label_to_ascii(label, strictness)?)
    };
    if ascii.starts_with('-') || ascii.ends_with('-') {
        return Err(DomainError::HyphenAtLabelEdge(ascii.into_owned()));
    }
    Ok(ascii)
}

fn uts46_to_ascii(input: &str) -> Option<String> {
    Uts46::new()
        .to_ascii(
            input.as_bytes(),
            AsciiDenyList::EMPTY,
            Hyphens::Allow,
            DnsLength::Ignore,
        )
        .ok()
        .map(Cow::into_owned)
}

/// An `xn--` label must decode to a valid IDN label whose canonical encoding is itself;
/// otherwise two different spellings could denote "the same" name to us but not to DNS.
fn check_punycode(label: &str) -> Result<(), DomainError> {
    match uts46_to_ascii(label) {
        Some(canonical) if canonical == label => Ok(()),
        _ => Err(DomainError::InvalidIdna(label.to_owned())),
    }
}

fn unicode_label_to_ascii(label: &str, strictness: Strictness) -> Result<String, DomainError> {
    // Reject separators and controls before mapping, so the error names what the user typed
    // rather than what UTS #46 turned it into (U+3000 maps to an ASCII space, for instance).
    if let Some(c) = label
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || (c.is_ascii() && !is_label_byte(*c as u8)))
    {
        return Err(DomainError::InvalidCharacter(c));
    }
    let Some(ascii) = uts46_to_ascii(label) else {
        return Err(DomainError::InvalidIdna(label.to_owned()));
    };
    if ascii.is_empty() {
        // Every character is one UTS #46 ignores (U+034F, U+00AD, …): the label would vanish
        // and `a.\u{34f}.com` would silently become the different name `a..com`.
        return Err(DomainError::OnlyIgnoredCharacters(label.to_owned()));
    }
    if ascii.bytes().any(|b| !is_label_byte(b)) {
        // Some character mapped to a dot or a symbol: name the character the user wrote.
        let culprit = label
            .chars()
            .find(|c| {
                uts46_to_ascii(c.encode_utf8(&mut [0; 4]))
                    .is_some_and(|m| m.bytes().any(|b| !is_label_byte(b)))
            })
            .unwrap_or('\u{FFFD}');
        return Err(DomainError::InvalidCharacter(culprit));
    }
    if strictness == Strictness::WireForm {
        let (unicode, result) = idna::domain_to_unicode(&ascii);
        if result.is_err() || unicode != label {
            return Err(DomainError::InvalidIdna(label.to_owned()));
        }
    }
    Ok(ascii)
}

/// Normalise a name as it comes off the wire (see [`Strictness::WireForm`]).
pub(crate) fn normalize_wire_name(name: &str) -> Result<String, DomainError> {
    normalize(name, Strictness::WireForm)
}

/// A validated domain pattern.
///
/// `example.com` matches the apex and every subdomain on a label boundary;
/// `*.example.com` matches subdomains only. `base` is normalised (see [`normalize_domain`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DomainPattern {
    base: String,
    subdomains_only: bool,
    forced: bool,
}

impl DomainPattern {
    /// Parse one pattern token, refusing public suffixes unless forced with a leading `!`.
    pub fn parse(token: &str) -> Result<DomainPattern, PatternError> {
        let (forced, rest) = match token.strip_prefix(FORCE_PREFIX) {
            Some(rest) => (true, rest),
            None => (false, token),
        };
        let trimmed = rest.strip_suffix('.').unwrap_or(rest);
        if trimmed == "*" {
            return Err(PatternError::BareWildcard);
        }
        let (subdomains_only, base) = match trimmed.strip_prefix("*.") {
            Some(base) => (true, base),
            None => (false, trimmed),
        };
        if base.contains('*') {
            return Err(PatternError::MisplacedWildcard);
        }
        // A trailing dot was already removed above; a second one is an empty label.
        if base.ends_with('.') {
            return Err(DomainError::EmptyLabel.into());
        }
        let base = normalize_domain(base)?;
        if subdomains_only && base.len() + 2 > MAX_NAME_LEN {
            // No subdomain of this base could be a valid name.
            return Err(DomainError::NameTooLong {
                len: base.len() + 2,
            }
            .into());
        }
        let pattern = DomainPattern {
            base,
            subdomains_only,
            forced,
        };
        match (public_suffix_of_whole(&pattern.base), forced) {
            (Some(suffix), false) => Err(PatternError::PublicSuffix {
                suffix,
                pattern: pattern.to_string(),
            }),
            (None, true) => Err(PatternError::NeedlessForce(pattern.unforced_string())),
            _ => Ok(pattern),
        }
    }

    /// The normalised name the pattern is anchored at (without `*.`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// True for `*.example.com` (the apex itself does not match).
    pub fn subdomains_only(&self) -> bool {
        self.subdomains_only
    }

    /// True when written with the `!` force prefix (only valid on public suffixes).
    pub fn forced(&self) -> bool {
        self.forced
    }

    /// Whether a normalised name matches this pattern.
    pub fn matches_normalized(&self, name: &str) -> bool {
        match name.strip_suffix(self.base.as_str()) {
            Some("") => !self.subdomains_only,
            Some(prefix) => prefix.ends_with('.'),
            None => false,
        }
    }

    fn unforced_string(&self) -> String {
        if self.subdomains_only {
            format!("*.{}", self.base)
        } else {
            self.base.clone()
        }
    }
}

impl fmt::Display for DomainPattern {
    /// The canonical spelling, parseable again: `!` if forced, `*.` if subdomains only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.forced {
            f.write_str("!")?;
        }
        if self.subdomains_only {
            f.write_str("*.")?;
        }
        f.write_str(&self.base)
    }
}

/// `Some(name)` when the whole normalised name is a public suffix: listed in the embedded
/// Public Suffix List (ICANN or private section, e.g. `com`, `co.uk`, `github.io`), or a
/// single label (any top-level domain, listed or not: `test`, `internal`), because such a
/// rule would cover every domain registered under it.
fn public_suffix_of_whole(name: &str) -> Option<String> {
    if !name.contains('.') {
        return Some(name.to_owned());
    }
    let suffix = psl::suffix(name.as_bytes())?;
    (suffix.is_known() && suffix.as_bytes() == name.as_bytes()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> Result<String, DomainError> {
        normalize_domain(s)
    }

    #[test]
    fn lowercases_and_strips_one_trailing_dot() {
        assert_eq!(norm("EXAMPLE.COM.").unwrap(), "example.com");
        assert_eq!(norm("Www.Example.Com").unwrap(), "www.example.com");
    }

    #[test]
    fn rejects_empty_labels_and_names() {
        assert_eq!(norm(""), Err(DomainError::Empty));
        assert_eq!(norm("."), Err(DomainError::Empty));
        assert_eq!(norm("example..com"), Err(DomainError::EmptyLabel));
        assert_eq!(norm("example.com.."), Err(DomainError::EmptyLabel));
        assert_eq!(norm(".example.com"), Err(DomainError::EmptyLabel));
    }

    #[test]
    fn rejects_bad_characters() {
        assert_eq!(
            norm("exa mple.com"),
            Err(DomainError::InvalidCharacter(' '))
        );
        assert_eq!(
            norm("exa$mple.com"),
            Err(DomainError::InvalidCharacter('$'))
        );
        assert_eq!(norm("a/b.com"), Err(DomainError::InvalidCharacter('/')));
        assert_eq!(norm("a\0b.com"), Err(DomainError::InvalidCharacter('\0')));
        assert_eq!(
            norm("*.example.com"),
            Err(DomainError::InvalidCharacter('*'))
        );
        // U+3000 IDEOGRAPHIC SPACE maps to ' ' under UTS #46: name what was typed.
        assert_eq!(
            norm("a\u{3000}b.com"),
            Err(DomainError::InvalidCharacter('\u{3000}'))
        );
        // Fullwidth dollar maps to '$'.
        assert_eq!(
            norm("a\u{FF04}b.com"),
            Err(DomainError::InvalidCharacter('\u{FF04}'))
        );
        // Ideographic full stop maps to '.', which would split the label: refused.
        assert_eq!(
            norm("evil\u{3002}example.com"),
            Err(DomainError::InvalidCharacter('\u{3002}'))
        );
    }

    #[test]
    fn a_label_of_ignored_characters_is_refused_not_emptied() {
        // Found by the annotation fuzzer: U+034F COMBINING GRAPHEME JOINER maps to nothing, so
        // the name normalised to "" and normalising that again failed.
        for ignored in ["\u{34f}", "\u{ad}", "\u{34f}\u{ad}", "\u{200b}"] {
            for name in [ignored.to_owned(), format!("a.{ignored}.com"), format!("{ignored}.com")] {
                match norm(&name) {
                    Err(DomainError::OnlyIgnoredCharacters(_)) | Err(DomainError::InvalidCharacter(_)) => {}
                    other => panic!("{name:?} gave {other:?}"),
                }
            }
        }
        // Mixed with real letters the ignored character just disappears (people type these).
        assert_eq!(norm("ex\u{ad}ample.com").unwrap(), "example.com");
    }

    #[test]
    fn every_single_character_name_normalises_idempotently() {
        // Exhaustive over Unicode scalar values: what is accepted is already canonical.
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let name = c.to_string();
            if let Ok(n) = norm(&name) {
                assert!(!n.is_empty(), "{c:?} normalised to an empty name");
                assert_eq!(norm(&n).as_deref(), Ok(n.as_str()), "{c:?} -> {n:?}");
            }
        }
    }

    #[test]
    fn underscore_and_inner_hyphens_are_fine() {
        assert_eq!(norm("_dmarc.example.com").unwrap(), "_dmarc.example.com");
        // YouTube CDN style names have "--" in positions 3-4 and must keep working.
        assert_eq!(
            norm("r4---sn-abc.googlevideo.com").unwrap(),
            "r4---sn-abc.googlevideo.com"
        );
        assert!(matches!(
            norm("-a.com"),
            Err(DomainError::HyphenAtLabelEdge(_))
        ));
        assert!(matches!(
            norm("a-.com"),
            Err(DomainError::HyphenAtLabelEdge(_))
        ));
    }

    #[test]
    fn label_and_name_lengths() {
        let l63 = "a".repeat(63);
        let l64 = "a".repeat(64);
        assert!(norm(&format!("{l63}.com")).is_ok());
        assert_eq!(
            norm(&format!("{l64}.com")),
            Err(DomainError::LabelTooLong { len: 64 })
        );
        // 4 labels of 63 + 3 dots = 255; trim to build exactly 253 and 254.
        let n253 = format!("{l63}.{l63}.{l63}.{}", "a".repeat(61));
        assert_eq!(n253.len(), 253);
        assert!(norm(&n253).is_ok());
        assert!(
            norm(&format!("{n253}.")).is_ok(),
            "trailing dot is not counted"
        );
        let n254 = format!("{l63}.{l63}.{l63}.{}", "a".repeat(62));
        assert_eq!(norm(&n254), Err(DomainError::NameTooLong { len: 254 }));
        let huge = "a.".repeat(100_000);
        assert!(matches!(norm(&huge), Err(DomainError::NameTooLong { .. })));
    }

    #[test]
    fn idn_to_punycode() {
        assert_eq!(norm("bücher.example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(norm("BÜCHER.example").unwrap(), "xn--bcher-kva.example");
        assert_eq!(
            norm("xn--bcher-kva.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(
            norm("XN--BCHER-KVA.example").unwrap(),
            "xn--bcher-kva.example"
        );
        // Fullwidth letters are a compatibility form of ASCII: the lenient (pattern) path maps.
        assert_eq!(norm("ｅｘａｍｐｌｅ.com").unwrap(), "example.com");
    }

    #[test]
    fn invalid_punycode_is_rejected() {
        for bad in [
            "xn--zz.com",
            "xn--a.com",
            "xn--.com",
            "xn--abc-.com",
            "xn--ZZ.com",
        ] {
            assert!(
                matches!(norm(bad), Err(DomainError::InvalidIdna(_))),
                "{bad}: {:?}",
                norm(bad)
            );
        }
        // Zero-width joiner in a context where IDNA forbids it.
        assert!(matches!(
            norm("a\u{200d}b.com"),
            Err(DomainError::InvalidIdna(_))
        ));
        // An IDN label whose punycode is over 63 bytes.
        let long = "ü".repeat(60);
        assert!(matches!(
            norm(&format!("{long}.com")),
            Err(DomainError::LabelTooLong { .. })
        ));
    }

    #[test]
    fn homograph_is_a_different_name() {
        // Cyrillic 'а' (U+0430) in place of Latin 'a'.
        let n = norm("\u{0430}pple.com").unwrap();
        assert!(n.starts_with("xn--"));
        assert_ne!(n, "apple.com");
    }

    #[test]
    fn wire_form_does_not_map() {
        assert_eq!(
            normalize_wire_name("bücher.example").unwrap(),
            "xn--bcher-kva.example"
        );
        assert_eq!(normalize_wire_name("EXAMPLE.com.").unwrap(), "example.com");
        // Fullwidth and uppercase non-ASCII are not what any resolver puts on the wire.
        assert!(normalize_wire_name("ｅｘａｍｐｌｅ.com").is_err());
        assert!(normalize_wire_name("BÜCHER.example").is_err());
    }

    fn pat(s: &str) -> Result<DomainPattern, PatternError> {
        DomainPattern::parse(s)
    }

    #[test]
    fn patterns_parse() {
        let p = pat("Example.COM.").unwrap();
        assert_eq!(
            (p.base(), p.subdomains_only(), p.forced()),
            ("example.com", false, false)
        );
        let p = pat("*.example.com").unwrap();
        assert_eq!((p.base(), p.subdomains_only()), ("example.com", true));
        assert_eq!(p.to_string(), "*.example.com");
        assert_eq!(
            pat("*.bücher.example").unwrap().to_string(),
            "*.xn--bcher-kva.example"
        );
    }

    #[test]
    fn wildcards_only_as_whole_leftmost_label() {
        assert_eq!(pat("*"), Err(PatternError::BareWildcard));
        assert_eq!(pat("*."), Err(PatternError::BareWildcard));
        for bad in [
            "a.*.example.com",
            "*foo.example.com",
            "**.example.com",
            "example.*",
            "*.*.example.com",
            "foo*.example.com",
        ] {
            assert_eq!(pat(bad), Err(PatternError::MisplacedWildcard), "{bad}");
        }
    }

    #[test]
    fn public_suffixes_need_force() {
        for ps in [
            "com",
            "*.com",
            "co.uk",
            "*.co.uk",
            "github.io",
            "test",
            "xn--p1ai",
            "рф",
        ] {
            let err = pat(ps).unwrap_err();
            assert!(
                matches!(err, PatternError::PublicSuffix { .. }),
                "{ps}: {err:?}"
            );
            let forced = pat(&format!("!{ps}")).unwrap();
            assert!(forced.forced());
            assert!(forced.to_string().starts_with('!'));
        }
        let msg = pat("*.co.uk").unwrap_err().to_string();
        assert_eq!(
            msg,
            "\"co.uk\" is a public suffix, so this rule would cover every domain registered \
             under it; if that is really meant, force it with a leading '!': \"!*.co.uk\""
        );
        // Registrable names are fine and must not be forced.
        for ok in [
            "example.com",
            "example.co.uk",
            "user.github.io",
            "allowed.test",
            "www.ck",
        ] {
            assert!(pat(ok).is_ok(), "{ok}");
            assert_eq!(
                pat(&format!("!{ok}")),
                Err(PatternError::NeedlessForce(ok.into()))
            );
        }
    }

    #[test]
    fn pattern_matching_on_label_boundaries() {
        let p = pat("example.com").unwrap();
        assert!(p.matches_normalized("example.com"));
        assert!(p.matches_normalized("a.b.example.com"));
        assert!(!p.matches_normalized("badexample.com"));
        assert!(!p.matches_normalized("example.com.evil"));
        assert!(!p.matches_normalized("com"));
        let w = pat("*.example.com").unwrap();
        assert!(!w.matches_normalized("example.com"));
        assert!(w.matches_normalized("a.example.com"));
        assert!(!w.matches_normalized("aexample.com"));
    }
}
