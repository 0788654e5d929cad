//! Trait objects in the collected heap: `Gc<dyn Trait>` on stable Rust.
//!
//! Stable Rust has no `CoerceUnsized`, so `Gc<Circle>` does not convert to
//! `Gc<dyn Shape>` by itself. [`coerce_gc!`](crate::coerce_gc) does it: it takes the
//! handle's pointer out (root count included, as `Gc::into_raw` does), lets the compiler
//! unsize `*const Circle` to `*const dyn Shape` at a coercion site (a function argument
//! whose type is inferred from the expected result), and rebuilds the handle with the count
//! (`Gc::from_raw`). Only a real unsizing coercion type-checks there: never an `as` cast,
//! which could reinterpret a pointer as an unrelated type.
//!
//! Why this is sound: the collector never looks at a handle's type. It finds the object by
//! the thin address (a fat pointer's metadata rides along untouched: the root bit is
//! changed with `map_addr`, which keeps it) and traces and drops it with the descriptor
//! recorded when the concrete value was allocated. `Trace` is dyn-compatible
//! (`Trace::needs_trace` and `Trace::drop_runs_user_code` are `where Self: Sized`), so a
//! `Gc<dyn Shape>` stored in a heap object is an ordinary traced edge.
//!
//! [`Gc::downcast`] goes back from `Gc<dyn Any + Send + Sync>` to the concrete type.

use super::gc::Gc;
use std::any::Any;

/// Converts a `Gc<T>` into a `Gc<U>` where `*const T` unsizes to `*const U`: a trait
/// object (`Gc<dyn Shape>`, `Gc<dyn Any + Send + Sync>`), a slice from an array
/// (`Gc<[u8]>` from `Gc<[u8; 4]>`), or a supertrait object from a subtrait object. The
/// target type is inferred from context, like an unsizing cast. The root count moves to
/// the new handle (no count is taken or released).
///
/// ```
/// use gc_core::{coerce_gc, Gc, Trace};
///
/// trait Shape: Trace + Send + Sync {
///     fn area(&self) -> f64;
/// }
///
/// #[derive(Trace)]
/// struct Square(f64);
/// impl Shape for Square {
///     fn area(&self) -> f64 { self.0 * self.0 }
/// }
///
/// let s: Gc<dyn Shape> = coerce_gc!(Gc::new(Square(3.0)));
/// assert_eq!(s.area(), 9.0);
/// let a: Gc<dyn std::any::Any + Send + Sync> = coerce_gc!(Gc::new(5u32));
/// assert_eq!(*a.downcast::<u32>().ok().unwrap(), 5);
/// ```
///
/// Only real unsizing coercions compile; the macro cannot reinterpret an object as an
/// unrelated type:
///
/// ```compile_fail
/// let n: gc_core::Gc<u64> = gc_core::coerce_gc!(gc_core::Gc::new(1u32));
/// ```
#[macro_export]
macro_rules! coerce_gc {
    ($gc:expr $(,)?) => {{
        // The argument is evaluated outside the `unsafe` block below.
        let raw = $crate::Gc::into_raw($gc);
        // SAFETY: `raw` comes from `Gc::into_raw` and is given back once, coerced only by
        // the implicit unsizing coercion of the argument (`Gc::from_raw`'s contract).
        unsafe { $crate::__private::gc_from_unsized_raw(raw) }
    }};
}

impl Gc<dyn Any + Send + Sync> {
    /// Attempts to downcast the handle to a concrete type: `Ok` with a `Gc<T>` if the object
    /// is a `T`, `Err` with the handle unchanged otherwise. The root count moves along
    /// either way (none is taken or released).
    ///
    /// ```
    /// use gc_core::{coerce_gc, Gc};
    /// use std::any::Any;
    ///
    /// let a: Gc<dyn Any + Send + Sync> = coerce_gc!(Gc::new(String::from("hi")));
    /// let a = a.downcast::<u32>().unwrap_err(); // not a u32: the handle comes back
    /// let s: Gc<String> = a.downcast::<String>().unwrap();
    /// assert_eq!(*s, "hi");
    /// ```
    #[inline]
    pub fn downcast<T: Any + Send + Sync>(self) -> Result<Gc<T>, Gc<dyn Any + Send + Sync>> {
        if (*self).is::<T>() {
            let p = Gc::into_rooted_ptr(self);
            // SAFETY: the object is a `T` (checked just above: `Any` compares type ids), so
            // the thin pointer to it is a `*mut T`; the root count `into_rooted_ptr` gave
            // up is handed straight to the new handle.
            Ok(unsafe { Gc::from_rooted_ptr(p.cast::<T>()) })
        } else {
            Err(self)
        }
    }
}

/// The second half of [`coerce_gc!`]: `Gc::from_raw` for a pointer that the call site has
/// unsized (the expected result type fixes `U`, and the argument coerces to `*const U`).
///
/// # Safety
///
/// As [`Gc::from_raw`]: `ptr` came from `Gc::into_raw` (possibly unsized since), and is given
/// back once.
#[doc(hidden)]
#[inline(always)]
pub unsafe fn gc_from_unsized_raw<U: ?Sized + 'static>(ptr: *const U) -> Gc<U> {
    // SAFETY: forwarded from the caller's contract.
    unsafe { Gc::from_raw(ptr) }
}

#[cfg(test)]
mod tests {
    use crate::{Gc, GcCell, Trace, Tracer};
    use std::any::Any;

    trait Named: Trace + Send + Sync {
        fn name(&self) -> String;
    }

    struct Leaf(u32);
    // SAFETY: holds no `Gc` (the derive is not usable inside gc-core itself).
    unsafe impl Trace for Leaf {
        fn needs_trace() -> bool {
            false
        }
        fn trace(&self, _: &mut Tracer) {}
        unsafe fn root(&mut self) {}
        unsafe fn unroot(&mut self) {}
    }
    impl Named for Leaf {
        fn name(&self) -> String {
            format!("leaf {}", self.0)
        }
    }

    #[test]
    fn coerced_handles_keep_address_and_metadata() {
        let g = Gc::new(Leaf(3));
        let addr = Gc::as_ptr(&g).cast::<u8>();
        let d: Gc<dyn Named> = coerce_gc!(g);
        assert_eq!(Gc::as_ptr(&d).cast::<u8>(), addr);
        assert_eq!(d.name(), "leaf 3");
        let arr: Gc<[u16; 3]> = Gc::new([1, 2, 3]);
        let s: Gc<[u16]> = coerce_gc!(arr);
        assert_eq!(&*s, &[1, 2, 3]);
    }

    #[test]
    fn a_dyn_edge_in_a_heap_object_is_traced() {
        let holder = Gc::new(GcCell::new(Vec::<Gc<dyn Named>>::new()));
        for i in 0..100 {
            holder.borrow_mut().push(coerce_gc!(Gc::new(Leaf(i))));
        }
        crate::collect();
        crate::collect();
        let names: Vec<String> = holder.borrow().iter().map(|n| n.name()).collect();
        assert_eq!(names[99], "leaf 99");
        let any: Gc<dyn Any + Send + Sync> = coerce_gc!(Gc::new(1u8));
        assert!(any.downcast::<u16>().is_err());
    }
}
