//! The documents of one read model, with the keys changed since the last drain. A document
//! changed by a thousand events is serialised once, at its latest value, when it is drained.
//!
//! Documents live in a hash map: every event looks one up, and enrollment keys share long
//! prefixes (`00008030-00…`) that make ordered-map comparisons the costliest part of a fold.
//! Key order, which only queries need, is kept in a separate set that changes only when a
//! document is created or removed. Each key is allocated once and shared by the map, the order
//! and the list of changes; a flag on the slot keeps marking it changed to one branch.
//!
//! Memory is what limits a fleet (the design brief, design brief §7: ≤ 2 KiB per enrolled device), so each
//! document sits in the map boxed (the table's spare capacity then costs 24 bytes a slot, not
//! a document's size), in the compact form its read model keeps in memory; [`Document`] turns it
//! into the JSON that is persisted and served. A settled document (a finished command) never
//! changes again: once persisted it may be [evicted](DocStore::evict) and read back from the
//! read-model database when a query needs it.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::sync::Arc;

use hashbrown::HashMap;
use serde_json::Value;

use crate::{Change, Page, ProjectionError};

/// A document as a read model keeps it in memory.
pub(crate) trait Document: Sized {
    /// The persisted (and served) form.
    fn to_json(&self, key: &str) -> serde_json::Result<Value>;
    fn from_json(key: &str, value: &Value) -> serde_json::Result<Self>;
    /// Final: no event changes it again (only a new document under its key can replace it).
    fn settled(&self) -> bool {
        false
    }
    /// The secondary key the read-model database indexes it under, for queries that reach
    /// evicted documents.
    fn tag(&self, _key: &str) -> Option<String> {
        None
    }
}

#[derive(Debug, Clone)]
struct Slot<T> {
    /// Listed in `changed` since the last drain.
    changed: bool,
    doc: Box<T>,
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
        self.docs.get(key).map(|slot| &*slot.doc)
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// The document to change, marked changed; `None` if there is none.
    pub fn update(&mut self, key: &str) -> Option<&mut T> {
        let (key, slot) = self.docs.get_key_value_mut(key)?;
        if !slot.changed {
            slot.changed = true;
            self.changed.push(Arc::clone(key));
        }
        Some(&mut slot.doc)
    }

    /// Changes the document, creating it with `make` first if there is none.
    pub fn upsert(&mut self, key: &str, make: impl FnOnce() -> T, change: impl FnOnce(&mut T)) {
        if let Some(doc) = self.update(key) {
            change(doc);
            return;
        }
        let mut doc = make();
        change(&mut doc);
        self.create(key, doc, true);
    }

    /// Replaces (or creates) the document, marked changed; returns the one it replaced.
    pub fn insert(&mut self, key: &str, doc: T) -> Option<T> {
        if let Some(old) = self.update(key) {
            return Some(std::mem::replace(old, doc));
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
            changed,
            doc: Box::new(doc),
        };
        self.docs.insert(key, slot);
    }

    /// Removes the document if it is persisted (not changed since the last drain); returns it.
    pub fn evict(&mut self, key: &str) -> Option<T> {
        if self.docs.get(key).is_none_or(|slot| slot.changed) {
            return None;
        }
        self.order.remove(key);
        self.docs.remove(key).map(|slot| *slot.doc)
    }

    /// Documents in key order from `start`.
    fn ordered<'a>(&'a self, start: Bound<&'a str>) -> impl Iterator<Item = (&'a Arc<str>, &'a T)> + 'a {
        self.order
            .range::<str, _>((start, Bound::Unbounded))
            .filter_map(|k| self.docs.get(k).map(|slot| (k, &*slot.doc)))
    }

    /// Documents whose keys start with `prefix`, in key order.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a T)> + 'a {
        self.ordered(Bound::Included(prefix))
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, doc)| (&**k, doc))
    }

    /// Up to `limit` documents after the key `after` that `keep` accepts, in key order, each as
    /// `show` makes it. `next` is set only when another accepted document exists, so the last
    /// page says it is the last.
    pub fn page<U>(
        &self,
        after: Option<&str>,
        limit: usize,
        keep: impl Fn(&T) -> bool,
        show: impl Fn(&str, &T) -> U,
    ) -> Page<U> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let matching = self.ordered(start).filter(|(_, doc)| keep(doc));
        take_page(matching, limit, |k, doc| show(k, doc))
    }
}

/// The first `limit` of `matching` (already in key order, after the cursor) as a page; `next`
/// only when another one follows, so the last page says it is the last.
pub(crate) fn take_page<K: AsRef<str>, D, U>(
    mut matching: impl Iterator<Item = (K, D)>,
    limit: usize,
    show: impl Fn(&K, D) -> U,
) -> Page<U> {
    let items: Vec<(K, D)> = matching.by_ref().take(limit).collect();
    let more = limit > 0 && matching.next().is_some();
    Page {
        next: if more {
            items.last().map(|(k, _)| k.as_ref().to_string())
        } else {
            None
        },
        items: items.into_iter().map(|(k, doc)| show(&k, doc)).collect(),
    }
}

impl<T: Document> DocStore<T> {
    fn change(model: &'static str, version: u32, key: &str, doc: &T) -> Option<Change> {
        // Read models are plain structs with string keys: serialising them cannot fail, and a
        // failure must not turn into a deletion.
        let value = doc.to_json(key).ok()?;
        Some(Change {
            model,
            version,
            key: key.to_owned(),
            settled: doc.settled(),
            tag: doc.tag(key),
            doc: Some(value),
        })
    }

    /// Every document changed since the last drain, in key order, and forgets the changes.
    pub fn drain(&mut self, model: &'static str, version: u32, out: &mut Vec<Change>) {
        let mut keys = std::mem::take(&mut self.changed);
        keys.sort_unstable();
        for key in keys {
            match self.docs.get_mut(&key) {
                None => out.push(Change {
                    model,
                    version,
                    key: key.to_string(),
                    doc: None,
                    settled: false,
                    tag: None,
                }),
                Some(slot) => {
                    slot.changed = false;
                    out.extend(Self::change(model, version, &key, &slot.doc));
                }
            }
        }
    }

    /// Every document, in key order (changed or not).
    pub fn snapshot(&self, model: &'static str, version: u32, out: &mut Vec<Change>) {
        for (key, doc) in self.ordered(Bound::Unbounded) {
            out.extend(Self::change(model, version, key, doc));
        }
    }

    /// Loads a persisted document without marking it changed. Returns the document it replaced
    /// (or removed), so the caller can fix its indexes.
    pub fn restore(
        &mut self,
        model: &'static str,
        key: &str,
        doc: Option<&Value>,
    ) -> Result<Option<T>, ProjectionError> {
        let Some(value) = doc else {
            self.order.remove(key);
            return Ok(self.docs.remove(key).map(|slot| *slot.doc));
        };
        let doc = T::from_json(key, value).map_err(|source| ProjectionError::Document {
            model,
            key: key.to_owned(),
            source,
        })?;
        if let Some(slot) = self.docs.get_mut(key) {
            return Ok(Some(std::mem::replace(&mut *slot.doc, doc)));
        }
        self.create(key, doc, false);
        Ok(None)
    }
}

/// [`Document`] for a read model whose memory form is its JSON form.
macro_rules! plain_document {
    ($t:ty $(, settled: $settled:expr, tag: $tag:expr)?) => {
        impl $crate::docs::Document for $t {
            fn to_json(&self, _key: &str) -> serde_json::Result<serde_json::Value> {
                serde_json::to_value(self)
            }
            fn from_json(_key: &str, value: &serde_json::Value) -> serde_json::Result<Self> {
                <$t as serde::Deserialize>::deserialize(value)
            }
            $(
                fn settled(&self) -> bool {
                    ($settled)(self)
                }
                fn tag(&self, key: &str) -> Option<String> {
                    ($tag)(self, key)
                }
            )?
        }
    };
}
pub(crate) use plain_document;
