//! Std traits on `GcCell<T>`, by its contents, as `RefCell` has them: `Default`, `Debug`,
//! `Clone` (a new cell), `PartialEq`, `Eq`, `PartialOrd`, `Ord`, `Hash`, `From<T>`.
//!
//! Each reads through shared borrows, so like `RefCell`'s they panic if this thread holds
//! a write guard on a cell involved ("already mutably borrowed"); `Debug` never panics
//! (it prints `<locked>` instead). Comparing a cell with itself takes one shared borrow.
//! Two different cells are read in address order, the order in which `GcCell::swap`
//! write-locks them, so a comparison never deadlocks with a swap of the same two cells
//! (the lock lets readers in while a writer waits, so two readers never wait for each
//! other). No state of its own: the cell lock protects everything read here.

use super::cell::GcCell;
use crate::Trace;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// Runs `f` on the contents of `a` and `b` under shared borrows taken in address order
/// (one borrow if they are the same cell).
fn with_both<T: Trace, R>(a: &GcCell<T>, b: &GcCell<T>, f: impl FnOnce(&T, &T) -> R) -> R {
    if std::ptr::eq(a, b) {
        let both = a.borrow();
        return f(&both, &both);
    }
    let (ga, gb) = if (a as *const GcCell<T>) < (b as *const GcCell<T>) {
        let ga = a.borrow();
        (ga, b.borrow())
    } else {
        let gb = b.borrow();
        (a.borrow(), gb)
    };
    f(&ga, &gb)
}

impl<T: Trace + Default> Default for GcCell<T> {
    fn default() -> Self {
        GcCell::new(T::default())
    }
}

impl<T: Trace + fmt::Debug> fmt::Debug for GcCell<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.try_borrow() {
            Ok(v) => f.debug_struct("GcCell").field("value", &*v).finish(),
            Err(_) => f.write_str("GcCell { <locked> }"),
        }
    }
}

/// A new cell holding a clone of the contents (whose handles are new roots, as for
/// [`GcCell::new`]).
///
/// # Panics
///
/// If this thread holds a write guard on the cell.
impl<T: Trace + Clone> Clone for GcCell<T> {
    fn clone(&self) -> Self {
        GcCell::new(self.borrow().clone())
    }
}

impl<T: Trace> From<T> for GcCell<T> {
    fn from(value: T) -> Self {
        GcCell::new(value)
    }
}

/// # Panics
///
/// If this thread holds a write guard on either cell.
impl<T: Trace + PartialEq> PartialEq for GcCell<T> {
    fn eq(&self, other: &Self) -> bool {
        with_both(self, other, |a, b| a == b)
    }
}

impl<T: Trace + Eq> Eq for GcCell<T> {}

/// # Panics
///
/// If this thread holds a write guard on either cell.
impl<T: Trace + PartialOrd> PartialOrd for GcCell<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        with_both(self, other, |a, b| a.partial_cmp(b))
    }
    fn lt(&self, other: &Self) -> bool {
        with_both(self, other, |a, b| a < b)
    }
    fn le(&self, other: &Self) -> bool {
        with_both(self, other, |a, b| a <= b)
    }
    fn gt(&self, other: &Self) -> bool {
        with_both(self, other, |a, b| a > b)
    }
    fn ge(&self, other: &Self) -> bool {
        with_both(self, other, |a, b| a >= b)
    }
}

/// # Panics
///
/// If this thread holds a write guard on either cell.
impl<T: Trace + Ord> Ord for GcCell<T> {
    fn cmp(&self, other: &Self) -> Ordering {
        with_both(self, other, |a, b| a.cmp(b))
    }
}

/// # Panics
///
/// If this thread holds a write guard on the cell.
impl<T: Trace + Hash> Hash for GcCell<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.borrow().hash(state);
    }
}
