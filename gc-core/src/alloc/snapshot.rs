//! Heap snapshots, the allocator's part: every page of every arena, as runs of one state
//! (an in-use span, free pages still backed by memory, free pages released to the OS,
//! reserved address space not yet handed to the page heap), in address order.
//!
//! Plain data out: the collector adds its cycle records (`crate::gc`'s `snapshot.rs`) and
//! the public interface turns both into `gc_core::debug::HeapSnapshot`. The walk holds the
//! heap lock (`Heap::lock_pages`) once, so the runs, the free runs and the released runs
//! are one consistent picture of the page heap. A span's immutable geometry may be read
//! under that lock; its allocation count only by a caller that keeps every span owner out
//! (module header of `span.rs`), which `page_map` leaves to its caller. `split_idle` and
//! `split_at_arenas` are the pure logic, tested by tables. See the allocator overview
//! (`crate::design::allocator`).

use super::heap::Heap;
use super::span::Span;
use super::{ARENA_SIZE, PAGE_SIZE};
use crate::sync::Ordering;

/// An in-use span's facts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct SpanFacts {
    /// Size class (0: one large object).
    pub size_class: usize,
    /// The span's objects hold no `Gc` (the span class's noscan bit).
    pub noscan: bool,
    /// Slot size in bytes (a large object's: the span's bytes).
    pub elemsize: usize,
    /// Slots.
    pub nelems: usize,
    /// Allocated slots; `None` when the caller could not keep the owners out.
    pub allocated: Option<usize>,
    /// Not swept since the last mark termination: `allocated` still counts the objects that
    /// mark found dead.
    pub unswept: bool,
    /// Held by a thread's allocation cache.
    pub cached: bool,
}

/// What a run of pages is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RunState {
    /// One span.
    InUse(SpanFacts),
    /// Free pages still backed by memory (Go: idle, not released).
    Free,
    /// Free pages given back to the OS, or never touched (Go: released / scavenged).
    Released,
    /// Reserved address space not yet handed to the page heap.
    Reserved,
}

/// `npages` pages from `base` in one state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Run {
    pub base: usize,
    pub npages: usize,
    pub state: RunState,
}

/// The address space of the heap.
#[derive(Debug, Default)]
pub(crate) struct PageMap {
    /// Base of every 64 MiB arena, ascending.
    pub arenas: Vec<usize>,
    /// Every page of every arena, in address order, no overlap. Idle and reserved runs are
    /// cut at arena boundaries; a span is one run even if it crosses one.
    pub runs: Vec<Run>,
}

/// Walks the page heap.
///
/// # Safety
///
/// With `read_counts`, no span owner (a thread cache, a sweeper, a central list's lock
/// holder) may touch any span's allocation state until this returns: the caller has
/// stopped GC operations. Without it, this is safe to call from anywhere outside the heap
/// lock.
pub(crate) unsafe fn page_map(heap: &Heap, read_counts: bool) -> PageMap {
    let sweepgen = heap.sweepgen();
    let mut p = heap.lock_pages();
    let free = p.heap.free_runs();
    let (reservations, (tail_start, tail_end)) = p.heap.address_space();
    let mut arenas: Vec<usize> = reservations
        .iter()
        .flat_map(|&(base, bytes)| (base..base + bytes).step_by(ARENA_SIZE))
        .collect();
    arenas.sort_unstable();
    let released: Vec<(usize, usize)> = p.heap.released.runs_from_bottom().collect();
    let mut idle = split_idle(&free, &released);
    if tail_end > tail_start {
        idle.push(Run {
            base: tail_start,
            npages: (tail_end - tail_start) / PAGE_SIZE,
            state: RunState::Reserved,
        });
    }
    let mut runs = split_at_arenas(&idle);
    runs.reserve(p.span_count);
    p.spans_from(0, |s| {
        // SAFETY: forwarded; the heap lock keeps the span in use (`free_span` clears its
        // pages in the arena table under the lock before freeing it).
        let facts = unsafe { span_facts(&s, sweepgen, read_counts) };
        runs.push(Run {
            base: s.base,
            npages: s.npages,
            state: RunState::InUse(facts),
        });
        true
    });
    drop(p);
    runs.sort_unstable_by_key(|r| r.base);
    PageMap { arenas, runs }
}

/// # Safety
///
/// `s` is in use; with `read_counts`, as for `page_map`.
unsafe fn span_facts(s: &Span, sweepgen: u32, read_counts: bool) -> SpanFacts {
    // Relaxed: only the state is reported; with `read_counts` the caller's stop orders the
    // owners' writes before this.
    let sg = s.sweepgen.load(Ordering::Relaxed);
    SpanFacts {
        size_class: s.spanclass.size_class(),
        noscan: s.spanclass.noscan(),
        elemsize: s.elemsize,
        nelems: s.nelems,
        // SAFETY: the caller keeps every owner out (this function's contract).
        allocated: read_counts.then(|| unsafe { s.alloc_count() }),
        unswept: sg == sweepgen.wrapping_sub(2) || sg == sweepgen.wrapping_sub(1),
        cached: sg == sweepgen.wrapping_add(3),
    }
}

/// Cuts free runs into released and backed parts, in address order. `released` is a subset
/// of `free`; both are ascending and disjoint.
fn split_idle(free: &[(usize, usize)], released: &[(usize, usize)]) -> Vec<Run> {
    let mut out = Vec::new();
    let mut rel = released.iter().copied().peekable();
    for &(start, npages) in free {
        let end = start + npages * PAGE_SIZE;
        let mut at = start;
        // Released runs lie inside free runs, so none straddles `start`.
        while let Some(&(rs, rn)) = rel.peek() {
            if rs >= end {
                break;
            }
            let re = rs + rn * PAGE_SIZE;
            if rs > at {
                out.push(run(at, rs, RunState::Free));
            }
            out.push(run(rs.max(at), re.min(end), RunState::Released));
            at = re.min(end);
            if re > end {
                break;
            }
            rel.next();
        }
        if at < end {
            out.push(run(at, end, RunState::Free));
        }
    }
    out
}

fn run(start: usize, end: usize, state: RunState) -> Run {
    Run {
        base: start,
        npages: (end - start) / PAGE_SIZE,
        state,
    }
}

/// Cuts runs at 64 MiB arena boundaries.
fn split_at_arenas(runs: &[Run]) -> Vec<Run> {
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let end = r.base + r.npages * PAGE_SIZE;
        let mut at = r.base;
        while at < end {
            let next = ((at / ARENA_SIZE + 1) * ARENA_SIZE).min(end);
            out.push(run(at, next, r.state));
            at = next;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: usize = PAGE_SIZE;
    const B: usize = 1 << 30;
    use RunState::{Free as F, Released as R};

    #[test]
    fn free_runs_split_into_backed_and_released_parts() {
        type Runs = &'static [(usize, usize)];
        type Want = &'static [(usize, usize, RunState)];
        // (free runs, released runs) -> (start page, pages, state) from B
        let cases: &[(Runs, Runs, Want)] = &[
            (&[(B, 10)], &[], &[(0, 10, F)]),
            (&[(B, 10)], &[(B, 10)], &[(0, 10, R)]),
            (
                &[(B, 10)],
                &[(B + 2 * P, 3)],
                &[(0, 2, F), (2, 3, R), (5, 5, F)],
            ),
            (
                &[(B, 4), (B + 6 * P, 4)],
                &[(B + 2 * P, 2), (B + 6 * P, 1), (B + 8 * P, 2)],
                &[(0, 2, F), (2, 2, R), (6, 1, R), (7, 1, F), (8, 2, R)],
            ),
            (&[], &[], &[]),
        ];
        for (free, released, want) in cases {
            let got: Vec<_> = split_idle(free, released)
                .iter()
                .map(|r| ((r.base - B) / P, r.npages, r.state))
                .collect();
            assert_eq!(&got, want, "free {free:?} released {released:?}");
        }
    }

    #[test]
    fn runs_are_cut_at_arena_boundaries() {
        let a = 4 * ARENA_SIZE;
        let per = ARENA_SIZE / P;
        type Want<'a> = &'a [(usize, usize)];
        // (run base, pages) -> the pieces
        let cases: &[(usize, usize, Want<'_>)] = &[
            (a, 10, &[(a, 10)]),
            (
                a + ARENA_SIZE - 2 * P,
                5,
                &[(a + ARENA_SIZE - 2 * P, 2), (a + ARENA_SIZE, 3)],
            ),
            (
                a,
                2 * per + 1,
                &[(a, per), (a + ARENA_SIZE, per), (a + 2 * ARENA_SIZE, 1)],
            ),
        ];
        for &(base, npages, want) in cases {
            let got: Vec<_> = split_at_arenas(&[run(base, base + npages * P, F)])
                .iter()
                .map(|r| (r.base, r.npages))
                .collect();
            assert_eq!(got, want);
        }
    }
}
