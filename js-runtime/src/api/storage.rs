//! `GGS.localStorage` and `GGS.world`: transactional key/value maps with Web Storage semantics.
//!
//! Reads see the committed map plus the current event's writes (the overlay). A successful
//! event turns its overlay into [`Write`]s; a failed one drops it, so nothing it wrote remains.

use std::collections::BTreeMap;

use rquickjs::{Ctx, Function, Object};

use crate::effects::{Namespace, Write};
use crate::vm::{Limit, Shared};

/// One namespace of one table: committed entries plus the running event's changes.
#[derive(Debug, Default)]
pub(crate) struct KvStore {
    base: BTreeMap<String, String>,
    overlay: BTreeMap<String, Option<String>>,
    /// Bytes (keys + values) of the committed map.
    base_bytes: usize,
    /// Change of that size by the overlay.
    delta: isize,
}

fn entry_size(key: &str, value: &str) -> usize {
    key.len() + value.len()
}

impl KvStore {
    pub(crate) fn new(base: BTreeMap<String, String>) -> Self {
        let base_bytes = base.iter().map(|(k, v)| entry_size(k, v)).sum();
        KvStore {
            base,
            overlay: BTreeMap::new(),
            base_bytes,
            delta: 0,
        }
    }

    /// Bytes (keys + values) visible now.
    pub(crate) fn bytes(&self) -> usize {
        (self.base_bytes as isize + self.delta).max(0) as usize
    }

    fn visible_size(&self, key: &str) -> usize {
        self.get(key).map_or(0, |v| entry_size(key, v))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        match self.overlay.get(key) {
            Some(pending) => pending.as_deref(),
            None => self.base.get(key).map(String::as_str),
        }
    }

    pub(crate) fn set(&mut self, key: String, value: String) {
        self.delta += entry_size(&key, &value) as isize - self.visible_size(&key) as isize;
        self.overlay.insert(key, Some(value));
    }

    pub(crate) fn remove(&mut self, key: String) {
        self.delta -= self.visible_size(&key) as isize;
        self.overlay.insert(key, None);
    }

    pub(crate) fn clear(&mut self) {
        for value in self.overlay.values_mut() {
            *value = None;
        }
        for key in self.base.keys() {
            self.overlay.insert(key.clone(), None);
        }
        self.delta = -(self.base_bytes as isize);
    }

    /// Keys visible now, in order.
    fn keys(&self) -> impl Iterator<Item = &str> {
        let from_base = self
            .base
            .keys()
            .filter(|k| !self.overlay.contains_key(*k))
            .map(String::as_str);
        let from_overlay = self
            .overlay
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k.as_str());
        let mut keys: Vec<&str> = from_base.chain(from_overlay).collect();
        keys.sort_unstable();
        keys.into_iter()
    }

    pub(crate) fn len(&self) -> usize {
        if self.overlay.is_empty() {
            return self.base.len();
        }
        self.keys().count()
    }

    pub(crate) fn key(&self, index: usize) -> Option<&str> {
        if self.overlay.is_empty() {
            return self.base.keys().nth(index).map(String::as_str);
        }
        self.keys().nth(index)
    }

    /// Makes the event's changes part of the committed map and reports them as writes.
    pub(crate) fn commit(&mut self, ns: Namespace, out: &mut Vec<Write>) {
        self.base_bytes = self.bytes();
        self.delta = 0;
        for (key, value) in std::mem::take(&mut self.overlay) {
            let changed = match &value {
                Some(v) => self.base.get(&key) != Some(v),
                None => self.base.contains_key(&key),
            };
            if !changed {
                continue;
            }
            match &value {
                Some(v) => self.base.insert(key.clone(), v.clone()),
                None => self.base.remove(&key),
            };
            out.push(Write { ns, key, value });
        }
    }

    /// Forgets the event's changes.
    pub(crate) fn rollback(&mut self) {
        self.overlay.clear();
        self.delta = 0;
    }
}

fn namespace(ns: i32) -> Namespace {
    if ns == 0 {
        Namespace::Local
    } else {
        Namespace::World
    }
}

/// Adds `get`, `set`, `remove`, `clear`, `len` and `key` (each taking a namespace index) to `ops`.
pub(crate) fn register<'js>(
    ctx: &Ctx<'js>,
    ops: &Object<'js>,
    data: &Shared,
) -> rquickjs::Result<()> {
    let d = data.clone();
    ops.set(
        "get",
        Function::new(ctx.clone(), move |ns: i32, key: String| {
            d.borrow().storage[namespace(ns).index()]
                .get(&key)
                .map(str::to_owned)
        })?,
    )?;
    let d = data.clone();
    ops.set(
        "set",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, ns: i32, key: String, value: String| {
                let mut data = d.borrow_mut();
                let limits = data.limits;
                let size = entry_size(&key, &value);
                if size > limits.max_value {
                    let message = format!(
                        "a storage entry may be at most {} bytes (key + value); this one is {size}",
                        limits.max_value
                    );
                    return Err(data.limit_hit(&ctx, Limit::ValueTooLarge, message));
                }
                let ns = namespace(ns).index();
                let total: usize = data.storage.iter().map(KvStore::bytes).sum::<usize>() + size
                    - data.storage[ns].visible_size(&key);
                if total > limits.max_storage {
                    let message = format!(
                        "a table's storage may hold at most {} bytes; this write would make it {total}",
                        limits.max_storage
                    );
                    return Err(data.limit_hit(&ctx, Limit::StorageFull, message));
                }
                data.storage[ns].set(key, value);
                Ok(())
            },
        )?,
    )?;
    let d = data.clone();
    ops.set(
        "remove",
        Function::new(ctx.clone(), move |ns: i32, key: String| {
            d.borrow_mut().storage[namespace(ns).index()].remove(key)
        })?,
    )?;
    let d = data.clone();
    ops.set(
        "clear",
        Function::new(ctx.clone(), move |ns: i32| {
            d.borrow_mut().storage[namespace(ns).index()].clear()
        })?,
    )?;
    let d = data.clone();
    ops.set(
        "len",
        Function::new(ctx.clone(), move |ns: i32| {
            d.borrow().storage[namespace(ns).index()].len() as f64
        })?,
    )?;
    let d = data.clone();
    ops.set(
        "key",
        Function::new(ctx.clone(), move |ns: i32, index: f64| {
            if index < 0.0 {
                return None;
            }
            d.borrow().storage[namespace(ns).index()]
                .key(index as usize)
                .map(str::to_owned)
        })?,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(pairs: &[(&str, &str)]) -> KvStore {
        KvStore::new(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn overlay_reads_and_commit_reports_only_changes() {
        let mut s = store(&[("a", "1"), ("b", "2")]);
        s.set("a".into(), "1".into());
        s.set("c".into(), "3".into());
        s.remove("b".into());
        assert_eq!(s.get("c"), Some("3"));
        assert_eq!(s.get("b"), None);
        assert_eq!(s.len(), 2);
        assert_eq!(s.key(1), Some("c"));
        let mut writes = Vec::new();
        s.commit(Namespace::World, &mut writes);
        let keys: Vec<_> = writes
            .iter()
            .map(|w| (w.key.as_str(), w.value.as_deref()))
            .collect();
        assert_eq!(keys, vec![("b", None), ("c", Some("3"))]);
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn clear_then_set_and_rollback() {
        let mut s = store(&[("a", "1"), ("b", "2")]);
        s.clear();
        s.set("z".into(), "9".into());
        assert_eq!(s.len(), 1);
        assert_eq!(s.key(0), Some("z"));
        s.rollback();
        assert_eq!(s.len(), 2);
        assert_eq!(s.get("a"), Some("1"));
    }
}
