//! Which `GcCell` locks the calling thread holds, so that a borrow the thread blocks
//! *itself* panics like `RefCell` ("already borrowed") instead of waiting for ever. Read
//! by `cell_lock.rs` only on a borrow's slow path, before it blocks.
//!
//! - **Writer token.** Each thread that takes a user write lock gets a number in
//!   `1..=MAX_TOKEN` (from a global counter, on its first write lock; the value above
//!   `MAX_TOKEN` is the collector's, `cell_lock.rs`), which the lock stores in its word
//!   while the thread holds it (the reader bits, unused while a writer holds the lock).
//!   "This thread holds the write lock" is then exact: one load of the word, and a cell
//!   that is reset, dropped or freed takes the record with it. Tokens are never
//!   reused; threads after the `MAX_TOKEN`th get none (0: their own write guards are not
//!   recognised, so a conflicting borrow on such a thread blocks like any lock's).
//! - **Read registry.** Readers are only counted in the lock word, so the thread keeps the
//!   address of every lock it holds a user read lock on: one entry per read guard, pushed
//!   when it is taken and removed when it is released. The first `INLINE` entries live in
//!   a const-initialised thread-local with no destructor, so the uncontended path is a
//!   store on acquire and a compare and store on release (guards are mostly released in
//!   the reverse order, so the entry to remove is the top one); deeper nesting spills into
//!   a `Vec` in a second thread-local.
//!
//! Leaked guards (`mem::forget`): a leaked read guard's entry stays, so a later write
//! borrow of that cell on the same thread panics rather than hanging (a leaked write
//! guard's token stays in the lock word, to the same effect). `CellLock::reset` (`&mut`
//! proves no guard is alive) and dropping the lock in place remove the calling thread's
//! entries for it ([`forget`]), so a cell later at that address is not mistaken for held.
//! Entries are by address, so some outlive their cell: those of a read guard leaked on a
//! cell that then moves (`Gc::new` moves it into the heap; the reset there is at the new
//! address) or is reset, dropped or freed by *another* thread. If a cell later at that
//! address is write-borrowed on the leaking thread *while another thread holds it*, that
//! borrow panics ("already borrowed") instead of waiting. Only a leak leads there; the lock
//! word, and so every other thread, is unaffected.
//!
//! Shared state: only the token counter (an atomic, RMW only). Everything else is the
//! calling thread's own, in `Cell`s in thread-locals, never borrowed across a call out.

use crate::sync::{AtomicU32, Ordering};
use std::cell::{Cell, RefCell};

/// Read entries kept without allocating; more spill into `SPILL`.
const INLINE: usize = 16;
/// The largest user token: the lock word's reader bits hold it, and their largest value
/// (one more) is the collector's (`cell_lock::COLLECTOR`).
pub(crate) const MAX_TOKEN: u32 = (1 << 28) - 2;
/// Stored as the token of a thread that came after the last one: reads as 0.
const NO_TOKEN: u32 = u32::MAX;

/// The calling thread's record. No destructor, so it is reachable for the thread's whole
/// life (also from other thread-locals' destructors).
struct Held {
    /// 0 until assigned, then a token or `NO_TOKEN`.
    token: Cell<u32>,
    /// Entries in `slots`.
    len: Cell<usize>,
    /// Entries in `SPILL` (read without touching it).
    spilled: Cell<usize>,
    /// Lock addresses, one per read guard.
    slots: [Cell<usize>; INLINE],
}

crate::sync::thread_local! {
    static HELD: Held = const {
        Held {
            token: Cell::new(0),
            len: Cell::new(0),
            spilled: Cell::new(0),
            slots: [const { Cell::new(0) }; INLINE],
        }
    };
    /// Read entries past `INLINE`. Gone once the thread's destructors have dropped it:
    /// entries that cannot be recorded then are not (a borrow then blocks rather than
    /// panics).
    static SPILL: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

crate::sync::global! {
    /// The next writer token to hand out.
    static NEXT_TOKEN: AtomicU32 = AtomicU32::new(1);
}

/// The calling thread's writer token: nonzero and at most `MAX_TOKEN`, or 0 if the
/// tokens ran out.
#[inline]
pub(crate) fn token() -> u32 {
    HELD.with(|h| {
        let mut t = h.token.get();
        if t == 0 {
            t = assign_token();
            h.token.set(t);
        }
        if t > MAX_TOKEN {
            0
        } else {
            t
        }
    })
}

#[cold]
fn assign_token() -> u32 {
    // Relaxed: only uniqueness matters, which the RMWs' single order gives.
    let mut n = NEXT_TOKEN.load(Ordering::Relaxed);
    loop {
        if n > MAX_TOKEN {
            return NO_TOKEN;
        }
        match NEXT_TOKEN.compare_exchange_weak(n, n + 1, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return n,
            Err(x) => n = x,
        }
    }
}

/// Records a read lock the calling thread took on the lock at `key`.
#[inline]
pub(crate) fn push_read(key: usize) {
    HELD.with(|h| {
        let n = h.len.get();
        if n < INLINE {
            h.slots[n].set(key);
            h.len.set(n + 1);
        } else {
            spill_push(h, key);
        }
    })
}

/// Removes one record of a read lock on `key` (the one its guard's release gives back).
#[inline]
pub(crate) fn pop_read(key: usize) {
    HELD.with(|h| {
        let n = h.len.get();
        if n > 0 && h.slots[n - 1].get() == key {
            h.len.set(n - 1);
        } else {
            remove_one(h, key);
        }
    })
}

/// Whether the calling thread holds a user read lock on `key` (by its records).
pub(crate) fn holds_read(key: usize) -> bool {
    HELD.with(|h| {
        h.slots[..h.len.get()].iter().any(|s| s.get() == key)
            || (h.spilled.get() != 0
                && SPILL
                    .try_with(|v| v.borrow().contains(&key))
                    .unwrap_or(false))
    })
}

/// Drops every record of the calling thread for `key`: the lock was reset or dropped,
/// so none of its guards is alive (they were leaked).
#[inline]
pub(crate) fn forget(key: usize) {
    HELD.with(|h| {
        if h.len.get() != 0 || h.spilled.get() != 0 {
            forget_slow(h, key);
        }
    })
}

#[cold]
fn forget_slow(h: &Held, key: usize) {
    let mut kept = 0;
    for i in 0..h.len.get() {
        let s = h.slots[i].get();
        if s != key {
            h.slots[kept].set(s);
            kept += 1;
        }
    }
    h.len.set(kept);
    if h.spilled.get() != 0 {
        let _ = SPILL.try_with(|v| {
            let mut v = v.borrow_mut();
            v.retain(|&s| s != key);
            h.spilled.set(v.len());
        });
    }
}

#[cold]
fn spill_push(h: &Held, key: usize) {
    let _ = SPILL.try_with(|v| {
        let mut v = v.borrow_mut();
        v.push(key);
        h.spilled.set(v.len());
    });
}

/// Removes one entry for `key` wherever it is (not the top inline one). None may exist:
/// it could not be recorded (see `SPILL`).
#[cold]
fn remove_one(h: &Held, key: usize) {
    if h.spilled.get() != 0 {
        let found = SPILL
            .try_with(|v| {
                let mut v = v.borrow_mut();
                let at = v.iter().rposition(|&s| s == key);
                if let Some(i) = at {
                    v.swap_remove(i);
                    h.spilled.set(v.len());
                }
                at.is_some()
            })
            .unwrap_or(false);
        if found {
            return;
        }
    }
    let n = h.len.get();
    if let Some(i) = h.slots[..n].iter().rposition(|s| s.get() == key) {
        h.slots[i].set(h.slots[n - 1].get());
        h.len.set(n - 1);
    }
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn records_nest_spill_and_come_out_in_any_order() {
        let keys: Vec<usize> = (1..=40).map(|i| i * 8).collect();
        for &k in &keys {
            push_read(k);
        }
        assert!(keys.iter().all(|&k| holds_read(k)));
        assert!(!holds_read(4));
        // Out of order: every other one first, then the rest from the bottom.
        for &k in keys.iter().step_by(2) {
            pop_read(k);
            assert!(!holds_read(k), "{k}");
        }
        for &k in keys.iter().skip(1).step_by(2) {
            assert!(holds_read(k));
            pop_read(k);
        }
        assert!(keys.iter().all(|&k| !holds_read(k)));
        HELD.with(|h| assert_eq!((h.len.get(), h.spilled.get()), (0, 0)));
    }

    #[test]
    fn duplicates_count_and_forget_drops_them_all() {
        for _ in 0..3 {
            push_read(64);
        }
        push_read(72);
        pop_read(64);
        assert!(holds_read(64));
        forget(64);
        assert!(!holds_read(64) && holds_read(72));
        pop_read(72);
        pop_read(72); // no record left: nothing happens
        assert!(!holds_read(72));
    }

    #[test]
    fn tokens_are_per_thread_and_stable() {
        let mine = token();
        assert!(mine != 0 && mine <= MAX_TOKEN);
        assert_eq!(token(), mine);
        let other = std::thread::spawn(token).join().unwrap();
        assert_ne!(other, mine);
    }
}
