//! The sweeper's view of a span (a child of `span.rs`): [`Claimed`], the token
//! `SpanPtr::claim` returns when its `sweepgen` CAS (h-2 to h-1) wins, and [`SlotSet`], the
//! bitmap of slots a sweep works on (the dead slots, the dirty ones).
//!
//! Invariants: a `Claimed` is the only handle that can sweep its span (`alloc/sweep.rs`),
//! and holding it makes this thread the span's owner, so it reads and writes
//! `AllocState` (the alloc bits, `freeindex`) without a lock; one claim, one sweep (not
//! `Clone`). The mark and dirty bits it reads and clears are atomics shared with every
//! thread, but no marker sets mark bits while spans are swept (the cycle's stops order
//! marking and sweeping), and only a survivor's dirty bit can be set meanwhile. A `SlotSet`
//! is a plain value on the stack, shared with no one. See the allocator overview
//! (`crate::design::allocator`).

use super::{SpanPtr, MAX_MARK_WORDS};
use crate::descriptor::TypeInfo;
use crate::sync::Ordering;

/// A span this thread claimed for sweeping (`SpanPtr::claim`): proof that no one else
/// touches its allocation state until the sweep ends. Not `Clone`: one claim, one sweep.
pub(crate) struct Claimed(pub(super) SpanPtr);

/// A set of slot indices of one span (at most `MAX_MARK_WORDS * 64`), as a bitmap.
pub(crate) struct SlotSet {
    pub(super) words: [u64; MAX_MARK_WORDS],
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
