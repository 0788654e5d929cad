//! Background mark workers (Go's `gcBgMarkWorker`) and the mark round they run. The
//! workers' modes and scheduling policy are in `worker_mode.rs`, the persistent threads
//! that run them in `worker_pool.rs`.
//!
//! A cycle's workers follow the pacer's [`WorkerPlan`]: `dedicated` threads that mark full
//! time, plus, when 25% of `GOMAXPROCS` is not close to a whole number, one *fractional*
//! worker that marks for a share of wall time and sleeps the rest (on 2 procs: no dedicated
//! worker and one fractional worker at half a core, Go's 25% of each of the two procs).
//! Procs the plan leaves free get an *idle* worker (Linux `SCHED_IDLE`: meant to run only
//! on CPU nobody else wants, like Go's idle workers on procs with nothing to run); its time
//! is reported apart and does not count towards the 25%. Workers report the CPU time they
//! spent draining, not its wall time: the OS may preempt them, which Go's workers, running
//! on its procs, never are by the program's own threads. A round never uses more workers
//! than the machine has cores (dedicated first, then fractional, then idle), whatever
//! `GOMAXPROCS` says: more could not run at once, they would only take turns. A fractional
//! or idle worker ends each drain after `YIELD_SLICE` (100 us, `worker_mode.rs`) and
//! yields its core before the next, as Go's stop when their P has a goroutine to run:
//! Linux may hand such a worker the core of a running mutator for a whole scheduler tick.
//! Before a worker sleeps or stops it moves its local queue to the injector, so assists
//! and other workers can take the work (one that yields keeps it for its next drain: the
//! other workers steal from it); an idle worker, which the OS may leave off the CPU, also
//! moves its tracer's private buffer into its local queue every 64 objects, where the other
//! workers steal from it and `balance` lends half to the injector when that is empty.
//!
//! The workers are *persistent* threads (`gc-mark-N`, `worker_pool.rs`), started the first
//! time a round needs them and parked on their own slot between rounds, as Go starts its
//! workers once per P. Each round hands every thread it uses an assignment: the round's
//! shared state, a mode, a fresh local queue and the stealers of the others. A thread sets
//! its priority per assignment (normal, lowered or `SCHED_IDLE`); the round pairs the
//! highest-priority threads with the most demanding modes, so priorities rarely need
//! raising, and where the OS refuses a raise (no `CAP_SYS_NICE`) a thread that would need
//! one is replaced by a fresh thread. A thread that cannot be started costs one warning per
//! process; the round runs with the threads that exist, and with none at all the
//! coordinating thread marks itself, so a cycle always completes.
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
//! `assign`, read by the settling coordinator). The mark threads' slots and list are
//! `worker_pool.rs`'s (and described there). See the collector overview
//! (`crate::design::collector`).

use super::local_queue::LocalQueue;
use super::mark::{
    drain, flush_local, has_visible_work, or_die, steal_from, Drainer, Role, Tracer, WORK,
};
use super::pacer::WorkerPlan;
use super::worker_mode::{over_share, paused, workers_for, Mode, Pause};
use super::worker_pool::assign;
use crate::alloc::os::thread_cpu_time;
use crate::sync::{
    thread, Arc, AtomicBool, AtomicU64, AtomicUsize, Condvar, Mutex, MutexGuard, Ordering,
};
use crossbeam_deque::Stealer;
use std::time::{Duration, Instant};

/// How often the coordinator revises the assist ratio and feeds the CPU limiter.
const TICK: Duration = Duration::from_millis(1);

/// How long a worker with no work to take naps before it looks again (it spins and yields
/// first).
const IDLE_NAP: Duration = Duration::from_micros(50);

/// A draining worker that stops on the clock reads it at every this many of its checks
/// (which come every 64 objects).
const CLOCK_EVERY: u32 = 4;

/// Locks `m`, ignoring poisoning (no code panics while holding these locks: a `Trace`
/// panic aborts the process, `mark::or_die`).
pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock()
}

/// One round's shared state.
pub(super) struct Round {
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
    pub(super) queues: Mutex<Vec<Stealer<usize>>>,
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

/// One background worker's assignment: marks per `mode` until the round stops, then adds
/// its time to the round's (the thread's priority is already set for `mode`).
pub(super) fn worker(round: &Round, mode: Mode, local: LocalQueue, others: &[Stealer<usize>]) {
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

#[cfg(all(test, not(gc_loom)))]
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
                let (round, settled, in_drain, queue) = (
                    round.clone(),
                    settled.clone(),
                    in_drain.clone(),
                    queue.clone(),
                );
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
            assert_eq!(
                seen, left,
                "the settled round missed items a drain left queued"
            );
        });
    }
}
