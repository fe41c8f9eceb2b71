//! The aggregate runner's per-process cache of stream states.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use super::aggregate::Loaded;

/// States by stream, sharded so requests for different streams rarely share a lock, and
/// bounded: a fleet of millions must not keep every one in memory, so past the bound an
/// arbitrary entry makes room (a miss only costs reading that stream again).
pub(super) struct Cache<A> {
    shards: Vec<Mutex<HashMap<String, Loaded<A>>>>,
    per_shard: usize,
    hasher: std::collections::hash_map::RandomState,
}

impl<A: Clone> Cache<A> {
    pub(super) fn new(shards: usize, per_shard: usize) -> Self {
        Self {
            shards: (0..shards.max(1)).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard,
            hasher: Default::default(),
        }
    }

    fn shard(&self, stream: &str) -> &Mutex<HashMap<String, Loaded<A>>> {
        &self.shards[(self.hasher.hash_one(stream) as usize) % self.shards.len()]
    }

    pub(super) fn get(&self, stream: &str) -> Option<Loaded<A>> {
        self.shard(stream).lock().ok()?.get(stream).cloned()
    }

    /// Keeps `loaded` (moved in: the hot path, an append, has no further use for it).
    pub(super) fn put(&self, stream: &str, loaded: Loaded<A>) {
        let Ok(mut shard) = self.shard(stream).lock() else {
            return;
        };
        // A concurrent request may have stored a newer version already: keep the newest.
        match shard.get_mut(stream) {
            Some(existing) if existing.version >= loaded.version => {}
            Some(existing) => *existing = loaded,
            None => {
                if shard.len() >= self.per_shard {
                    let victim = shard.keys().next().cloned();
                    if let Some(victim) = victim {
                        shard.remove(&victim);
                    }
                }
                shard.insert(stream.to_string(), loaded);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(version: u64) -> Loaded<u64> {
        Loaded {
            state: version,
            version,
        }
    }

    #[test]
    fn keeps_the_newest_version_and_stays_bounded() {
        let cache = Cache::new(1, 2);
        cache.put("a", at(2));
        cache.put("a", at(1));
        assert_eq!(
            cache.get("a").map(|l| l.version),
            Some(2),
            "an older state never replaces a newer one"
        );
        cache.put("b", at(1));
        cache.put("c", at(1));
        let kept = ["a", "b", "c"].iter().filter(|s| cache.get(s).is_some()).count();
        assert_eq!(kept, 2, "one entry made room");
        assert!(cache.get("c").is_some(), "the newcomer is kept");
    }
}
