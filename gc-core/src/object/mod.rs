//! The object model users see: `Trace`, `Gc<T>`, `GcCell<T>`, and the type descriptors the
//! collector keeps per span instead of object headers. The rooting rules they implement are
//! described in the collector overview, `crate::design::collector`.

pub(crate) mod atomic;
pub(crate) mod boxed;
pub(crate) mod cell;
pub(crate) mod cell_guard;
mod cell_held;
pub(crate) mod cell_lock;
mod cell_traits;
pub(crate) mod cleanup;
mod convert;
pub(crate) mod dyn_gc;
pub(crate) mod field_chunks;
pub(crate) mod gc;
mod slice;
pub(crate) mod trace;
mod trace_fn;
mod trace_std;
pub(crate) mod typeinfo;
pub(crate) mod weak;
pub(crate) mod weak_map;
