//! Root counts: the per-slot counters that rooted `Gc` handles hold, and the `MARKING`
//! flag that makes rooting during marking shade its object (invariant I2).
//!
//! A thread with a root cache (`root_cache.rs`) keeps the counts it takes there, inside a
//! GC operation, and its drops take them back; what follows is the counters' own protocol,
//! used by threads without a cache, by a thread that finds the world stopping, and by the
//! caches' entries when they are applied.
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
//! An increment that reads the summary set skips the store (`Span::note_root_seqcst`):
//! if that read comes before a scan's swap in the SeqCst order, so does the increment,
//! and the scan's counter reads after the swap see it; if it reads a `true` stored after
//! the swap, the summary stays set for the next scan, which reads the counter.
//!
//! Counts past four bits, and overflow: `root_spill.rs`. A new object's colour and first
//! root (the allocation path's side of this protocol): `new_roots.rs`.
//! See the collector overview (`crate::design::collector`).

use super::root_cache::RootCache;
use super::world::with_root_cache;
use crate::alloc::span::{add_fields, from_zero, sub_fields, RootCounter, SpanPtr, PER_WORD};
use crate::sync::{seqcst_order, AtomicBool, AtomicU64, Ordering, Padded};

#[path = "new_roots.rs"]
mod new_roots;
#[path = "root_spill.rs"]
mod spill;
#[cfg(all(test, not(gc_loom)))]
#[path = "roots_tests.rs"]
mod tests;

#[cfg(all(test, gc_loom))]
pub(crate) use new_roots::allocate_black;
pub(crate) use new_roots::{
    add_new_root, cache_new_root, colour_new, marking, set_new_root, unroot_new,
};
#[cfg(test)]
pub(crate) use spill::count;
pub(crate) use spill::{dec, inc, INLINE_MAX};
#[cfg(debug_assertions)]
pub(crate) use spill::{raise_count_for_test, root_count_for_test};

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

/// One more root on the object at `addr`: pending in the thread's root cache
/// (`root_cache.rs`) when it has one, else on the counter. Out of line, as
/// [`root_to_edge`] is, so that `Gc::clone` and the `root` walks stay small enough to inline.
#[inline(never)]
pub(crate) fn add_root(addr: usize) {
    let cached = with_root_cache(|rc| {
        // An address the cache held was shaded (or allocated black) during this mark
        // (`root_cache.rs`).
        if !rc.add(addr) {
            shade_into_cache_if_marking(rc, addr);
        }
    });
    if cached.is_none() {
        add_root_uncached(addr);
    }
}

/// List elements a run roots per root operation ([`root_run`]), each holding a bounded
/// number of handles (`Trace::roots_in_runs_at`; one for a list of `Gc`s): a stop waits
/// for the operation to end, and a chunk takes a few microseconds (while marking, each
/// handle's object is shaded too); the operation's own cost is a few instructions per
/// handle at 64.
pub(crate) const ROOT_RUN_CHUNK: usize = 256;

/// Lists shorter than this are rooted element by element ([`add_root`]): a run's own
/// costs (an operation, the pending words applied at its end) pay off over many handles.
pub(crate) const ROOT_RUN_MIN: usize = 64;

/// The roots of one run of handles, inside its root operation (`root_run`). Public (and
/// hidden) only because `Trace::root_into`, which derived impls write, takes it; nothing
/// outside the runtime can make one or call into it.
pub struct RootRun<'a> {
    rc: &'a mut RootCache,
    /// Whether the run's objects are shaded: read once, since `MARKING` cannot change
    /// inside the operation.
    shade: bool,
    /// Roots added so far.
    added: usize,
}

impl RootRun<'_> {
    /// One more root on the object at `addr`: kept with the pending increments of its
    /// counter word, and, while marking, the object shaded. (Not through the cache's
    /// table: the address is not held afterwards, so a later root of it shades again,
    /// which finds it marked.) Only in a run of [`root_run`].
    #[inline(always)]
    pub(crate) fn add(&mut self, addr: usize) {
        self.rc.pend(addr, 1);
        self.added += 1;
        if self.shade {
            self.rc.shades.shade(addr);
        }
    }

    /// A rooted handle to the object at `addr` made an edge ([`root_to_edge`] for a run of
    /// [`unroot_run`]): its root taken back from the cache's table if pending there, else
    /// kept with the pending decrements of its counter word; while marking, the object
    /// shaded unless [`root_to_edge`] would skip it.
    #[inline(always)]
    pub(crate) fn remove(&mut self, addr: usize) {
        let skip = self.rc.holds(addr) || self.rc.into_white;
        self.rc.pend_drop(addr);
        if self.shade && !skip {
            self.rc.shades.shade(addr);
        }
    }
}

/// Runs `f`, which roots a run of handles (a chunk of a list's, `Trace::root_slice`)
/// through the [`RootRun`] it is given, inside one root operation: the counts go to the
/// thread's pending increments by counter word (`root_cache.rs`, `Pending`), sixteen
/// objects allocated one after another to a word, applied one compare-and-swap per word
/// when the run ends (or, inside a bulk walk, `bulk_rooting`, when the walk ends). Handle
/// by handle, each root was an operation of its own and an entry in the cache's table,
/// pushing out an older one (BENCHMARKS.md, thirtieth session). `f` runs only the
/// runtime's code (the operation's protocol). Returns the number of roots added, or
/// `None` without running `f` if the thread has no root cache or finds the world
/// stopping: the caller roots the run handle by handle instead.
pub(crate) fn root_run(f: impl FnOnce(&mut RootRun<'_>)) -> Option<usize> {
    run(f, RootCache::end_run)
}

/// [`root_run`] for a run of rooted handles made edges (a chunk of a list moved into a
/// new object, `Trace::unroot_slice`), through [`RootRun::remove`]: each root taken back
/// from the cache's table or kept with its counter word's pending decrements, which are
/// applied (one compare-and-swap per word) before the operation ends. Returns `None`
/// without running `f` where `root_run` does.
pub(crate) fn unroot_run(f: impl FnOnce(&mut RootRun<'_>)) -> Option<usize> {
    run(f, RootCache::apply_pending)
}

/// `f` with a [`RootRun`] inside one root operation, then `end` on the cache.
#[inline(always)]
fn run(f: impl FnOnce(&mut RootRun<'_>), end: fn(&mut RootCache)) -> Option<usize> {
    with_root_cache(|rc| {
        let shade = MARKING.load(Ordering::Relaxed) && barrier_on();
        let mut run = RootRun {
            rc,
            shade,
            added: 0,
        };
        f(&mut run);
        let added = run.added;
        end(run.rc);
        added
    })
}

/// `add_root` on the counter (module header's protocol).
#[inline(never)]
fn add_root_uncached(addr: usize) {
    count_roots(addr, 1);
    seqcst_order();
    shade_if_marking(addr);
}

/// The barrier inside a root operation: while marking, the object at `addr` is shaded
/// into the thread's own shade buffer (`shade.rs`). Inside an operation `MARKING` cannot
/// change, so no fence is needed.
#[inline(always)]
fn shade_into_cache_if_marking(rc: &mut RootCache, addr: usize) {
    if MARKING.load(Ordering::Relaxed) && barrier_on() {
        rc.shades.shade(addr);
    }
}

/// The barrier of a root taken or of a handle made an edge outside a root operation (the
/// counters' protocol, module header): while marking, the object at `addr` is shaded into
/// the shared buffer.
#[inline(always)]
fn shade_if_marking(addr: usize) {
    if MARKING.load(Ordering::SeqCst) && barrier_on() {
        super::mark::shade_from_mutator(addr);
    }
}

/// `n` more counts on the object's counter, without the barrier (the caller shades, or
/// shaded when each root was taken).
#[inline]
pub(crate) fn count_roots(addr: usize, n: u32) {
    let (s, i) = locate(addr);
    let c = s.root_count(i);
    for _ in 0..n {
        if inc(c, Ordering::SeqCst) == 0 {
            s.note_root_seqcst();
        }
    }
}

/// Applies `delta`, increments for several counters of one table word of span `s` (laid
/// out as [`RootCounter::delta`] makes them), with one compare-and-swap when none of those
/// counters passes `INLINE_MAX`, else counter by counter ([`inc`], which spills). No
/// barrier: as [`count_roots`].
pub(crate) fn count_roots_in_word(s: SpanPtr, word: &AtomicU64, delta: u64) {
    match add_fields(word, delta, INLINE_MAX, Ordering::SeqCst, Ordering::Relaxed) {
        Ok(old) => {
            if from_zero(old, delta) {
                s.note_root_seqcst();
            }
        }
        Err(_) => {
            for i in 0..PER_WORD {
                let c = RootCounter::new(word, i);
                for _ in 0..c.field_of(delta) {
                    if inc(c, Ordering::SeqCst) == 0 {
                        s.note_root_seqcst();
                    }
                }
            }
        }
    }
}

/// Applies `debit`, decrements for several counters of one table word of span `s` (laid
/// out as [`RootCounter::delta`] makes them), with one compare-and-swap when each of
/// those counters holds at least its decrement inline; else counter by counter ([`dec`],
/// which takes spilled counts from the table), owing what a counter at 0 cannot give
/// (`root_cache.rs`), as [`uncount_root`] does.
pub(crate) fn uncount_roots_in_word(s: SpanPtr, word: &AtomicU64, debit: u64) {
    if sub_fields(word, debit, Ordering::SeqCst, Ordering::Relaxed).is_ok() {
        return;
    }
    for i in 0..PER_WORD {
        let c = RootCounter::new(word, i);
        for _ in 0..c.field_of(debit) {
            if !dec(c) {
                super::root_cache::owe(s.slot_of_counter(word, i));
            }
        }
    }
}

/// One root fewer on the object at `addr`: a pending root of this thread's cache taken
/// back, or a decrement of the counter (owed if the counter is 0, `root_cache.rs`).
#[inline(always)]
pub(crate) fn drop_root(addr: usize) {
    if with_root_cache(|rc| rc.cancel(addr)) != Some(true) {
        uncount_root(addr);
    }
}

/// Applies the calling thread's pending root counts to the counters (for exact counts:
/// tests, and the debug hooks below).
#[cfg(any(test, debug_assertions))]
pub(crate) fn flush_root_cache() {
    super::world::with_op(|_| {
        with_root_cache(|rc| rc.drain());
    });
}

/// One count fewer on the object's counter, or a debt if it is 0.
#[inline(never)]
fn uncount_root(addr: usize) {
    if !try_drop_root_now(addr) {
        super::root_cache::owe(addr);
    }
}

/// Runs `walk`, which roots the contents of a cell holding many handles (a write guard's
/// `make_rooted`), with the increments its root cache entries push out kept by counter
/// word (`RootCache::bulk`) and applied a word at a time when it ends: its handles are
/// mostly to objects allocated one after another, sixteen to a counter word, so a list
/// of a million handles costs about one locked instruction per word instead of one per
/// handle. Outside such a walk entries are applied one by one as before (keeping
/// increments pending by word between stops made the 256 MiB latency probe's assists
/// longer: BENCHMARKS.md, twenty-ninth session). A thread without a root cache, or that
/// finds the world stopping, roots as usual.
pub(crate) fn bulk_rooting<R>(walk: impl FnOnce() -> R) -> R {
    /// Puts the flag back as the walk found it, and applies what is pending by word,
    /// when the walk ends, even by a panic (if the world is stopping then, the
    /// collector's drain does both).
    struct End(bool);
    impl Drop for End {
        fn drop(&mut self) {
            with_root_cache(|rc| rc.end_bulk(self.0));
        }
    }
    let _end = with_root_cache(|rc| std::mem::replace(&mut rc.bulk, true)).map(End);
    walk()
}

/// Takes one count off the object's counter unless it is 0; returns whether it did.
#[inline]
pub(crate) fn try_drop_root_now(addr: usize) -> bool {
    let (s, i) = locate(addr);
    dec(s.root_count(i))
}

/// A rooted handle becomes a heap edge (stored into a new object, or a cell's contents
/// unrooted). While marking, the target is shaded: the object now holding the edge may
/// already be black.
///
/// Out of line on purpose: every `unroot` of a `Gc` (`Gc::new`'s walk over the new value,
/// derived `Trace` impls, `Option`, cells) ends here, and inlined it made those callers too
/// big to be inlined in turn, so each paid a call with a full prologue instead of this one
/// (GCBench 14 without collections: 713 -> 666 M instructions on the mutator; BENCHMARKS.md).
#[inline(never)]
pub(crate) fn root_to_edge(addr: usize) {
    let cached = with_root_cache(|rc| {
        // As in `add_root`, a held address was shaded during this mark; and the edges of
        // a young object allocated white need no shade (`unroot_into_white`).
        let skip = rc.holds(addr) || rc.into_white;
        if !rc.cancel(addr) {
            uncount_root(addr);
        }
        if !skip {
            shade_into_cache_if_marking(rc, addr);
        }
    });
    if cached.is_none() {
        root_to_edge_uncached(addr);
    }
}

/// `root_to_edge` on the counter (module header's protocol).
#[inline(never)]
fn root_to_edge_uncached(addr: usize) {
    uncount_root(addr);
    seqcst_order();
    shade_if_marking(addr);
}
