//! `Trace` for crossbeam-utils' `AtomicCell`, re-exported as `gc_core::AtomicCell`: the
//! lock-free field for plain `Copy` data in heap objects (counters, flags), where a
//! `Cell` cannot go (`Gc<T>` needs `T: Sync`).

use crate::object::trace::leaf_trace;
use crossbeam_utils::atomic::AtomicCell;

// A `Copy` type cannot hold a `Gc` (a handle has drop glue, so it is never `Copy`): no
// edge to trace, root or unroot (obligations 1, 2, 4), and writes through `&self` change
// no handle (obligation 3). `AtomicCell`'s drop drops its value only if the value needs
// dropping, which a `Copy` value never does: it runs nothing (obligation 6).
leaf_trace!(generic [T: Copy] AtomicCell<T>);
