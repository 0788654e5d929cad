//! A span's metadata block: one allocation from the global allocator holding the span's
//! header (`Span`) followed by its per-slot tables, each sized to the span's slot count:
//!
//! ```text
//! [Span][mark words][dirty words][alloc words][root counters]
//! ```
//!
//! A word table has `words(nelems)` 64-bit words (one bit per slot), the root counters four
//! bits per slot, sixteen to a word (`root_counter.rs`): with the 128-byte header, 576 bytes
//! for a span of 16-byte objects (7.0% of its page), 288 for 48-byte objects (3.5%), 160
//! for a large object. With one-byte counters they were 832 and 376 bytes; before this
//! block, the header carried two 16-word bitmaps inline whatever the slot count, and the
//! counters and alloc bits were two more `malloc`s with their own headers (1,008 and 616
//! bytes for those two classes). Go keeps its bitmaps in separate arenas and its `mspan` in a
//! fixed-size allocator; one block per span gives the same bytes with one `malloc`.
//!
//! The header reaches its tables through `Span::tables`, a pointer derived from the
//! block's allocation (so it may point past the header, which a pointer derived from a
//! `&Span` may not). The header is never moved out of its block: an [`OwnedSpan`] hands
//! out shared references only, and `SpanPtr`s are raw. The tables are written in place
//! before the header and dropped after it, once, by the owner that frees or reuses the
//! block. A freed span's block is usually kept ([`SpareBlocks`], under the heap's lock for
//! them) and made the next span of the same slot count ([`OwnedSpan::reuse`]), so spans
//! made on one thread and freed on another do not go through the global allocator each
//! time. See the allocator overview (`crate::design::allocator`).

use super::root_counter::table_words;
use super::{words, AllocBits, Span, SpanPtr};
use crate::alloc::sizeclass::{SpanClass, CLASSES};
use crate::sync::AtomicU64;
use std::alloc::Layout;
use std::mem::{align_of, size_of};
use std::ptr::NonNull;

/// Byte offsets of a span's tables from `Span::tables` (the mark words start there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Tables {
    pub dirty: usize,
    pub alloc: usize,
    pub roots: usize,
    /// One past the last counter.
    pub end: usize,
}

fn round_up(x: usize, align: usize) -> usize {
    x.div_ceil(align) * align
}

/// Where the tables of a span of `nelems` slots sit.
#[inline(always)]
pub(super) fn tables(nelems: usize) -> Tables {
    let w = words(nelems);
    let dirty = w * size_of::<AtomicU64>();
    let alloc = round_up(dirty + w * size_of::<AtomicU64>(), align_of::<u64>());
    let roots = round_up(alloc + w * size_of::<u64>(), align_of::<AtomicU64>());
    Tables {
        dirty,
        alloc,
        roots,
        end: roots + table_words(nelems) * size_of::<AtomicU64>(),
    }
}

/// The tables' alignment: that of their most aligned entry.
const TABLE_ALIGN: usize = if align_of::<AtomicU64>() > align_of::<u64>() {
    align_of::<AtomicU64>()
} else {
    align_of::<u64>()
};

/// Offset of the tables from the block's start: just past the header.
fn header_size() -> usize {
    round_up(size_of::<Span>(), TABLE_ALIGN)
}

/// The block's layout for a span of `nelems` slots.
fn layout(nelems: usize) -> Layout {
    let align = align_of::<Span>().max(TABLE_ALIGN);
    Layout::from_size_align(header_size() + tables(nelems).end, align)
        .expect("a span's metadata block fits a layout")
        .pad_to_align()
}

/// Bytes of metadata a span of `nelems` slots holds (its block), for the heap's accounting.
pub(crate) fn meta_bytes(nelems: usize) -> usize {
    layout(nelems).size()
}

/// The only owner of a span's block until it is made a [`SpanPtr`] for the heap; dropping
/// it drops the header (its type tables) and the tables, and frees the block.
pub(crate) struct OwnedSpan(NonNull<Span>);

// SAFETY: the owner is unique and `Span` is `Send + Sync`.
unsafe impl Send for OwnedSpan {}
// SAFETY: shared access gives `&Span` only (`Span` is `Sync`); changes need `&mut self`.
unsafe impl Sync for OwnedSpan {}

/// What a span is cut for: everything its header holds but its place and state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub npages: usize,
    pub spanclass: SpanClass,
    pub elemsize: usize,
    pub nelems: usize,
    pub div_mul: u32,
}

impl Shape {
    /// A span of small-object class `sc` (its pages, slot size and count from the class).
    pub(crate) fn small(sc: SpanClass) -> Shape {
        let k = CLASSES[sc.size_class()];
        Shape {
            npages: k.npages as usize,
            spanclass: sc,
            elemsize: k.size as usize,
            nelems: k.nelems as usize,
            div_mul: k.div_mul,
        }
    }
}

/// Writes the tables and then the header of a span of `shape` into `block`.
///
/// # Safety
///
/// `block` was allocated with `layout(shape.nelems)` and holds nothing initialised (or only
/// what `deinit` left: nothing).
unsafe fn init(block: NonNull<u8>, shape: Shape, sweepgen: u32) -> NonNull<Span> {
    let nelems = shape.nelems;
    debug_assert!(words(nelems) <= super::MAX_MARK_WORDS);
    let t = tables(nelems);
    // SAFETY: the block has room for the header and, from `header_size()` on, for the
    // tables at the offsets `tables` gives, each aligned for its entries (`TABLE_ALIGN`
    // divides the block's alignment and the offsets are rounded up to their entries').
    unsafe {
        let at = block.as_ptr().add(header_size());
        for w in 0..words(nelems) {
            at.cast::<AtomicU64>().add(w).write(AtomicU64::new(0));
            at.add(t.dirty)
                .cast::<AtomicU64>()
                .add(w)
                .write(AtomicU64::new(0));
            at.add(t.alloc).cast::<u64>().add(w).write(0);
        }
        for w in 0..table_words(nelems) {
            at.add(t.roots)
                .cast::<AtomicU64>()
                .add(w)
                .write(AtomicU64::new(0));
        }
        let tables = NonNull::new_unchecked(at);
        let alloc_bits = AllocBits::new(
            NonNull::new_unchecked(at.add(t.alloc).cast::<u64>()),
            words(nelems),
        );
        let span = block.cast::<Span>();
        span.as_ptr()
            .write(Span::header(shape, sweepgen, tables, alloc_bits));
        span
    }
}

/// Drops the header (which frees its type table) and then the tables of the span in its
/// block, leaving the block uninitialised.
///
/// # Safety
///
/// The span was made by `init`, is not dropped twice, and no reference to it remains.
unsafe fn deinit(span: NonNull<Span>) {
    // SAFETY: the caller's contract; the tables sit where `init` wrote them.
    unsafe {
        let nelems = span.as_ref().nelems;
        let t = tables(nelems);
        std::ptr::drop_in_place(span.as_ptr());
        let at = span.as_ptr().cast::<u8>().add(header_size());
        for w in 0..words(nelems) {
            std::ptr::drop_in_place(at.cast::<AtomicU64>().add(w));
            std::ptr::drop_in_place(at.add(t.dirty).cast::<AtomicU64>().add(w));
        }
        for w in 0..table_words(nelems) {
            std::ptr::drop_in_place(at.add(t.roots).cast::<AtomicU64>().add(w));
        }
    }
}

impl OwnedSpan {
    /// A span with no slot allocated or marked, no roots and no dirty slot, in a block of
    /// its own; `base` is 0 until [`place`](Self::place) (the heap makes the block before
    /// it takes its lock).
    pub(crate) fn new(shape: Shape, sweepgen: u32) -> OwnedSpan {
        let layout = layout(shape.nelems);
        // SAFETY: the layout is non-zero-sized (it holds the header).
        let block = unsafe { std::alloc::alloc(layout) };
        let Some(block) = NonNull::new(block) else {
            std::alloc::handle_alloc_error(layout)
        };
        // SAFETY: just allocated with the layout for `shape.nelems`, nothing in it yet.
        OwnedSpan(unsafe { init(block, shape, sweepgen) })
    }

    /// This block made a new span of `shape`, as [`new`](Self::new) would make it, without
    /// a trip through the global allocator. `shape` must have this span's slot count (the
    /// block's layout depends on nothing else).
    pub(crate) fn reuse(self, shape: Shape, sweepgen: u32) -> OwnedSpan {
        assert_eq!(
            shape.nelems, self.nelems,
            "a block is reused for its slot count"
        );
        let p = self.0;
        std::mem::forget(self);
        // SAFETY: the owner was unique and is gone, so `deinit` runs once on a span `init`
        // made; `init` then refills the same block, laid out for the same slot count.
        unsafe {
            deinit(p);
            OwnedSpan(init(p.cast(), shape, sweepgen))
        }
    }

    /// Sets where the span's pages are (`base`) and whether they may hold old bytes.
    pub(crate) fn place(&mut self, base: usize, needzero: bool) {
        // SAFETY: this owner is unique, so no other reference to the header exists.
        let s = unsafe { self.0.as_mut() };
        s.base = base;
        s.needzero = needzero;
    }

    /// Gives the block up to the heap as a raw span pointer; [`from_ptr`](Self::from_ptr)
    /// takes it back to free it.
    pub(crate) fn into_ptr(self) -> SpanPtr {
        let p = self.0;
        std::mem::forget(self);
        // SAFETY: the block holds an initialised span, in use until it is freed.
        unsafe { SpanPtr::from_raw(p.as_ptr()) }
    }

    /// Takes back the block of a span made by [`into_ptr`](Self::into_ptr).
    ///
    /// # Safety
    ///
    /// `s` came from `into_ptr`, is not taken back twice, and no reference to the span
    /// outlives the returned owner.
    pub(crate) unsafe fn from_ptr(s: SpanPtr) -> OwnedSpan {
        // SAFETY: non-null, from `into_ptr` (the caller's contract).
        OwnedSpan(unsafe { NonNull::new_unchecked(s.as_ptr() as *mut Span) })
    }

    #[cfg(all(test, not(gc_loom)))]
    fn as_ptr_for_test(&self) -> *const Span {
        self.0.as_ptr()
    }
}

impl std::ops::Deref for OwnedSpan {
    type Target = Span;
    fn deref(&self) -> &Span {
        // SAFETY: the block holds an initialised header while its owner lives.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for OwnedSpan {
    fn drop(&mut self) {
        let layout = layout(self.nelems);
        // SAFETY: the owner is unique (no reference to the span remains) and drops it
        // once; the block then goes back with the layout it was allocated with.
        unsafe {
            deinit(self.0);
            std::alloc::dealloc(self.0.as_ptr().cast(), layout);
        }
    }
}

/// Blocks of freed spans kept for the next spans of the same slot count (Go keeps its
/// `mspan`s in a fixed-size allocator for the same reason). A span is usually freed by the
/// background sweeper and made by an allocating thread: through the global allocator, each
/// such pair took the allocating thread's `malloc` arena lock on both threads, and the
/// allocating thread waited for it (0.5-1.3 ms at a time on the 256 MiB latency probe).
/// At most `cap` bytes are kept (the caller's bound, `heap.rs`'s `spare_cap`); the rest
/// are freed.
pub(crate) struct SpareBlocks {
    /// Blocks by slot count, each an initialised (empty) span nobody refers to.
    by_nelems: Vec<(usize, Vec<OwnedSpan>)>,
    bytes: usize,
}

impl SpareBlocks {
    pub(crate) const fn new() -> SpareBlocks {
        SpareBlocks {
            by_nelems: Vec::new(),
            bytes: 0,
        }
    }

    /// Bytes of the blocks kept.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// A kept block for spans of `nelems` slots, if any.
    pub(crate) fn take(&mut self, nelems: usize) -> Option<OwnedSpan> {
        let (_, v) = self.by_nelems.iter_mut().find(|(n, _)| *n == nelems)?;
        let b = v.pop()?;
        self.bytes -= meta_bytes(nelems);
        Some(b)
    }

    /// Keeps `span`'s block if that leaves at most `cap` bytes kept. Otherwise hands it
    /// back, with one more kept block while the kept bytes are over `cap` (the cap falls
    /// with the heap's goal), for the caller to drop outside its lock.
    pub(crate) fn put(&mut self, span: OwnedSpan, cap: usize) -> [Option<OwnedSpan>; 2] {
        let size = meta_bytes(span.nelems);
        if self.bytes + size > cap {
            let trimmed = if self.bytes > cap {
                self.take_any()
            } else {
                None
            };
            return [Some(span), trimmed];
        }
        self.bytes += size;
        let nelems = span.nelems;
        match self.by_nelems.iter_mut().find(|(n, _)| *n == nelems) {
            Some((_, v)) => v.push(span),
            None => self.by_nelems.push((nelems, vec![span])),
        }
        [None, None]
    }

    /// Any kept block.
    fn take_any(&mut self) -> Option<OwnedSpan> {
        let n = self.by_nelems.iter().find(|(_, v)| !v.is_empty())?.0;
        self.take(n)
    }
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::*;
    use crate::alloc::sizeclass::{CLASSES, NUM_SIZE_CLASSES};

    #[test]
    fn tables_follow_each_other_and_fit_the_block() {
        for (c, k) in CLASSES.iter().enumerate().take(NUM_SIZE_CLASSES).skip(1) {
            let n = k.nelems as usize;
            let w = words(n);
            let t = tables(n);
            assert_eq!(t.dirty, 8 * w, "class {c}");
            assert_eq!(t.alloc, 16 * w, "class {c}");
            assert_eq!(t.roots, 24 * w, "class {c}");
            assert_eq!(t.end, 24 * w + 8 * n.div_ceil(16), "class {c}");
            assert!(header_size() + t.end <= meta_bytes(n));
            assert_eq!(meta_bytes(n) % align_of::<Span>(), 0);
        }
    }

    #[test]
    fn a_small_object_span_costs_less_than_the_separate_tables_did() {
        // 512 slots of 16 bytes: the header with two inline 128-byte bitmaps, 512 counter
        // bytes and 64 bytes of alloc bits in two more allocations came to ~1 KB; one
        // block with byte counters, 832 bytes; four-bit counters take 256 of them.
        let n = 512;
        assert!(
            meta_bytes(n) <= size_of::<Span>() + 3 * 64 + n / 2 + 8,
            "{}",
            meta_bytes(n)
        );
        // A large object's span: one slot, a word per bitmap and a word of counters.
        assert!(meta_bytes(1) <= size_of::<Span>() + 3 * 8 + 8);
    }

    fn shape16() -> Shape {
        Shape {
            npages: 1,
            spanclass: SpanClass::new(2, false),
            elemsize: 16,
            nelems: 512,
            div_mul: 0,
        }
    }

    #[test]
    fn a_reused_block_is_a_fresh_span() {
        let a = OwnedSpan::new(shape16(), 0);
        let block = a.as_ptr_for_test();
        assert!(a.mark(3));
        assert!(a.set_dirty(4));
        a.root_count(5)
            .set_from_zero(2, crate::sync::Ordering::Relaxed);
        // SAFETY: the test owns the span.
        unsafe { a.next_free_fast().unwrap() };
        // A noscan class of the same slot count (the block fits any shape with 512 slots).
        let b = a.reuse(
            Shape {
                spanclass: SpanClass::new(2, true),
                ..shape16()
            },
            6,
        );
        assert!(b.spanclass.noscan());
        assert_eq!(b.as_ptr_for_test(), block, "the same block");
        assert!(!b.is_marked(3) && !b.maybe_dirty() && !b.is_dirty(4));
        assert_eq!(b.root_count(5).load(crate::sync::Ordering::Relaxed), 0);
        assert_eq!(b.sweepgen.load(crate::sync::Ordering::Relaxed), 6);
        // SAFETY: the test owns the span.
        unsafe {
            assert_eq!(b.alloc_count(), 0);
            assert_eq!(b.next_free_fast(), Some(0));
        }
    }

    #[test]
    fn spare_blocks_are_kept_by_slot_count_up_to_the_cap() {
        let mut spares = SpareBlocks::new();
        let size = meta_bytes(512);
        let kept = |out: [Option<OwnedSpan>; 2]| out.iter().all(Option::is_none);
        assert!(kept(spares.put(OwnedSpan::new(shape16(), 0), 2 * size)));
        assert!(kept(spares.put(OwnedSpan::new(shape16(), 0), 2 * size)));
        let [back, trimmed] = spares.put(OwnedSpan::new(shape16(), 0), 2 * size);
        assert!(back.is_some(), "over the cap");
        assert!(trimmed.is_none(), "at the cap, nothing kept is trimmed");
        assert_eq!(spares.bytes(), 2 * size);
        assert!(spares.take(170).is_none(), "no block of another slot count");
        assert!(spares.take(512).is_some() && spares.take(512).is_some());
        assert!(spares.take(512).is_none());
        assert_eq!(spares.bytes(), 0);
    }

    #[test]
    fn a_lower_cap_trims_the_kept_blocks_one_per_put() {
        let mut spares = SpareBlocks::new();
        let size = meta_bytes(512);
        for _ in 0..3 {
            let _ = spares.put(OwnedSpan::new(shape16(), 0), 3 * size);
        }
        assert_eq!(spares.bytes(), 3 * size);
        // The heap's goal fell: each put over the new cap also hands back a kept block.
        let [back, trimmed] = spares.put(OwnedSpan::new(shape16(), 0), size);
        assert!(back.is_some() && trimmed.is_some());
        assert_eq!(spares.bytes(), 2 * size);
        let [_, trimmed] = spares.put(OwnedSpan::new(shape16(), 0), size);
        assert!(trimmed.is_some());
        assert_eq!(spares.bytes(), size);
        let [back, trimmed] = spares.put(OwnedSpan::new(shape16(), 0), size);
        assert!(back.is_some() && trimmed.is_none(), "at the cap again");
        assert_eq!(spares.bytes(), size);
    }

    #[test]
    fn a_fresh_span_is_empty_and_its_tables_are_its_own() {
        let a = OwnedSpan::new(shape16(), 0);
        let b = OwnedSpan::new(shape16(), 0);
        assert!(a.mark(511) && a.mark(0));
        assert!(!b.is_marked(511) && !b.is_marked(0));
        a.root_count(7)
            .set_from_zero(3, crate::sync::Ordering::Relaxed);
        assert_eq!(b.root_count(7).load(crate::sync::Ordering::Relaxed), 0);
        assert!(a.set_dirty(300));
        assert!(!b.maybe_dirty());
        assert!(a.is_dirty(300) && !a.is_dirty(299) && !b.is_dirty(300));
        // SAFETY: the test owns the span.
        unsafe {
            assert_eq!(b.next_free_fast(), Some(0));
            assert_eq!(b.alloc_count(), 1);
        }
    }
}
