//! A span's allocation state (a child of `span.rs`): [`AllocState`] (Go's `freeindex`,
//! `allocCache`, `allocBits`, `allocCount`), the alloc bits it reaches in the span's
//! metadata block ([`AllocBits`]), and what the span's owner does with them: the free-slot
//! search (Go's `nextFreeFast` and `nextFreeIndex`: `next_free_fast`, `next_free`), the
//! allocated count, and the collector's once-per-mark listing (`list_once`).
//!
//! Ownership (the module header of `span.rs`, and here): `AllocState` is touched only by
//! the span's current owner (a thread cache, a sweeper that claimed it through `sweepgen`,
//! or the holder of its central list's lock), so it sits in an `UnsafeCell` without a lock
//! or atomics; ownership moves through a lock or a release/acquire pair, and every `unsafe`
//! method here requires the caller to be the owner. Invariants: every slot below
//! `freeindex` is allocated; `alloc_cache` holds the inverted alloc bits from `freeindex`
//! to the end of its 64-slot window (or 0 before the window is loaded). See the allocator
//! overview (`crate::design::allocator`).

use super::Span;
use std::ptr::NonNull;

/// Allocation state, owned by the span's current owner (module header).
pub(crate) struct AllocState {
    /// Every slot below it is allocated; the search for free slots starts here.
    pub freeindex: usize,
    /// Inverted `alloc_bits` for the 64 slots from `freeindex & !63`, shifted so that bit 0
    /// is slot `freeindex`: a set bit means free. Or 0 with `freeindex` the first slot of a
    /// window not loaded yet: the fast path takes a window's last slot without loading the
    /// next window (Go's refuses to, at the cost of a test on every allocation), and
    /// `next_free` loads it.
    pub alloc_cache: u64,
    /// Bit i set = slot i held a live object at the last sweep. Slots below `freeindex`
    /// are allocated whatever their bit says.
    pub alloc_bits: AllocBits,
    /// Allocated slots.
    pub alloc_count: usize,
    /// `alloc_count` when a thread cached the span (for Go-style malloc accounting).
    pub alloc_count_before_cache: usize,
    /// Whether the span's free slots were marked in bulk while it is cached (`premark.rs`).
    pub premarked: bool,
    /// The last mark (the collector's count of marks) in which the collector listed the
    /// span ([`Span::list_once`]); 0 = never.
    pub listed_in: u64,
}

/// The alloc bits (Go's `allocBits`): one bit per slot, in the span's metadata block
/// (`block.rs`). Part of `AllocState`, so touched only by the span's owner.
pub(crate) struct AllocBits {
    ptr: NonNull<u64>,
    words: usize,
}

impl AllocBits {
    /// # Safety
    ///
    /// `ptr` points at `words` initialised words that only the span's owner touches, for
    /// as long as the span lives.
    pub(super) unsafe fn new(ptr: NonNull<u64>, words: usize) -> AllocBits {
        AllocBits { ptr, words }
    }

    /// The bits, 64 slots per word.
    #[inline(always)]
    pub(crate) fn words(&self) -> &[u64] {
        // SAFETY: `new`'s contract; the shared borrow of the owner's state covers them.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.words) }
    }

    /// The bits, to change.
    #[inline(always)]
    pub(crate) fn words_mut(&mut self) -> &mut [u64] {
        // SAFETY: `new`'s contract; the exclusive borrow of the owner's state covers them.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.words) }
    }

    /// Whether slot `i` held a live object at the last sweep.
    #[cfg(all(test, gc_loom))]
    pub(crate) fn get(&self, i: usize) -> bool {
        self.words()[i / 64] & (1 << (i % 64)) != 0
    }
}

/// Drops the cache bits up to and including `bit` (Go's `allocCache >>= bit + 1`, where a
/// shift by 64 yields 0; Rust's `>>` would overflow).
#[inline(always)]
fn shift_out(cache: u64, bit: usize) -> u64 {
    (cache >> bit) >> 1
}

impl Span {
    /// Allocation fast path (Go's `nextFreeFast`): the next free slot from the alloc cache,
    /// or `None` when the cache needs a refill.
    ///
    /// # Safety
    ///
    /// The caller owns the span (module header).
    #[inline(always)]
    pub(crate) unsafe fn next_free_fast(&self) -> Option<usize> {
        self.alloc.with_mut(|a| {
            // SAFETY: the caller owns the span, so no one else touches `AllocState`.
            let a = unsafe { &mut *a };
            let bit = a.alloc_cache.trailing_zeros() as usize;
            if bit < 64 {
                let result = a.freeindex + bit;
                if result < self.nelems {
                    a.alloc_cache = shift_out(a.alloc_cache, bit);
                    a.freeindex = result + 1;
                    a.alloc_count += 1;
                    return Some(result);
                }
            }
            None
        })
    }

    /// Allocation slow path within the span (Go's `nextFreeIndex`): scans the alloc bits
    /// past the cache. Returns the slot, or `None` if the span is full.
    ///
    /// # Safety
    ///
    /// The caller owns the span.
    pub(crate) unsafe fn next_free(&self) -> Option<usize> {
        self.alloc.with_mut(|a| {
            // SAFETY: the caller owns the span.
            let a = unsafe { &mut *a };
            let n = self.nelems;
            let mut free = a.freeindex;
            if free >= n {
                return None;
            }
            let mut bit = a.alloc_cache.trailing_zeros() as usize;
            if bit == 64 && free % 64 == 0 {
                // The fast path took the last slot of the previous window: load this one.
                // (If it was loaded and is full, it is loaded again, and the loop moves on.)
                a.alloc_cache = !a.alloc_bits.words()[free / 64];
                bit = a.alloc_cache.trailing_zeros() as usize;
            }
            while bit == 64 {
                free = (free + 64) & !63;
                if free >= n {
                    a.freeindex = n;
                    return None;
                }
                a.alloc_cache = !a.alloc_bits.words()[free / 64];
                bit = a.alloc_cache.trailing_zeros() as usize;
            }
            let result = free + bit;
            if result >= n {
                a.freeindex = n;
                return None;
            }
            a.alloc_cache = shift_out(a.alloc_cache, bit);
            free = result + 1;
            if free % 64 == 0 && free != n {
                a.alloc_cache = !a.alloc_bits.words()[free / 64];
            }
            a.freeindex = free;
            a.alloc_count += 1;
            Some(result)
        })
    }

    /// Allocated slot count (owner only).
    ///
    /// # Safety
    ///
    /// The caller owns the span.
    pub(crate) unsafe fn alloc_count(&self) -> usize {
        // SAFETY: forwarded.
        self.alloc.with(|a| unsafe { (*a).alloc_count })
    }

    /// Stamps the span with mark `mark` (non-zero); false if it already carried that stamp.
    /// The collector lists spans with it once per mark (its young spans).
    ///
    /// # Safety
    ///
    /// The caller owns the span.
    pub(crate) unsafe fn list_once(&self, mark: u64) -> bool {
        self.alloc.with_mut(|a| {
            // SAFETY: the caller owns the span, so no one else touches `AllocState`.
            let a = unsafe { &mut *a };
            std::mem::replace(&mut a.listed_in, mark) != mark
        })
    }
}
