//! The per-thread cache (Go's mcache): one span per span class, the tiny block, and the
//! allocator's entry points `MCache::alloc_small`, `MCache::alloc_tiny` and `alloc_large`,
//! which the collector's `mallocgc` calls.
//!
//! A cache belongs to one mutator thread (the collector's per-thread state) and is touched
//! only by that thread inside a GC operation, or by the collector while the world is stopped
//! for GC operations (when it flushes every cache). An `&mut MCache` exists only there: the
//! collector hands one out through its operation token (`Op::cache`), so the methods here
//! are safe. Nothing they run while they borrow the cache enters a GC operation: the
//! allocator names no layer above it, its hooks enter none, and the drop glue a refill's
//! sweep runs in place is the runtime's and std's own. The fast path takes no lock and
//! executes no atomic read-modify-write. See the allocator overview (`crate::design::allocator`).

use super::heap::HEAP;
use super::os::Stopwatch;
use super::sizeclass::{SpanClass, CLASSES, NUM_SPAN_CLASSES};
use super::span::SpanPtr;
use super::{PAGE_SIZE, TINY_SIZE};
use crate::sync::{AtomicBool, Ordering};

/// The tiny allocator's span class: 16-byte noscan slots.
const TINY_SPAN_CLASS: SpanClass = SpanClass::new(2, true);

/// A thread's allocation cache.
pub(crate) struct MCache {
    pub(crate) spans: [Option<SpanPtr>; NUM_SPAN_CLASSES],
    /// Current tiny block (address), or 0.
    tiny: usize,
    /// Bytes used in the tiny block.
    tiny_offset: usize,
    /// Tiny allocations not yet added to the global counter.
    tiny_allocs: u64,
    /// Set when an allocation pushed `heap_live` past the trigger; the allocating thread
    /// starts a cycle once it leaves the GC operation.
    pub(crate) gc_wanted: bool,
    /// Bytes allocated black (during marking) not yet added to the cycle's marked bytes.
    pub(crate) black_bytes: u64,
    /// Mark-assist balance in bytes: negative = in debt (kept by the collector's mark
    /// assist).
    pub(crate) assist_credit: i64,
    /// Debug builds: set while a refill runs, which must not re-enter the cache (module
    /// header); the collector's `Op::cache` checks it.
    #[cfg(debug_assertions)]
    pub(crate) refilling: bool,
}

/// Where an object was placed, and what taking it cost the heap.
pub(crate) struct Slot {
    pub span: SpanPtr,
    pub idx: usize,
    pub addr: usize,
    /// Bytes this allocation added to `heap_live` (a refill's free slots, a large span):
    /// 0 on the fast path. The caller charges them to the mark assist and checks the
    /// trigger (`mallocgc`).
    pub charged: u64,
    /// How long a refill took, when the caller asked for slow paths to be timed
    /// ([`time_slow_paths`]); zero otherwise and on the fast path.
    pub slow: SlowTime,
}

/// A refill's wall and CPU time (the rest of the wall time the thread waited: for a lock, a
/// core, a page fault's I/O), in nanoseconds, up to 4.29 s each: packed in one word so that
/// `Slot`, which every allocation returns, stays five words.
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub(crate) struct SlowTime(u64);

impl SlowTime {
    /// No time: the fast path.
    pub(crate) const ZERO: SlowTime = SlowTime(0);

    fn new(wall: std::time::Duration, cpu: std::time::Duration) -> SlowTime {
        let ns = |d: std::time::Duration| d.as_nanos().min(u128::from(u32::MAX)) as u64;
        SlowTime(ns(wall) | ns(cpu) << 32)
    }

    /// Wall time in nanoseconds.
    pub(crate) fn wall_ns(self) -> u64 {
        self.0 & u64::from(u32::MAX)
    }

    /// The thread's CPU time in nanoseconds.
    pub(crate) fn cpu_ns(self) -> u64 {
        self.0 >> 32
    }
}

crate::sync::global! {
    /// Whether refills are timed ([`time_slow_paths`]).
    static TIME_SLOW: AtomicBool = AtomicBool::new(false);
}

/// Makes every cache refill report how long it took (`Slot::slow`), for the collector's
/// stall tracer. Off by default: a refill then reads one flag more.
pub(crate) fn time_slow_paths(on: bool) {
    TIME_SLOW.store(on, Ordering::Relaxed);
}

impl MCache {
    pub(crate) const fn new() -> MCache {
        MCache {
            spans: [None; NUM_SPAN_CLASSES],
            tiny: 0,
            tiny_offset: 0,
            tiny_allocs: 0,
            gc_wanted: false,
            black_bytes: 0,
            assist_credit: 0,
            #[cfg(debug_assertions)]
            refilling: false,
        }
    }

    /// Allocates one slot of span class `sc` (Go's `nextFreeFast`, then `refill`).
    #[inline(always)]
    pub(crate) fn alloc_small(&mut self, sc: SpanClass) -> Slot {
        if let Some(s) = self.spans[sc.index()] {
            // SAFETY: the cache owns its spans, and the `&mut` makes this thread its owner.
            if let Some(idx) = unsafe { s.next_free_fast() } {
                return Slot {
                    span: s,
                    idx,
                    addr: s.slot_addr(idx),
                    charged: 0,
                    slow: SlowTime::ZERO,
                };
            }
        }
        self.alloc_small_slow(sc)
    }

    #[cold]
    #[inline(never)]
    fn alloc_small_slow(&mut self, sc: SpanClass) -> Slot {
        #[cfg(debug_assertions)]
        {
            self.refilling = true;
        }
        let t0 = TIME_SLOW.load(Ordering::Relaxed).then(Stopwatch::start);
        let mut slot = self.refill(sc);
        if let Some(t0) = t0 {
            slot.slow = SlowTime::new(t0.wall(), t0.cpu());
        }
        #[cfg(debug_assertions)]
        {
            self.refilling = false;
        }
        slot
    }

    /// Go's `refill`: replaces the full cached span of class `sc` and takes a slot.
    fn refill(&mut self, sc: SpanClass) -> Slot {
        let mut charged = 0;
        loop {
            if let Some(s) = self.spans[sc.index()].take() {
                // SAFETY: the cache owns its spans.
                if let Some(idx) = unsafe { s.next_free() } {
                    self.spans[sc.index()] = Some(s);
                    return Slot {
                        span: s,
                        idx,
                        addr: s.slot_addr(idx),
                        charged,
                        slow: SlowTime::ZERO,
                    };
                }
                self.release(s);
            }
            let new = HEAP.centrals[sc.index()]
                .cache_span(&HEAP, sc)
                .unwrap_or_else(|| {
                    let k = CLASSES[sc.size_class()];
                    out_of_memory(k.npages as usize * PAGE_SIZE)
                });
            // SAFETY: the span was just handed to this cache.
            unsafe {
                new.alloc
                    .with_mut(|a| (*a).alloc_count_before_cache = (*a).alloc_count)
            };
            // SAFETY: the span is ours.
            let free = new.nelems - unsafe { new.alloc_count() };
            self.spans[sc.index()] = Some(new);
            // The span's free slots count as live for the pacer (Go's refill accounting).
            charged += count_allocation((free * new.elemsize) as u64);
        }
    }

    /// Allocates `size` bytes (< 16, no `Gc`, no `Drop`; a zero-sized object takes one byte)
    /// inside a shared 16-byte block (Go's tiny allocator). The block is freed when none of
    /// its objects is reachable. The block's root counter counts the handles to all its
    /// objects (the collector checks it for overflow); its type is recorded here, when the
    /// block is cut, because later objects may land in it after its span left this cache.
    #[inline(always)]
    pub(crate) fn alloc_tiny(&mut self, size: usize, align: usize) -> Slot {
        debug_assert!(size < TINY_SIZE && align <= 8);
        let off = (self.tiny_offset + align - 1) & !(align - 1);
        // A zero-sized object takes one byte: distinct allocations are distinct objects
        // (their own address, as with `Box`/`Arc` handles compared by `Gc::ptr_eq`), their
        // bytes count towards the pacer (a loop of `Gc::new(())` starts cycles), and an
        // object at the block's end is never at the next slot's address (its handles would
        // count on that slot's roots).
        let take = size.max(1);
        if self.tiny != 0 && off + take <= TINY_SIZE {
            self.tiny_offset = off + take;
            self.tiny_allocs += 1;
            let span = super::span::locate(self.tiny).0;
            return Slot {
                span,
                idx: span.slot_index(self.tiny),
                addr: self.tiny + off,
                charged: 0,
                slow: SlowTime::ZERO,
            };
        }
        self.alloc_tiny_block(take)
    }

    /// The tiny allocator's slow path: a new 16-byte block, whose first `take` bytes the
    /// caller gets.
    #[cold]
    #[inline(never)]
    fn alloc_tiny_block(&mut self, take: usize) -> Slot {
        let slot = self.alloc_small(TINY_SPAN_CLASS);
        // SAFETY: the block's span is owned by this cache during this operation.
        unsafe { slot.span.set_type(slot.idx, &crate::descriptor::PLAIN) };
        // Keep whichever block has more room left (Go's rule).
        if self.tiny == 0 || take < self.tiny_offset {
            self.tiny = slot.addr;
            self.tiny_offset = take;
        }
        slot
    }

    /// Returns every cached span to its central list (Go's `releaseAll`) and resets the tiny
    /// block.
    pub(crate) fn flush(&mut self) {
        for i in 0..self.spans.len() {
            if let Some(s) = self.spans[i].take() {
                self.release(s);
            }
        }
        self.tiny = 0;
        self.tiny_offset = 0;
        HEAP.counters
            .tiny_allocs
            .fetch_add(std::mem::take(&mut self.tiny_allocs), Ordering::Relaxed);
        HEAP.allocated_black
            .fetch_add(std::mem::take(&mut self.black_bytes), Ordering::Relaxed);
    }
}

/// Adds `bytes` taken by a cache to `heap_live`; returns them (what the caller charges).
fn count_allocation(bytes: u64) -> u64 {
    HEAP.heap_live.fetch_add(bytes, Ordering::Relaxed);
    bytes
}

impl MCache {
    /// Marks the free slots of cached span `s` (the collector's allocate-black, in bulk:
    /// `span/premark.rs`), counting their bytes as allocated black.
    pub(crate) fn premark(&mut self, s: SpanPtr) {
        // SAFETY: the cache owns its spans.
        let n = unsafe { s.mark_free_slots() };
        self.black_bytes += (n * s.elemsize) as u64;
    }

    /// Gives a span back to its central list (Go's `uncacheSpan`), settling the
    /// statistics; the marks `premark` set on slots still free are taken back.
    fn release(&mut self, s: SpanPtr) {
        // SAFETY: the cache owns the span until `uncache_span` below.
        let (unmarked, count, before) = unsafe {
            let unmarked = s.unmark_free_slots();
            s.alloc
                .with(|a| (unmarked, (*a).alloc_count, (*a).alloc_count_before_cache))
        };
        self.black_bytes -= (unmarked * s.elemsize) as u64;
        let c = s.spanclass.size_class();
        HEAP.counters.small_mallocs[c].fetch_add((count - before) as u64, Ordering::Relaxed);
        let unused = ((s.nelems - count) * s.elemsize) as u64;
        HEAP.heap_live.fetch_sub(unused, Ordering::Relaxed);
        HEAP.centrals[s.spanclass.index()].uncache_span(&HEAP, s);
    }
}

/// Allocates a large object (> 32 KiB) as its own span (Go's `allocLarge`). The caller
/// reclaims pages first (Go's page reclaimer is the collector's sweeping).
pub(crate) fn alloc_large(size: usize, noscan: bool) -> Slot {
    let s = HEAP
        .alloc_large_span(size, noscan)
        .unwrap_or_else(|| out_of_memory(size));
    // SAFETY: the fresh span belongs to this thread until published below.
    let idx = unsafe { s.next_free().expect("a fresh large span has a free slot") };
    let charged = count_allocation((s.npages * PAGE_SIZE) as u64);
    // The span goes on its central's full swept set, where the sweeper will find it.
    HEAP.centrals[s.spanclass.index()].push_swept(s, HEAP.sweepgen(), true);
    Slot {
        span: s,
        idx,
        addr: s.base,
        charged,
        slow: SlowTime::ZERO,
    }
}

/// Called when the OS refuses memory: Go throws "out of memory"; so do we.
#[cold]
pub(crate) fn out_of_memory(size: usize) -> ! {
    crate::fatal(&format!("out of memory allocating {size} bytes"))
}

#[cfg(test)]
mod tests {
    use super::SlowTime;
    use std::time::Duration;

    #[test]
    fn slow_times_pack_wall_and_cpu_and_saturate_at_u32() {
        let t = SlowTime::new(Duration::from_micros(1500), Duration::from_micros(200));
        assert_eq!((t.wall_ns(), t.cpu_ns()), (1_500_000, 200_000));
        let t = SlowTime::new(Duration::from_secs(9), Duration::from_nanos(7));
        assert_eq!((t.wall_ns(), t.cpu_ns()), (u64::from(u32::MAX), 7));
        assert_eq!((SlowTime::ZERO.wall_ns(), SlowTime::ZERO.cpu_ns()), (0, 0));
    }
}
