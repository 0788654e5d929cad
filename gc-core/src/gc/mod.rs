//! # The collector (Go's `mgc.go`)
//!
//! A tri-colour mark-sweep collector over the heap of `crate::alloc`, with roots found by
//! counting instead of by scanning stacks.
//!
//! ## Layers
//!
//! Four layers, each naming only those below it (arrows point down):
//!
//! ```text
//! public interface   lib.rs re-exports, api.rs (collect, set_gc_percent, set_memory_limit,
//!                    free_os_memory, mem_stats)
//! object model       object/ (Gc, GcCell, AtomicGc, Trace, slices), pool.rs
//! collector          gc/ (this module): entry points re-exported below, modules private
//! allocator          alloc/ (arenas, page heap, spans, caches, sweeping one span)
//! sync               sync.rs (atomics, locks, threads; loom's under --cfg gc_loom)
//! ```
//!
//! The object model reaches the collector only through the entry points this module
//! re-exports (`with_op`, `mallocgc`, `add_root`/`drop_root`/`root_to_edge`, the dirty
//! list, `defer_value`, `register_pool_cleanup`, `Tracer`, the weak targets and cleanups of
//! `specials.rs`, the ephemeron tables' registry); its submodules are private, so
//! the compiler enforces it (the loom models, under `--cfg gc_loom`, open them). The
//! allocator never names the collector: what it must tell the collector it returns (a
//! slot's `charged` bytes), or calls through the hooks the collector installs at start-up
//! (`install_hooks`: dead objects whose drop is user code, eager scavenging). Upcalls from
//! the collector to the layers above go the same way: pool ageing is a function `crate::pool`
//! registers (`register_pool_cleanup`, Go's `poolcleanup`). `crate::descriptor::TypeInfo`,
//! what the allocator records per object and the collector reads back, is neutral.
//!
//! ## The allocation path, by function
//!
//! `Gc::new` (`object/gc.rs`) → `with_op` (`world.rs`: enter a GC operation, get the
//! `Op` token) → `mallocgc` (`malloc.rs`, the path in order):
//! `MCache::alloc_small` / `alloc_tiny` (`alloc/cache.rs`, the fast path) →
//! `MCache::alloc_small_slow` → `Central::cache_span` (`alloc/central.rs`; sweeps with
//! `alloc::sweep::sweep`) → `Heap::alloc_span` (`alloc/heap.rs`, `alloc/pageheap.rs`) →
//! arenas (`alloc/arena.rs`, `alloc/os.rs`); large objects `sweep::reclaim` then
//! `alloc_large`; then the value is written, `roots::allocate_black` and
//! `roots::set_new_root` publish it, and after a slow path `assist::charge` and the trigger
//! check; leaving the operation, `cycle::triggered` wakes the GC thread if asked. Back in
//! `Gc::new`, `Trace::unroot` turns the value's handles into edges.
//!
//! ## Go's files and ours
//!
//! | Go (`src/runtime`)       | here                                                     |
//! |--------------------------|----------------------------------------------------------|
//! | `malloc.go` (`mallocgc`) | `gc/malloc.rs`; structures in `alloc/mod.rs`              |
//! | `mcache.go`              | `alloc/cache.rs`                                         |
//! | `mcentral.go`            | `alloc/central.rs`                                       |
//! | `mheap.go`, `mpagealloc.go` | `alloc/heap.rs`, `alloc/pageheap.rs`, `alloc/arena.rs` |
//! | `mbitmap.go`, `mspan`    | `alloc/span.rs`                                          |
//! | `sizeclasses.go`         | `alloc/sizeclass.rs`                                     |
//! | `mgc.go`                 | `gc/cycle.rs` (steps), `gc/phase.rs` (their order)       |
//! | `mgcmark.go`             | `gc/mark.rs`, `gc/roots.rs`, `gc/checkmark.rs`           |
//! | `mgcwork.go`, `proc.go` (workers) | `gc/mark.rs` (queues), `gc/workers.rs`          |
//! | `mgcsweep.go`            | `gc/sweep.rs` (who sweeps), `alloc/sweep.rs` (one span)  |
//! | `mgcpacer.go`            | `gc/pacer.rs`, `gc/assist.rs` (mark assist)              |
//! | `mgclimit.go`            | `gc/cpu_limiter.rs`                                      |
//! | `mgcscavenge.go`         | `gc/scavenger.rs`, `alloc/released.rs`                   |
//! | `mstats.go`              | `gc/stats.rs`; `gc/gctrace.rs` (`GODEBUG=gctrace=1`)     |
//! | `mfinal.go` (finalizers) | `gc/dropper.rs` (drops of swept objects)                 |
//! | `mheap.go` specials, `runtime/weak`, `mcleanup.go` | `gc/specials.rs` (weak targets, cleanups) |
//! | no counterpart: ephemerons | `gc/ephemeron.rs`, `object/weak_map.rs`               |
//! | stop-the-world, `forEachP` | `gc/world.rs` (operations, the stop handshake)         |
//! | `sync/pool.go`           | `pool.rs`                                                |
//! | `runtime/debug`, `runtime.GC` | `api.rs`                                            |
//! | no counterpart: write barrier on cells | `object/cell.rs`, `gc/dirty.rs`         |
//!
//! ## Roots
//!
//! Rust moves values with `memcpy`, so stacks cannot be scanned precisely. Instead every
//! `Gc` handle a program can own is *rooted*: it holds one count on its object's root
//! counter (a per-slot side table, `alloc::span`). A handle stored inside a heap object is
//! an *edge*: uncounted, found by tracing. Bit 63 of the handle says which.
//!
//! - `Gc::new(value)` moves `value` into the heap, then unroots every handle inside it
//!   (`Trace::unroot`, a walk over `value` only).
//! - `clone` always makes a rooted handle; `drop` of a rooted handle uncounts it. A count
//!   never wraps: taking one past 2^31 (leaked handles; a tiny block's objects share one
//!   counter) aborts (`roots.rs`).
//! - A handle can leave a heap object only through `&mut` access to it, and the only `&mut`
//!   path into the heap is `GcCell::borrow_mut` (and `get_mut`/`into_inner`), or through an
//!   `AtomicGc` slot, whose `load`/`swap` count what they hand out (`object/atomic.rs`).
//!
//! ## Cells
//!
//! A cell's contents are either all rooted (`ROOTED`) or all edges. `borrow_mut` on an edge
//! cell roots the contents once (O(contents)), so whatever the writer moves out, in, or
//! around stays counted; later writes are O(1) (the boa #2773 flaw avoided: no per-write
//! walk). Cells inside heap objects (`HEAP_OWNED`) that were rooted this way go on the dirty
//! list; the next cycle's unroot pass (`dirty.rs`) turns them back into edges if nobody
//! holds them. Cells outside the heap stay rooted, which is what keeps their contents alive.
//! Writing N handles into one cell costs O(N) plus O(contents) per cycle. `GcCell::replace`
//! (and `set`) skips all of this for small values: it roots the outgoing value and unroots
//! the incoming one in place, so an edge cell stays an edge cell. Leaked guards
//! (`mem::forget`) never stall the marker: every `&mut` path resets the cell's lock (moving
//! a cell into the heap is one), and users' shared borrows stop below the marker's own
//! headroom (`object/cell_lock.rs`).
//!
//! Invariant R: *every object that a rooted handle points to has a non-zero root count*,
//! and *a heap object holds only edges, except inside `ROOTED` cells*. Hence an object is
//! live iff its count is non-zero or it is reachable by edges from a live object; and the
//! `Drop` of a dead object touches only edges (no-ops) or rooted handles whose targets are
//! live (their count was non-zero when the roots were scanned), never freed memory.
//!
//! ## The cycle (numbered as in Go; `cycle.rs` drives it with one function per step,
//! `Cycle::gc_start` (1-2), `mark_setup` (3), `mark_done` (4), `mark_termination` (5) and
//! `sweep_start` (6); `phase.rs` checks the order)
//!
//! An allocation that pushes `heap_live` past the pacer's trigger wakes the GC thread
//! (`gc-controller`), which runs the cycle while the allocating thread goes on; `collect()`
//! runs one on the calling thread.
//!
//! 1. **Sweep termination**: finish sweeping the previous cycle (`sweep.rs`), concurrently;
//!    wake the scavenger (`scavenger.rs`), which now knows every free page; age every
//!    `Pool` (`crate::pool`, Go's `clearpools`), dropping values unused for two cycles.
//! 2. **Unroot pass** over the dirty list (`dirty.rs`), concurrent with mutators: no cell
//!    can be swept now, and the pass touches a cell only under the list lock.
//! 3. **Mark setup** (pause 1): stop GC operations (`world.rs`): wait only for threads
//!    *inside* an operation (allocation, sweeping, an `AtomicGc` access), which never block
//!    on user code; a thread parked in user code holding roots is never waited for
//!    (invariant I4). Set `MARKING`, resume; then queue a root-scan job per span, outside
//!    the pause (spans made after mark setup hold only black objects). Every operation
//!    after this sees `MARKING`, none straddles it.
//! 4. **Concurrent mark** (`mark.rs`, `workers.rs`, `assist.rs`): background workers at
//!    25% of `GOMAXPROCS` (the pacer's dedicated/fractional plan, plus idle-priority
//!    workers on the procs it leaves free) scan the root counters and trace with work
//!    stealing, while mutators run. The barriers that keep it sound:
//!    - *allocate-black* (I1): an object allocated while marking is marked at once, before
//!      its value exists, so it is never scanned half-built;
//!    - *rooting shades* (I2): a count taken while marking shades its object; a handle
//!      becoming an edge (`Gc::new`, a cell's `replace`, an `AtomicGc` store) shades it;
//!      an `AtomicGc` store also roots (so shades) the old value: Go's hybrid barrier;
//!    - *cells*: the marker skips `ROOTED` cells (every handle inside is counted) and never
//!      reads a cell a writer holds, waiting out the bounded moment in which a writer roots
//!      an edge cell.
//!
//!    Allocating threads in debt assist (Go's mark assist), first from the workers' banked
//!    credit; with nothing to scan they wait for credit until the cycle ends. An
//!    allocation past the goal before the mark has started waits for it to start.
//!
//!    When the workers find nothing to do, the cycle traces the values of ephemerons
//!    (`WeakMap` entries) whose key is now marked (`ephemeron.rs`; if any, marking goes
//!    on), lists the objects with weak references or cleanups that are still unmarked
//!    (`specials.rs`), then stops operations and checks that no grey object is left in any
//!    queue or shade buffer and no ephemeron has an untraced live value (pause 2); if some
//!    is, it resumes and marks on (Go's `gcMarkDone` loop).
//! 5. **Mark termination** (still pause 2): clear the weak references of the listed objects
//!    found unmarked and detach their cleanups, drop the entries of dead ephemeron keys,
//!    close the shade buffer, clear `MARKING`, flush every thread cache, `sweepgen += 2`,
//!    set `heap_live` to the marked bytes, let the pacer commit the next goal and trigger,
//!    resume; then hand the cleanups and dead entries' values to the dropper.
//! 6. **Concurrent sweep**: a background sweeper, plus threads that sweep the spans of the
//!    size class they are refilling from, plus large allocations reclaiming pages. When
//!    the background sweeper is done, the scavenger returns free pages to the OS down to
//!    its goals.
//!
//! `GODEBUG=gcstoptheworld=1` keeps operations stopped from mark setup to mark
//! termination (the reference behaviour for differential tests); `collect()` marks with all
//! procs, since its caller waits anyway.
//!
//! ## Checking it
//!
//! `GODEBUG=gccheckmark=1` re-marks from the roots at the start of mark termination, into a
//! separate bitmap, and aborts naming the object and its referrer if the mark missed a
//! reachable object (`checkmark.rs`). `GODEBUG=clobberfree=1` keeps every free slot filled
//! with `0xde` and reports a write after free when the slot is allocated again
//! (`clobber.rs`). The races between the pieces above are model-checked with loom
//! (`crate::loom_models`, built with `--cfg gc_loom`).
//!
//! ## Drop: user code never runs inside a GC operation
//!
//! A dead object's drop glue is classified at compile time by
//! `Trace::drop_runs_user_code` (the derive computes it from the fields):
//!
//! - glue that runs only the runtime's and the standard library's code (`Gc`, `GcCell`,
//!   `AtomicGc` handles, `Vec`, `String`, `Box` of such) runs in place while the object is
//!   swept (`sweep.rs`), as before;
//! - anything else (a hand-written `Drop`, a `#[trace(skip)]` field's glue) is user code:
//!   the sweeper moves the object out of its slot into a buffer (first unlisting its cells
//!   from the dirty list, whose entries are addresses) and frees the slot; the dropper
//!   (`dropper.rs`) runs the `Drop` on the copy later, on a `gc-dropper` thread or in
//!   `collect()`, outside every GC operation and runtime lock. Pool values aged out by a
//!   cycle go the same way.
//!
//! So a `Drop` may block, allocate (any size), panic with any payload, call any public
//! function or never return: no stop waits for it (I4), the sweeper never recurses into
//! it, and a stuck dropper is replaced for the jobs behind it. An object's memory is never
//! reused before its `Drop` ran, because the object no longer lives there. A `Drop` runs on
//! another thread than the one that dropped the last handle (hence `T: Send`), and must not
//! dereference a `Gc` it holds (`Trace` obligation 5; the derive enforces it).
//!
//! Every public entry point may be called from anywhere user code runs (a `Drop`, a `Pool`'s
//! `make`, a thread-local destructor). From inside the collector itself (a `Trace` impl run
//! by a mark assist or a mark worker, a panic hook while the runtime panics) `collect()` and
//! `free_os_memory()` return at once and `mem_stats()` reads without stopping operations.

/// Declares the collector's modules: private, so the layers above reach the collector only
/// through the entry points re-exported below; the loom models (`crate::loom_models`,
/// `--cfg gc_loom`) drive the pieces directly, so under loom they are open to the crate.
macro_rules! internal {
    ($($(#[$a:meta])* $m:ident),* $(,)?) => {$(
        $(#[$a])* #[cfg(gc_loom)] pub(crate) mod $m;
        $(#[$a])* #[cfg(not(gc_loom))] mod $m;
    )*};
}

internal! {
    assist,
    checkmark,
    cpu_limiter,
    cycle,
    daemon,
    dirty,
    dropper,
    ephemeron,
    gctrace,
    malloc,
    mark,
    pacer,
    phase,
    roots,
    scavenger,
    specials,
    stats,
    sweep,
    workers,
    world,
}
#[cfg(test)]
mod pacer_sim;

// The collector's entry points for the layers above it: the public interface (`crate::api`)
// and the object model (`crate::object`, `crate::pool`). Nothing else of `gc` is visible
// outside it.
pub(crate) use cycle::{collect, register_pool_cleanup, set_gc_percent, set_memory_limit};
pub(crate) use dirty::{list_cell as list_dirty_cell, unlist_cell as unlist_dirty_cell};
pub(crate) use dropper::defer_value;
pub(crate) use ephemeron::{
    deregister as deregister_ephemerons, is_marked, register as register_ephemerons,
    Table as EphemeronTable,
};
pub(crate) use malloc::{mallocgc, Request};
pub use mark::Tracer;
pub(crate) use roots::{add_root, drop_root, root_to_edge};
#[cfg(debug_assertions)]
pub(crate) use roots::{raise_count_for_test, root_count_for_test, MAX_ROOTS, SKIP_BARRIER};
pub(crate) use scavenger::free_os_memory;
pub(crate) use specials::{add_cleanup, stop_cleanup, weak_target, WeakTarget};
pub(crate) use stats::mem_stats;
pub use stats::{MemStats, SizeClassStats};
pub(crate) use world::with_op;

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
        cycle::init_pacer();
    });
}
