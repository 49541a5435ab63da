//! Domain pattern index: a hash of pattern bases, probed with each label-boundary suffix of
//! the query name. A name with k labels costs at most min(k, deepest pattern) hash probes,
//! whatever the number of patterns.

use crate::domain::DomainPattern;
use crate::fasthash::FastMap;

/// Indices into the allow/block pattern lists, per base name.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    allow_tree: Option<usize>,
    allow_subs: Option<usize>,
    block_tree: Option<usize>,
    block_subs: Option<usize>,
}

/// Which pattern decided, as an index into the list it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DomainMatch {
    Block(usize),
    Allow(usize),
}

#[derive(Clone, Debug, Default)]
pub(crate) struct DomainIndex {
    by_base: FastMap<Box<str>, Slot>,
    /// Most labels in any base: longer suffixes of a query name can not be in the table.
    max_labels: usize,
}

impl DomainIndex {
    pub(crate) fn new(allow: &[DomainPattern], block: &[DomainPattern]) -> DomainIndex {
        let mut index = DomainIndex::default();
        for (list, is_block) in [(allow, false), (block, true)] {
            for (i, p) in list.iter().enumerate() {
                index.max_labels = index.max_labels.max(p.base().split('.').count());
                let slot = index.by_base.entry(p.base().into()).or_default();
                let field = match (is_block, p.subdomains_only()) {
                    (false, false) => &mut slot.allow_tree,
                    (false, true) => &mut slot.allow_subs,
                    (true, false) => &mut slot.block_tree,
                    (true, true) => &mut slot.block_subs,
                };
                // Keep the first occurrence so the named rule is stable.
                field.get_or_insert(i);
            }
        }
        index
    }

    /// Match a normalised name. Any matching block pattern wins; otherwise the most specific
    /// matching allow pattern; `None` if nothing matches. The block reported is the most
    /// specific matching one.
    pub(crate) fn lookup(&self, name: &str) -> Option<DomainMatch> {
        if self.by_base.is_empty() {
            return None;
        }
        let mut pos = start_of_last_labels(name, self.max_labels);
        let mut allow = None;
        loop {
            let suffix = &name[pos..];
            if let Some(slot) = self.by_base.get(suffix) {
                // At pos 0 the suffix is the whole name (the apex): only tree patterns match.
                let apex = pos == 0;
                let block = if apex {
                    slot.block_tree
                } else {
                    slot.block_tree.or(slot.block_subs)
                };
                if let Some(i) = block {
                    return Some(DomainMatch::Block(i));
                }
                if allow.is_none() {
                    allow = if apex {
                        slot.allow_tree
                    } else {
                        slot.allow_tree.or(slot.allow_subs)
                    };
                }
            }
            match suffix.find('.') {
                Some(dot) => pos += dot + 1,
                None => break,
            }
        }
        allow.map(DomainMatch::Allow)
    }
}

/// Byte offset where the suffix made of the last `n` labels of `name` starts (0 if the name
/// has no more than `n` labels).
fn start_of_last_labels(name: &str, n: usize) -> usize {
    let mut seen = 0;
    for (i, b) in name.bytes().enumerate().rev() {
        if b == b'.' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pats(list: &[&str]) -> Vec<DomainPattern> {
        list.iter()
            .map(|s| DomainPattern::parse(s).unwrap())
            .collect()
    }

    #[test]
    fn last_labels() {
        assert_eq!(start_of_last_labels("a.b.c.d", 2), 4);
        assert_eq!(start_of_last_labels("a.b.c.d", 4), 0);
        assert_eq!(start_of_last_labels("a.b.c.d", 9), 0);
        assert_eq!(start_of_last_labels("abc", 1), 0);
    }

    #[test]
    fn block_wins_and_specific_rules_are_named() {
        let allow = pats(&["example.com", "a.example.com", "*.svc.test"]);
        let block = pats(&["bad.example.com", "*.evil.example.com"]);
        let idx = DomainIndex::new(&allow, &block);
        assert_eq!(idx.lookup("example.com"), Some(DomainMatch::Allow(0)));
        assert_eq!(idx.lookup("x.a.example.com"), Some(DomainMatch::Allow(1)));
        assert_eq!(idx.lookup("x.bad.example.com"), Some(DomainMatch::Block(0)));
        assert_eq!(idx.lookup("evil.example.com"), Some(DomainMatch::Allow(0)));
        assert_eq!(
            idx.lookup("x.evil.example.com"),
            Some(DomainMatch::Block(1))
        );
        assert_eq!(idx.lookup("svc.test"), None);
        assert_eq!(idx.lookup("db.svc.test"), Some(DomainMatch::Allow(2)));
        assert_eq!(idx.lookup("badexample.com"), None);
        assert_eq!(idx.lookup("example.com.evil"), None);
    }
}
