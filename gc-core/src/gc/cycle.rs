//! The collection cycle: the phase sequence of Go's `gcStart` ... `gcMarkTermination`,
//! the trigger, `collect()` and the GOGC / memory-limit knobs.
//!
//! One cycle at a time (`GC_LOCK`). The phases and who waits for whom are described in the
//! collector overview (`crate::gc`); this file is their driver. The pacer (a pure value,
//! `pacer.rs`) lives under `PACER`; its decisions are copied into `HEAP.trigger` for the
//! allocation path to read without a lock.

use super::pacer::{CycleMeasurements, Pacer};
use super::phase::{Event, Phase};
use super::{config, dirty, mark, stats, sweep, world};
use crate::alloc::heap::HEAP;
use crate::sync::{AtomicU8, Mutex, MutexGuard, Ordering};
use std::cell::Cell;
use std::time::Instant;

static GC_LOCK: Mutex<()> = Mutex::new(());
/// The current `Phase` (written under `GC_LOCK`, read by anyone).
static PHASE: AtomicU8 = AtomicU8::new(Phase::Idle as u8);

/// The current phase.
pub(crate) fn phase() -> Phase {
    Phase::from_u8(PHASE.load(Ordering::Acquire))
}

/// Moves the phase machine; an illegal transition is a collector bug.
fn advance(event: Event) {
    let p = phase();
    let next = p.next(event).unwrap_or_else(|| {
        crate::fatal(&format!("illegal GC phase transition: {event:?} in {p:?}"))
    });
    PHASE.store(next as u8, Ordering::Release);
}
static PACER: Mutex<Option<Pacer>> = Mutex::new(None);

thread_local! {
    /// Set on the thread running a cycle, so `collect()` from a `Drop` run by sweep
    /// termination returns instead of deadlocking.
    static IN_CYCLE: Cell<bool> = const { Cell::new(false) };
}

fn pacer() -> MutexGuard<'static, Option<Pacer>> {
    PACER.lock().unwrap_or_else(|e| e.into_inner())
}

/// Creates the pacer from the environment. Called once from `gc::init`.
pub(crate) fn init_pacer() {
    let c = config();
    let p = Pacer::new(c.gogc.percent(), c.memory_limit.max(0) as u64);
    publish(&p);
    *pacer() = Some(p);
    stats::cycles().start = Some(Instant::now());
}

/// Copies the pacer's decision where allocation reads it. The mark is not concurrent yet,
/// so the cycle starts when the heap reaches the goal itself (a concurrent mark starts
/// earlier, at the pacer's trigger, to finish by the goal).
fn publish(p: &Pacer) {
    HEAP.trigger.store(p.heap_goal(), Ordering::Relaxed);
}

/// The current heap goal.
pub(crate) fn heap_goal() -> u64 {
    pacer()
        .as_ref()
        .map_or(super::pacer::HEAP_MINIMUM, |p| p.heap_goal())
}

/// An allocation pushed `heap_live` past the trigger. Runs a cycle unless one is running.
pub(crate) fn triggered() {
    if IN_CYCLE.with(|c| c.get()) {
        return;
    }
    let Ok(_g) = GC_LOCK.try_lock() else { return };
    if HEAP.heap_live.load(Ordering::Relaxed) >= HEAP.trigger.load(Ordering::Relaxed) {
        run_cycle(false);
    }
}

/// Runs a full collection (Go's `runtime.GC()`): waits for a cycle in progress, runs a
/// complete new one, and returns after sweeping has finished, so `mem_stats()` then
/// describes only reachable objects.
///
/// Called from inside a `Drop` that the collector itself is running, it returns at once.
pub fn collect() {
    super::init();
    if IN_CYCLE.with(|c| c.get()) {
        return;
    }
    let _g = GC_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    run_cycle(true);
    IN_CYCLE.with(|c| c.set(true));
    sweep::finish();
    advance(Event::SweepDone);
    IN_CYCLE.with(|c| c.set(false));
}

/// Sets GOGC (`debug.SetGCPercent`): a negative value turns automatic collection off.
/// Returns the previous setting (-1 for off).
pub fn set_gc_percent(percent: i32) -> i32 {
    super::init();
    let mut g = pacer();
    let p = g.as_mut().expect("pacer initialised");
    let new = if percent < 0 {
        None
    } else {
        Some(percent as u32)
    };
    let old = p.set_gogc(new);
    publish(p);
    old.map_or(-1, |v| v.min(i32::MAX as u32) as i32)
}

/// Sets the soft memory limit in bytes (`debug.SetMemoryLimit`); a negative value only
/// reads it. Returns the previous limit (`i64::MAX` = no limit).
pub fn set_memory_limit(bytes: i64) -> i64 {
    super::init();
    let mut g = pacer();
    let p = g.as_mut().expect("pacer initialised");
    if bytes < 0 {
        return p.memory_limit().min(i64::MAX as u64) as i64;
    }
    let old = p.set_memory_limit(bytes as u64);
    publish(p);
    old.min(i64::MAX as u64) as i64
}

/// One cycle, with `GC_LOCK` held.
fn run_cycle(forced: bool) {
    IN_CYCLE.with(|c| c.set(true));
    let workers = config().gomaxprocs.max(1);
    advance(Event::Start);

    // 1. Sweep termination: every span of the previous cycle is swept.
    let t_sweep = Instant::now();
    sweep::finish();
    let sweep_ns = t_sweep.elapsed().as_nanos() as u64;
    advance(Event::SweepDone);

    // 2. Unroot pass, concurrent with mutators: written cells inside heap objects go back
    //    to being edges (cells written from now on stay roots for this cycle).
    let t_unroot = Instant::now();
    dirty::unroot_pass();
    let unroot_ns = t_unroot.elapsed().as_nanos() as u64;
    advance(Event::Unrooted);

    // 3. Stop GC operations (only threads inside one are waited for, I4) and flush caches,
    //    so every span is in a central list and every allocation counted.
    let t0 = Instant::now();
    let stopped = world::stop();
    stopped.flush_all_caches();
    let heap_live_start = HEAP.heap_live.load(Ordering::Relaxed);
    if let Some(p) = pacer().as_mut() {
        p.start_cycle(heap_live_start, workers);
    }

    // 4. Mark from the roots (root counts > 0), in parallel, until no grey object is left.
    let t_mark = Instant::now();
    let marked = mark::mark_heap(workers);
    let mark_ns = t_mark.elapsed().as_nanos() as u64;
    advance(Event::MarkDone);

    // 5. Mark termination: the marked heap is the new live heap; flip sweepgen so every
    //    span needs sweeping; let the pacer set the next goal.
    let spans = HEAP.span_count();
    HEAP.sweep_unclaimed.store(spans, Ordering::Relaxed);
    HEAP.sweep_pending.store(spans, Ordering::Relaxed);
    HEAP.advance_sweepgen();
    HEAP.heap_live.store(marked.marked_bytes, Ordering::Relaxed);
    {
        let mut g = pacer();
        let p = g.as_mut().expect("pacer initialised");
        p.end_cycle(&CycleMeasurements {
            heap_live: heap_live_start,
            heap_marked: marked.marked_bytes,
            heap_scan_work: marked.scanned_bytes,
            root_scan_work: 0,
            mark_wall_ns: mark_ns,
            assist_ns: 0,
            idle_mark_ns: 0,
            procs: workers,
            sweep_done: false,
        });
        publish(p);
    }
    let threads = stopped.threads();
    drop(stopped);
    advance(Event::Resumed);
    let pause_ns = t0.elapsed().as_nanos() as u64;

    stats::cycles().record(
        forced,
        pause_ns,
        sweep_ns + unroot_ns + mark_ns * workers as u64,
    );
    if config().debug.gctrace > 0 {
        super::trace::print_cycle(
            forced,
            heap_live_start,
            marked,
            pause_ns,
            mark_ns,
            sweep_ns,
            workers,
            threads,
        );
    }

    // 6. Concurrent sweep.
    sweep::wake();
    IN_CYCLE.with(|c| c.set(false));
}
