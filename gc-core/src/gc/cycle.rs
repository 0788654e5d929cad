//! The collection cycle: the phase sequence of Go's `gcStart` ... `gcMarkTermination`,
//! the trigger and `collect()`. This file drives the steps (`run_cycle`, one `Cycle`
//! carried from step to step) and runs steps 1-3 (Go's `gcStart`: sweep termination, the
//! unroot pass, mark setup) and 6 (sweep start); step 4, the `gcMarkDone` loop, is in
//! `mark_done.rs`, step 5 in `mark_termination.rs`, both methods of `Cycle`.
//!
//! One cycle at a time (`GC_LOCK`). The phases and who waits for whom are described in the
//! collector overview (`crate::design::collector`); this file is their driver. The pacer (a
//! pure value, `pacer.rs`) and the CPU limiter live under `CONTROL` (`control.rs`, with the
//! GOGC / memory-limit knobs); the pacer's decisions are copied into `HEAP.trigger` and
//! `HEAP.goal` for the allocation path to read without a lock. `collect()` also finishes
//! sweeps and runs queued drops itself, outside `GC_LOCK` (`dropper.rs`).

use super::control::{control, feed_limiter, procs, publish, with_pacer};
pub(crate) use super::control::{
    heap_goal, init_pacer, pacer_settings, refresh_memory_goal, set_gc_percent, set_memory_limit,
};
use super::daemon::Daemon;
use super::pacer::WorkerPlan;
use super::phase::{Event, Phase};
use super::{config, dirty, mark, sweep, world};
use crate::alloc::external;
use crate::alloc::heap::HEAP;
use crate::sync::{AtomicU8, Mutex, Ordering};
use std::cell::Cell;
use std::time::Instant;

crate::sync::global! {
    static GC_LOCK: Mutex<()> = Mutex::new(());
}
crate::sync::global! {
    /// The current `Phase` (written under `GC_LOCK`, read by anyone).
    static PHASE: AtomicU8 = AtomicU8::new(Phase::Idle as u8);
}

/// The current phase.
pub(crate) fn phase() -> Phase {
    // Acquire pairs with the Release stores in `advance` (and the loom `set_phase`), but
    // nothing passes beyond the phase itself: every reader that acts on the cycle's state
    // holds `GC_LOCK`, as every writer does, and `wait_for_mark_if_over_goal` only polls
    // it. Relaxed would do.
    Phase::from_u8(PHASE.load(Ordering::Acquire))
}

/// Sets the phase directly (the loom models drive single steps of a cycle).
#[cfg(all(test, gc_loom))]
pub(crate) fn set_phase(p: Phase) {
    // Release pairs with the Acquire load in `phase`; as there, only the phase passes.
    PHASE.store(p as u8, Ordering::Release);
}

/// Moves the phase machine; an illegal transition is a collector bug.
pub(super) fn advance(event: Event) {
    let p = phase();
    let next = p.next(event).unwrap_or_else(|| {
        crate::fatal(&format!("illegal GC phase transition: {event:?} in {p:?}"))
    });
    // Release pairs with the Acquire load in `phase`; as there, only the phase passes (the
    // cycle's state reaches its readers through `GC_LOCK`). Relaxed would do.
    PHASE.store(next as u8, Ordering::Release);
}

crate::sync::thread_local! {
    /// Set on the thread running a cycle (and for good on mark workers): `collect()` there
    /// returns at once, and waits for the cycle are skipped, since the cycle is this thread.
    pub(super) static IN_CYCLE: Cell<bool> = const { Cell::new(false) };
}

/// Sets `IN_CYCLE` until dropped, then restores it, also when unwinding: a thread whose
/// flag stayed set would find every later `collect()` a silent no-op.
struct InCycle(bool);

impl InCycle {
    fn enter() -> InCycle {
        InCycle(IN_CYCLE.with(|c| c.replace(true)))
    }
}

impl Drop for InCycle {
    fn drop(&mut self) {
        IN_CYCLE.with(|c| c.set(self.0));
    }
}

/// Marks the calling thread as one of the collector's own for good (a mark worker): a
/// `collect()` from a `Trace` impl running there returns at once instead of waiting for the
/// cycle the thread is working for.
pub(crate) fn mark_collector_thread() {
    IN_CYCLE.with(|c| c.set(true));
}

// ---------------------------------------------------------------------------------------
// Triggering: an allocation that crosses the trigger wakes the GC thread, which runs the
// cycle while the allocating thread goes on (Go's gcStart hands marking to workers).

crate::sync::global! {
    static GC_THREAD: Daemon = Daemon::new("gc-controller");
}

/// An allocation pushed `heap_live` past the trigger (wake the GC thread), or grew the
/// heap (refresh the memory-limit goal, which shrinks as the runtime's own memory grows;
/// Go recomputes it at every trigger test). Called outside any GC operation.
pub(crate) fn triggered() {
    super::dropper::help_if_no_threads();
    if HEAP.grew.swap(false, Ordering::Relaxed) {
        refresh_memory_goal();
    }
    if HEAP.live_total() < HEAP.trigger.load(Ordering::Relaxed) {
        return;
    }
    if !GC_THREAD.wake(gc_thread) {
        // No GC thread (it could not be started): the allocating thread runs the cycle, as
        // Go's does (`gcStart`), unless it is running one already (a `Drop` in the cycle).
        if !IN_CYCLE.with(|c| c.get()) {
            gc_thread();
        }
        return;
    }
    wait_for_mark_if_over_goal();
}

/// Past the goal with no mark running yet (the GC thread has not reached mark setup), the
/// allocating thread waits for marking to start, where assists take over pacing it. Go's
/// allocating goroutine runs `gcStart` itself, with the same effect; here the GC thread
/// does, and on a busy machine it may get the CPU late, so without this wait the heap
/// could run far past the goal first. Bounded: it ends when marking starts, when no cycle
/// is pending any more, or after `MAX_WAIT`.
fn wait_for_mark_if_over_goal() {
    const MAX_WAIT: std::time::Duration = std::time::Duration::from_millis(100);
    if IN_CYCLE.with(|c| c.get()) {
        return;
    }
    let over = || HEAP.live_total() >= HEAP.goal.load(Ordering::Relaxed);
    let start = Instant::now();
    let mut backoff = crate::sync::Backoff::default();
    while over() && !super::roots::MARKING.load(Ordering::Relaxed) && start.elapsed() < MAX_WAIT {
        let pending = GC_THREAD.pending() || !matches!(phase(), Phase::Idle | Phase::Sweep);
        if !pending {
            return;
        }
        backoff.snooze();
    }
}

/// The GC thread's work per wake-up: a cycle, unless one already ran past the trigger.
fn gc_thread() {
    let _in_cycle = InCycle::enter();
    let _g = GC_LOCK.lock();
    if HEAP.live_total() >= HEAP.trigger.load(Ordering::Relaxed) {
        run_cycle(false);
    }
}

/// Tests: waits for the cycle in progress, if any, to end.
#[cfg(all(test, not(gc_loom)))]
pub(crate) fn wait_for_cycle_for_test() {
    drop(GC_LOCK.lock());
}

/// Tests: `collect()`, but its cycle is a background one (not forced, as the pacer's).
#[cfg(all(test, not(gc_loom)))]
pub(crate) fn paced_cycle_for_test() {
    collect_with(false);
}

/// Whether `GOGC` is on (a periodic cycle is allowed: Go's `gcTriggerTime` test).
pub(crate) fn gogc_on() -> bool {
    with_pacer(|p| p.gogc().is_some())
}

/// The periodic thread's cycle (`periodic.rs`, Go's `forcegchelper`): a background cycle,
/// not forced, run on the calling thread, unless another ended within the period while it
/// waited for the cycle lock, or `GOGC` went off.
pub(crate) fn periodic_cycle() {
    let _in_cycle = InCycle::enter();
    let _g = GC_LOCK.lock();
    if super::periodic::due(gogc_on()) {
        run_cycle(false);
    }
}

/// The pool ageing hook (Go's `poolcleanup`, which `sync` registers with the runtime).
static POOL_CLEANUP: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Registers the function every cycle calls at its start to age the pools (`crate::pool`,
/// on its first `Pool::new`); later calls keep the first.
pub(crate) fn register_pool_cleanup(f: fn()) {
    let _ = POOL_CLEANUP.set(f);
}

/// `crate::api::collect`.
pub(crate) fn collect() {
    collect_with(true);
}

/// `collect`'s work, its cycle forced or not (`Cycle::forced`).
fn collect_with(forced: bool) {
    super::init();
    if IN_CYCLE.with(|c| c.get()) || world::inside_op() {
        return;
    }
    let pause = super::dropper::pause();
    // Earlier cycles' garbage first: finish their sweep and drops, outside the cycle's lock
    // (a `Drop` may block), since a `Drop` may release the last root of an object this
    // cycle should then find unreachable. A cycle started meanwhile by the GC thread leaves
    // new garbage: try again, a few times at most.
    for attempt in 0.. {
        sweep_running_drops(&pause);
        pause.settle();
        let _g = GC_LOCK.lock();
        // Acquire pairs with the Release half of every sweep's `fetch_sub`
        // (`crate::alloc::sweep`), but only decides whether to collect now: `run_cycle`'s
        // sweep termination (`sweep::finish`) acquires the count again before anything
        // depends on the sweeps. Relaxed would do.
        let swept = HEAP.sweep_pending.load(Ordering::Acquire) == 0;
        if attempt == 3 || (swept && super::dropper::settled()) {
            run_cycle(forced);
            break;
        }
    }
    // Sweep with the drops of what is swept run as it goes, outside the cycle's lock (a
    // `Drop` may block: no cycle may wait for it).
    sweep_running_drops(&pause);
    {
        let _g = GC_LOCK.lock();
        let _in_cycle = InCycle::enter();
        sweep::finish();
        // Another cycle may have run meanwhile and finished its own sweep.
        if phase() == Phase::Sweep {
            advance(Event::SweepDone);
        }
    }
    pause.take().run();
    swept_external();
}

/// A cycle's sweep ended (and with it the drops of the dead objects that free what they
/// owned, except those still queued for the dropper): what the survivors own outside the
/// heap is the pacer's new external base. Without the counting allocator there is none,
/// and nothing to do.
pub(crate) fn swept_external() {
    if !external::on() {
        return;
    }
    with_pacer(|p| {
        p.set_external(external::survivors());
        publish(p);
    });
}

/// Sweeps what is left to sweep on the calling thread, running the drops it queues as it
/// goes (`collect()`, outside the cycle's lock: a `Drop` may block).
fn sweep_running_drops(pause: &super::dropper::Pause) {
    while sweep::sweep_one() {
        pause.run_queued();
    }
}

/// Timings of one cycle, for statistics and gctrace.
#[derive(Default)]
pub(crate) struct CycleTimes {
    /// Mark setup pause (Go's sweep termination STW).
    pub setup_ns: u64,
    /// Concurrent mark, wall time.
    pub mark_ns: u64,
    /// Mark termination pause (the final one).
    pub term_ns: u64,
    /// All pauses of the cycle (setup, termination attempts, and with `gcstoptheworld=1`
    /// the whole mark).
    pub pause_ns: u64,
    /// Time mutators spent scanning in assists (waits for credit excluded).
    pub assist_ns: u64,
    /// Background workers' CPU time marking.
    pub worker_ns: u64,
    /// Idle workers' CPU time marking.
    pub idle_ns: u64,
    /// Sweep termination and unroot pass (concurrent, by the GC thread).
    pub prepare_ns: u64,
}

/// One cycle, with `GC_LOCK` held: the steps of Go's `gcStart` ... `gcMarkTermination`,
/// each a method of [`Cycle`] that hands the next what it needs.
fn run_cycle(forced: bool) {
    let _in_cycle = InCycle::enter();
    let mut cycle = Cycle::new(forced);
    cycle.gc_start();
    let (held, plan) = cycle.mark_setup();
    let stopped = cycle.mark_done(held, plan);
    cycle.mark_termination(stopped);
    sweep_start();
    if forced {
        // The large cells the pass unrooted that a paced pass would have kept, rooted
        // again here rather than by their next writers (`reroot.rs`).
        super::reroot::run();
    }
}

/// One cycle's settings and measurements, carried from step to step.
pub(super) struct Cycle {
    pub(super) forced: bool,
    pub(super) procs: usize,
    /// `GODEBUG=gcstoptheworld=1`: operations stay stopped from mark setup to mark
    /// termination.
    pub(super) stw: bool,
    pub(super) t: CycleTimes,
    /// Start of mark setup (the first pause).
    pub(super) setup_start: Instant,
    /// `heap_live` at mark setup (the scan work the pacer expects).
    pub(super) heap_live_start: u64,
    /// The same plus external memory (`HEAP.live_total()`): the heap the cycle started at.
    pub(super) live_start_total: u64,
    /// The heap goal the cycle started with (for gctrace).
    pub(super) goal: u64,
    /// Objects with specials that were unmarked just before the last stop
    /// (`specials::candidates`): the only ones mark termination may find dead.
    pub(super) specials: Vec<usize>,
    /// When the cycle began, concurrent mark began, and the final pause began (for the
    /// cycle history, `history.rs`).
    pub(super) started: Instant,
    pub(super) mark_start: Instant,
    pub(super) term_start: Instant,
}

impl Cycle {
    fn new(forced: bool) -> Cycle {
        Cycle {
            forced,
            procs: procs(),
            stw: config().debug.gcstoptheworld > 0,
            t: CycleTimes::default(),
            setup_start: Instant::now(),
            heap_live_start: 0,
            live_start_total: 0,
            goal: 0,
            specials: Vec::new(),
            started: Instant::now(),
            mark_start: Instant::now(),
            term_start: Instant::now(),
        }
    }

    /// Steps 1 and 2, concurrent with mutators: sweep termination (every span of the
    /// previous cycle swept, unlike Go's, which finishes inside the pause), the scavenger
    /// woken, pools aged, and the unroot pass.
    fn gc_start(&mut self) {
        advance(Event::Start);
        let t0 = Instant::now();
        self.started = t0;
        sweep::finish();
        advance(Event::SweepDone);
        swept_external();
        // The previous cycle's free pages are all known now (back-to-back cycles leave the
        // background sweeper no pass of its own to finish).
        super::scavenger::wake();
        // Pools drop their victim lists and age their primary lists (Go's `clearpools` at
        // `gcStart`, through the hook `crate::pool` registered); the dropped values go to
        // the dropper.
        if let Some(cleanup) = POOL_CLEANUP.get() {
            cleanup();
        }
        // Written cells inside heap objects go back to being edges (cells written from now
        // on stay roots for this cycle), except, in a paced cycle, large ones written in the
        // last few cycles (`dirty.rs`, "Large written cells stay rooted"). A forced cycle
        // unroots them all, to find every garbage cycle.
        dirty::unroot_pass(!self.forced);
        advance(Event::Unrooted);
        self.t.prepare_ns = t0.elapsed().as_nanos() as u64;
    }

    /// Step 3, mark setup: stops GC operations (only threads inside one are waited for,
    /// I4), so every operation from here on sees `MARKING` (allocate-black) and none
    /// straddles it; starts the pacer's cycle; resumes (unless `gcstoptheworld`, then the
    /// stop is returned, still held); queues the root-scan jobs. Returns the worker plan.
    fn mark_setup(&mut self) -> (Option<world::Stopped>, WorkerPlan) {
        let stopped = world::stop();
        if self.forced {
            super::reroot::start();
        }
        self.setup_start = stopped.began();
        stopped.reset_assist_credit();
        let live = HEAP.heap_live.load(Ordering::Relaxed);
        self.heap_live_start = live;
        let total = HEAP.live_total();
        self.live_start_total = total;
        let plan = {
            let mut g = control();
            let c = g.as_mut().expect("pacer initialised");
            if !self.forced {
                c.pacer
                    .note_start(total, HEAP.trigger.load(Ordering::Relaxed));
            }
            let plan = c.pacer.start_cycle(total, self.procs);
            feed_limiter(c, false);
            super::assist::start(c.pacer.assist_ratio(total, live, 0));
            c.assist_seen = 0;
            self.goal = c.pacer.heap_goal();
            plan
        };
        mark::start();
        // Young objects are allocated white until the young scan on large heaps
        // (`young.rs`; `GODEBUG=allocblack=1` and `allocwhite=1` choose).
        let white = super::young::wanted(self.goal, &config().debug);
        super::young::start(&stopped, white);
        self.t.setup_ns = self.setup_start.elapsed().as_nanos() as u64;
        let held = if self.stw {
            Some(stopped)
        } else {
            self.t.pause_ns = self.t.setup_ns;
            super::metrics::note_pause(self.t.setup_ns);
            drop(stopped);
            None
        };
        // Root-scan jobs for every span, queued outside the pause: spans made after mark
        // setup hold only black objects, so any snapshot from now on covers every root that
        // matters.
        // SAFETY: no span is freed while marking: every span was swept before mark setup,
        // and sweeping (the only place spans are freed) resumes after mark termination.
        unsafe { HEAP.for_each_span_chunked(mark::queue_root_jobs) };
        // A forced cycle's caller waits for it, so it marks with every proc (Go keeps 25%
        // even then); so does the stop-the-world reference mode.
        let plan = if self.stw || self.forced {
            WorkerPlan {
                dedicated: self.procs,
                fractional_utilization: 0.0,
            }
        } else {
            plan
        };
        (held, plan)
    }
}

/// Step 6, concurrent sweep: wakes the background sweeper; drops queued behind a stuck
/// `Drop` get another dropper.
fn sweep_start() {
    sweep::wake();
    super::dropper::check_stuck();
    // The stalls mutators recorded since the last cycle (`GODEBUG=stalltrace=1`).
    super::stalls::report_pending();
}
