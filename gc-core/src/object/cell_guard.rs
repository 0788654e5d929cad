//! The guards `GcCell` hands out: [`GcCellRef`] (shared) and [`GcCellRefMut`]
//! (exclusive), with std's `Ref`/`RefMut` combinators (`map`, `filter_map`, `map_split`,
//! and `GcCellRef::clone`) as associated functions.
//!
//! A guard is a pointer to what it shows (the cell's contents, or a part of them after
//! `map`) plus the lock it holds: a user read lock ([`ReadHold`]), or the write lock
//! ([`WriteHold`]), shared through an `Rc` by the two halves of a `GcCellRefMut::map_split`
//! and released when both are dropped. Releasing is the holds' `Drop`, so a guard needs
//! none of its own and the combinators move the hold from one guard into another.
//!
//! Invariants: while a guard is alive its lock is held (shared or exclusive), so the
//! pointer is valid for reads (and, for a write guard, writes) for the guard's lifetime
//! `'a`, which the cell outlives. A write guard always points into contents that
//! `GcCell::borrow_mut` rooted before making it, so every handle moved in or out through
//! it, mapped or not, stays counted (see [`GcCellRefMut::map`]); a small heap cell's
//! contents go back to edges when the write lock is released (`WriteHold`'s release hook,
//! run before the unlock, also when a panic drops the guard).
//!
//! Guards are `!Send`: a user lock records its holder thread (`cell_held.rs`: the read
//! registry, the writer's token) and must be released on that thread. They are `Sync` when
//! the target is (like `RwLock`'s guards): a shared reference to a guard only reads the
//! target. Nothing here is shared between threads except through the lock.

use super::cell_lock::{CellLock, Read, Write};
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;
use std::rc::Rc;

/// A user read lock on a cell, released when dropped (on the thread that took it).
pub(crate) struct ReadHold<'a> {
    lock: &'a CellLock,
    /// How it was taken (counted by the cell's owner, or on the lock word).
    read: Read,
}

impl<'a> ReadHold<'a> {
    /// Blocks until the read lock is taken; panics as [`CellLock::read`].
    #[inline]
    pub(crate) fn acquire(lock: &'a CellLock) -> ReadHold<'a> {
        ReadHold {
            read: lock.read(),
            lock,
        }
    }

    /// The read lock if it can be had without waiting.
    #[inline]
    pub(crate) fn try_acquire(lock: &'a CellLock) -> Option<ReadHold<'a>> {
        lock.try_read().map(|read| ReadHold { lock, read })
    }
}

impl Drop for ReadHold<'_> {
    #[inline]
    fn drop(&mut self) {
        self.lock.read_unlock(self.read);
    }
}

/// A user write lock on a cell, released when dropped (on the thread that took it).
pub(crate) struct WriteHold<'a> {
    lock: &'a CellLock,
    /// What the release gives back (a bias, if the cell had one).
    write: Write,
    /// Run on the cell, still locked, just before the release (`set_on_release`).
    on_release: Option<OnRelease>,
}

/// A cell's work at the end of a write (`GcCell::write_guard`: turning contents it rooted
/// for the guard back into edges): `f(cell)`.
struct OnRelease {
    f: unsafe fn(usize),
    cell: usize,
}

impl<'a> WriteHold<'a> {
    /// Blocks until the write lock is taken; panics as [`CellLock::write`].
    #[inline]
    pub(crate) fn acquire(lock: &'a CellLock) -> WriteHold<'a> {
        WriteHold {
            write: lock.write(),
            lock,
            on_release: None,
        }
    }

    /// The write lock if it can be had without waiting.
    #[inline]
    pub(crate) fn try_acquire(lock: &'a CellLock) -> Option<WriteHold<'a>> {
        lock.try_write().map(|write| WriteHold {
            lock,
            write,
            on_release: None,
        })
    }

    /// Makes the release run `f(cell)` first, with the lock still held (also when the
    /// guard is dropped by a panic).
    ///
    /// # Safety
    ///
    /// `cell` is the cell whose lock this is, and `f(cell)` is sound whenever this hold
    /// is released: it may rely on the write lock and on the cell being alive.
    #[inline]
    pub(crate) unsafe fn set_on_release(&mut self, f: unsafe fn(usize), cell: usize) {
        self.on_release = Some(OnRelease { f, cell });
    }
}

impl Drop for WriteHold<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(r) = self.on_release.take() {
            // SAFETY: `set_on_release`'s contract; we still hold the write lock, and the
            // cell outlives `'a`.
            unsafe { (r.f)(r.cell) };
        }
        self.lock.write_unlock(self.write);
    }
}

/// How a write guard holds the write lock: alone, or with the other half of a
/// `map_split` (the lock is released when the last `Rc` goes).
enum WriteShare<'a> {
    Sole(WriteHold<'a>),
    Split(Rc<WriteHold<'a>>),
}

/// Shared guard returned by [`GcCell::borrow`](crate::GcCell::borrow): a read lock on the
/// cell and a view of its contents (or, after [`map`](Self::map), of part of them).
///
/// Not `Send`: it must be dropped on the thread that borrowed.
///
/// # Examples
///
/// ```
/// use gc_core::{GcCell, GcCellRef};
///
/// let cell = GcCell::new(vec![1, 2, 3]);
/// let guard: GcCellRef<'_, Vec<i32>> = cell.borrow();
/// assert_eq!(guard.iter().sum::<i32>(), 6);
/// ```
pub struct GcCellRef<'a, T: ?Sized> {
    /// What the guard shows. Being a raw pointer, it makes the guard `!Send` (and `!Sync`,
    /// given back below).
    value: NonNull<T>,
    hold: ReadHold<'a>,
    /// Covariant in `T` like `&'a T`.
    _marker: PhantomData<&'a T>,
}

// SAFETY: a `&GcCellRef` only reads the target (`Deref`), like a `&T`, which is shareable
// when `T: Sync`; the hold is never touched through `&`.
unsafe impl<T: ?Sized + Sync> Sync for GcCellRef<'_, T> {}

impl<'a, T: ?Sized> GcCellRef<'a, T> {
    /// A guard showing `value` while `hold` is held.
    ///
    /// # Safety
    ///
    /// `value` points into the contents of the cell whose lock `hold` holds, and is valid
    /// for reads for `'a` while any read lock on that cell is held.
    #[inline]
    pub(crate) unsafe fn new(hold: ReadHold<'a>, value: NonNull<T>) -> GcCellRef<'a, T> {
        GcCellRef {
            value,
            hold,
            _marker: PhantomData,
        }
    }

    /// Another shared guard on the same cell and target (another read lock), like
    /// `Ref::clone`. An associated function: `GcCellRef::clone(&r)`, so that `r.clone()`
    /// still clones the target.
    ///
    /// # Panics
    ///
    /// If `2^27` shared guards to the cell are held at once (see
    /// [`GcCell::borrow`](crate::GcCell::borrow)).
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{GcCell, GcCellRef};
    ///
    /// let cell = GcCell::new(7);
    /// let a = cell.borrow();
    /// let b = GcCellRef::clone(&a); // a second read guard
    /// assert_eq!(*a + *b, 14);
    /// ```
    #[allow(clippy::should_implement_trait)] // as std's `Ref::clone`: not a method
    #[must_use]
    pub fn clone(orig: &GcCellRef<'a, T>) -> GcCellRef<'a, T> {
        GcCellRef {
            value: orig.value,
            // Never waits: this thread's read lock keeps writers out.
            hold: ReadHold::acquire(orig.hold.lock),
            _marker: PhantomData,
        }
    }

    /// A guard on a part of the borrowed data, holding the same read lock (`Ref::map`).
    ///
    /// ```
    /// use gc_core::{GcCell, GcCellRef};
    /// let cell = GcCell::new((5u32, String::from("five")));
    /// let name: GcCellRef<'_, str> = GcCellRef::map(cell.borrow(), |v| v.1.as_str());
    /// assert_eq!(&*name, "five");
    /// ```
    #[inline]
    pub fn map<U: ?Sized, F>(orig: GcCellRef<'a, T>, f: F) -> GcCellRef<'a, U>
    where
        F: FnOnce(&T) -> &U,
    {
        // If `f` panics, `orig` is dropped and releases the lock.
        let value = NonNull::from(f(&*orig));
        GcCellRef {
            value,
            hold: orig.hold,
            _marker: PhantomData,
        }
    }

    /// Like [`map`](Self::map) for a part that may be absent: `Err(orig)` if `f` returns
    /// `None` (`Ref::filter_map`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{GcCell, GcCellRef};
    ///
    /// let cell = GcCell::new(vec![10, 20]);
    /// let first = GcCellRef::filter_map(cell.borrow(), |v| v.first()).ok().unwrap();
    /// assert_eq!(*first, 10);
    /// drop(first);
    /// assert!(GcCellRef::filter_map(cell.borrow(), |v| v.get(5)).is_err());
    /// ```
    #[inline]
    pub fn filter_map<U: ?Sized, F>(
        orig: GcCellRef<'a, T>,
        f: F,
    ) -> Result<GcCellRef<'a, U>, GcCellRef<'a, T>>
    where
        F: FnOnce(&T) -> Option<&U>,
    {
        match f(&*orig).map(NonNull::from) {
            Some(value) => Ok(GcCellRef {
                value,
                hold: orig.hold,
                _marker: PhantomData,
            }),
            None => Err(orig),
        }
    }

    /// Two guards on two parts of the borrowed data, each with a read lock on the cell
    /// (`Ref::map_split`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{GcCell, GcCellRef};
    ///
    /// let cell = GcCell::new((1, "one"));
    /// let (n, s) = GcCellRef::map_split(cell.borrow(), |v| (&v.0, &v.1));
    /// assert_eq!((*n, *s), (1, "one"));
    /// ```
    #[inline]
    pub fn map_split<U: ?Sized, V: ?Sized, F>(
        orig: GcCellRef<'a, T>,
        f: F,
    ) -> (GcCellRef<'a, U>, GcCellRef<'a, V>)
    where
        F: FnOnce(&T) -> (&U, &V),
    {
        let (a, b) = f(&*orig);
        let (a, b) = (NonNull::from(a), NonNull::from(b));
        let second = ReadHold::acquire(orig.hold.lock);
        (
            GcCellRef {
                value: a,
                hold: orig.hold,
                _marker: PhantomData,
            },
            GcCellRef {
                value: b,
                hold: second,
                _marker: PhantomData,
            },
        )
    }
}

impl<T: ?Sized> Deref for GcCellRef<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the read lock is held for the guard's lifetime (`new`'s contract).
        unsafe { self.value.as_ref() }
    }
}

/// Exclusive guard returned by [`GcCell::borrow_mut`](crate::GcCell::borrow_mut): the
/// cell's write lock and a view of its contents (or, after [`map`](Self::map), of part of
/// them), which are rooted.
///
/// Not `Send`: it must be dropped on the thread that borrowed.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, GcCell, GcCellRefMut};
///
/// let cell = GcCell::new(Vec::new());
/// let mut guard: GcCellRefMut<'_, Vec<Gc<u8>>> = cell.borrow_mut();
/// guard.push(Gc::new(1));
/// drop(guard);
/// assert_eq!(cell.borrow().len(), 1);
/// ```
pub struct GcCellRefMut<'a, T: ?Sized> {
    /// What the guard shows. Being a raw pointer, it makes the guard `!Send` (and `!Sync`,
    /// given back below); so does the `Rc` of a split guard's hold.
    value: NonNull<T>,
    hold: WriteShare<'a>,
    /// Invariant in `T` like `&'a mut T`.
    _marker: PhantomData<&'a mut T>,
}

// SAFETY: a `&GcCellRefMut` only reads the target (`Deref`), like a `&T`, which is
// shareable when `T: Sync`; the hold (an `Rc` after `map_split`) is never touched through
// `&`.
unsafe impl<T: ?Sized + Sync> Sync for GcCellRefMut<'_, T> {}

impl<'a, T: ?Sized> GcCellRefMut<'a, T> {
    /// A guard showing `value` while `hold` is held.
    ///
    /// # Safety
    ///
    /// `value` points into the contents of the cell whose write lock `hold` holds, is valid
    /// for reads and writes for `'a` while that lock is held, and the contents are rooted.
    #[inline]
    pub(crate) unsafe fn new(hold: WriteHold<'a>, value: NonNull<T>) -> GcCellRefMut<'a, T> {
        GcCellRefMut {
            value,
            hold: WriteShare::Sole(hold),
            _marker: PhantomData,
        }
    }

    /// A guard on a part of the borrowed data, holding the same write lock
    /// (`RefMut::map`).
    ///
    /// Storing handles through the mapped guard is as safe as through the original: the
    /// part is inside the cell's contents, which `borrow_mut` rooted before the first
    /// guard existed, and they stay rooted while any write guard on the cell lives (the
    /// unroot pass needs the write lock). So a handle moved in or out is counted either
    /// way, and the next collection turns it into an edge with the rest.
    ///
    /// ```
    /// use gc_core::{Gc, GcCell, GcCellRefMut};
    /// let cell = GcCell::new((0u32, Vec::<Gc<u32>>::new()));
    /// let mut list = GcCellRefMut::map(cell.borrow_mut(), |v| &mut v.1);
    /// list.push(Gc::new(7));
    /// drop(list);
    /// assert_eq!(*cell.borrow().1[0], 7);
    /// ```
    #[inline]
    pub fn map<U: ?Sized, F>(mut orig: GcCellRefMut<'a, T>, f: F) -> GcCellRefMut<'a, U>
    where
        F: FnOnce(&mut T) -> &mut U,
    {
        // If `f` panics, `orig` is dropped and releases the lock.
        let value = NonNull::from(f(&mut *orig));
        GcCellRefMut {
            value,
            hold: orig.hold,
            _marker: PhantomData,
        }
    }

    /// Like [`map`](Self::map) for a part that may be absent: `Err(orig)` if `f` returns
    /// `None` (`RefMut::filter_map`).
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{GcCell, GcCellRefMut};
    ///
    /// let cell = GcCell::new(vec![1, 2]);
    /// *GcCellRefMut::filter_map(cell.borrow_mut(), |v| v.last_mut()).ok().unwrap() = 5;
    /// assert_eq!(*cell.borrow(), [1, 5]);
    /// ```
    #[inline]
    pub fn filter_map<U: ?Sized, F>(
        mut orig: GcCellRefMut<'a, T>,
        f: F,
    ) -> Result<GcCellRefMut<'a, U>, GcCellRefMut<'a, T>>
    where
        F: FnOnce(&mut T) -> Option<&mut U>,
    {
        match f(&mut *orig).map(NonNull::from) {
            Some(value) => Ok(GcCellRefMut {
                value,
                hold: orig.hold,
                _marker: PhantomData,
            }),
            None => Err(orig),
        }
    }

    /// Two write guards on two disjoint parts of the borrowed data (`RefMut::map_split`).
    /// They share the cell's write lock, which is released when both are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{GcCell, GcCellRefMut};
    ///
    /// let cell = GcCell::new((0, String::new()));
    /// let (mut n, mut s) = GcCellRefMut::map_split(cell.borrow_mut(), |v| (&mut v.0, &mut v.1));
    /// *n += 1;
    /// s.push('x');
    /// drop((n, s));
    /// assert_eq!(*cell.borrow(), (1, "x".to_string()));
    /// ```
    #[inline]
    pub fn map_split<U: ?Sized, V: ?Sized, F>(
        mut orig: GcCellRefMut<'a, T>,
        f: F,
    ) -> (GcCellRefMut<'a, U>, GcCellRefMut<'a, V>)
    where
        F: FnOnce(&mut T) -> (&mut U, &mut V),
    {
        let (a, b) = f(&mut *orig);
        let (a, b) = (NonNull::from(a), NonNull::from(b));
        let shared = match orig.hold {
            WriteShare::Sole(hold) => Rc::new(hold),
            WriteShare::Split(rc) => rc,
        };
        (
            GcCellRefMut {
                value: a,
                hold: WriteShare::Split(shared.clone()),
                _marker: PhantomData,
            },
            GcCellRefMut {
                value: b,
                hold: WriteShare::Split(shared),
                _marker: PhantomData,
            },
        )
    }
}

impl<T: ?Sized> Deref for GcCellRefMut<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the write lock is held for the guard's lifetime (`new`'s contract).
        unsafe { self.value.as_ref() }
    }
}

impl<T: ?Sized> DerefMut for GcCellRefMut<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the write lock is held for the guard's lifetime, and this guard's target
        // is disjoint from any other guard sharing it (`map_split`); the contents are
        // rooted, so whatever the caller moves in or out stays counted.
        unsafe { self.value.as_mut() }
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for GcCellRef<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for GcCellRefMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for GcCellRef<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for GcCellRefMut<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}
