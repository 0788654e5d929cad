//! The collector (Go's `mgc.go`): a tri-colour mark-sweep collector over the allocator's
//! heap, with roots found by counting. Its design overview (layers, roots, cells, the
//! cycle step by step, drops, and Go's files beside ours) is published as
//! [`crate::design::collector`] (`docs/design/collector.md`), the single copy: read it
//! before changing anything here. This module declares the collector's files and
//! re-exports the entry points the layers above call.

// The collector's modules: private, so the layers above reach the collector only through
// the entry points re-exported below. The loom models (`--cfg gc_loom`) drive the pieces
// directly, so they are declared here, as a child of `gc` that sees its modules (and
// named `crate::loom_models` by a `use` at the crate root).
mod assist;
mod checkmark;
mod control;
mod cpu_limiter;
mod cycle;
mod daemon;
mod dirty;
mod drain;
mod dropper;
mod ephemeron;
mod gctrace;
mod grey_list;
mod heap_profile;
mod history;
mod local_queue;
#[cfg(all(test, gc_loom))]
#[path = "../loom_models/mod.rs"]
pub(crate) mod loom_models;
mod malloc;
mod mark;
mod mark_done;
mod mark_termination;
mod metrics;
mod move_in;
mod moved;
mod oblets;
mod pacer;
#[cfg(test)]
mod pacer_sim;
mod periodic;
mod phase;
mod prefetch_fifo;
mod reroot;
mod root_cache;
mod roots;
mod scavenger;
mod shade;
mod snapshot;
mod span_cache;
mod specials;
mod stalls;
mod stats;
mod sweep;
#[cfg(debug_assertions)]
mod test_gate;
mod tracer;
mod worker_mode;
mod worker_pool;
mod workers;
mod world;
mod young;

// The collector's entry points for the layers above it: the public interface (`crate::api`)
// and the object model (`crate::object`, `crate::pool`). Nothing else of `gc` is visible
// outside it.
pub(crate) use cycle::{collect, register_pool_cleanup, set_gc_percent, set_memory_limit};
#[cfg(all(test, not(gc_loom)))]
pub(crate) use cycle::{paced_cycle_for_test, wait_for_cycle_for_test};
#[cfg(all(test, not(gc_loom)))]
pub(crate) use dirty::bias_suspensions;
#[cfg(test)]
pub(crate) use dirty::suspend_biases;
#[cfg(all(test, not(gc_loom)))]
pub(crate) use dirty::KEEP_PASSES;
pub(crate) use dirty::{
    biases_suspended, held_through_last_pass, list_cell as list_dirty_cell, note_held_cell,
    note_rooted_cell, unlist_cell as unlist_dirty_cell, write_epoch, written_recently,
    written_within, MAX_EPOCH as MAX_WRITE_EPOCH, ON_LIST,
};
pub(crate) use dropper::defer_value;
pub(crate) use ephemeron::{
    deregister as deregister_ephemerons, is_marked, register as register_ephemerons,
    Table as EphemeronTable,
};
pub(crate) use heap_profile::heap_profile;
pub use heap_profile::TypeStats;
pub(crate) use history::RETAINED as RETAINED_CYCLES;
pub(crate) use malloc::{mallocgc, Request};
pub use mark::Tracer;
pub(crate) use move_in::{count_edges, in_move_in, keep_rooted as keep_moved_in_rooted, MoveIn};
pub(crate) use periodic::set_period as set_forcegc_period;
pub(crate) use reroot::note as note_reroot;
#[cfg(test)]
pub(crate) use roots::flush_root_cache;
/// Public for `Trace::root_into`'s signature only (`crate::__private`).
pub use roots::RootRun;
pub(crate) use roots::{
    add_root, bulk_rooting, drop_root, root_run, root_to_edge, unroot_new, unroot_run,
    ROOT_RUN_CHUNK, ROOT_RUN_MIN,
};
#[cfg(debug_assertions)]
pub(crate) use roots::{raise_count_for_test, root_count_for_test, MAX_ROOTS, SKIP_BARRIER};
pub(crate) use scavenger::free_os_memory;
pub(crate) use snapshot::heap_snapshot;
pub(crate) use specials::{add_cleanup, stop_cleanup, weak_target, WeakTarget};
pub(crate) use stats::mem_stats;
pub use stats::{MemStats, SizeClassStats};
#[cfg(debug_assertions)]
pub(crate) use test_gate::{UNROOT_CHUNKS as UNROOT_CHUNKS_GATE, YOUNG_SCAN as YOUNG_SCAN_GATE};
pub(crate) use tracer::CHUNK_EDGES;
pub(crate) use world::{with_op, Op, OpScope};
/// The collector's figures for `gc_core::metrics` (read without stopping anything).
pub(crate) mod metrics_source {
    pub(crate) use super::metrics::*;
}

use crate::env::Config;

use crate::sync::{Once, OnceLock};

static CONFIG: OnceLock<Config> = OnceLock::new();
crate::sync::global! {
    static INIT: Once = Once::new();
}

/// The environment configuration, read once.
pub(crate) fn config() -> &'static Config {
    CONFIG.get_or_init(Config::load)
}

/// Gives the allocator the collector's side of the allocation path
/// (`crate::alloc::hooks`). Idempotent; `init` calls it, and so do the loom models, which
/// drive the allocator without starting the runtime.
pub(crate) fn install_hooks() {
    crate::alloc::hooks::install(crate::alloc::hooks::Hooks {
        defer_drops: dropper::defer_dead,
        eager_bytes: scavenger::eager_bytes,
        note_eager: scavenger::note_eager,
    });
}

/// One-time start-up: fences, arena table, environment, pacer.
pub(crate) fn init() {
    INIT.call_once(|| {
        install_hooks();
        crate::sync::init_fences();
        crate::alloc::arena::init();
        crate::alloc::clobber::init(config().debug.clobberfree);
        crate::alloc::cache::time_slow_paths(config().debug.stalltrace);
        cycle::init_pacer();
    });
}
