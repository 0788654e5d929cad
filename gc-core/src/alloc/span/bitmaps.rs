//! A span's shared per-slot bitmaps (a child of `span.rs`): the mark bits (Go's
//! `gcmarkBits`: set by markers, turned into the alloc bits by the sweep,
//! `Claimed::reset_after_sweep`) and the dirty bits (the object holds a `GcCell` whose
//! contents a write rooted since the last unroot pass: set by writers, taken by the pass,
//! `crate::gc`'s `dirty.rs`), with the dirty bits' span summary (`maybe_dirty`). The
//! owner's alloc bits are in `alloc_state.rs`; where the words sit, in `block.rs`.
//!
//! Shared state: every word here is an atomic shared by all threads (markers and writers
//! set bits concurrently with `fetch_or`, so one bit's setter never loses another's); the
//! comments at each access give its ordering and what it pairs with. A bit's setter learns
//! whether it set it (a mark shades an object once; a span becomes dirty once per take).
//! See the allocator overview (`crate::design::allocator`).

use super::{SlotSet, Span, MAX_MARK_WORDS};
use crate::sync::Ordering;

impl Span {
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
}
