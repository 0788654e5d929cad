//! # The allocator (Go's `malloc.go`)
//!
//! Every object lives in memory this module maps itself; none comes from Rust's global
//! allocator (the collector's own bookkeeping, such as span metadata, does use it).
//!
//! ## Structures
//!
//! - **Arenas** (`arena.rs`): 64 MiB regions reserved with `mmap`, each with off-heap
//!   metadata mapping every 8 KiB page to the span that owns it. An address finds its span
//!   in three loads: arena table, arena metadata, page slot.
//! - **Page heap** (`pageheap.rs`, Go's mheap): free runs of pages, coalesced on free, grown
//!   in 4 MiB steps out of arena reservations. Spans for small objects and whole spans for
//!   large objects come from it. Free pages the scavenger gave back to the OS, and fresh
//!   pages never used, are tracked exactly as released (`released.rs`); they come back
//!   zero-filled, so a span made only of them needs no zeroing (`Span::needzero`, which
//!   `Gc::<[u8]>::new_zeroed_slice` relies on). A span allocation that grows the heap past
//!   the scavenger's goal, or happens over the memory limit, releases pages elsewhere at
//!   once (the collector's eager-scavenging policy, through a hook). Per 4 MiB chunk the page heap counts pages in use, so
//!   the background scavenger can leave nearly full chunks alone.
//! - **Spans** (`span.rs`, Go's mspan): a run of pages cut into equal slots of one size
//!   class. A span carries `freeindex`, the 64-bit `alloc_cache`, `alloc_bits`,
//!   `gcmark_bits`, `sweepgen`, per-slot root counts and the type of its objects.
//! - **Size classes** (`sizeclass.rs`): Go's 68 classes; a *span class* adds a noscan bit,
//!   chosen at compile time from `Trace::needs_trace`.
//! - **Central lists** (`central.rs`, Go's mcentral): one per span class, holding partial and
//!   full spans, each split into swept and unswept sets.
//! - **Sweeping one span** (`sweep.rs`, Go's `mspan.sweep`): frees what the last mark left
//!   white, given a `Claimed` span (`SpanPtr::claim`, the `sweepgen` CAS).
//! - **Thread caches** (`cache.rs`, Go's mcache): one per mutator thread, one span per span
//!   class plus the tiny block.
//!
//! ## The allocation path (numbered as in Go)
//!
//! The collector's `mallocgc` (`crate::gc`'s `malloc.rs`) drives it, inside a GC operation
//! whose token lends it this thread's cache (`&mut MCache`):
//!
//! 1. **Thread cache, no lock, no atomic** (`MCache::alloc_small`, `MCache::alloc_tiny`):
//!    `ctz(alloc_cache)` names the next free slot of the cached span (`Span::next_free_fast`);
//!    the tiny allocator bumps inside a 16-byte block for small noscan values without
//!    `Drop` (a zero-sized one takes a byte: distinct objects, distinct addresses).
//! 2. **Central list** (`MCache::alloc_small_slow`, `Central::cache_span`): when the cached
//!    span is full, the thread returns it (`release`) and takes another from the span
//!    class's mcentral: a swept partial span, else one it sweeps itself (`sweep::sweep`),
//!    else
//! 3. **Page heap** (`Heap::alloc_span`): a fresh span cut from free pages (under the heap
//!    lock). Objects over 32 KiB skip 1-2 and take their own span here (`alloc_large`).
//! 4. **Operating system** (`arena.rs`, `os.rs`): a new 64 MiB arena when no free run is
//!    large enough.
//!
//! Steps 2-4 add what they take to `heap_live` (the heap size the pacer watches) and
//! return it in the slot (`Slot::charged`); the collector charges it to the mark assist
//! and checks the trigger.

//! ## Who may touch a span
//!
//! A span is owned by exactly one party at a time, and its non-atomic allocation state
//! (`freeindex`, `alloc_cache`, `alloc_bits`, `alloc_count`, slot types) is touched only by
//! that owner: the thread whose cache holds it, the sweeper that claimed it by moving its
//! `sweepgen` from `h-2` to `h-1`, or whoever holds its central list's lock. Ownership moves
//! through a lock or a release/acquire pair, so the next owner sees the last one's writes.
//! The collector reads these fields only while every mutator is out of GC operations (its
//! stop handshake). Mark bits and root counts are atomic and shared.
//!
//! ## Layering
//!
//! The allocator is the layer below the collector and never names it (nor the object
//! model; the layers are drawn in the collector overview, `crate::gc`). What a caller must
//! know it returns (`Slot::charged`); what it needs from above goes through the table of
//! functions the collector installs at start-up (`hooks.rs`: moving out dead objects whose
//! drop is user code, the eager-scavenging policy). Sweeping one span (`sweep.rs`, Go's
//! `mspan.sweep`) is here; deciding who sweeps which span, and when, is the collector's.
//! The type descriptor it records per object is the neutral `crate::descriptor::TypeInfo`.
//! `clobber.rs` (`GODEBUG=clobberfree=1`) poisons free memory at this level.

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
pub(crate) mod heap;
pub(crate) mod hooks;
pub(crate) mod os;
pub(crate) mod pageheap;
pub(crate) mod released;
pub(crate) mod sizeclass;
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
