//! The live-object census by type: what the public `heap_profile()` reports (the collector
//! overview, `crate::gc`, has the cycle it follows).
//!
//! Every span in use at a mark termination is swept exactly once before the next cycle
//! starts (`sweep.rs`), and right after its sweep the span's alloc bits are the finished
//! mark's bits. So each sweep adds its span's survivors, per type descriptor, to a table
//! ([`record`]): one hash probe and two atomic adds for a span of one type (most spans),
//! a walk over the survivors for a span with per-slot types. The sweep that completes the
//! cycle (the last of the [`start`] count) copies the table into an immutable snapshot and
//! clears the table for the next cycle ([`snapshot`] hands out the latest).
//!
//! Invariants and what protects what:
//! - The table is written only by sweeps (atomic adds and CAS-inserted keys), between one
//!   mark termination ([`start`], world stopped) and the sweep that completes the cycle,
//!   which alone copies and clears it: every other sweep's adds happen-before it through
//!   the `REMAINING` countdown (AcqRel read-modify-writes), and no sweep runs again before
//!   the next mark termination's stop, which waits for the completing sweep's operation.
//! - The snapshot is published before that sweep decrements `Heap::sweep_pending`, so a
//!   thread that saw the sweep finished (`collect()`) gets this cycle's snapshot.
//! - `LATEST` is a mutex held only to swap or clone an `Arc` (no allocation, no user code).
//!
//! Keys are descriptor addresses; one Rust type may have several descriptors (constants
//! promoted per codegen unit, a user-drop and a runtime-drop variant), so readers merge by
//! name. Plain data (the shared `PLAIN` descriptor) in the 16-byte size class is counted
//! under its own key: tiny blocks live there, and a sweep cannot tell a tiny block from a
//! 16-byte plain object. When the table is full, further types are counted under
//! [`OVERFLOW`].
//!
//! Under `--cfg gc_loom` the sweep records nothing (the census is bookkeeping outside the
//! protocols the models check, and its atomics would only multiply their interleavings).

use super::span::Claimed;
use crate::descriptor::{TypeInfo, PLAIN};
use crate::sync::{Arc, AtomicPtr, AtomicU64, AtomicUsize, Mutex, Ordering};

/// Distinct descriptors the table holds per cycle (beyond them: [`OVERFLOW`]).
#[cfg(not(gc_loom))]
const CAPACITY: usize = 1024;
#[cfg(gc_loom)]
const CAPACITY: usize = 4;

/// The size class of tiny blocks (16 bytes; `cache.rs`).
const TINY_CLASS: usize = 2;

/// Bucket of the plain data in the 16-byte size class: tiny blocks and 16-byte values.
pub(crate) static TINY_BLOCKS: TypeInfo = crate::descriptor::bucket(tiny_blocks_name);

fn tiny_blocks_name() -> &'static str {
    "<tiny blocks and 16-byte plain data>"
}

/// Bucket of the types that found the table full.
pub(crate) static OVERFLOW: TypeInfo = crate::descriptor::bucket(overflow_name);

fn overflow_name() -> &'static str {
    "<other types: heap profile table full>"
}

/// One descriptor's survivors in the cycle being swept.
struct Entry {
    key: AtomicPtr<TypeInfo>,
    objects: AtomicU64,
    bytes: AtomicU64,
}

impl Entry {
    crate::sync::const_fn! {
        fn new() -> Entry {
            Entry {
                key: AtomicPtr::new(std::ptr::null_mut()),
                objects: AtomicU64::new(0),
                bytes: AtomicU64::new(0),
            }
        }
    }
}

/// Survivors of one finished mark: descriptor, objects, bytes.
pub(crate) type Snapshot = Vec<(&'static TypeInfo, u64, u64)>;

crate::sync::global! {
    /// The cycle being swept (module header).
    static TABLE: [Entry; CAPACITY] = crate::sync::array![Entry::new(); CAPACITY];
}
crate::sync::global! {
    /// Overflow survivors (module header).
    static OVERFLOWED: Entry = Entry::new();
}
crate::sync::global! {
    /// Sweeps left in the cycle being swept (`start`); the one that takes it to 0 publishes.
    static REMAINING: AtomicUsize = AtomicUsize::new(0);
}
crate::sync::global! {
    /// The census of the last mark whose sweep completed; `None` before the first.
    static LATEST: Mutex<Option<Arc<Snapshot>>> = Mutex::new(None);
}

/// Mark termination (world stopped, every earlier sweep done): `spans` sweeps follow, one
/// per span in use. With no span at all, the empty census is complete at once.
pub(crate) fn start(spans: usize) {
    REMAINING.store(spans, Ordering::Relaxed);
    if spans == 0 {
        publish();
    }
}

/// The census of the last mark whose sweep completed (`None` before the first).
pub(crate) fn snapshot() -> Option<Arc<Snapshot>> {
    LATEST.lock().clone()
}

/// Records the survivors of a span just swept (after `Claimed::reset_after_sweep`, which
/// returned `live`), and publishes the census if this was the cycle's last sweep. Called
/// once per sweep, before the sweep decrements `Heap::sweep_pending`.
pub(crate) fn record(claimed: &Claimed, live: usize) {
    if cfg!(gc_loom) {
        return;
    }
    let s = claimed.span();
    let elemsize = s.elemsize as u64;
    let tiny = s.spanclass.size_class() == TINY_CLASS;
    claimed.live_types(live, |ty, n| {
        let ty = if tiny && std::ptr::eq(ty, &PLAIN) {
            &TINY_BLOCKS
        } else {
            ty
        };
        let e = entry(ty);
        let n = n as u64;
        e.objects.fetch_add(n, Ordering::Relaxed);
        e.bytes.fetch_add(n * elemsize, Ordering::Relaxed);
    });
    // AcqRel: every sweep's adds happen-before the one that sees 1 (module header).
    // `checked_sub`: sweeps outside a counted cycle (none in the runtime; loom models drive
    // sweeps directly) leave the countdown at 0.
    let before = REMAINING.fetch_update(Ordering::AcqRel, Ordering::Acquire, |r| r.checked_sub(1));
    if before == Ok(1) {
        publish();
    }
}

/// The table entry of `ty`, inserting it if new; [`OVERFLOWED`] if the table is full.
fn entry(ty: &'static TypeInfo) -> &'static Entry {
    let p = ty as *const TypeInfo as *mut TypeInfo;
    let table: &'static [Entry; CAPACITY] = &TABLE;
    let mut i = hash(p as usize);
    for _ in 0..CAPACITY {
        let e = &table[i];
        let k = e.key.load(Ordering::Relaxed);
        if k == p {
            return e;
        }
        if k.is_null() {
            // Relaxed: only the key's value passes; the counts are read after the
            // countdown orders every sweep before the reader (module header).
            match e.key.compare_exchange(
                std::ptr::null_mut(),
                p,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return e,
                Err(k) if k == p => return e,
                Err(_) => {}
            }
        }
        i = (i + 1) % CAPACITY;
    }
    let e: &'static Entry = &OVERFLOWED;
    e.key.store(
        &OVERFLOW as *const TypeInfo as *mut TypeInfo,
        Ordering::Relaxed,
    );
    e
}

/// Table index for a descriptor address (Fibonacci hashing; descriptors are 8-aligned).
fn hash(addr: usize) -> usize {
    ((addr as u64 >> 3).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize % CAPACITY
}

/// Copies the table into the published snapshot and clears it (the cycle's last sweep;
/// no other sweep runs: module header).
fn publish() {
    let table: &'static [Entry; CAPACITY] = &TABLE;
    let overflow: &'static Entry = &OVERFLOWED;
    let mut out = Snapshot::new();
    for e in table.iter().chain(std::iter::once(overflow)) {
        let k = e.key.load(Ordering::Relaxed);
        if k.is_null() {
            continue;
        }
        let objects = e.objects.swap(0, Ordering::Relaxed);
        let bytes = e.bytes.swap(0, Ordering::Relaxed);
        e.key.store(std::ptr::null_mut(), Ordering::Relaxed);
        if objects > 0 {
            // SAFETY: keys are addresses of `&'static TypeInfo`s (`entry`).
            out.push((unsafe { &*k }, objects, bytes));
        }
    }
    let old = LATEST.lock().replace(Arc::new(out));
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
