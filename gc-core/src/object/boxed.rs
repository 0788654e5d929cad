//! `From<Box<T>> for Gc<T>` for every `T` that can be boxed: sized types, slices, `str`
//! and trait objects (`Box<dyn Shape>` into `Gc<dyn Shape>`).
//!
//! The collector needs the descriptor of the concrete type (`crate::descriptor`), which a
//! `Box<dyn Shape>` has erased; only the concrete type's own code still knows it. So the
//! move goes through the hidden `Trace::box_into_heap`, which takes `self: Box<Self>` and
//! is therefore in every trait object's vtable: called on a `Box<dyn Shape>` it runs the
//! concrete type's copy of the default body ([`move_into_heap`]), which allocates an object
//! of that type, moves the bytes in, unroots the handles inside and frees the box. `[T]`
//! and `str` override it with the slice layout (`object/slice.rs`). The conversion then puts
//! the new address into the box's pointer, keeping its metadata (vtable or length).
//!
//! The default body is compiled for `Self: ?Sized`, so it cannot ask the constant-folded
//! `Trace::needs_trace`/`drop_runs_user_code`: its objects take the conservative answers
//! (scanned; user drop whenever there is drop glue), which are always sound and cost only
//! a scan of an object with nothing to find. `Gc::new` keeps the precise ones. A custom
//! dynamically sized type (a struct ending in `[T]`) has no layout code here and panics.
//! See the collector overview (`crate::design::collector`) for descriptors and root counts. No shared
//! state.

use super::gc::Gc;
use super::typeinfo::{placement, TypeInfo};
use crate::gc::{self, Request, Tracer};
use crate::Trace;
use std::marker::PhantomData;
use std::mem::{align_of_val, needs_drop, size_of, size_of_val};

impl<T: ?Sized + Trace + Send + Sync + 'static> From<Box<T>> for Gc<T> {
    /// Moves the boxed value into the collected heap (its bytes are copied once) and frees
    /// the box: sized values, slices, `str` and trait objects alike.
    ///
    /// ```
    /// use gc_core::{Gc, Trace};
    ///
    /// trait Shape: Trace + Send + Sync {
    ///     fn area(&self) -> f64;
    /// }
    /// #[derive(Trace)]
    /// struct Square(f64);
    /// impl Shape for Square {
    ///     fn area(&self) -> f64 { self.0 * self.0 }
    /// }
    ///
    /// let boxed: Box<dyn Shape> = Box::new(Square(3.0));
    /// let s: Gc<dyn Shape> = Gc::from(boxed);
    /// assert_eq!(s.area(), 9.0);
    ///
    /// let g: Gc<[u32; 3]> = Gc::from(Box::new([1, 2, 3]));
    /// let v: Gc<[u32]> = Gc::from(vec![1, 2, 3].into_boxed_slice());
    /// let t: Gc<str> = Gc::from(Box::<str>::from("three"));
    /// assert_eq!((*g, &*v, &*t), ([1, 2, 3], &[1, 2, 3][..], "three"));
    /// ```
    ///
    /// A sized value moved in this way is placed with the conservative answers to
    /// `Trace::needs_trace` and `drop_runs_user_code` (the conversion cannot tell a sized
    /// box from a trait object's); [`Gc::new`] on the value itself places it precisely.
    fn from(b: Box<T>) -> Gc<T> {
        let old: *mut T = (&*b as *const T).cast_mut();
        let addr = b.box_into_heap();
        // SAFETY: `box_into_heap` returns the address of a new object holding the value that
        // `old` pointed at (same type, so the same metadata), with one root count, ours.
        unsafe { Gc::from_rooted_ptr(with_data_address(old, addr)) }
    }
}

/// `old` with its address replaced by `addr`, its metadata (a vtable, a length) kept.
fn with_data_address<T: ?Sized>(mut old: *mut T, addr: *mut u8) -> *mut T {
    // SAFETY: a raw pointer is its data address, followed by the metadata if `T` is
    // unsized: the layout rustc has always used (and std's own pointer-metadata code
    // relies on). Writing one pointer-sized word at the start of the local variable `old`
    // replaces the address; the assertion below checks that it did, so a compiler that
    // laid pointers out otherwise would fail loudly here instead of misusing the pointer.
    unsafe { (&mut old as *mut *mut T).cast::<*mut u8>().write(addr) };
    assert_eq!(
        old.cast::<u8>(),
        addr,
        "gc_core: unexpected raw pointer layout"
    );
    old
}

/// The default `Trace::box_into_heap`: a box of a sized type (the concrete type of a trait
/// object included: the vtable dispatches here) becomes an object of that type. Returns
/// the object's address, rooted once.
///
/// Panics for a custom dynamically sized type (fat pointer, no override).
pub(crate) fn move_into_heap<T: ?Sized + Trace>(b: Box<T>) -> *mut u8 {
    assert!(
        size_of::<*const T>() == size_of::<*const u8>(),
        "gc_core: `Gc::from(Box<{}>)`: a custom dynamically sized type cannot be moved into \
         the heap; build a `Gc` of a sized value and convert it with `coerce_gc!`",
        std::any::type_name::<T>()
    );
    let (size, align) = (size_of_val(&*b), align_of_val(&*b));
    let req = Request {
        placement: placement(size, align, false, false),
        size,
        align,
        noscan: false,
        info: Thin::<T>::INFO_REF,
    };
    let src = Box::into_raw(b);
    let addr = gc::with_op(|op| {
        // SAFETY: the placement was computed for this size and alignment, scanned; `init`
        // writes the whole value, which `req.info` traces and drops as a `T`.
        let new = unsafe {
            gc::mallocgc(op, &req, |addr| {
                // SAFETY: the slot is ours, `size` bytes and aligned; `src` holds a `T`.
                std::ptr::copy_nonoverlapping(src.cast::<u8>(), addr as *mut u8, size)
            })
        };
        // SAFETY: the value now lives in the object, rooted by the count `mallocgc` gave
        // us, so its handles become edges of it; `T`'s pointers are thin (asserted above).
        gc::unroot_new(new.white, || unsafe {
            (*thin::<T>(new.addr as *const u8).cast_mut()).unroot()
        });
        new.addr
    });
    if size != 0 {
        // SAFETY: the box's memory was allocated by the global allocator with the value's
        // layout; its value moved out above and must not be dropped.
        unsafe {
            std::alloc::dealloc(
                src.cast(),
                std::alloc::Layout::from_size_align_unchecked(size, align),
            )
        };
    }
    addr as *mut u8
}

/// A pointer to the `T` at `addr`, for a `T` whose pointers are thin (sized).
///
/// # Safety
///
/// `*const T` is a thin pointer (`size_of::<*const T>() == size_of::<*const u8>()`).
#[inline(always)]
unsafe fn thin<T: ?Sized>(addr: *const u8) -> *const T {
    debug_assert_eq!(size_of::<*const T>(), size_of::<*const u8>());
    // SAFETY: both are thin raw pointers of the same size (the caller's contract).
    unsafe { std::mem::transmute_copy::<*const u8, *const T>(&addr) }
}

/// The descriptor of a `T` moved in by [`move_into_heap`], with the conservative facts.
struct Thin<T: ?Sized>(PhantomData<*const T>);

impl<T: ?Sized + Trace> Thin<T> {
    const INFO: TypeInfo = TypeInfo {
        trace: trace_thin::<T>,
        trace_range: None,
        drop: if needs_drop::<T>() {
            Some(drop_thin::<T>)
        } else {
            None
        },
        skip_clean_garbage: false,
        user_drop: needs_drop::<T>(),
        name: std::any::type_name::<T>,
    };
    const INFO_REF: &'static TypeInfo = &Self::INFO;
}

/// # Safety
///
/// `p` is the address of a live, initialised `T` whose pointers are thin.
unsafe fn trace_thin<T: ?Sized + Trace>(p: *const u8, t: &mut Tracer) {
    // SAFETY: the collector calls this only for a slot whose descriptor `move_into_heap`
    // recorded for a `T` it wrote there, after checking that `T` is thin.
    unsafe { (*thin::<T>(p)).trace(t) }
}

/// # Safety
///
/// `p` is the address of an initialised, thin `T` that nothing will use again: garbage,
/// in the heap's edge state.
unsafe fn drop_thin<T: ?Sized + Trace>(p: *mut u8) {
    // SAFETY: called once, on an unreachable `T` (as above); its key handles must not
    // touch their counts when dropped ("Keys" in the `Trace` docs: `holds_keys_at` cannot
    // be asked here, and `forget_edges` is a no-op for types without keys).
    unsafe {
        let v = &mut *thin::<T>(p).cast_mut();
        v.forget_edges();
        std::ptr::drop_in_place(v)
    }
}
