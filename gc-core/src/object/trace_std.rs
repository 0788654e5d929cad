//! `Trace` for the standard library's types: leaves (numbers, strings, time, atomics: never
//! scanned), containers (every element forwarded, the hidden key methods included), maps
//! and sets (keys follow the "Keys" protocol of the trait's docs), tuples, and the pointers
//! with rules of their own: `Box` (owns its contents) and `Arc` (contents always stay
//! counted roots).

use crate::object::trace::{container_trace, keyed_trace, leaf_trace, tuple_trace};
use crate::{Trace, Tracer};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet, LinkedList, VecDeque};
use std::hash::BuildHasher;

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
    #[inline(always)]
    fn needs_trace() -> bool {
        false
    }
    #[inline(always)]
    fn drop_runs_user_code() -> bool {
        false
    }
    #[inline(always)]
    fn trace(&self, _: &mut Tracer) {}
    #[inline(always)]
    unsafe fn root(&mut self) {}
    #[inline(always)]
    unsafe fn unroot(&mut self) {}
}

container_trace! {
    [T: Trace] Option<T>, T, |s| s.iter(), |m| m.iter_mut();
    [T: Trace] Vec<T>, T, |s| s.iter(), |m| m.iter_mut();
    [T: Trace] VecDeque<T>, T, |s| s.iter(), |m| m.iter_mut();
    [T: Trace] LinkedList<T>, T, |s| s.iter(), |m| m.iter_mut();
    [T: Trace] [T], T, |s| s.iter(), |m| m.iter_mut();
    [T: Trace, const N: usize] [T; N], T, |s| s.iter(), |m| m.iter_mut();
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
