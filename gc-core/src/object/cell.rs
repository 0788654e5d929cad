//! `GcCell<T>`: interior mutability for values in the collected heap, safe from many
//! threads (a reader-writer lock), with O(1) writes, and `RefCell`'s behaviour where one
//! thread conflicts with itself.
//!
//! The rooting protocol (collector overview, `crate::design::collector`, "Cells"): a cell's contents are
//! either all *rooted* (flag `ROOTED`: every handle inside holds a count) or all *edges*.
//! Taking a write guard on an edge cell roots its contents once (O(contents)) and sets
//! `ROOTED`; further writes are O(1), and every handle a user moves in or out stays counted,
//! so no handle ever escapes uncounted. Every path that hands out `&mut T` (`borrow_mut`,
//! and through it `swap` and `replace_with`) roots first; `replace`/`set`/`take` instead
//! root the outgoing value and unroot the incoming one. The next collection cycle turns the
//! contents of rooted cells that live inside heap objects (`HEAP_OWNED`, recorded as dirty:
//! their slot's dirty bit, or the list for cells outside heap slots, `crate::gc::dirty`)
//! back into edges before it scans roots. A small value with all its handles inline
//! (`Option<Gc<_>>`, tuples, arrays, derived types of such: `write_guard`) does not wait for
//! that on its first write through a guard in a cycle: the guard's release turns it back
//! into edges, O(the value) as `replace`, and nothing is recorded for the pass, so a
//! handle written once keeps no count and costs the collector nothing; a second write in
//! the cycle (the cell's write epoch, `WRITTEN`, is the current one) leaves it rooted and
//! recorded, so writing one cell again and again stays O(1) per write. A cell whose rooting
//! counted at least [`LARGE_HANDLES`] handles (`LARGE`) and that is written every few
//! cycles stays rooted through a paced cycle's pass (`crate::gc::dirty`, "Large written
//! cells stay rooted"), so a big list is not rooted again, O(contents), in every cycle; a
//! cell that `Gc::new` moves into the heap with that many handles starts so, as if just
//! written (`keep_moved_in`, `crate::gc::move_in`).
//! Cells on the stack or in other non-heap memory stay rooted, which is what makes them
//! safe there. A cell whose `T` holds no handle (`!T::needs_trace()`) is never rooted nor
//! recorded.
//!
//! Borrows (`cell_lock.rs`, `cell_held.rs`): conflicts between threads block, as a lock.
//! A borrow the calling thread can never get because it holds the conflicting guard
//! itself panics like `RefCell`'s ("already mutably borrowed" for `borrow`, "already
//! borrowed" for the writes), in release builds too; the check runs only when the lock is
//! not free at once. The `try_` forms fail on any conflict. Guards (`cell_guard.rs`) are
//! therefore `!Send`. `swap` locks its two cells in address order, and the comparison
//! traits (`cell_traits.rs`) read two cells in the same order, so no two of these
//! deadlock each other.
//!
//! Synchronisation: the contents are protected by the cell lock; `flags` is atomic, written
//! under the write lock or with `&mut self`, and read by the marker without the lock. The
//! `ON_LIST` bit (the cell is on the dirty list: only cells outside heap slots are) is
//! written only under the dirty-list mutex.
//!
//! Leaked guards (`mem::forget(cell.borrow_mut())`) never stall the collector: every
//! `&mut self` path (`root`, `unroot`, `get_mut`, `into_inner`) resets the lock, since
//! `&mut` proves that no guard is alive, so a cell moved into the heap by `Gc::new` (the
//! moment the marker starts reading it) is unlocked whatever its guards did on the stack. A
//! write guard leaked on a cell already in the heap leaves it rooted (`borrow_mut` rooted
//! it; the unroot pass finds it busy), which the marker skips; if that guard was a small
//! cell's first write of its cycle (recorded nowhere), the marker, meeting the rooted cell,
//! marks its slot dirty, so that its object's sweep runs the cell's drop and releases the
//! contents. Should the object die before any mark reaches it after the leak, it is freed
//! without that drop and the leaked guard's contents stay counted: leaked with the guard.
//! Leaked read guards stop at `USER_READERS` (`borrow` panics past it, `try_borrow`
//! fails), and the marker reads above that cap (`CellLock::try_read_marker`). A leaked
//! guard stays recorded as held by its thread, so a conflicting borrow there later panics
//! instead of hanging; the reset forgets that too.
//!
//! This file has the flags, the cell, its errors and its public methods. A write guard's
//! rooting and its undoing at the release (`write_guard`, `make_rooted`, `reedge`,
//! `to_edges`, the write epoch): `cell_write.rs`. The `Trace` impl (the marker's entry;
//! `root` and `unroot` through `&mut`, for `get_mut`, `into_inner` and `Gc::new`):
//! `cell_trace.rs`. The collector's side (the marker's read, the unroot pass's visit,
//! `Gc::new`'s keeping of a large cell, a forced cycle's rooting again):
//! `cell_collector.rs`. Tests: `cell_tests.rs`.

pub use super::cell_guard::{GcCellRef, GcCellRefMut};
use super::cell_guard::{ReadHold, WriteHold};
use super::cell_lock::CellLock;
use crate::gc::{self, Tracer, ON_LIST};
use crate::sync::{AtomicU8, Backoff, Ordering, UnsafeCell};
use crate::Trace;
use std::fmt;
use std::ptr::NonNull;

/// The contents' handles are counted roots.
pub(crate) const ROOTED: u8 = 1;
/// The cell lives inside a heap object (it was unrooted by `Gc::new` or the unroot pass).
pub(crate) const HEAP_OWNED: u8 = 2;
/// The contents held at least [`LARGE_HANDLES`] handles when a write guard last rooted
/// them, or when the marker last traced them as edges: a paced cycle's unroot pass leaves
/// the cell rooted while it is written every few cycles (`crate::gc::dirty`, "Large
/// written cells stay rooted"), and a mutator's mark assist leaves the edge cell to the
/// background workers, as it leaves an opaque huge object (`crate::gc::mark`, `drain`).
pub(crate) const LARGE: u8 = 8;
/// Bits 4-7: the write epoch (`gc::write_epoch`, 1..=15; 0 for never) of the last write
/// guard on this heap cell (bit 2 is the dirty list's `ON_LIST`). Only a hint: the
/// epoch's first write of a small value turns the contents back into edges at the
/// guard's release (`write_guard`), a second one leaves them rooted, so that a cell
/// written again and again costs O(1) per write until the next cycle; and a `LARGE` cell
/// written in the last few cycles stays rooted through a paced cycle's pass.
pub(crate) const WRITTEN: u8 = 0b1111_0000;
/// Where the write epoch sits in the flags.
const WRITTEN_SHIFT: u32 = 4;
/// The handles a write guard's rooting must count for the cell to be `LARGE`: rooting
/// them again costs the writer tens of microseconds. (Below it, keeping what a dying cell
/// holds alive one cycle longer costs more memory than the rooting costs time.)
pub(crate) const LARGE_HANDLES: usize = 1024;
const _: () = assert!(gc::MAX_WRITE_EPOCH as u32 == (WRITTEN >> WRITTEN_SHIFT) as u32);

/// A mutable memory location for values inside `Gc` objects.
///
/// `borrow()` gives shared access (many readers), `borrow_mut()` exclusive access. Between
/// threads they block while the other kind is held, like `RwLock`; on one thread they
/// behave like `RefCell`: a borrow that would wait for a guard the same thread holds
/// panics instead (see the *Panics* sections). Storing a `Gc` through the write guard needs
/// no further ceremony: the guard keeps the collector informed.
///
/// ```
/// use gc_core::{Gc, GcCell};
/// let list: Gc<GcCell<Vec<Gc<u64>>>> = Gc::new(GcCell::new(Vec::new()));
/// list.borrow_mut().push(Gc::new(7));
/// assert_eq!(*list.borrow()[0], 7);
/// ```
///
/// Guards have `RefCell`'s combinators ([`GcCellRef::map`], [`GcCellRefMut::map_split`],
/// ...), and the cell compares, orders, hashes and clones by its contents.
///
/// A guard leaked with `mem::forget` leaves the cell held, as a leaked `RefMut` leaves a
/// `RefCell` borrowed: other threads' conflicting borrows block, this thread's panic, and
/// the collector never waits for it. What a leaked write guard holds stays alive while the
/// object does. When the object dies, its sweep releases it, except for a small value
/// (such as `Option<Gc<_>>`) whose guard was the cell's first write since the last
/// collection and whose object died before the next mark reached it: that write records
/// nothing for the collector (it costs less that way), so what it held leaks with the
/// guard. `&mut` access (`get_mut`, `into_inner`, or `Gc::new` moving the cell into the
/// heap) unlocks a cell again.
#[repr(C)]
pub struct GcCell<T> {
    /// The lock and the cell's flags (`lock.flags`), one 8-byte header: `GcCell::new`
    /// writes it in one store (narrower ones made `Gc::new`'s word loads wait: `move_in`
    /// in `object/gc.rs`). It costs 4 bytes of padding where `T` is aligned to 2 or less.
    lock: CellLock,
    value: UnsafeCell<T>,
}

// SAFETY: like `RwLock<T>`: moving the cell moves the `T`.
unsafe impl<T: Send> Send for GcCell<T> {}
// SAFETY: like `RwLock<T>`: shared access hands out `&T` to many threads (needs `Sync`) and
// `&mut T` to one thread at a time (needs `Send`).
unsafe impl<T: Send + Sync> Sync for GcCell<T> {}

/// Returned by [`GcCell::try_borrow`] when a writer holds the cell (this thread or
/// another), or when `2^27` shared guards are held.
///
/// # Examples
///
/// ```
/// let cell = gc_core::GcCell::new(1);
/// let writing = cell.borrow_mut();
/// assert_eq!(cell.try_borrow().unwrap_err().to_string(), "GcCell already mutably borrowed");
/// drop(writing);
/// assert!(cell.try_borrow().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BorrowError;

impl fmt::Display for BorrowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GcCell already mutably borrowed")
    }
}

impl std::error::Error for BorrowError {}

/// Returned by [`GcCell::try_borrow_mut`] when anyone holds the cell (this thread or
/// another).
///
/// # Examples
///
/// ```
/// let cell = gc_core::GcCell::new(1);
/// let reading = cell.borrow();
/// assert_eq!(cell.try_borrow_mut().unwrap_err(), gc_core::BorrowMutError);
/// drop(reading);
/// assert!(cell.try_borrow_mut().is_ok());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BorrowMutError;

impl fmt::Display for BorrowMutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GcCell already borrowed")
    }
}

impl std::error::Error for BorrowMutError {}

impl<T: Trace> GcCell<T> {
    /// Loom models only: marks the cell `LARGE`, as a write guard's rooting of 1,024
    /// handles would, for a model's list of two (the unroot pass's chunks,
    /// `loom_models/cell_unroot.rs`). Before any other thread knows the cell.
    #[cfg(all(gc_loom, test))]
    pub(crate) fn set_large_for_model(&self) {
        let f = self.lock.flags.load(Ordering::Relaxed);
        self.lock.flags.store(f | LARGE, Ordering::Relaxed);
    }

    /// A new cell. Its contents start rooted (they came from outside the heap).
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, GcCell};
    ///
    /// let counter = Gc::new(GcCell::new(0u64)); // a mutable object in the heap
    /// *counter.borrow_mut() += 1;
    /// assert_eq!(*counter.borrow(), 1);
    /// ```
    pub fn new(value: T) -> GcCell<T> {
        GcCell {
            lock: CellLock::new(ROOTED),
            value: UnsafeCell::new(value),
        }
    }

    /// Shared access; blocks while another thread holds a write guard.
    ///
    /// # Panics
    ///
    /// - If this thread holds a write guard on the cell (it would wait for itself for
    ///   ever), like `RefCell::borrow`: "GcCell already mutably borrowed". Any number of
    ///   shared guards may be held at once, on one thread or many.
    /// - If 2^27 shared guards to this cell are held at once (they are being leaked), like
    ///   `RwLock::read`: "GcCell reader count overflow".
    ///
    /// # Examples
    ///
    /// ```
    /// let names = gc_core::GcCell::new(vec!["a".to_string()]);
    /// let (r1, r2) = (names.borrow(), names.borrow()); // many readers at once
    /// assert_eq!(r1.len() + r2.len(), 2);
    /// ```
    #[inline]
    pub fn borrow(&self) -> GcCellRef<'_, T> {
        let hold = ReadHold::acquire(&self.lock);
        // SAFETY: the contents, valid while the cell lives; `hold` is its read lock.
        unsafe { GcCellRef::new(hold, self.contents()) }
    }

    /// Shared access, or an error instead of blocking or panicking: when a write guard is
    /// held (by this thread or another), or 2^27 shared guards are (see
    /// [`borrow`](Self::borrow)).
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = gc_core::GcCell::new(5);
    /// assert_eq!(cell.try_borrow().map(|v| *v), Ok(5));
    /// let _w = cell.borrow_mut();
    /// assert!(cell.try_borrow().is_err()); // a writer holds it: fails instead of panicking
    /// ```
    #[inline]
    pub fn try_borrow(&self) -> Result<GcCellRef<'_, T>, BorrowError> {
        match ReadHold::try_acquire(&self.lock) {
            // SAFETY: as in `borrow`.
            Some(hold) => Ok(unsafe { GcCellRef::new(hold, self.contents()) }),
            None => Err(BorrowError),
        }
    }

    /// Exclusive access; blocks while another thread holds a guard. O(1) except the first
    /// write to a cell since the last collection, which roots its contents.
    ///
    /// # Panics
    ///
    /// If this thread holds a guard on the cell, shared or exclusive (it would wait for
    /// itself for ever), like `RefCell::borrow_mut`: "GcCell already borrowed".
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, GcCell};
    ///
    /// let list: Gc<GcCell<Vec<Gc<u32>>>> = Gc::new(GcCell::new(Vec::new()));
    /// list.borrow_mut().push(Gc::new(1)); // storing a handle needs no other ceremony
    /// list.borrow_mut().retain(|x| **x != 1);
    /// assert!(list.borrow().is_empty());
    /// ```
    #[inline]
    pub fn borrow_mut(&self) -> GcCellRefMut<'_, T> {
        // Unlocks if the rooting walk panics.
        let hold = WriteHold::acquire(&self.lock);
        self.write_guard(hold)
    }

    /// Exclusive access, or an error instead of blocking or panicking: when anyone holds
    /// a guard on the cell (this thread or another).
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = gc_core::GcCell::new(String::new());
    /// cell.try_borrow_mut().unwrap().push('x');
    /// let _r = cell.borrow();
    /// assert!(cell.try_borrow_mut().is_err());
    /// ```
    #[inline]
    pub fn try_borrow_mut(&self) -> Result<GcCellRefMut<'_, T>, BorrowMutError> {
        match WriteHold::try_acquire(&self.lock) {
            Some(hold) => Ok(self.write_guard(hold)),
            None => Err(BorrowMutError),
        }
    }

    /// Replaces the contents, returning the old value (like `RefCell::replace`).
    ///
    /// Cheaper than writing through `borrow_mut` when the new value is small: on a cell
    /// inside the heap it roots only the old value (which leaves the heap) and turns the new
    /// value's handles into edges at once, so the cell never goes on the dirty list. Cost
    /// O(size of both values), whatever else the cell held before. (While marking, these
    /// are the two halves of Go's hybrid barrier: the old and the new value are shaded.)
    ///
    /// # Panics
    ///
    /// As [`borrow_mut`](Self::borrow_mut): if this thread holds a guard on the cell.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, GcCell};
    ///
    /// let slot = Gc::new(GcCell::new(Some(Gc::new(1))));
    /// let old = slot.replace(Some(Gc::new(2)));
    /// assert_eq!((old.as_deref(), slot.borrow().as_deref()), (Some(&1), Some(&2)));
    /// ```
    pub fn replace(&self, value: T) -> T {
        // Unlocks on return and if a root/unroot walk panics.
        let _hold = WriteHold::acquire(&self.lock);
        self.value.with_mut(|v| {
            // SAFETY: the write lock gives exclusive access to the contents.
            let v = unsafe { &mut *v };
            // Acquire pairs with the Release writes of ROOTED (`make_rooted`, `reedge`,
            // `unroot_erased`, `root`, `unroot`), but each is made holding this cell's write
            // lock (ordered before us by `CellLock::write`'s Acquire) or through `&mut`
            // (which happens before any shared access): Relaxed would do.
            if self.lock.flags.load(Ordering::Acquire) & ROOTED == 0 {
                // An edge cell: it lives in a heap object (only the unroot walk clears
                // ROOTED, and it sets HEAP_OWNED). The old value leaves the heap, so its
                // handles become roots, counted *before* they leave the cell so that no
                // moment exists where they are neither counted nor reachable; the new value
                // joins the heap, so its handles become edges once they are inside it.
                // SAFETY: `v` is inside a heap object and we hold the write lock.
                unsafe { v.root() };
                let old = std::mem::replace(v, value);
                // SAFETY: as above; `v` now holds the new value.
                unsafe { v.unroot() };
                old
            } else {
                std::mem::replace(v, value)
            }
        })
    }

    /// Stores `value`, dropping the old contents (like `Cell::set`). See [`replace`](Self::replace).
    ///
    /// # Panics
    ///
    /// As [`borrow_mut`](Self::borrow_mut): if this thread holds a guard on the cell.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = gc_core::GcCell::new(1);
    /// cell.set(2);
    /// assert_eq!(*cell.borrow(), 2);
    /// ```
    pub fn set(&self, value: T) {
        drop(self.replace(value));
    }

    /// Swaps the contents of two cells (like `RefCell::swap`); a cell swapped with itself
    /// is left as it is. The two write locks are taken in address order, so threads
    /// swapping `a` with `b` and `b` with `a` at once do not deadlock. Both cells are
    /// rooted first, as by [`borrow_mut`](Self::borrow_mut).
    ///
    /// ```
    /// use gc_core::{Gc, GcCell};
    /// let a = GcCell::new(Some(Gc::new(1u32)));
    /// let b = GcCell::new(None);
    /// a.swap(&b);
    /// assert!(a.borrow().is_none() && **b.borrow().as_ref().unwrap() == 1);
    /// ```
    ///
    /// # Panics
    ///
    /// If this thread holds a guard on either cell ("GcCell already borrowed").
    pub fn swap(&self, other: &GcCell<T>) {
        if std::ptr::eq(self, other) {
            return;
        }
        let (first, second) = if (self as *const Self) < (other as *const Self) {
            (self, other)
        } else {
            (other, self)
        };
        // Before waiting for the first lock, fail if this thread holds the second: it
        // could otherwise wait for ever on a thread that waits for that second lock.
        let hold = WriteHold::try_acquire(&first.lock).unwrap_or_else(|| {
            second.lock.check_not_held_here();
            WriteHold::acquire(&first.lock)
        });
        let mut a = first.write_guard(hold);
        let mut b = second.borrow_mut();
        std::mem::swap(&mut *a, &mut *b);
    }

    /// Replaces the contents with `f`'s result computed from them, returning the old
    /// value (like `RefCell::replace_with`). `f` gets `&mut T`: the cell is rooted first,
    /// as by [`borrow_mut`](Self::borrow_mut).
    ///
    /// # Panics
    ///
    /// As [`borrow_mut`](Self::borrow_mut): if this thread holds a guard on the cell.
    /// If `f` panics, the contents are whatever `f` left.
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = gc_core::GcCell::new(5);
    /// let old = cell.replace_with(|v| *v * 2);
    /// assert_eq!((old, *cell.borrow()), (5, 10));
    /// ```
    pub fn replace_with<F: FnOnce(&mut T) -> T>(&self, f: F) -> T {
        let mut guard = self.borrow_mut();
        let new = f(&mut guard);
        std::mem::replace(&mut *guard, new)
    }

    /// Exclusive access through `&mut self`, without locking. Unlocks the cell if guards
    /// were leaked (`mem::forget`) on it: `&mut self` proves none is alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let mut cell = gc_core::GcCell::new(vec![1]);
    /// cell.get_mut().push(2); // no lock: `&mut` proves no guard exists
    /// assert_eq!(cell.into_inner(), [1, 2]);
    /// ```
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: `&mut self` excludes every other access; rooting (which also resets the
        // lock) keeps any handle the caller moves out counted.
        unsafe { self.root() };
        self.value.get_mut()
    }

    /// Consumes the cell and returns its contents (rooted, as they came from outside).
    ///
    /// # Examples
    ///
    /// ```
    /// let cell = gc_core::GcCell::new(Some(gc_core::Gc::new(3)));
    /// let value = cell.into_inner(); // a rooted handle, usable anywhere
    /// assert_eq!(value.as_deref(), Some(&3));
    /// ```
    pub fn into_inner(mut self) -> T {
        // SAFETY: as for `get_mut`.
        unsafe { self.root() };
        // Skip our `Drop` (nothing left to do: rooting took us off the dirty list and reset
        // the lock, which forgot this thread's records of it).
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again.
        unsafe { std::ptr::read(&this.value) }.into_inner()
    }

    /// Debug builds only (`__private::leak_cell_read_guards`): `n` more shared borrows, as
    /// if `n` read guards had been leaked.
    #[cfg(debug_assertions)]
    pub(crate) fn leak_read_guards_for_test(&self, n: u32) {
        self.lock.add_readers_for_test(n);
    }

    /// The contents' address for a read guard (valid while the cell lives).
    #[inline(always)]
    fn contents(&self) -> NonNull<T> {
        // `with`: loom records a read access (readers may run together).
        // SAFETY: a pointer into `self`, never null.
        self.value
            .with(|v| unsafe { NonNull::new_unchecked(v.cast_mut()) })
    }

    /// The contents' address for a write guard (valid while the cell lives).
    #[inline(always)]
    fn contents_mut(&self) -> NonNull<T> {
        // `with_mut`: loom records a write access.
        // SAFETY: a pointer into `self`, never null.
        self.value
            .with_mut(|v| unsafe { NonNull::new_unchecked(v) })
    }
}

impl<T: Trace + Default> GcCell<T> {
    /// Takes the contents, leaving `T::default()` (like `RefCell::take`). Costs what
    /// [`replace`](Self::replace) costs.
    ///
    /// ```
    /// use gc_core::{Gc, GcCell};
    /// let cell = GcCell::new(vec![Gc::new(1u8), Gc::new(2)]);
    /// let taken = cell.take();
    /// assert_eq!(taken.len(), 2);
    /// assert!(cell.borrow().is_empty());
    /// ```
    ///
    /// # Panics
    ///
    /// As [`borrow_mut`](Self::borrow_mut): if this thread holds a guard on the cell.
    pub fn take(&self) -> T {
        self.replace(T::default())
    }
}

impl<T> Drop for GcCell<T> {
    fn drop(&mut self) {
        if self.lock.flags.load(Ordering::Relaxed) & ON_LIST != 0 {
            gc::unlist_dirty_cell(self as *const Self as usize, &self.lock.flags);
        }
    }
}

#[path = "cell_collector.rs"]
mod collector;
#[path = "cell_trace.rs"]
mod trace_impl;
#[path = "cell_write.rs"]
mod write;
#[cfg(all(test, gc_loom))]
pub(crate) use collector::reroot_erased;
use collector::unroot_erased;
#[cfg(test)]
#[path = "cell_tests.rs"]
mod tests;
