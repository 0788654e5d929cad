//! Free page runs (`FreeRuns`): the page heap's pure bookkeeping of free pages, indexed by
//! address (for coalescing) and by size (for best fit), with no `unsafe` and no OS calls,
//! tested by tables. Go uses a radix tree of bitmap summaries; a pair of ordered maps
//! gives the same best-fit-lowest-address answers at this project's scale and is far
//! simpler. Protected by the heap lock, through the page heap that owns it
//! (`pageheap.rs`). See the allocator overview (`crate::design::allocator`).

use super::PAGE_SIZE;
use std::collections::{BTreeMap, BTreeSet};

/// Free page runs, indexed by address (for coalescing) and by size (for best fit).
#[derive(Debug, Default)]
pub(crate) struct FreeRuns {
    /// run start address -> pages in the run
    by_addr: BTreeMap<usize, usize>,
    /// (pages, start address) for best-fit search
    by_size: BTreeSet<(usize, usize)>,
    /// total free pages
    free_pages: usize,
}

impl FreeRuns {
    pub(crate) const fn new() -> Self {
        FreeRuns {
            by_addr: BTreeMap::new(),
            by_size: BTreeSet::new(),
            free_pages: 0,
        }
    }

    /// Total free pages.
    pub(crate) fn free_pages(&self) -> usize {
        self.free_pages
    }

    /// Takes `npages` from the smallest run that fits (lowest address among equals);
    /// returns its start address.
    pub(crate) fn alloc(&mut self, npages: usize) -> Option<usize> {
        debug_assert!(npages > 0);
        let &(size, addr) = self.by_size.range((npages, 0)..).next()?;
        self.remove(addr, size);
        if size > npages {
            self.insert(addr + npages * PAGE_SIZE, size - npages);
        }
        self.free_pages -= npages;
        Some(addr)
    }

    /// Returns `[addr, addr + npages pages)` and merges it with free neighbours.
    pub(crate) fn free(&mut self, addr: usize, npages: usize) {
        debug_assert!(npages > 0 && addr % PAGE_SIZE == 0);
        let mut start = addr;
        let mut len = npages;
        if let Some((&prev, &plen)) = self.by_addr.range(..addr).next_back() {
            debug_assert!(prev + plen * PAGE_SIZE <= addr, "double free of pages");
            if prev + plen * PAGE_SIZE == addr {
                self.remove(prev, plen);
                start = prev;
                len += plen;
            }
        }
        let end = addr + npages * PAGE_SIZE;
        if let Some(&nlen) = self.by_addr.get(&end) {
            self.remove(end, nlen);
            len += nlen;
        }
        debug_assert!(
            self.by_addr.range(addr..end).next().is_none(),
            "double free of pages"
        );
        self.insert(start, len);
        self.free_pages += npages;
    }

    /// Takes `[addr, addr + npages pages)`, which must lie within one free run, out of the
    /// runs (the rest of that run stays free).
    pub(crate) fn take_range(&mut self, addr: usize, npages: usize) {
        let (&start, &len) = self
            .by_addr
            .range(..=addr)
            .next_back()
            .expect("pages taken that are not free");
        let (end, run_end) = (addr + npages * PAGE_SIZE, start + len * PAGE_SIZE);
        assert!(end <= run_end, "pages taken that are not free");
        self.remove(start, len);
        if addr > start {
            self.insert(start, (addr - start) / PAGE_SIZE);
        }
        if run_end > end {
            self.insert(end, (run_end - end) / PAGE_SIZE);
        }
        self.free_pages -= npages;
    }

    fn insert(&mut self, addr: usize, npages: usize) {
        self.by_addr.insert(addr, npages);
        self.by_size.insert((npages, addr));
    }

    fn remove(&mut self, addr: usize, npages: usize) {
        self.by_addr.remove(&addr);
        self.by_size.remove(&(npages, addr));
    }

    /// The runs, in address order (for tests).
    #[cfg(test)]
    pub(crate) fn runs(&self) -> Vec<(usize, usize)> {
        self.by_addr.iter().map(|(&a, &n)| (a, n)).collect()
    }

    /// The runs, lowest address first (for heap snapshots).
    pub(crate) fn runs_from_bottom(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.by_addr.iter().map(|(&a, &n)| (a, n))
    }

    /// The runs, highest address first (for the scavenger).
    pub(crate) fn runs_from_top(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.by_addr.iter().rev().map(|(&a, &n)| (a, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: usize = PAGE_SIZE;
    const BASE: usize = 1 << 30;

    fn heap_with(pages: usize) -> FreeRuns {
        let mut f = FreeRuns::new();
        f.free(BASE, pages);
        f
    }

    #[test]
    fn a_range_taken_from_a_run_leaves_its_two_ends_free() {
        let mut r = heap_with(10);
        let base = r.runs()[0].0;
        r.take_range(base + 3 * P, 4);
        assert_eq!(r.runs(), vec![(base, 3), (base + 7 * P, 3)]);
        assert_eq!(r.free_pages(), 6);
        r.take_range(base, 3);
        assert_eq!(r.runs(), vec![(base + 7 * P, 3)]);
        r.free(base, 7);
        assert_eq!(r.runs(), vec![(base, 10)]);
        assert!(std::panic::catch_unwind(move || r.take_range(base + 9 * P, 2)).is_err());
    }

    #[test]
    fn best_fit_prefers_smallest_then_lowest() {
        let mut f = heap_with(100);
        let a = f.alloc(10).unwrap();
        let b = f.alloc(5).unwrap();
        let c = f.alloc(20).unwrap();
        assert_eq!((a, b, c), (BASE, BASE + 10 * P, BASE + 15 * P));
        f.free(a, 10); // hole of 10 at the bottom
        f.free(c, 20); // merges with the 65-page tail into 85
        assert_eq!(f.runs(), vec![(BASE, 10), (BASE + 15 * P, 85)]);
        // 8 pages: the 10-page hole is the best fit.
        assert_eq!(f.alloc(8), Some(BASE));
        assert_eq!(
            f.alloc(3),
            Some(BASE + 15 * P),
            "2-page remainder is too small"
        );
        assert_eq!(f.free_pages(), 100 - 5 - 8 - 3);
    }

    #[test]
    fn coalesces_both_neighbours() {
        let mut f = heap_with(30);
        let a = f.alloc(10).unwrap();
        let b = f.alloc(10).unwrap();
        let c = f.alloc(10).unwrap();
        assert_eq!(f.runs(), vec![]);
        f.free(a, 10);
        f.free(c, 10);
        assert_eq!(f.runs().len(), 2);
        f.free(b, 10);
        assert_eq!(f.runs(), vec![(BASE, 30)]);
        assert_eq!(f.free_pages(), 30);
    }

    #[test]
    fn exhaustion_returns_none() {
        let mut f = heap_with(4);
        assert!(f.alloc(5).is_none());
        assert!(f.alloc(4).is_some());
        assert!(f.alloc(1).is_none());
    }

    #[test]
    fn random_alloc_free_keeps_runs_disjoint_and_counted() {
        let mut f = heap_with(1024);
        let mut live: Vec<(usize, usize)> = Vec::new();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rnd = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..5000 {
            if rnd() % 2 == 0 || live.is_empty() {
                let n = (rnd() % 16 + 1) as usize;
                if let Some(a) = f.alloc(n) {
                    live.push((a, n));
                }
            } else {
                let i = (rnd() as usize) % live.len();
                let (a, n) = live.swap_remove(i);
                f.free(a, n);
            }
            let used: usize = live.iter().map(|x| x.1).sum();
            assert_eq!(f.free_pages() + used, 1024);
        }
        for (a, n) in live.drain(..) {
            f.free(a, n);
        }
        assert_eq!(f.runs(), vec![(BASE, 1024)]);
    }
}
