//! The page heap (Go's mheap page allocator): free runs of 8 KiB pages, best-fit
//! allocation, coalescing on free, growth in 4 MiB steps out of 64 MiB arena reservations.
//!
//! The runs themselves are `FreeRuns` (`free_runs.rs`, pure bookkeeping). `PageHeap` adds
//! growth from the OS, the released pages (`released.rs`), the pages a scavenger is
//! releasing (taken out of the runs, released without the heap lock, put back), and keeps
//! up to 4,096 freed single pages out of the runs (`singles`), handed out again newest
//! first: the sweep frees and the allocator cuts one-page spans at every cycle, and each
//! trip through the runs' ordered maps was slow enough, in the heap lock, to keep threads
//! waiting for it. All of it is protected by the heap lock (`Heap::pages`). See the
//! allocator overview (`crate::design::allocator`).

use super::free_runs::FreeRuns;
use super::released::Released;
use super::{arena, os, ARENA_SIZE, PAGE_SIZE};
use std::collections::BTreeMap;

/// Gives the ranges [`PageHeap::take_unreleased`] took back to the OS, in order, up to the
/// first the OS refuses; returns how many it took. Called without the heap lock (the point
/// of taking them: Go's `scavengeOne` releases outside it too).
///
/// # Safety
///
/// The ranges were taken by `take_unreleased` and not yet put back: mapped pages that
/// nothing uses or allocates until [`PageHeap::put_released`].
pub(crate) unsafe fn release_taken(taken: &[(usize, usize)]) -> usize {
    taken
        .iter()
        // SAFETY: the contract.
        .take_while(|&&(addr, n)| unsafe { os::release(addr, n * PAGE_SIZE) }.is_ok())
        .count()
}

/// The heap grows by at least this much at a time (Go's `mheap.grow`: 512 pages).
pub(crate) const GROW_STEP: usize = 4 << 20;

/// The scavenger's unit of density (Go's 4 MiB palloc chunk).
const CHUNK_SIZE: usize = 4 << 20;

/// A chunk with at least this many of its 512 pages in use (96%, Go's
/// `scavChunkHiOccFrac`) is dense: the background scavenger leaves its free pages alone.
const DENSE_PAGES: usize = CHUNK_SIZE / PAGE_SIZE * 96 / 100;

/// Most free single pages kept out of `FreeRuns` (32 MiB, in a 32 KiB vector).
const SINGLES_MAX: usize = 4096;

/// Single pages merged into the runs at a time (when a longer run is wanted and none is
/// free, or the scavenger finds too little elsewhere): one ordered-map update each, so this
/// bounds each merge's time in the heap lock (about 0.3 ms).
const MERGE_STEP: usize = 1024;

/// The page heap: free runs plus the arenas mapped so far.
#[derive(Debug, Default)]
pub(crate) struct PageHeap {
    /// Free runs, except the pages in `singles`: reach them through `free_pages`,
    /// `free_runs` and `take_unreleased`, which see both.
    free: FreeRuns,
    /// Free single pages, most recently freed last, kept out of `free` (at most
    /// `SINGLES_MAX`; merged into it oldest first, `MERGE_STEP` at a time). A span of one
    /// page (most small size classes) is freed by the sweep and cut again at every cycle;
    /// through `FreeRuns` that was two ordered-map updates each way, most of
    /// `Heap::free_span`'s time and a third of `Heap::new_span`'s, in the heap lock every
    /// thread that needs a span waits for. These pages were in use just before,
    /// so none is released, and they still count as in use in `chunk_inuse` (merging them
    /// into `free` uncounts them). The scavenger takes them last, as it leaves dense chunks
    /// alone: they are the pages about to be reused.
    singles: Vec<usize>,
    /// Bytes handed to the page allocator (Go's `HeapSys`): the heap grows by `GROW_STEP`s
    /// out of arena reservations, whose untouched rest costs address space, not memory.
    pub(crate) mapped_bytes: usize,
    /// Pages handed out as spans.
    pub(crate) inuse_pages: usize,
    /// Arenas reserved (for the metadata statistics).
    pub(crate) arenas: usize,
    /// Free pages given back to the OS (Go's `HeapReleased`), a subset of `free`.
    pub(crate) released: Released,
    /// Free pages out of `free` while a scavenger releases them without the heap lock
    /// (`take_unreleased` to `put_released`): neither free nor in use meanwhile, so nobody
    /// allocates them; reported as free by `free_runs`.
    in_flight: Vec<(usize, usize)>,
    /// In-use pages per `CHUNK_SIZE` chunk (chunk index -> pages; absent when 0), for the
    /// scavenger's dense-chunk rule.
    chunk_inuse: BTreeMap<usize, usize>,
    /// The unused tail of the last reservation: `[reserve_base, reserve_end)`.
    reserve_base: usize,
    reserve_end: usize,
    /// Every reservation from the OS, `(base, bytes)` in address order (for heap
    /// snapshots: `super::snapshot`).
    reservations: Vec<(usize, usize)>,
}

impl PageHeap {
    pub(crate) const fn new() -> Self {
        PageHeap {
            free: FreeRuns::new(),
            singles: Vec::new(),
            mapped_bytes: 0,
            inuse_pages: 0,
            arenas: 0,
            released: Released::new(),
            in_flight: Vec::new(),
            chunk_inuse: BTreeMap::new(),
            reserve_base: 0,
            reserve_end: 0,
            reservations: Vec::new(),
        }
    }

    /// Allocates `npages` contiguous pages, growing the heap if needed. Returns their
    /// address and whether they may hold old bytes (false when every page is fresh from the
    /// OS or was released to it: such pages read as zeros). `None` only when the OS refuses
    /// more address space.
    pub(crate) fn alloc(&mut self, npages: usize) -> Option<(usize, bool)> {
        if npages == 1 {
            if let Some(addr) = self.singles.pop() {
                // Counted in use in `chunk_inuse` all along, and never released.
                self.inuse_pages += 1;
                return Some((addr, true));
            }
        }
        let addr = loop {
            if let Some(a) = self.free.alloc(npages) {
                break a;
            }
            if self.singles.is_empty() {
                self.grow(npages)?;
                break self.free.alloc(npages)?;
            }
            // Some of the single pages may join a run long enough.
            self.merge_singles(MERGE_STEP);
        };
        self.inuse_pages += npages;
        self.count_inuse(addr, npages, false);
        // Released pages come back zero-filled from the OS on first touch.
        let zeroed = self.released.take(addr, npages);
        Some((addr, zeroed < npages))
    }

    /// Free pages, released or not.
    pub(crate) fn free_pages(&self) -> usize {
        self.free.free_pages() + self.singles.len()
    }

    /// The free runs, lowest address first (for heap snapshots): merges the single pages
    /// into them first, and counts the pages a scavenger is releasing as free (runs of
    /// their own: two runs may touch).
    pub(crate) fn free_runs(&mut self) -> Vec<(usize, usize)> {
        self.merge_singles(usize::MAX);
        let mut runs: Vec<(usize, usize)> = self.free.runs_from_bottom().collect();
        runs.extend_from_slice(&self.in_flight);
        runs.sort_unstable();
        runs
    }

    /// Moves the `n` oldest single pages (or all) into the free runs.
    fn merge_singles(&mut self, n: usize) {
        let n = n.min(self.singles.len());
        for i in 0..n {
            let addr = self.singles[i];
            self.count_inuse(addr, 1, true);
            self.free.free(addr, 1);
        }
        self.singles.drain(..n);
    }

    /// Takes up to `max_pages` free, unreleased pages out of the free runs for the caller to
    /// release to the OS without the heap lock (Go's `scavengeOne` does the same: the
    /// `madvise` of a batch took 0.1 ms, and a `free_os_memory` of 1 GiB held every other
    /// allocating thread off the lock for up to 56 ms), then to hand back with
    /// [`put_released`](Self::put_released). Appends them to `out` as `(address, pages)`
    /// ranges and returns their pages; 0 when no page qualifies. The choice: from the free
    /// run with the highest address that has any (Go scavenges from the top, so the heap's
    /// low end stays dense), and from the single pages last. With `skip_dense`, pages in
    /// chunks at least 96% in use stay (Go's background rule: their few free pages are
    /// about to be reused, and releasing them would break up the huge pages around them).
    pub(crate) fn take_unreleased(
        &mut self,
        max_pages: usize,
        skip_dense: bool,
        out: &mut Vec<(usize, usize)>,
    ) -> usize {
        let mut done = self.take_chosen(max_pages, skip_dense, out);
        while done < max_pages && !self.singles.is_empty() {
            self.merge_singles(MERGE_STEP);
            done += self.take_chosen(max_pages - done, skip_dense, out);
        }
        done
    }

    /// `choose_unreleased`, then takes what it chose out of the free runs (so that a
    /// second choice does not pick the same pages).
    fn take_chosen(
        &mut self,
        max_pages: usize,
        skip_dense: bool,
        out: &mut Vec<(usize, usize)>,
    ) -> usize {
        let first = out.len();
        let done = self.choose_unreleased(max_pages, skip_dense, out);
        for &(addr, n) in &out[first..] {
            self.free.take_range(addr, n);
            self.in_flight.push((addr, n));
        }
        done
    }

    /// Hands back the ranges [`take_unreleased`](Self::take_unreleased) took: free again,
    /// the first `released` of them released too (what [`release_taken`] gave the OS).
    pub(crate) fn put_released(&mut self, taken: &[(usize, usize)], released: usize) {
        for (k, &(addr, npages)) in taken.iter().enumerate() {
            let i = self
                .in_flight
                .iter()
                .position(|&r| r == (addr, npages))
                .expect("pages put back that were not taken");
            self.in_flight.swap_remove(i);
            self.free.free(addr, npages);
            if k < released {
                self.released.add(addr, npages);
            }
        }
    }

    /// Takes, releases and puts back up to `max_pages` pages in one go (the tests' way to
    /// run `Heap::scavenge`'s steps on a heap of their own). Returns the pages released.
    #[cfg(test)]
    pub(crate) fn scavenge(&mut self, max_pages: usize, skip_dense: bool) -> usize {
        let mut taken = Vec::new();
        self.take_unreleased(max_pages, skip_dense, &mut taken);
        // SAFETY: just taken, not put back.
        let released = unsafe { release_taken(&taken) };
        self.put_released(&taken, released);
        taken[..released].iter().map(|r| r.1).sum()
    }

    /// `take_unreleased`'s choice over the free runs only, appended to `out` (not taken).
    fn choose_unreleased(
        &self,
        max_pages: usize,
        skip_dense: bool,
        out: &mut Vec<(usize, usize)>,
    ) -> usize {
        let mut done = 0;
        for (start, npages) in self.free.runs_from_top() {
            for (gap, gap_pages) in self.released.unreleased_in(start, npages) {
                // Chunk by chunk, from the gap's top.
                let mut top = gap + gap_pages * PAGE_SIZE;
                while top > gap {
                    let chunk = (top - 1) / CHUNK_SIZE;
                    let lo = (chunk * CHUNK_SIZE).max(gap);
                    if !(skip_dense && self.chunk_is_dense(chunk)) {
                        let n = ((top - lo) / PAGE_SIZE).min(max_pages - done);
                        out.push((top - n * PAGE_SIZE, n));
                        done += n;
                        if done == max_pages {
                            return done;
                        }
                    }
                    top = lo;
                }
            }
        }
        done
    }

    /// Every reservation from the OS, `(base, bytes)`, and the part of the last one not
    /// yet handed to the page allocator, `[start, end)` (reserved address space, not heap).
    pub(crate) fn address_space(&self) -> (&[(usize, usize)], (usize, usize)) {
        (&self.reservations, (self.reserve_base, self.reserve_end))
    }

    fn chunk_is_dense(&self, chunk: usize) -> bool {
        self.chunk_inuse.get(&chunk).copied().unwrap_or(0) >= DENSE_PAGES
    }

    /// Adds (or, with `sub`, removes) `npages` in-use pages from `addr` to the per-chunk
    /// counts.
    fn count_inuse(&mut self, addr: usize, npages: usize, sub: bool) {
        let (mut a, end) = (addr, addr + npages * PAGE_SIZE);
        while a < end {
            let chunk = a / CHUNK_SIZE;
            let next = ((chunk + 1) * CHUNK_SIZE).min(end);
            let n = (next - a) / PAGE_SIZE;
            let c = self.chunk_inuse.entry(chunk).or_insert(0);
            if sub {
                *c -= n;
                if *c == 0 {
                    self.chunk_inuse.remove(&chunk);
                }
            } else {
                *c += n;
            }
            a = next;
        }
    }

    /// Returns pages to the free runs (a single page to `singles`, while there is room).
    pub(crate) fn free(&mut self, addr: usize, npages: usize) {
        self.inuse_pages -= npages;
        if npages == 1 && self.singles.len() < SINGLES_MAX {
            if self.singles.capacity() == 0 {
                // Once, at its full size: no growth in the heap lock later.
                self.singles.reserve_exact(SINGLES_MAX);
            }
            self.singles.push(addr);
            return;
        }
        self.count_inuse(addr, npages, true);
        self.free.free(addr, npages);
    }

    /// Adds at least `npages` contiguous free pages, rounded up to `GROW_STEP`, from the
    /// current reservation, reserving new arenas when it is too short.
    fn grow(&mut self, npages: usize) -> Option<()> {
        let ask = npages
            .checked_mul(PAGE_SIZE)?
            .checked_next_multiple_of(GROW_STEP)?;
        if self.reserve_end - self.reserve_base < ask {
            // The old tail cannot hold the run: hand it over as it is, then reserve anew.
            let (base, end) = (self.reserve_base, self.reserve_end);
            if end > base {
                self.add(base, end - base);
            }
            let bytes = ask.checked_next_multiple_of(ARENA_SIZE)?;
            let base = os::map_aligned(bytes, ARENA_SIZE).ok()?;
            for a in (base..base + bytes).step_by(ARENA_SIZE) {
                arena::register(a);
            }
            self.arenas += bytes / ARENA_SIZE;
            self.reserve_base = base;
            self.reserve_end = base + bytes;
            // In address order, for the span walk (`Pages::spans_from`).
            let at = self.reservations.partition_point(|&(b, _)| b < base);
            self.reservations.insert(at, (base, bytes));
        }
        let base = self.reserve_base;
        self.reserve_base += ask;
        self.add(base, ask);
        Some(())
    }

    /// Adds fresh pages: free, and counted as released (as Go counts new heap memory
    /// scavenged) since the OS has not backed them with memory yet.
    fn add(&mut self, base: usize, bytes: usize) {
        self.mapped_bytes += bytes;
        self.free.free(base, bytes / PAGE_SIZE);
        self.released.add(base, bytes / PAGE_SIZE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: usize = PAGE_SIZE;

    #[test]
    fn the_heap_grows_in_steps_not_whole_arenas() {
        crate::alloc::arena::init();
        let mut h = PageHeap::new();
        h.alloc(1).unwrap();
        assert_eq!((h.mapped_bytes, h.arenas), (GROW_STEP, 1));
        // 600 pages (4.7 MiB) need two steps; the first step's remaining 511 pages stay free.
        h.alloc(600).unwrap();
        assert_eq!(h.mapped_bytes, 3 * GROW_STEP);
        assert_eq!(h.free.free_pages(), 3 * GROW_STEP / P - 601);
        // A run larger than what is left of the arena: the tail is handed over, a new
        // reservation serves the run.
        h.alloc(ARENA_SIZE / P).unwrap();
        assert_eq!(h.arenas, 2);
        assert_eq!(h.mapped_bytes, 2 * ARENA_SIZE);
        assert_eq!(h.inuse_pages, 601 + ARENA_SIZE / P);
    }

    #[test]
    fn fresh_and_released_pages_need_no_zeroing_reused_ones_do() {
        crate::alloc::arena::init();
        let mut h = PageHeap::new();
        let (a, dirty) = h.alloc(4).unwrap();
        assert!(!dirty, "fresh pages read as zeros");
        // The rest of the growth step is fresh too, and counted as released.
        assert_eq!(h.released.pages(), GROW_STEP / P - 4);
        h.free(a, 4);
        assert_eq!(
            h.alloc(4).unwrap(),
            (a, true),
            "reused pages hold old bytes"
        );
        h.free(a, 4);
        // Released again (the other pages already are): zeros once more.
        assert_eq!(h.scavenge(usize::MAX, false), 4);
        assert_eq!(h.alloc(4).unwrap(), (a, false));
        // A run straddling released and reused pages needs zeroing.
        h.free(a, 4);
        assert_eq!(h.alloc(8).unwrap(), (a, true));
    }

    #[test]
    fn pages_being_released_are_neither_allocated_nor_lost() {
        crate::alloc::arena::init();
        let mut h = PageHeap::new();
        let (a, _) = h.alloc(16).unwrap();
        h.free(a, 16);
        let free = h.free_pages();
        // Taken for release: the 16 reused pages (the rest of the step is released already).
        let mut taken = Vec::new();
        assert_eq!(h.take_unreleased(usize::MAX, false, &mut taken), 16);
        assert_eq!(taken, vec![(a, 16)]);
        assert_eq!(h.free_pages(), free - 16);
        // Not allocatable meanwhile, but a snapshot still counts them as free.
        let (b, _) = h.alloc(16).unwrap();
        assert!(
            b + 16 * P <= a || b >= a + 16 * P,
            "in-flight pages handed out"
        );
        h.free(b, 16);
        let reported: usize = h.free_runs().iter().map(|r| r.1).sum();
        assert_eq!(reported, free);
        // Back: free and released, and coalesced with their neighbours (`b`'s pages were
        // reused, so they are not released any more).
        h.put_released(&[(a, 16)], 1);
        assert_eq!(h.free_pages(), free);
        assert_eq!(h.released.pages(), free - 16);
        assert_eq!(h.free.runs().len(), 1);
        // A failed release puts them back unreleased.
        taken.clear();
        assert_eq!(h.take_unreleased(usize::MAX, false, &mut taken), 16);
        h.put_released(&taken, 0);
        assert_eq!(h.free_pages(), free);
        assert_eq!(h.released.pages(), free - 16);
    }

    #[test]
    fn the_background_rule_leaves_dense_chunks_alone() {
        crate::alloc::arena::init();
        let mut h = PageHeap::new();
        // A whole chunk in use (the reservation is chunk-aligned), then 12 pages at its top
        // freed: 500 of 512 in use is dense.
        let (a, _) = h.alloc(CHUNK_SIZE / P).unwrap();
        assert_eq!(a % CHUNK_SIZE, 0);
        let top = a + CHUNK_SIZE - 12 * P;
        h.free(top, 12);
        assert_eq!(h.scavenge(usize::MAX, true), 0, "dense chunk scavenged");
        // 100 more free pages: 400 in use is not dense any more.
        h.free(a, 100);
        assert_eq!(h.scavenge(usize::MAX, true), 112);
        // The limit's rule ignores density.
        h.alloc(CHUNK_SIZE / P).unwrap();
        let (b, _) = h.alloc(20).unwrap();
        h.free(b, 20);
        assert!(h.scavenge(usize::MAX, false) >= 20);
    }

    #[test]
    fn single_pages_come_back_newest_first_and_merge_when_a_run_needs_them() {
        crate::alloc::arena::init();
        let mut h = PageHeap::new();
        // A whole growth step in use, in single pages.
        let pages: Vec<usize> = (0..GROW_STEP / P).map(|_| h.alloc(1).unwrap().0).collect();
        let mapped = h.mapped_bytes;
        assert_eq!(h.free_pages(), 0);
        // Every other page freed: they wait as single pages, newest first out.
        for &a in pages.iter().step_by(2) {
            h.free(a, 1);
        }
        assert_eq!(h.free_pages(), pages.len() / 2);
        assert_eq!(h.inuse_pages, pages.len() / 2);
        let last = pages[pages.len() - 2];
        assert_eq!(h.alloc(1), Some((last, true)), "reused, so not zeroed");
        h.free(last, 1);
        // No two free pages are adjacent: a 2-page run needs the heap to grow, after the
        // single pages were merged (and found wanting).
        let (two, _) = h.alloc(2).unwrap();
        assert!(h.singles.is_empty());
        assert!(two >= pages[0] + GROW_STEP || two < pages[0]);
        assert!(h.mapped_bytes > mapped);
        h.free(two, 2);
        // Freeing the odd pages too joins everything (both growth steps, one after the other
        // in the reservation) into one run, once merged.
        for &a in pages.iter().skip(1).step_by(2) {
            h.free(a, 1);
        }
        let runs = h.free_runs();
        assert!(h.singles.is_empty());
        assert_eq!(runs, vec![(pages[0], h.mapped_bytes / P)]);
        assert_eq!(h.inuse_pages, 0);
        assert_eq!(h.free_pages() * P, h.mapped_bytes);
    }

    #[test]
    fn the_scavenger_takes_single_pages_last() {
        crate::alloc::arena::init();
        let mut h = PageHeap::new();
        let (a, _) = h.alloc(CHUNK_SIZE / P).unwrap();
        assert_eq!(a % CHUNK_SIZE, 0);
        // The chunk's top 112 pages freed: 100 as one run, 12 as single pages.
        h.free(a + (CHUNK_SIZE / P - 112) * P, 100);
        for i in 0..12 {
            h.free(a + CHUNK_SIZE - (i + 1) * P, 1);
        }
        assert_eq!(h.singles.len(), 12);
        // 100 pages wanted: the run has them, the single pages stay.
        assert_eq!(h.scavenge(100, true), 100);
        assert_eq!(h.singles.len(), 12);
        // More wanted than the runs hold: the single pages are merged and released too.
        assert_eq!(h.scavenge(100, true), 12);
        assert!(h.singles.is_empty());
        assert_eq!((h.free_pages(), h.released.pages()), (112, 112));
        // Both in one call: the run's pages once, then the single pages.
        let (b, _) = h.alloc(112).unwrap();
        h.free(b, 100);
        for i in 100..112 {
            h.free(b + i * P, 1);
        }
        let mut taken = Vec::new();
        assert_eq!(h.take_unreleased(200, true, &mut taken), 112);
        let mut pages: Vec<usize> = taken
            .iter()
            .flat_map(|&(addr, n)| (0..n).map(move |i| addr + i * P))
            .collect();
        pages.sort_unstable();
        pages.dedup();
        assert_eq!(pages.len(), 112, "a page taken twice");
        h.put_released(&taken, taken.len());
        assert_eq!((h.free_pages(), h.released.pages()), (112, 112));
    }
}
