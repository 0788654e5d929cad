//! Specials (Go's span "specials"): records attached to an object by address that the
//! collector settles when it finds the object unreachable. Two kinds:
//!
//! - a **weak target** (Go's weak handle, `weak.Pointer`): the object's address, shared by
//!   every `Weak` to it, set to 0 once the object is found unreachable. `Weak::upgrade`
//!   reads it inside a GC operation and roots what it reads;
//! - **cleanups** (Go's `runtime.AddCleanup`): closures to run once the object is
//!   unreachable, on the dropper (`dropper.rs`), outside every GC operation.
//!
//! When: at mark termination, with GC operations stopped, after the mark is final and
//! before anything is swept (`settle`), for the records whose object was still unmarked
//! just before (`candidates`, a concurrent pass). So an object whose target is not 0 was marked at
//! the last mark termination or allocated since: it is not swept before the next one, and
//! an upgrade inside an operation, which no mark termination can overlap, either reads 0 or
//! roots a live object (rooting while marking shades it: Go's weak-to-strong conversion).
//! The pause's cost is proportional to the records of objects that die (`BENCHMARKS.md`
//! has figures); Go settles them while sweeping instead.
//!
//! Shared state: the records, by object address, in `SHARDS` mutexes. A shard lock is held
//! only for a map operation, never while entering a GC operation or running user code, so
//! the stopped collector waits for it only briefly (I4). See the collector overview (`crate::design::collector`).

use super::roots::locate;
use crate::sync::{AtomicU64, AtomicUsize, Mutex, Ordering};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Shards of the record table (by address): downgrades from many threads rarely meet.
const SHARDS: usize = 32;

/// The address a weak reference points at, or 0 once its object was found unreachable.
pub(crate) struct WeakTarget(AtomicUsize);

impl WeakTarget {
    /// A target that is already cleared (`Weak::new`, or `Gc::new_cyclic` before the object
    /// exists).
    pub(crate) fn cleared() -> WeakTarget {
        WeakTarget(AtomicUsize::new(0))
    }

    /// The target of every `Weak::new`: cleared for good, shared.
    pub(crate) fn none() -> Arc<WeakTarget> {
        static NONE: std::sync::OnceLock<Arc<WeakTarget>> = std::sync::OnceLock::new();
        NONE.get_or_init(|| Arc::new(WeakTarget::cleared())).clone()
    }

    /// The object's address, or 0. Call inside a GC operation to rely on a non-zero answer
    /// (module header).
    #[inline]
    pub(crate) fn addr(&self) -> usize {
        // Acquire pairs with the Release store in `settle` (and in `set`): a reader that
        // sees 0 sees the clearing cycle's state.
        self.0.load(Ordering::Acquire)
    }

    /// The object's address with a new root taken on it (`Weak::upgrade`), or `None` once
    /// the object was found unreachable. Inside a GC operation, which no mark termination
    /// can overlap: a non-zero address is a live object, and the root (which shades it
    /// while marking) keeps it so (module header).
    pub(crate) fn upgrade(&self) -> Option<usize> {
        super::world::with_op(|_| {
            let addr = self.addr();
            if addr == 0 {
                return None;
            }
            super::roots::add_root(addr);
            Some(addr)
        })
    }

    /// Points a cleared target at a freshly allocated object (`Gc::new_cyclic`), and
    /// registers it so the collector clears it again when the object dies.
    pub(crate) fn set(target: &Arc<WeakTarget>, addr: usize) {
        let mut shard = shard(addr).lock();
        let rec = record(&mut shard, addr);
        debug_assert!(rec.weak.is_none(), "a new object already had a weak target");
        // Release pairs with the Acquire load in `addr`.
        target.0.store(addr, Ordering::Release);
        rec.weak = Some(target.clone());
    }
}

/// What is attached to one object.
#[derive(Default)]
struct Record {
    weak: Option<Arc<WeakTarget>>,
    cleanups: Vec<(u64, Cleanup)>,
}

/// A cleanup closure, run once by the dropper.
pub(crate) type Cleanup = Box<dyn FnOnce() + Send>;

crate::sync::global! {
    static TABLE: [Mutex<BTreeMap<usize, Record>>; SHARDS] =
        crate::sync::array!(Mutex::new(BTreeMap::new()); SHARDS);
}
crate::sync::global! {
    /// Records in the table (a hint: `settle` skips the pass when it is 0).
    static RECORDS: AtomicUsize = AtomicUsize::new(0);
}
crate::sync::global! {
    static NEXT_CLEANUP: AtomicU64 = AtomicU64::new(1);
}

fn shard(addr: usize) -> &'static Mutex<BTreeMap<usize, Record>> {
    // Objects are at least 8-byte aligned and mostly in 16-byte steps: skip the low bits.
    &TABLE[(addr >> 4) % SHARDS]
}

/// The weak target of the live object at `addr` (one per object, made on first use).
/// The caller holds a root on the object.
pub(crate) fn weak_target(addr: usize) -> Arc<WeakTarget> {
    let mut shard = shard(addr).lock();
    record(&mut shard, addr)
        .weak
        .get_or_insert_with(|| Arc::new(WeakTarget(AtomicUsize::new(addr))))
        .clone()
}

/// Attaches a cleanup to the live object at `addr` (the caller holds a root on it);
/// returns its id for `stop_cleanup`.
pub(crate) fn add_cleanup(addr: usize, f: Cleanup) -> u64 {
    let id = NEXT_CLEANUP.fetch_add(1, Ordering::Relaxed);
    let mut shard = shard(addr).lock();
    record(&mut shard, addr).cleanups.push((id, f));
    id
}

/// The record of the object at `addr`, made (and counted) if it has none.
fn record(shard: &mut BTreeMap<usize, Record>, addr: usize) -> &mut Record {
    shard.entry(addr).or_insert_with(|| {
        RECORDS.fetch_add(1, Ordering::Relaxed);
        Record::default()
    })
}

/// Detaches cleanup `id` from the object at `addr`, if it has not been queued to run yet;
/// returns whether it was still attached. The closure is dropped after the lock is released
/// (its captures' `Drop` is user code).
pub(crate) fn stop_cleanup(addr: usize, id: u64) -> bool {
    let removed = {
        let mut shard = shard(addr).lock();
        let Some(rec) = shard.get_mut(&addr) else {
            return false;
        };
        let Some(i) = rec.cleanups.iter().position(|(c, _)| *c == id) else {
            return false;
        };
        rec.cleanups.swap_remove(i).1
    };
    drop(removed);
    true
}

/// Before mark termination, concurrently (the mark nearly done): the addresses of objects
/// with records that are still unmarked. Marks only grow within a cycle, and a record made
/// later is for an object its maker holds, which the mark reaches; so at mark termination
/// only these can be dead, and `settle` looks at them alone: the pause is proportional to
/// the records of dying objects, not to all records.
pub(crate) fn candidates() -> Vec<usize> {
    let mut out = Vec::new();
    if RECORDS.load(Ordering::Relaxed) == 0 {
        return out;
    }
    for shard in TABLE.iter() {
        let shard = shard.lock();
        out.extend(shard.keys().copied().filter(|&addr| !marked(addr)));
    }
    out
}

fn marked(addr: usize) -> bool {
    let (s, idx) = locate(addr);
    s.is_marked(idx)
}

/// Mark termination, with GC operations stopped and the mark final: clears the weak
/// targets of the `candidates` found unmarked and detaches their cleanups, which the caller
/// queues for the dropper once operations resume (queueing may start a thread).
pub(crate) fn settle(candidates: &[usize]) -> Vec<Cleanup> {
    #[cfg(debug_assertions)]
    for shard in TABLE.iter() {
        for &addr in shard.lock().keys() {
            assert!(
                marked(addr) || candidates.contains(&addr),
                "an unmarked object's record at {addr:#x} escaped the candidates"
            );
        }
    }
    let mut due = Vec::new();
    let mut dead = 0;
    for &addr in candidates {
        if marked(addr) {
            continue;
        }
        let Some(rec) = shard(addr).lock().remove(&addr) else {
            continue;
        };
        if let Some(w) = rec.weak {
            // Release pairs with the Acquire load in `WeakTarget::addr`.
            w.0.store(0, Ordering::Release);
        }
        due.extend(rec.cleanups.into_iter().map(|(_, f)| f));
        dead += 1;
    }
    RECORDS.fetch_sub(dead, Ordering::Relaxed);
    due
}
