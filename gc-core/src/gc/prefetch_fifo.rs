//! The marker's prefetch FIFO (Cher, Hosking and Vijaykumar, "Software prefetching for
//! mark-sweep garbage collection", ASPLOS 2004): grey items wait here a few scans while
//! their cache lines load, so one object's miss overlaps the scanning of others.
//!
//! `drain` (`drain.rs`) scans depth first from its buffer's newest item, which streams
//! through memory when a structure was allocated in the order it is traced (a tree built
//! bottom-up) and the hardware prefetcher follows. An item that is not near the object
//! scanned last goes through this FIFO instead. It matters most for objects with
//! `GcCell`s: the cell's read lock is a locked instruction, after which the CPU starts no
//! later load early, so without the prefetch every such object's miss is paid in full.
//!
//! Plain memory of the draining thread (no sharing); its items are grey objects held
//! outside every queue, so `drain` empties it before it returns. Collector overview:
//! `crate::design::collector`, "Concurrent mark".

/// Items in flight: enough to cover a miss to memory with the scanning of the objects
/// before it (measured: 4, 8 and 16 on GCBench and binary-trees; BENCHMARKS.md).
const LEN: usize = 16;

/// Distance from the last scanned object within which the next one is scanned without
/// a prefetch: the same or the adjacent cache line.
const NEAR: usize = 128;

/// Whether `item` is close enough to `last` to be in cache or streamed in already.
#[inline(always)]
pub(crate) fn is_near(item: usize, last: usize) -> bool {
    item.abs_diff(last) <= NEAR
}

/// A ring of queue items (object addresses, or tagged span addresses: a tag in the low
/// bits stays within the line prefetched).
#[derive(Default)]
pub(crate) struct PrefetchFifo {
    items: [usize; LEN],
    head: usize,
    len: usize,
}

impl PrefetchFifo {
    /// Starts loading `item`'s line and queues it; when full, returns the oldest item.
    #[inline]
    pub(crate) fn push_or_swap(&mut self, item: usize) -> Option<usize> {
        crate::sync::prefetch_read(item);
        if self.len < LEN {
            self.items[(self.head + self.len) % LEN] = item;
            self.len += 1;
            return None;
        }
        let oldest = std::mem::replace(&mut self.items[self.head], item);
        self.head = (self.head + 1) % LEN;
        Some(oldest)
    }

    /// The oldest item, if any.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let item = self.items[self.head];
        self.head = (self.head + 1) % LEN;
        self.len -= 1;
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_leave_in_the_order_they_came() {
        let mut f = PrefetchFifo::default();
        for i in 0..LEN {
            assert_eq!(f.push_or_swap(8 * (i + 1)), None, "room for {LEN}");
        }
        // Full: each push hands back the oldest, across the ring's wrap.
        for i in 0..3 * LEN {
            assert_eq!(f.push_or_swap(8 * (LEN + i + 1)), Some(8 * (i + 1)));
        }
        let rest: Vec<usize> = std::iter::from_fn(|| f.pop()).collect();
        let want: Vec<usize> = (3 * LEN + 1..=4 * LEN).map(|i| 8 * i).collect();
        assert_eq!(rest, want);
        assert_eq!(f.pop(), None);
    }

    #[test]
    fn pop_and_push_interleave_without_losing_items() {
        let mut f = PrefetchFifo::default();
        let mut out = Vec::new();
        let mut next = 0;
        for round in 0..100 {
            for _ in 0..round % 5 + 1 {
                next += 8;
                out.extend(f.push_or_swap(next));
            }
            out.extend(f.pop());
        }
        out.extend(std::iter::from_fn(|| f.pop()));
        let want: Vec<usize> = (1..=next / 8).map(|i| 8 * i).collect();
        assert_eq!(out, want, "every item once, oldest first");
    }

    #[test]
    fn near_means_the_same_or_the_adjacent_line() {
        let base = 1 << 20;
        assert!(is_near(base + 64, base));
        assert!(is_near(base - 128, base));
        assert!(!is_near(base + 129, base));
        assert!(!is_near(base - 4096, base));
    }
}
