//! Allocate-black in bulk. While the collector marks (once its young scan has turned small
//! allocations from white to black), every object allocated is marked (invariant I1); Go
//! does that per object with an atomic OR on the mark bits, and so does `Span::mark`.
//! Instead, a thread cache marks all the free slots of a span at once when it takes the
//! span then: each later allocation from it finds its slot marked already, with a plain
//! load, and takes no read-modify-write. (Spans a cache already held keep the per-object
//! marking: doing them in the stop would make the pause grow with the number of threads,
//! 43 -> 77 us with 500 idle ones, for no measurable gain.) A span leaving its cache
//! clears the marks of the slots still free, so a free slot is never marked outside a
//! cache (the sweep treats a marked free slot as a fatal error, and every cache is flushed
//! at mark termination, before anything is swept). The price: a marker that followed a
//! dangling pointer into a free slot of a premarked span leaves no trace for that zombie
//! check to find.
//!
//! Owner only, like all of `AllocState` (the span's cache, or the collector while GC
//! operations are stopped); the mark words are shared with the markers, which set other
//! bits concurrently, hence `fetch_or`/`fetch_and`. See the allocator overview
//! (`crate::design::allocator`).

use super::{words, AllocState, Span};
use crate::sync::Ordering;

impl Span {
    /// Marks every free slot, once per stay in a cache; returns how many it marked (their
    /// bytes count as allocated black).
    ///
    /// # Safety
    ///
    /// The caller owns the span (module header).
    pub(crate) unsafe fn mark_free_slots(&self) -> usize {
        // SAFETY: forwarded.
        unsafe {
            self.flip_free_marks(true, |w, free| {
                // AcqRel, as `Span::mark`'s fetch_or (which it stands for).
                self.mark_words()[w].fetch_or(free, Ordering::AcqRel);
            })
        }
    }

    /// Undoes `mark_free_slots` for the slots still free, if it ran since the span was
    /// cached; returns how many it unmarked.
    ///
    /// # Safety
    ///
    /// The caller owns the span (module header).
    pub(crate) unsafe fn unmark_free_slots(&self) -> usize {
        // SAFETY: forwarded.
        unsafe {
            self.flip_free_marks(false, |w, free| {
                // AcqRel, as the fetch_or above; markers never mark a free slot, so only
                // our bits change.
                self.mark_words()[w].fetch_and(!free, Ordering::AcqRel);
            })
        }
    }

    /// Unless `premarked` is already `to`, sets it to `to` and calls `f(word, free slots)`
    /// for each mark word with free slots; returns how many slots were free.
    ///
    /// # Safety
    ///
    /// The caller owns the span.
    unsafe fn flip_free_marks(&self, to: bool, mut f: impl FnMut(usize, u64)) -> usize {
        self.alloc.with_mut(|a| {
            // SAFETY: the caller owns the span, so no one else touches `AllocState`.
            let a = unsafe { &mut *a };
            if a.premarked == to {
                return 0;
            }
            a.premarked = to;
            let mut n = 0;
            for w in 0..words(self.nelems) {
                let free = free_in_word(a, self.nelems, w);
                if free != 0 {
                    f(w, free);
                    n += free.count_ones() as usize;
                }
            }
            n
        })
    }
}

/// The free slots among slots `64 * w .. 64 * w + 64`, as a bit mask: at or past
/// `freeindex`, below `nelems`, and not allocated at the last sweep.
fn free_in_word(a: &AllocState, nelems: usize, w: usize) -> u64 {
    let below = |n: usize| -> u64 {
        // Bits of the slots of word `w` whose index is below `n`.
        match n.saturating_sub(64 * w) {
            0 => 0,
            k if k >= 64 => !0,
            k => (1u64 << k) - 1,
        }
    };
    below(nelems) & !below(a.freeindex) & !a.alloc_bits.words()[w]
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use crate::alloc::sizeclass::SpanClass;
    use crate::alloc::span::{OwnedSpan, Shape};

    fn span(nelems: usize) -> OwnedSpan {
        let shape = Shape {
            npages: 1,
            spanclass: SpanClass::new(3, false),
            elemsize: 16,
            nelems,
            div_mul: 0,
        };
        let mut s = OwnedSpan::new(shape, 0);
        s.place(0x10_0000, true);
        s
    }

    #[test]
    fn marks_exactly_the_free_slots_then_unmarks_those_still_free() {
        let s = span(100);
        // SAFETY: the test owns the span.
        unsafe {
            s.alloc.with_mut(|a| {
                (*a).alloc_bits.words_mut()[1] |= 1 << 6; // slot 70: live at the last sweep
                (*a).freeindex = 3; // slots 0-2 handed out
            });
            assert_eq!(s.mark_free_slots(), 100 - 3 - 1);
            assert_eq!(s.mark_free_slots(), 0, "once per stay in a cache");
            for i in 0..100 {
                assert_eq!(s.is_marked(i), i >= 3 && i != 70, "slot {i}");
            }
            // Two more slots handed out, then the span leaves its cache.
            s.alloc.with_mut(|a| (*a).freeindex = 5);
            assert_eq!(s.unmark_free_slots(), 100 - 5 - 1);
            for i in 0..100 {
                assert_eq!(s.is_marked(i), i == 3 || i == 4, "slot {i}");
            }
            assert_eq!(s.unmark_free_slots(), 0);
        }
    }
}
