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
//! Four bits per slot (`alloc/span/root_counter.rs`): counts 0 to `INLINE_MAX` (14) live
//! in the counter; past that the counter holds `SPILLED` and the count is `INLINE_MAX` plus
//! an entry of the spill table (`SPILL`: maps from counter key to the excess, in 16 shards
//! by key, each under its mutex; "the table's lock" below is the counter's shard's).
//! Increments and decrements are one compare-and-swap on the counter's word (the same
//! locked instruction a `fetch_add` on a wider counter costs) while the count stays below
//! `INLINE_MAX`; moving into or out of the table, and every change of a spilled count,
//! happens under the table's lock, and while the counter is `SPILLED` only lock holders
//! change it. So a counter is non-zero exactly when its count is, which is all the
//! root scan and the sweep read. Most objects never hold more than a few counts outside
//! the root caches: on the interpreter's recursive fib, with counts past 14 spilled, about
//! 10^5 lock round trips in a 0.7 s run, within the run-to-run noise. (Four-byte counters
//! cost 12.5-25% of a small object's slot, one-byte ones 3-6%, these 1.5-3%; Go's
//! equivalent per-object metadata is two bits.)
//!
//! Overflow: a count above `MAX_ROOTS` (its table entry past it) is treated as leaked
//! handles and aborts (`root_overflow`), like `Arc`; the table's `u64` never wraps. A tiny
//! block's one counter counts the handles to all its objects (up to 16 of them), so leaked
//! handles to any of them add up; the check covers them too (`add_new_root`).
//! See the collector overview (`crate::design::collector`).

use super::root_cache::RootCache;
use super::world::with_root_cache;
use crate::alloc::cache::{MCache, Slot};
use crate::alloc::sizeclass::Placement;
use crate::alloc::span::{add_fields, from_zero, sub_fields, RootCounter, Span, SpanPtr, PER_WORD};
use crate::sync::{seqcst_order, AtomicBool, AtomicU64, Mutex, Ordering, Padded};
use std::collections::BTreeMap;

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

/// Counter value meaning "`INLINE_MAX` plus the spill table's entry".
pub(crate) const SPILLED: u8 = RootCounter::MAX;
/// The largest count a counter holds by itself.
pub(crate) const INLINE_MAX: u8 = SPILLED - 1;

/// Shards of the spill table (a power of two), so that spilled counts of different
/// objects rarely share a lock.
const SPILL_SHARDS: usize = 16;

/// Counts past `INLINE_MAX`: counter key (`RootCounter::key`) -> excess (at least 1).
type SpillTable = BTreeMap<usize, u64>;

crate::sync::global! {
    /// The spill table, sharded by counter key ([`spill_table`]).
    static SPILL: [Mutex<SpillTable>; SPILL_SHARDS] =
        crate::sync::array![Mutex::new(BTreeMap::new()); SPILL_SHARDS];
}

/// The shard of the spill table that holds the counter with key `key` (the module
/// header's "the table's lock" is this shard's, for that counter).
fn spill_table(key: usize) -> &'static Mutex<SpillTable> {
    // Neighbouring counters land in different shards.
    &SPILL[crate::sync::bucket_of(key, SPILL_SHARDS)]
}

/// Adds one to counter `c`; returns the count it replaced, or `INLINE_MAX` for any spilled
/// count (never 0 then). `order` is the successful exchange's (the spill table's lock is
/// stronger than any).
#[inline(always)]
pub(crate) fn inc(c: RootCounter<'_>, order: Ordering) -> u8 {
    match c.fetch_update(order, Ordering::Relaxed, |old| {
        (old < INLINE_MAX).then_some(old + 1)
    }) {
        Ok(old) => old,
        Err(_) => {
            inc_spilled(c);
            INLINE_MAX
        }
    }
}

/// Takes one from counter `c` unless it is 0; returns whether it did.
#[inline(always)]
pub(crate) fn dec(c: RootCounter<'_>) -> bool {
    match c.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |old| {
        (old != SPILLED && old != 0).then(|| old - 1)
    }) {
        Ok(_) => true,
        Err(SPILLED) => drop_spilled(c),
        Err(_) => false,
    }
}

/// An increment at or past `INLINE_MAX`, under the spill table's lock.
#[cold]
#[inline(never)]
fn inc_spilled(c: RootCounter<'_>) {
    let key = c.key();
    let mut table = spill_table(key).lock();
    loop {
        // SeqCst: these exchanges take part in the root-count protocol as `inc`'s do.
        match c.load(Ordering::SeqCst) {
            SPILLED => {
                let excess = table.get_mut(&key).expect("a spilled counter has an entry");
                if *excess + INLINE_MAX as u64 >= MAX_ROOTS as u64 {
                    root_overflow();
                }
                *excess += 1;
                return;
            }
            INLINE_MAX => {
                if c.compare_exchange(INLINE_MAX, SPILLED, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    table.insert(key, 1);
                    return;
                }
            }
            // A decrement got in first: an ordinary increment again.
            below => {
                if c.compare_exchange(below, below + 1, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }
}

/// A decrement of a spilled count, under the spill table's lock (only lock holders change a
/// `SPILLED` counter, so it stays spilled until this returns).
#[cold]
#[inline(never)]
fn drop_spilled(c: RootCounter<'_>) -> bool {
    let key = c.key();
    let mut table = spill_table(key).lock();
    // Another lock holder may have brought it back below `SPILLED` meanwhile; while we hold
    // the lock nobody can spill it again, so an ordinary decrement is safe.
    let mut old = c.load(Ordering::SeqCst);
    while old != SPILLED {
        if old == 0 {
            return false;
        }
        match c.compare_exchange(old, old - 1, Ordering::SeqCst, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(now) => old = now,
        }
    }
    let excess = table.get_mut(&key).expect("a spilled counter has an entry");
    *excess -= 1;
    if *excess == 0 {
        table.remove(&key);
        // Only lock holders change a spilled counter: the exchange cannot find another
        // value (it retries only when a neighbour in the word changes).
        let back = c.compare_exchange(SPILLED, INLINE_MAX, Ordering::SeqCst, Ordering::Relaxed);
        debug_assert_eq!(back, Ok(SPILLED));
    }
    true
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
        && super::young::ALLOC_WHITE.load(Ordering::Relaxed);
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
        unsafe { super::young::note_span(span) };
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

/// Debug builds only (`__private::raise_root_count_for_test`): raises the root count of the
/// object at `addr` (its tiny block's, for a tiny object) to `to`, as if handles had been
/// leaked; returns the count it replaced. Never lowers a count (that would free live
/// objects): panics instead.
#[cfg(debug_assertions)]
pub(crate) fn raise_count_for_test(addr: usize, to: u32) -> u32 {
    flush_root_cache();
    let (s, i) = locate(addr);
    let c = s.root_count(i);
    let key = c.key();
    // Under the lock no other thread moves the counter into or out of the table, and the
    // exchange below fails if an ordinary increment or decrement got in.
    let mut table = spill_table(key).lock();
    loop {
        let cur = c.load(Ordering::SeqCst);
        let old = count_of(cur, &table, key);
        assert!(
            old <= to as u64,
            "root count {old} is above {to}: refusing to lower it"
        );
        let (value, excess) = if to > INLINE_MAX as u32 {
            (SPILLED, Some(to as u64 - INLINE_MAX as u64))
        } else {
            (to as u8, None)
        };
        if c.compare_exchange(cur, value, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            match excess {
                Some(e) => table.insert(key, e),
                None => table.remove(&key),
            };
            s.note_root(Ordering::SeqCst);
            return old as u32;
        }
    }
}

/// Debug builds only (`__private::root_count_for_test`): the root count of the object at
/// `addr` (its tiny block's, for a tiny object).
#[cfg(debug_assertions)]
pub(crate) fn root_count_for_test(addr: usize) -> u32 {
    flush_root_cache();
    let (s, i) = locate(addr);
    let c = s.root_count(i);
    let table = spill_table(c.key()).lock();
    count_of(c.load(Ordering::SeqCst), &table, c.key()) as u32
}

/// The count a counter holding `value` stands for.
#[cfg(any(debug_assertions, test))]
fn count_of(value: u8, table: &SpillTable, key: usize) -> u64 {
    if value == SPILLED {
        INLINE_MAX as u64 + table.get(&key).copied().unwrap_or(0)
    } else {
        value as u64
    }
}

#[cold]
fn root_overflow() -> ! {
    crate::fatal("more than 2^31 Gc handles to one object: handles are being leaked")
}

/// The count counter `c` stands for (its value, plus its spill entry). For tests and models.
#[cfg(test)]
pub(crate) fn count(c: RootCounter<'_>) -> u64 {
    let table = spill_table(c.key()).lock();
    count_of(c.load(Ordering::SeqCst), &table, c.key())
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::*;
    use crate::sync::{Arc, AtomicU64};

    /// A bulk rooting (a cold list's first write) counts each handle once, through
    /// entries pushed out of the root cache into its pending words; objects held by many
    /// handles of the list spill past four bits; and the walk leaves the thread's flag as
    /// it found it, a panic included.
    #[test]
    #[cfg(debug_assertions)]
    fn rooting_a_list_counts_every_handle_once() {
        use crate::{Gc, Trace};
        type Obj = Gc<[u64; 3]>; // small objects: one counter each (tiny ones share)
        let addr = |g: &Obj| Gc::as_ptr(g) as usize;
        let together: Vec<Obj> = (0..3_000).map(|i| Gc::new([i; 3])).collect();
        let shared: Vec<Obj> = (0..20).map(|i| Gc::new([i; 3])).collect();
        let mut list: Vec<Obj> = together.to_vec();
        list.extend((0..2_000).map(|i| shared[i % 20].clone()));
        // The list's handles become edges, as an unroot pass leaves a cold list's (the
        // objects stay alive through `together` and `shared`).
        // SAFETY: every handle in `list` is rooted; none is dropped before `root` below.
        unsafe { list.unroot() };
        assert!(together
            .iter()
            .chain(&shared)
            .all(|g| root_count_for_test(addr(g)) == 1));
        // SAFETY: every handle in `list` is an edge.
        bulk_rooting(|| unsafe { list.root() });
        let bulk = || super::super::world::with_root_cache(|rc| rc.bulk);
        assert_eq!(bulk(), Some(false), "the walk left the flag set");
        // Ten handles to ten shared objects dropped.
        list.truncate(list.len() - 10);
        for g in &together {
            assert_eq!(root_count_for_test(addr(g)), 2);
        }
        for (i, g) in shared.iter().enumerate() {
            let dropped = (1990..2000).any(|k| k % 20 == i);
            assert_eq!(
                root_count_for_test(addr(g)),
                if dropped { 100 } else { 101 }
            );
        }
        drop(list);
        assert!(together
            .iter()
            .chain(&shared)
            .all(|g| root_count_for_test(addr(g)) == 1));
        let panicked = std::panic::catch_unwind(|| bulk_rooting(|| panic!("in the walk")));
        assert!(panicked.is_err());
        assert_eq!(bulk(), Some(false), "a panicking walk left the flag set");
    }

    /// `f` inside a GC operation, which keeps stops out: the runs in `f` cannot find the
    /// world stopping and go handle by handle (through this thread's cache, where counts
    /// wait), so the counters can be read exactly before `f` returns, whatever stops the
    /// other tests make meanwhile.
    fn without_stops<R>(f: impl FnOnce() -> R) -> R {
        super::super::world::with_op(|_| f())
    }

    /// A run of handles rooted outside a bulk walk (`Trace::root` of a `Vec<Gc<_>>`, of a
    /// `Vec<Option<Gc<_>>>` or of a list of tuples holding handles, `root_run`) leaves
    /// nothing pending: every counter holds its count when the root returns, without a
    /// drain; handles already rooted are left alone and not counted twice; the thread's
    /// count of rooted edges grows by the handles it rooted.
    #[test]
    #[cfg(debug_assertions)]
    fn a_run_outside_a_walk_applies_its_counts_when_it_ends() {
        use crate::{Gc, Trace};
        type Obj = Gc<[u64; 3]>;
        let raw_count = |g: &Obj| {
            let (s, i) = locate(Gc::as_ptr(g) as usize);
            count(s.root_count(i))
        };
        let objects: Vec<Obj> = (0..3_000).map(|i| Gc::new([i; 3])).collect();
        flush_root_cache();
        let mut list: Vec<Obj> = objects.to_vec();
        // SAFETY: every handle in `list` is rooted; none is dropped before `root` below.
        unsafe { list[..2_500].unroot() };
        flush_root_cache();
        assert!(objects[..2_500].iter().all(|g| raw_count(g) == 1));
        assert!(objects[2_500..].iter().all(|g| raw_count(g) == 2));
        let before = crate::object::gc::rooted_handles();
        let exact = without_stops(|| {
            // SAFETY: the first 2,500 handles are edges, the rest roots, as `root` allows.
            unsafe { list.root() };
            objects.iter().all(|g| raw_count(g) == 2)
        });
        assert_eq!(
            crate::object::gc::rooted_handles().wrapping_sub(before),
            2_500,
            "rooted edges counted"
        );
        assert!(
            exact,
            "a count of the run was still pending when it returned"
        );
        drop(list);
        let all_back_to_one = || {
            objects
                .iter()
                .all(|g| root_count_for_test(Gc::as_ptr(g) as usize) == 1)
        };
        assert!(all_back_to_one());

        // The same for a list of `Option<Gc<_>>` with gaps (`Option`'s `root_into`).
        let mut slots: Vec<Option<Obj>> = objects
            .iter()
            .flat_map(|g| [Some(g.clone()), None])
            .collect();
        // SAFETY: every handle in `slots` is rooted; none is dropped before `root` below.
        unsafe { slots.unroot() };
        flush_root_cache();
        assert!(objects.iter().all(|g| raw_count(g) == 1));
        let before = crate::object::gc::rooted_handles();
        let exact = without_stops(|| {
            // SAFETY: every handle in `slots` is an edge.
            unsafe { slots.root() };
            objects.iter().all(|g| raw_count(g) == 2)
        });
        assert_eq!(
            crate::object::gc::rooted_handles().wrapping_sub(before),
            3_000
        );
        assert!(
            exact,
            "a count of the run was still pending when it returned"
        );
        drop(slots);
        assert!(all_back_to_one());

        // The same for a list of values that hold a handle beside other data (tuples, as a
        // derived `Value` enum: `Trace::root_into`), two handles to each object.
        let mut pairs: Vec<(Obj, u32, Option<Obj>)> = objects
            .iter()
            .map(|g| (g.clone(), 7, Some(g.clone())))
            .collect();
        // SAFETY: every handle in `pairs` is rooted; none is dropped before `root` below.
        unsafe { pairs.unroot() };
        flush_root_cache();
        assert!(objects.iter().all(|g| raw_count(g) == 1));
        let before = crate::object::gc::rooted_handles();
        let exact = without_stops(|| {
            // SAFETY: every handle in `pairs` is an edge.
            unsafe { pairs.root() };
            objects.iter().all(|g| raw_count(g) == 3)
        });
        assert_eq!(
            crate::object::gc::rooted_handles().wrapping_sub(before),
            6_000
        );
        assert!(
            exact,
            "a count of the run was still pending when it returned"
        );
        drop(pairs);
        assert!(all_back_to_one());
    }

    /// A run of handles rooted inside a bulk walk keeps its counts in the pending words
    /// until the walk ends; a stop in between (mark setup's, say) must apply them before
    /// the root scan reads the counters, though the thread took no entry of its table
    /// since the last drain. (It did not: the drain skipped an idle table's pending words
    /// too, the counts of up to a chunk of 256 handles were missing at that stop's root
    /// scan and debt settlement, and `tests/large_cells.rs` aborted now and then with
    /// "root count underflow" under load.)
    #[test]
    #[cfg(debug_assertions)]
    fn a_stop_inside_a_bulk_walk_applies_a_runs_pending_counts() {
        use crate::{Gc, Trace};
        type Obj = Gc<[u64; 3]>;
        let raw_count = |g: &Obj| {
            let (s, i) = locate(Gc::as_ptr(g) as usize);
            count(s.root_count(i))
        };
        let objects: Vec<Obj> = (0..1_000).map(|i| Gc::new([i; 3])).collect();
        let mut list: Vec<Obj> = objects.to_vec();
        // SAFETY: every handle in `list` is rooted; it is rooted again before its drop.
        unsafe { list.unroot() };
        flush_root_cache(); // the table is idle from here on
        assert!(objects.iter().all(|g| raw_count(g) == 1));
        bulk_rooting(|| {
            // SAFETY: every handle in `list` is an edge.
            unsafe { list.root() };
            drop(super::super::world::stop());
            assert!(
                objects.iter().all(|g| raw_count(g) == 2),
                "a stop left a run's counts pending"
            );
        });
        drop(list);
        flush_root_cache();
        assert!(objects.iter().all(|g| raw_count(g) == 1));
    }

    /// A run of handles made edges (`Trace::unroot` of a long list, `unroot_run`) gives
    /// back every count before it returns, without a drain: a root still pending in the
    /// thread's table is taken back there, the others by counter word, and a counter
    /// whose count spilled past four bits gives its counts back from the spill table.
    #[test]
    #[cfg(debug_assertions)]
    fn a_run_of_edges_gives_back_its_counts_before_it_ends() {
        use crate::{Gc, Trace};
        type Obj = Gc<[u64; 3]>;
        let raw_count = |g: &Obj| {
            let (s, i) = locate(Gc::as_ptr(g) as usize);
            count(s.root_count(i))
        };
        let objects: Vec<Obj> = (0..3_000).map(|i| Gc::new([i; 3])).collect();
        let shared = Gc::new([7u64; 3]);
        let mut list: Vec<Obj> = objects.to_vec();
        list.extend((0..40).map(|_| shared.clone()));
        flush_root_cache();
        assert!(objects.iter().all(|g| raw_count(g) == 2));
        assert_eq!(root_count_for_test(Gc::as_ptr(&shared) as usize), 41);
        // A hundred more roots, still pending in this thread's table.
        list.extend(objects[..100].iter().cloned());
        let exact = without_stops(|| {
            // SAFETY: every handle in `list` is rooted; it is rooted again before its drop.
            unsafe { list.unroot() };
            objects.iter().all(|g| raw_count(g) == 1)
                && root_count_for_test(Gc::as_ptr(&shared) as usize) == 1
        });
        assert!(
            exact,
            "a count of the run was still pending when it returned"
        );
        flush_root_cache();
        assert!(objects.iter().all(|g| raw_count(g) == 1));
        // SAFETY: every handle in `list` is an edge.
        unsafe { list.root() };
        drop(list);
        flush_root_cache();
        assert!(objects.iter().all(|g| raw_count(g) == 1));
        assert_eq!(root_count_for_test(Gc::as_ptr(&shared) as usize), 1);
    }

    #[test]
    fn counts_past_four_bits_spill_and_come_back() {
        // The counter shares its word with a neighbour that holds a count throughout.
        let word = AtomicU64::new(0);
        let c = RootCounter::new(&word, 5);
        let neighbour = RootCounter::new(&word, 6);
        inc(neighbour, Ordering::SeqCst);
        for n in 1..=1000u64 {
            inc(c, Ordering::SeqCst);
            assert_eq!(count(c), n);
        }
        assert_eq!(c.load(Ordering::SeqCst), SPILLED);
        for n in (0..1000u64).rev() {
            dec(c);
            assert_eq!(count(c), n);
        }
        assert_eq!(c.load(Ordering::SeqCst), 0);
        assert!(
            !spill_table(c.key()).lock().contains_key(&c.key()),
            "a spill entry outlived its count"
        );
        assert_eq!(count(neighbour), 1);
    }

    #[test]
    fn threads_crossing_the_spill_boundary_lose_no_count() {
        // Every thread holds more than a counter's worth of counts at its peak, so together
        // they cross INLINE_MAX in both directions many times, while other threads move
        // the neighbouring counters of the same word.
        let word = Arc::new(AtomicU64::new(0));
        RootCounter::new(&word, 0).set_from_zero(1, Ordering::SeqCst);
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let word = word.clone();
                crate::sync::thread::spawn(move || {
                    // Threads 0 and 1 share counter 0; 2 and 3 each move a neighbour.
                    let c = RootCounter::new(&word, t.max(1) - 1);
                    for _ in 0..200 {
                        for _ in 0..20 {
                            inc(c, Ordering::SeqCst);
                        }
                        for _ in 0..20 {
                            dec(c);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(count(RootCounter::new(&word, 0)), 1);
        assert_eq!(
            word.load(Ordering::SeqCst),
            1,
            "the neighbours came back to 0"
        );
    }
}
