//! `Trace` for slotmap's maps (feature `slotmap`): `SlotMap`, `HopSlotMap`, `DenseSlotMap`,
//! `SecondaryMap` and `SparseSecondaryMap` are containers of their values. Their keys are
//! plain data (an index and a version, never a `Gc`), so unlike std's maps they need no
//! "Keys" protocol; slotmap's own key types are leaves. (Keys declared with
//! `new_key_type!` are the user's types: a struct field holding one is `#[trace(skip)]`.)

// slotmap 1.1 deprecates `HopSlotMap` (to be removed in 2.0); programs still use it.
#![allow(deprecated)]

use crate::object::trace::{container_trace, leaf_trace};
use crate::Trace;
use ::slotmap::{DenseSlotMap, HopSlotMap, Key, SecondaryMap, SlotMap, SparseSecondaryMap};

container_trace! {
    [K: Key, V: Trace] SlotMap<K, V>, V, |s| s.values(), |m| m.values_mut();
    [K: Key, V: Trace] HopSlotMap<K, V>, V, |s| s.values(), |m| m.values_mut();
    [K: Key, V: Trace] DenseSlotMap<K, V>, V, |s| s.values(), |m| m.values_mut();
    [K: Key, V: Trace] SecondaryMap<K, V>, V, |s| s.values(), |m| m.values_mut();
    [K: Key, V: Trace, S: std::hash::BuildHasher] SparseSecondaryMap<K, V, S>, V,
        drop std::mem::needs_drop::<S>(), |s| s.values(), |m| m.values_mut();
}

leaf_trace!(::slotmap::DefaultKey, ::slotmap::KeyData);
