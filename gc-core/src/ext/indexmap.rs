//! `Trace` for indexmap's `IndexMap` and `IndexSet` (feature `indexmap`), exactly like
//! std's maps and sets: their keys follow the "Keys" protocol of `Trace`'s docs (reached
//! through `&self`, they give up and take back their counts with their map; a garbage map
//! drains them to clear their flags).
//!
//! indexmap's `MutableKeys` hands out `&mut K`, but only through `&mut` to the map, which a
//! map inside the heap gives only through a `GcCell`'s write guard: the map is rooted then,
//! and its keys are ordinary counted handles that may be replaced or swapped like any.

use crate::object::trace::keyed_trace;
use crate::Trace;
use ::indexmap::{IndexMap, IndexSet};

keyed_trace! {
    [K: Trace, V: Trace, S] IndexMap<K, V, S>, key K, value V,
        drop std::mem::needs_drop::<S>(),
        |s| keys s.keys(), values s.values(),
        |m| values_mut m.values_mut(), drain m.drain(..);
    [T: Trace, S] IndexSet<T, S>, key T, value (),
        drop std::mem::needs_drop::<S>(),
        |s| keys s.iter(), values std::iter::empty::<&()>(),
        |m| values_mut std::iter::empty::<&mut ()>(), drain m.drain(..).map(|k| (k, ()));
}
