//! # The collector (Go's `mgc.go`)
//!
//! A tri-colour mark-sweep collector over the heap of `crate::alloc`, with roots found by
//! counting instead of by scanning stacks.
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
//! - `clone` always makes a rooted handle; `drop` of a rooted handle uncounts it.
//! - A handle can leave a heap object only through `&mut` access to it, and the only `&mut`
//!   path into the heap is `GcCell::borrow_mut` (and `get_mut`/`into_inner`).
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
//! the incoming one in place, so an edge cell stays an edge cell.
//!
//! Invariant R: *every object that a rooted handle points to has a non-zero root count*,
//! and *a heap object holds only edges, except inside `ROOTED` cells*. Hence an object is
//! live iff its count is non-zero or it is reachable by edges from a live object; and the
//! `Drop` of a dead object touches only edges (no-ops) or rooted handles whose targets are
//! live (their count was non-zero when the roots were scanned), never freed memory.
//!
//! ## The cycle (numbered as in Go; `cycle.rs` drives it, `phase.rs` checks the order)
//!
//! 1. **Sweep termination**: finish sweeping the previous cycle (`sweep.rs`).
//! 2. **Unroot pass** over the dirty list (`dirty.rs`), concurrent with mutators: no cell
//!    can be swept now, and the pass touches a cell only under the list lock.
//! 3. **Stop GC operations** (`world.rs`): wait only for threads *inside* an operation
//!    (allocation, sweeping), which never block on user code; a thread parked in user code
//!    holding roots is never waited for (invariant I4). Flush every thread cache.
//! 4. **Mark setup and mark** (`mark.rs`): set `MARKING`; parallel workers scan every span's
//!    root counters and trace from the roots with work stealing until no grey object is
//!    left. Threads outside operations keep running: they may clone, drop and write cells.
//!    Rooting while `MARKING` shades the object (I2, `roots.rs`), and the marker never reads
//!    a cell a writer holds (it skips rooted cells and waits out the bounded moment in which
//!    a writer roots an edge cell).
//! 5. **Mark termination**: clear `MARKING`, take the last shades, `sweepgen += 2`, set
//!    `heap_live` to the marked bytes, let the pacer set the next goal, resume.
//! 6. **Concurrent sweep**: a background sweeper, plus threads that sweep the spans of the
//!    size class they are refilling from, plus large allocations reclaiming pages.
//!
//! In this version allocation waits while the heap is marked (step 4 happens with GC
//! operations stopped); everything else runs concurrently.
//!
//! ## Drop
//!
//! An object's `Drop` runs when it is swept, on the sweeping thread (so `T: Send`), inside
//! a GC operation. It may allocate. It must not dereference a `Gc` it holds
//! (`Trace` obligation 5; the derive enforces it).

pub(crate) mod assist;
// Pure values: some accessors exist for tests and `gcpacertrace` only.
#[allow(dead_code)]
pub(crate) mod cpu_limiter;
pub(crate) mod cycle;
pub(crate) mod dirty;
pub(crate) mod mark;
#[allow(dead_code)]
pub(crate) mod pacer;
#[cfg(test)]
mod pacer_sim;
pub(crate) mod phase;
pub(crate) mod roots;
pub(crate) mod stats;
pub(crate) mod sweep;
pub(crate) mod trace;
pub(crate) mod workers;
pub(crate) mod world;

use crate::env::Config;

use std::sync::{Once, OnceLock};

static CONFIG: OnceLock<Config> = OnceLock::new();
static INIT: Once = Once::new();

/// The environment configuration, read once.
pub(crate) fn config() -> &'static Config {
    CONFIG.get_or_init(Config::load)
}

/// One-time start-up: fences, arena table, environment, pacer.
pub(crate) fn init() {
    INIT.call_once(|| {
        crate::sync::init_fences();
        crate::alloc::arena::init();
        let _ = config();
        cycle::init_pacer();
    });
}
