// A type parameter used only in `PhantomData` or in function pointer types gets no `Trace`
// bound: `NotTrace` has no `Trace` impl, and the types still implement `Trace`.
#![deny(warnings)]
#![deny(clippy::all)]

use gc_core::{Gc, Trace};
use std::marker::PhantomData;

pub struct NotTrace;

#[derive(Trace)]
pub struct Typed<T> {
    pub id: u32,
    pub marker: PhantomData<T>,
    pub make: fn() -> T,
    pub check: fn(Vec<T>) -> bool,
}

#[derive(Trace)]
pub enum Callback<A, R> {
    Safe(fn(A) -> R),
    Unsafe(unsafe fn(A, A) -> R),
    C(extern "C" fn() -> R, PhantomData<A>),
    Held(Gc<u64>),
}

fn make() -> NotTrace {
    NotTrace
}

fn check(_: Vec<NotTrace>) -> bool {
    true
}

fn is_trace<T: Trace>() -> bool {
    T::needs_trace()
}

fn main() {
    assert!(!is_trace::<Typed<NotTrace>>());
    assert!(is_trace::<Callback<NotTrace, NotTrace>>());
    let t = Gc::new(Typed {
        id: 1,
        marker: PhantomData,
        make,
        check,
    });
    assert!((t.check)(vec![NotTrace]));
    let _made: NotTrace = (t.make)();
}
