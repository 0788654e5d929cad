// `#[trace(bound = "...")]` replaces the inferred bounds: `""` for none, or the
// where-predicates to require instead.
#![deny(warnings)]
#![deny(clippy::all)]

use gc_core::{Gc, Trace};
use std::marker::PhantomData;

pub struct NotTrace;

#[derive(Trace)]
pub struct Tagged<T> {
    pub value: u64,
    pub tag: PhantomData<T>,
}

// The inferred bound would be `T: Trace` (`T` occurs outside `PhantomData`), but
// `Gc<Tagged<T>>` is `Trace` for every `T`.
#[derive(Trace)]
#[trace(bound = "")]
pub struct Handle<T: 'static> {
    pub target: Gc<Tagged<T>>,
}

// Predicates of any shape, with `Trace` spelled out.
#[derive(Trace)]
#[trace(bound = "T: gc_core::Trace + Clone, Vec<U>: gc_core::Trace")]
pub struct Both<T, U> {
    pub t: T,
    pub u: Vec<U>,
}

fn is_trace<T: Trace>() -> bool {
    T::needs_trace()
}

fn main() {
    assert!(is_trace::<Handle<NotTrace>>());
    assert!(!is_trace::<Both<u8, String>>());
    assert!(is_trace::<Both<u8, Gc<u8>>>());
    let h = Gc::new(Handle {
        target: Gc::new(Tagged::<NotTrace> {
            value: 7,
            tag: PhantomData,
        }),
    });
    gc_core::collect();
    assert_eq!(h.target.value, 7);
}
