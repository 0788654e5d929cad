//! The live-object census by type: what the public `heap_profile()` reports (the collector
//! overview, `crate::design::collector`, has the cycle it follows).
//!
//! Every span in use at a mark termination is swept exactly once before the next cycle
//! starts (`sweep.rs`), and right after its sweep the span's alloc bits are the finished
//! mark's bits. So each sweep adds its span's survivors, per type descriptor, to a table
//! ([`record`]): one hash probe and two atomic adds for a span of one type (most spans),
//! a walk over the survivors for a span with per-slot types. The table is sharded by
//! thread (the background sweeper and each allocating thread mostly write a shard of
//! their own), so sweeps on several threads do not bounce one cache line per span. Once
//! the cycle's sweep is complete, the counts are summed into an immutable snapshot and the
//! table is cleared for the next cycle ([`snapshot`] hands out the latest).
//!
//! Invariants and what protects what:
//! - The table is written only by sweeps, with relaxed adds and CAS-inserted keys, between
//!   one mark termination ([`start`], which bumps the cycle's `EPOCH`) and the next.
//! - A cycle's snapshot is taken ([`publish`]) once, under the `LATEST` mutex, which records
//!   the epoch it holds, by whichever comes first: the sweep that brings
//!   `Heap::sweep_pending` to zero, a [`snapshot`] call that finds it zero, or the next
//!   [`start`]. Each sees every sweep's adds: the decrements of `sweep_pending` form one
//!   read-modify-write chain (each sweep adds before it decrements, and the zero is read
//!   with Acquire), and `start` runs after sweep termination waited for that zero. A late
//!   publisher of an old epoch finds it published and does nothing, so counts of the next
//!   cycle never mix in.
//! - `LATEST` is never held while waiting for anything or running user code.
//!
//! Keys are descriptor addresses; one Rust type may have several descriptors (constants
//! promoted per codegen unit, a user-drop and a runtime-drop variant), so readers merge by
//! name. Plain data (the shared `PLAIN` descriptor) in the 16-byte size class is counted
//! under its own key: tiny blocks live there, and a sweep cannot tell a tiny block from a
//! 16-byte plain object. When a shard is full, further types are counted under
//! [`OVERFLOW`].
//!
//! The census is off until the first `heap_profile()` call turns it on ([`enable`]): a
//! sweep of a span with several types walks its survivors, and on allocation-heavy
//! programs (binary-trees 18) the census cost 12% of the run when always on. A cycle
//! whose sweeps may have started before it was on is never published (`ENABLED_AT`).
//!
//! The counters are std atomics even under `--cfg gc_loom` (`sync::untracked`: statistics
//! outside the protocols the models check), and there the sweep records nothing.

use super::heap::HEAP;
use super::span::Claimed;
use crate::descriptor::{TypeInfo, PLAIN};
use crate::sync::untracked::{shard, AtomicBool, AtomicU64, AtomicUsize};
use crate::sync::{Arc, Mutex, Ordering};
use std::collections::HashMap;

/// Distinct descriptors a shard holds per cycle (beyond them: [`OVERFLOW`]).
const CAPACITY: usize = 1024;

/// Shards of the table: enough for the sweeper and a few allocating threads to rarely
/// share one.
const SHARDS: usize = 8;

/// The size class of 16-byte objects, where tiny blocks live.
const TINY_CLASS: usize = 2;

/// Bucket of plain data in the 16-byte class (tiny blocks among them).
pub(crate) static TINY_BLOCKS: TypeInfo = crate::descriptor::bucket(tiny_blocks_name);

fn tiny_blocks_name() -> &'static str {
    "<tiny blocks and 16-byte plain data>"
}

/// Bucket of the types that found the table full.
pub(crate) static OVERFLOW: TypeInfo = crate::descriptor::bucket(overflow_name);

fn overflow_name() -> &'static str {
    "<other types: heap profile table full>"
}

/// One type's survivors in one shard. Keys are descriptor addresses (0: free).
struct Entry {
    key: AtomicUsize,
    objects: AtomicU64,
    bytes: AtomicU64,
}

#[allow(clippy::declare_interior_mutable_const)] // only as an array initialiser
const EMPTY: Entry = Entry {
    key: AtomicUsize::new(0),
    objects: AtomicU64::new(0),
    bytes: AtomicU64::new(0),
};

/// One thread group's table, on cache lines of its own.
#[repr(align(128))]
struct Shard {
    entries: [Entry; CAPACITY],
    /// Types past `CAPACITY`, counted under [`OVERFLOW`].
    overflow: Entry,
}

#[allow(clippy::declare_interior_mutable_const)] // only as an array initialiser
const EMPTY_SHARD: Shard = Shard {
    entries: [EMPTY; CAPACITY],
    overflow: EMPTY,
};

/// Survivors of one finished mark: descriptor, objects, bytes.
pub(crate) type Snapshot = Vec<(&'static TypeInfo, u64, u64)>;

/// The census being taken, by shard (zero pages until a thread first writes its shard).
static TABLE: [Shard; SHARDS] = [EMPTY_SHARD; SHARDS];
/// The cycle whose sweeps are counting: bumped by every [`start`] (0: none yet).
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Whether sweeps take the census (off until [`enable`]).
static ENABLED: AtomicBool = AtomicBool::new(false);
/// The epoch during which the census was turned on: that cycle's census may miss spans
/// swept before, so only later epochs are published.
static ENABLED_AT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Turns the census on (once; later calls do nothing). No complete census exists until
/// the sweeps of a cycle that starts after this one finish: [`snapshot`] returns `None`
/// until then.
pub(crate) fn enable() {
    if ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let _latest = LATEST.lock();
    if ENABLED.load(Ordering::Relaxed) {
        return;
    }
    // Under the lock `publish` takes, so no publication sees the flag without the epoch.
    ENABLED_AT.store(EPOCH.load(Ordering::Relaxed), Ordering::Relaxed);
    ENABLED.store(true, Ordering::Relaxed);
}

/// The latest snapshot and the epoch it describes.
struct Latest {
    epoch: u64,
    census: Option<Arc<Snapshot>>,
}

crate::sync::global! {
    static LATEST: Mutex<Latest> = Mutex::new(Latest { epoch: 0, census: None });
}

/// Mark termination (world stopped, every earlier sweep done): the previous cycle's census
/// is complete (published now unless it was already), and `spans` sweeps of a new one
/// follow. With no span at all, the new census is complete at once.
pub(crate) fn start(spans: usize) {
    let e = EPOCH.load(Ordering::Relaxed);
    if e > 0 {
        publish(e);
    }
    EPOCH.store(e + 1, Ordering::Relaxed);
    if spans == 0 {
        publish(e + 1);
    }
}

/// The census of the last mark whose sweep completed (`None` before the first).
pub(crate) fn snapshot() -> Option<Arc<Snapshot>> {
    // The epoch first: if the sweep count read next is this epoch's zero, its census is
    // complete; if a newer cycle started in between, its `start` published this one.
    let e = EPOCH.load(Ordering::Relaxed);
    // Acquire: pairs with the sweeps' AcqRel decrements, so their adds are visible.
    if e > 0 && HEAP.sweep_pending.load(Ordering::Acquire) == 0 {
        publish(e);
    }
    LATEST.lock().census.clone()
}

/// The cycle a sweep counts for; read by the sweep before it decrements `sweep_pending`,
/// and given to [`swept_last`] if that decrement was the last.
pub(crate) fn epoch() -> u64 {
    EPOCH.load(Ordering::Relaxed)
}

/// The sweep that brought `sweep_pending` to zero (after its AcqRel decrement, so every
/// sweep's adds are visible) publishes the census of `epoch`.
pub(crate) fn swept_last(epoch: u64) {
    if !cfg!(gc_loom) && epoch > 0 {
        publish(epoch);
    }
}

/// Records the survivors of a span just swept (after `Claimed::reset_after_sweep`, which
/// returned `live`), in the calling thread's shard. Called once per sweep, before the sweep
/// decrements `Heap::sweep_pending`.
pub(crate) fn record(claimed: &Claimed, live: usize) {
    if cfg!(gc_loom) || live == 0 || !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let s = claimed.span();
    let elemsize = s.elemsize as u64;
    let tiny = s.spanclass.size_class() == TINY_CLASS;
    let shard = &TABLE[shard(SHARDS)];
    claimed.live_types(live, |ty, n| {
        let ty = if tiny && std::ptr::eq(ty, &PLAIN) {
            &TINY_BLOCKS
        } else {
            ty
        };
        let e = entry(shard, ty);
        let n = n as u64;
        e.objects.fetch_add(n, Ordering::Relaxed);
        e.bytes.fetch_add(n * elemsize, Ordering::Relaxed);
    });
}

/// The entry of `ty` in `shard`, inserting it if new; the shard's overflow entry if full.
fn entry(shard: &'static Shard, ty: &'static TypeInfo) -> &'static Entry {
    let p = ty as *const TypeInfo as usize;
    let mut i = hash(p);
    for _ in 0..CAPACITY {
        let e = &shard.entries[i];
        let k = e.key.load(Ordering::Relaxed);
        if k == p {
            return e;
        }
        // Relaxed: only the key's value passes; the counts are read after the sweep count
        // orders every sweep before the publisher (module header).
        if k == 0 {
            match e
                .key
                .compare_exchange(0, p, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return e,
                Err(k) if k == p => return e,
                Err(_) => {}
            }
        }
        i = (i + 1) % CAPACITY;
    }
    shard
        .overflow
        .key
        .store(&OVERFLOW as *const TypeInfo as usize, Ordering::Relaxed);
    &shard.overflow
}

/// Table index for a descriptor address (Fibonacci hashing; descriptors are 8-aligned).
fn hash(addr: usize) -> usize {
    ((addr as u64 >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize % CAPACITY
}

/// Sums the shards into the snapshot of `epoch` and clears them, unless that epoch (or a
/// later one) is already published. Called only once every sweep of `epoch` is done
/// (module header).
fn publish(epoch: u64) {
    let mut latest = LATEST.lock();
    if latest.epoch >= epoch || !ENABLED.load(Ordering::Relaxed) {
        return;
    }
    let mut sums: HashMap<usize, (u64, u64)> = HashMap::new();
    for shard in &TABLE {
        for e in shard.entries.iter().chain(std::iter::once(&shard.overflow)) {
            let k = e.key.load(Ordering::Relaxed);
            if k == 0 {
                continue;
            }
            let objects = e.objects.swap(0, Ordering::Relaxed);
            let bytes = e.bytes.swap(0, Ordering::Relaxed);
            e.key.store(0, Ordering::Relaxed);
            if objects == 0 {
                continue;
            }
            let sum = sums.entry(k).or_default();
            sum.0 += objects;
            sum.1 += bytes;
        }
    }
    let census: Snapshot = sums
        .into_iter()
        // SAFETY: keys are addresses of `&'static TypeInfo`s (`entry`).
        .map(|(k, (o, b))| (unsafe { &*(k as *const TypeInfo) }, o, b))
        .collect();
    latest.epoch = epoch;
    if epoch <= ENABLED_AT.load(Ordering::Relaxed) {
        // Turned on during this cycle's sweeps: incomplete, cleared and not shown.
        return;
    }
    let old = latest.census.replace(Arc::new(census));
    drop(latest);
    // Freed outside the lock.
    drop(old);
}

#[cfg(test)]
mod tests {
    use super::hash;

    #[test]
    fn hash_spreads_neighbouring_descriptors() {
        let mut seen = std::collections::HashSet::new();
        for i in 0..64 {
            seen.insert(hash(0x5555_0000 + i * 40));
        }
        assert!(seen.len() > 56, "{} distinct of 64", seen.len());
    }
}
