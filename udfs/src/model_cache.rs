//! The parsed models a scoring function keeps between batches.
//!
//! A model is a JSON text that can be megabytes (rules, tree ensembles);
//! parsing it for every 8,192-row batch would cost more than scoring. A
//! [`ModelCache`] keeps the last few parsed models of one function together
//! with a copy of their text. A look-up hashes the text to find a candidate
//! and then compares the bytes, so two different models never share an entry,
//! even when their hashes (and lengths) collide.

use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

/// The hash a cache finds candidates by.
pub type TextHash = fn(&str) -> u64;

/// foldhash of the text's bytes: the hash every cache uses outside tests.
pub fn fold_hash(text: &str) -> u64 {
    let mut h = foldhash::fast::FixedState::with_seed(11).build_hasher();
    h.write(text.as_bytes());
    h.finish()
}

struct Entry<T> {
    hash: u64,
    text: Box<str>,
    value: Arc<T>,
}

/// Most recently used first, at most `capacity` entries.
pub struct ModelCache<T> {
    entries: Mutex<Vec<Entry<T>>>,
    capacity: usize,
    hash: TextHash,
}

impl<T> ModelCache<T> {
    pub const fn new(capacity: usize, hash: TextHash) -> Self {
        ModelCache {
            entries: Mutex::new(Vec::new()),
            capacity,
            hash,
        }
    }

    /// The parsed value of `text`: from the cache when the same text was
    /// parsed recently, else `parse(text)` (kept when it succeeds).
    pub fn get_or_parse<E>(
        &self,
        text: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Arc<T>, E> {
        let hash = (self.hash)(text);
        if let Ok(mut entries) = self.entries.lock() {
            let hit = entries
                .iter()
                .position(|e| e.hash == hash && *e.text == *text);
            if let Some(at) = hit {
                let entry = entries.remove(at);
                let value = Arc::clone(&entry.value);
                entries.insert(0, entry);
                return Ok(value);
            }
        }
        let value = Arc::new(parse(text)?);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(
                0,
                Entry {
                    hash,
                    text: text.into(),
                    value: Arc::clone(&value),
                },
            );
            entries.truncate(self.capacity.max(1));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collide(_: &str) -> u64 {
        42
    }

    #[test]
    fn colliding_texts_of_equal_length_are_told_apart() {
        let cache: ModelCache<String> = ModelCache::new(4, collide);
        let parse = |t: &str| Ok::<_, ()>(t.to_uppercase());
        let a = cache.get_or_parse("model-a", parse).unwrap();
        let b = cache.get_or_parse("model-b", parse).unwrap();
        assert_eq!(*a, "MODEL-A");
        assert_eq!(*b, "MODEL-B");
        // Hits return the entry of the same text, not the newest collision.
        let again = cache
            .get_or_parse("model-a", |_| Err::<String, _>("parsed twice"))
            .unwrap();
        assert!(Arc::ptr_eq(&a, &again));
    }

    #[test]
    fn failed_parses_are_not_kept_and_capacity_is_bounded() {
        let cache: ModelCache<usize> = ModelCache::new(2, fold_hash);
        assert!(cache.get_or_parse("bad", |_| Err("no")).is_err());
        assert_eq!(
            *cache.get_or_parse("bad", |t| Ok::<_, ()>(t.len())).unwrap(),
            3
        );
        for t in ["a", "bb", "ccc"] {
            cache.get_or_parse(t, |t| Ok::<_, ()>(t.len())).unwrap();
        }
        // "a" was pushed out by "bb" and "ccc": it is parsed again.
        let mut parsed = false;
        cache
            .get_or_parse("a", |t| {
                parsed = true;
                Ok::<_, ()>(t.len())
            })
            .unwrap();
        assert!(parsed);
    }
}
