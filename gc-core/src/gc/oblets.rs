//! Oblets (Go's): a slice (`Gc<[T]>`) over `OBLET_SIZE` is marked in pieces of that size,
//! so that every worker and every mark assist can take part in one huge array's marking.
//! Its own grey item, scanned first, queues one item per further `OBLET_SIZE` bytes (the
//! address that many bytes into the object) and scans the elements that start in its
//! first piece; each further item scans the elements that start in its own piece (the
//! descriptor's `trace_range`, `object/slice.rs`). Any other object over `OBLET_SIZE` has
//! an opaque `Trace` impl: it is scanned whole, by background workers only (`Role::Assist`
//! in `drain.rs`). No shared state: the items travel in the mark queues like any other. See
//! the collector overview (`crate::design::collector`).

use super::mark::Tracer;
use crate::alloc::span::SpanPtr;
use crate::descriptor::TypeInfo;

/// Go's `maxObletBytes`: a slice larger than this is marked in pieces of this size; any
/// other object larger than this is scanned by background workers only.
pub(crate) const OBLET_SIZE: usize = 128 << 10;

/// The type of the huge object (over `OBLET_SIZE`, so alone in its span `s`) at `addr` or
/// holding `addr`.
fn huge_type(s: SpanPtr) -> &'static TypeInfo {
    // SAFETY: the object is grey (an item of a grey object's oblet included), so its
    // allocation happened-before this scan (`scan_mixed`); it is the span's slot 0.
    unsafe { s.one_type().unwrap_or_else(|| s.type_of(0)) }
}

/// Whether an assist must leave the huge object `s` holds to the background workers: its
/// type has no oblets (`Role::Assist`).
pub(super) fn opaque_huge(s: SpanPtr) -> bool {
    s.elemsize > OBLET_SIZE && huge_type(s).trace_range.is_none()
}

/// `scan_object` for an item in a span whose one object is over `OBLET_SIZE`. A slice is
/// marked in oblets (Go's): its own item queues one item per further `OBLET_SIZE` bytes
/// (the address that many bytes in) and scans the first oblet; an item past the object's
/// start scans the elements that start in its oblet. Any other type is scanned whole.
#[inline(never)]
pub(super) fn scan_huge(s: SpanPtr, addr: usize, tracer: &mut Tracer) {
    let ty = huge_type(s);
    let Some(trace_range) = ty.trace_range else {
        tracer.scanned_bytes += s.elemsize as u64;
        // SAFETY: `ty` is the descriptor recorded for this object, which starts at `addr`
        // (only slices queue items inside an object).
        return unsafe { (ty.trace)(addr as *const u8, tracer) };
    };
    let base = s.base;
    if addr == base {
        for oblet in (base + OBLET_SIZE..base + s.elemsize).step_by(OBLET_SIZE) {
            tracer.push(oblet);
        }
    }
    let from = addr - base;
    let to = (from + OBLET_SIZE).min(s.elemsize);
    tracer.scanned_bytes += (to - from) as u64;
    // SAFETY: `ty` is the descriptor recorded for the object at `base`, a slice whose
    // range trace reads only the elements that start in `[from, to)`.
    unsafe { trace_range(base as *const u8, from, to, tracer) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gc::local_queue::LocalQueue;
    use crate::gc::mark::scan_object;
    use crate::gc::span_cache::SpanCache;
    use crate::{Gc, Trace};
    use std::cell::RefCell;

    thread_local! {
        /// How often this thread traced each `Probe`, by index.
        static TRACED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    }

    /// 24 bytes, so that elements straddle oblet boundaries. Traced by a cycle elsewhere
    /// in the test process, it counts nothing (that thread's `TRACED` is empty).
    struct Probe {
        index: usize,
        _pad: [u64; 2],
    }

    // SAFETY: a `Probe` holds no handle.
    unsafe impl Trace for Probe {
        fn trace(&self, _: &mut Tracer) {
            TRACED.with(|t| {
                if let Some(c) = t.borrow_mut().get_mut(self.index) {
                    *c += 1;
                }
            });
        }
        unsafe fn root(&mut self) {}
        unsafe fn unroot(&mut self) {}
    }

    /// Scans the huge object at `base` as a drainer would: its item, then every item it
    /// queued. Returns the queued items (in the order popped) and the counts of `n` probes.
    fn scan_all(base: usize, n: usize) -> (Vec<usize>, Vec<u32>, u64) {
        TRACED.with(|t| *t.borrow_mut() = vec![0; n]);
        let queue = LocalQueue::private();
        let mut tracer = Tracer::new(&queue);
        scan_object(base, &mut tracer);
        let items: Vec<usize> = std::iter::from_fn(|| tracer.pop()).collect();
        for &item in &items {
            scan_object(item, &mut tracer);
        }
        assert!(tracer.pop().is_none(), "an oblet queues nothing more");
        let counts = TRACED.with(|t| std::mem::take(&mut *t.borrow_mut()));
        (items, counts, tracer.scanned_bytes)
    }

    #[test]
    fn a_huge_slice_is_marked_in_oblets_each_element_once() {
        let n = 5 * OBLET_SIZE / 24 + 7;
        let s: Gc<[Probe]> = (0..n)
            .map(|i| Probe {
                index: i,
                _pad: [0; 2],
            })
            .collect();
        let span = SpanCache::default().span_of(s.as_ptr() as usize);
        assert!(span.elemsize > 5 * OBLET_SIZE);
        assert!(!opaque_huge(span), "an assist may scan a slice's oblets");
        let (items, counts, scanned) = scan_all(span.base, n);
        // One item per further 128 KiB, popped last-queued first.
        let oblets = span.elemsize.div_ceil(OBLET_SIZE);
        let want: Vec<usize> = (1..oblets)
            .rev()
            .map(|k| span.base + k * OBLET_SIZE)
            .collect();
        assert_eq!(items, want);
        assert!(counts.iter().all(|&c| c == 1), "each element traced once");
        assert_eq!(
            scanned, span.elemsize as u64,
            "scan work is the object's size"
        );
        drop(s);
    }

    #[test]
    fn a_huge_object_of_another_type_is_scanned_whole_and_left_to_workers() {
        const N: usize = OBLET_SIZE / 24 + 100;
        let g = Gc::new(std::array::from_fn::<Probe, N, _>(|i| Probe {
            index: i,
            _pad: [0; 2],
        }));
        let span = SpanCache::default().span_of(&*g as *const _ as usize);
        assert!(span.elemsize > OBLET_SIZE);
        assert!(opaque_huge(span), "an assist leaves it to the workers");
        let (items, counts, scanned) = scan_all(span.base, N);
        assert!(items.is_empty(), "no oblets");
        assert!(counts.iter().all(|&c| c == 1), "each element traced once");
        assert_eq!(scanned, span.elemsize as u64);
        drop(g);
    }
}
