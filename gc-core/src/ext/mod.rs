//! Other crates' types: `Trace` for their containers and leaves. One file per crate:
//! crossbeam-utils' `AtomicCell`, which the crate re-exports.
//!
//! The impls reuse the macros of `object/trace.rs`: a container's elements are forwarded
//! like `Vec`'s (`container_trace!`), a map's keys follow the "Keys" protocol like std's
//! maps (`keyed_trace!`), data without a `Gc` is a leaf (`leaf_trace!`). A third-party
//! container's own drop counts as std's (obligation 6 of `Trace`) only when it does what
//! std's does: drops the elements and frees memory through the global allocator; anything
//! else it may run (a hasher's drop, an owner's) is declared with `drop`.

mod crossbeam_utils;

