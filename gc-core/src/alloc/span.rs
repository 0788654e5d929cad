//! A span (Go's mspan): a run of pages cut into `nelems` slots of `elemsize` bytes, plus the
//! per-slot side tables that replace object headers: alloc bits, mark bits, dirty bits, root
//! counts (all four in the span's metadata block, `block.rs`) and, only when a span holds
//! more than one type, per-slot types (a byte per slot naming a palette entry, or a pointer
//! per slot past sixteen types: `slot_types.rs`).
//!
//! This file has the span's handle (`SpanPtr`, with the sweeper's claim), its header
//! (`Span`: geometry, `sweepgen`, where its tables are) and its objects' types; the rest is
//! in child modules by concept: the owner's allocation state and the free-slot search
//! (`alloc_state.rs`), the mark and dirty bits (`bitmaps.rs`), the root table's span side
//! (`roots.rs`), the sweeper's view of a claimed span (`claimed.rs`: `Claimed`, `SlotSet`),
//! bulk marking of free slots (`premark.rs`), the metadata block (`block.rs`), the root
//! counters' fields (`root_counter.rs`) and the types' tables (`slot_types.rs`).
//!
//! Ownership (see the allocator overview (`crate::design::allocator`)): `AllocState`
//! (with the alloc bits) is touched only by the span's current owner (a thread cache, a
//! sweeper that claimed it through `sweepgen`, or the holder of its central list's lock).
//! The mark and dirty bits and the root counters are atomic and shared by everyone. The
//! immutable geometry is set at creation. A `SpanPtr` names a span in use;
//! `SpanPtr::claim` is the sweeper's `sweepgen` CAS; the `Claimed` it returns is the only
//! handle that can sweep the span (`sweep.rs`).
//!
//! `sweepgen` states, relative to the heap's `sweepgen` h (Go's table):
//!
//! | span.sweepgen | meaning                                           |
//! |---------------|---------------------------------------------------|
//! | h - 2         | needs sweeping                                    |
//! | h - 1         | being swept (claimed by CAS from h - 2)           |
//! | h             | swept, ready to use                               |
//! | h + 1         | cached before this sweep began; still needs sweeping (never arises here: caches are flushed before `sweepgen` moves) |
//! | h + 3         | swept, then cached by a thread                    |

use super::sizeclass::SpanClass;
use crate::descriptor::TypeInfo;
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, Ordering, UnsafeCell};
use std::ptr::NonNull;

mod alloc_state;
mod bitmaps;
mod block;
mod claimed;
mod premark;
mod root_counter;
mod roots;
mod slot_types;

use alloc_state::{AllocBits, AllocState};
pub(crate) use block::{meta_bytes, OwnedSpan, Shape, SpareBlocks};
pub(crate) use claimed::{Claimed, SlotSet};
use root_counter::table_words;
pub(crate) use root_counter::{add_fields, from_zero, sub_fields, RootCounter, PER_WORD};
pub(crate) use roots::CounterMap;
pub(crate) use slot_types::table_bytes as type_table_bytes;
pub(crate) use slot_types::SlotTypes;

/// A pointer to a span that is in use. Valid until the span is freed, which only its
/// owner (module header of `span.rs`) can do.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SpanPtr(NonNull<Span>);

// SAFETY: `Span` is `Sync` and this is a shared reference with a manually tracked lifetime.
unsafe impl Send for SpanPtr {}
// SAFETY: as above.
unsafe impl Sync for SpanPtr {}

impl std::ops::Deref for SpanPtr {
    type Target = Span;
    #[inline(always)]
    fn deref(&self) -> &Span {
        // SAFETY: a `SpanPtr` is only held for spans that are in use (type docs).
        unsafe { self.0.as_ref() }
    }
}

impl SpanPtr {
    /// # Safety
    ///
    /// `p` must point at an in-use span.
    #[inline(always)]
    pub(crate) unsafe fn from_raw(p: *const Span) -> SpanPtr {
        // SAFETY: the caller guarantees non-null and validity.
        SpanPtr(unsafe { NonNull::new_unchecked(p as *mut Span) })
    }

    pub(crate) fn as_ptr(self) -> *const Span {
        self.0.as_ptr()
    }

    /// Claims the span for sweeping: `sweepgen` from h-2 to h-1. The returned token is the
    /// only way to sweep it (`super::sweep`).
    pub(crate) fn claim(self, sg: u32) -> Option<Claimed> {
        self.sweepgen
            .compare_exchange(
                sg.wrapping_sub(2),
                sg.wrapping_sub(1),
                // The Acquire half pairs with the Release stores of `sweepgen` by the span's
                // previous owner (its last sweep, or the cache that returned it): the claimer
                // sees their writes. The Release half pairs with nothing (no one acquires
                // h-1; the sweep publishes with its own closing store): Acquire would do.
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .ok()?;
        super::heap::HEAP
            .sweep_unclaimed
            .fetch_sub(1, Ordering::Relaxed);
        Some(Claimed(self))
    }
}

/// The span and slot of the object containing `addr`.
#[inline(always)]
pub(crate) fn locate(addr: usize) -> (SpanPtr, usize) {
    let s = super::arena::span_of(addr);
    debug_assert!(
        !s.is_null(),
        "Gc handle {addr:#x} does not point into the heap"
    );
    // SAFETY: `addr` lies in an object of the heap (a live handle's, or a tiny block
    // being filled), so its span is in use.
    let s = unsafe { SpanPtr::from_raw(s) };
    let idx = s.slot_index(addr);
    (s, idx)
}

/// A span. Lives at the start of its metadata block (`block.rs`), which also holds its
/// per-slot tables; made and freed by an [`OwnedSpan`].
pub(crate) struct Span {
    pub base: usize,
    pub npages: usize,
    pub spanclass: SpanClass,
    pub elemsize: usize,
    pub nelems: usize,
    div_mul: u32,
    /// Whether the span's pages may hold old bytes (Go's `needzero`): false when every page
    /// came fresh from the OS or had been released to it, so it reads as zeros. Set when
    /// the span is cut, before it is shared; read by `Gc::<[u8]>::new_zeroed_slice`.
    pub needzero: bool,
    /// Sweep state (module header table).
    pub sweepgen: AtomicU32,
    pub alloc: UnsafeCell<AllocState>,
    /// The objects' types (`slot_types.rs`): written by the owner, read by markers
    /// concurrently.
    types: SlotTypes,
    /// The per-slot tables after the header (`block.rs`), in this order: the mark bits
    /// (one bit per slot), the dirty bits (one bit per slot: the object holds a `GcCell`
    /// whose contents a write rooted since the last unroot pass, the collector's dirty
    /// cells, `gc/dirty.rs`; set by any thread with `set_dirty`, taken by the unroot pass
    /// with `take_dirty`, cleared for freed slots by the sweep), the alloc bits (the
    /// owner's, through `AllocState`), and one root counter per slot (four bits, sixteen
    /// to a word, `root_counter.rs`; larger counts go to the collector's spill table,
    /// `gc/roots.rs`). The mark and dirty bits and the counters are atomic and shared by
    /// everyone.
    tables: NonNull<u8>,
    /// Summary of the root counters: false only if every counter was zero when the last
    /// root scan looked (the collector's root counting has the protocol). Lets the root
    /// scan skip spans.
    maybe_roots: AtomicBool,
    /// Summary of the dirty bits: false only if no bit was set since the last `take_dirty`.
    maybe_dirty: AtomicBool,
}

impl Drop for Span {
    fn drop(&mut self) {
        self.clear_types();
    }
}

/// Words of mark bits: size classes have at most 1024 objects per span.
const MAX_MARK_WORDS: usize = 16;

// SAFETY: the non-atomic state is accessed only by the span's single owner, and ownership is
// handed over through locks or release/acquire pairs (module header).
unsafe impl Send for Span {}
// SAFETY: as above.
unsafe impl Sync for Span {}

/// The slot `offset` bytes into a span falls in, for the span's division magic `div_mul`
/// (`u32::MAX / elemsize + 1`, or 0 for a large object's one slot).
#[inline(always)]
fn slot_at(offset: usize, div_mul: u32) -> usize {
    ((offset as u64 * div_mul as u64) >> 32) as usize
}

fn words(nelems: usize) -> usize {
    nelems.div_ceil(64)
}

impl Span {
    /// The header of a span of `shape` whose tables are at `tables` (`block.rs` makes
    /// both); its place (`base`) is set when the heap cuts its pages.
    fn header(shape: Shape, sweepgen: u32, tables: NonNull<u8>, alloc_bits: AllocBits) -> Span {
        Span {
            base: 0,
            npages: shape.npages,
            spanclass: shape.spanclass,
            elemsize: shape.elemsize,
            nelems: shape.nelems,
            div_mul: shape.div_mul,
            needzero: true,
            sweepgen: AtomicU32::new(sweepgen),
            alloc: UnsafeCell::new(AllocState {
                freeindex: 0,
                alloc_cache: !0,
                alloc_bits,
                alloc_count: 0,
                alloc_count_before_cache: 0,
                premarked: false,
                listed_in: 0,
            }),
            types: SlotTypes::new(),
            tables,
            maybe_roots: AtomicBool::new(false),
            maybe_dirty: AtomicBool::new(false),
        }
    }

    /// The mark bits, one word per 64 slots.
    #[inline(always)]
    fn mark_words(&self) -> &[AtomicU64] {
        // SAFETY: the block holds `words(nelems)` initialised mark words at `tables`, for
        // the span's life (`block.rs`).
        unsafe { std::slice::from_raw_parts(self.tables.as_ptr().cast(), words(self.nelems)) }
    }

    /// The dirty bits, one word per 64 slots.
    #[inline(always)]
    fn dirty_words(&self) -> &[AtomicU64] {
        let at = block::tables(self.nelems).dirty;
        // SAFETY: as in `mark_words`, at the dirty words' offset.
        unsafe {
            std::slice::from_raw_parts(self.tables.as_ptr().add(at).cast(), words(self.nelems))
        }
    }

    /// The root counter table: sixteen four-bit counters per word, one per slot.
    #[inline(always)]
    fn root_words(&self) -> &[AtomicU64] {
        let at = block::tables(self.nelems).roots;
        // SAFETY: as in `mark_words`, the counter words at the counters' offset.
        unsafe {
            std::slice::from_raw_parts(
                self.tables.as_ptr().add(at).cast(),
                table_words(self.nelems),
            )
        }
    }

    /// One past the last byte of the span's slots.
    #[inline(always)]
    pub(crate) fn limit(&self) -> usize {
        self.base + self.nelems * self.elemsize
    }

    /// Index of the slot containing `addr` (which must lie in `[base, limit)`).
    #[inline(always)]
    pub(crate) fn slot_index(&self, addr: usize) -> usize {
        debug_assert!(addr >= self.base && addr < self.limit());
        slot_at(addr - self.base, self.div_mul)
    }

    /// Address of slot `idx`.
    #[inline(always)]
    pub(crate) fn slot_addr(&self, idx: usize) -> usize {
        self.base + idx * self.elemsize
    }

    /// Records that slot `idx` holds a `ty`.
    ///
    /// # Safety
    ///
    /// The caller owns the span, and `idx` is one of its slots.
    #[inline(always)]
    pub(crate) unsafe fn set_type(&self, idx: usize, ty: &'static TypeInfo) {
        debug_assert!(idx < self.nelems);
        // SAFETY: the caller owns the span (so `alloc_count` may be read, and no other
        // thread sets or clears its types); `idx` is one of its slots.
        unsafe { self.types.set(idx, ty, self.nelems, || self.alloc_count()) }
    }

    /// The type of the object in slot `idx`. Safe to call while the owner allocates other
    /// slots (concurrent marking).
    ///
    /// # Safety
    ///
    /// The slot holds an object whose allocation happened-before this call.
    #[inline]
    pub(crate) unsafe fn type_of(&self, idx: usize) -> &'static TypeInfo {
        debug_assert!(idx < self.nelems);
        // SAFETY: forwarded; `idx` is one of the span's slots.
        unsafe { self.types.get(idx) }
    }

    /// The type of every object in the span when it holds one type (what `type_of` returns
    /// for each of them); `None` when its slots have types of their own. Safe to call
    /// while the owner allocates (concurrent marking).
    ///
    /// # Safety
    ///
    /// The span holds an object whose allocation happened-before this call.
    #[inline(always)]
    pub(crate) unsafe fn one_type(&self) -> Option<&'static TypeInfo> {
        // SAFETY: forwarded.
        unsafe { self.types.one() }
    }

    /// Forgets the span's types (it holds no object any more).
    fn clear_types(&self) {
        self.types.clear(self.nelems);
    }
}

#[cfg(test)]
mod tests;
