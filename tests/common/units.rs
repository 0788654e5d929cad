//! Zero-sized types for the tests of zero-sized objects (`tests/zero_sized.rs`,
//! `tests/bad_limits.rs`): plain, over-aligned, and with drop glue.

use gc_core::Trace;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Trace, PartialEq, Debug)]
pub struct Unit;

#[repr(align(8))]
#[derive(Trace, PartialEq, Debug)]
pub struct AlignedUnit;

/// Drops of [`DropUnit`]s.
pub static UNIT_DROPS: AtomicU64 = AtomicU64::new(0);

/// A zero-sized type with drop glue: it takes a small-object slot of its own, not the tiny
/// allocator (`size_to_class(0)` is class 1).
#[derive(Trace)]
#[trace(unsafe_drop)]
pub struct DropUnit;

impl Drop for DropUnit {
    fn drop(&mut self) {
        UNIT_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}
