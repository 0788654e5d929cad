//! `Weak<T>`: a reference that does not keep its object alive (Go's `weak.Pointer`), and
//! `Gc::new_cyclic`.
//!
//! Every `Weak` to one object shares the object's weak target (`crate::gc`'s specials): its
//! address until the collector finds the object unreachable, then 0, set at mark
//! termination before anything is swept. `upgrade` reads it inside a GC operation, which
//! no mark termination can overlap, and roots what it reads; so it returns a live object
//! or `None`, never a dangling one (the race is the loom model `loom_models/weak.rs`).
//! Upgrading while a mark runs shades the object, as Go does, so an object found again by
//! `upgrade` stays alive. A `Weak` stored in a heap object is not traced: it never keeps
//! anything alive. No shared state of its own. See the collector overview (`crate::design::collector`).

use super::gc::Gc;
use crate::gc::{self, WeakTarget};
use crate::Trace;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// A weak reference to a garbage-collected object: it does not keep the object alive, and
/// [`upgrade`](Weak::upgrade) returns `None` once the collector has found the object
/// unreachable (Go's `weak.Pointer`).
///
/// ```
/// use gc_core::{Gc, Weak};
///
/// let strong = Gc::new(7u64);
/// let weak: Weak<u64> = Gc::downgrade(&strong);
/// assert_eq!(weak.upgrade().map(|g| *g), Some(7));
/// drop(strong);
/// gc_core::collect(); // the object was unreachable: the weak reference is cleared
/// assert!(weak.upgrade().is_none());
/// ```
pub struct Weak<T: ?Sized + 'static> {
    target: Arc<WeakTarget>,
    /// The object's pointer as `Gc::downgrade` saw it (with its metadata, for unsized
    /// `T`), or null; never dereferenced without a root taken through `target`.
    ptr: *const T,
    /// Makes the object's pointer from `ptr` and the target's address: `ptr` itself for a
    /// downgraded handle, the address for the sized constructors (`new`, `new_cyclic`),
    /// which know no pointer yet.
    rebuild: fn(*const T, usize) -> *mut T,
    _t: PhantomData<T>,
}

fn from_ptr<T: ?Sized>(p: *const T, _: usize) -> *mut T {
    p.cast_mut()
}

fn from_addr<T>(_: *const T, addr: usize) -> *mut T {
    addr as *mut T
}

// SAFETY: a `Weak<T>` hands out `Gc<T>`s, which are `Send`/`Sync` under the same bounds;
// the shared target is atomic.
unsafe impl<T: ?Sized + Send + Sync> Send for Weak<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for Weak<T> {}

impl<T: ?Sized + 'static> Gc<T> {
    /// A weak reference to this handle's object.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::Gc;
    ///
    /// let strong = Gc::new(String::from("cached"));
    /// let weak = Gc::downgrade(&strong);
    /// assert_eq!(weak.upgrade().as_deref().map(String::as_str), Some("cached"));
    /// drop(strong);
    /// gc_core::collect(); // unreachable: the weak reference is cleared
    /// assert!(weak.upgrade().is_none());
    /// ```
    #[must_use]
    pub fn downgrade(this: &Gc<T>) -> Weak<T> {
        let ptr = Gc::as_ptr(this);
        Weak {
            // The handle's root keeps the object alive while the target is made.
            target: gc::weak_target(ptr.cast::<u8>() as usize),
            ptr,
            rebuild: from_ptr::<T>,
            _t: PhantomData,
        }
    }
}

impl<T: Trace + Send + Sync + 'static> Gc<T> {
    /// Allocates the value `make` builds from a weak reference to the object itself (like
    /// `Arc::new_cyclic`): the weak reference cannot be upgraded until `new_cyclic` returns,
    /// and works like any other afterwards. `make` runs outside every GC operation.
    ///
    /// ```
    /// use gc_core::{Gc, Trace, Weak};
    ///
    /// #[derive(Trace)]
    /// struct Node { me: Weak<Node>, id: u32 }
    ///
    /// let n = Gc::new_cyclic(|me| {
    ///     assert!(me.upgrade().is_none()); // not yet
    ///     Node { me: me.clone(), id: 1 }
    /// });
    /// assert!(Gc::ptr_eq(&n.me.upgrade().unwrap(), &n));
    /// ```
    pub fn new_cyclic(make: impl FnOnce(&Weak<T>) -> T) -> Gc<T> {
        let weak = Weak {
            target: Arc::new(WeakTarget::cleared()),
            ptr: std::ptr::null(),
            rebuild: from_addr::<T>,
            _t: PhantomData,
        };
        let g = Gc::new(make(&weak));
        // Our root keeps the object alive while its target is set and registered.
        WeakTarget::set(&weak.target, Gc::as_ptr(&g) as usize);
        g
    }
}

impl<T> Weak<T> {
    /// A weak reference to nothing: `upgrade` always returns `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// let w: gc_core::Weak<u64> = gc_core::Weak::new();
    /// assert!(w.upgrade().is_none()); // refers to nothing
    /// ```
    #[must_use]
    pub fn new() -> Weak<T> {
        Weak {
            target: WeakTarget::none(),
            ptr: std::ptr::null(),
            rebuild: from_addr::<T>,
            _t: PhantomData,
        }
    }
}

impl<T> Default for Weak<T> {
    fn default() -> Weak<T> {
        Weak::new()
    }
}

impl<T: ?Sized + 'static> Weak<T> {
    /// A rooted handle to the object, or `None` if the collector has found it unreachable
    /// (or this `Weak` never had one).
    ///
    /// # Examples
    ///
    /// ```
    /// let g = gc_core::Gc::new(3);
    /// let w = gc_core::Gc::downgrade(&g);
    /// let again = w.upgrade().expect("alive while `g` is");
    /// assert!(gc_core::Gc::ptr_eq(&again, &g));
    /// ```
    #[must_use]
    pub fn upgrade(&self) -> Option<Gc<T>> {
        let addr = self.target.upgrade()?;
        // SAFETY: the object at `addr` is live, of type `T`, and `upgrade` took a root on
        // it, which the new handle owns.
        Some(unsafe { Gc::from_rooted_ptr((self.rebuild)(self.ptr, addr)) })
    }

    /// Whether two weak references were made from the same object (`Gc::downgrade`,
    /// `Gc::new_cyclic`), even after it died, or both by `Weak::new`.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Weak};
    ///
    /// let g = Gc::new(1);
    /// let (a, b) = (Gc::downgrade(&g), Gc::downgrade(&g));
    /// assert!(Weak::ptr_eq(&a, &b));
    /// assert!(!Weak::ptr_eq(&a, &Gc::downgrade(&Gc::new(1))));
    /// ```
    pub fn ptr_eq(this: &Weak<T>, other: &Weak<T>) -> bool {
        // One target per object (and one shared by every `Weak::new`).
        Arc::ptr_eq(&this.target, &other.target)
    }
}

impl<T: ?Sized + 'static> Clone for Weak<T> {
    fn clone(&self) -> Weak<T> {
        Weak {
            target: self.target.clone(),
            ptr: self.ptr,
            rebuild: self.rebuild,
            _t: PhantomData,
        }
    }
}

impl<T: ?Sized + 'static> fmt::Debug for Weak<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "(Weak)")
    }
}

// A weak reference is not an edge: it must never keep its object alive, so there is
// nothing to trace, root or unroot; its drop is an `Arc`'s.
super::trace::leaf_trace!(generic [T: ?Sized + 'static] Weak<T>);
