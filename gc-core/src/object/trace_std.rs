//! `Trace` for the standard library's types: leaves (numbers, strings, time, atomics,
//! addresses: never scanned), containers and wrappers (every element forwarded, the hidden
//! key methods included), maps and sets (keys follow the "Keys" protocol of the trait's
//! docs), tuples up to 12, and the pointers and cells with rules of their own: `Box` (owns
//! its contents), `Arc` and `OnceLock` (contents always stay counted roots), `Cow` (only
//! the owned variant is traced) and `RangeInclusive` (ends reachable only through `&self`:
//! keys). Interior mutability the collector does not see (`Cell`, `RefCell`, `Mutex`,
//! `RwLock`) gets no impl: a `Gc` stored through it would bypass the collector.

use crate::object::trace::{container_trace, keyed_trace, leaf_trace, tuple_trace};
use crate::{Trace, Tracer};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::hash::BuildHasher;
use std::ops::{Bound, Range, RangeFrom, RangeInclusive, RangeTo, RangeToInclusive};
use std::sync::OnceLock;

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
    &'static str,
    std::ffi::CStr,
    std::ffi::CString,
    std::ffi::OsStr,
    std::ffi::OsString,
    std::path::Path,
    std::path::PathBuf,
    std::time::Duration,
    std::time::Instant,
    std::time::SystemTime,
    std::num::NonZeroU8,
    std::num::NonZeroU16,
    std::num::NonZeroU32,
    std::num::NonZeroU64,
    std::num::NonZeroU128,
    std::num::NonZeroUsize,
    std::num::NonZeroI8,
    std::num::NonZeroI16,
    std::num::NonZeroI32,
    std::num::NonZeroI64,
    std::num::NonZeroI128,
    std::num::NonZeroIsize,
    std::num::FpCategory,
    std::num::IntErrorKind,
    std::num::ParseFloatError,
    std::num::ParseIntError,
    std::num::TryFromIntError,
    std::sync::atomic::AtomicBool,
    std::sync::atomic::AtomicU8,
    std::sync::atomic::AtomicU16,
    std::sync::atomic::AtomicU32,
    std::sync::atomic::AtomicU64,
    std::sync::atomic::AtomicUsize,
    std::sync::atomic::AtomicI8,
    std::sync::atomic::AtomicI16,
    std::sync::atomic::AtomicI32,
    std::sync::atomic::AtomicI64,
    std::sync::atomic::AtomicIsize,
    std::sync::atomic::Ordering,
    std::cmp::Ordering,
    std::net::IpAddr,
    std::net::Ipv4Addr,
    std::net::Ipv6Addr,
    std::net::SocketAddr,
    std::net::SocketAddrV4,
    std::net::SocketAddrV6,
    std::ops::RangeFull,
    std::marker::PhantomPinned,
    std::convert::Infallible,
    std::any::TypeId,
    std::alloc::Layout,
    std::thread::ThreadId,
);
// A raw pointer is not a handle: what it points to is the user's business, as for `*mut T`.
leaf_trace!(generic [T] std::sync::atomic::AtomicPtr<T>);
// No value, so no `Gc`.
leaf_trace!(generic [T: ?Sized] std::marker::PhantomData<T>);
leaf_trace!(generic [] str, box_into_heap super::slice::box_str_into_heap);

/// The value a `Bound` holds, if any, as an iterator (for `container_trace!`).
fn bound_ref<T>(b: &Bound<T>) -> std::option::IntoIter<&T> {
    match b {
        Bound::Included(x) | Bound::Excluded(x) => Some(x).into_iter(),
        Bound::Unbounded => None.into_iter(),
    }
}

/// [`bound_ref`], exclusive.
fn bound_mut<T>(b: &mut Bound<T>) -> std::option::IntoIter<&mut T> {
    match b {
        Bound::Included(x) | Bound::Excluded(x) => Some(x).into_iter(),
        Bound::Unbounded => None.into_iter(),
    }
}

/// The longest array that roots in runs as an element of a list
/// (`Trace::roots_in_runs_at`): a run's chunk holds `ROOT_RUN_CHUNK` elements, each rooted
/// inside its operation.
const MAX_RUN_ARRAY: usize = 16;

container_trace! {
    [T: Trace] Option<T>, T, inline elements, runs_if true, |s| s.iter(), |m| m.iter_mut();
    [T: Trace] Vec<T>, T, slices |m| [m.as_mut_slice()], outside buffer,
        |s| s.iter(), |m| m.iter_mut();
    [T: Trace] VecDeque<T>, T, slices |m| <[&mut [T]; 2]>::from(m.as_mut_slices()),
        outside buffer, |s| s.iter(), |m| m.iter_mut();
    [T: Trace] LinkedList<T>, T, |s| s.iter(), |m| m.iter_mut();
    [T: Trace] [T], T, box_into_heap super::slice::box_slice_into_heap, slices |m| [m],
        |s| s.iter(), |m| m.iter_mut();
    [T: Trace, const N: usize] [T; N], T, inline elements, slices |m| [m.as_mut_slice()],
        runs_if N <= MAX_RUN_ARRAY, |s| s.iter(), |m| m.iter_mut();
    // Wrappers: their fields are public, so reachable mutably like a container's elements.
    [T: Trace] Range<T>, T, |s| [&s.start, &s.end], |m| [&mut m.start, &mut m.end];
    [T: Trace] RangeFrom<T>, T, |s| [&s.start], |m| [&mut m.start];
    [T: Trace] RangeTo<T>, T, |s| [&s.end], |m| [&mut m.end];
    [T: Trace] RangeToInclusive<T>, T, |s| [&s.end], |m| [&mut m.end];
    [T: Trace] Bound<T>, T, |s| bound_ref(s), |m| bound_mut(m);
    [T: Trace] std::num::Wrapping<T>, T, |s| [&s.0], |m| [&mut m.0];
    [T: Trace] std::num::Saturating<T>, T, |s| [&s.0], |m| [&mut m.0];
    [T: Trace] std::cmp::Reverse<T>, T, |s| [&s.0], |m| [&mut m.0];
}

keyed_trace! {
    [K: Trace, V: Trace] BTreeMap<K, V>, key K, value V, drop false,
        |s| keys s.keys(), values s.values(),
        |m| values_mut m.values_mut(), drain std::mem::take(m).into_iter();
    [K: Trace, V: Trace, S: BuildHasher] HashMap<K, V, S>, key K, value V,
        drop std::mem::needs_drop::<S>(),
        |s| keys s.keys(), values s.values(),
        |m| values_mut m.values_mut(), drain m.drain();
    [T: Trace] BTreeSet<T>, key T, value (), drop false,
        |s| keys s.iter(), values std::iter::empty::<&()>(),
        |m| values_mut std::iter::empty::<&mut ()>(),
        drain std::mem::take(m).into_iter().map(|k| (k, ()));
    [T: Trace, S: BuildHasher] HashSet<T, S>, key T, value (),
        drop std::mem::needs_drop::<S>(),
        |s| keys s.iter(), values std::iter::empty::<&()>(),
        |m| values_mut std::iter::empty::<&mut ()>(), drain m.drain().map(|k| (k, ()));
    [T: Trace + Ord] BinaryHeap<T>, key T, value (), drop false,
        |s| keys s.iter(), values std::iter::empty::<&()>(),
        |m| values_mut std::iter::empty::<&mut ()>(), drain m.drain().map(|k| (k, ()));
}

// SAFETY: the box owns its contents; every method forwards to them. `T` may be unsized
// (`Box<dyn Shape>`, `Box<str>`), and then `T::needs_trace()` cannot be called: the answers
// are the conservative ones, always sound (obligations 4 and 6): `needs_trace` is `true`
// (a box is scanned even if its contents hold no `Gc`: a noscan field would be more
// precise, but a `Box<T>` cannot tell a sized `T` from a trait object), and
// `drop_runs_user_code` is `needs_drop::<T>()` (which accepts unsized types and is `true`
// for every trait object): a box of plain data (`Box<str>`, `Box<[u8]>`, `Box<u64>`)
// drops in place, any other box is dropped outside the collector.
unsafe impl<T: Trace + ?Sized> Trace for Box<T> {
    #[inline(always)]
    fn needs_trace() -> bool {
        true
    }
    #[inline(always)]
    fn drop_runs_user_code() -> bool {
        std::mem::needs_drop::<T>()
    }
    #[inline(always)]
    fn handles_hint(&self) -> usize {
        (**self).handles_hint()
    }
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        (**self).trace(tracer)
    }
    #[inline]
    fn trace_counting(&self, tracer: &mut Tracer) {
        (**self).trace_counting(tracer)
    }
    #[inline]
    fn trace_chunk(&self, tracer: &mut Tracer, from: usize) -> Option<usize> {
        (**self).trace_chunk(tracer, from)
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
    /// Conservative, as `needs_trace`: the contents may be a trait object holding a map.
    #[inline(always)]
    fn holds_keys_at(_: u32) -> bool {
        true
    }
    #[inline]
    unsafe fn root_key(&self) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { (**self).root_key() }
    }
    #[inline]
    unsafe fn unroot_key(&self) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { (**self).unroot_key() }
    }
    #[inline]
    unsafe fn forget_edges(&mut self) {
        // SAFETY: forwarded from the caller's contract.
        unsafe { (**self).forget_edges() }
    }
}

// SAFETY: an `Arc` may be shared with code outside the heap, so its contents are never
// unrooted: handles inside an `Arc` always stay counted roots (root/unroot do nothing), and
// tracing forwards so that everything they reach is marked. The cost: a cycle that passes
// through an `Arc` is never collected.
//
// `T` may be unsized, so as for `Box` the answers are the conservative ones: always
// scanned, and user code whenever `T` has drop glue.
unsafe impl<T: Trace + ?Sized> Trace for std::sync::Arc<T> {
    #[inline(always)]
    fn needs_trace() -> bool {
        true
    }
    #[inline(always)]
    fn drop_runs_user_code() -> bool {
        std::mem::needs_drop::<T>()
    }
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        (**self).trace(tracer)
    }
    #[inline(always)]
    unsafe fn root(&mut self) {}
    #[inline(always)]
    unsafe fn unroot(&mut self) {}
}

// SAFETY: both variants are visited by every method.
unsafe impl<T: Trace, E: Trace> Trace for Result<T, E> {
    #[inline(always)]
    fn needs_trace() -> bool {
        Self::needs_trace_at(0)
    }
    #[inline(always)]
    fn needs_trace_at(depth: u32) -> bool {
        T::needs_trace_at(depth) || E::needs_trace_at(depth)
    }
    #[inline(always)]
    fn drop_runs_user_code() -> bool {
        Self::drop_runs_user_code_at(0)
    }
    #[inline(always)]
    fn drop_runs_user_code_at(depth: u32) -> bool {
        T::drop_runs_user_code_at(depth) || E::drop_runs_user_code_at(depth)
    }
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
    #[inline(always)]
    fn holds_keys_at(depth: u32) -> bool {
        T::holds_keys_at(depth) || E::holds_keys_at(depth)
    }
    #[inline]
    unsafe fn root_key(&self) {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            match self {
                Ok(v) => v.root_key(),
                Err(e) => e.root_key(),
            }
        }
    }
    #[inline]
    unsafe fn unroot_key(&self) {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            match self {
                Ok(v) => v.unroot_key(),
                Err(e) => e.unroot_key(),
            }
        }
    }
    #[inline]
    unsafe fn forget_edges(&mut self) {
        // SAFETY: forwarded from the caller's contract.
        unsafe {
            match self {
                Ok(v) => v.forget_edges(),
                Err(e) => e.forget_edges(),
            }
        }
    }
}

// SAFETY: a `OnceLock` is written through `&self` (`set`, `get_or_init`): a value can enter
// one that already sits in a heap object without passing through `unroot`, which is the
// hidden mutation obligation 3 forbids for handles in edge state. So, as for `Arc`, its
// contents are never unrooted: every handle inside stays a counted root (`root`/`unroot`
// do nothing), and a value written through `&self` was a counted root before and stays one,
// so neither the marker nor the write barrier needs to see the write. Tracing forwards
// anyway (obligation 1; `get` synchronises with the write). The hidden key methods keep
// their defaults (obligation 7): the keys of a map inside keep their counts, which their
// drop releases. Values leave only through `&mut` (`take`, `get_mut`) or by value, still
// counted. The drop is the contents' (obligation 6). The cost, as for `Arc`: a cycle that
// passes through a `OnceLock` is never collected.
unsafe impl<T: Trace> Trace for OnceLock<T> {
    crate::object::trace::facts_of!(T);
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        if let Some(v) = self.get() {
            v.trace(tracer);
        }
    }
    #[inline(always)]
    unsafe fn root(&mut self) {}
    #[inline(always)]
    unsafe fn unroot(&mut self) {}
}

// SAFETY: an owned value is the `Cow`'s own, and every method forwards to it, the hidden
// key methods included (obligations 1, 2, 7). A borrowed `&'static B` is not: it is never
// traced, rooted or unrooted, and needs none of it. A value that lives for ever either
// sits outside the heap, where every handle inside is a counted root (only the runtime
// unroots, and only values moved into the heap), or inside a heap object that a leaked
// handle keeps alive for ever and the marker traces itself; so whatever the borrow reaches
// stays alive without us. The variant changes (`to_mut` clones the borrowed value into an
// owned one, with fresh counted handles) and the owned value leaves (`into_owned`) only
// through `&mut` or by value, which a `Cow` inside the heap gets only through a `GcCell`'s
// write guard, with its contents rooted (obligation 3): the owned value is then unrooted
// with the cell, like any other. Its drop is the owned value's (obligation 6).
unsafe impl<B> Trace for Cow<'static, B>
where
    B: ToOwned + ?Sized + 'static,
    B::Owned: Trace,
{
    crate::object::trace::facts_of!(B::Owned);
    #[inline(always)]
    fn holds_keys_at(depth: u32) -> bool {
        B::Owned::holds_keys_at(depth)
    }
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        if let Cow::Owned(v) = self {
            v.trace(tracer);
        }
    }
    #[inline]
    unsafe fn root(&mut self) {
        if let Cow::Owned(v) = self {
            // SAFETY: forwarded from the caller's contract.
            unsafe { v.root() };
        }
    }
    #[inline]
    unsafe fn unroot(&mut self) {
        if let Cow::Owned(v) = self {
            // SAFETY: forwarded from the caller's contract.
            unsafe { v.unroot() };
        }
    }
    #[inline]
    unsafe fn root_key(&self) {
        if let Cow::Owned(v) = self {
            // SAFETY: forwarded from the caller's contract.
            unsafe { v.root_key() };
        }
    }
    #[inline]
    unsafe fn unroot_key(&self) {
        if let Cow::Owned(v) = self {
            // SAFETY: forwarded from the caller's contract.
            unsafe { v.unroot_key() };
        }
    }
    #[inline]
    unsafe fn forget_edges(&mut self) {
        if let Cow::Owned(v) = self {
            // SAFETY: forwarded from the caller's contract.
            unsafe { v.forget_edges() };
        }
    }
}

// SAFETY: a `RangeInclusive` gives no `&mut` access to its ends (only `start()`, `end()` and
// `into_inner()`), so they follow the "Keys" protocol of the trait's docs, like a set's
// elements: traced through `&self` (obligation 1); `root`/`unroot` take back and give up
// their counts through `root_key`/`unroot_key`, leaving their flags set (obligation 2); the
// key methods forward and `holds_keys_at` says so (obligation 7); and `forget_edges` takes
// the ends out by value to clear their flags before the garbage range drops them. No
// interior mutability (obligation 3); the drop is the ends' (obligation 6).
unsafe impl<T: Trace> Trace for RangeInclusive<T> {
    crate::object::trace::facts_of!(T);
    #[inline(always)]
    fn holds_keys_at(depth: u32) -> bool {
        T::needs_trace_at(depth)
    }
    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        if T::needs_trace() {
            self.start().trace(tracer);
            self.end().trace(tracer);
        }
    }
    #[inline]
    unsafe fn root(&mut self) {
        // SAFETY: the range leaves the heap (caller's contract): its ends take their counts
        // back, as a map's keys do.
        unsafe { self.root_key() }
    }
    #[inline]
    unsafe fn unroot(&mut self) {
        // SAFETY: the range joins the heap (caller's contract): its ends give up their
        // counts, as a map's keys do.
        unsafe { self.unroot_key() }
    }
    #[inline]
    unsafe fn root_key(&self) {
        if T::needs_trace() {
            // SAFETY: forwarded from the caller's contract.
            unsafe {
                self.start().root_key();
                self.end().root_key();
            }
        }
    }
    #[inline]
    unsafe fn unroot_key(&self) {
        if T::needs_trace() {
            // SAFETY: forwarded from the caller's contract.
            unsafe {
                self.start().unroot_key();
                self.end().unroot_key();
            }
        }
    }
    #[inline]
    unsafe fn forget_edges(&mut self) {
        if !T::needs_trace() {
            return;
        }
        /// Aborts if a `forget_edges` below panics: `self` and the moved-out ends would
        /// both be dropped.
        struct NoUnwind;
        impl Drop for NoUnwind {
            fn drop(&mut self) {
                crate::fatal("forget_edges panicked inside a RangeInclusive");
            }
        }
        let guard = NoUnwind;
        // SAFETY: `self` is valid and is overwritten below before anything else reads or
        // drops it; the guard turns a panic in between into an abort.
        let (mut start, mut end) = unsafe { std::ptr::read(self) }.into_inner();
        // SAFETY: forwarded from the caller's contract (the ends are the garbage range's).
        unsafe {
            start.forget_edges();
            end.forget_edges();
        }
        // SAFETY: `self` is valid for writes and its old value was moved out above. The
        // range is garbage: the flag its iterators keep (`exhausted`, reset here) is never
        // read again.
        unsafe { std::ptr::write(self, RangeInclusive::new(start, end)) };
        std::mem::forget(guard);
    }
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
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K)
    (0 A, 1 B, 2 C, 3 D, 4 E, 5 F, 6 G, 7 H, 8 I, 9 J, 10 K, 11 L)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_types_are_noscan() {
        let noscan = [
            u64::needs_trace(),
            String::needs_trace(),
            <Vec<Option<u8>>>::needs_trace(),
            <(u8, String, [u32; 4])>::needs_trace(),
            <HashMap<String, Vec<u64>>>::needs_trace(),
        ];
        assert_eq!(noscan, [false; 5]);
        assert!(<Vec<crate::Gc<u8>>>::needs_trace());
    }
}
