//! A cache bounded in entries and in bytes. The sidecar's caches (command lines by process,
//! names by address) fill at the container's pace with values the container chooses, so each
//! gets a budget; when an insert would pass it the cache starts over (counted). Dropping a
//! cache loses nothing the report needs: a command line is read again, a name that cannot be
//! found any more is simply not named.

use std::collections::HashMap;
use std::hash::Hash;

/// Bytes counted for an entry besides what its value holds on the heap: key, value header
/// and the hash table's own slot (a generous round figure, so the budget is an upper bound).
pub const ENTRY_OVERHEAD: usize = 64;

pub struct BoundedCache<K, V> {
    map: HashMap<K, V>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    heap_bytes: fn(&V) -> usize,
    /// How many times the cache was emptied to stay in its budget.
    pub resets: u64,
}

impl<K: Eq + Hash, V> BoundedCache<K, V> {
    pub fn new(max_entries: usize, max_bytes: usize, heap_bytes: fn(&V) -> usize) -> BoundedCache<K, V> {
        BoundedCache { map: HashMap::new(), bytes: 0, max_entries, max_bytes, heap_bytes, resets: 0 }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    pub fn insert(&mut self, key: K, value: V) {
        let size = ENTRY_OVERHEAD + (self.heap_bytes)(&value);
        if let Some(old) = self.map.remove(&key) {
            self.bytes -= ENTRY_OVERHEAD + (self.heap_bytes)(&old);
        }
        if size > self.max_bytes {
            return;
        }
        if self.map.len() >= self.max_entries || self.bytes + size > self.max_bytes {
            self.map.clear();
            // A cleared HashMap keeps its table: give the memory back too.
            self.map.shrink_to_fit();
            self.bytes = 0;
            self.resets += 1;
        }
        self.bytes += size;
        self.map.insert(key, value);
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Bytes the budget counts now (at most `max_bytes`).
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_bytes(s: &String) -> usize {
        s.len()
    }

    #[test]
    fn the_cache_stays_within_its_entries_and_bytes() {
        let mut cache: BoundedCache<u32, String> = BoundedCache::new(100, 10_000, text_bytes);
        for k in 0..1000u32 {
            cache.insert(k, "x".repeat((k as usize * 37) % 900));
            assert!(cache.len() <= 100);
            assert!(cache.bytes() <= 10_000);
            assert_eq!(cache.get(&k).map(|v| v.len()), Some((k as usize * 37) % 900));
        }
        assert!(cache.resets > 0);
    }

    #[test]
    fn replacing_a_value_counts_it_once() {
        let mut cache: BoundedCache<u32, String> = BoundedCache::new(10, 1000, text_bytes);
        for _ in 0..100 {
            cache.insert(1, "y".repeat(500));
        }
        assert_eq!(cache.bytes(), ENTRY_OVERHEAD + 500);
        assert_eq!(cache.resets, 0);
        // Bigger than the whole budget: not kept at all.
        cache.insert(2, "z".repeat(2000));
        assert!(cache.get(&2).is_none());
    }
}
