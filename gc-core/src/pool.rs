//! `Pool<T>`: a recycler of values (buffers, scratch objects) in the spirit of Go's
//! `sync.Pool`, including its victim cache: values nobody takes back are dropped over the
//! next two collection cycles, so a burst does not pin memory for ever.
//!
//! Layout: a pool is a shared `Inner` (behind an `Arc`) holding the `make` function and a
//! small array of cache-line-padded shards (one per available core, rounded up to a power
//! of two). Each shard has a *primary* list (values put since the last cycle) and a
//! *victim* list (values put before it). A thread uses the shard picked by its per-thread
//! index; `get` falls back to the other shards (all primaries first, then all victims)
//! before calling `make`.
//!
//! Ageing (Go's `clearpools`, called at `gcStart`): [`age_all`] runs once per cycle, in
//! sweep termination (`gc/cycle.rs`, `Cycle::gc_start`), through the hook the first
//! `Pool::new` registers (`gc::register_pool_cleanup`, Go's `poolcleanup`). For every live pool it drops (via
//! the dropper) the victim lists and turns the primary lists into victim lists. A value put
//! and never taken therefore survives at most two cycles.
//!
//! Invariants:
//! - P1: a pooled value is in exactly one list of one shard, or owned by exactly one caller;
//!   it moves in and out of a list only under that shard's lock.
//! - P2: a shard's `primary_len` / `victim_len` equal its lists' lengths whenever its lock
//!   is free (they are written under it). Readers without the lock use them as hints only:
//!   to skip empty shards, and for `len()`.
//! - P3: a pool is in `REGISTRY` from `Pool::new` until its `Drop` starts, so every cycle
//!   ages every live pool. The registry's `Arc` keeps `Inner` alive, so its address is a
//!   unique key while it is registered.
//! - P4: no user code (`make`, a value's `Drop`) runs while a shard lock or the registry
//!   lock is held, and the two kinds of lock are never nested; ageing runs none at all
//!   (aged values go to the dropper, `crate::gc::defer_value`). So a `Drop` may use pools, drop
//!   a pool, or call `collect()`.
//!
//! What protects what: each shard's lists by its own `Mutex`; the registry by its `Mutex`;
//! the per-thread shard index is a thread-local handed out from an atomic counter.
//! Collector overview: `crate::design::collector` (`gc/mod.rs`).

use crate::sync::{Arc, AtomicUsize, Mutex, MutexGuard, OnceLock, Ordering, Padded};
use std::cell::Cell;
use std::fmt;

/// Shards per pool at most (before rounding up to a power of two).
const MAX_SHARDS: usize = 64;

crate::sync::global! {
    /// Every live pool, type-erased (P3).
    static REGISTRY: Mutex<Vec<Box<dyn Ageing>>> = Mutex::new(Vec::new());
}
crate::sync::global! {
    /// The next per-thread shard index to hand out.
    static NEXT_INDEX: AtomicUsize = AtomicUsize::new(0);
}
crate::sync::global! {
    /// Available parallelism, read once (it may read cgroup files).
    static CPUS: OnceLock<usize> = OnceLock::new();
}
crate::sync::thread_local! {
    /// This thread's shard index (`usize::MAX` = not assigned yet).
    static INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock()
}

/// Shards for a machine with `cpus` cores: one per core, at least 1, at most
/// `MAX_SHARDS`, rounded up to a power of two so a mask picks one.
fn shard_count(cpus: usize) -> usize {
    cpus.clamp(1, MAX_SHARDS).next_power_of_two()
}

/// The calling thread's index: consecutive threads get consecutive indices, so up to
/// `shard_count` threads each have a shard of their own. A thread whose thread-locals are
/// gone (a `Drop` run at thread exit) uses 0.
fn thread_index() -> usize {
    INDEX
        .try_with(|c| {
            if c.get() == usize::MAX {
                c.set(NEXT_INDEX.fetch_add(1, Ordering::Relaxed) & (usize::MAX >> 1));
            }
            c.get()
        })
        .unwrap_or(0)
}

/// One shard's two lists.
struct Lists<T> {
    /// Values put since the last cycle.
    primary: Vec<T>,
    /// Values put before the last cycle: dropped at the next one unless taken.
    victim: Vec<T>,
}

impl<T> Lists<T> {
    const fn new() -> Self {
        Lists {
            primary: Vec::new(),
            victim: Vec::new(),
        }
    }

    /// The newest value of one list (`victim` selects which), LIFO: it is the warmest.
    fn take(&mut self, victim: bool) -> Option<T> {
        if victim {
            self.victim.pop()
        } else {
            self.primary.pop()
        }
    }

    /// One cycle: the primary list becomes the victim list; returns the old victims, for
    /// the caller to drop outside the lock (P4).
    fn age(&mut self) -> Vec<T> {
        std::mem::replace(&mut self.victim, std::mem::take(&mut self.primary))
    }
}

struct Shard<T> {
    lists: Mutex<Lists<T>>,
    /// `lists.primary.len()` (P2).
    primary_len: AtomicUsize,
    /// `lists.victim.len()` (P2).
    victim_len: AtomicUsize,
}

impl<T> Shard<T> {
    /// Publishes the lists' lengths; called with the lock held (P2).
    fn publish(&self, l: &Lists<T>) {
        self.primary_len.store(l.primary.len(), Ordering::Relaxed);
        self.victim_len.store(l.victim.len(), Ordering::Relaxed);
    }
}

/// What a pool shares with the registry.
struct Inner<T> {
    make: Box<dyn Fn() -> T + Send + Sync>,
    shards: Box<[Padded<Shard<T>>]>,
}

impl<T> Inner<T> {
    fn take(&self) -> Option<T> {
        let mask = self.shards.len() - 1;
        let home = thread_index();
        // Go's order: the home shard's primary, the others' primaries, then the victims.
        for victim in [false, true] {
            for k in 0..self.shards.len() {
                let s = &self.shards[(home + k) & mask];
                let hint = if victim {
                    &s.victim_len
                } else {
                    &s.primary_len
                };
                if hint.load(Ordering::Relaxed) == 0 {
                    continue;
                }
                let mut l = lock(&s.lists);
                if let Some(v) = l.take(victim) {
                    s.publish(&l);
                    return Some(v);
                }
            }
        }
        None
    }

    /// Takes every value out (P1), for dropping outside the locks.
    fn drain(&self) -> Vec<T> {
        let mut all = Vec::new();
        for s in self.shards.iter() {
            let mut l = lock(&s.lists);
            all.append(&mut l.primary);
            all.append(&mut l.victim);
            s.publish(&l);
        }
        all
    }
}

/// A registered pool, with its element type erased.
trait Ageing: Send + Sync {
    /// The address of the pool's `Inner` (unique while registered, P3).
    fn key(&self) -> usize;
    /// Another strong handle to the same pool.
    fn handle(&self) -> Box<dyn Ageing>;
    /// One cycle of ageing; drops the old victims outside every lock.
    fn age(&self);
}

struct Registered<T>(Arc<Inner<T>>);

impl<T: Send + 'static> Ageing for Registered<T> {
    fn key(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }

    fn handle(&self) -> Box<dyn Ageing> {
        Box::new(Registered(self.0.clone()))
    }

    fn age(&self) {
        for s in self.0.shards.iter() {
            let dead = {
                let mut l = lock(&s.lists);
                let dead = l.age();
                s.publish(&l);
                dead
            };
            for v in dead {
                crate::gc::defer_value(v);
            }
        }
    }
}

/// One ageing step for every live pool (Go's `clearpools`): hands each victim list to the
/// dropper and makes each primary list the victim list. Called once per cycle by
/// `run_cycle`, on the cycle's thread, outside every GC operation; runs no user code.
fn age_all() {
    // Snapshot under the registry lock, age without it (P4).
    let pools: Vec<Box<dyn Ageing>> = lock(&REGISTRY).iter().map(|p| p.handle()).collect();
    for p in pools {
        p.age();
        // The last handle if the pool was dropped meanwhile: `Inner`'s values and `make`
        // closure drop on the dropper.
        crate::gc::defer_value(p);
    }
}

/// A concurrent recycler of values, like Go's `sync.Pool`: [`put`](Pool::put) hands a value
/// back for reuse, [`get`](Pool::get) returns a pooled one if there is any and otherwise
/// makes a new one.
///
/// **Ageing.** Pooled values are a cache, not storage: at every collection cycle each pool
/// drops the values that were already pooled at the previous cycle and were not taken
/// since (Go's victim cache). A value put and never taken back is dropped by the second
/// cycle after the `put` at the latest, so a burst of values does not pin memory for ever,
/// while a pool in steady use keeps its values across cycles. Those values are dropped
/// **outside the collector**, like the `Drop` of swept objects: on a dropper thread, or by
/// the thread calling [`collect`](crate::collect) before it returns. Their `Drop` may use
/// pools, allocate, block or call any public function; one that panics is reported on
/// stderr and the others go on.
///
/// Dropping the `Pool` drops its values on the dropping thread and removes the pool from the
/// collector's list.
///
/// **Concurrency.** The pool is split into shards (one per core); a thread puts into its own
/// shard and takes from it first, then from the others, so threads rarely contend. Nothing
/// is promised about *which* pooled value `get` returns, and under concurrency `get` may
/// miss a value another thread is putting at that moment and call `make` instead. `make`
/// runs on the calling thread, outside the pool's locks.
///
/// ```
/// use gc_core::{Gc, GcCell, Pool};
///
/// // Buffers in the GC heap, recycled instead of reallocated.
/// let buffers = Pool::new(|| Gc::new(GcCell::new(Vec::<u8>::with_capacity(4096))));
/// let buf = buffers.get(); // made: the pool was empty
/// buf.borrow_mut().extend_from_slice(b"request 1");
/// buf.borrow_mut().clear(); // reset it before handing it back
/// buffers.put(buf.clone());
/// assert_eq!(buffers.len(), 1);
///
/// let again = buffers.get(); // the same buffer, no allocation
/// assert!(Gc::ptr_eq(&again, &buf));
/// assert!(buffers.try_get().is_none());
///
/// // Unused values age out: two cycles drop anything nobody took back.
/// buffers.put(again);
/// gc_core::collect();
/// gc_core::collect();
/// assert!(buffers.is_empty());
/// ```
pub struct Pool<T: Send + 'static> {
    inner: Arc<Inner<T>>,
}

impl<T: Send + 'static> Pool<T> {
    /// A pool that calls `make` when [`get`](Pool::get) finds nothing pooled.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = gc_core::Pool::new(|| Vec::<u8>::with_capacity(4096));
    /// assert!(pool.is_empty());
    /// assert_eq!(pool.get().capacity(), 4096); // made by the closure
    /// ```
    pub fn new(make: impl Fn() -> T + Send + Sync + 'static) -> Pool<T> {
        let cpus = *CPUS
            .get_or_init(|| crate::sync::thread::available_parallelism().map_or(1, |n| n.get()));
        let shards = (0..shard_count(cpus))
            .map(|_| {
                Padded(Shard {
                    lists: Mutex::new(Lists::new()),
                    primary_len: AtomicUsize::new(0),
                    victim_len: AtomicUsize::new(0),
                })
            })
            .collect();
        let inner = Arc::new(Inner {
            make: Box::new(make),
            shards,
        });
        crate::gc::register_pool_cleanup(age_all);
        lock(&REGISTRY).push(Box::new(Registered(inner.clone())));
        Pool { inner }
    }

    /// A pooled value if there is one (the calling thread's shard first, values put since
    /// the last cycle before older ones), otherwise a new one from `make`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = gc_core::Pool::new(String::new);
    /// pool.put("reused".to_string());
    /// assert_eq!(pool.get(), "reused"); // the pooled value
    /// assert_eq!(pool.get(), ""); // nothing pooled: made anew
    /// ```
    pub fn get(&self) -> T {
        self.try_get().unwrap_or_else(|| (self.inner.make)())
    }

    /// A pooled value if there is one; never calls `make`.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = gc_core::Pool::new(|| 0u64);
    /// assert_eq!(pool.try_get(), None); // never calls the closure
    /// pool.put(9);
    /// assert_eq!(pool.try_get(), Some(9));
    /// ```
    pub fn try_get(&self) -> Option<T> {
        self.inner.take()
    }

    /// Hands `value` back for reuse. Reset it first (clear a buffer, say): `get` returns it
    /// as it is. If nobody takes it, it is dropped within two collection cycles.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = gc_core::Pool::new(Vec::<u32>::new);
    /// let mut v = pool.get();
    /// v.extend([1, 2, 3]);
    /// v.clear(); // reset before handing it back
    /// pool.put(v);
    /// assert_eq!(pool.len(), 1);
    /// ```
    pub fn put(&self, value: T) {
        let s = &self.inner.shards[thread_index() & (self.inner.shards.len() - 1)];
        let mut l = lock(&s.lists);
        l.primary.push(value);
        s.publish(&l);
    }

    /// The number of values pooled now (put since the last cycle, plus the previous
    /// cycle's survivors). Exact when no other thread uses the pool and no cycle runs
    /// meanwhile; otherwise a snapshot summed shard by shard without locking, which may be
    /// off by the operations racing with it.
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = gc_core::Pool::new(|| 0u8);
    /// pool.put(1);
    /// pool.put(2);
    /// assert_eq!(pool.len(), 2);
    /// ```
    pub fn len(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| s.primary_len.load(Ordering::Relaxed) + s.victim_len.load(Ordering::Relaxed))
            .sum()
    }

    /// Whether [`len`](Pool::len) is 0 (with the same caveat under concurrency).
    ///
    /// # Examples
    ///
    /// ```
    /// let pool = gc_core::Pool::new(|| 0u8);
    /// assert!(pool.is_empty());
    /// pool.put(1);
    /// assert!(!pool.is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: Send + 'static> Drop for Pool<T> {
    fn drop(&mut self) {
        let key = Arc::as_ptr(&self.inner) as usize;
        let entry = {
            let mut r = lock(&REGISTRY);
            let i = r.iter().position(|p| p.key() == key);
            i.map(|i| r.swap_remove(i))
        };
        drop(entry);
        // Every value goes now, on this thread, outside the locks (P4); a cycle ageing this
        // pool concurrently drops the ones it already took.
        drop(self.inner.drain());
    }
}

impl<T: Send + 'static> fmt::Debug for Pool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_counts_are_powers_of_two_within_bounds() {
        assert_eq!(shard_count(0), 1);
        assert_eq!(shard_count(1), 1);
        assert_eq!(shard_count(2), 2);
        assert_eq!(shard_count(3), 4);
        assert_eq!(shard_count(64), 64);
        assert_eq!(shard_count(1000), 64);
    }

    #[test]
    fn lists_take_primary_then_victim_and_age_by_one_step() {
        let mut l = Lists::new();
        l.primary.extend([1, 2]);
        assert!(l.age().is_empty(), "no victims yet");
        assert_eq!((l.primary.len(), l.victim.len()), (0, 2));
        l.primary.push(3);
        assert_eq!(l.take(false), Some(3));
        assert_eq!(l.take(false), None);
        assert_eq!(l.take(true), Some(2), "newest first");
        l.primary.push(4);
        assert_eq!(l.age(), vec![1], "the surviving victim goes");
        assert_eq!((l.primary.len(), l.victim.len()), (0, 1));
        assert_eq!(l.age(), vec![4]);
        assert_eq!((l.primary.len(), l.victim.len()), (0, 0));
    }

    #[test]
    fn pool_is_send_and_sync_for_send_values() {
        fn send_sync<X: Send + Sync>() {}
        send_sync::<Pool<Vec<u8>>>();
        send_sync::<Pool<Cell<u8>>>(); // Send but not Sync, like `Mutex<T>`
    }

    /// Whether a pool with this key is registered.
    #[cfg(not(gc_loom))]
    fn registered(key: usize) -> bool {
        lock(&REGISTRY).iter().any(|p| p.key() == key)
    }

    /// Other unit tests run collections concurrently, so this checks only what ageing
    /// cannot change; tests/pool.rs checks ageing itself.
    #[cfg(not(gc_loom))]
    #[test]
    fn a_pool_is_registered_until_dropped() {
        let p = Pool::new(|| 0u32);
        let key = Arc::as_ptr(&p.inner) as usize;
        assert!(registered(key));
        p.put(7);
        drop(p);
        assert!(!registered(key));
        assert_eq!(format!("{:?}", Pool::new(|| 0u8)), "Pool { len: 0, .. }");
    }
}
