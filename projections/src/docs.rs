//! The documents of one read model, with the keys changed since the last drain. A document
//! changed by a thousand events is serialised once, at its latest value, when it is drained.
//!
//! Documents live in a hash map: every event looks one up, and enrollment keys share long
//! prefixes (`00008030-00…`) that make ordered-map comparisons the costliest part of a fold.
//! Key order, which only queries need, is kept in a separate set that changes only when a
//! document is created or removed. Each key is allocated once and shared by the map, the order
//! and the list of changes; a flag on the document keeps marking it changed to one branch.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;

use foldhash::HashMap;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::{Change, Page, ProjectionError};

#[derive(Debug, Clone)]
struct Slot<T> {
    key: Arc<str>,
    /// Listed in `changed` since the last drain.
    changed: bool,
    doc: T,
}

impl<T> Slot<T> {
    fn mark(&mut self, changed: &mut Vec<Arc<str>>) -> &mut T {
        if !self.changed {
            self.changed = true;
            changed.push(Arc::clone(&self.key));
        }
        &mut self.doc
    }
}

#[derive(Debug, Clone)]
pub(crate) struct DocStore<T> {
    docs: HashMap<Arc<str>, Slot<T>>,
    order: BTreeSet<Arc<str>>,
    changed: Vec<Arc<str>>,
}

impl<T> Default for DocStore<T> {
    fn default() -> Self {
        Self {
            docs: HashMap::default(),
            order: BTreeSet::new(),
            changed: Vec::new(),
        }
    }
}

impl<T> DocStore<T> {
    pub fn get(&self, key: &str) -> Option<&T> {
        self.docs.get(key).map(|slot| &slot.doc)
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// The document to change, marked changed; `None` if there is none.
    pub fn update(&mut self, key: &str) -> Option<&mut T> {
        Some(self.docs.get_mut(key)?.mark(&mut self.changed))
    }

    /// Changes the document, creating it with `make` first if there is none.
    pub fn upsert(&mut self, key: &str, make: impl FnOnce() -> T, change: impl FnOnce(&mut T)) {
        if let Some(slot) = self.docs.get_mut(key) {
            change(slot.mark(&mut self.changed));
            return;
        }
        let mut doc = make();
        change(&mut doc);
        self.create(key, doc, true);
    }

    /// Replaces (or creates) the document, marked changed; returns the one it replaced.
    pub fn insert(&mut self, key: &str, doc: T) -> Option<T> {
        if let Some(slot) = self.docs.get_mut(key) {
            return Some(std::mem::replace(slot.mark(&mut self.changed), doc));
        }
        self.create(key, doc, true);
        None
    }

    fn create(&mut self, key: &str, doc: T, changed: bool) {
        let key: Arc<str> = Arc::from(key);
        if changed {
            self.changed.push(Arc::clone(&key));
        }
        self.order.insert(Arc::clone(&key));
        let slot = Slot {
            key: Arc::clone(&key),
            changed,
            doc,
        };
        self.docs.insert(key, slot);
    }

    /// Documents in key order from `start`.
    fn ordered<'a>(&'a self, start: Bound<&'a str>) -> impl Iterator<Item = (&'a Arc<str>, &'a T)> + 'a {
        self.order
            .range::<str, _>((start, Bound::Unbounded))
            .filter_map(|k| self.docs.get(k).map(|slot| (k, &slot.doc)))
    }

    /// Documents whose keys start with `prefix`, in key order.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a T> + 'a {
        self.ordered(Bound::Included(prefix))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(_, doc)| doc)
    }

    /// Up to `limit` documents after the key `after` that `keep` accepts, in key order. `next` is
    /// set only when another accepted document exists, so the last page says it is the last.
    pub fn page(&self, after: Option<&str>, limit: usize, keep: impl Fn(&T) -> bool) -> Page<T>
    where
        T: Clone,
    {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut matching = self.ordered(start).filter(|(_, doc)| keep(doc));
        let items: Vec<(&Arc<str>, &T)> = matching.by_ref().take(limit).collect();
        let more = limit > 0 && matching.next().is_some();
        Page {
            next: if more {
                items.last().map(|(k, _)| k.to_string())
            } else {
                None
            },
            items: items.into_iter().map(|(_, doc)| doc.clone()).collect(),
        }
    }

    /// Every document changed since the last drain, in key order, and forgets the changes.
    pub fn drain(&mut self, model: &'static str, version: u32, out: &mut Vec<Change>)
    where
        T: Serialize,
    {
        let mut keys = std::mem::take(&mut self.changed);
        keys.sort_unstable();
        for key in keys {
            let doc = match self.docs.get_mut(&key) {
                None => None,
                Some(slot) => {
                    slot.changed = false;
                    // Read models are plain structs with string keys: serialising them cannot
                    // fail, and a failure must not turn into a deletion.
                    match serde_json::to_value(&slot.doc) {
                        Ok(value) => Some(value),
                        Err(_) => continue,
                    }
                }
            };
            out.push(Change {
                model,
                version,
                key: key.to_string(),
                doc,
            });
        }
    }

    /// Every document, in key order (changed or not).
    pub fn snapshot(&self, model: &'static str, version: u32, out: &mut Vec<Change>)
    where
        T: Serialize,
    {
        for (key, doc) in self.ordered(Bound::Unbounded) {
            if let Ok(value) = serde_json::to_value(doc) {
                out.push(Change {
                    model,
                    version,
                    key: key.to_string(),
                    doc: Some(value),
                });
            }
        }
    }

    /// Loads a persisted document without marking it changed. Returns the document it replaced
    /// (or removed), so the caller can fix its indexes.
    pub fn restore(
        &mut self,
        model: &'static str,
        key: &str,
        doc: Option<&serde_json::Value>,
    ) -> Result<Option<T>, ProjectionError>
    where
        T: DeserializeOwned,
    {
        let Some(value) = doc else {
            self.order.remove(key);
            return Ok(self.docs.remove(key).map(|slot| slot.doc));
        };
        let doc = T::deserialize(value).map_err(|source| ProjectionError::Document {
            model,
            key: key.to_owned(),
            source,
        })?;
        if let Some(slot) = self.docs.get_mut(key) {
            return Ok(Some(std::mem::replace(&mut slot.doc, doc)));
        }
        self.create(key, doc, false);
        Ok(None)
    }
}
