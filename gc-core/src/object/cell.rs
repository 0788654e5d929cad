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

    /// The write guard for `hold` (this cell's write lock): the contents rooted first
    /// (`make_rooted`). Contents that an edge cell in a heap object had go back to edges
    /// when the guard is released, if their handles all sit inline in a small value
    /// ([`REEDGE_MAX_BYTES`]; `Option<Gc<_>>`, tuples, arrays and derived types of such, as
    /// `Trace::garbage_drop_is_noop_at` tells) and this is the cell's first write through a
    /// guard in this write epoch (`WRITTEN`): O(the value), as `replace` costs, instead of
    /// a count per handle written kept, and a dirty slot to walk, until the next cycle's
    /// unroot pass.
    #[inline]
    fn write_guard<'a>(&'a self, mut hold: WriteHold<'a>) -> GcCellRefMut<'a, T> {
        if self.make_rooted() {
            // SAFETY: `reedge::<T>` on this cell, which outlives the hold, is sound under
            // its write lock (`make_rooted` rooted an edge cell of a heap object).
            unsafe { hold.set_on_release(Self::reedge, self as *const Self as usize) };
        }
        // SAFETY: the contents, valid while the cell lives, now rooted; `hold` is its
        // write lock.
        unsafe { GcCellRefMut::new(hold, self.contents_mut()) }
    }

    /// Whether `write_guard` turns rooted contents back into edges at the release: small
    /// values with every handle inline. A constant expression.
    #[inline(always)]
    fn reedges_on_release() -> bool {
        std::mem::size_of::<T>() <= REEDGE_MAX_BYTES && T::garbage_drop_is_noop_at(0)
    }

    /// `write_guard`'s release: the contents it rooted become edges of the enclosing object
    /// again, as the unroot pass would make them (`unroot_if_free`). Nothing was recorded
    /// for that pass; a guard leaked instead leaves the cell rooted in a clean slot until
    /// the marker meets it (`try_trace_contents`) and marks the slot dirty.
    ///
    /// # Safety
    ///
    /// `cell` is a live `GcCell<T>` inside a heap object, rooted by `make_rooted` under the
    /// write lock that the caller still holds.
    unsafe fn reedge(cell: usize) {
        // SAFETY: the contract.
        let cell = unsafe { &*(cell as *const Self) };
        // Nothing clears ROOTED while we hold the write lock (the unroot pass cannot take
        // the cell, `&mut` paths cannot exist). Relaxed: the lock orders the flags' writes.
        let f = cell.lock.flags.load(Ordering::Relaxed);
        debug_assert!(f & ROOTED != 0 && f & HEAP_OWNED != 0);
        cell.to_edges(f);
    }

    /// Holding a heap cell (`HEAP_OWNED`) exclusively, its write lock or the collector's
    /// hold, with flags `f`: rooted contents become edges of the enclosing object, and
    /// `ROOTED` leaves the flags.
    fn to_edges(&self, f: u8) {
        if f & ROOTED != 0 {
            // SAFETY: the cell is held exclusively and lives in a heap object, so its
            // handles may become edges of that object.
            self.value.with_mut(|v| unsafe { (*v).unroot() });
            // Release pairs with the marker's Acquire load in `trace`: seeing ROOTED clear,
            // it sees the edges this walk left (which it then reads under its lock, so the
            // holder's release publishes them too). A plain store: every write of the flags
            // holds the cell exclusively (module header).
            self.lock.flags.store(f & !ROOTED, Ordering::Release);
        }
    }

    /// With the write lock held: root the contents if they are edges. True if the write
    /// guard's release should turn them back into edges: edges of a heap object, of a type
    /// `reedges_on_release` accepts, not written through a guard in this write epoch
    /// (`WRITTEN`, now set to it); nothing is recorded for the unroot pass then. Otherwise
    /// a heap cell is recorded as dirty.
    #[inline]
    fn make_rooted(&self) -> bool {
        if !T::needs_trace() {
            // No handle inside: nothing to count, nothing for the unroot pass.
            return false;
        }
        // Acquire: as in `replace`, the write lock already orders every write of `flags`
        // before us. Relaxed would do.
        let f = self.lock.flags.load(Ordering::Acquire);
        if f & ROOTED != 0 {
            if f & HEAP_OWNED != 0 {
                self.note_written(f);
            }
            return false;
        }
        let before = super::gc::rooted_handles();
        // SAFETY: we hold the write lock, so we have exclusive access to the contents.
        self.value.with_mut(|v| unsafe { (*v).root() });
        // Publish after the rooting: a marker that sees ROOTED may skip the contents
        // because every handle in them is now counted (and shaded if marking). Release pairs
        // with the marker's Acquire load in `trace`: seeing ROOTED, it sees this walk done.
        // A plain store, not a read-modify-write: every write of the flags holds the cell
        // exclusively (the write lock, the collector's hold, or `&mut`).
        if f & HEAP_OWNED == 0 {
            self.lock.flags.store(f | ROOTED, Ordering::Release);
            return false;
        }
        let epoch = gc::write_epoch() << WRITTEN_SHIFT;
        let large = if super::gc::rooted_handles().wrapping_sub(before) >= LARGE_HANDLES {
            LARGE
        } else {
            0
        };
        self.lock.flags.store(
            (f & !(WRITTEN | LARGE)) | ROOTED | large | epoch,
            Ordering::Release,
        );
        if Self::reedges_on_release() && f & WRITTEN != epoch {
            // The epoch's first write: the guard's release makes this an edge cell again,
            // so nothing is recorded for the unroot pass (a guard leaked instead is
            // recorded by the marker: `try_trace_contents`).
            return true;
        }
        gc::list_dirty_cell(
            self as *const Self as usize,
            unroot_erased::<T>,
            &self.lock.flags,
        );
        false
    }
}

impl<T> GcCell<T> {
    /// A write guard on a rooted heap cell (flags `f`): records this write epoch in
    /// `WRITTEN`, so that a paced cycle's unroot pass leaves a `LARGE` cell rooted
    /// (`crate::gc::dirty`, "Large written cells stay rooted"). One store per cell per
    /// cycle.
    #[inline(always)]
    fn note_written(&self, f: u8) {
        let epoch = gc::write_epoch() << WRITTEN_SHIFT;
        if f & WRITTEN != epoch {
            // A plain store under the write lock, as every write of the flags (module
            // header); the pass reads it under its hold, or as a hint before it.
            self.lock
                .flags
                .store((f & !WRITTEN) | epoch, Ordering::Relaxed);
        }
    }

    /// Whether the unroot pass, keeping the large cells written recently for epoch `keep`,
    /// leaves this cell rooted for that reason (a hint read without the lock: keeping is
    /// always sound).
    #[inline]
    fn kept_by_pass(&self, keep: Option<u8>) -> bool {
        keep.is_some_and(|e| {
            let f = self.lock.flags.load(Ordering::Relaxed);
            f & (ROOTED | LARGE) == ROOTED | LARGE && gc::written_within(f >> WRITTEN_SHIFT, e)
        })
    }
}

impl<T: Trace> GcCell<T> {
    /// Whether `value` holds at least [`LARGE_HANDLES`] handles: asked of the length of its
    /// containers first (`Trace::handles_hint`, O(1) for a container), counted only then
    /// (a walk that only reads).
    fn holds_large(value: &T) -> bool {
        value.handles_hint() >= LARGE_HANDLES
            && gc::count_edges(|t| value.trace(t)) >= LARGE_HANDLES as u64
    }

    /// `Gc::new`'s move-in walk met this rooted cell (flags `f`), now in its final place in
    /// the new object: if the contents hold [`LARGE_HANDLES`] handles or more, they stay
    /// rooted, and the cell is left as a write guard would leave it (rooted, heap-owned,
    /// `LARGE`, written in this epoch) and recorded dirty when the walk ends
    /// (`crate::gc::move_in`), so that its first write does not root them all again. True
    /// if it stayed rooted.
    fn keep_moved_in(&mut self, f: u8) -> bool {
        if !Self::holds_large(self.value.get_mut()) {
            return false;
        }
        let epoch = gc::write_epoch() << WRITTEN_SHIFT;
        // The lock reset with the new flags in one store, as `unroot` does (no guard is
        // alive: `&mut self`); the marker sees them through whatever ends the `&mut`.
        self.lock
            .reset_with_flags((f & !WRITTEN) | ROOTED | HEAP_OWNED | LARGE | epoch);
        gc::keep_moved_in_rooted(
            self as *const Self as usize,
            unroot_erased::<T>,
            &self.lock.flags,
        );
        true
    }
}

/// The largest value whose rooting by a write guard is undone at the guard's release
/// (`GcCell::write_guard`): sixteen words, walked at every write.
const REEDGE_MAX_BYTES: usize = 128;

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

/// After a forced cycle, for a `GcCell<T>` its mark met as a large edge cell written
/// recently (`crate::gc::reroot`): roots the contents again and records the cell dirty, as
/// a write guard's first write would, unless a writer holds the cell or has rooted it
/// since. The caller has suspended biases.
///
/// # Safety
///
/// `addr` is a live `GcCell<T>` inside a heap object, not inside another cell's contents,
/// and stays so until this returns.
pub(crate) unsafe fn reroot_erased<T: Trace>(addr: usize) {
    // SAFETY: per the contract.
    let cell = unsafe { &*(addr as *const GcCell<T>) };
    let Some(hold) = cell.lock.try_hold_collector_exclusive() else {
        return;
    };
    // Acquire: the hold's Acquire CAS already orders every write of the flags before us.
    let f = cell.lock.flags.load(Ordering::Acquire);
    if f & ROOTED == 0 {
        // SAFETY: the collector's exclusive hold: nobody else reads or writes the
        // contents, which are edges of the enclosing (live) object and become roots.
        cell.value.with_mut(|v| unsafe { (*v).root() });
        // Release, as in `make_rooted`: a marker that sees ROOTED sees the walk done. A
        // plain store: the hold excludes every other writer of the flags.
        cell.lock.flags.store(f | ROOTED, Ordering::Release);
        gc::list_dirty_cell(addr, unroot_erased::<T>, &cell.lock.flags);
    }
    cell.lock.release_collector(hold);
}

/// The unroot pass's entry for a `GcCell<T>` (see `crate::gc::dirty`): turns a rooted cell
/// back into edges if nobody holds it. Returns false if the cell is busy.
///
/// # Safety
///
/// `addr` is a live `GcCell<T>` on the dirty list, and the caller holds the dirty-list lock.
unsafe fn unroot_erased<T: Trace>(addr: usize, keep: Option<u8>) -> bool {
    // SAFETY: per the contract the cell is alive (it removes itself from the list, under the
    // list lock we hold, before it is dropped or moved).
    let cell = unsafe { &*(addr as *const GcCell<T>) };
    // The caller holds the dirty-list lock, which guards ON_LIST (the cell is on the list
    // only if HEAP_OWNED).
    cell.unroot_if_free(keep, |flags| {
        flags.fetch_and(!ON_LIST, Ordering::Relaxed);
    })
}

impl<T: Trace> GcCell<T> {
    /// The marker's read of the contents: skipped if they are rooted, traced under the
    /// marker's lock otherwise (`trace_locked`). False if a writer holds the cell.
    #[inline(always)]
    fn try_trace_contents(&self, tracer: &mut Tracer) -> bool {
        // Acquire pairs with the Release writes of ROOTED (`make_rooted`, `reedge`,
        // `unroot_erased`, `root`, `unroot`): seeing ROOTED, we see the walk done that
        // counted every handle inside, so we may skip the contents.
        let f = self.lock.flags.load(Ordering::Acquire);
        if f & ROOTED != 0 {
            if f & (HEAP_OWNED | ON_LIST) == HEAP_OWNED {
                // Usually in a dirty slot already; not if its write guard is still held
                // (or was leaked) on the epoch's first write (`make_rooted`).
                gc::note_rooted_cell(self as *const Self as usize);
            }
            return true;
        }
        if f & LARGE != 0 && tracer.is_assist() {
            // Thousands of edges: not for a mutator's assist (its allocation would wait
            // for them all), but for a background worker, which scans the object again.
            tracer.defer_object();
            return true;
        }
        if !self.trace_locked(tracer) {
            return false;
        }
        // With `LARGE` as the trace just left it (`note_size`: a list grown large while
        // rooted is told so here first). Relaxed: only a hint, `reroot_erased` looks again.
        let f = self.lock.flags.load(Ordering::Relaxed);
        if f & LARGE != 0 && tracer.records_reroots() && gc::written_recently(f >> WRITTEN_SHIFT) {
            // A forced cycle's pass unrooted it; a paced one would have kept it rooted.
            gc::note_reroot(self as *const Self as usize, reroot_erased::<T>);
        }
        true
    }

    /// Traces the contents under the marker's lock (the collector's hold if the cell is
    /// free, a shared read lock otherwise, which leaked user read guards cannot make fail).
    /// False, tracing nothing, if a writer holds the cell.
    #[inline(always)]
    fn trace_locked(&self, tracer: &mut Tracer) -> bool {
        if let Some(hold) = self.lock.try_hold_collector() {
            let before = tracer.edges_seen();
            // SAFETY: the collector holds the lock alone on the word; the only other access
            // it allows is the owner's counted reads, which read too.
            unsafe { self.trace_inside(tracer) };
            if let (Some(before), Some(after)) = (before, tracer.edges_seen()) {
                self.note_size(after.wrapping_sub(before));
            }
            self.lock.release_collector(hold);
            return true;
        }
        if self.lock.try_read_marker() {
            // SAFETY: read lock held.
            unsafe { self.trace_inside(tracer) };
            self.lock.read_unlock_marker();
            return true;
        }
        false
    }

    /// Traces the contents, the tracer knowing it is inside this cell (`Tracer::enter_cell`).
    ///
    /// # Safety
    ///
    /// The caller holds the marker's lock on the cell (the collector's hold or a read lock).
    #[inline(always)]
    unsafe fn trace_inside(&self, tracer: &mut Tracer) {
        tracer.enter_cell();
        // SAFETY: the contract: nobody writes the contents meanwhile.
        self.value.with(|v| unsafe { (*v).trace(tracer) });
        tracer.leave_cell();
    }

    /// Holding the collector's hold on an edge cell whose contents just gave `edges` edges:
    /// `LARGE` follows their number, so that assists leave the cell to the background
    /// workers from the next cycle on (a plain store, as every write of the flags: the hold
    /// is exclusive against every other writer). Only when it changes.
    fn note_size(&self, edges: u64) {
        let f = self.lock.flags.load(Ordering::Relaxed);
        let large = if edges >= LARGE_HANDLES as u64 {
            LARGE
        } else {
            0
        };
        if f & LARGE != large {
            self.lock
                .flags
                .store((f & !LARGE) | large, Ordering::Relaxed);
        }
    }

    /// A writer holds an edge cell: it is inside `borrow_mut`, about to root the contents,
    /// inside `replace`, or releasing a small cell's guard (`reedge`): bounded work that
    /// never waits for the collector (or the unroot pass holds it, as briefly). A leaked
    /// write guard cannot be the reason: on a heap cell its `borrow_mut` rooted the
    /// contents, and a stack cell's leaked guards were reset when `Gc::new` unrooted it.
    /// Wait for it.
    #[cold]
    #[inline(never)]
    fn trace_after_writer(&self, tracer: &mut Tracer) {
        let mut backoff = Backoff::default();
        loop {
            backoff.snooze();
            if self.try_trace_contents(tracer) {
                return;
            }
        }
    }

    /// The collector's unrooting of a `HEAP_OWNED` cell, for both records of dirty cells:
    /// if nobody holds the cell, turns rooted contents into edges of the enclosing object,
    /// runs `also` on the flags while still holding the lock, and returns true; false if
    /// the cell is busy, or large and written recently for epoch `keep` (so it stays
    /// rooted). Never blocks.
    fn unroot_if_free(&self, keep: Option<u8>, also: impl FnOnce(&AtomicU8)) -> bool {
        if self.kept_by_pass(keep) {
            return false;
        }
        let addr = self as *const Self as usize;
        // The collector's hold: no thread's, not recorded, and with no owner reading under
        // a bias (the pass suspends biases). A cell users hold is left for the next cycle.
        let Some(hold) = self.lock.try_hold_collector_exclusive() else {
            if self.lock.held_by_user_writer() {
                gc::note_held_cell(addr);
            }
            return false;
        };
        // Acquire: as in `replace`, the hold's Acquire CAS already orders every write of
        // `flags` before us. Relaxed would do.
        let mut f = self.lock.flags.load(Ordering::Acquire);
        if let Some(e) = gc::held_through_last_pass(addr) {
            // Its write guard was held through the last pass and let go since: written
            // in the epoch this pass closes, whatever epoch the guard recorded when taken
            // (`crate::gc::dirty`, `HELD`). A plain store: the hold is exclusive.
            f = (f & !WRITTEN) | (e << WRITTEN_SHIFT);
            self.lock.flags.store(f, Ordering::Relaxed);
            if self.kept_by_pass(keep) {
                self.lock.release_collector(hold);
                return false;
            }
        }
        if self.grew_large(f, keep) {
            // Rooted while small and grown since: large from now on, and kept as such.
            // A plain store, as every write of the flags: the hold is exclusive.
            self.lock.flags.store(f | LARGE, Ordering::Relaxed);
            self.lock.release_collector(hold);
            return false;
        }
        // The cell is HEAP_OWNED (the callers' contract).
        self.to_edges(f);
        also(&self.lock.flags);
        self.lock.release_collector(hold);
        true
    }

    /// Holding the collector's exclusive hold on a rooted cell (flags `f`) that a pass
    /// keeping the large cells written recently for epoch `keep` would keep but for its
    /// missing `LARGE`: whether its contents now hold at least [`LARGE_HANDLES`] handles.
    /// `LARGE` is set when a write guard roots the contents, so a list rooted small and
    /// grown large since (appended to within one cycle) would otherwise be unrooted here
    /// and rooted whole again by its next writer. Asked only of a cell written recently.
    fn grew_large(&self, f: u8, keep: Option<u8>) -> bool {
        if f & (ROOTED | LARGE) != ROOTED
            || !keep.is_some_and(|e| gc::written_within(f >> WRITTEN_SHIFT, e))
        {
            return false;
        }
        // SAFETY: the collector's exclusive hold: nobody writes the contents meanwhile.
        self.value.with(|v| Self::holds_large(unsafe { &*v }))
    }

    /// The unroot pass's visit of a cell inside a dirty heap object (`crate::gc::dirty`):
    /// a rooted cell's contents become edges of the object, an edge cell's contents are
    /// walked for cells nested inline. A cell a writer holds is left as it is and the walk
    /// noted busy (the object stays dirty for the next cycle). Cells on the list (outside
    /// heap slots) are the list's to visit. Never blocks.
    fn unroot_for_pass(&self, tracer: &mut Tracer) {
        // Acquire pairs with the Release writes of ROOTED, as in `trace`.
        let f = self.lock.flags.load(Ordering::Acquire);
        if f & ON_LIST != 0 {
            return;
        }
        if f & ROOTED == 0 {
            if !self.trace_locked(tracer) {
                tracer.note_left_dirty();
            }
            return;
        }
        if f & HEAP_OWNED == 0 {
            // Rooted with an enclosing cell's contents (`root`): that cell is the one whose
            // unrooting turns this one back.
            return;
        }
        if !self.unroot_if_free(tracer.keep_written(), |_| {}) {
            tracer.note_left_dirty();
        }
    }
}

impl<T> Drop for GcCell<T> {
    fn drop(&mut self) {
        if self.lock.flags.load(Ordering::Relaxed) & ON_LIST != 0 {
            gc::unlist_dirty_cell(self as *const Self as usize, &self.lock.flags);
        }
    }
}

// SAFETY: obligations 1-3. `trace` reads the contents only under the marker's lock (the
// collector's hold or a read lock), or skips them when they are rooted (then every handle
// inside is counted, so the root scan or the rooting's shade covers it). `root`/`unroot`
// visit the contents through `&mut self`, which also proves that no guard is alive, so they
// may reset the lock.
unsafe impl<T: Trace> Trace for GcCell<T> {
    // The cell's own drop (leaving the dirty list) is the runtime's.
    crate::object::trace::facts_of!(T);
    /// Garbage in a clean slot (the sweep's condition for skipping a drop) holds this cell
    /// in edge state: a rooted cell inline in a heap object keeps its slot dirty until the
    /// unroot pass makes it an edge cell again (`gc/dirty.rs`), except while a small cell's
    /// first write guard of a cycle is held (its object is reachable then: the guard
    /// borrows it) or after such a guard was leaked until the marker records it (module
    /// header); and the contents of an edge cell drop as `T`'s garbage does. The cell's own
    /// drop does nothing there either: a cell inline in a slot is never on the dirty list,
    /// and its lock has no guard to forget but leaked ones, recorded on the thread that
    /// leaked them (whose records a sweep on another thread could not reach anyway).
    #[inline(always)]
    fn garbage_drop_is_noop_at(depth: u32) -> bool {
        T::garbage_drop_is_noop_at(depth)
    }
    #[inline(always)]
    fn holds_keys_at(depth: u32) -> bool {
        T::holds_keys_at(depth)
    }
    // `root_key`/`unroot_key` keep their defaults: a cell inside a map key or set element
    // stays `ROOTED` (its contents counted), which is sound and never happens in practice.

    /// Contents in edge state (not `ROOTED`) follow the garbage protocol; rooted contents
    /// hold real counts, which their drop releases.
    unsafe fn forget_edges(&mut self) {
        if self.lock.flags.load(Ordering::Relaxed) & ROOTED == 0 {
            // SAFETY: forwarded from the caller's contract; `&mut self` excludes every
            // other access.
            unsafe { self.value.get_mut().forget_edges() };
        }
    }

    // Small enough to inline into the object's trace: the wait for a writer is out of line.
    #[inline(always)]
    fn trace(&self, tracer: &mut Tracer) {
        if !T::needs_trace() {
            return;
        }
        if tracer.is_unrooting() {
            return self.unroot_for_pass(tracer);
        }
        if !self.try_trace_contents(tracer) {
            self.trace_after_writer(tracer);
        }
    }

    unsafe fn root(&mut self) {
        if self.lock.flags.load(Ordering::Relaxed) & ON_LIST != 0 {
            // May wait for the unroot pass to finish with this cell, which changes the
            // flags: read them only afterwards.
            gc::unlist_dirty_cell(self as *const Self as usize, &self.lock.flags);
        }
        // Only now, with the cell unlisted, does `&mut self` exclude every lock holder: the
        // unroot pass (which may have held the write lock until `remove` returned) is done
        // with it, and no guard is alive. Forget any that were leaked.
        self.lock.reset();
        let f = self.lock.flags.load(Ordering::Relaxed);
        if f & ROOTED == 0 {
            // SAFETY: exclusive access through `&mut self`; forwarded contract.
            unsafe { self.value.get_mut().root() };
        }
        // A plain store, not a read-modify-write: `&mut self` excludes every other writer
        // (a locked instruction here would wait for the store buffer, which holds the
        // object's fresh bytes in `Gc::new`). Release pairs with the marker's Acquire load
        // in `trace`, but with `&mut self` no marker reads the flags meanwhile, and the next
        // reader gets them through whatever ends the `&mut` (a lock, a hand-over between
        // threads). Relaxed would do.
        self.lock.flags.store(
            (f | ROOTED) & !(HEAP_OWNED | WRITTEN | LARGE),
            Ordering::Release,
        );
    }

    #[inline]
    unsafe fn unroot(&mut self) {
        // No guard is alive (`&mut self`; a cell being unrooted is not on the dirty list,
        // so the unroot pass does not hold it either): forget any that were leaked. This
        // is what keeps the marker going: it waits while a writer holds an edge cell.
        debug_assert_eq!(self.lock.flags.load(Ordering::Relaxed) & ON_LIST, 0);
        let f = self.lock.flags.load(Ordering::Relaxed);
        if f & ROOTED != 0 {
            // A small value with its handles inline cannot hold `LARGE_HANDLES` (a constant),
            // nor can contents whose containers have fewer elements (`handles_hint`): asked
            // before the thread-local look at the walk, which cost every small cell's move-in.
            if !Self::reedges_on_release()
                && self.value.get_mut().handles_hint() >= LARGE_HANDLES
                && gc::in_move_in()
                && self.keep_moved_in(f)
            {
                return;
            }
            // SAFETY: exclusive access through `&mut self`; forwarded contract.
            unsafe { self.value.get_mut().unroot() };
        }
        // The lock reset with the new flags, in one store. A plain store, as in `root`: no
        // marker reads the flags while we hold `&mut self` (in `Gc::new` the object is new:
        // black while marking, and the next mark starts after a stop), and the next reader
        // gets them through whatever ends the `&mut`.
        self.lock
            .reset_with_flags((f & !(ROOTED | WRITTEN | LARGE)) | HEAP_OWNED);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Gc;

    /// The header (lock word, flags, owner's reads, owner) is one 8-byte word before the
    /// value: a cell of a handle is two words, and `GcCell::new` writes the header in one
    /// store.
    #[test]
    #[cfg(not(gc_loom))] // loom's atomics are larger
    fn the_header_is_one_word_before_the_value() {
        use std::mem::{offset_of, size_of};
        assert_eq!(size_of::<GcCell<Option<Gc<u64>>>>(), 16);
        assert_eq!(offset_of!(GcCell<Option<Gc<u64>>>, value), 8);
        assert_eq!(size_of::<GcCell<u64>>(), 16);
        assert_eq!(size_of::<GcCell<u32>>(), 12);
        // The pad's cost: 4 bytes where `T` is aligned to 2 or less.
        assert_eq!(size_of::<GcCell<u8>>(), 12);
        let c = GcCell::new(7u64);
        // SAFETY: the first 8 bytes are the header's initialised fields.
        let header = unsafe { std::ptr::read((&c as *const GcCell<u64>).cast::<[u8; 8]>()) };
        assert_eq!(
            header,
            [0, 0, 0, 0, ROOTED, 0, 0, 0],
            "lock 0, flags, no reads, no owner"
        );
    }

    #[test]
    fn replace_on_a_heap_cell_keeps_it_an_edge_cell() {
        let holder: Gc<GcCell<Option<Gc<u64>>>> = Gc::new(GcCell::new(None));
        assert_eq!(
            holder.lock.flags.load(Ordering::Relaxed) & (ROOTED | ON_LIST),
            0
        );
        for i in 0..1000u64 {
            let old = holder.replace(Some(Gc::new(i)));
            if i > 0 {
                assert_eq!(*old.expect("previous value"), i - 1);
            }
        }
        // Never rooted, never listed: nothing for the next cycle's unroot pass.
        assert_eq!(
            holder.lock.flags.load(Ordering::Relaxed) & (ROOTED | ON_LIST),
            0
        );
        crate::collect();
        assert_eq!(**holder.borrow().as_ref().unwrap(), 999);
        holder.set(None);
        assert!(holder.borrow().is_none());
    }

    #[test]
    fn a_small_cells_first_write_in_a_cycle_leaves_it_an_edge_cell_later_ones_rooted() {
        let small: Gc<GcCell<Option<Gc<u64>>>> = Gc::new(GcCell::new(None));
        type Pair = (Gc<u64>, Option<Gc<u64>>);
        let pair: Gc<GcCell<Pair>> = Gc::new(GcCell::new((Gc::new(1), None)));
        let list: Gc<GcCell<Vec<Gc<u64>>>> = Gc::new(GcCell::new(Vec::new()));
        let rooted = |f: &AtomicU8| f.load(Ordering::Relaxed) & ROOTED != 0;
        for cycle in 0..3u64 {
            // The cycle's first write through a guard: inline handles are edges again as
            // soon as the guard goes; a `Vec` stays rooted until the unroot pass.
            *small.borrow_mut() = Some(Gc::new(cycle));
            list.borrow_mut().push(Gc::new(cycle));
            {
                // `try_borrow_mut`, `map_split`: released when both halves are gone.
                let g = pair.try_borrow_mut().expect("free");
                let (mut a, mut b) = GcCellRefMut::map_split(g, |p| (&mut p.0, &mut p.1));
                *a = Gc::new(500 + cycle);
                *b = None;
                drop(a);
                assert!(rooted(&pair.lock.flags), "b still holds the guard");
            }
            assert!(
                !rooted(&small.lock.flags) && !rooted(&pair.lock.flags),
                "cycle {cycle}"
            );
            assert!(rooted(&list.lock.flags));
            // Later writes in the same cycle leave the contents rooted: O(1) each.
            for i in 0..10u64 {
                *small.borrow_mut() = Some(Gc::new(i));
            }
            assert!(rooted(&small.lock.flags));
            // The pass unroots what is rooted and starts a new write epoch: the next
            // write is the first again (the loop's top checks it).
            let epoch = crate::gc::write_epoch();
            crate::collect();
            assert_ne!(crate::gc::write_epoch(), epoch);
            for f in [&small.lock.flags, &pair.lock.flags, &list.lock.flags] {
                assert_eq!(f.load(Ordering::Relaxed) & ROOTED, 0);
            }
        }
        let (x, y) = (Gc::new(7u64), Gc::new(8u64));
        small.swap(&GcCell::new(Some(x)));
        *small.borrow_mut() = Some(y);
        crate::collect();
        assert_eq!(**small.borrow().as_ref().unwrap(), 8);
        assert_eq!(*pair.borrow().0, 502);
        assert_eq!(list.borrow().iter().map(|g| **g).sum::<u64>(), 3);
    }

    #[test]
    fn a_cell_held_during_a_cycle_stays_dirty_until_a_later_one() {
        // A `Vec`: its write guard leaves it rooted (small inline values are edges again at
        // the guard's release, above).
        let holder: Gc<GcCell<Vec<Gc<u64>>>> = Gc::new(GcCell::new(Vec::new()));
        let flags = || holder.lock.flags.load(Ordering::Relaxed);
        assert_eq!(flags() & (ROOTED | HEAP_OWNED), HEAP_OWNED);
        let mut w = holder.borrow_mut();
        w.push(Gc::new(7));
        assert_ne!(flags() & ROOTED, 0, "the write rooted the contents");
        // The unroot pass finds the cell held: it stays rooted, its slot stays dirty.
        crate::collect();
        assert_ne!(flags() & ROOTED, 0, "unrooted under a writer");
        drop(w);
        // No write since: only the dirty bit the busy pass kept brings the cell back.
        crate::collect();
        assert_eq!(
            flags() & (ROOTED | ON_LIST),
            0,
            "the busy cell was forgotten"
        );
        assert_eq!(*holder.borrow()[0], 7);
    }

    /// A paced cycle's unroot pass leaves rooted the large cells written in the last
    /// `KEEP_PASSES` cycles: a list written now and then is rooted once, not once per cycle
    /// (O(contents) each time); one not written for that long goes back to edges; a small
    /// cell is unrooted at every pass; a forced cycle keeps none. Other tests in this
    /// process run cycles and change `GOGC`, so the scenario runs alone in a child process
    /// of this test binary.
    #[test]
    #[cfg(not(gc_loom))]
    fn a_paced_pass_keeps_large_cells_written_recently_rooted() {
        const NAME: &str =
            "object::cell::tests::a_paced_pass_keeps_large_cells_written_recently_rooted";
        const CHILD: &str = "GC_CORE_CELL_TEST_CHILD";
        if std::env::var_os(CHILD).is_some() {
            let mut ran = 0;
            let outcome = paced_pass_scenario(&mut ran);
            crate::gc::wait_for_cycle_for_test();
            assert_eq!(
                crate::mem_stats().num_gc,
                ran,
                "a cycle the scenario did not run"
            );
            return outcome.unwrap();
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", NAME, "--test-threads=1", "--nocapture"])
            .env(CHILD, "1")
            .output()
            .expect("the test binary runs");
        let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "the child failed:\n{text}");
        assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
    }

    /// The scenario of the test above; `ran` counts the cycles it ran.
    #[cfg(not(gc_loom))]
    fn paced_pass_scenario(ran: &mut u32) -> Result<(), String> {
        fn paced_cycle(ran: &mut u32) {
            *ran += 1;
            crate::gc::paced_cycle_for_test();
        }
        let n = LARGE_HANDLES as u64;
        let visits = crate::object::gc::tests::visits;
        let new_list = |len: u64| -> (Gc<GcCell<Vec<Gc<u64>>>>, u64) {
            let items = GcCell::new((0..len).map(Gc::new).collect());
            let v = visits();
            let list = Gc::new(items);
            (list, visits() - v)
        };
        // Moved in whole by `Gc::new`: a large list stays rooted, as if written now (the
        // move-in walk makes none of its handles edges), a small one does not.
        let ((list, list_walked), (small, small_walked)) = (new_list(n), new_list(10));
        // So does a list of lists (its hint multiplies the lengths).
        let nested: Vec<Vec<Gc<u64>>> = (0..32)
            .map(|_| (0..n / 32).map(Gc::new).collect())
            .collect();
        let v = visits();
        let nested = Gc::new(GcCell::new(nested));
        let nested_walked = visits() - v;
        let (born, _) = new_list(n);
        // Rooted small by its first write, then grown large by that guard: the pass finds
        // it large and keeps it, so its next write roots nothing.
        let (grown, _) = new_list(0);
        grown.borrow_mut().extend((0..n).map(Gc::new));
        let rooted = |c: &GcCell<_>| c.lock.flags.load(Ordering::Relaxed) & ROOTED != 0;
        let check = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
        check(
            rooted(&list)
                && rooted(&born)
                && nested.lock.flags.load(Ordering::Relaxed) & ROOTED != 0
                && !rooted(&small),
            "Gc::new kept the wrong cells rooted".into(),
        )?;
        check(
            list_walked == 0 && nested_walked == 0 && small_walked == 10,
            format!("the move-in walks visited {list_walked}, {nested_walked} and {small_walked} handles"),
        )?;
        // `born` is never written: kept through `KEEP_PASSES` passes after its birth's
        // epoch, then back to edges.
        let mut born_passes = 0;
        let mut born_check = || {
            born_passes += 1;
            let kept = born_passes <= crate::gc::KEEP_PASSES;
            check(
                rooted(&born) == kept,
                format!("pass {born_passes} after its move-in: rooted is not {kept}"),
            )
        };
        let v0 = visits();
        list.borrow_mut().push(Gc::new(n));
        let walked = visits() - v0;
        check(
            walked == 0,
            format!("the first write rooted the contents again ({walked} handles)"),
        )?;
        for cycle in 0..3 {
            small.borrow_mut().push(Gc::new(cycle));
            paced_cycle(ran);
            born_check()?;
            if cycle == 0 {
                check(rooted(&grown), "a list grown large was unrooted".into())?;
                let v = visits();
                grown.borrow_mut().push(Gc::new(n));
                check(
                    visits() == v,
                    "the write after the pass rooted a grown list".into(),
                )?;
            }
            check(
                rooted(&list),
                format!("cycle {cycle}: a large written cell was unrooted"),
            )?;
            check(
                !rooted(&small),
                format!("cycle {cycle}: a small cell was kept"),
            )?;
            let v = visits();
            list.borrow_mut().push(Gc::new(cycle));
            check(
                visits() == v,
                format!("cycle {cycle}: a write rooted the contents again"),
            )?;
        }
        // Kept through `KEEP_PASSES` passes after the epoch of its last write, then back to
        // edges.
        for pass in 0..crate::gc::KEEP_PASSES {
            paced_cycle(ran);
            born_check()?;
            check(
                rooted(&list),
                format!("pass {pass} after the last write: unrooted"),
            )?;
        }
        paced_cycle(ran);
        born_check()?;
        check(
            !rooted(&list),
            "not written for KEEP_PASSES cycles, still rooted".into(),
        )?;
        // A forced cycle unroots every cell for its mark (to find every garbage cycle),
        // then roots the large ones written recently again before `collect()` returns
        // (`gc/reroot.rs`), so that their next write roots nothing.
        list.borrow_mut().push(Gc::new(7));
        check(rooted(&list), "a write did not root the contents".into())?;
        let (v, len) = (visits(), n + 5);
        *ran += 1;
        crate::collect();
        let walked = visits() - v;
        check(
            walked == 2 * len,
            format!("collect() walked {walked} handles, not {len} unrooted and rooted again"),
        )?;
        check(
            rooted(&list),
            "collect() left a large written cell unrooted".into(),
        )?;
        let v = visits();
        list.borrow_mut()[0] = Gc::new(0);
        check(
            visits() == v,
            "the write after collect() rooted the contents".into(),
        )?;
        // So is one rooted small and grown large since: its mark tells it large.
        let (grown_now, _) = new_list(0);
        grown_now.borrow_mut().extend((0..n).map(Gc::new));
        *ran += 1;
        crate::collect();
        check(
            rooted(&grown_now),
            "collect() left a list grown large unrooted".into(),
        )?;
        // Filled by one guard held through more passes than `KEEP_PASSES` (its guard
        // recorded the epoch it was taken in): the pass after the release counts its last
        // write as made then, finds it large and keeps it, so its next write roots nothing;
        // and `collect()` roots it again (its mark sees it written recently).
        for forced in [false, true] {
            let (filled, _) = new_list(0);
            {
                let mut guard = filled.borrow_mut();
                for pass in 0..=crate::gc::KEEP_PASSES as u64 {
                    guard.extend((0..n / 4).map(|i| Gc::new(pass * n + i)));
                    paced_cycle(ran);
                }
            }
            if forced {
                *ran += 1;
                crate::collect();
            } else {
                paced_cycle(ran);
            }
            check(
                rooted(&filled),
                format!("a list filled under one guard held through the passes was unrooted (collect: {forced})"),
            )?;
            let v = visits();
            filled.borrow_mut()[0] = Gc::new(1);
            check(
                visits() == v,
                format!("the write after the long guard rooted the list (collect: {forced})"),
            )?;
        }
        let sum: u64 = list.borrow().iter().map(|g| **g).sum();
        check(
            list.borrow().len() as u64 == n + 5,
            "lost an element".into(),
        )?;
        check(
            sum == n * (n - 1) / 2 + n + 3 + 7,
            "an element changed".into(),
        )?;
        let small_len = small.borrow().len();
        check(small_len == 13, "lost a small element".into())?;
        let born_sum: u64 = born.borrow().iter().map(|g| **g).sum();
        check(
            born_sum == n * (n - 1) / 2,
            "an element of born changed".into(),
        )
    }

    /// The marker's trace of an edge cell sets `LARGE` from the edges it gave (assists
    /// leave such cells to the background workers), and clears it once they are fewer.
    #[test]
    fn the_marker_tells_large_edge_cells() {
        let n = LARGE_HANDLES as u64;
        let vec_of = |len: u64| (0..len).map(Gc::new).collect::<Vec<Gc<u64>>>();
        // Large edge cells: filled by `replace` (`Gc::new` would keep the contents rooted).
        let edge_cell = |len: u64| -> Gc<GcCell<Vec<Gc<u64>>>> {
            let c = Gc::new(GcCell::new(Vec::new()));
            drop(c.replace(vec_of(len)));
            c
        };
        let (big, small) = (edge_cell(n), edge_cell(n - 1));
        let flags = |c: &GcCell<_>| c.lock.flags.load(Ordering::Relaxed);
        // (Another test's cycle may have traced them already.)
        assert_eq!(flags(&big) & ROOTED, 0, "filled by replace: edge cells");
        crate::collect();
        assert_eq!(flags(&big) & (LARGE | ROOTED), LARGE);
        assert_eq!(flags(&small) & (LARGE | ROOTED), 0);
        // `replace` keeps an edge cell an edge cell.
        drop(big.replace(vec_of(3)));
        crate::collect();
        assert_eq!(
            flags(&big) & (LARGE | ROOTED),
            0,
            "still large with 3 handles"
        );
        assert_eq!(big.borrow().iter().map(|g| **g).sum::<u64>(), 3);
        assert_eq!(small.borrow().len() as u64, n - 1);
    }

    #[test]
    fn a_small_cells_guard_held_through_a_cycle_keeps_both_values() {
        let holder: Gc<GcCell<Option<Gc<u64>>>> = Gc::new(GcCell::new(Some(Gc::new(1))));
        let flags = || holder.lock.flags.load(Ordering::Relaxed);
        crate::collect();
        let mut w = holder.borrow_mut();
        let old = w.replace(Gc::new(2));
        // The epoch's first write: rooted while held, recorded nowhere until the marker
        // meets it rooted and dirties its slot.
        assert_eq!(flags() & (ROOTED | HEAP_OWNED), ROOTED | HEAP_OWNED);
        crate::collect();
        assert_ne!(flags() & ROOTED, 0, "unrooted under a writer");
        drop(w);
        assert_eq!(flags() & ROOTED, 0, "the release made it an edge cell");
        crate::collect();
        crate::collect();
        assert_eq!(**holder.borrow().as_ref().unwrap(), 2);
        assert_eq!(*old.unwrap(), 1);
    }

    #[test]
    fn replace_on_a_stack_cell_keeps_handles_rooted() {
        let cell = GcCell::new(Some(Gc::new(1u64)));
        let old = cell.replace(Some(Gc::new(2)));
        crate::collect();
        assert_eq!(*old.unwrap(), 1);
        assert_eq!(**cell.borrow().as_ref().unwrap(), 2);
    }
}
