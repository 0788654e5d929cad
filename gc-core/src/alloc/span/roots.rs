//! A span's per-slot root table, the span's side (a child of `span.rs`): a slot's root
//! counter (`root_count`, the four-bit fields of `root_counter.rs`), the table's size, the
//! span's summary of it (`maybe_roots`: false only if every counter was zero when the last
//! root scan looked, so the scan skips the span), and the scans that read it (the root
//! scan's `for_each_root`, the sweep's `rooted_in`), and a copy of where the table is
//! (`CounterMap`) for a thread that counts on many objects of one span in a row. What the
//! counts mean is the collector's root protocol (`crate::gc`'s `roots.rs`).
//!
//! Shared state: the counter words and the summary are atomics shared by all threads,
//! accessed `SeqCst` where the root protocol needs it (the summary is cleared before the
//! counters are read, and set after a counter goes from 0 to 1, so it is never false while
//! a counter is non-zero). See the allocator overview (`crate::design::allocator`).

use super::root_counter::{self, table_words, RootCounter, PER_WORD};
use super::{SlotSet, Span};
use crate::sync::{AtomicU64, Ordering};
use std::ptr::NonNull;

/// What finding the root counter of an address in one span takes, copied out of its
/// header: for a thread that counts roots on many objects of the same span one after
/// another (`crate::gc`'s root cache, rooting a list) without reading the header and
/// working out where the table is each time.
#[derive(Clone, Copy)]
pub(crate) struct CounterMap {
    base: usize,
    len: usize,
    div_mul: u32,
    words: NonNull<AtomicU64>,
}

impl CounterMap {
    /// Whether `addr` lies in the span's slots.
    #[inline(always)]
    pub(crate) fn contains(&self, addr: usize) -> bool {
        addr.wrapping_sub(self.base) < self.len
    }

    /// The root counter of the slot holding `addr`, which [`contains`](Self::contains).
    ///
    /// # Safety
    ///
    /// The span must still be in use (its table is freed with it).
    #[inline(always)]
    pub(crate) unsafe fn counter<'a>(&self, addr: usize) -> RootCounter<'a> {
        debug_assert!(self.contains(addr));
        let idx = super::slot_at(addr - self.base, self.div_mul);
        // SAFETY: `idx` is a slot of the span (the caller's `contains`), so its word is in
        // the table, which lives as long as the span (the caller's contract).
        let word = unsafe { &*self.words.as_ptr().add(idx / PER_WORD) };
        RootCounter::new(word, idx % PER_WORD)
    }
}

impl Span {
    /// Bytes of the root counter table (what a root scan of the span reads).
    pub(crate) fn root_table_bytes(&self) -> usize {
        table_words(self.nelems) * std::mem::size_of::<AtomicU64>()
    }

    /// Where this span's root counters are ([`CounterMap`]).
    pub(crate) fn counter_map(&self) -> CounterMap {
        CounterMap {
            base: self.base,
            len: self.limit() - self.base,
            div_mul: self.div_mul,
            words: NonNull::from(&self.root_words()[0]),
        }
    }

    /// The address of the slot whose counter is field `field` of `word`, a word of this
    /// span's counter table (for a decrement owed to it).
    pub(crate) fn slot_of_counter(&self, word: &AtomicU64, field: usize) -> usize {
        let words = self.root_words();
        let w = (word as *const AtomicU64 as usize - words.as_ptr() as usize)
            / std::mem::size_of::<AtomicU64>();
        debug_assert!(w < words.len() && field < PER_WORD);
        self.base + (w * PER_WORD + field) * self.elemsize
    }

    /// The root counter of slot `idx`.
    #[inline(always)]
    pub(crate) fn root_count(&self, idx: usize) -> RootCounter<'_> {
        RootCounter::in_table(self.root_words(), idx)
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
