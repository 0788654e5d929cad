//! The allocator (Go's `malloc.go`): arenas, the page heap, spans, size classes, the
//! central lists and per-thread caches. Its design overview (structures, the allocation
//! path, who may touch a span, layering) is published as [`crate::design::allocator`]
//! (`docs/design/allocator.md`), the single copy: read it before changing anything here.

#[cfg(not(gc_loom))]
pub(crate) mod arena;
/// Under loom the arena table (zeroed memory read as atomics) cannot exist: a plain map
/// with the same interface stands in for it.
#[cfg(gc_loom)]
#[path = "arena_loom.rs"]
pub(crate) mod arena;
pub(crate) mod cache;
pub(crate) mod central;
pub(crate) mod clobber;
pub(crate) mod external;
pub(crate) mod free_runs;
pub(crate) mod heap;
pub(crate) mod hooks;
pub(crate) mod live_types;
pub(crate) mod os;
pub(crate) mod pageheap;
pub(crate) mod recycle;
pub(crate) mod released;
pub(crate) mod remote_free;
pub(crate) mod sizeclass;
pub(crate) mod snapshot;
pub(crate) mod span;
pub(crate) mod sweep;

/// log2 of the page size.
pub(crate) const PAGE_SHIFT: usize = 13;
/// Page size: the unit of the page heap (Go's `_PageSize`).
pub(crate) const PAGE_SIZE: usize = 1 << PAGE_SHIFT;
/// log2 of the arena size.
pub(crate) const ARENA_SHIFT: usize = 26;
/// Arena size: the unit of reservation from the OS (Go's `heapArenaBytes`).
pub(crate) const ARENA_SIZE: usize = 1 << ARENA_SHIFT;
/// Pages per arena.
pub(crate) const PAGES_PER_ARENA: usize = ARENA_SIZE / PAGE_SIZE;
/// Objects smaller than this, with no `Gc` and no `Drop`, share 16-byte tiny blocks.
pub(crate) const TINY_SIZE: usize = 16;
