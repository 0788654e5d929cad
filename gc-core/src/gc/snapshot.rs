//! Heap snapshots, the collector's part: stops GC operations (as `mem_stats` does) so the
//! allocator can read every span's allocation count, has it walk the page heap
//! (`crate::alloc::snapshot`), resumes, then adds the cycle history (`history.rs`) and the
//! pacer's goal. The public interface turns the result into
//! `gc_core::debug::HeapSnapshot`.
//!
//! No user code runs while operations are stopped: the walk only reads runtime structures
//! and allocates its vectors. From inside a GC operation (a `Trace` impl run by a mark
//! assist) the stop would wait for the caller, so the walk runs without it and reports no
//! allocation counts. See the collector overview (`crate::design::collector`).

use super::history::{self, Record};
use super::world;
use crate::alloc::heap::HEAP;
use crate::alloc::snapshot::{page_map, PageMap};

/// What a heap snapshot holds, before the public interface shapes it.
pub(crate) struct Parts {
    pub map: PageMap,
    /// Nanoseconds since the runtime started, when the page map was read.
    pub taken_ns: u64,
    /// Cycles finished in all, and the last `history::RETAINED` of them, oldest first.
    pub num_gc: u64,
    pub cycles: Vec<Record>,
    /// The heap goal of the next cycle.
    pub next_gc: u64,
    pub gomaxprocs: usize,
}

/// `crate::debug::heap_snapshot`.
pub(crate) fn heap_snapshot() -> Parts {
    super::init();
    let taken_ns = history::now_ns();
    let stopped = (!world::inside_op()).then(world::stop);
    // SAFETY: allocation counts are read only with operations stopped: no thread cache,
    // sweeper or central-list holder touches a span until `stopped` is dropped.
    let map = unsafe { page_map(&HEAP, stopped.is_some()) };
    drop(stopped);
    let (num_gc, cycles) = {
        let h = history::history();
        (h.total, h.records.iter().copied().collect())
    };
    Parts {
        map,
        taken_ns,
        num_gc,
        cycles,
        next_gc: super::cycle::heap_goal(),
        gomaxprocs: super::config().gomaxprocs.max(1),
    }
}
