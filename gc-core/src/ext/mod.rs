//! Other crates' types: `Trace` for their containers and leaves, and serde's traits for `Gc`
//! and `GcCell`. One file per crate, each behind the cargo feature of the same name (all
//! off by default), except crossbeam-utils' `AtomicCell`, which the crate re-exports.
//!
//! The impls reuse the macros of `object/trace.rs`: a container's elements are forwarded
//! like `Vec`'s (`container_trace!`), a map's keys follow the "Keys" protocol like std's
//! maps (`keyed_trace!`), data without a `Gc` is a leaf (`leaf_trace!`). A third-party
//! container's own drop counts as std's (obligation 6 of `Trace`) only when it does what
//! std's does: drops the elements and frees memory through the global allocator; anything
//! else it may run (a hasher's drop, an owner's) is declared with `drop`.

mod crossbeam_utils;

#[cfg(feature = "arrayvec")]
mod arrayvec;
#[cfg(feature = "bytes")]
mod bytes;
#[cfg(feature = "hashbrown")]
mod hashbrown;
#[cfg(feature = "indexmap")]
mod indexmap;
#[cfg(feature = "serde")]
mod serde;
#[cfg(feature = "slotmap")]
mod slotmap;
#[cfg(feature = "smallvec")]
mod smallvec;
