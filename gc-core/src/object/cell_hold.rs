//! The collector's hold on a `GcCell` lock (a child of `cell_lock.rs`, whose header has
//! the lock's states), taken by the marker and the unroot pass, never blocking and never
//! recorded; and `let_waiters_in`, the marker's pause between two chunks of a large list
//! for a thread waiting on the lock.
//!
//! A cell nobody holds on the word (0, as almost every unbiased heap cell's is, a bias, or
//! `DRAIN` / `REVOKED` alone) the collector takes alone with one compare-and-swap, its
//! `COLLECTOR` token in the word, and gives back with a plain store of what it found
//! instead of a second read-modify-write (two locked instructions per cell were a third of
//! the marker's time on a tree of `GcCell` children). That release
//! wakes nobody: waiters do not park while the collector holds the word but spin and yield
//! until it is done (`wait`), which is one trace or unrooting of the contents, never user
//! code. If users hold the word, the hold fails: the marker then takes a shared read lock,
//! the unroot pass leaves the cell for the next cycle.
//!
//! Shared state: only the lock word (and, for the unroot pass, a look at the owner's
//! `reads`).

use super::{CellLock, Word, BIASED, COLLECTOR, DRAIN, READERS, REVOKED, WRITER};
use crate::gc;
use crate::sync::{Backoff, Ordering};

/// `Backoff::snooze` rounds `let_waiters_in` waits at most: spins and yields, then two
/// 50 us naps (one round under loom, whose every round is a scheduling point).
const LET_IN_ROUNDS: usize = if cfg!(gc_loom) { 1 } else { 14 };

/// Whether nobody holds the word `s`: 0, a bias (whose owner counts its reads elsewhere),
/// or no holder at all (`DRAIN`, `REVOKED` or both).
#[inline(always)]
fn free(s: u32) -> bool {
    s & BIASED != 0 || s & !(DRAIN | REVOKED) == 0
}

/// The collector's hold: give it back to [`CellLock::release_collector`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hold {
    /// The word found free (0, a bias, or `DRAIN` / `REVOKED` alone), restored at the
    /// release.
    restore: u32,
}

impl CellLock {
    /// Takes a read lock for the marker unless a writer holds the lock. Readers never make
    /// it fail: users stop at `USER_READERS`, and the marker's own read locks (one per mark
    /// thread, each held for one trace) stay far below the `2^28 - 1 - USER_READERS` left.
    /// Not recorded; release with [`read_unlock_marker`](Self::read_unlock_marker).
    #[inline]
    pub(crate) fn try_read_marker(&self) -> bool {
        matches!(self.try_read_below(READERS), Word::Taken)
    }

    /// Takes the lock for the collector to *read* the contents (the marker), exclusive as a
    /// writer's on the word, if nobody holds the word: it is 0, a bias (whose owner's
    /// counted reads only read too) or `DRAIN` / `REVOKED` alone. Release with
    /// [`release_collector`](Self::release_collector). Not recorded.
    #[inline(always)]
    pub(crate) fn try_hold_collector(&self) -> Option<Hold> {
        // The usual word first (an unbiased cell nobody holds), then the word seen, again
        // while it stays free (an owner biasing it, say). Acquire pairs with the Release in
        // the last holder's release: we see the last writer's writes to the contents.
        let mut s = match self.state.compare_exchange(
            0,
            WRITER | COLLECTOR,
            Ordering::Acquire,
            Ordering::Relaxed,
        ) {
            Ok(_) => return Some(Hold { restore: 0 }),
            Err(s) => s,
        };
        loop {
            if !free(s) {
                return None;
            }
            match self.state.compare_exchange_weak(
                s,
                WRITER | COLLECTOR,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(Hold { restore: s }),
                Err(x) => s = x,
            }
        }
    }

    /// [`try_hold_collector`](Self::try_hold_collector) for a collector that *writes* the
    /// contents (the unroot pass, with biases suspended: `gc::suspend_biases`): fails also
    /// while the owner holds counted reads.
    #[inline]
    pub(crate) fn try_hold_collector_exclusive(&self) -> Option<Hold> {
        let hold = self.try_hold_collector()?;
        if hold.restore != 0 {
            debug_assert!(gc::biases_suspended());
            // Every read the owner counted before the suspension is visible (its fence),
            // and no read it counts from now on goes ahead (it sees the suspension or our
            // hold, and takes its count back). Acquire pairs with the owner's Release
            // uncount: its reads are done.
            if self.reads.load(Ordering::Acquire) != 0 {
                self.release_collector(hold);
                return None;
            }
        }
        Some(hold)
    }

    /// Releases the collector's hold with a plain store of the word it found: nobody
    /// changed the word meanwhile (module header; `wait` does not park on it).
    #[inline(always)]
    pub(crate) fn release_collector(&self, hold: Hold) {
        // Release pairs with the next holder's Acquire CAS (and an owner's Acquire look at
        // the word): it sees our accesses to the contents (and the flags) done. Checked
        // builds (and the loom models) swap instead, to catch any write to the word during
        // the hold that the store would have lost.
        #[cfg(any(debug_assertions, gc_loom))]
        {
            let held = self.state.swap(hold.restore, Ordering::Release);
            assert_eq!(
                held,
                WRITER | COLLECTOR,
                "the word changed under the collector's hold"
            );
        }
        #[cfg(not(any(debug_assertions, gc_loom)))]
        self.state.store(hold.restore, Ordering::Release);
    }

    /// Between two chunks of the marker's scan of a large list (`GcCell::trace_rest`),
    /// none of its locks held: if threads wait on a lock of this cell's bucket of the
    /// waiter counts (`cell_wait.rs`), waits until someone holds the word (a waiter took
    /// it: a reader's the marker then shares, a writer's it waits for) or a few rounds of `Backoff::snooze` pass (about 100 us: a waiter behind the
    /// collector naps 50 us at a time), so that the marker's next read lock does not shut
    /// a writer out chunk after chunk. Bounded: it never waits for the waiter itself.
    pub(crate) fn let_waiters_in(&self) {
        if self.waiting().load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut backoff = Backoff::default();
        for _ in 0..LET_IN_ROUNDS {
            if !free(self.state.load(Ordering::Relaxed)) {
                return;
            }
            backoff.snooze();
        }
    }

    /// Between two chunks of the unroot pass's turning of a large list into edges
    /// (`GcCell::unroot_in_chunks`), none of its holds held: the collector's exclusive
    /// hold again, waiting at most a few rounds of `Backoff::snooze` (about 100 us) for the
    /// readers that got in meanwhile to leave. `None` if they have not: the pass leaves the
    /// rest for the next one. Bounded: it never waits for a reader that holds on (its guard
    /// may be leaked).
    pub(crate) fn hold_collector_exclusive_soon(&self) -> Option<Hold> {
        let mut backoff = Backoff::default();
        for _ in 0..LET_IN_ROUNDS {
            if let Some(hold) = self.try_hold_collector_exclusive() {
                return Some(hold);
            }
            backoff.snooze();
        }
        None
    }

    /// Whether a user's write guard holds the word now (a look without a hold, for the
    /// unroot pass: a cell it could not take for this is being written).
    pub(crate) fn held_by_user_writer(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        s & WRITER != 0 && s & READERS != COLLECTOR
    }

    /// Releases a read lock on the word without touching the registry (the marker's).
    #[inline]
    pub(crate) fn read_unlock_marker(&self) {
        // Release pairs with the Acquire CAS in `try_write_as`: our reads of the contents
        // are done before the next writer writes.
        let prev = self.state.fetch_sub(1, Ordering::Release);
        debug_assert!(prev & (WRITER | BIASED) == 0 && prev & READERS != 0);
        if prev & READERS == 1 {
            // (The locked instruction above is a full barrier on x86 already; the fence in
            // `wake_waiters` is for the memory model, and costs nothing there.)
            self.wake_waiters();
        }
    }
}
