//! Loom models of every protocol in which threads race. Built only for
//! `RUSTFLAGS="--cfg gc_loom" cargo test -p gc-core --release loom` (see the README).
//! Declared inside `crate::gc`, so that they reach the collector's private modules, and
//! named `crate::loom_models` at the crate root.
//!
//! Each model drives the runtime's real functions (span claiming, central sets, the world
//! stop handshake, root counting, the shade buffer, the dirty list, cache flushing) on
//! spans it builds itself (`fixture`), never the whole runtime: no GC thread, sweeper or
//! mark worker is started. Under `gc_loom` the `sync` shim swaps every atomic, lock,
//! `UnsafeCell` and thread-local for loom's, and every global is re-created for each
//! execution, so loom explores the interleavings and checks the `UnsafeCell` accesses for
//! races. Each model finishes with `LOOM_MAX_PREEMPTIONS=2` (the default here when the
//! variable is unset).
//!
//! | model file       | protocol                                                        |
//! |------------------|-----------------------------------------------------------------|
//! | `sweep.rs`       | span claiming by `sweepgen` CAS; central span sets push/pop     |
//! | `termination.rs` | grey-queue termination detection (shade buffer vs `try_finish`);|
//! |                  | a thread's own shade buffer, flushed by the stops' drain        |
//! | `grey_list.rs`   | the shared grey lists' lock-free stacks: concurrent pushes and  |
//! |                  | pops hand every item out exactly once, ABA included             |
//! | `handshake.rs`   | mark setup stop handshake vs an allocating mutator              |
//! | `roots.rs`       | root counting (a root, a run of roots) vs the root scan;        |
//! |                  | four-bit counters at the spill boundary; a word's batch         |
//! | `dirty.rs`       | lazy unrooting of dirty `GcCell`s vs writers and drops; two     |
//! |                  | writers sharing a span's dirty summary vs the pass; a large     |
//! |                  | cell kept rooted by `Gc::new` vs the pass; a forced cycle's     |
//! |                  | rooting of a large cell again vs a writer                       |
//! | `atomic.rs`      | two `AtomicGc` stores into a heap slot vs the mark: the value   |
//! |                  | left is marked, no root count lost or doubled                   |
//! | `cell_borrows.rs`| `GcCell` borrows and `swap` across threads: block, never panic; |
//! |                  | the collector's hold on a cell vs a writer and readers          |
//! | `cell_bias.rs`   | a cell's owner reading under its bias vs a foreign writer, the  |
//! |                  | unroot pass and the marker                                      |
//! | `cell_scan.rs`   | the marker's scan of a cell's list in chunks, the lock let go   |
//! |                  | between two, vs a writer taking a handle out                    |
//! | `cell_unroot.rs` | the unroot pass making a large list edges in chunks, the cell   |
//! |                  | let go between two, vs a writer taking a handle out, a reader   |
//! | `cache_exit.rs`  | thread-cache flush at thread exit vs a stopped-world flush      |
//! | `weak.rs`        | weak upgrade vs mark termination and the clearing of targets    |
//! | `slot_types.rs`  | a span's slot types read by a marker while the owner allocates  |
//! | `young.rs`       | young objects allocated white vs the young scan: one stored     |
//! |                  | into a scanned object is marked, one dropped before stays white |
//! | `gc/workers.rs`  | a mark round's end (`stop_and_settle`) vs a worker about to     |
//! | (`loom_round`)   | drain: none drains once the round settled, the settling ends,   |
//! |                  | and it sees every item a drain left queued                      |
//!
//! A model that passes with its protocol broken proves nothing, so each was run once with a
//! deliberate bug, then the bug reverted (the twenty-second session; `grey_list.rs` and
//! `cell_borrows.rs` earlier, as their headers say): with the rooting's shade switched off
//! (`roots::barrier_on` false) the `roots.rs` barrier models, `young.rs`'s stored object,
//! both `atomic.rs` models and `weak.rs` fail; with `try_finish` ignoring the shade buffer,
//! `termination.rs`; with the unroot pass unrooting a cell a writer holds, `dirty.rs`'s
//! list model; with operations entered during a stop, `handshake.rs` and `cache_exit.rs`;
//! with the compact type table published `Relaxed`, `slot_types.rs`; without the heads'
//! tags or with a relaxed push, `grey_list.rs`; without a fence or a wake,
//! `cell_borrows.rs`; without either side's fence, the owner's look at the suspension or
//! the wake in its last release, `cell_bias.rs` (its header says which model); with a
//! cell kept by `Gc::new` recorded dirty before its flags say rooted and heap-owned, or
//! with the forced cycle's rooting again not looking at `ROOTED` first, `dirty.rs`'s two
//! newest models (twenty-sixth session); without the stop's flush of the threads' own
//! shade buffers, `termination.rs`'s second model; without the shade of a run's roots,
//! `roots.rs`'s run model (thirtieth session); reading a chunk of a cell's list without
//! the read lock, resuming it without looking at `ROOTED`, or the shade off,
//! `cell_scan.rs` (thirty-second session). A sweep with a load-and-store claim still
//! passes `sweep.rs`: spans are claimed only out of a central set, whose mutex already
//! gives each one owner (the claim's compare-and-swap is a check, fatal if it fails).
//!
//! See the collector overview (`crate::design::collector`) for the protocols themselves.

mod atomic;
mod cache_exit;
mod cell_bias;
mod cell_borrows;
mod cell_scan;
mod cell_unroot;
mod dirty;
mod fixture;
mod grey_list;
mod handshake;
mod roots;
mod slot_types;
mod sweep;
mod termination;
mod weak;
mod young;

/// Runs `f` under loom, bounded by `LOOM_MAX_PREEMPTIONS` (2 if unset).
pub(crate) fn model(f: impl Fn() + Sync + Send + 'static) {
    crate::gc::install_hooks();
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    // The heap's globals are built on a model thread's stack, too big for loom's default:
    // run the body on a model thread with a larger one.
    let f = std::sync::Arc::new(f);
    let executions = std::sync::Arc::new(crate::sync::UntrackedMutex::new(0u64));
    let counter = executions.clone();
    let start = std::time::Instant::now();
    b.check(move || {
        *counter.lock().unwrap() += 1;
        let f = f.clone();
        loom::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || f())
            .unwrap()
            .join()
            .unwrap();
        // The globals are dropped when this closure returns: the threads' exit guards
        // (which use them) must have run by then.
        wait_for_thread_exits();
    });
    eprintln!(
        "loom: {} executions in {:.2} s",
        executions.lock().unwrap(),
        start.elapsed().as_secs_f64()
    );
}

/// `loom::thread` for the models: threads with a 1 MiB stack. Loom runs model threads as
/// coroutines with 32 KiB stacks by default, which some of the runtime's operations under
/// loom's instrumented atomics outgrow (a thread's exit flush did, after unrelated code
/// changed its inlining).
mod thread {
    pub(super) fn spawn<F, T>(f: F) -> loom::thread::JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        loom::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(f)
            .expect("loom starts model threads")
    }
}

/// Waits until every thread that used the runtime has run its exit guard (flushed its
/// cache and left the registry). Loom's `join` returns before the joined thread's
/// thread-locals are destroyed, so a model that checks what exit guards do calls this
/// after joining.
fn wait_for_thread_exits() {
    while crate::gc::world::registered() != 0 {
        loom::thread::yield_now();
    }
}
