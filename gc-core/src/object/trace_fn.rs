//! `Trace` for function pointers: `fn(A, ..) -> R` with up to 12 arguments, and its
//! `unsafe fn`, `extern "C" fn` and `unsafe extern "C" fn` variants, for every argument and
//! return type. A function pointer is a code address: it holds no `Gc` whatever its
//! signature names, so each is a leaf (noscan, nothing to root), and the derive adds no
//! `T: Trace` bound for a type parameter that occurs only in one (`fn() -> T`, `fn(T)`).
//!
//! Not covered: pointers whose signature is generic over a lifetime (`fn(&str)` is
//! `for<'a> fn(&'a str)`, a different type for every arity and lifetime position; skip such
//! a field with `#[trace(skip)]`), other ABIs, and C-variadic pointers.

use crate::object::trace::leaf_trace;

/// `Trace` for the four kinds of function pointer with the argument types `$a`.
macro_rules! fn_trace {
    ($($a:ident)*) => {
        leaf_trace!(generic [$($a,)* R] fn($($a),*) -> R);
        leaf_trace!(generic [$($a,)* R] unsafe fn($($a),*) -> R);
        leaf_trace!(generic [$($a,)* R] extern "C" fn($($a),*) -> R);
        leaf_trace!(generic [$($a,)* R] unsafe extern "C" fn($($a),*) -> R);
    };
}

fn_trace!();
fn_trace!(A1);
fn_trace!(A1 A2);
fn_trace!(A1 A2 A3);
fn_trace!(A1 A2 A3 A4);
fn_trace!(A1 A2 A3 A4 A5);
fn_trace!(A1 A2 A3 A4 A5 A6);
fn_trace!(A1 A2 A3 A4 A5 A6 A7);
fn_trace!(A1 A2 A3 A4 A5 A6 A7 A8);
fn_trace!(A1 A2 A3 A4 A5 A6 A7 A8 A9);
fn_trace!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10);
fn_trace!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11);
fn_trace!(A1 A2 A3 A4 A5 A6 A7 A8 A9 A10 A11 A12);

#[cfg(test)]
mod tests {
    use crate::{Gc, Trace};

    /// A type with no `Trace` impl, to show the impls ask nothing of their types.
    struct NotTrace;

    fn leaf<T: Trace>() -> (bool, bool) {
        (T::needs_trace(), T::drop_runs_user_code())
    }

    fn add(a: u64, b: u64) -> u64 {
        a + b
    }

    unsafe fn unsafe_id(x: Gc<u64>) -> Gc<u64> {
        x
    }

    extern "C" fn c_double(x: u32) -> u32 {
        x * 2
    }

    #[test]
    fn every_kind_and_arity_is_a_leaf() {
        let all = [
            leaf::<fn()>(),
            leaf::<fn(NotTrace) -> NotTrace>(),
            leaf::<fn(Gc<u8>) -> Gc<u8>>(),
            leaf::<unsafe fn(Gc<u8>, Vec<Gc<u8>>)>(),
            leaf::<extern "C" fn(u8, u16, u32) -> NotTrace>(),
            leaf::<unsafe extern "C" fn(u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8) -> u8>(),
            leaf::<fn(u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8) -> Gc<u8>>(),
        ];
        assert_eq!(all, [(false, false); 7]);
    }

    #[test]
    fn pointers_in_the_heap_stay_callable() {
        type Ops = (
            fn(u64, u64) -> u64,
            unsafe fn(Gc<u64>) -> Gc<u64>,
            extern "C" fn(u32) -> u32,
        );
        let ops: Gc<Ops> = Gc::new((add, unsafe_id, c_double));
        crate::collect();
        assert_eq!((ops.0)(2, 3), 5);
        let n = Gc::new(7u64);
        // SAFETY: `unsafe_id` has no preconditions; it is `unsafe` only to be that kind.
        assert_eq!(*unsafe { (ops.1)(n.clone()) }, 7);
        assert_eq!((ops.2)(21), 42);
    }
}
