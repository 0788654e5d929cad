//! A new object's colour and first root (a child of `roots.rs`, whose header has the
//! counters' protocol): the allocation path's side of it (`malloc.rs`). While marking a
//! new object is allocated black (invariant I1), or young and white before the mark's
//! young scan (`young.rs`); its first root is pending in the thread's root cache, or set
//! on its counter; and the walk that makes its value's handles edges runs inside the
//! allocating operation (`unroot_new`). See the collector overview
//! (`crate::design::collector`).

use super::{inc, with_root_cache, MARKING};
use crate::alloc::cache::{MCache, Slot};
use crate::alloc::sizeclass::Placement;
use crate::alloc::span::{Span, SpanPtr};
use crate::sync::Ordering;

/// Whether a mark is running (for `mallocgc`: it cannot change inside the allocating GC
/// operation, only while operations are stopped).
#[inline(always)]
pub(crate) fn marking() -> bool {
    MARKING.load(Ordering::Relaxed)
}

/// While marking, colours the new object in `slot`, whose first root `cached` says is
/// pending in the thread's root cache; returns whether it is young and white
/// (`young.rs`): a small object (not a tiny block's, not a large span) before the mark's
/// young scan, whose root entry is then tagged (`root_cache.rs`). Its root stays pending
/// until the object and its edges are complete, so no marker finds it before; a thread
/// without a root cache allocates it black. Any other is allocated black (invariant I1):
/// marked before its root count is published, which is the only way a marker can find a
/// new slot, so the marker never queues it and never reads it half-built. Also takes care
/// of a span a refill took (`took_span_while_marking`). Out of line: the allocation path
/// pays one branch for all this outside marks.
#[inline(never)]
pub(crate) fn colour_new(
    cache: &mut MCache,
    slot: &Slot,
    placement: &Placement,
    cached: bool,
) -> bool {
    let young = matches!(placement, Placement::Small(_))
        && crate::gc::young::ALLOC_WHITE.load(Ordering::Relaxed);
    let white = young && cached;
    if white {
        with_root_cache(|rc| rc.tag_white(slot.addr));
    } else {
        allocate_black(cache, &slot.span, slot.idx);
    }
    if slot.charged != 0 && !matches!(placement, Placement::Large) {
        took_span_while_marking(cache, slot.span, young);
    }
    white
}

/// Marks a new object (or the tiny block it joins) while marking: allocate-black.
#[inline(always)]
pub(crate) fn allocate_black(cache: &mut MCache, span: &Span, idx: usize) {
    if span.mark(idx) {
        cache.black_bytes += span.elemsize as u64;
    }
}

/// While marking, a span a cache just took: before the young scan (`young`), a span of
/// young objects (`young.rs`); after, its free slots are marked at once (allocate-black in
/// bulk, `alloc/span/premark.rs`), so its objects are allocated black without a
/// read-modify-write each.
#[inline]
fn took_span_while_marking(cache: &mut MCache, span: SpanPtr, young: bool) {
    if young {
        // SAFETY: the span was just handed to this thread's cache, which owns it.
        unsafe { crate::gc::young::note_span(span) };
    } else {
        cache.premark(span);
    }
}

/// Runs `unroot`, the walk that makes the handles of a new object's value its edges,
/// inside the allocating GC operation; `white` is `New::white` (`malloc.rs`).
#[inline(always)]
pub(crate) fn unroot_new(white: bool, unroot: impl FnOnce()) {
    if white {
        unroot_into_white(unroot);
    } else {
        unroot();
    }
}

/// `unroot_new` for a young object allocated white: no shade for its edges. The object is
/// unmarked and no marker can reach it before its allocation returns, so if it is live at
/// the young scan it is shaded then, and its scan finds these edges (Dijkstra's barrier
/// needs no shade for an edge of an unmarked object). The walk only flips handles
/// (`Trace` obligation 2): it allocates nothing, so no other object's edges are made while
/// the flag is set. Out of line: only allocations before a mark's young scan come here.
#[cold]
#[inline(never)]
fn unroot_into_white(unroot: impl FnOnce()) {
    /// Clears the flag on every exit, a panic in the walk too.
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            set_into_white(false);
        }
    }
    set_into_white(true);
    let _reset = Reset;
    unroot()
}

/// Sets the root cache's `into_white`. A thread without a root cache has nothing to set:
/// its edges take the uncached path, which always shades.
#[inline(always)]
fn set_into_white(on: bool) {
    with_root_cache(|rc| rc.into_white = on);
}

/// The first root of a freshly allocated object. Release: a root scan that sees the count
/// also sees the allocate-black mark set before it (so it does not queue the object).
#[inline(always)]
pub(crate) fn set_new_root(span: &Span, idx: usize) {
    let count = span.root_count(idx);
    debug_assert_eq!(count.load(Ordering::Relaxed), 0, "allocated slot had roots");
    // Release pairs with the root scan's SeqCst (so Acquire) load of the counter's word in
    // `Span::for_each_root`: a scan that sees the count sees the object's value, its type
    // and its allocate-black mark, all set before. (An add, not a store: the word holds
    // fifteen other counters, which may change meanwhile.)
    count.set_from_zero(1, Ordering::Release);
    // Release pairs with the root scan's SeqCst swap of the summary in `for_each_root`: a
    // scan that finds it set also sees the count stored above.
    span.note_root(Ordering::Release);
}

/// The first root of a freshly allocated object, pending in the allocating thread's root
/// cache; false if the thread has none (then `set_new_root`, or `add_new_root` for a tiny
/// one). The object needs no barrier (while marking it is allocated black, or young and
/// white and found by the young scan: `colour_new`), and no scan can miss it: the next
/// stop applies the count, after the object is built (`root_cache.rs`).
#[inline(always)]
pub(crate) fn cache_new_root(addr: usize) -> bool {
    with_root_cache(|rc| {
        rc.add(addr);
    })
    .is_some()
}

/// A root for a new object in a shared tiny block (its siblings' counts move concurrently,
/// and leaked handles to any of them add up: checked like `inc`).
#[inline(always)]
pub(crate) fn add_new_root(span: &Span, idx: usize) {
    inc(span.root_count(idx), Ordering::SeqCst);
    span.note_root(Ordering::Relaxed);
}
