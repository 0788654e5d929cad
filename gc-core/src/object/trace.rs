//! The `Trace` trait: how the collector finds the `Gc` handles inside a value, and how
//! handles change between *rooted* (counted, outside the heap) and *unrooted* (plain heap
//! edges). Implementations for std types live here; `Gc`, `GcCell` implement it in their
//! own modules. See the collector overview (`crate::gc`) for why both operations exist.

use crate::gc::Tracer;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::hash::BuildHasher;

/// A type whose `Gc` handles the collector can find.
///
/// Derive it with `#[derive(Trace)]`; write it by hand only for containers the derive cannot
/// see into.
///
/// # Safety
///
/// An implementation must keep these obligations; the collector frees memory on the strength
/// of them:
///
/// 1. **Trace everything.** `trace` calls `Trace::trace` on every value that may hold a `Gc`
///    and that this value owns or can reach without taking a lock (fields, elements, boxed
///    contents). A `Gc` that is missed may be freed while still reachable.
/// 2. **Root and unroot everything.** `root` and `unroot` visit exactly the same values as
///    `trace`, calling `root`/`unroot` on each. They only flip the state of the handles
///    themselves; they never follow a `Gc` to another object.
/// 3. **No hidden mutation.** A `Gc` reachable from the value is changed only through `&mut`
///    access to the value, a `GcCell`, or an `AtomicGc`; never through `Cell`, `RefCell`,
///    `Mutex`, `RwLock` or other interior mutability the collector does not know about.
/// 4. **`NEEDS_TRACE` is honest.** It may be `false` only if no value of the type can ever
///    contain a `Gc`. Such types are allocated in noscan spans the marker never reads.
/// 5. **No `Gc` access in `Drop`.** A type's `Drop` must not dereference a `Gc` it holds: the
///    target may have been swept in the same cycle. (The derive rejects `Drop` unless the
///    type opts out with `#[trace(unsafe_drop)]`.)
/// 6. **`DROP_RUNS_USER_CODE` is honest.** It may be `false` only if dropping a value of the
///    type runs nothing but the runtime's own code (`Gc`, `GcCell`, `AtomicGc`), the
///    standard library's containers and the global allocator. Such values are dropped in
///    place while their object is swept; any other drop could block, allocate or panic
///    inside the collector.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be traced by the collector",
    label = "this type does not implement `Trace`",
    note = "derive it with `#[derive(Trace)]`, or mark a field that holds no `Gc` with `#[trace(skip)]`"
)]
pub unsafe trait Trace {
    /// Whether a value of this type may contain a `Gc`. `false` puts the type in noscan spans.
    const NEEDS_TRACE: bool = true;

    /// Whether dropping a value of this type may run code the runtime does not know: a
    /// hand-written `Drop`, a field the derive cannot see into (`#[trace(skip)]`), a
    /// closure. The sweeper moves such objects out of the heap and the dropper runs their
    /// `Drop` outside every GC operation (`gc_core::collect` has the details); other
    /// objects are dropped in place while swept, which is cheaper (obligation 6). A moved
    /// object's `Drop` sees it at a new address (as any moved Rust value), not at
    /// `Gc::as_ptr`. The default, `std::mem::needs_drop::<Self>()`, is always correct.
    const DROP_RUNS_USER_CODE: bool = std::mem::needs_drop::<Self>();

    /// Report every `Gc` reachable from `self` to the tracer (obligation 1).
    fn trace(&self, tracer: &mut Tracer);

    /// Turn every handle inside `self` into a counted root (obligation 2).
    ///
    /// # Safety
    ///
    /// Called only by the runtime: the caller owns `self` exclusively and the value is leaving
    /// the heap's control (a `GcCell` being written, say). Calling it on a value inside the
    /// heap by hand keeps its targets alive, and calling `unroot` afterwards by hand can free
    /// objects that are still in use.
    unsafe fn root(&mut self);

    /// Turn every handle inside `self` into a plain heap edge (obligation 2).
    ///
    /// # Safety
    ///
    /// Called only by the runtime, on a value that has just become part of a heap object and
    /// is reachable through it. Unrooting a value that lives outside the heap lets the
    /// collector free its targets while they are still in use.
    unsafe fn unroot(&mut self);
}

/// Implements `Trace` for types that never contain a `Gc`.
macro_rules! leaf_trace {
    ($($t:ty),* $(,)?) => {$(
        // SAFETY: the type holds no `Gc`, so there is nothing to trace, root or unroot
        // (obligations 1, 2, 4).
        unsafe impl Trace for $t {
            const NEEDS_TRACE: bool = false;
            const DROP_RUNS_USER_CODE: bool = false;
            #[inline(always)]
            fn trace(&self, _: &mut Tracer) {}
            #[inline(always)]
            unsafe fn root(&mut self) {}
            #[inline(always)]
            unsafe fn unroot(&mut self) {}
        }
    )*};
}

leaf_trace!(
    (),
    bool,
    char,
    u8,
    u16,
    u32,
    u64,
    u128,
    usize,
    i8,
    i16,
    i32,
    i64,
    i128,
    isize,
    f32,
    f64,
    String,
    str,
    &'static str,
    std::time::Duration,
    std::time::Instant,
    std::time::SystemTime,
    std::path::PathBuf,
    std::ffi::OsString,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroUsize,
    std::sync::atomic::AtomicBool,
    std::sync::atomic::AtomicU8,
    std::sync::atomic::AtomicU16,
    std::sync::atomic::AtomicU32,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicI32,
    std::sync::atomic::AtomicI64,
    std::sync::atomic::AtomicIsize,
);

// SAFETY: PhantomData holds no value, so no `Gc`.
unsafe impl<T: ?Sized> Trace for std::marker::PhantomData<T> {
    const NEEDS_TRACE: bool = false;
    const DROP_RUNS_USER_CODE: bool = false;
    #[inline(always)]
    fn trace(&self, _: &mut Tracer) {}
    #[inline(always)]
    unsafe fn root(&mut self) {}
    #[inline(always)]
    unsafe fn unroot(&mut self) {}
}

/// Implements `Trace` for a container by visiting each element that `$iter` (shared) and
/// `$iter_mut` (exclusive) yield.
macro_rules! container_trace {
    ($([$($g:tt)*] $t:ty, $e:ty, drop: $user_drop:expr, |$s:ident| $iter:expr, |$m:ident| $iter_mut:expr;)*) => {$(
        // SAFETY: every element is visited by all three methods (obligations 1, 2), the
        // container gives no interior mutability (obligation 3), and its own drop is the
        // standard library's (obligation 6).
        unsafe impl<$($g)*> Trace for $t {
            const NEEDS_TRACE: bool = <$e as Trace>::NEEDS_TRACE;
            const DROP_RUNS_USER_CODE: bool = $user_drop;
            #[inline]
            fn trace(&self, tracer: &mut Tracer) {
                if Self::NEEDS_TRACE {
                    let $s = self;
                    for x in $iter {
                        x.trace(tracer);
                    }
                }
            }
            #[inline]
            unsafe fn root(&mut self) {
                if Self::NEEDS_TRACE {
                    let $m = self;
                    for x in $iter_mut {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { x.root() };
                    }
                }
            }
            #[inline]
            unsafe fn unroot(&mut self) {
                if Self::NEEDS_TRACE {
                    let $m = self;
                    for x in $iter_mut {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { x.unroot() };
                    }
                }
            }
        }
    )*};
}

container_trace! {
    [T: Trace] Option<T>, T, drop: T::DROP_RUNS_USER_CODE, |s| s.iter(), |m| m.iter_mut();
    [T: Trace] Vec<T>, T, drop: T::DROP_RUNS_USER_CODE, |s| s.iter(), |m| m.iter_mut();
    [T: Trace] VecDeque<T>, T, drop: T::DROP_RUNS_USER_CODE, |s| s.iter(), |m| m.iter_mut();
    [T: Trace] LinkedList<T>, T, drop: T::DROP_RUNS_USER_CODE, |s| s.iter(), |m| m.iter_mut();
    [T: Trace] [T], T, drop: T::DROP_RUNS_USER_CODE, |s| s.iter(), |m| m.iter_mut();
    [T: Trace, const N: usize] [T; N], T, drop: T::DROP_RUNS_USER_CODE, |s| s.iter(), |m| m.iter_mut();
    [K: Trace, V: Trace] BTreeMap<K, V>, V, drop: K::DROP_RUNS_USER_CODE || V::DROP_RUNS_USER_CODE,
        |s| { let () = KeyHoldsNoGc::<K>::OK; s.values() }, |m| m.values_mut();
    [K: Trace, V: Trace, S: BuildHasher] HashMap<K, V, S>, V,
        drop: K::DROP_RUNS_USER_CODE || V::DROP_RUNS_USER_CODE || std::mem::needs_drop::<S>(),
        |s| { let () = KeyHoldsNoGc::<K>::OK; s.values() }, |m| m.values_mut();
}

// Keys of maps and elements of sets cannot be reached mutably, so a key or set element that
// holds a `Gc` could never be unrooted. Maps trace only their values; a key type or set
// element type whose `NEEDS_TRACE` is true is rejected at compile time by `KeyHoldsNoGc`
// (the assertion is evaluated when `trace` is instantiated, which every `Gc::new` of a
// type containing the map does).
struct KeyHoldsNoGc<K>(std::marker::PhantomData<K>);
impl<K: Trace> KeyHoldsNoGc<K> {
    const OK: () = assert!(
        !K::NEEDS_TRACE,
        "gc_core: a Gc inside a map key or set element cannot be traced; wrap the value in a struct keyed by something else"
    );
}

/// `Trace` for sets and heaps, whose elements cannot be reached mutably: allowed only for
/// elements that hold no `Gc` (checked at compile time by `KeyHoldsNoGc`).
macro_rules! no_gc_elements_trace {
    ($([$($g:tt)*] $t:ty, drop: $user_drop:expr;)*) => {$(
        // SAFETY: the elements hold no `Gc` (compile-time check), so there is nothing to
        // visit; the container's own drop is the standard library's.
        unsafe impl<$($g)*> Trace for $t {
            const NEEDS_TRACE: bool = false;
            const DROP_RUNS_USER_CODE: bool = $user_drop;
            #[inline(always)]
            fn trace(&self, _: &mut Tracer) {
                let () = KeyHoldsNoGc::<T>::OK;
            }
            #[inline(always)]
            unsafe fn root(&mut self) {}
            #[inline(always)]
            unsafe fn unroot(&mut self) {}
        }
    )*};
}

no_gc_elements_trace! {
    [T: Trace, S: BuildHasher] HashSet<T, S>,
        drop: T::DROP_RUNS_USER_CODE || std::mem::needs_drop::<S>();
    [T: Trace] BTreeSet<T>, drop: T::DROP_RUNS_USER_CODE;
    [T: Trace + Ord] BinaryHeap<T>, drop: T::DROP_RUNS_USER_CODE;
}

// SAFETY: the box owns its contents; all three methods forward to them.
unsafe impl<T: Trace + ?Sized> Trace for Box<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    const DROP_RUNS_USER_CODE: bool = T::DROP_RUNS_USER_CODE;
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        (**self).trace(tracer)
    }
    #[inline]
    unsafe fn root(&mut self) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { (**self).root() }
    }
    #[inline]
    unsafe fn unroot(&mut self) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { (**self).unroot() }
    }
}

// SAFETY: an `Arc` may be shared with code outside the heap, so its contents are never
// unrooted: handles inside an `Arc` always stay counted roots (root/unroot do nothing), and
// tracing forwards so that everything they reach is marked. The cost: a cycle that passes
// through an `Arc` is never collected.
unsafe impl<T: Trace + ?Sized> Trace for std::sync::Arc<T> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE;
    const DROP_RUNS_USER_CODE: bool = T::DROP_RUNS_USER_CODE;
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        (**self).trace(tracer)
    }
    #[inline(always)]
    unsafe fn root(&mut self) {}
    #[inline(always)]
    unsafe fn unroot(&mut self) {}
}

// SAFETY: both variants are visited by all three methods.
unsafe impl<T: Trace, E: Trace> Trace for Result<T, E> {
    const NEEDS_TRACE: bool = T::NEEDS_TRACE || E::NEEDS_TRACE;
    const DROP_RUNS_USER_CODE: bool = T::DROP_RUNS_USER_CODE || E::DROP_RUNS_USER_CODE;
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        match self {
            Ok(v) => v.trace(tracer),
            Err(e) => e.trace(tracer),
        }
    }
    #[inline]
    unsafe fn root(&mut self) {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            match self {
                Ok(v) => v.root(),
                Err(e) => e.root(),
            }
        }
    }
    #[inline]
    unsafe fn unroot(&mut self) {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            match self {
                Ok(v) => v.unroot(),
                Err(e) => e.unroot(),
            }
        }
    }
}

/// `Trace` for tuples: every position is visited.
macro_rules! tuple_trace {
    ($(($($n:tt $t:ident),+))*) => {$(
        // SAFETY: every element is visited by all three methods.
        unsafe impl<$($t: Trace),+> Trace for ($($t,)+) {
            const NEEDS_TRACE: bool = false $(|| $t::NEEDS_TRACE)+;
            const DROP_RUNS_USER_CODE: bool = false $(|| $t::DROP_RUNS_USER_CODE)+;
            #[inline]
            fn trace(&self, tracer: &mut Tracer) {
                $(self.$n.trace(tracer);)+
            }
            #[inline]
            unsafe fn root(&mut self) {
                // SAFETY: forwarded from the caller's contract.
                unsafe { $(self.$n.root();)+ }
            }
            #[inline]
            unsafe fn unroot(&mut self) {
                // SAFETY: forwarded from the caller's contract.
                unsafe { $(self.$n.unroot();)+ }
            }
        }
    )*};
}

tuple_trace! {
    (0 A)
    (0 A, 1 B)
    (0 A, 1 B, 2 C)
    (0 A, 1 B, 2 C, 3 D)
    (0 A, 1 B, 2 C, 3 D, 4 E)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_types_are_noscan() {
        let noscan = [
            u64::NEEDS_TRACE,
            String::NEEDS_TRACE,
            <Vec<Option<u8>>>::NEEDS_TRACE,
            <(u8, String, [u32; 4])>::NEEDS_TRACE,
            <HashMap<String, Vec<u64>>>::NEEDS_TRACE,
        ];
        assert_eq!(noscan, [false; 5]);
        const { assert!(<Vec<crate::Gc<u8>>>::NEEDS_TRACE) };
    }
}
