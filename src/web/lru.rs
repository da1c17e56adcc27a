//! A map that holds at most `capacity` entries and, when full, drops the one used least
//! recently. Each use stamps its entry with a counter; a second map orders the stamps.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

pub struct Lru<K, V> {
    capacity: usize,
    entries: HashMap<K, (V, u64)>,
    by_use: BTreeMap<u64, K>,
    clock: u64,
}

impl<K: Hash + Eq + Clone, V> Lru<K, V> {
    pub fn new(capacity: usize) -> Self {
        Lru {
            capacity,
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            clock: 0,
        }
    }

    /// The value under `key`, now the most recently used.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        let stamp = self.tick();
        let (value, used) = self.entries.get_mut(key)?;
        self.by_use.remove(used);
        *used = stamp;
        self.by_use.insert(stamp, key.clone());
        Some(value)
    }

    /// Stores `value` under `key`, dropping the least recently used entry when full.
    pub fn put(&mut self, key: K, value: V) {
        if self.capacity == 0 {
            return;
        }
        let stamp = self.tick();
        if let Some((_, used)) = self.entries.insert(key.clone(), (value, stamp)) {
            self.by_use.remove(&used);
        }
        self.by_use.insert(stamp, key);
        while self.entries.len() > self.capacity {
            let Some((_, oldest)) = self.by_use.pop_first() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    pub fn remove(&mut self, key: &K) {
        if let Some((_, used)) = self.entries.remove(key) {
            self.by_use.remove(&used);
        }
    }

    /// Drops every entry whose key `keep` refuses.
    pub fn retain(&mut self, mut keep: impl FnMut(&K) -> bool) {
        let by_use = &mut self.by_use;
        self.entries.retain(|key, (_, used)| {
            let kept = keep(key);
            if !kept {
                by_use.remove(used);
            }
            kept
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut lru = Lru::new(2);
        lru.put("a", 1);
        lru.put("b", 2);
        assert_eq!(lru.get(&"a"), Some(&1));
        lru.put("c", 3);
        assert_eq!(lru.get(&"b"), None, "b was used least recently");
        assert_eq!(lru.get(&"a"), Some(&1));
        assert_eq!(lru.get(&"c"), Some(&3));
        lru.put("c", 4);
        assert_eq!(lru.get(&"c"), Some(&4));
        assert_eq!(lru.len(), 2);
        lru.remove(&"a");
        assert_eq!(lru.len(), 1);
    }

    #[test]
    fn a_capacity_of_zero_holds_nothing() {
        let mut lru = Lru::new(0);
        lru.put(1, "one");
        assert_eq!(lru.get(&1), None);
        assert_eq!(lru.len(), 0);
    }

    #[test]
    fn retain_drops_the_refused_and_the_rest_still_age() {
        let mut lru = Lru::new(3);
        lru.put(1, "one");
        lru.put(2, "two");
        lru.put(3, "three");
        lru.retain(|key| *key != 2);
        assert_eq!(lru.len(), 2);
        assert_eq!(lru.get(&2), None);
        lru.put(4, "four");
        lru.put(5, "five");
        assert_eq!(lru.get(&1), None, "1 was used least recently");
        assert_eq!(lru.get(&3), Some(&"three"));
    }
}
