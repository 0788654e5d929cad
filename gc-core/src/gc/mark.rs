//! Marking: the mark phase's shared state (`WORK`: the grey work queues and the cycle's
//! mark totals), mark setup (`start`), mark termination's check (`try_finish`) and the
//! phase's result. Its pieces have files of their own, re-exported here so the rest of the
//! collector names them `mark::...`: the `Tracer` that user `Trace` impls talk to, with
//! its grey buffer (`tracer.rs`); the drain loop shared by background workers and assists,
//! with the root jobs (`drain.rs`); and the mutator shade buffer (`shade.rs`).
//!
//! Colours (Go's): white = mark bit clear; grey = mark bit set and the object queued; black
//! = marked and scanned, or allocated during marking (allocate-black; before the young
//! scan small objects are allocated white instead, `young.rs`). Noscan objects go straight
//! to black. The work list is explicit, so marking a 10-million-node list needs no
//! recursion. Grey items live in one of six places:
//!
//! - the global injector (`WORK.injector`, Go's `work.full`), which every worker and
//!   assist takes from: a lock-free stack of recycled 2 KiB buffers (`grey_list.rs`), so
//!   handing work over neither allocates nor frees;
//! - the tracer's own buffer (`Tracer::buf`, Go's `gcWork` buffer; `tracer.rs`): plain
//!   memory of the thread that is draining, with no atomics or fences per item; it
//!   overflows into the local queue, lends half to the injector when that runs dry, and
//!   is emptied into the local queue whenever `drain` returns (and into the injector if a
//!   tracer is dropped with items);
//! - the local LIFO queue (`local_queue.rs`) of a background worker (a crossbeam-deque
//!   `Worker` the other workers steal from) or an assist (a private vector its thread
//!   keeps), which pushes half of it to the injector whenever the injector runs dry (Go's
//!   `gcw.balance`), and all of it before it stops, sleeps or leaves its GC operation;
//! - the large-object list (`WORK.large`, a grey list too): objects over `OBLET_SIZE`
//!   that an assist came across and cannot split (any type but a slice), and objects
//!   with a large edge cell, left for the background workers (see `Role::Assist`);
//! - the mutator shade buffer (`SHADES`, `shade.rs`), filled by rooting during marking
//!   and taken by workers and assists one work buffer (`SHADE_BATCH` items) at a time;
//! - a mutator thread's own shade buffer (`shade.rs`, `LocalShades`, in its root cache),
//!   where the rooting it does inside root operations greys objects; handed to `SHADES`
//!   when full, at the thread's allocation slow path, and by every stop's drain;
//! - while `drain` runs, its prefetch FIFO (`prefetch_fifo.rs`): items far from the object
//!   scanned last wait there for their cache line; `drain` empties it before it returns.
//!
//! A queue item is an object address; an address `k * OBLET_SIZE` bytes into a slice over
//! `OBLET_SIZE` (`k >= 1`): "scan the elements that start in this oblet" (Go's oblets, so
//! a huge array is marked by every worker and assist in parallel; `oblets.rs`); or a span
//! address with bit 0 set: "scan this span's root counters" (root-scan jobs,
//! `queue_root_jobs` in `drain.rs`, so the root scan is parallel and concurrent too).
//!
//! Termination is decided by `try_finish` with GC operations stopped (so no assist holds
//! items, and the stop's drain has moved every thread's own shades to `SHADES`), after
//! the workers have left and flushed their queues: if both injectors and the shade buffer
//! are empty then, and no ephemeron with a marked key has an untraced
//! value (`ephemeron.rs`), no grey object exists anywhere, and closing the shade buffer
//! under its lock makes that final. Otherwise marking resumes (Go's `gcMarkDone` loop).
//!
//! Shared state: `WORK`'s queues are lock-free grey lists (`grey_list.rs`) and its counters
//! atomics (relaxed: the totals are read once the workers have left, with operations
//! stopped); `start` and `try_finish` open and close the shade buffer under its lock. See
//! the collector overview (`crate::design::collector`).

use super::grey_list::GreyList;
use super::local_queue::LocalQueue;
use super::roots::MARKING;
use super::shade::{shades, SHADES_PENDING};
use crate::alloc::heap::HEAP;
#[cfg_attr(gc_loom, allow(unused_imports))] // `global!` drops the `LazyLock` under loom
use crate::sync::LazyLock;
use crate::sync::{AtomicU64, AtomicUsize, Ordering};

// The pieces with files of their own, under the names the collector calls them by.
#[cfg(test)]
pub(super) use super::drain::scan_object; // `oblets.rs`'s tests
pub(crate) use super::drain::{drain, queue_root_jobs, Drainer, Role};
pub(super) use super::drain::{flush_local, has_visible_work, or_die, steal_from};
pub(super) use super::shade::shade_from_mutator;
pub use super::tracer::Tracer;

/// The mark phase's shared state.
pub(crate) struct Work {
    pub(crate) injector: GreyList,
    /// Grey objects larger than `OBLET_SIZE`, left by assists for the background workers.
    pub(super) large: GreyList,
    /// Workers and assists currently holding grey items outside the injector: a hint for
    /// "marking looks finished" (the real check is `try_finish`).
    pub(crate) busy: AtomicUsize,
    /// Bytes marked by tracing and shades this cycle.
    pub(super) marked_bytes: AtomicU64,
    /// Heap bytes scanned this cycle (the pacer's heap scan work).
    pub(crate) scan_work: AtomicU64,
    /// Root-counter bytes scanned this cycle (the pacer's root scan work).
    pub(crate) root_work: AtomicU64,
}

crate::sync::global! {
    pub(crate) static WORK: LazyLock<Work> = LazyLock::new(|| Work {
        injector: GreyList::new(),
        large: GreyList::new(),
        busy: AtomicUsize::new(0),
        marked_bytes: AtomicU64::new(0),
        scan_work: AtomicU64::new(0),
        root_work: AtomicU64::new(0),
    });
}

/// Mark setup, with GC operations stopped: resets the counters, opens the shade buffer and
/// sets `MARKING` (from here on, rooting shades and allocation is black).
pub(crate) fn start() {
    debug_assert!(
        super::cycle::phase().marking(),
        "mark setup outside the Mark phase"
    );
    WORK.marked_bytes.store(0, Ordering::Relaxed);
    WORK.scan_work.store(0, Ordering::Relaxed);
    WORK.root_work.store(0, Ordering::Relaxed);
    HEAP.allocated_black.store(0, Ordering::Relaxed);
    super::ephemeron::start_cycle();
    let mut b = shades();
    b.active = true;
    b.marked_bytes = 0;
    MARKING.store(true, Ordering::SeqCst);
    // The root scan's reads of the counters follow (the collector's half of the pair).
    crate::sync::seqcst_order();
}

/// Mark termination's check, with GC operations stopped and no worker running: if no grey
/// item is left anywhere, closes the shade buffer, clears `MARKING` and returns true.
/// Otherwise marking must go on (returns false).
pub(crate) fn try_finish() -> bool {
    let mut b = shades();
    if !b.items.is_empty() || !WORK.injector.is_empty() || !WORK.large.is_empty() {
        return false;
    }
    // No grey object left: the ephemerons whose key is now marked make their values grey
    // (`ephemeron.rs`); if any did, marking goes on.
    if ephemeron_round() {
        return false;
    }
    b.active = false;
    WORK.marked_bytes
        .fetch_add(std::mem::take(&mut b.marked_bytes), Ordering::Relaxed);
    SHADES_PENDING.store(false, Ordering::SeqCst);
    MARKING.store(false, Ordering::SeqCst);
    true
}

/// One round of the ephemeron fixed point (`ephemeron.rs`): greys the values of entries
/// whose key is marked and that were not traced yet this cycle; returns whether it found
/// any. The cycle runs it concurrently before it stops operations, then `try_finish` once
/// more with them stopped.
pub(crate) fn ephemeron_round() -> bool {
    if !super::ephemeron::any() {
        return false;
    }
    let local = LocalQueue::private();
    let mut tracer = Tracer::new(&local);
    let traced = super::ephemeron::trace_round(&mut tracer);
    tracer.flush();
    tracer.hand_over();
    flush_local(&local);
    traced
}

/// What one mark phase found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MarkResult {
    /// Bytes marked: traced, shaded and allocated black (the next cycle's base heap).
    pub marked_bytes: u64,
    /// Bytes scanned (the pacer's heap scan work).
    pub scanned_bytes: u64,
    /// Root-counter bytes scanned (the pacer's root scan work).
    pub root_bytes: u64,
}

/// The totals of the phase that `try_finish` just ended (caches flushed, so every black
/// allocation is counted).
pub(crate) fn result() -> MarkResult {
    MarkResult {
        marked_bytes: WORK.marked_bytes.load(Ordering::Relaxed)
            + HEAP.allocated_black.swap(0, Ordering::Relaxed),
        scanned_bytes: WORK.scan_work.load(Ordering::Relaxed),
        root_bytes: WORK.root_work.load(Ordering::Relaxed),
    }
}
