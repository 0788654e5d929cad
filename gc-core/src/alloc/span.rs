//! A span (Go's mspan): a run of pages cut into `nelems` slots of `elemsize` bytes, plus the
//! per-slot side tables that replace object headers: alloc bits, mark bits, dirty bits, root
//! counts (all four in the span's metadata block, `block.rs`) and, only when a span holds
//! more than one type, per-slot types (a byte per slot naming a palette entry, or a pointer
//! per slot past sixteen types: `slot_types.rs`).
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

mod block;
mod premark;
mod root_counter;
mod slot_types;

pub(crate) use block::{meta_bytes, OwnedSpan, Shape, SpareBlocks};
use root_counter::table_words;
pub(crate) use root_counter::RootCounter;
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

/// A span this thread claimed for sweeping (`SpanPtr::claim`): proof that no one else
/// touches its allocation state until the sweep ends. Not `Clone`: one claim, one sweep.
pub(crate) struct Claimed(SpanPtr);

/// A set of slot indices of one span (at most `MAX_MARK_WORDS * 64`), as a bitmap.
pub(crate) struct SlotSet {
    words: [u64; MAX_MARK_WORDS],
}

impl SlotSet {
    /// The indices, in increasing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(w, &bits)| {
            let mut rest = bits;
            std::iter::from_fn(move || {
                (rest != 0).then(|| {
                    let i = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    w * 64 + i
                })
            })
        })
    }

    /// How many indices.
    pub(crate) fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The empty set.
    pub(crate) const fn new() -> SlotSet {
        SlotSet {
            words: [0; MAX_MARK_WORDS],
        }
    }

    /// Adds index `i`.
    pub(crate) fn insert(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// Whether index `i` is in the set.
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// Whether the set is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }
}

impl Claimed {
    /// The claimed span.
    pub(crate) fn span(&self) -> SpanPtr {
        self.0
    }

    /// Slots that were allocated but are not marked: the objects this sweep frees. Also
    /// reports the zombie check (Go's): a marked slot that was not allocated. A bitmap on
    /// the stack, not a `Vec`: sweeps run on every thread, and a `malloc` per sweep made
    /// the sweeper and the mutators contend for the C allocator's lock.
    pub(crate) fn dead_slots(&self) -> Result<SlotSet, usize> {
        let s = &*self.0;
        let mut out = SlotSet::new();
        s.alloc.with(|a| {
            // SAFETY: the claim makes this thread the span's owner.
            let a = unsafe { &*a };
            let bits = a.alloc_bits.words();
            for (w, mark) in s.mark_words().iter().enumerate() {
                // Acquire pairs with the AcqRel `fetch_or` of `Span::mark`: the marks of the
                // finished cycle are all visible (mark termination stopped every marker).
                let mark = mark.load(Ordering::Acquire);
                let lo = w * 64;
                let below_free = if a.freeindex >= lo + 64 {
                    !0u64
                } else if a.freeindex <= lo {
                    0
                } else {
                    (1u64 << (a.freeindex - lo)) - 1
                };
                let valid = if s.nelems >= lo + 64 {
                    !0u64
                } else {
                    (1u64 << (s.nelems - lo)) - 1
                };
                let allocated = (bits[w] | below_free) & valid;
                if mark & !allocated != 0 {
                    return Err(lo + (mark & !allocated).trailing_zeros() as usize);
                }
                out.words[w] = allocated & !mark;
            }
            Ok(out)
        })
    }

    /// Ends a sweep (Go's "allocBits = gcmarkBits"): the mark bits become the alloc bits,
    /// the mark bits are cleared, allocation restarts from slot 0. Returns the live count.
    /// The caller has finished with the dead slots.
    pub(crate) fn reset_after_sweep(&self) -> usize {
        let s = &*self.0;
        let live = s.alloc.with_mut(|a| {
            // SAFETY: the claim makes this thread the span's owner.
            let a = unsafe { &mut *a };
            let mut live = 0;
            let bits = a.alloc_bits.words_mut();
            let dirty = s.dirty_words();
            for (w, mark) in s.mark_words().iter().enumerate() {
                // No thread sets mark bits while spans are swept (marking ended at mark
                // termination; the next mark starts after sweep termination), so a load and
                // a store, not a locked swap. Acquire pairs with the Release half of
                // `mark`'s fetch_or: the finished cycle's marks become the alloc bits (mark
                // termination's stop orders them too). The next cycle's fetch_or is ordered
                // after the store by `sweep_pending` and the next stop: Relaxed.
                let m = mark.load(Ordering::Acquire);
                mark.store(0, Ordering::Relaxed);
                bits[w] = m;
                live += m.count_ones() as usize;
                // Freed slots are not dirty (their objects are gone); survivors keep their
                // bits for the next unroot pass. Only a survivor's bit can be set meanwhile
                // (`set_dirty`, by a write to a live cell), so when the load finds no freed
                // slot's bit there is nothing to clear. Relaxed: only the bits pass.
                if dirty[w].load(Ordering::Relaxed) & !m != 0 {
                    dirty[w].fetch_and(m, Ordering::Relaxed);
                }
            }
            a.freeindex = 0;
            a.alloc_cache = !bits[0];
            a.alloc_count = live;
            live
        });
        if live == 0 {
            s.clear_types();
        }
        live
    }
}

impl Claimed {
    /// The type of every object in the span when it holds one type (no per-slot table);
    /// `None` when its slots have types of their own, or it never held an object.
    pub(crate) fn uniform_type(&self) -> Option<&'static TypeInfo> {
        self.0.types.uniform()
    }

    /// After `reset_after_sweep` returned `live`: calls `f(type, n)` for the survivors,
    /// `n` objects of one type at a time (once for a span of one type; per run of equal
    /// types in slot order otherwise). For the heap profile (`super::live_types`).
    pub(crate) fn live_types(&self, live: usize, mut f: impl FnMut(&'static TypeInfo, usize)) {
        if live == 0 {
            return;
        }
        // A span of one type (with live objects, its type is recorded): every object's.
        if let Some(ty) = self.uniform_type() {
            f(ty, live);
            return;
        }
        let s = &*self.0;
        s.alloc.with(|a| {
            // SAFETY: the claim makes this thread the span's owner.
            let a = unsafe { &*a };
            let mut run: Option<(&'static TypeInfo, usize)> = None;
            for (w, &word) in a.alloc_bits.words().iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let idx = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    // SAFETY: the slot survived the mark, so it holds an object allocated
                    // before this sweep.
                    let ty = unsafe { s.type_of(idx) };
                    match &mut run {
                        Some((t, n)) if std::ptr::eq(*t, ty) => *n += 1,
                        _ => {
                            if let Some((t, n)) = run.replace((ty, 1)) {
                                f(t, n);
                            }
                        }
                    }
                }
            }
            if let Some((t, n)) = run {
                f(t, n);
            }
        });
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
    unsafe fn new(ptr: NonNull<u64>, words: usize) -> AllocBits {
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

/// Drops the cache bits up to and including `bit` (Go's `allocCache >>= bit + 1`, where a
/// shift by 64 yields 0; Rust's `>>` would overflow).
#[inline(always)]
fn shift_out(cache: u64, bit: usize) -> u64 {
    (cache >> bit) >> 1
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

    /// Bytes of the root counter table (what a root scan of the span reads).
    pub(crate) fn root_table_bytes(&self) -> usize {
        table_words(self.nelems) * std::mem::size_of::<AtomicU64>()
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
        (((addr - self.base) as u64 * self.div_mul as u64) >> 32) as usize
    }

    /// Address of slot `idx`.
    #[inline(always)]
    pub(crate) fn slot_addr(&self, idx: usize) -> usize {
        self.base + idx * self.elemsize
    }

    /// The root counter of slot `idx`.
    #[inline(always)]
    pub(crate) fn root_count(&self, idx: usize) -> RootCounter<'_> {
        RootCounter::in_table(self.root_words(), idx)
    }

    /// Sets the mark bit of slot `idx`; returns true if it was clear.
    #[inline]
    pub(crate) fn mark(&self, idx: usize) -> bool {
        let bit = 1u64 << (idx % 64);
        let w = &self.mark_words()[idx / 64];
        // Relaxed load first: most shades of an already-marked object stop here without a
        // read-modify-write.
        if w.load(Ordering::Relaxed) & bit != 0 {
            return false;
        }
        // AcqRel: the Release half pairs with the Acquire reads of the word in
        // `Claimed::dead_slots`, `reset_after_sweep` and `is_marked`, the Acquire half with
        // other markers' fetch_or (the last sweep's clearing store is ordered before this
        // mark by the cycle's stops). Only the bits pass: a
        // scanner sees an object's contents through the path that led it to the object, and
        // the cycle's stops order marking and sweeping.
        w.fetch_or(bit, Ordering::AcqRel) & bit == 0
    }

    /// Records that the object in slot `idx` holds a rooted `GcCell` (a write rooted its
    /// contents) for the next unroot pass. The object is live: the caller holds a reference
    /// into it. Returns true if this made the span's summary dirty (its first dirty slot
    /// since the last `take_dirty`): the caller then lists the span for the pass, once per
    /// such change.
    #[inline]
    #[must_use = "a span made dirty must be listed for the unroot pass"]
    pub(crate) fn set_dirty(&self, idx: usize) -> bool {
        let bit = 1u64 << (idx % 64);
        let w = &self.dirty_words()[idx / 64];
        // Release pairs with `take_dirty`'s Acquire swap: the pass that takes the bit sees
        // the object as the writer left it (its cell's `ROOTED` flag). A bit already set
        // was summarised by whoever set it, or is about to be taken by a pass that has
        // cleared the summary and not yet read this word.
        if w.load(Ordering::Relaxed) & bit == 0 && w.fetch_or(bit, Ordering::Release) & bit == 0 {
            // After the bit: a pass that clears the summary before this swap reads the
            // word after it too (it swaps the summary before the words). AcqRel: a swap
            // that reads true was ordered before the clearing swap of the pass that will
            // take the bit, which then synchronises with it and sees the bit.
            return !self.maybe_dirty.swap(true, Ordering::AcqRel);
        }
        false
    }

    /// Whether a slot may be dirty: false only if none was marked since the last
    /// `take_dirty` (read by the sweep, which owns the span: no pass runs).
    #[inline]
    pub(crate) fn maybe_dirty(&self) -> bool {
        self.maybe_dirty.load(Ordering::Relaxed)
    }

    /// Whether slot `idx` is dirty (read by the sweep, which owns the span: no pass runs).
    #[inline]
    pub(crate) fn is_dirty(&self, idx: usize) -> bool {
        self.dirty_words()[idx / 64].load(Ordering::Relaxed) & (1u64 << (idx % 64)) != 0
    }

    /// Takes the dirty slots (clearing them), or `None` if none was set since the last take.
    pub(crate) fn take_dirty(&self) -> Option<SlotSet> {
        // A load first: most spans have nothing, and a swap would write every span's line.
        // AcqRel/Acquire pair with `set_dirty`'s Release stores.
        if !self.maybe_dirty.load(Ordering::Relaxed)
            || !self.maybe_dirty.swap(false, Ordering::AcqRel)
        {
            return None;
        }
        let mut out = SlotSet {
            words: [0; MAX_MARK_WORDS],
        };
        for (o, w) in out.words.iter_mut().zip(self.dirty_words()) {
            *o = w.swap(0, Ordering::Acquire);
        }
        Some(out)
    }

    /// Whether slot `idx` is marked in the current cycle.
    #[inline]
    pub(crate) fn is_marked(&self, idx: usize) -> bool {
        // Acquire pairs with the Release half of `mark`'s fetch_or, but no caller reads
        // anything through it (`shade_from_mutator` only skips a grey object; checkmark
        // runs with operations stopped): Relaxed would do.
        self.mark_words()[idx / 64].load(Ordering::Acquire) & (1u64 << (idx % 64)) != 0
    }

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

    /// Records that a counter of this span went from 0 to 1 (the collector's root counting).
    #[inline(always)]
    pub(crate) fn note_root(&self, ordering: Ordering) {
        self.maybe_roots.store(true, ordering);
    }

    /// `note_root(SeqCst)`, without the store (a locked exchange on x86-64) when the
    /// summary reads set already: only the root scan clears it, and it reads every counter
    /// after clearing it (`gc/roots.rs` has the argument).
    #[inline(always)]
    pub(crate) fn note_root_seqcst(&self) {
        if !self.maybe_roots.load(Ordering::SeqCst) {
            self.maybe_roots.store(true, Ordering::SeqCst);
        }
    }

    /// A slot of `set` whose root count is non-zero, with the count, if any: one load per
    /// sixteen counters, so checking every dead object of a sweep costs little when few
    /// objects are roots (the sweep's "the mark missed a root" check).
    pub(crate) fn rooted_in(&self, set: &SlotSet) -> Option<(usize, u8)> {
        let mut found = None;
        root_counter::for_each_nonzero(self.root_words(), Ordering::SeqCst, |i| {
            if found.is_none() && set.contains(i) {
                found = Some(i);
            }
        });
        found.map(|i| (i, self.root_count(i).load(Ordering::SeqCst)))
    }

    /// Calls `f(slot)` for every slot whose root count is non-zero. Skips the span at the
    /// cost of one load if no counter went from 0 to 1 since the last scan found none.
    /// Returns whether it read the counters.
    pub(crate) fn for_each_root(&self, mut f: impl FnMut(usize)) -> bool {
        // Clear before reading the counters: an increment the reads miss stores `true`
        // after it (roots.rs), so the summary is never false while a counter is non-zero.
        if !self.maybe_roots.swap(false, Ordering::SeqCst) {
            return false;
        }
        crate::sync::seqcst_order();
        let mut found = false;
        root_counter::for_each_nonzero(self.root_words(), Ordering::SeqCst, |i| {
            found = true;
            f(i);
        });
        if found {
            self.maybe_roots.store(true, Ordering::SeqCst);
        }
        true
    }
}

#[cfg(test)]
mod tests;
