//! A slot's root counter: four bits of a 64-bit word of its span's counter table, sixteen
//! slots to a word.
//!
//! The counter holds a small number (0 to [`RootCounter::MAX`]); what the numbers mean
//! (counts, and the value that says "the rest is in the spill table") is the collector's
//! root protocol (`crate::gc`'s `roots.rs`). Here is only how a field is read and changed
//! without disturbing the fifteen others in its word: every change is one compare-and-swap
//! of the whole word (the same locked instruction a byte counter's exchange costs), retried
//! only when a neighbour's change got in between, so concurrent changes to neighbouring
//! counters never lose each other; `add_fields` adds to several fields of a word with one
//! compare-and-swap, all of them or none. The memory orderings are the caller's, applied
//! to the word: a field's load or exchange orders exactly what the same operation on a
//! counter of its own would.
//!
//! Four bits rather than a byte halve the table (a span of 16-byte objects: 256 bytes per
//! 8 KiB page instead of 512) and let the root scan skip sixteen zero counters with one
//! load. See the allocator overview (`crate::design::allocator`).

use crate::sync::{AtomicU64, Ordering};

/// Bits per counter.
const BITS: u32 = 4;
/// Counters per table word.
pub(crate) const PER_WORD: usize = (u64::BITS / BITS) as usize;
/// One counter's bits, at the bottom of a word.
const FIELD: u64 = (1 << BITS) - 1;

/// Table words for `nelems` counters.
pub(crate) const fn table_words(nelems: usize) -> usize {
    nelems.div_ceil(PER_WORD)
}

/// One slot's counter: a field of a table word.
#[derive(Clone, Copy)]
pub(crate) struct RootCounter<'a> {
    word: &'a AtomicU64,
    shift: u32,
}

impl<'a> RootCounter<'a> {
    /// The largest value a counter holds.
    pub(crate) const MAX: u8 = FIELD as u8;

    /// Counter `i` (below [`PER_WORD`]) of `word`.
    #[inline(always)]
    pub(crate) fn new(word: &'a AtomicU64, i: usize) -> RootCounter<'a> {
        debug_assert!(i < PER_WORD);
        RootCounter {
            word,
            shift: i as u32 * BITS,
        }
    }

    /// Counter `idx` of a table.
    #[inline(always)]
    pub(crate) fn in_table(table: &'a [AtomicU64], idx: usize) -> RootCounter<'a> {
        RootCounter::new(&table[idx / PER_WORD], idx % PER_WORD)
    }

    #[inline(always)]
    fn field(self, word: u64) -> u8 {
        ((word >> self.shift) & FIELD) as u8
    }

    #[inline(always)]
    fn with(self, word: u64, v: u8) -> u64 {
        debug_assert!(v <= Self::MAX);
        (word & !(FIELD << self.shift)) | ((v as u64) << self.shift)
    }

    /// The counter's value (`order` is the word load's).
    #[inline(always)]
    pub(crate) fn load(self, order: Ordering) -> u8 {
        self.field(self.word.load(order))
    }

    /// Replaces `current` with `new` if the counter holds `current`: `Ok(current)`, or
    /// `Err(value it holds)`. A neighbour's change between the load and the exchange is
    /// retried, never reported.
    #[inline(always)]
    pub(crate) fn compare_exchange(
        self,
        current: u8,
        new: u8,
        success: Ordering,
        failure: Ordering,
    ) -> Result<u8, u8> {
        self.fetch_update(success, failure, |v| (v == current).then_some(new))
    }

    /// Replaces the counter's value `v` with `f(v)` until that succeeds (`Ok(v)`), or until
    /// `f` returns `None` (`Err(v)`), like `AtomicU8::fetch_update`: one load, then one
    /// compare-and-swap per attempt (a neighbour's change is another attempt).
    #[inline(always)]
    pub(crate) fn fetch_update(
        self,
        success: Ordering,
        failure: Ordering,
        mut f: impl FnMut(u8) -> Option<u8>,
    ) -> Result<u8, u8> {
        let mut w = self.word.load(failure);
        loop {
            let v = self.field(w);
            let Some(new) = f(v) else {
                return Err(v);
            };
            match self
                .word
                .compare_exchange_weak(w, self.with(w, new), success, failure)
            {
                Ok(_) => return Ok(v),
                Err(now) => w = now,
            }
        }
    }

    /// Sets a counter that holds 0 and that no other thread changes meanwhile (a new
    /// object's) to `v`, leaving its neighbours as they are (`order` is the word's
    /// read-modify-write's).
    #[inline(always)]
    pub(crate) fn set_from_zero(self, v: u8, order: Ordering) {
        debug_assert!(v <= Self::MAX);
        let old = self.word.fetch_add((v as u64) << self.shift, order);
        debug_assert_eq!(self.field(old), 0, "set_from_zero on a non-zero counter");
    }

    /// The table word this counter is a field of.
    #[inline(always)]
    pub(crate) fn word(self) -> &'a AtomicU64 {
        self.word
    }

    /// This counter's field of `word`, a value (or a sum of increments) laid out as a
    /// table word is.
    #[inline(always)]
    pub(crate) fn field_of(self, word: u64) -> u8 {
        self.field(word)
    }

    /// `n` in this counter's field and zeros elsewhere: one counter's part of a sum of
    /// increments for a whole word ([`add_fields`]).
    #[inline(always)]
    pub(crate) fn delta(self, n: u8) -> u64 {
        debug_assert!(n <= Self::MAX);
        (n as u64) << self.shift
    }

    /// A key naming this counter among all live counters (for the spill table).
    #[inline]
    pub(crate) fn key(self) -> usize {
        (self.word as *const AtomicU64 as usize) * PER_WORD + (self.shift / BITS) as usize
    }
}

/// Adds `delta` (increments for any of `word`'s counters, one field each, as
/// [`RootCounter::delta`] lays them out) to `word` with one compare-and-swap, if every
/// counter it adds to stays at or below `limit` (below [`RootCounter::MAX`], so no field
/// carries into its neighbour): `Ok(the word it replaced)`, or `Err(the word)` unchanged if
/// one would pass `limit`. `success` and `failure` are the exchange's orderings.
#[inline]
pub(crate) fn add_fields(
    word: &AtomicU64,
    delta: u64,
    limit: u8,
    success: Ordering,
    failure: Ordering,
) -> Result<u64, u64> {
    debug_assert!(limit < RootCounter::MAX);
    let mut w = word.load(failure);
    loop {
        let over = nonzero_fields(delta)
            .any(|i| ((w >> (i * BITS)) & FIELD) + ((delta >> (i * BITS)) & FIELD) > limit as u64);
        if over {
            return Err(w);
        }
        match word.compare_exchange_weak(w, w + delta, success, failure) {
            Ok(old) => return Ok(old),
            Err(now) => w = now,
        }
    }
}

/// Subtracts `delta` (decrements for any of `word`'s counters, laid out as for
/// [`add_fields`]) from `word` with one compare-and-swap, if every counter it subtracts
/// from holds at least its decrement and is below [`RootCounter::MAX`] (so no field borrows
/// from its neighbour, and no field that means more than it holds is touched):
/// `Ok(the word it replaced)`, or `Err(the word)` unchanged otherwise.
#[inline]
pub(crate) fn sub_fields(
    word: &AtomicU64,
    delta: u64,
    success: Ordering,
    failure: Ordering,
) -> Result<u64, u64> {
    let mut w = word.load(failure);
    loop {
        let short = nonzero_fields(delta).any(|i| {
            let have = (w >> (i * BITS)) & FIELD;
            have == FIELD || have < (delta >> (i * BITS)) & FIELD
        });
        if short {
            return Err(w);
        }
        match word.compare_exchange_weak(w, w - delta, success, failure) {
            Ok(old) => return Ok(old),
            Err(now) => w = now,
        }
    }
}

/// Whether adding `delta` to the word `old` (as [`add_fields`] did) took one of the
/// counters it added to from 0.
#[inline]
pub(crate) fn from_zero(old: u64, delta: u64) -> bool {
    nonzero_fields(delta).any(|i| (old >> (i * BITS)) & FIELD == 0)
}

/// Calls `f(i)` for every non-zero counter `i` of `table` (`order` is each word load's);
/// a word of sixteen zero counters costs one load.
#[inline]
pub(crate) fn for_each_nonzero(table: &[AtomicU64], order: Ordering, mut f: impl FnMut(usize)) {
    for (w, word) in table.iter().enumerate() {
        for i in nonzero_fields(word.load(order)) {
            f(w * PER_WORD + i as usize);
        }
    }
}

/// The indexes of the non-zero fields of a table word (or of a word of increments),
/// lowest first.
#[inline(always)]
fn nonzero_fields(word: u64) -> impl Iterator<Item = u32> {
    let mut rest = word;
    std::iter::from_fn(move || {
        (rest != 0).then(|| {
            let i = rest.trailing_zeros() / BITS;
            rest &= !(FIELD << (i * BITS));
            i
        })
    })
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn fields_subtract_together_or_not_at_all() {
        let word = AtomicU64::new(0);
        let c = |i| RootCounter::new(&word, i);
        for (i, n) in [(0, 3), (1, 1), (5, 14), (15, 2)] {
            c(i).set_from_zero(n, Ordering::Relaxed);
        }
        let delta = c(0).delta(2) | c(5).delta(14) | c(15).delta(1);
        assert!(sub_fields(&word, delta, Ordering::SeqCst, Ordering::Relaxed).is_ok());
        let now: Vec<u8> = (0..PER_WORD)
            .map(|i| c(i).load(Ordering::Relaxed))
            .collect();
        assert_eq!(&now[..6], &[1, 1, 0, 0, 0, 0]);
        assert_eq!(now[15], 1);
        // One field short (counter 0 holds 1): nothing changes.
        let before = word.load(Ordering::Relaxed);
        let delta = c(0).delta(2) | c(1).delta(1);
        assert_eq!(
            sub_fields(&word, delta, Ordering::SeqCst, Ordering::Relaxed),
            Err(before)
        );
        // A field at the maximum means more than it holds (spilled): not touched.
        c(7).set_from_zero(RootCounter::MAX, Ordering::Relaxed);
        let before = word.load(Ordering::Relaxed);
        assert_eq!(
            sub_fields(&word, c(7).delta(1), Ordering::SeqCst, Ordering::Relaxed),
            Err(before)
        );
    }

    #[test]
    fn neighbours_are_independent() {
        let word = AtomicU64::new(0);
        let c = |i| RootCounter::new(&word, i);
        for i in 0..PER_WORD {
            c(i).set_from_zero((i % 16) as u8, Ordering::Relaxed);
        }
        for i in 0..PER_WORD {
            assert_eq!(c(i).load(Ordering::Relaxed), (i % 16) as u8);
        }
        assert_eq!(
            c(3).compare_exchange(3, 15, Ordering::SeqCst, Ordering::Relaxed),
            Ok(3)
        );
        assert_eq!(
            c(4).compare_exchange(3, 0, Ordering::SeqCst, Ordering::Relaxed),
            Err(4)
        );
        assert_eq!(c(3).load(Ordering::Relaxed), 15);
        assert_eq!(c(2).load(Ordering::Relaxed), 2);
        assert_eq!(c(4).load(Ordering::Relaxed), 4);
        assert_eq!(c(15).load(Ordering::Relaxed), 15);
    }

    #[test]
    fn a_word_of_increments_is_added_whole_or_not_at_all() {
        let word = AtomicU64::new(0);
        let c = |i| RootCounter::new(&word, i);
        c(0).set_from_zero(3, Ordering::Relaxed);
        c(15).set_from_zero(12, Ordering::Relaxed);
        /// (increment per counter, limit, whether it fits, whether a counter left 0)
        type Case = (&'static [(usize, u8)], u8, bool, bool);
        let cases: [Case; 6] = [
            (&[(0, 1), (1, 2)], 14, true, true),
            (&[(0, 11)], 14, true, false),
            (&[(15, 2)], 14, true, false),
            (&[(15, 3), (2, 1)], 14, false, false),
            (&[(7, 14)], 14, true, true),
            (&[(0, 1), (15, 1)], 12, false, false),
        ];
        for (deltas, limit, fits, took_zero) in cases {
            let before = word.load(Ordering::Relaxed);
            let delta: u64 = deltas.iter().map(|&(i, n)| c(i).delta(n)).sum();
            let got = add_fields(&word, delta, limit, Ordering::SeqCst, Ordering::Relaxed);
            assert_eq!(got.is_ok(), fits, "{deltas:?} to {before:#x}");
            let after = word.load(Ordering::Relaxed);
            for i in 0..PER_WORD {
                let n = deltas.iter().find(|d| d.0 == i).map_or(0, |d| d.1);
                let expect = c(i).field_of(before) + if fits { n } else { 0 };
                assert_eq!(c(i).field_of(after), expect, "counter {i} after {deltas:?}");
            }
            if fits {
                assert_eq!(from_zero(before, delta), took_zero, "{deltas:?}");
            }
            word.store(before, Ordering::Relaxed);
        }
    }

    #[test]
    fn keys_are_distinct_across_words_and_fields() {
        let table: Vec<AtomicU64> = (0..3).map(|_| AtomicU64::new(0)).collect();
        let mut keys: Vec<usize> = (0..3 * PER_WORD)
            .map(|i| RootCounter::in_table(&table, i).key())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 3 * PER_WORD);
    }

    #[test]
    fn the_scan_finds_exactly_the_non_zero_counters() {
        let table: Vec<AtomicU64> = (0..table_words(40)).map(|_| AtomicU64::new(0)).collect();
        let set = [0usize, 1, 15, 16, 31, 33, 39];
        for (k, &i) in set.iter().enumerate() {
            RootCounter::in_table(&table, i).set_from_zero(1 + (k as u8 % 15), Ordering::Relaxed);
        }
        let mut seen = Vec::new();
        for_each_nonzero(&table, Ordering::Relaxed, |i| seen.push(i));
        assert_eq!(seen, set);
        assert_eq!(table_words(40), 3);
        assert_eq!(table_words(16), 1);
        assert_eq!(table_words(1), 1);
    }

    #[test]
    fn concurrent_changes_to_neighbours_lose_nothing() {
        let word = crate::sync::Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let word = word.clone();
                crate::sync::thread::spawn(move || {
                    let c = RootCounter::new(&word, t);
                    for _ in 0..10_000 {
                        for v in 0..RootCounter::MAX {
                            c.compare_exchange(v, v + 1, Ordering::SeqCst, Ordering::Relaxed)
                                .unwrap();
                        }
                        for v in (1..=RootCounter::MAX).rev() {
                            c.compare_exchange(v, v - 1, Ordering::SeqCst, Ordering::Relaxed)
                                .unwrap();
                        }
                    }
                    c.set_from_zero(t as u8 + 1, Ordering::SeqCst);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for t in 0..4 {
            assert_eq!(
                RootCounter::new(&word, t).load(Ordering::SeqCst),
                t as u8 + 1
            );
        }
    }
}
