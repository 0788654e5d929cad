//! serde's traits for `Gc` and `GcCell` (feature `serde`).
//!
//! Handles are written by value, like serde's own `Arc` support (its `rc` feature): a
//! `Gc<T>` serializes as its `T`, a `GcCell<T>` as its contents, read under a shared borrow.
//! Reading allocates: every `Gc` deserialized is a new object. So sharing is not preserved
//! (an object reached through two handles is written twice and read back as two objects),
//! and a cycle recurses until the stack overflows: serialize graphs with cycles through an
//! explicit representation (ids and edge lists).

use crate::{Gc, GcCell, Trace};
use ::serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Serializes the object, as `T` would be (sharing and cycles are not recorded: see the
/// module docs).
impl<T: ?Sized + Serialize + 'static> Serialize for Gc<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(serializer)
    }
}

/// Serializes the contents under a shared borrow: blocks while another thread writes the
/// cell, and panics like [`GcCell::borrow`] if this thread holds its write guard.
impl<T: Trace + Serialize> Serialize for GcCell<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.borrow().serialize(serializer)
    }
}

/// Deserializes a `T` and allocates it ([`Gc::new`]).
impl<'de, T: Deserialize<'de> + Trace + Send + Sync + 'static> Deserialize<'de> for Gc<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Gc<T>, D::Error> {
        T::deserialize(deserializer).map(Gc::new)
    }
}

/// Deserializes a string into a new heap string.
impl<'de> Deserialize<'de> for Gc<str> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Gc<str>, D::Error> {
        String::deserialize(deserializer).map(Gc::from)
    }
}

/// Deserializes a sequence into a new heap slice (the elements are moved, not cloned).
impl<'de, T: Deserialize<'de> + Trace + Send + Sync + 'static> Deserialize<'de> for Gc<[T]> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Gc<[T]>, D::Error> {
        Vec::<T>::deserialize(deserializer).map(Gc::from)
    }
}

/// Deserializes the contents into a new cell.
impl<'de, T: Deserialize<'de> + Trace> Deserialize<'de> for GcCell<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<GcCell<T>, D::Error> {
        T::deserialize(deserializer).map(GcCell::new)
    }
}
