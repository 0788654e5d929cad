// A generic struct: the type parameters its traced fields use get a `Trace` bound;
// lifetimes, const generics and the where clause are kept.
#![deny(warnings)]
#![deny(clippy::all)]

use gc_core::{Gc, Trace};
use std::marker::PhantomData;

#[derive(Trace)]
pub struct Pair<'a, K, V, const N: usize>
where
    K: Copy + 'a,
{
    pub keys: [K; N],
    pub value: Option<V>,
    pub name: &'static str,
    pub marker: PhantomData<&'a ()>,
}

#[derive(Trace)]
pub struct W<T> {
    pub v: T,
}

// (`needs_trace` is a function: `Trace` is dyn-compatible; checked at run time.)
fn main() {
    assert!(!<Pair<'static, u8, String, 2> as Trace>::needs_trace());
    assert!(<Pair<'static, u8, Gc<W<u8>>, 2> as Trace>::needs_trace());
    assert!(!<W<u8> as Trace>::needs_trace());
    assert!(<W<Gc<W<u8>>> as Trace>::needs_trace());
}
