//! What the allocator asks of the collector above it: a table of functions the collector
//! installs once at start-up (before any allocation), so the allocator never names the layers
//! above it (Go's runtime registers `clearpools` with `sync` the same way). Each hook is
//! called on a slow path only: a cache refill, a large allocation, a new span.
//!
//! Shared state: the table, written once (a `OnceLock` of plain function pointers) and read
//! by anyone afterwards. See the allocator overview in `crate::alloc`.

use super::cache::MCache;
use super::heap::{Heap, HeapMemory};
use super::span::SpanPtr;
use std::sync::OnceLock;

/// The collector's side of the allocation path.
pub(crate) struct Hooks {
    /// A thread cache took `bytes` of heap (a refill or a large object), inside a GC
    /// operation: the collector's mark-assist accounting.
    ///
    /// The `*mut MCache` is the calling thread's own cache, with no borrow held.
    pub(crate) allocated: unsafe fn(*mut MCache, u64),
    /// Before a large allocation grows the heap: sweep until about `npages` pages were
    /// freed (Go's page reclaimer).
    pub(crate) reclaim: fn(usize),
    /// Sweeps a span the caller claimed (`SpanPtr::claim`); with `preserve` the caller keeps
    /// it. Returns the live objects left.
    pub(crate) sweep: fn(&Heap, SpanPtr, bool) -> usize,
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
