//! Young objects allocated white: garbage made during a mark dies in that mark's cycle.
//!
//! Go allocates every object black while it marks, so everything a program allocates
//! during a mark survives it, garbage or not, and counts towards the marked heap the next
//! goal grows from. On a heap whose mark takes a while that is most of the floating
//! garbage: the 256 MiB latency probe marked 367 MB for 256 MB live. Here a small object
//! allocated during the mark's first round is *young* and white instead, and the cycle
//! finds the young objects that are live once the round has drained:
//!
//! 1. **Mark setup** ([`start`], operations stopped): `ALLOC_WHITE` is set with `MARKING`
//!    if the cycle's heap goal is at least [`MIN_GOAL`] ([`wanted`]: on smaller heaps the
//!    scan costs more than it frees), and the spans the thread caches hold are listed (the
//!    young spans: every small allocation of this phase lands in one of them or in a span
//!    a cache takes later).
//! 2. **First round**: a cache that takes a span lists it ([`note_span`], from the refill).
//!    A small object is allocated unmarked, with its first root pending in its thread's
//!    root cache under a tagged entry (`root_cache.rs`), so no marker finds it before it
//!    is complete; the handles moved into it become its edges without a shade
//!    (`roots::unroot_into_white`: it is unmarked, so its scan will find them, Dijkstra's
//!    condition). Everything else keeps the barrier: a root taken on any object
//!    shades it unless its thread's cache holds the address (tagged or not: a counted young
//!    object is found in step 3), and a handle made an edge of an existing object shades
//!    its target unless the cache holds it untagged. Tiny and large objects stay black.
//! 3. **The young scan** ([`switch_to_black`]): once the first round finds no more work,
//!    the cycle stops operations, which applies every root cache (so every young object's
//!    pending count is on its counter) and empties them (so no tagged entry is left),
//!    clears `ALLOC_WHITE` and resumes; then a root job per young span shades every object
//!    of it that a counter holds. From the switch on, allocation is black as in Go, and the
//!    mark goes on to termination as before.
//!
//! Why nothing live is missed: a young object that is live at termination is counted at
//! the switch (found by the scan; a count taken after it shades, since the caches were
//! emptied), or reachable by edges from a live object. An edge made into an existing
//! object shaded its target; an edge made into a young object while it was built
//! belongs to an unmarked object, which is scanned if it is itself found live; so by
//! induction along the path from a counted object, every live young object is marked. A
//! young object that no counter holds at its scan and that no edge reaches is garbage,
//! and stays white: the sweep frees it. `GODEBUG=gccheckmark=1` re-checks all of it at
//! every termination.
//!
//! `GODEBUG=allocblack=1` turns the scheme off (every object allocated during a mark is
//! black, as in Go, whatever the heap), for comparisons; `GODEBUG=allocwhite=1` turns it
//! on for every heap, small ones too (the tests use it). Shared fields: the flag changes
//! only while operations are stopped (allocations read it inside theirs); the span list is
//! under its mutex; a span's stamp belongs to the span's owner. See the collector overview
//! (`crate::design::collector`).

use super::world::Stopped;
use crate::alloc::span::SpanPtr;
use crate::env::DebugFlags;
use crate::sync::{AtomicBool, AtomicU64, Mutex, Ordering, Padded};

crate::sync::global! {
    /// True from mark setup to the young scan's switch: small objects are allocated white.
    pub(crate) static ALLOC_WHITE: Padded<AtomicBool> = Padded(AtomicBool::new(false));
}
crate::sync::global! {
    /// The young spans of the current mark (module header).
    static SPANS: Mutex<Vec<SpanPtr>> = Mutex::new(Vec::new());
}
crate::sync::global! {
    /// Marks started so far: the stamp that lists a span once per mark.
    static MARKS: AtomicU64 = AtomicU64::new(0);
}

/// Young objects are allocated white only in cycles whose heap goal is at least this.
/// Below it a mark takes a few milliseconds, little is allocated during one, and the young
/// scan's extra stop and round end, and the tracing of the young objects that are live
/// then (which allocate-black skips), cost more than the floating garbage it frees, all
/// the more where young objects are linked through `GcCell`s, whose writes shade a young
/// child (white on every heap, alternating runs: binary-trees 18, goals of 25-36 MB, 9%
/// slower; GCBench 17 30% slower; an interpreter's 4 MiB heap peaked higher in half the
/// runs; and GCBench 18, whose goal reaches 64-69 MB in one or two cycles a run, peaked at
/// 67-81 MiB against 70-75 with a 64 MiB threshold). With young objects white, the
/// latency probe's peak RSS fell 26-29% from 8 MiB live up (BENCHMARKS.md, nineteenth
/// session).
pub(crate) const MIN_GOAL: u64 = 128 << 20;

/// Whether a cycle with heap goal `goal` allocates young objects white: not while the
/// world stays stopped (`gcstoptheworld`: nothing allocates), nor under
/// `GODEBUG=allocblack=1`; otherwise from [`MIN_GOAL`] up, or on every heap under
/// `GODEBUG=allocwhite=1`.
pub(crate) fn wanted(goal: u64, debug: &DebugFlags) -> bool {
    debug.gcstoptheworld == 0 && !debug.allocblack && (debug.allocwhite || goal >= MIN_GOAL)
}

/// Mark setup, with operations stopped: numbers the mark, lists the spans every thread
/// cache holds, and makes small allocations white if `white`.
pub(crate) fn start(stopped: &Stopped, white: bool) {
    let mark = MARKS.fetch_add(1, Ordering::Relaxed) + 1;
    let mut spans = SPANS.lock();
    spans.clear();
    if white {
        stopped.for_each_cache(|c| {
            for s in c.spans.iter().flatten() {
                // SAFETY: the world is stopped, so the collector owns every cached span.
                if unsafe { s.list_once(mark) } {
                    spans.push(*s);
                }
            }
        });
    }
    ALLOC_WHITE.store(white, Ordering::Relaxed);
}

/// A cache took `span` while small objects are allocated white: it is a young span.
///
/// # Safety
///
/// The calling thread's cache owns `span`.
pub(crate) unsafe fn note_span(span: SpanPtr) {
    let mark = MARKS.load(Ordering::Relaxed);
    // SAFETY: the caller owns the span.
    if unsafe { span.list_once(mark) } {
        SPANS.lock().push(span);
    }
}

/// The young scan's switch, with operations stopped (after every root cache was applied
/// and emptied): allocation turns black; returns the young spans, whose root jobs find
/// the young objects that are counted.
pub(crate) fn switch_to_black(_stopped: &Stopped) -> Vec<SpanPtr> {
    ALLOC_WHITE.store(false, Ordering::Relaxed);
    std::mem::take(&mut *SPANS.lock())
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::{wanted, MIN_GOAL};
    use crate::env::DebugFlags;

    #[test]
    fn young_objects_white_on_large_heaps_or_when_asked() {
        // (goal, gcstoptheworld, allocblack, allocwhite) -> white
        let cases = [
            (MIN_GOAL, 0, false, false, true),
            (4 * MIN_GOAL, 0, false, false, true),
            (MIN_GOAL - 1, 0, false, false, false),
            (4 << 20, 0, false, false, false),
            (4 << 20, 0, false, true, true),
            (MIN_GOAL, 1, false, false, false),
            (4 << 20, 2, false, true, false),
            (MIN_GOAL, 0, true, false, false),
            (MIN_GOAL, 0, true, true, false),
        ];
        for (goal, gcstoptheworld, allocblack, allocwhite, want) in cases {
            let debug = DebugFlags {
                gcstoptheworld,
                allocblack,
                allocwhite,
                ..DebugFlags::default()
            };
            assert_eq!(wanted(goal, &debug), want, "goal {goal} {debug:?}");
        }
    }
}
