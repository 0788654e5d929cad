//! Which free pages have been given back to the OS (Go's scavenged bits): an ordered set of
//! disjoint page runs, always a subset of the page heap's free runs.
//!
//! Pure bookkeeping (no `unsafe`, no OS calls), tested by tables; `PageHeap` owns one under
//! the heap lock and keeps it in step: releasing adds runs, allocating pages takes whatever
//! part of them was released (the OS hands those back zero-filled on first touch). See the
//! allocator overview (`crate::design::allocator`).

use super::PAGE_SIZE;
use std::collections::BTreeMap;

/// Released page runs.
#[derive(Debug, Default)]
pub(crate) struct Released {
    /// run start address -> pages
    runs: BTreeMap<usize, usize>,
    pages: usize,
}

impl Released {
    pub(crate) const fn new() -> Self {
        Released {
            runs: BTreeMap::new(),
            pages: 0,
        }
    }

    /// Released pages in total.
    pub(crate) fn pages(&self) -> usize {
        self.pages
    }

    /// The released runs, lowest address first (for heap snapshots).
    pub(crate) fn runs_from_bottom(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.runs.iter().map(|(&a, &n)| (a, n))
    }

    /// Records `[addr, addr + npages pages)` as released; it must not be released already.
    pub(crate) fn add(&mut self, addr: usize, npages: usize) {
        debug_assert!(npages > 0 && addr % PAGE_SIZE == 0);
        debug_assert!(
            self.overlapping(addr, npages).is_empty(),
            "pages released twice"
        );
        let (mut start, mut len) = (addr, npages);
        if let Some((&p, &pl)) = self.runs.range(..addr).next_back() {
            if p + pl * PAGE_SIZE == addr {
                self.runs.remove(&p);
                start = p;
                len += pl;
            }
        }
        if let Some(nl) = self.runs.remove(&(addr + npages * PAGE_SIZE)) {
            len += nl;
        }
        self.runs.insert(start, len);
        self.pages += npages;
    }

    /// `[addr, addr + npages pages)` is being allocated: forgets the released part of it.
    /// Returns the number of pages that were released.
    pub(crate) fn take(&mut self, addr: usize, npages: usize) -> usize {
        let end = addr + npages * PAGE_SIZE;
        let mut taken = 0;
        for (s, len) in self.overlapping(addr, npages) {
            self.runs.remove(&s);
            let e = s + len * PAGE_SIZE;
            taken += (e.min(end) - s.max(addr)) / PAGE_SIZE;
            if s < addr {
                self.runs.insert(s, (addr - s) / PAGE_SIZE);
            }
            if e > end {
                self.runs.insert(end, (e - end) / PAGE_SIZE);
            }
        }
        self.pages -= taken;
        taken
    }

    /// The parts of `[addr, addr + npages pages)` not released, highest address first.
    pub(crate) fn unreleased_in(&self, addr: usize, npages: usize) -> Vec<(usize, usize)> {
        let end = addr + npages * PAGE_SIZE;
        let mut gaps = Vec::new();
        let mut top = end;
        for (s, len) in self.overlapping(addr, npages) {
            let e = s + len * PAGE_SIZE;
            if e < top {
                gaps.push((e, (top - e) / PAGE_SIZE));
            }
            top = s.max(addr);
        }
        if top > addr {
            gaps.push((addr, (top - addr) / PAGE_SIZE));
        }
        gaps
    }

    /// Released runs overlapping the range, highest first.
    fn overlapping(&self, addr: usize, npages: usize) -> Vec<(usize, usize)> {
        let end = addr + npages * PAGE_SIZE;
        self.runs
            .range(..end)
            .rev()
            .take_while(|(&s, &len)| s + len * PAGE_SIZE > addr)
            .map(|(&s, &len)| (s, len))
            .collect()
    }

    #[cfg(test)]
    fn runs(&self) -> Vec<(usize, usize)> {
        self.runs.iter().map(|(&a, &n)| (a, n)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: usize = PAGE_SIZE;
    const B: usize = 1 << 30;

    #[test]
    fn adds_merge_with_neighbours() {
        let mut r = Released::new();
        r.add(B, 2);
        r.add(B + 4 * P, 2);
        r.add(B + 2 * P, 2);
        assert_eq!(r.runs(), vec![(B, 6)]);
        assert_eq!(r.pages(), 6);
    }

    #[test]
    fn take_splits_runs_and_counts_only_released_pages() {
        type Runs = &'static [(usize, usize)];
        // (released runs, take range) -> (pages taken, runs left)
        let cases: &[(Runs, (usize, usize), usize, Runs)] = &[
            (&[(B, 10)], (B + 2 * P, 3), 3, &[(B, 2), (B + 5 * P, 5)]),
            (&[(B, 10)], (B, 10), 10, &[]),
            (
                &[(B, 2), (B + 4 * P, 2)],
                (B + P, 4),
                2,
                &[(B, 1), (B + 5 * P, 1)],
            ),
            (&[(B, 2)], (B + 2 * P, 5), 0, &[(B, 2)]),
            (&[(B + 3 * P, 2)], (B, 20), 2, &[]),
        ];
        for (runs, (addr, n), taken, left) in cases {
            let mut r = Released::new();
            for &(a, n) in *runs {
                r.add(a, n);
            }
            let before = r.pages();
            assert_eq!(r.take(*addr, *n), *taken, "{runs:?} take {n} at {addr:#x}");
            assert_eq!(r.runs(), *left);
            assert_eq!(r.pages(), before - taken);
        }
    }

    #[test]
    fn unreleased_parts_come_highest_first() {
        let mut r = Released::new();
        r.add(B + 2 * P, 2);
        r.add(B + 6 * P, 1);
        assert_eq!(
            r.unreleased_in(B, 10),
            vec![(B + 7 * P, 3), (B + 4 * P, 2), (B, 2)]
        );
        assert_eq!(r.unreleased_in(B + 2 * P, 2), vec![]);
        assert_eq!(r.unreleased_in(B + 3 * P, 3), vec![(B + 4 * P, 2)]);
    }
}
