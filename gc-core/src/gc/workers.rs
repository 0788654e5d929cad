//! Background mark workers (Go's `gcBgMarkWorker`) and the mark round they run.
//!
//! A cycle's workers follow the pacer's [`WorkerPlan`]: `dedicated` threads that mark full
//! time, plus, when 25% of `GOMAXPROCS` is not close to a whole number, one *fractional*
//! worker that marks for a share of wall time and sleeps the rest (on 2 procs: no dedicated
//! worker and one fractional worker at half a core, Go's 25% of each of the two procs).
//! Procs the plan leaves free get an *idle* worker (Linux `SCHED_IDLE`: meant to run only on
//! CPU nobody else wants, like Go's idle workers on procs with nothing to run); its time is
//! reported apart and does not count towards the 25%. Workers report the CPU time they
//! spent draining, not its wall time: the OS may preempt them, which Go's workers, running
//! on its procs, never are by the program's own threads. A round never uses more workers
//! than the machine has cores (dedicated first, then fractional, then idle), whatever
//! `GOMAXPROCS` says: more could not run at once, they would only take turns. A fractional
//! or idle worker ends each drain after [`YIELD_SLICE`] (100 us) and yields its core before
//! the next, as Go's stop when their P has a goroutine to run: Linux may hand such a worker
//! the core of a running mutator for a whole scheduler tick. Before a worker sleeps or
//! stops it moves its local queue to the injector, so assists and other workers can take
//! the work (one that yields keeps it for its next drain: the other workers steal from
//! it); an idle worker, which the OS may leave off the CPU, also moves its tracer's
//! private buffer into its local queue every 64 objects, where the other workers steal
//! from it and `balance` lends half to the injector when that is empty.
//!
//! The workers are *persistent* threads (`gc-mark-N`), started the first time a round
//! needs them and parked on their own slot between rounds, as Go starts its workers once
//! per P. Each round hands every thread it uses an assignment: the round's shared state,
//! a mode, a fresh local queue and the stealers of the others. A thread sets its priority
//! per assignment (normal, lowered or `SCHED_IDLE`); the round pairs the highest-priority
//! threads with the most demanding modes, so priorities rarely need raising, and where the
//! OS refuses a raise (no `CAP_SYS_NICE`) a thread that would need one is replaced by a
//! fresh thread. A thread that cannot be started costs one warning per process; the round
//! runs with the threads that exist, and with none at all the coordinating thread marks
//! itself, so a cycle always completes.
//!
//! A *round* runs the workers until marking looks finished: no worker or assist is busy and
//! no work is visible. That is only a hint; the caller then stops GC operations and asks
//! `mark::try_finish`, and starts another round if work appeared (Go's `gcMarkDone` loop).
//! The thread running the round coordinates: about once a millisecond it calls the cycle's
//! `tick` (assist ratio, CPU limiter); at the end it sets `stop`, wakes the workers that
//! nap (a fractional worker sleeping off its share, a worker with no work to take: they
//! park on the round, never sleep blind), and waits until no worker is *draining*
//! ([`Round::stop_and_settle`]). A worker counts itself draining before it takes grey
//! items and re-checks `stop` after (a SeqCst pair with the coordinator's) and adds its CPU
//! time before it stops counting; it flushes its local queue to the injector too, except
//! when it stops only to yield (it keeps the queue for its next drain, and the others steal
//! from it meanwhile). Once the round settles no worker takes grey items, and the
//! coordinator moves whatever the queues still hold to the injector, so that `try_finish`
//! sees every grey item. The coordinator does not wait for the others to leave: a worker
//! that naps or waits for a core sees the stop when it next runs (on a busy machine that
//! was up to 2.7 ms, held open while the mutator allocated black: BENCHMARKS.md,
//! seventeenth session), and a thread takes its next assignment (setting its priority for
//! it) once it has left the last.
//!
//! Shared state: a round's flags, times and `draining` count are atomics, its `looks_done`
//! under its mutex, the stealers of its workers' queues under another (written once by
//! `assign`, read by the settling coordinator); a slot's job under the slot's mutex, its
//! priority an atomic written by its thread between assignments (read by the next round,
//! after the round's mutex ordered it); the thread list under `POOL`, used only by the
//! coordinator (one at a time: rounds run under the cycle's `GC_LOCK`). See the collector
//! overview (`crate::design::collector`).

use super::mark::{
    drain, flush_local, has_visible_work, or_die, steal_from, Drainer, Role, Tracer, WORK,
};
use super::pacer::WorkerPlan;
use crate::sync::{
    thread, Arc, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Condvar, Mutex, MutexGuard,
    Ordering,
};
use crate::alloc::os::thread_cpu_time;
use super::local_queue::LocalQueue;
use crossbeam_deque::Stealer;
use std::time::{Duration, Instant};

/// How often the coordinator revises the assist ratio and feeds the CPU limiter.
const TICK: Duration = Duration::from_millis(1);

/// How long a worker with no work to take naps before it looks again (it spins and yields
/// first).
const IDLE_NAP: Duration = Duration::from_micros(50);

/// Slack a fractional worker may run ahead of its share before it sleeps: long enough that
/// a slice amortises waking up, short enough to keep its share smooth.
const FRACTIONAL_SLICE: Duration = Duration::from_micros(500);

/// A draining worker that stops on the clock reads it at every this many of its checks
/// (which come every 64 objects).
const CLOCK_EVERY: u32 = 4;

/// How long a fractional or idle worker drains before it ends the drain and offers its
/// core to whatever thread waits for it (`yield_now`). Linux does not keep a `SCHED_IDLE`
/// or nice +10 worker off a busy core: at a scheduler tick it may give it the core of a
/// running mutator for the whole next tick (4 ms at 250 Hz; BENCHMARKS.md, eighteenth
/// session). Go's idle and fractional workers likewise stop as soon as their P has a
/// goroutine to run.
const YIELD_SLICE: Duration = Duration::from_micros(100);

/// Locks `m`, ignoring poisoning (no code panics while holding these locks: a `Trace`
/// panic aborts the process, `mark::or_die`).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock()
}

/// One round's shared state.
struct Round {
    /// Set by the coordinator: workers flush and leave.
    stop: AtomicBool,
    state: Mutex<RoundState>,
    /// Wakes the coordinator (marking looks finished, or the stopped round's last drain
    /// ended).
    wake: Condvar,
    /// CPU time spent marking by the dedicated and fractional workers, in ns.
    busy_ns: AtomicU64,
    /// CPU time spent marking by idle workers, in ns.
    idle_ns: AtomicU64,
    /// Workers between [`begin_drain`](Round::begin_drain) and
    /// [`end_drain`](Round::end_drain): they take grey items from the queues and add some.
    /// Only they do: a worker's local queue may hold items outside its drains too (it
    /// yielded), but then only other workers and the settling round take them.
    draining: AtomicUsize,
    /// Every worker's local queue, emptied by the coordinator once the round settles.
    queues: Mutex<Vec<Stealer<usize>>>,
}

#[derive(Default)]
struct RoundState {
    /// Set by a worker that saw marking look finished.
    looks_done: bool,
}

impl Round {
    fn new() -> Round {
        Round {
            stop: AtomicBool::new(false),
            state: Mutex::new(RoundState::default()),
            wake: Condvar::new(),
            busy_ns: AtomicU64::new(0),
            idle_ns: AtomicU64::new(0),
            draining: AtomicUsize::new(0),
            queues: Mutex::new(Vec::new()),
        }
    }

    /// Sleeps for up to `dur` while `still` holds, unless the round stops: `run_round`
    /// wakes every nap when it stops the round, so it never waits out a worker's sleep
    /// (a fractional worker naps up to 2 ms for its share).
    fn nap(&self, dur: Duration, still: impl Fn() -> bool) {
        crate::sync::park_timeout(
            self.key(),
            || !self.stop.load(Ordering::SeqCst) && still(),
            dur,
        );
    }

    /// The round's park queue key: its address.
    fn key(&self) -> usize {
        self as *const Round as usize
    }

    fn signal_done(&self) {
        lock(&self.state).looks_done = true;
        self.wake.notify_all();
    }

    /// A worker is about to drain: false (and nothing counted) if the round has stopped,
    /// so that no worker drains once [`stop_and_settle`](Self::stop_and_settle) returned.
    /// SeqCst, with the stop's store and the settling's load: either this sees the stop or
    /// the settling sees this worker draining.
    fn begin_drain(&self) -> bool {
        self.draining.fetch_add(1, Ordering::SeqCst);
        crate::sync::seqcst_order();
        if self.stop.load(Ordering::SeqCst) {
            self.end_drain();
            return false;
        }
        true
    }

    /// A worker has drained and added its time (and flushed its local queue, unless it
    /// stopped to yield): wakes the coordinator if it settles the stopped round.
    fn end_drain(&self) {
        let last = self.draining.fetch_sub(1, Ordering::SeqCst) == 1;
        crate::sync::seqcst_order();
        if last && self.stop.load(Ordering::SeqCst) {
            // Under the lock: the coordinator checks `draining` holding it, then waits.
            let _st = lock(&self.state);
            self.wake.notify_all();
        }
    }

    /// Ends the round: stops its workers, waits until none is draining, then hands what
    /// their local queues still hold (a worker that stopped to yield keeps its queue) to
    /// `left` (the caller's injector). From then on no worker of this round holds grey
    /// items or takes any: a worker takes items only while draining, and one that has not
    /// seen the stop yet will at its next [`begin_drain`](Self::begin_drain). Workers that nap or wait for a core
    /// leave when they next run; the mark does not wait for them (on a busy machine that
    /// took up to 2.7 ms, BENCHMARKS.md).
    fn stop_and_settle(&self, mut left: impl FnMut(usize)) {
        // SeqCst with the naps' check (`Round::nap`): a worker about to nap sees the stop,
        // or is parked in time to be woken.
        self.stop.store(true, Ordering::SeqCst);
        crate::sync::seqcst_order();
        crate::sync::unpark_all(self.key());
        let mut st = lock(&self.state);
        while self.draining.load(Ordering::SeqCst) != 0 {
            st = self.wake.wait_timeout(st, TICK);
        }
        drop(st);
        for q in lock(&self.queues).iter() {
            while let Some(item) = steal_from(|| q.steal()) {
                left(item);
            }
        }
    }

    fn times(&self) -> RoundTimes {
        RoundTimes {
            background_ns: self.busy_ns.load(Ordering::Relaxed),
            idle_ns: self.idle_ns.load(Ordering::Relaxed),
        }
    }
}

/// What a worker is for (Go's `gcMarkWorkerMode`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// Marks full time.
    Dedicated,
    /// Marks for this share of wall time, sleeping the rest.
    Fractional(f64),
    /// Marks only with CPU nobody else wants (Linux `SCHED_IDLE`): Go's idle worker, which
    /// runs on procs with no goroutine to run. Its time is not part of the 25% goal.
    Idle,
}

/// A thread's scheduling priority, highest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
enum Priority {
    Normal = 0,
    /// nice +10 (`sync::lower_thread_priority`).
    Lowered = 1,
    /// `SCHED_IDLE` (`sync::idle_thread_priority`).
    Idle = 2,
}

impl Priority {
    fn from_u8(v: u8) -> Priority {
        match v {
            0 => Priority::Normal,
            1 => Priority::Lowered,
            _ => Priority::Idle,
        }
    }
}

impl Mode {
    /// How long one drain may last before the worker yields its core: [`YIELD_SLICE`],
    /// except for a dedicated worker, which owns its share of the machine outright.
    fn drain_slice(self) -> Option<Duration> {
        match self {
            Mode::Dedicated => None,
            Mode::Fractional(_) | Mode::Idle => Some(YIELD_SLICE),
        }
    }

    /// The priority a worker in this mode runs at.
    fn priority(self) -> Priority {
        match self {
            Mode::Dedicated => Priority::Normal,
            Mode::Fractional(_) => Priority::Lowered,
            Mode::Idle => Priority::Idle,
        }
    }
}

/// Whether a fractional worker with share `utilization` that worked `worked` of `wall` has
/// used its share (plus a slice of slack).
fn over_share(worked: Duration, wall: Duration, utilization: f64) -> bool {
    worked > wall.mul_f64(utilization) + FRACTIONAL_SLICE
}

/// How long a fractional worker must sleep for its share to fall back to `utilization`.
fn sleep_for_share(worked: Duration, wall: Duration, utilization: f64) -> Duration {
    worked.div_f64(utilization).saturating_sub(wall)
}

/// What a worker does between a drain that ended with work left (not stopped) and the next.
#[derive(Debug, PartialEq)]
enum Pause {
    /// A fractional worker ahead of its share sleeps it off (at most 2 ms at a time, so it
    /// looks at the round again soon).
    Nap(Duration),
    /// The drain ended on its slice ([`Mode::drain_slice`]): offer the core to a waiting
    /// thread (a no-op when nothing waits for it).
    Yield,
    /// Go on draining (a dedicated worker).
    None,
}

/// The pause after a drain of a worker in `mode` that has drained for `worked` of the
/// `wall` time since its assignment began.
fn paused(mode: Mode, worked: Duration, wall: Duration) -> Pause {
    match mode {
        Mode::Fractional(u) if over_share(worked, wall, u) => {
            Pause::Nap(sleep_for_share(worked, wall, u).min(Duration::from_millis(2)))
        }
        _ if mode.drain_slice().is_some() => Pause::Yield,
        _ => Pause::None,
    }
}

/// One background worker's assignment: marks per `mode` until the round stops, then adds
/// its time to the round's (the thread's priority is already set for `mode`).
fn worker(round: &Round, mode: Mode, local: LocalQueue, others: &[Stealer<usize>]) {
    let utilization = match mode {
        Mode::Dedicated | Mode::Idle => 1.0,
        Mode::Fractional(u) => u,
    };
    let slice = mode.drain_slice();
    let mut checks = 0u32;
    let mut tracer = Tracer::new(&local);
    let role = if mode == Mode::Idle {
        Role::Idle
    } else {
        Role::Worker
    };
    let drainer = Drainer {
        local: &local,
        role,
        stealers: others,
    };
    let start = Instant::now();
    // Wall time draining, for the fractional worker's share (as Go's, which measures its
    // P's time), and this thread's CPU time draining, which is what it reports (into
    // `total`): the OS may preempt a worker mid-drain (an idle worker whenever anything
    // else wants its core).
    let mut worked = Duration::ZERO;
    let total = if mode == Mode::Idle {
        &round.idle_ns
    } else {
        &round.busy_ns
    };
    'work: loop {
        if !round.begin_drain() {
            break;
        }
        WORK.busy.fetch_add(1, Ordering::SeqCst);
        let t0 = Instant::now();
        let cpu0 = thread_cpu_time();
        let out_of_work = or_die(|| {
            drain(&drainer, &mut tracer, |t| {
                // Bank credit as we go, so assists can steal it instead of scanning.
                super::assist::add_background_credit(t.flush());
                if mode == Mode::Idle {
                    // The OS may leave an idle worker off the CPU for long: keep its grey
                    // items in its local queue, where the other workers steal them and
                    // `balance` lends half to assists when the injector runs dry (the
                    // tracer's buffer is private). Flushing the whole queue into the
                    // injector every 64 items, as this did before, made assists free
                    // blocks the idle worker had allocated (crossbeam allocates one per 63
                    // items), under the idle worker's `malloc` arena lock (BENCHMARKS.md).
                    t.hand_over();
                }
                if round.stop.load(Ordering::Relaxed) {
                    return true;
                }
                // A drain on the clock (a slice, and a fractional worker's share) reads it
                // only every `CLOCK_EVERY` checks, once: reading it twice every 64 objects
                // was a seventh of a fractional worker's time on this machine. A dedicated
                // worker stops only with the round.
                let Some(slice) = slice else {
                    return false;
                };
                checks = checks.wrapping_add(1);
                if checks % CLOCK_EVERY != 0 {
                    return false;
                }
                let now = Instant::now();
                let drained = now.saturating_duration_since(t0);
                drained >= slice
                    || (utilization < 1.0
                        && over_share(
                            worked + drained,
                            now.saturating_duration_since(start),
                            utilization,
                        ))
            })
        });
        worked += t0.elapsed();
        // Added per drain, before `end_drain`: the coordinator reads the round's times
        // once no worker drains, without waiting for the workers to leave.
        let cpu = thread_cpu_time().saturating_sub(cpu0);
        total.fetch_add(cpu.as_nanos() as u64, Ordering::Relaxed);
        super::assist::add_background_credit(tracer.flush());
        let pause = (!out_of_work && !round.stop.load(Ordering::Relaxed))
            .then(|| paused(mode, worked, start.elapsed()));
        // A worker about to yield keeps its queue (the drain left its tracer's items there):
        // it is back in microseconds unless a thread that waited for the core runs, and
        // meanwhile the others steal from it and the settling round empties it. Moving
        // it to the injector every slice cost the idle worker a tenth of its marking.
        if pause != Some(Pause::Yield) {
            flush_local(&local);
        }
        WORK.busy.fetch_sub(1, Ordering::SeqCst);
        round.end_drain();
        match pause {
            Some(Pause::Nap(nap)) => round.nap(nap, || true),
            // The drain is over: the round never waits for this thread to run again.
            Some(Pause::Yield) => thread::yield_now(),
            Some(Pause::None) => {}
            None if out_of_work => {}
            None => break,
        }
        if !out_of_work {
            continue;
        }
        // Work this worker can take: what everyone sees, and what a worker that yielded
        // left in its queue.
        let work = || has_visible_work(role) || others.iter().any(|q| !q.is_empty());
        let mut backoff = crate::sync::Backoff::default();
        loop {
            if round.stop.load(Ordering::Relaxed) {
                break 'work;
            }
            if work() {
                continue 'work;
            }
            if WORK.busy.load(Ordering::SeqCst) == 0 && !work() {
                round.signal_done();
            }
            // Spin, then yield, then nap until work shows up (checked every `IDLE_NAP`)
            // or the round stops (which wakes the nap at once).
            if !backoff.spin() {
                round.nap(IDLE_NAP, || !work());
            }
        }
    }
}

/// The workers for a plan: its dedicated and fractional workers, plus idle workers for the
/// procs the plan leaves free (none while the CPU limiter is limiting, as in Go); never
/// more than `cores` in all (dedicated first, then fractional, then idle).
fn workers_for(plan: WorkerPlan, procs: usize, cores: usize, idle_allowed: bool) -> Vec<Mode> {
    let cores = cores.max(1);
    let mut modes = vec![Mode::Dedicated; plan.dedicated.min(cores)];
    if plan.fractional_utilization > 0.0 && modes.len() < cores {
        modes.push(Mode::Fractional(
            (plan.fractional_utilization * procs as f64).min(1.0),
        ));
    }
    if modes.is_empty() {
        modes.push(Mode::Fractional(super::pacer::GOAL_UTILIZATION));
    }
    if idle_allowed {
        let idle = procs.min(cores).saturating_sub(modes.len());
        modes.extend(std::iter::repeat_n(Mode::Idle, idle));
    }
    modes
}

/// Marking time of a round: the CPU time (`os::thread_cpu_time`) its threads spent
/// draining, in ns.
#[derive(Default, Clone, Copy)]
pub(crate) struct RoundTimes {
    /// Dedicated and fractional workers (and the coordinator when it marks itself).
    pub background_ns: u64,
    /// Idle workers.
    pub idle_ns: u64,
}

/// Runs background workers per `plan` (plus idle workers if `idle_allowed`) until marking
/// looks finished, calling `tick` about once a millisecond meanwhile. With no worker
/// thread at all (none could be started), the calling thread marks.
pub(crate) fn run_round(
    plan: WorkerPlan,
    procs: usize,
    idle_allowed: bool,
    mut tick: impl FnMut(),
) -> RoundTimes {
    let modes = workers_for(plan, procs, crate::sync::available_cores(), idle_allowed);
    let round = Arc::new(Round::new());
    if assign(&round, &modes) == 0 {
        return mark_inline(tick);
    }
    let mut st = lock(&round.state);
    while !st.looks_done {
        st = round.wake.wait_timeout(st, TICK);
        tick();
    }
    drop(st);
    let mut left = Vec::new();
    round.stop_and_settle(|item| left.push(item));
    WORK.injector.push_items(&left);
    round.times()
}

/// Marks on the calling thread until marking looks finished (no mark thread exists):
/// drains like a dedicated worker, calling `tick` about once a millisecond.
fn mark_inline(mut tick: impl FnMut()) -> RoundTimes {
    let local = LocalQueue::private();
    let mut tracer = Tracer::new(&local);
    let drainer = Drainer {
        local: &local,
        role: Role::Worker,
        stealers: &[],
    };
    let cpu0 = thread_cpu_time();
    let mut last_tick = Instant::now();
    let mut tick_due = |tick: &mut dyn FnMut()| {
        if last_tick.elapsed() >= TICK {
            tick();
            last_tick = Instant::now();
        }
    };
    let mut backoff = crate::sync::Backoff::default();
    loop {
        WORK.busy.fetch_add(1, Ordering::SeqCst);
        or_die(|| {
            drain(&drainer, &mut tracer, |t| {
                super::assist::add_background_credit(t.flush());
                tick_due(&mut tick);
                false
            })
        });
        super::assist::add_background_credit(tracer.flush());
        flush_local(&local);
        WORK.busy.fetch_sub(1, Ordering::SeqCst);
        // Assists may still hold work they will flush: wait for them as a worker would.
        if WORK.busy.load(Ordering::SeqCst) == 0 && !has_visible_work(Role::Worker) {
            break;
        }
        tick_due(&mut tick);
        backoff.snooze();
    }
    RoundTimes {
        background_ns: thread_cpu_time().saturating_sub(cpu0).as_nanos() as u64,
        idle_ns: 0,
    }
}

// ---------------------------------------------------------------------------------------
// The persistent mark threads.

/// One round's work for one mark thread.
struct Assignment {
    round: Arc<Round>,
    mode: Mode,
    local: LocalQueue,
    /// The other workers' queues, to steal from.
    others: Vec<Stealer<usize>>,
}

/// What a parked mark thread is handed.
enum Job {
    Mark(Assignment),
    /// Leave: the thread runs at a priority the OS will not raise again, and a fresh
    /// thread takes its place.
    Exit,
}

/// A mark thread's mailbox.
struct Slot {
    job: Mutex<Option<Job>>,
    cv: Condvar,
    /// The thread's `Priority` (written by the thread between assignments).
    priority: AtomicU8,
}

impl Slot {
    fn give(&self, job: Job) {
        *lock(&self.job) = Some(job);
        self.cv.notify_one();
    }

    fn priority(&self) -> Priority {
        Priority::from_u8(self.priority.load(Ordering::Relaxed))
    }

    /// The thread's priority as of every job it has taken: read under the job lock, under
    /// which the thread changes it (`mark_thread`).
    fn settled_priority(&self) -> Priority {
        let _job = lock(&self.job);
        self.priority()
    }
}

/// A started mark thread.
struct MarkThread {
    slot: Arc<Slot>,
    handle: thread::JoinHandle<()>,
}

/// The process's mark threads.
struct Pool {
    threads: Vec<MarkThread>,
    /// Numbers the threads' names.
    started: usize,
    /// Whether the spawn-failure warning was printed (once per process).
    warned: bool,
}

crate::sync::global! {
    static POOL: Mutex<Pool> = Mutex::new(Pool {
        threads: Vec::new(),
        started: 0,
        warned: false,
    });
}
crate::sync::global! {
    /// Set when the OS refuses to raise a mark thread's priority back (no `CAP_SYS_NICE`;
    /// probed by every new thread, and set by a refused raise): a thread that would need
    /// a raise is then replaced by a fresh one instead.
    static RAISE_REFUSED: AtomicBool = AtomicBool::new(false);
}

/// A mark thread's life: park, run the assignment it is handed, repeat.
fn mark_thread(slot: &Slot) {
    super::cycle::mark_collector_thread();
    // Known before any thread lowers its priority, so a round never hands a thread
    // a raise it cannot make (the round's mutex orders this store before the next round).
    if !crate::sync::can_raise_priority() {
        RAISE_REFUSED.store(true, Ordering::Relaxed);
    }
    loop {
        // The priority changes under the job lock, in the same hold as the job is taken,
        // and `assign` reads it under that lock too (`Slot::settled_priority`) before it
        // hands out the next job, which replaces one not taken yet: so that read sees the
        // priority of every job this thread will have taken. Changed after the take, a
        // thread that woke late for an idle round could lower itself after the next,
        // forced round had counted it as normal, and serve that round at idle priority
        // (hostile_threads, about 1 run in 36 with three running at once).
        let a = {
            let mut j = lock(&slot.job);
            let job = loop {
                if let Some(job) = j.take() {
                    break job;
                }
                j = slot.cv.wait(j);
            };
            let Job::Mark(a) = job else { return };
            set_priority(slot, a.mode.priority());
            a
        };
        worker(&a.round, a.mode, a.local, &a.others);
    }
}

/// Moves the calling mark thread to priority `want`. A raise the OS refuses leaves the
/// thread where it was (it marks there this round) and is remembered.
fn set_priority(slot: &Slot, want: Priority) {
    let now = slot.priority();
    if now == want {
        return;
    }
    if want < now && !crate::sync::normal_thread_priority() {
        RAISE_REFUSED.store(true, Ordering::Relaxed);
        return;
    }
    match want {
        Priority::Normal => {}
        Priority::Lowered => crate::sync::lower_thread_priority(),
        Priority::Idle => crate::sync::idle_thread_priority(),
    }
    slot.priority.store(want as u8, Ordering::Relaxed);
}

impl Pool {
    /// Starts threads until there are `want`, stopping at the first failure (reported by
    /// `failed`, which also keeps later calls in the same round from retrying).
    fn grow(&mut self, want: usize, failed: &mut bool) {
        while self.threads.len() < want && !*failed {
            let slot = Arc::new(Slot {
                job: Mutex::new(None),
                cv: Condvar::new(),
                priority: AtomicU8::new(Priority::Normal as u8),
            });
            let s = Arc::clone(&slot);
            let spawned = thread::Builder::new()
                .name(format!("gc-mark-{}", self.started))
                .spawn(move || mark_thread(&s));
            match spawned {
                Ok(handle) => {
                    self.started += 1;
                    self.threads.push(MarkThread { slot, handle });
                }
                Err(e) => {
                    *failed = true;
                    if !self.warned {
                        self.warned = true;
                        let n = self.threads.len();
                        crate::report(format_args!(
                            "{}cannot start a mark worker thread ({e}); {}",
                            crate::env::WARNING_PREFIX,
                            if n == 0 {
                                "marking on the thread running the cycle".to_string()
                            } else {
                                format!("marking with {n} worker thread(s)")
                            }
                        ));
                    }
                }
            }
        }
    }

    /// Stops the threads at `doomed` (indices) and waits for them to leave.
    fn retire(&mut self, doomed: &[usize]) {
        for &i in doomed.iter().rev() {
            let t = self.threads.remove(i);
            t.slot.give(Job::Exit);
            // A parked thread leaves at once; a panic there has already aborted.
            let _ = t.handle.join();
        }
    }
}

/// Hands `round` its workers: one assignment per mode, as far as threads exist. Returns
/// how many were handed out (`round.state.running`).
fn assign(round: &Arc<Round>, modes: &[Mode]) -> usize {
    let mut pool = lock(&POOL);
    let mut failed = false;
    pool.grow(modes.len(), &mut failed);
    // The highest-priority threads take the most demanding modes (`modes` is ordered
    // dedicated, fractional, idle), so priorities need raising as rarely as possible.
    pool.threads.sort_by_cached_key(|t| t.slot.settled_priority());
    if RAISE_REFUSED.load(Ordering::Relaxed) {
        let doomed: Vec<usize> = (0..modes.len().min(pool.threads.len()))
            .filter(|&i| modes[i].priority() < pool.threads[i].slot.settled_priority())
            .collect();
        if !doomed.is_empty() && !failed {
            pool.retire(&doomed);
            pool.grow(modes.len(), &mut failed);
            pool.threads.sort_by_cached_key(|t| t.slot.settled_priority());
        }
    }
    let n = modes.len().min(pool.threads.len());
    let locals: Vec<LocalQueue> = (0..n).map(|_| LocalQueue::shared()).collect();
    let stealers: Vec<Stealer<usize>> = locals.iter().map(LocalQueue::stealer).collect();
    lock(&round.queues).clone_from(&stealers);
    for (i, (local, t)) in locals.into_iter().zip(&pool.threads).enumerate() {
        // Each worker steals from every other worker's queue (crossbeam-deque's scheme).
        let others = (0..n)
            .filter(|&j| j != i)
            .map(|j| stealers[j].clone())
            .collect();
        t.slot.give(Job::Mark(Assignment {
            round: Arc::clone(round),
            mode: modes[i],
            local,
            others,
        }));
    }
    n
}

#[cfg(test)]
#[path = "workers_tests.rs"]
mod tests;

#[cfg(all(test, gc_loom))]
mod loom_round {
    use super::Round;
    use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering};
    use loom::thread;

    /// The end of a mark round (`Round::stop_and_settle`) against a worker that is about to
    /// drain, twice: once the coordinator's settling returns, the worker is not draining and
    /// never starts again (it would take grey items after `try_finish` looked), the settling
    /// never waits for ever, and it sees every item the worker's drains left in its queue (a
    /// worker that yields keeps its queue; the settling round empties it: `queue` stands for
    /// it, written with relaxed stores as a deque's slots are).
    #[test]
    fn loom_round_end_vs_a_worker_about_to_drain() {
        crate::loom_models::model(|| {
            let round = Arc::new(Round::new());
            let settled = Arc::new(AtomicBool::new(false));
            let in_drain = Arc::new(AtomicBool::new(false));
            let queue = Arc::new(AtomicUsize::new(0));
            let worker = {
                let (round, settled, in_drain, queue) =
                    (round.clone(), settled.clone(), in_drain.clone(), queue.clone());
                thread::spawn(move || {
                    let mut left = 0;
                    for _ in 0..2 {
                        if !round.begin_drain() {
                            break;
                        }
                        in_drain.store(true, Ordering::SeqCst);
                        assert!(
                            !settled.load(Ordering::SeqCst),
                            "a worker drained after the round settled"
                        );
                        left += 1;
                        queue.store(left, Ordering::Relaxed);
                        in_drain.store(false, Ordering::SeqCst);
                        round.end_drain();
                    }
                    left
                })
            };
            round.stop_and_settle(|_| {});
            assert!(
                !in_drain.load(Ordering::SeqCst),
                "the round settled with a worker draining"
            );
            let seen = queue.load(Ordering::Relaxed);
            settled.store(true, Ordering::SeqCst);
            let left = worker.join().unwrap();
            assert_eq!(seen, left, "the settled round missed items a drain left queued");
        });
    }
}
