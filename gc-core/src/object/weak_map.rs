//! `WeakMap<K, V>`: an ephemeron table (JS `WeakMap`, Lua weak-keyed tables): the value
//! of an entry is kept alive only while its key is reachable from elsewhere.
//!
//! Entries live off the heap, keyed by the key object's address; each value is an
//! immutable `Arc<V>` whose handles are edges (unrooted). No root or trace edge leads from
//! the table to a value: the collector's ephemeron pass (`crate::gc`'s `ephemeron.rs`)
//! traces a value once it finds the key marked, iterating to a fixed point, and drops the
//! entries whose key stayed unmarked at mark termination, before the key's memory can be
//! reused.
//!
//! `get` clones the `Arc` under the lock and the value outside it: `V::clone` is user code
//! and must not run under a lock the collector takes, nor inside a GC operation. While it
//! runs, the value stays traced: its key is alive (the caller holds it), and a value that
//! `insert` or `remove` takes out of the map meanwhile goes to the table's `retired` list,
//! whose values the pass traces while someone besides the table holds them (operations are
//! stopped then, and no `get` can newly reach a retired value); the others are garbage, and
//! the dropper drops them.
//! `insert` unroots inside a GC operation, so the unrooted value is listed before any cycle
//! can end.
//!
//! Shared state: `State`, behind the table's mutex, held only for map operations (never
//! while user code runs), by users or by the collector while operations are stopped. See
//! the collector overview (`crate::design::collector`).

use super::gc::Gc;
use crate::gc::{self, EphemeronTable, Tracer};
use crate::sync::Mutex;
use crate::Trace;
use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// An ephemeron table: maps objects (by identity) to values that stay alive only while
/// their key does. Shared by reference: every method takes `&self`, from any thread.
///
/// ```
/// use gc_core::{Gc, WeakMap};
///
/// let names: WeakMap<u64, Gc<String>> = WeakMap::new();
/// let key = Gc::new(1u64);
/// names.insert(&key, Gc::new("one".to_string()));
/// assert_eq!(names.get(&key).as_deref().map(String::as_str), Some("one"));
/// drop(key);
/// gc_core::collect(); // the key died: its entry is gone, its value is garbage
/// assert_eq!(names.len(), 0);
/// ```
pub struct WeakMap<K: ?Sized + 'static, V: Trace + Send + Sync + 'static> {
    inner: Arc<Inner<V>>,
    /// The registry's handle on `inner`, removed when the map is dropped.
    registered: Arc<dyn EphemeronTable>,
    _k: PhantomData<fn(&K)>,
}

struct Entry<V: Trace> {
    /// The value, its handles unrooted (edges); never mutated once listed.
    value: Arc<EdgeValue<V>>,
    /// The last mark cycle that traced the value.
    traced: u64,
}

/// A value in edge state for good: dropped as garbage (the `Trace` docs' "Keys": its key
/// handles hold no count).
struct EdgeValue<V: Trace>(V);

impl<V: Trace> Drop for EdgeValue<V> {
    fn drop(&mut self) {
        if V::holds_keys_at(0) {
            // SAFETY: the value was unrooted by `insert` and never rooted again; it is being
            // dropped, so never traced again either.
            unsafe { self.0.forget_edges() };
        }
    }
}

struct State<V: Trace> {
    /// By key address.
    live: HashMap<usize, Entry<V>>,
    /// Values taken out of `live` while a `get` may still be cloning them.
    retired: Vec<Entry<V>>,
}

struct Inner<V: Trace> {
    state: Mutex<State<V>>,
}

impl<K: ?Sized + 'static, V: Trace + Send + Sync + 'static> WeakMap<K, V> {
    /// An empty table.
    ///
    /// # Examples
    ///
    /// ```
    /// let names: gc_core::WeakMap<u64, String> = gc_core::WeakMap::new();
    /// assert!(names.is_empty());
    /// ```
    pub fn new() -> WeakMap<K, V> {
        let inner = Arc::new(Inner {
            state: Mutex::new(State {
                live: HashMap::new(),
                retired: Vec::new(),
            }),
        });
        let registered: Arc<dyn EphemeronTable> = inner.clone();
        gc::register_ephemerons(registered.clone());
        WeakMap {
            inner,
            registered,
            _k: PhantomData,
        }
    }

    /// Maps `key`'s object to `value` (replacing any value it had). `value` is kept alive
    /// only while the key object is reachable from elsewhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, WeakMap};
    ///
    /// let meta: WeakMap<u64, String> = WeakMap::new();
    /// let key = Gc::new(1);
    /// meta.insert(&key, "first".into());
    /// meta.insert(&key, "second".into()); // replaces
    /// assert_eq!(meta.get(&key).as_deref(), Some("second"));
    /// drop(key);
    /// gc_core::collect(); // the key died: its entry is gone
    /// assert!(meta.is_empty());
    /// ```
    pub fn insert(&self, key: &Gc<K>, mut value: V) {
        let addr = key_addr(key);
        gc::with_op(|_| {
            // SAFETY: the value now belongs to the table, which reaches it only through the
            // ephemeron pass (module header); inside the operation no cycle can end before
            // it is listed. Unrooting shades its targets while a mark runs.
            unsafe { value.unroot() };
            let entry = Entry {
                value: Arc::new(EdgeValue(value)),
                traced: 0,
            };
            let mut st = self.inner.state.lock();
            if let Some(old) = st.live.insert(addr, entry) {
                st.retired.push(old);
            }
        });
    }

    /// A clone of the value mapped to `key`'s object (its handles are new roots).
    /// `V::clone` runs outside every lock and GC operation.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = gc_core::WeakMap::new();
    /// let k = gc_core::Gc::new("key");
    /// m.insert(&k, gc_core::Gc::new(42u32));
    /// assert_eq!(m.get(&k).as_deref(), Some(&42));
    /// assert!(m.get(&gc_core::Gc::new("other")).is_none());
    /// ```
    pub fn get(&self, key: &Gc<K>) -> Option<V>
    where
        V: Clone,
    {
        let value = self
            .inner
            .state
            .lock()
            .live
            .get(&key_addr(key))?
            .value
            .clone();
        // The key is alive (we hold it), so the value is traced, in `live` or `retired`,
        // until `value` is dropped.
        Some(value.0.clone())
    }

    /// Whether `key`'s object has an entry.
    ///
    /// # Examples
    ///
    /// ```
    /// let m = gc_core::WeakMap::new();
    /// let k = gc_core::Gc::new(0u8);
    /// assert!(!m.contains_key(&k));
    /// m.insert(&k, 1u8);
    /// assert!(m.contains_key(&k));
    /// ```
    pub fn contains_key(&self, key: &Gc<K>) -> bool {
        self.inner.state.lock().live.contains_key(&key_addr(key))
    }

    /// Removes the entry of `key`'s object; returns whether it had one. The value becomes
    /// garbage (a `get` still cloning it keeps it alive until done).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = gc_core::WeakMap::new();
    /// let k = gc_core::Gc::new(0u8);
    /// m.insert(&k, 1u8);
    /// assert!(m.remove(&k));
    /// assert!(!m.remove(&k));
    /// ```
    pub fn remove(&self, key: &Gc<K>) -> bool {
        let mut st = self.inner.state.lock();
        match st.live.remove(&key_addr(key)) {
            Some(e) => {
                st.retired.push(e);
                true
            }
            None => false,
        }
    }

    /// The number of entries (those of keys found dead are removed by the cycle that
    /// finds them).
    ///
    /// # Examples
    ///
    /// ```
    /// let m = gc_core::WeakMap::new();
    /// let (a, b) = (gc_core::Gc::new(1), gc_core::Gc::new(2));
    /// m.insert(&a, ());
    /// m.insert(&b, ());
    /// assert_eq!(m.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.inner.state.lock().live.len()
    }

    /// Whether the table has no entries.
    ///
    /// # Examples
    ///
    /// ```
    /// let m: gc_core::WeakMap<u8, ()> = gc_core::WeakMap::new();
    /// assert!(m.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn key_addr<K: ?Sized>(key: &Gc<K>) -> usize {
    Gc::as_ptr(key).cast::<u8>() as usize
}

impl<K: ?Sized + 'static, V: Trace + Send + Sync + 'static> Default for WeakMap<K, V> {
    fn default() -> WeakMap<K, V> {
        WeakMap::new()
    }
}

impl<K: ?Sized + 'static, V: Trace + Send + Sync + 'static> Drop for WeakMap<K, V> {
    fn drop(&mut self) {
        // The collector must never hold the last reference (it would drop the values,
        // user code, while operations are stopped).
        gc::deregister_ephemerons(&self.registered);
    }
}

impl<K: ?Sized + 'static, V: Trace + Send + Sync + 'static> fmt::Debug for WeakMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WeakMap").field("len", &self.len()).finish()
    }
}

impl<V: Trace + Send + Sync + 'static> EphemeronTable for Inner<V> {
    fn trace_live(&self, epoch: u64, tracer: &mut Tracer) -> usize {
        let mut st = self.state.lock();
        let st = &mut *st;
        let mut traced = 0;
        let live = st
            .live
            .iter_mut()
            .filter(|(&k, _)| gc::is_marked(k))
            .map(|(_, e)| e);
        // A retired value only the table holds is garbage: no `get` can reach it again.
        let held = st
            .retired
            .iter_mut()
            .filter(|e| Arc::strong_count(&e.value) > 1);
        for e in live.chain(held) {
            if e.traced != epoch {
                e.traced = epoch;
                e.value.0.trace(tracer);
                traced += 1;
            }
        }
        traced
    }

    fn drop_dead(&self) -> Vec<Box<dyn Send>> {
        let mut st = self.state.lock();
        let st = &mut *st;
        let mut dead: Vec<Box<dyn Send>> = Vec::new();
        st.live.retain(|&k, e| {
            let keep = gc::is_marked(k);
            if !keep {
                dead.push(Box::new(e.value.clone()));
            }
            keep
        });
        // Retired values nobody else holds are garbage now; the others stay (traced).
        st.retired.retain(|e| {
            let shared = Arc::strong_count(&e.value) > 1;
            if !shared {
                dead.push(Box::new(e.value.clone()));
            }
            shared
        });
        dead
    }
}

// SAFETY: the table holds no edge the collector follows by tracing: its values are reached
// only through the ephemeron pass (module header), so there is nothing to trace, and its
// values stay edges wherever the table lives, so nothing to root or unroot. Dropping it
// drops its values (their own drop glue) and an `Arc`.
unsafe impl<K: ?Sized + 'static, V: Trace + Send + Sync + 'static> Trace for WeakMap<K, V> {
    #[inline(always)]
    fn needs_trace() -> bool {
        false
    }
    #[inline(always)]
    fn drop_runs_user_code() -> bool {
        V::drop_runs_user_code()
    }
    #[inline(always)]
    fn trace(&self, _: &mut Tracer) {}
    #[inline(always)]
    unsafe fn root(&mut self) {}
    #[inline(always)]
    unsafe fn unroot(&mut self) {}
}
