//! Root counts: the per-slot counters that rooted `Gc` handles hold, and the `MARKING`
//! flag that makes rooting during marking shade its object (invariant I2).
//!
//! Ordering: rooting is "count += 1 (SeqCst), then read MARKING (SeqCst)"; the collector
//! is "MARKING = 1 (SeqCst), then read the counts (SeqCst)". In the single total order of
//! SeqCst operations either the collector's scan sees the count, or the mutator sees MARKING
//! and shades the object itself. On x86-64 both cost what Relaxed would (a locked RMW and a
//! plain load).
//!
//! Span summaries: a counter going from 0 to 1 also stores `maybe_roots = true` on its span
//! (SeqCst, between the increment and the MARKING read), and the root scan swaps the
//! summary to false (SeqCst) before it reads the span's counters and sets it again if it
//! finds one. So an increment is either seen by those reads, or leaves the summary true for
//! the next scan (and, while marking, shades anyway): the scan may skip a span whose summary
//! is false. New objects set it inside their allocating operation, which no scan overlaps.
//!
//! Overflow: every increment checks the count it replaced against `MAX_ROOTS` and aborts
//! (`root_overflow`) past it, so a counter never wraps to 0 and frees a live object. A tiny
//! block's one counter counts the handles to all its objects (up to 16 of them), so leaked
//! handles to any of them add up; the check covers them too (`add_new_root`). The 2^31
//! counts between `MAX_ROOTS` and the wrap leave room for every thread to overshoot once.
//! See the collector overview (`crate::design::collector`).

use crate::alloc::cache::MCache;
use crate::alloc::span::Span;
use crate::sync::{seqcst_order, AtomicBool, Ordering, Padded};

crate::sync::global! {
    /// True from mark setup to mark termination.
    pub(crate) static MARKING: Padded<AtomicBool> = Padded(AtomicBool::new(false));
}

#[cfg(debug_assertions)]
crate::sync::global! {
    /// Debug builds only: set by a test (`__private::skip_barrier`) to make rooting and
    /// `dec_to_edge` skip their shade, so it can prove that `gccheckmark` catches a broken
    /// barrier.
    pub(crate) static SKIP_BARRIER: AtomicBool = AtomicBool::new(false);
}

/// Whether rooting and `dec_to_edge` shade while marking (always, outside fault tests).
#[inline(always)]
fn barrier_on() -> bool {
    #[cfg(debug_assertions)]
    return !SKIP_BARRIER.load(Ordering::Relaxed);
    #[cfg(not(debug_assertions))]
    true
}

/// More handles than this to one object (or one tiny block) is treated as a leak of handles
/// (like `Arc`): an abort, never a wrap.
pub(crate) const MAX_ROOTS: u32 = i32::MAX as u32;

pub(crate) use crate::alloc::span::locate;

/// One more root on the object at `addr`.
#[inline]
pub(crate) fn add_root(addr: usize) {
    let (s, i) = locate(addr);
    let old = s.root_count(i).fetch_add(1, Ordering::SeqCst);
    if old == 0 {
        s.note_root(Ordering::SeqCst);
    } else if old >= MAX_ROOTS {
        root_overflow();
    }
    seqcst_order();
    if MARKING.load(Ordering::SeqCst) && barrier_on() {
        super::mark::shade_from_mutator(addr);
    }
}

/// One root fewer on the object at `addr`.
#[inline]
pub(crate) fn drop_root(addr: usize) {
    let (s, i) = locate(addr);
    let old = s.root_count(i).fetch_sub(1, Ordering::SeqCst);
    debug_assert!(old > 0, "root count underflow at {addr:#x}");
}

/// A rooted handle becomes a heap edge (stored into a new object, or a cell's contents
/// unrooted). While marking, the target is shaded: the object now holding the edge may
/// already be black.
#[inline]
pub(crate) fn root_to_edge(addr: usize) {
    drop_root(addr);
    seqcst_order();
    if MARKING.load(Ordering::SeqCst) && barrier_on() {
        super::mark::shade_from_mutator(addr);
    }
}

/// Allocate-black (invariant I1): while marking, a new object (or the tiny block it joins)
/// is marked before its root count is published, which is the only way a marker can find a
/// new slot, so the marker never queues it and never reads it half-built. `MARKING` cannot
/// change inside the allocating GC operation (it changes only while operations are
/// stopped).
///
#[inline(always)]
pub(crate) fn allocate_black(cache: &mut MCache, span: &Span, idx: usize) {
    if MARKING.load(Ordering::Relaxed) && span.mark(idx) {
        cache.black_bytes += span.elemsize as u64;
    }
}

/// The first root of a freshly allocated object. Release: a root scan that sees the count
/// also sees the allocate-black mark set before it (so it does not queue the object).
#[inline(always)]
pub(crate) fn set_new_root(span: &Span, idx: usize) {
    let count = span.root_count(idx);
    debug_assert_eq!(count.load(Ordering::Relaxed), 0, "allocated slot had roots");
    // Release pairs with the root scan's SeqCst (so Acquire) load of the counter in
    // `Span::for_each_root`: a scan that sees the count sees the object's value, its type
    // and its allocate-black mark, all set before.
    count.store(1, Ordering::Release);
    // Release pairs with the root scan's SeqCst swap of the summary in `for_each_root`: a
    // scan that finds it set also sees the count stored above.
    span.note_root(Ordering::Release);
}

/// A root for a new object in a shared tiny block (its siblings' counts move concurrently,
/// and leaked handles to any of them add up: checked like `inc`).
#[inline(always)]
pub(crate) fn add_new_root(span: &Span, idx: usize) {
    let old = span.root_count(idx).fetch_add(1, Ordering::SeqCst);
    if old >= MAX_ROOTS {
        root_overflow();
    }
    span.note_root(Ordering::Relaxed);
}

/// Debug builds only (`__private::raise_root_count_for_test`): raises the root count of the
/// object at `addr` (its tiny block's, for a tiny object) to `to`, as if handles had been
/// leaked; returns the count it replaced. Never lowers a count (that would free live
/// objects): panics instead.
#[cfg(debug_assertions)]
pub(crate) fn raise_count_for_test(addr: usize, to: u32) -> u32 {
    let (s, i) = locate(addr);
    let old = s.root_count(i).fetch_max(to, Ordering::SeqCst);
    assert!(
        old <= to,
        "root count {old} is above {to}: refusing to lower it"
    );
    s.note_root(Ordering::SeqCst);
    old
}

/// Debug builds only (`__private::root_count_for_test`): the root count of the object at
/// `addr` (its tiny block's, for a tiny object).
#[cfg(debug_assertions)]
pub(crate) fn root_count_for_test(addr: usize) -> u32 {
    let (s, i) = locate(addr);
    s.root_count(i).load(Ordering::SeqCst)
}

#[cold]
fn root_overflow() -> ! {
    crate::fatal("more than 2^31 Gc handles to one object: handles are being leaked")
}
