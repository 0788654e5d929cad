//! `Trace` for hashbrown's tables (feature `hashbrown`): `HashMap` and `HashSet` exactly
//! like std's (their keys follow the "Keys" protocol of `Trace`'s docs: reachable only
//! through `&self`, they give up and take back their counts with their map), and
//! `HashTable`, whose entries are reachable mutably (`iter_mut`, `find_mut`), as a plain
//! container: flipping a handle's rooted flag changes neither its `Hash` (by contents) nor
//! `Gc::as_ptr`, so the table's hashes stay valid.
//!
//! Only the default allocator (`Global`) is covered: naming another needs hashbrown's
//! `allocator-api2` feature.

use crate::object::trace::{container_trace, keyed_trace};
use crate::Trace;
use ::hashbrown::{HashMap, HashSet, HashTable};

keyed_trace! {
    [K: Trace, V: Trace, S] HashMap<K, V, S>, key K, value V,
        drop std::mem::needs_drop::<S>(),
        |s| keys s.keys(), values s.values(),
        |m| values_mut m.values_mut(), drain m.drain();
    [T: Trace, S] HashSet<T, S>, key T, value (),
        drop std::mem::needs_drop::<S>(),
        |s| keys s.iter(), values std::iter::empty::<&()>(),
        |m| values_mut std::iter::empty::<&mut ()>(), drain m.drain().map(|k| (k, ()));
}

container_trace! {
    [T: Trace] HashTable<T>, T, |s| s.iter(), |m| m.iter_mut();
}
