//! Root counts past four bits (a child of `roots.rs`, whose header has the counters'
//! protocol): the spill table, the counters' increments and decrements that use it, and
//! overflow.
//!
//! Four bits per slot (`alloc/span/root_counter.rs`): counts 0 to `INLINE_MAX` (14) live
//! in the counter; past that the counter holds `SPILLED` and the count is `INLINE_MAX` plus
//! an entry of the spill table (`SPILL`: maps from counter key to the excess, in 16 shards
//! by key, each under its mutex; "the table's lock" below is the counter's shard's).
//! Increments and decrements are one compare-and-swap on the counter's word (the same
//! locked instruction a `fetch_add` on a wider counter costs) while the count stays below
//! `INLINE_MAX`; moving into or out of the table, and every change of a spilled count,
//! happens under the table's lock, and while the counter is `SPILLED` only lock holders
//! change it. So a counter is non-zero exactly when its count is, which is all the
//! root scan and the sweep read. Most objects never hold more than a few counts outside
//! the root caches: on the interpreter's recursive fib, with counts past 14 spilled, about
//! 10^5 lock round trips in a 0.7 s run, within the run-to-run noise. (Four-byte counters
//! cost 12.5-25% of a small object's slot, one-byte ones 3-6%, these 1.5-3%; Go's
//! equivalent per-object metadata is two bits.)
//!
//! Overflow: a count above `MAX_ROOTS` (its table entry past it) is treated as leaked
//! handles and aborts (`root_overflow`), like `Arc`; the table's `u64` never wraps. A tiny
//! block's one counter counts the handles to all its objects (up to 16 of them), so leaked
//! handles to any of them add up; the check covers them too (`add_new_root`).
//! See the collector overview (`crate::design::collector`).

use super::MAX_ROOTS;
use crate::alloc::span::RootCounter;
use crate::sync::{Mutex, Ordering};
use std::collections::BTreeMap;

/// Counter value meaning "`INLINE_MAX` plus the spill table's entry".
pub(crate) const SPILLED: u8 = RootCounter::MAX;
/// The largest count a counter holds by itself.
pub(crate) const INLINE_MAX: u8 = SPILLED - 1;

/// Shards of the spill table (a power of two), so that spilled counts of different
/// objects rarely share a lock.
const SPILL_SHARDS: usize = 16;

/// Counts past `INLINE_MAX`: counter key (`RootCounter::key`) -> excess (at least 1).
type SpillTable = BTreeMap<usize, u64>;

crate::sync::global! {
    /// The spill table, sharded by counter key ([`spill_table`]).
    static SPILL: [Mutex<SpillTable>; SPILL_SHARDS] =
        crate::sync::array![Mutex::new(BTreeMap::new()); SPILL_SHARDS];
}

/// The shard of the spill table that holds the counter with key `key` (the module
/// header's "the table's lock" is this shard's, for that counter).
pub(super) fn spill_table(key: usize) -> &'static Mutex<SpillTable> {
    // Neighbouring counters land in different shards.
    &SPILL[crate::sync::bucket_of(key, SPILL_SHARDS)]
}

/// Adds one to counter `c`; returns the count it replaced, or `INLINE_MAX` for any spilled
/// count (never 0 then). `order` is the successful exchange's (the spill table's lock is
/// stronger than any).
#[inline(always)]
pub(crate) fn inc(c: RootCounter<'_>, order: Ordering) -> u8 {
    match c.fetch_update(order, Ordering::Relaxed, |old| {
        (old < INLINE_MAX).then_some(old + 1)
    }) {
        Ok(old) => old,
        Err(_) => {
            inc_spilled(c);
            INLINE_MAX
        }
    }
}

/// Takes one from counter `c` unless it is 0; returns whether it did.
#[inline(always)]
pub(crate) fn dec(c: RootCounter<'_>) -> bool {
    match c.fetch_update(Ordering::SeqCst, Ordering::Relaxed, |old| {
        (old != SPILLED && old != 0).then(|| old - 1)
    }) {
        Ok(_) => true,
        Err(SPILLED) => drop_spilled(c),
        Err(_) => false,
    }
}

/// An increment at or past `INLINE_MAX`, under the spill table's lock.
#[cold]
#[inline(never)]
fn inc_spilled(c: RootCounter<'_>) {
    let key = c.key();
    let mut table = spill_table(key).lock();
    loop {
        // SeqCst: these exchanges take part in the root-count protocol as `inc`'s do.
        match c.load(Ordering::SeqCst) {
            SPILLED => {
                let excess = table.get_mut(&key).expect("a spilled counter has an entry");
                if *excess + INLINE_MAX as u64 >= MAX_ROOTS as u64 {
                    root_overflow();
                }
                *excess += 1;
                return;
            }
            INLINE_MAX => {
                if c.compare_exchange(INLINE_MAX, SPILLED, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    table.insert(key, 1);
                    return;
                }
            }
            // A decrement got in first: an ordinary increment again.
            below => {
                if c.compare_exchange(below, below + 1, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    return;
                }
            }
        }
    }
}

/// A decrement of a spilled count, under the spill table's lock (only lock holders change a
/// `SPILLED` counter, so it stays spilled until this returns).
#[cold]
#[inline(never)]
fn drop_spilled(c: RootCounter<'_>) -> bool {
    let key = c.key();
    let mut table = spill_table(key).lock();
    // Another lock holder may have brought it back below `SPILLED` meanwhile; while we hold
    // the lock nobody can spill it again, so an ordinary decrement is safe.
    let mut old = c.load(Ordering::SeqCst);
    while old != SPILLED {
        if old == 0 {
            return false;
        }
        match c.compare_exchange(old, old - 1, Ordering::SeqCst, Ordering::Relaxed) {
            Ok(_) => return true,
            Err(now) => old = now,
        }
    }
    let excess = table.get_mut(&key).expect("a spilled counter has an entry");
    *excess -= 1;
    if *excess == 0 {
        table.remove(&key);
        // Only lock holders change a spilled counter: the exchange cannot find another
        // value (it retries only when a neighbour in the word changes).
        let back = c.compare_exchange(SPILLED, INLINE_MAX, Ordering::SeqCst, Ordering::Relaxed);
        debug_assert_eq!(back, Ok(SPILLED));
    }
    true
}

/// Debug builds only (`__private::raise_root_count_for_test`): raises the root count of the
/// object at `addr` (its tiny block's, for a tiny object) to `to`, as if handles had been
/// leaked; returns the count it replaced. Never lowers a count (that would free live
/// objects): panics instead.
#[cfg(debug_assertions)]
pub(crate) fn raise_count_for_test(addr: usize, to: u32) -> u32 {
    super::flush_root_cache();
    let (s, i) = super::locate(addr);
    let c = s.root_count(i);
    let key = c.key();
    // Under the lock no other thread moves the counter into or out of the table, and the
    // exchange below fails if an ordinary increment or decrement got in.
    let mut table = spill_table(key).lock();
    loop {
        let cur = c.load(Ordering::SeqCst);
        let old = count_of(cur, &table, key);
        assert!(
            old <= to as u64,
            "root count {old} is above {to}: refusing to lower it"
        );
        let (value, excess) = if to > INLINE_MAX as u32 {
            (SPILLED, Some(to as u64 - INLINE_MAX as u64))
        } else {
            (to as u8, None)
        };
        if c.compare_exchange(cur, value, Ordering::SeqCst, Ordering::Relaxed)
            .is_ok()
        {
            match excess {
                Some(e) => table.insert(key, e),
                None => table.remove(&key),
            };
            s.note_root(Ordering::SeqCst);
            return old as u32;
        }
    }
}

/// Debug builds only (`__private::root_count_for_test`): the root count of the object at
/// `addr` (its tiny block's, for a tiny object).
#[cfg(debug_assertions)]
pub(crate) fn root_count_for_test(addr: usize) -> u32 {
    super::flush_root_cache();
    let (s, i) = super::locate(addr);
    let c = s.root_count(i);
    let table = spill_table(c.key()).lock();
    count_of(c.load(Ordering::SeqCst), &table, c.key()) as u32
}

/// The count a counter holding `value` stands for.
#[cfg(any(debug_assertions, test))]
fn count_of(value: u8, table: &SpillTable, key: usize) -> u64 {
    if value == SPILLED {
        INLINE_MAX as u64 + table.get(&key).copied().unwrap_or(0)
    } else {
        value as u64
    }
}

#[cold]
fn root_overflow() -> ! {
    crate::fatal("more than 2^31 Gc handles to one object: handles are being leaked")
}

/// The count counter `c` stands for (its value, plus its spill entry). For tests and models.
#[cfg(test)]
pub(crate) fn count(c: RootCounter<'_>) -> u64 {
    let table = spill_table(c.key()).lock();
    count_of(c.load(Ordering::SeqCst), &table, c.key())
}
