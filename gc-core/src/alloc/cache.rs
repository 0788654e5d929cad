//! The per-thread cache (Go's mcache): one span per span class, the tiny block, and the
//! allocation entry points `alloc_small`, `alloc_tiny`, `alloc_large`.
//!
//! A cache belongs to one mutator thread (the collector's per-thread state) and is touched
//! only by that thread inside a GC operation, or by the collector while the world is stopped
//! for GC operations (when it flushes every cache). The fast path takes no lock and executes
//! no atomic read-modify-write. The slow path never holds a `&mut MCache` across a call that
//! may sweep, because sweeping runs `Drop` code that may allocate on this same cache. See
//! the allocator overview in `crate::alloc`.

use super::heap::HEAP;
use super::sizeclass::{SpanClass, CLASSES, NUM_SPAN_CLASSES};
use super::span::SpanPtr;
use super::{PAGE_SIZE, TINY_SIZE};
use crate::sync::Ordering;

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
    /// Mark-assist balance in bytes: negative = in debt (kept by the collector's `allocated`
    /// hook).
    pub(crate) assist_credit: i64,
}

/// Where an object was placed.
pub(crate) struct Slot {
    pub span: SpanPtr,
    pub idx: usize,
    pub addr: usize,
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
        }
    }
}

/// Allocates one slot of span class `sc` (Go's `nextFreeFast`, then `refill`).
///
/// # Safety
///
/// `mc` is the calling thread's cache and the thread is inside a GC operation.
#[inline(always)]
pub(crate) unsafe fn alloc_small(mc: *mut MCache, sc: SpanClass) -> Slot {
    // SAFETY: the caller owns the cache; the borrow ends before any call that may sweep.
    if let Some(s) = unsafe { (*mc).spans[sc.index()] } {
        // SAFETY: the cache owns its spans.
        if let Some(idx) = unsafe { s.next_free_fast() } {
            return Slot {
                span: s,
                idx,
                addr: s.slot_addr(idx),
            };
        }
    }
    // SAFETY: forwarded.
    unsafe { alloc_small_slow(mc, sc) }
}

#[cold]
#[inline(never)]
unsafe fn alloc_small_slow(mc: *mut MCache, sc: SpanClass) -> Slot {
    loop {
        // SAFETY: short borrow of the caller's own cache.
        let cur = unsafe { (*mc).spans[sc.index()].take() };
        if let Some(s) = cur {
            // SAFETY: the cache owns its spans.
            if let Some(idx) = unsafe { s.next_free() } {
                // SAFETY: short borrow.
                unsafe { (*mc).spans[sc.index()] = Some(s) };
                return Slot {
                    span: s,
                    idx,
                    addr: s.slot_addr(idx),
                };
            }
            release(s);
        }
        // May sweep and so run `Drop` code that allocates on this cache: no borrow held.
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
        // SAFETY: short borrow of the caller's own cache.
        unsafe {
            // A nested allocation (from a `Drop` run while sweeping) may have installed a
            // span meanwhile; keep one and return the other.
            if let Some(other) = (*mc).spans[sc.index()].replace(new) {
                release(other);
            }
        }
        // The span's free slots count as live for the pacer (Go's refill accounting).
        // SAFETY: our own cache, no borrow held.
        unsafe { count_allocation(mc, (free * new.elemsize) as u64) };
    }
}

/// Adds `bytes` taken by this cache to `heap_live`: asks for a cycle past the trigger (or
/// for a fresh look at the memory-limit goal after the heap grew), and while marking
/// charges the bytes to the thread's mark assist.
///
/// # Safety
///
/// `mc` is the calling thread's cache, inside a GC operation, with no borrow held.
unsafe fn count_allocation(mc: *mut MCache, bytes: u64) {
    let live = HEAP.heap_live.fetch_add(bytes, Ordering::Relaxed) + bytes;
    if live >= HEAP.trigger.load(Ordering::Relaxed) || HEAP.grew.load(Ordering::Relaxed) {
        // SAFETY: short borrow of the caller's own cache.
        unsafe { (*mc).gc_wanted = true };
    }
    // SAFETY: forwarded (our own cache, no borrow held).
    unsafe { (super::hooks::hooks().allocated)(mc, bytes) };
}

/// Gives a span back to its central list (Go's `uncacheSpan`), settling the statistics.
fn release(s: SpanPtr) {
    // SAFETY: the releasing cache owns the span.
    let (count, before) = unsafe {
        s.alloc
            .with(|a| ((*a).alloc_count, (*a).alloc_count_before_cache))
    };
    let c = s.spanclass.size_class();
    HEAP.counters.small_mallocs[c].fetch_add((count - before) as u64, Ordering::Relaxed);
    let unused = ((s.nelems - count) * s.elemsize) as u64;
    HEAP.heap_live.fetch_sub(unused, Ordering::Relaxed);
    HEAP.centrals[s.spanclass.index()].uncache_span(&HEAP, s);
}

/// Allocates `size` bytes (< 16, no `Gc`, no `Drop`; a zero-sized object takes one byte)
/// inside a shared 16-byte block (Go's tiny allocator). The block is freed when none of its
/// objects is reachable. The block's root counter counts the handles to all its objects
/// (`roots::add_new_root` checks it for overflow); its type is recorded here, when the block
/// is cut, because later objects may land in it after its span left this cache.
///
/// # Safety
///
/// As for [`alloc_small`].
#[inline]
pub(crate) unsafe fn alloc_tiny(mc: *mut MCache, size: usize, align: usize) -> Slot {
    debug_assert!(size < TINY_SIZE && align <= 8);
    // SAFETY: short borrow of the caller's own cache.
    let (tiny, off) = unsafe { ((*mc).tiny, (*mc).tiny_offset) };
    let off = (off + align - 1) & !(align - 1);
    // A zero-sized object takes one byte: distinct allocations are distinct objects (their
    // own address, as with `Box`/`Arc` handles compared by `Gc::ptr_eq`), their bytes count
    // towards the pacer (a loop of `Gc::new(())` starts cycles), and an object at the
    // block's end is never at the next slot's address (its handles would count on that
    // slot's roots).
    let take = size.max(1);
    if tiny != 0 && off + take <= TINY_SIZE {
        // SAFETY: as above.
        unsafe {
            (*mc).tiny_offset = off + take;
            (*mc).tiny_allocs += 1;
        }
        let span = super::span::locate(tiny).0;
        return Slot {
            span,
            idx: span.slot_index(tiny),
            addr: tiny + off,
        };
    }
    // SAFETY: forwarded.
    let slot = unsafe { alloc_small(mc, TINY_SPAN_CLASS) };
    // SAFETY: the block's span is owned by this cache during this operation.
    unsafe { slot.span.set_type(slot.idx, &crate::descriptor::PLAIN) };
    // Keep whichever block has more room left (Go's rule).
    // SAFETY: short borrows.
    unsafe {
        if tiny == 0 || take < (*mc).tiny_offset {
            (*mc).tiny = slot.addr;
            (*mc).tiny_offset = take;
        }
    }
    slot
}

/// Allocates a large object (> 32 KiB) as its own span (Go's `allocLarge`).
///
/// # Safety
///
/// As for [`alloc_small`].
pub(crate) unsafe fn alloc_large(mc: *mut MCache, size: usize, noscan: bool) -> Slot {
    // Go's page reclaimer: sweep before growing, so a steady large-object workload reuses
    // pages instead of mapping new ones.
    (super::hooks::hooks().reclaim)(size.div_ceil(PAGE_SIZE));
    let s = HEAP
        .alloc_large_span(size, noscan)
        .unwrap_or_else(|| out_of_memory(size));
    // SAFETY: the fresh span belongs to this thread until published below.
    let idx = unsafe { s.next_free().expect("a fresh large span has a free slot") };
    // SAFETY: our own cache, no borrow held.
    unsafe { count_allocation(mc, (s.npages * PAGE_SIZE) as u64) };
    // The span goes on its central's full swept set, where the sweeper will find it.
    HEAP.centrals[s.spanclass.index()].push_swept(s, HEAP.sweepgen(), true);
    Slot {
        span: s,
        idx,
        addr: s.base,
    }
}

/// Returns every cached span to its central list (Go's `releaseAll`) and resets the tiny
/// block.
///
/// # Safety
///
/// The caller is the owning thread inside a GC operation, or the collector with the world
/// stopped for GC operations.
pub(crate) unsafe fn flush(mc: *mut MCache) {
    for i in 0..NUM_SPAN_CLASSES {
        // SAFETY: per the caller's contract no one else uses the cache.
        if let Some(s) = unsafe { (*mc).spans[i].take() } {
            release(s);
        }
    }
    // SAFETY: as above.
    unsafe {
        (*mc).tiny = 0;
        (*mc).tiny_offset = 0;
        HEAP.counters
            .tiny_allocs
            .fetch_add(std::mem::take(&mut (*mc).tiny_allocs), Ordering::Relaxed);
        HEAP.allocated_black
            .fetch_add(std::mem::take(&mut (*mc).black_bytes), Ordering::Relaxed);
    }
}

/// Called when the OS refuses memory: Go throws "out of memory"; so do we.
#[cold]
pub(crate) fn out_of_memory(size: usize) -> ! {
    crate::fatal(&format!("out of memory allocating {size} bytes"))
}
