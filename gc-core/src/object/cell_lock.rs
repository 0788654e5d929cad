//! The reader-writer lock inside `GcCell`, biased to the first thread that reads the
//! cell.
//!
//! Why not `std::sync::RwLock`: the marker must be able to read a cell whenever no writer
//! *holds* it. std's lock refuses new readers while a writer is *waiting*, so a marker could
//! wait behind a user thread that waits behind a reader parked in user code for ever
//! (invariant I4). Here `try_read` succeeds whenever no writer holds the lock (writers can
//! starve under a constant stream of readers; that is the documented trade-off).
//!
//! State word: bit 31 = a writer holds it; bit 30 = `BIASED`, bit 29 = `DRAIN`, bit 28 =
//! `REVOKED` (below); bits 0-27 = readers, or, while a writer holds it, the writer's token
//! (`cell_held.rs`: which thread; `COLLECTOR` for the collector), or, while `BIASED`, the
//! owner's token. See the collector overview (`crate::design::collector`) for how the
//! marker uses the lock.
//!
//! **Bias** (`cell_bias.rs` has the protocol): the first thread to read a free cell that
//! was never biased makes the word `BIASED | owner` and counts its later reads in the
//! header's `reads` byte with plain stores, no locked instruction; every other thread
//! revokes the bias, and `REVOKED` stays in the word until a `&mut` reset.
//!
//! Waiting (a borrow that must block parks; a release wakes it): `cell_wait.rs`.
//!
//! Two kinds of holders:
//! - *Users* (`GcCell`'s borrows: [`CellLock::read`], [`CellLock::write`] and their `try_`
//!   forms, released by [`CellLock::read_unlock`] / [`CellLock::write_unlock`] on the same
//!   thread with what the taking returned). A user read lock on the word is recorded in
//!   the thread's read registry, a counted owner read in `reads` (with `owner`, the
//!   owner's token, kept after a revocation), and a user write lock carries the thread's
//!   token, so when a borrow cannot be had at once, it first checks whether the calling
//!   thread itself holds the conflicting lock, and panics like `RefCell` ("already
//!   borrowed", "already mutably borrowed") instead of waiting for ever. Only that slow
//!   path reads the registry; conflicts with other threads block.
//! - *The collector* (the marker and the unroot pass: [`CellLock::try_hold_collector`],
//!   [`CellLock::try_hold_collector_exclusive`] / [`CellLock::release_collector`]; the
//!   marker falls back on [`CellLock::try_read_marker`] /
//!   [`CellLock::read_unlock_marker`]): never blocks, never touches the registry.
//!
//! The collector's hold (one compare-and-swap, released by a plain store): `cell_hold.rs`.
//!
//! Leaked guards (`mem::forget`) must not starve the marker:
//! - *Readers*: users hold at most `USER_READERS` (2^27) read locks at once on the word
//!   (`try_read` fails past that, `read` panics like std's `RwLock`), and an owner at most
//!   255 counted ones (then it reads on the word); the marker's
//!   [`CellLock::try_read_marker`] may use the room above, up to the field's maximum, and
//!   its hold ignores counted reads, so no number of leaked user guards makes it fail.
//! - *Writers* (and readers) leaked on a cell that is later reached through `&mut`: `&mut`
//!   proves no guard is alive, so [`CellLock::reset`] unlocks the word, clears the counted
//!   reads and forgets the calling thread's read records for it (so do a dropped lock's).
//!   `GcCell` resets on every `&mut self` path, in particular when `Gc::new` moves a cell
//!   into the heap, which is when the marker starts reading it.
//!
//! A leaked guard stays recorded on its thread (a write guard's token in the word, a read
//! guard in the registry or in `reads`): a later conflicting borrow on that thread panics,
//! where it would otherwise wait for ever.
//!
//! Shared state: the one atomic word, changed by compare-and-swap or read-modify-write
//! under `&self`, and stored plainly under `&mut self` or by the holder of the write lock
//! or the collector's hold (nobody else writes it then); `reads`, stored by the owner
//! only; `owner`, stored by the biasing thread right after its compare-and-swap made it
//! the owner, and under `&mut self`; the `WAITING` counts (atomic
//! read-modify-writes by waiters). The read registry is thread-local. The header's
//! `flags` byte is `GcCell`'s, kept here so that lock and flags are one 8-byte word.

use super::cell_held;
use crate::sync::{AtomicU16, AtomicU32, AtomicU8, Ordering};
use std::cell::Cell;

const WRITER: u32 = 1 << 31;
/// The cell is biased to the thread whose token is in the low bits (module header).
const BIASED: u32 = 1 << 30;
/// A bias was revoked while its owner may still hold counted reads: a writer must see
/// `reads` at zero, after a heavy fence, before it writes.
const DRAIN: u32 = 1 << 29;
/// The cell's bias was revoked: it is not biased again until a `&mut` reset (sticky, so
/// that only one thread is ever the owner between two resets: `reads` has one writer).
const REVOKED: u32 = 1 << 28;
/// The readers, the writer's token while `WRITER` is set, or the owner's while `BIASED`.
const READERS: u32 = (1 << 28) - 1;
/// The most read locks users may hold at once on the word; the rest of the field is the
/// marker's.
pub(crate) const USER_READERS: u32 = 1 << 27;
/// The largest token a cell is biased to: `owner` keeps it after a revocation.
const MAX_OWNER: u32 = u16::MAX as u32;

/// The collector's token while it holds the lock: above every user's.
const COLLECTOR: u32 = READERS;

const _: () = assert!(cell_held::MAX_TOKEN < COLLECTOR && MAX_OWNER <= cell_held::MAX_TOKEN);

/// A cell's 8-byte header: the lock and `GcCell`'s flags.
#[repr(C)]
pub(crate) struct CellLock {
    state: AtomicU32,
    /// `GcCell`'s flags (`object/cell.rs`): the lock never reads or writes them.
    pub(crate) flags: AtomicU8,
    /// The owner's counted read locks (`BIASED`): stored by the owner thread only.
    reads: AtomicU8,
    /// The token of the thread the cell was biased to (0: never, since the last `&mut`
    /// reset); stored by that thread once its bias is in the word, before it counts a
    /// read. Read by a borrow's slow path, to tell its own counted reads.
    owner: AtomicU16,
}

/// What `CellLock::try_read_below` did.
enum Word {
    /// Took a read lock on the word.
    Taken,
    /// A writer holds the word, or the readers are at the cap.
    Refused,
    /// The word is the calling thread's bias, under which it can count the read.
    Ours,
}

/// How a user read lock was taken: give it back to [`CellLock::read_unlock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Read {
    /// Counted in `reads` by the owner, not on the word.
    counted: bool,
}

impl Read {
    /// Whether the owner counted it (no locked instruction) rather than taking the word.
    #[cfg(all(test, gc_loom))]
    pub(crate) fn counted(self) -> bool {
        self.counted
    }
}

/// A user write lock: give it back to [`CellLock::write_unlock`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Write {
    /// The word to store at the release (0, or the owner's bias).
    restore: u32,
}

impl CellLock {
    crate::sync::const_fn! {
        /// An unlocked, unbiased header with `flags`.
        pub(crate) fn new(flags: u8) -> CellLock {
            CellLock {
                state: AtomicU32::new(0),
                flags: AtomicU8::new(flags),
                reads: AtomicU8::new(0),
                owner: AtomicU16::new(0),
            }
        }
    }

    /// The lock's identity: the word's address (the park queue's key and the read
    /// registry's entry).
    fn key(&self) -> usize {
        &self.state as *const AtomicU32 as usize
    }

    /// Takes a user read lock unless a writer holds the lock or `USER_READERS` read locks
    /// are held. Release with [`read_unlock`](Self::read_unlock) on this thread.
    #[inline]
    pub(crate) fn try_read(&self) -> Option<Read> {
        if self.try_read_counted() || self.try_bias() {
            return Some(Read { counted: true });
        }
        match self.try_read_below(USER_READERS) {
            Word::Taken => {
                cell_held::push_read(self.key());
                Some(Read { counted: false })
            }
            Word::Refused => None,
            // Our bias is back (a collector's hold ended): count the read.
            Word::Ours => self.try_read_again(),
        }
    }

    /// `try_read` once more, out of line: the word was our bias again.
    #[cold]
    #[inline(never)]
    fn try_read_again(&self) -> Option<Read> {
        self.try_read()
    }

    /// Takes a read lock on the word unless a writer holds it or `max` readers do. A bias
    /// is revoked (the word becomes `DRAIN | REVOKED` with our read): another thread's, or
    /// ours when our read cannot be counted (biases suspended, or the count full). Ours
    /// that can be counted is left alone for a user's read (`Word::Ours`: count it
    /// instead).
    #[inline(always)]
    fn try_read_below(&self, max: u32) -> Word {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            let next = if s & BIASED != 0 {
                if max == USER_READERS && self.countable_here(s) {
                    return Word::Ours;
                }
                DRAIN | REVOKED | 1
            } else if s & WRITER != 0 || s & READERS >= max {
                return Word::Refused;
            } else {
                s + 1
            };
            // Acquire pairs with the Release store in `write_unlock` (the RMWs since continue
            // its release sequence): we see the last writer's writes to the contents.
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return Word::Taken,
                Err(x) => s = x,
            }
        }
    }

    /// Takes the user write lock if nobody holds the lock, recording the calling thread
    /// as its holder. Release with [`write_unlock`](Self::write_unlock) on this thread.
    #[inline]
    pub(crate) fn try_write(&self) -> Option<Write> {
        self.try_write_as(cell_held::token())
    }

    /// Takes the write lock with `token` in the word if nobody holds the lock.
    #[inline(always)]
    fn try_write_as(&self, token: u32) -> Option<Write> {
        let s = self.state.load(Ordering::Relaxed);
        // The usual cases, one compare-and-swap: free, or biased to us (`token` is never 0
        // in a bias).
        if s == 0 || s == BIASED | token {
            // Acquire pairs with the Release writes in `write_unlock` and `read_unlock`: we
            // see the last writer's writes, and every reader's reads are done before ours
            // (our own counted reads by program order).
            if self
                .state
                .compare_exchange(s, WRITER | token, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                if s == 0 || self.reads.load(Ordering::Relaxed) == 0 {
                    return Some(Write { restore: s });
                }
                return self.keep_taken(s, token);
            }
        }
        self.try_write_revoking(token)
    }

    /// Blocks until a user read lock is taken (recorded like [`try_read`](Self::try_read)).
    ///
    /// # Panics
    ///
    /// If the calling thread holds the write lock ("already mutably borrowed": it would
    /// wait for itself), or users already hold `USER_READERS` read locks (leaked guards,
    /// as std's `RwLock` panics on reader-count overflow).
    #[inline]
    pub(crate) fn read(&self) -> Read {
        self.try_read().unwrap_or_else(|| self.read_slow())
    }

    #[cold]
    fn read_slow(&self) -> Read {
        let s = self.state.load(Ordering::Relaxed);
        if s & WRITER != 0 && self.is_my_token(s) {
            already_mutably_borrowed();
        }
        let read = Cell::new(None);
        self.wait(
            |_, s| s & WRITER != 0,
            |l| {
                read.set(if l.check_readers() {
                    l.try_read()
                } else {
                    None
                });
                read.get().is_some()
            },
        );
        read.get().expect("wait returns once taken")
    }

    /// Blocks until the user write lock is taken (recorded like
    /// [`try_write`](Self::try_write)).
    ///
    /// # Panics
    ///
    /// If the calling thread holds a read or write lock on it ("already borrowed": it
    /// would wait for itself).
    #[inline]
    pub(crate) fn write(&self) -> Write {
        let token = cell_held::token();
        match self.try_write_as(token) {
            Some(w) => w,
            None => self.write_slow(token),
        }
    }

    #[cold]
    fn write_slow(&self, token: u32) -> Write {
        self.check_not_held_here();
        let taken = Cell::new(None);
        self.wait(
            // Held on the word, or its bias's owner still reads.
            |l, s| {
                (s & BIASED == 0 && s & (WRITER | READERS) != 0)
                    || (s & (BIASED | DRAIN) != 0 && l.reads.load(Ordering::Relaxed) != 0)
            },
            |l| {
                taken.set(l.try_write_as(token));
                taken.get().is_some()
            },
        );
        taken.get().expect("wait returns once taken")
    }

    /// Panics ("already borrowed") if the calling thread holds this lock, read or write, by
    /// its records: a write lock wanted now would wait for ever. For a slow path about to
    /// block.
    #[cold]
    pub(crate) fn check_not_held_here(&self) {
        let s = self.state.load(Ordering::Relaxed);
        let mine = if s & WRITER != 0 {
            self.is_my_token(s)
        } else {
            (s & BIASED == 0 && s & READERS != 0 && cell_held::holds_read(self.key()))
                || self.holds_counted_read_here()
        };
        if mine {
            already_borrowed();
        }
    }

    /// With `WRITER` set in `s`: whether the calling thread is the writer.
    fn is_my_token(&self, s: u32) -> bool {
        let token = cell_held::token();
        token != 0 && s & READERS == token
    }

    /// Panics if no user may take another read lock on the word; true otherwise.
    fn check_readers(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        if s & (WRITER | BIASED) == 0 && s & READERS >= USER_READERS {
            reader_overflow();
        }
        true
    }

    /// Unlocks the word, whatever guards were leaked on it, clears the counted reads and
    /// the bias, and forgets the calling thread's read records for it: `&mut self` proves
    /// that no guard is alive and nobody waits. Inline: every `&mut` path of a cell calls
    /// it (from `GcCell`'s generic methods, compiled in the caller's crate).
    #[inline]
    pub(crate) fn reset(&mut self) {
        // Relaxed: `&mut self`.
        let flags = self.flags.load(Ordering::Relaxed);
        self.reset_with_flags(flags);
    }

    /// [`reset`](Self::reset), with `flags` for the cell: `Gc::new` moving the cell into
    /// the heap, in one 8-byte store of the header.
    #[inline(always)]
    pub(crate) fn reset_with_flags(&mut self, flags: u8) {
        cell_held::forget(self.key());
        // One store: `Gc::new` makes it right after copying the cell into a slot whose
        // line is usually not in the cache yet, where every store waits in the store
        // buffer. (Loom's atomics are objects of its own: separate stores there.)
        #[cfg(not(gc_loom))]
        // SAFETY: `&mut self` excludes every other access, and the header being replaced
        // needs no drop (`CellLock`'s `Drop` only forgets the thread's records: done).
        unsafe {
            std::ptr::write(self, CellLock::new(flags))
        };
        #[cfg(gc_loom)]
        {
            // `&mut self`: no other access, so Relaxed (loom atomics have no `get_mut`).
            self.state.store(0, Ordering::Relaxed);
            self.flags.store(flags, Ordering::Relaxed);
            self.reads.store(0, Ordering::Relaxed);
            self.owner.store(0, Ordering::Relaxed);
        }
    }

    /// Debug builds only: counts `n` more user read locks, as if `n` read guards had been
    /// leaked (`__private::leak_cell_read_guards`) by no thread in particular, without
    /// taking them one by one.
    ///
    /// # Panics
    ///
    /// If that would pass `USER_READERS` readers, or a writer holds the lock.
    #[cfg(debug_assertions)]
    pub(crate) fn add_readers_for_test(&self, n: u32) {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            // A bias is revoked first, as a foreign reader would.
            let readers = if s & BIASED != 0 { 0 } else { s & READERS };
            assert!(
                s & WRITER == 0 && n <= USER_READERS - readers.min(USER_READERS),
                "cannot add {n} readers to lock state {s:#x}"
            );
            let next = if s & BIASED != 0 {
                DRAIN | REVOKED | n
            } else {
                s + n
            };
            // Acquire pairs with the Release store in `write_unlock`, but the readers counted
            // here are pretend ones that read nothing: Relaxed would do.
            match self
                .state
                .compare_exchange_weak(s, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(x) => s = x,
            }
        }
    }

    /// Releases a user read lock taken on this thread.
    #[inline]
    pub(crate) fn read_unlock(&self, read: Read) {
        if read.counted {
            let n = self.reads.load(Ordering::Relaxed);
            debug_assert!(n != 0);
            // Release pairs with a revoking writer's Acquire load of `reads`: our reads of
            // the contents are done before it writes.
            self.reads.store(n - 1, Ordering::Release);
            if n == 1 {
                self.wake_waiters();
            }
            return;
        }
        cell_held::pop_read(self.key());
        self.read_unlock_marker();
    }

    /// Releases a user's write lock, on its thread, clearing its token with it (and
    /// giving a bias back to its owner).
    #[inline]
    pub(crate) fn write_unlock(&self, write: Write) {
        // A plain store: while a user holds the write lock nobody else writes the word
        // (every other taker fails its compare-and-swap; waiters announce themselves in
        // `WAITING` instead of in the word). Release pairs with the Acquire CASes in
        // `try_read_below`, `try_write_as` and `try_hold_collector`, and the owner's
        // Acquire look in `try_read_counted`: the next holder sees our writes to the
        // contents (and to the cell's flags).
        debug_assert!(self.state.load(Ordering::Relaxed) & WRITER != 0);
        self.state.store(write.restore, Ordering::Release);
        self.wake_waiters();
    }
}

impl Drop for CellLock {
    /// No guard is alive (`&mut self`): forget the calling thread's read records of
    /// leaked ones, so a lock later at this address is not mistaken for held.
    fn drop(&mut self) {
        cell_held::forget(self.key());
    }
}

#[cold]
#[inline(never)]
fn already_mutably_borrowed() -> ! {
    panic!(
        "GcCell already mutably borrowed: this thread holds its write guard (a shared \
         borrow would wait for it for ever)"
    )
}

#[cold]
#[inline(never)]
fn already_borrowed() -> ! {
    panic!(
        "GcCell already borrowed: this thread holds a guard on it (a write would wait for \
         it for ever)"
    )
}

#[cold]
#[inline(never)]
fn reader_overflow() -> ! {
    panic!(
        "GcCell reader count overflow: {USER_READERS} shared borrows held at once \
         (read guards are being leaked)"
    )
}

#[path = "cell_bias.rs"]
mod bias;
#[path = "cell_hold.rs"]
mod hold;
pub(crate) use hold::Hold;
#[path = "cell_wait.rs"]
mod wait;

#[cfg(all(test, not(gc_loom)))]
#[path = "cell_lock_tests.rs"]
mod tests;
