//! The lock's bias to the first thread that reads a cell (a child of `cell_lock.rs`, whose
//! header has the state word): the owner's counted reads and their revocation.
//!
//! The first thread to read a free cell that was never biased (the word is 0,
//! as every `&mut` reset leaves it) biases it to itself with the compare-and-swap that a
//! read lock would take (`try_bias`): the word becomes `BIASED | owner`, and the owner's
//! read locks from then on are counted in the header's `reads` byte, which only the owner
//! writes, with plain stores and no locked instruction. An owner's read: count it, a
//! compiler fence (`sync::light_fence`), then check that the word is still `BIASED | me`
//! and that biases are not suspended (`gc::biases_suspended`); otherwise uncount it and
//! take the word's read lock instead. (A locked instruction waits for the store buffer to
//! drain, behind the thread's fresh allocations: two per borrow were a tenth of an
//! interpreter's variable reads.) The owner's writes still take the word with a
//! compare-and-swap (`BIASED | me -> WRITER | me`), seeing its own `reads` in program
//! order, and give it back biased. Everyone else *revokes* the bias, and `REVOKED` stays
//! in the word until a `&mut` reset, so a cell has one owner between two resets (no other
//! thread ever writes its `reads`, not even a stale owner's undone count) and two threads
//! sharing a cell do not pass a bias, and a fence, back and forth:
//! - a foreign reader turns `BIASED | owner` into `DRAIN | REVOKED | 1`, a plain read lock
//!   that shares with the owner's counted reads;
//! - a writer that takes a word that is biased to another thread or `DRAIN` calls
//!   `sync::heavy_fence` (membarrier) after its compare-and-swap: every owner read counted
//!   before is then visible to it, and every later one sees the word changed and backs
//!   out. It reads `reads`: zero, it writes (and its release leaves `REVOKED`, without
//!   `DRAIN`: no owner read can start again, so later writers need no fence); not zero, it
//!   gives the word back as `DRAIN | REVOKED` and waits for the owner's release, parked,
//!   without holding the word (a nested read of the owner's must still get in);
//! - the collector: the marker only reads, so its hold takes a biased word as a free one
//!   and restores it; the unroot pass writes, so it suspends every bias while it runs (one
//!   heavy fence per pass, `gc::suspend_biases`) and takes a biased cell only while no
//!   owner read is counted.
//!
//! Biasing at the first read rather than in `Gc::new` keeps the allocation path free of it
//! (a thread-local read per cell cost GCBench 3%; BENCHMARKS.md, twenty-third session).
//!
//! Shared state: the lock word (compare-and-swap), `reads` (plain stores by the owner
//! only, read by revokers after a heavy fence) and `owner` (stored by the biasing thread
//! before its first counted read). See the collector overview (`crate::design::collector`,
//! "Cells").

use super::{cell_held, CellLock, Write, BIASED, DRAIN, MAX_OWNER, READERS, REVOKED, WRITER};
use crate::gc;
use crate::sync::{heavy_fence, light_fence, Ordering};

impl CellLock {
    /// The owner's read under its bias (module header): true if counted in `reads`.
    #[inline(always)]
    pub(super) fn try_read_counted(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        if s & BIASED == 0 || s != BIASED | cell_held::token() {
            return false;
        }
        let n = self.reads.load(Ordering::Relaxed);
        if n == u8::MAX {
            return false;
        }
        // Release: a thread that sees this count sees `owner` set (`try_bias`).
        self.reads.store(n + 1, Ordering::Release);
        // Our count, then this fence, then our look at the word and the suspension; a
        // revoking writer (or the unroot pass) changes those, fences, then reads `reads`:
        // one of the two sees the other's write.
        light_fence();
        // Acquire pairs with the Release store of the word by the last exclusive holder
        // that gave the bias back (the unroot pass): we see its writes to the contents.
        if self.state.load(Ordering::Acquire) == s && !gc::biases_suspended() {
            return true;
        }
        self.uncount_read(n);
        false
    }

    /// A free cell that was never biased (the word is 0: a revoked one keeps `REVOKED`)
    /// becomes biased to the calling thread, which takes its read counted (true). One
    /// compare-and-swap, as a read lock on the word would take, and none for the thread's
    /// later reads. A revoked cell is not biased again until `&mut` resets it: one owner
    /// between two resets, and two threads that share a cell do not pass its bias, and a
    /// fence, back and forth.
    #[inline(always)]
    pub(super) fn try_bias(&self) -> bool {
        if self.state.load(Ordering::Relaxed) != 0 {
            return false;
        }
        let me = cell_held::token();
        if me == 0 || me > MAX_OWNER {
            return false;
        }
        // Acquire pairs with the Release store of the word by its last writer: we see its
        // writes to the contents.
        if self
            .state
            .compare_exchange(0, BIASED | me, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // Before any read of ours is counted: a thread that sees our count sees this
        // (`holds_counted_read_here`).
        self.owner.store(me as u16, Ordering::Relaxed);
        self.try_read_counted()
    }

    /// Takes back a read counted in `try_read_counted` that found the bias gone: `reads`
    /// back to `n`, and a writer that saw the count wakes to look again.
    #[cold]
    pub(super) fn uncount_read(&self, n: u8) {
        self.reads.store(n, Ordering::Release);
        self.wake_waiters();
    }

    /// With the word `s` biased: whether it is biased to the calling thread, which could
    /// count a read now.
    #[cold]
    pub(super) fn countable_here(&self, s: u32) -> bool {
        s == BIASED | cell_held::token()
            && !gc::biases_suspended()
            && self.reads.load(Ordering::Relaxed) < u8::MAX
    }

    /// `try_write_as` for every other word: another thread's bias or `DRAIN` (taken after
    /// the owner's counted reads end), or a race with another taker.
    #[cold]
    pub(super) fn try_write_revoking(&self, token: u32) -> Option<Write> {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & BIASED == 0 && s & (WRITER | READERS) != 0 {
                return None;
            }
            // As in `try_write_as`.
            match self.state.compare_exchange_weak(
                s,
                WRITER | token,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return self.keep_taken(s, token),
                Err(x) => s = x,
            }
        }
    }

    /// Having swapped the word `s` for `WRITER | token`: the write lock, or `None` with the
    /// word given back when an owner's counted reads are still on: ours (the slow path
    /// then panics), or another thread's (the slow path waits for them).
    #[cold]
    pub(super) fn keep_taken(&self, s: u32, token: u32) -> Option<Write> {
        if s == 0 || s == REVOKED {
            return Some(Write { restore: s });
        }
        if s == BIASED | token {
            // Our own counted reads, in program order.
            if self.reads.load(Ordering::Relaxed) == 0 {
                return Some(Write { restore: s });
            }
            self.give_back(s);
            return None;
        }
        // Another thread's bias, or what is left of one: its owner may still read under
        // it. After this fence every read it counted is visible here, and any read it
        // counts later sees the word taken and backs out (`try_read_counted`).
        heavy_fence();
        // Acquire pairs with the owner's Release uncount: its reads are done.
        if self.reads.load(Ordering::Acquire) == 0 {
            // No owner read can start again: the release leaves the bias revoked and
            // drained.
            return Some(Write { restore: REVOKED });
        }
        // The owner reads: give the word back, revoked, and wait for its release without
        // holding the word (its nested reads must get in).
        self.give_back(DRAIN | REVOKED);
        None
    }

    /// Stores `s` into the word we took in `try_write_*` and could not keep, waking
    /// anyone who started waiting meanwhile.
    #[cold]
    pub(super) fn give_back(&self, s: u32) {
        self.state.store(s, Ordering::Release);
        self.wake_waiters();
    }

    /// Whether the calling thread is the cell's owner and holds counted reads (exact: only
    /// the owner writes `reads`).
    pub(super) fn holds_counted_read_here(&self) -> bool {
        let token = cell_held::token();
        // Acquire pairs with the Release count: seeing one, we see its owner's `owner`.
        token != 0
            && self.reads.load(Ordering::Acquire) != 0
            && self.owner.load(Ordering::Relaxed) as u32 == token
    }
}
