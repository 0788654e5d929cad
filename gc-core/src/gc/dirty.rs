//! Dirty cells: `GcCell`s inside heap objects whose contents were rooted by a write since
//! the last cycle. The next cycle's unroot pass turns their contents back into edges before
//! it scans roots, so each write costs O(1) and each cell O(contents) once per cycle. (A
//! small cell's first write guard of a cycle records nothing: its release makes the cell
//! an edge cell again, `GcCell::write_guard`. The cycle's write epoch, advanced by each
//! pass, tells the first write from later ones; the marker records a rooted cell it meets
//! in a clean slot, which only a held or leaked guard of that kind leaves.)
//!
//! *Large written cells stay rooted.* A paced cycle's pass leaves rooted, and dirty for
//! the next pass, a cell whose last rooting by a write guard counted at least
//! `LARGE_HANDLES` (1,024) handles and which was written through a guard in the last
//! `KEEP_PASSES` (4) cycles (the cell's `LARGE` and `WRITTEN` flags, `written_within`): a
//! big list that is stored into now and then (an interpreter's `list[i] = x`) is then
//! rooted once, not unrooted here and rooted again by its next writer, O(contents) each
//! (a 2.8-million-handle list stalled its writer 60-140 ms per cycle that way:
//! BENCHMARKS.md, twenty-fifth session), and the marker skips its contents, which are
//! roots. The price: what such a cell holds when its object dies stays alive until that
//! object is swept (one cycle longer than for an edge cell), and a garbage cycle through
//! the cell is found up to `KEEP_PASSES` cycles after its last write. Small cells are not
//! kept: an interpreter's environments die young, and keeping what they held one more
//! cycle cost its small scripts 10-30% of peak RSS. A cell rooted small and grown large
//! since (appended to within one cycle) is counted by the pass when a container in it has
//! that many elements (`Trace::handles_hint`), then marked `LARGE` and kept
//! (`GcCell::keeps_large`). A cell moved into the heap by `Gc::new` with that many handles
//! is left so by its move-in walk, as if written then (`move_in.rs`). A cell the pass
//! finds held by a writer's guard stays rooted, and the next pass that finds it free
//! counts its last write as made in that pass's epoch, not the one its guard recorded when
//! it was taken (`HELD`): one guard may be held through many cycles, filling a list of
//! millions of handles. A large list of handles the pass does unroot goes a chunk at a
//! time, the cell let go between two (`GcCell::unroot_in_chunks`); one it could not take
//! back is left part rooted in its dirty slot and finished by the next pass. A forced cycle
//! (`collect()`) keeps nothing: it finds all the garbage unreachable when it began; it
//! roots the large cells written recently again after its mark (`reroot.rs`).
//!
//! Two records, by where the cell lives:
//! - *In a heap slot* (the usual case: a field of a `Gc` object): the slot's dirty bit in
//!   its span (`Span::set_dirty`), one atomic OR the first time per cycle, no lock; the
//!   first dirty slot of a span since the last pass also puts the span's base on `SPANS`
//!   (a mutex-protected list, one push per span per cycle), so the pass visits the dirty
//!   spans only, not the heap's. The pass walks each dirty object with an unrooting
//!   tracer (`Tracer::unrooting`), under which `GcCell::trace` unroots rooted cells. A
//!   dead object needs no unlisting: the sweep that frees its slot clears the bit, and the
//!   pass (which runs after sweep termination and before mark setup) never meets a freed
//!   slot; a listed span freed since is looked up by address and skipped. A busy cell (a
//!   writer holds it) leaves its slot dirty (its span listed again) for the next cycle.
//! - *Outside the heap* but owned by a heap object (a cell inside a `Vec` inside an
//!   object): the list below, a map from cell address to its unroot function under one
//!   mutex. Invariants: an entry's cell is alive and does not move while it is listed (a
//!   cell removes itself, under the list lock, before it is dropped and before an
//!   enclosing write could move it: see `GcCell::root`). The pass touches a listed cell
//!   only while holding the list lock, so a removal waits for the pass to finish with that
//!   cell instead of racing it. The lock is never held while waiting for a user (the pass
//!   only `try_write`s cells).
//!
//! The pass writes cells that their owners may be reading under a bias, with no locked
//! instruction (`object/cell_lock.rs`): it suspends every bias while it runs
//! (`suspend_biases`, one heavy fence; `SUSPENDERS` is the shared count owners look at).
//!
//! See the collector overview (`crate::design::collector`).

use super::mark::Tracer;
use crate::alloc::span::SpanPtr;
use crate::sync::{AtomicBool, AtomicU32, AtomicU8, Mutex, Ordering};
use std::collections::BTreeMap;

/// The bit of a cell's flags word that says it is on the list (the other bits are the
/// cell's own, `object/cell.rs`). Written only under the list lock.
pub(crate) const ON_LIST: u8 = 4;

/// Type-erased "unroot this cell if nobody holds it, unless it is large and was written
/// recently for a pass that closed this write epoch (`written_within`)" (returns false if
/// the cell stays rooted).
pub(crate) type UnrootFn = unsafe fn(usize, Option<u8>) -> bool;

/// A listed cell: its unroot function and the address of its flags word, by cell address.
type List = BTreeMap<usize, (UnrootFn, usize)>;

crate::sync::global! {
    static DIRTY: Mutex<List> = Mutex::new(BTreeMap::new());
}
crate::sync::global! {
    /// The bases of the spans made dirty since the last pass took the list (each span once
    /// per change of its summary from clean to dirty: `Span::set_dirty`).
    static SPANS: Mutex<Vec<usize>> = Mutex::new(Vec::new());
}

/// Rooted cells the pass found held by a user's write guard, by address: the running
/// pass's (`now`) and the last pass's (`last`, sorted), and the epoch the running pass
/// closes. Such a cell was written after the epoch its guard recorded when it was taken,
/// at least until that pass, so the pass that next finds it free counts its last write as
/// made in the epoch it closes (`held_through_last_pass`). Only the pass (one collector at
/// a time, on one thread from its start to its end) takes the lock. If the cell was freed
/// since and another made at its address, that one is counted as written then: at worst a
/// large cell stays rooted `KEEP_PASSES` cycles longer.
struct Held {
    last: Vec<usize>,
    now: Vec<usize>,
    closing: u8,
}

crate::sync::global! {
    static HELD: Mutex<Held> = Mutex::new(Held { last: Vec::new(), now: Vec::new(), closing: 0 });
}
crate::sync::global! {
    /// Whether `HELD.last` holds a cell: the pass asks the lock only then (almost never).
    static HELD_LAST: AtomicBool = AtomicBool::new(false);
}

/// The pass met a rooted cell (at `addr`) that a user's write guard holds.
pub(crate) fn note_held_cell(addr: usize) {
    HELD.lock().now.push(addr);
}

/// If the last pass found the cell at `addr` held by a user's write guard, the epoch the
/// running pass closes, which the cell's last write is counted in.
pub(crate) fn held_through_last_pass(addr: usize) -> Option<u8> {
    // Relaxed: written by this pass's own thread at its start (`rotate_held`).
    if !HELD_LAST.load(Ordering::Relaxed) {
        return None;
    }
    let h = HELD.lock();
    h.last.binary_search(&addr).is_ok().then_some(h.closing)
}

/// At a pass's start, closing epoch `closing`: the last pass's held cells are the ones to
/// look up, and this pass's are noted afresh.
fn rotate_held(closing: u8) {
    let mut h = HELD.lock();
    h.last = std::mem::take(&mut h.now);
    h.last.sort_unstable();
    h.closing = closing;
    HELD_LAST.store(!h.last.is_empty(), Ordering::Relaxed);
}

/// Marks slot `idx` of `s` dirty for the next pass, listing the span if this made its
/// summary dirty.
fn dirty_slot(s: SpanPtr, idx: usize) {
    if s.set_dirty(idx) {
        SPANS.lock().push(s.base);
    }
}

fn lock() -> crate::sync::MutexGuard<'static, List> {
    DIRTY.lock()
}

/// Marks the heap slot holding `addr` (a live cell: the caller holds a reference to it)
/// dirty. False if `addr` lies in no heap slot.
fn dirty_slot_of(addr: usize) -> bool {
    let s = crate::alloc::arena::span_of(addr);
    if s.is_null() {
        return false;
    }
    // SAFETY: `addr` is a live cell inside an in-use span, which lives at least as long as
    // the object holding the cell.
    let s = unsafe { SpanPtr::from_raw(s) };
    if addr >= s.limit() {
        return false;
    }
    dirty_slot(s, s.slot_index(addr));
    true
}

/// Records a cell (at address `addr`, with its flags word) as dirty: its slot's bit if it
/// lies in a heap object, the list otherwise.
pub(crate) fn list_cell(addr: usize, unroot: UnrootFn, flags: &AtomicU8) {
    if dirty_slot_of(addr) {
        return;
    }
    let mut d = lock();
    d.insert(addr, (unroot, flags as *const AtomicU8 as usize));
    flags.fetch_or(ON_LIST, Ordering::Relaxed);
}

/// The marker met a rooted cell (at `addr`) of a heap object that is not on the list:
/// usually its slot is dirty already, but a small cell's write guard records nothing while
/// it is held (`GcCell::write_guard`: its release makes the cell an edge cell again), so a
/// guard leaked with `mem::forget` would leave the cell rooted in a clean slot, whose
/// object the sweep frees without its drop, never releasing the contents' counts. Marking
/// the slot dirty here (if the cell lies in one: a cell outside the heap is dropped with
/// its owner) lets the next unroot pass, or that drop, release them.
#[inline(never)]
pub(crate) fn note_rooted_cell(addr: usize) {
    dirty_slot_of(addr);
}

/// The write epoch: 1..=`MAX_EPOCH`, advanced by every unroot pass. A `GcCell` records in
/// its flags the epoch in which a write guard last rooted it, so that the cycle's first
/// such write is known without a record per cell for the pass to clear. Only a hint (it
/// wraps: a cell written `MAX_EPOCH` passes ago counts as written in this one).
#[inline(always)]
pub(crate) fn write_epoch() -> u8 {
    EPOCH.load(Ordering::Relaxed)
}

/// The passes a large cell stays rooted after the epoch of its last write: it is kept while
/// written at least once in this many cycles (module header).
pub(crate) const KEEP_PASSES: u8 = 4;

/// Whether a cell whose last write guard recorded epoch `written` was written recently
/// enough for the running pass, which closed epoch `closing`, to keep it: in one of the
/// last `KEEP_PASSES` epochs up to `closing`, or in the next one, which began when the
/// pass advanced the epoch (a write made while the pass runs overwrites the older record).
/// Epochs wrap at `MAX_EPOCH`, so a write that old would look recent again; the pass
/// unrooted such a cell long before.
pub(crate) fn written_within(written: u8, closing: u8) -> bool {
    // Epochs back from the current one (`next_epoch(closing)`).
    written_by(written, next_epoch(closing))
}

/// Whether a cell whose last write guard recorded epoch `written` counts as written
/// recently now (`written_within` for the last pass's epoch): what a forced cycle's mark
/// asks of the large cells its pass unrooted (`reroot.rs`).
pub(crate) fn written_recently(written: u8) -> bool {
    written_by(written, write_epoch())
}

/// Whether epoch `written` is at most `KEEP_PASSES` epochs before `current`, on the ring
/// 1..=MAX_EPOCH (0 is never).
fn written_by(written: u8, current: u8) -> bool {
    written != 0 && (current + MAX_EPOCH - written) % MAX_EPOCH <= KEEP_PASSES
}

/// The epoch after `e`.
fn next_epoch(e: u8) -> u8 {
    if e == MAX_EPOCH {
        1
    } else {
        e + 1
    }
}

/// The largest write epoch (four bits of a cell's flags word, `object/cell.rs`).
pub(crate) const MAX_EPOCH: u8 = 15;

crate::sync::global! {
    static EPOCH: AtomicU8 = AtomicU8::new(1);
}

crate::sync::global! {
    /// Collectors suspending biases now (`suspend_biases`): the unroot pass, or a model or
    /// test standing for it. Owners of biased cells take their read locks on the lock word
    /// while it is not zero (`object/cell_lock.rs`).
    static SUSPENDERS: AtomicU32 = AtomicU32::new(0);
}
#[cfg(all(test, not(gc_loom)))]
crate::sync::global! {
    /// Suspensions begun so far: lets a test tell a stretch that none touched.
    static SUSPENSIONS: crate::sync::AtomicU64 = crate::sync::AtomicU64::new(0);
}

/// Whether a cell's owner may not read it under its bias (`object/cell_lock.rs`): while
/// the unroot pass runs. Read by the owner after it counted its read and its
/// `light_fence`.
#[inline(always)]
pub(crate) fn biases_suspended() -> bool {
    // Acquire pairs with the Release in the guard's drop: an owner that sees a suspension
    // over sees the pass's writes to the cells, even if its look at a cell's word read
    // that word from before the pass took it and gave it back (the same value).
    SUSPENDERS.load(Ordering::Acquire) != 0
}

/// While alive, owners do not read under their biases: every owner's read counted before
/// it was made is visible to this thread, and every later one sees the suspension and backs
/// out (`heavy_fence` against the owner's `light_fence`). So the unroot pass may take a
/// biased cell exclusively once it sees no owner read counted, with no fence per cell.
pub(crate) struct BiasesSuspended(());

/// Suspends every cell's bias until the returned guard is dropped.
pub(crate) fn suspend_biases() -> BiasesSuspended {
    #[cfg(all(test, not(gc_loom)))]
    SUSPENSIONS.fetch_add(1, Ordering::Relaxed);
    // One per collector thread at most, so no overflow. With the fence, a store-buffering
    // pair against an owner's count (`SeqCst`, as the waiters' count in `cell_lock.rs`).
    SUSPENDERS.fetch_add(1, Ordering::SeqCst);
    crate::sync::heavy_fence();
    BiasesSuspended(())
}

impl Drop for BiasesSuspended {
    fn drop(&mut self) {
        // Release pairs with the owners' Acquire look (`biases_suspended`): a cell's own
        // release is not enough, since an owner may read its word's value from before the
        // pass took it (loom found that execution).
        SUSPENDERS.fetch_sub(1, Ordering::Release);
    }
}

/// Tests: (suspensions active, suspensions begun).
#[cfg(all(test, not(gc_loom)))]
pub(crate) fn bias_suspensions() -> (u32, u64) {
    (
        SUSPENDERS.load(Ordering::SeqCst),
        SUSPENSIONS.load(Ordering::SeqCst),
    )
}

/// Unlists a cell.
pub(crate) fn unlist_cell(addr: usize, flags: &AtomicU8) {
    let mut d = lock();
    d.remove(&addr);
    flags.fetch_and(!ON_LIST, Ordering::Relaxed);
}

/// Cells processed per hold of the list lock by the unroot pass: short holds, so threads
/// that dirty or unlist cells meanwhile wait microseconds, not the whole pass.
const BATCH: usize = 64;

/// The unroot pass: every dirty object is walked and every listed cell visited; the cells
/// nobody holds get their contents turned into edges, except, if `keep_hot`, the large
/// ones written through a guard in the last `KEEP_PASSES` cycles (module header;
/// `written_within`). Busy and kept cells stay dirty (and rooted) until a later cycle.
/// Runs concurrently with mutators, after sweep termination and before mark setup: no
/// sweeper frees a dirty slot or a listed cell then (see the module header for what else
/// keeps them alive). Cells dirtied during the pass wait for the next cycle (they are
/// roots meanwhile). Returns (objects walked clean and cells unrooted, objects and cells
/// left dirty).
pub(crate) fn unroot_pass(keep_hot: bool) -> (usize, usize) {
    // Only the pass writes the epoch (one collector at a time), so a load and a store.
    // Writes since the last pass recorded `e`, or the next epoch from this store on.
    let e = write_epoch();
    EPOCH.store(next_epoch(e), Ordering::Relaxed);
    rotate_held(e);
    let keep = keep_hot.then_some(e);
    let mut done = 0;
    let mut left = 0;
    let spans = std::mem::take(&mut *SPANS.lock());
    if spans.is_empty() && len() == 0 {
        return (0, 0);
    }
    // The pass takes cells exclusively; their owners' biased reads must be seen.
    let _suspended = suspend_biases();
    for base in spans {
        let s = crate::alloc::arena::span_of(base);
        // A span freed since it was listed is gone from the index, or another span is at
        // its address now: that one's own bits (if any) are as good to take.
        if !s.is_null() {
            // SAFETY: an in-use span, which no sweep frees during the pass (the pass runs
            // between sweep termination and mark setup).
            let (d, l) = unroot_span(unsafe { SpanPtr::from_raw(s) }, keep);
            done += d;
            left += l;
        }
    }
    let (d, l) = unroot_listed(keep);
    (done + d, left + l)
}

/// The slot half of the pass for one span: walks its dirty objects, leaving rooted the
/// large cells written recently (`written_within` epoch `keep`). Returns (objects walked
/// clean, objects left dirty). The span must not be freed meanwhile (the pass runs
/// between sweep termination and mark setup; a model calls it on a span it owns).
pub(crate) fn unroot_span(s: SpanPtr, keep: Option<u8>) -> (usize, usize) {
    let Some(dirty) = s.take_dirty() else {
        return (0, 0);
    };
    let mut tracer = Tracer::unrooting(keep);
    let (mut done, mut left) = (0, 0);
    for idx in dirty.iter() {
        // SAFETY: a dirty slot holds a live object: the bit is set through a reference into
        // it and cleared by the sweep that frees it, and no sweep runs during the pass.
        let ty = unsafe { s.type_of(idx) };
        // SAFETY: `ty` is the descriptor recorded for this object; the unrooting tracer
        // visits its cells under their locks (`GcCell::trace`).
        unsafe { (ty.trace)(s.slot_addr(idx) as *const u8, &mut tracer) };
        if tracer.take_left_dirty() {
            dirty_slot(s, idx);
            left += 1;
        } else {
            done += 1;
        }
    }
    (done, left)
}

/// The list half of the pass, leaving rooted the large cells written recently
/// (`written_within` epoch `keep`). Returns
/// (cells unrooted, cells still listed).
pub(crate) fn unroot_listed(keep: Option<u8>) -> (usize, usize) {
    let addrs: Vec<usize> = lock().keys().copied().collect();
    let mut unrooted = 0;
    for batch in addrs.chunks(BATCH) {
        let mut d = lock();
        for addr in batch {
            // Unlisted since the snapshot (or listed anew: then it is a live cell too).
            let Some(&(f, _)) = d.get(addr) else { continue };
            // SAFETY: the cell is listed and we hold the list lock (module header).
            if unsafe { f(*addr, keep) } {
                d.remove(addr);
                unrooted += 1;
            }
        }
    }
    (unrooted, len())
}

/// Number of listed cells (cells outside heap slots; dirty slots are not counted).
pub(crate) fn len() -> usize {
    lock().len()
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn written_within_takes_the_last_passes_epochs_and_the_current_one_across_the_wrap() {
        assert_eq!(KEEP_PASSES, 4, "the table below assumes four");
        // (written, closing, kept)
        let table = [
            (4, 3, true), // during the pass, in the epoch it began
            (3, 3, true),
            (2, 3, true),
            (1, 3, true),
            (MAX_EPOCH, 3, true),
            (MAX_EPOCH - 1, 3, false),
            (5, 3, false), // a whole ring ago
            (0, 3, false), // never written
            (MAX_EPOCH, MAX_EPOCH, true),
            (1, MAX_EPOCH, true),
            (MAX_EPOCH - 3, MAX_EPOCH, true),
            (MAX_EPOCH - 4, MAX_EPOCH, false),
            (2, MAX_EPOCH, false),
            (MAX_EPOCH, 1, true),
            (MAX_EPOCH - 2, 1, true),
            (MAX_EPOCH - 3, 1, false),
        ];
        for (written, closing, kept) in table {
            assert_eq!(
                written_within(written, closing),
                kept,
                "written {written}, closing {closing}"
            );
        }
        for e in 1..=MAX_EPOCH {
            assert!((1..=MAX_EPOCH).contains(&next_epoch(e)));
            assert_ne!(next_epoch(e), e);
        }
    }
}
