//! What the allocator asks of the collector above it: a table of functions the collector
//! installs once at start-up (before any allocation), so the allocator never names the layers
//! above it (Go's runtime registers `clearpools` with `sync` the same way). Each hook is
//! called on a slow path only: a sweep, a new span.
//!
//! Shared state: the table, written once (a `OnceLock` of plain function pointers) and read
//! by anyone afterwards. See the allocator overview (`crate::design::allocator`).

use super::heap::HeapMemory;
use super::span::{Claimed, SlotSet};
use std::sync::OnceLock;

/// The collector's side of the allocation path.
pub(crate) struct Hooks {
    /// A sweep found these dead objects (slot indices of the claimed span) whose drop runs
    /// user code (`TypeInfo::user_drop`): the collector moves them out of their slots, to
    /// drop them outside every GC operation, before the sweep frees the slots.
    pub(crate) defer_drops: fn(&Claimed, &SlotSet),
    /// Eager scavenging: bytes to release now after a span grew the heap by `grown` bytes
    /// and paged in `paged_in` released bytes, given the heap's memory figures.
    pub(crate) eager_bytes: fn(&HeapMemory, u64, u64) -> u64,
    /// Reports bytes released eagerly (for `scavtrace`).
    pub(crate) note_eager: fn(usize),
}

static HOOKS: OnceLock<Hooks> = OnceLock::new();

/// Installs the collector's hooks; later calls keep the first table.
pub(crate) fn install(hooks: Hooks) {
    let _ = HOOKS.set(hooks);
}

/// The installed hooks.
#[inline]
pub(crate) fn hooks() -> &'static Hooks {
    HOOKS
        .get()
        .unwrap_or_else(|| crate::fatal("the allocator was used before the collector started"))
}
