//! `Arc` parity for `Gc<T>`: the conversions and raw-pointer functions `Arc` offers
//! (`From<T>`, `Default`, `into_raw`/`from_raw`). `From<Box<T>>` (sized, slices, `str`,
//! trait objects) is in `object/boxed.rs`, the other slice and string conversions in
//! `object/slice.rs`, trait-object coercions in `object/dyn_gc.rs`.
//!
//! A raw pointer from [`Gc::into_raw`] carries the handle's root count with it: the object
//! stays alive (a root) until [`Gc::from_raw`] turns the pointer back into a handle, whose
//! drop releases the count. See the collector overview (`crate::design::collector`) for root counts.

use super::gc::Gc;
use crate::Trace;

impl<T: Trace + Send + Sync + 'static> From<T> for Gc<T> {
    /// Moves `value` into the collected heap, as [`Gc::new`] does.
    ///
    /// ```
    /// use gc_core::Gc;
    ///
    /// let a: Gc<u64> = Gc::from(7);
    /// let b: Gc<String> = String::from("seven").into();
    /// assert_eq!((*a, b.as_str()), (7, "seven"));
    /// ```
    #[inline]
    fn from(value: T) -> Gc<T> {
        Gc::new(value)
    }
}

impl<T: Trace + Default + Send + Sync + 'static> Default for Gc<T> {
    /// A new object holding `T::default()`.
    ///
    /// ```
    /// let v: gc_core::Gc<Vec<u8>> = Default::default();
    /// assert!(v.is_empty());
    /// ```
    #[inline]
    fn default() -> Gc<T> {
        Gc::new(T::default())
    }
}

impl<T: ?Sized + 'static> Gc<T> {
    /// Consumes the handle and returns its pointer, without releasing its root count: the
    /// object stays alive (a root, as if the handle still existed) until the pointer is
    /// given back to [`Gc::from_raw`]. A pointer that is never given back leaks the object
    /// (and everything it reaches), like `Arc::into_raw`.
    ///
    /// The pointer is the same as [`Gc::as_ptr`] returns: the object's address, stable
    /// because the collector never moves objects.
    ///
    /// ```
    /// use gc_core::Gc;
    ///
    /// let raw: *const u64 = Gc::into_raw(Gc::new(42));
    /// gc_core::collect(); // the raw pointer's root count keeps the object
    /// // SAFETY: `raw` came from `Gc::into_raw` and is given back once.
    /// let g = unsafe { Gc::from_raw(raw) };
    /// assert_eq!(*g, 42);
    /// ```
    #[must_use = "losing the pointer leaks the object: give it back with `Gc::from_raw`"]
    #[inline]
    pub fn into_raw(this: Gc<T>) -> *const T {
        Gc::into_rooted_ptr(this)
    }

    /// Rebuilds a handle from a pointer returned by [`Gc::into_raw`], taking over the root
    /// count that the pointer carried: dropping the new handle releases it.
    ///
    /// ```
    /// use gc_core::Gc;
    ///
    /// let s: Gc<str> = Gc::from("text");
    /// let raw = Gc::into_raw(s);
    /// // SAFETY: `raw` came from `Gc::<str>::into_raw` and is given back once.
    /// let s = unsafe { Gc::<str>::from_raw(raw) };
    /// assert_eq!(&*s, "text");
    /// ```
    ///
    /// # Safety
    ///
    /// - `ptr` was returned by `Gc::<U>::into_raw`, where `U` is `T` itself or a type whose
    ///   pointer coerces to `*const T` by an unsizing coercion (`U = Circle` for
    ///   `T = dyn Shape`, `U = [u8; 4]` for `T = [u8]`), and `ptr` is that pointer, so
    ///   coerced, with its address unchanged. (Unlike `Arc::from_raw`, a pointer to a
    ///   different type of the same size and alignment is not allowed: the collector keeps
    ///   the object's type and would trace and drop it as the original type, while `T`'s
    ///   code reads it as `T`.)
    /// - Each pointer returned by `into_raw` is given to `from_raw` at most once: the
    ///   count it carries is one, and a second handle would release it a second time,
    ///   letting the collector free the object while a handle still points at it.
    ///
    /// Until `from_raw` is called the object is alive, so the pointer may also be
    /// dereferenced meanwhile (as a shared reference; the object is shared by nature).
    #[must_use = "dropping the handle releases the root count at once"]
    #[inline]
    pub unsafe fn from_raw(ptr: *const T) -> Gc<T> {
        // SAFETY: per the contract, `ptr` is the address of a live heap object whose root
        // count `into_raw` kept and hands over to us exactly once (`from_rooted_ptr`'s
        // contract: a live object and one owned count).
        unsafe { Gc::from_rooted_ptr(ptr.cast_mut()) }
    }
}

#[cfg(test)]
mod tests {
    use crate::Gc;

    #[test]
    fn raw_round_trip_keeps_the_root_bit_out_of_the_pointer() {
        let g = Gc::new([7u64; 4]);
        let addr = Gc::as_ptr(&g);
        let raw = Gc::into_raw(g);
        assert_eq!(raw, addr, "into_raw returns the object's address");
        assert_eq!(raw as usize >> 63, 0, "no root bit in a raw pointer");
        // SAFETY: from `into_raw`, given back once.
        let g = unsafe { Gc::from_raw(raw) };
        assert_eq!(*g, [7; 4]);
        let h = g.clone();
        assert!(Gc::ptr_eq(&g, &h));
    }
}
