//! Background mark workers (Go's `gcBgMarkWorker`) and the mark round they run.
//!
//! A cycle's workers follow the pacer's [`WorkerPlan`]: `dedicated` threads that mark full
//! time, plus, when 25% of `GOMAXPROCS` is not close to a whole number, one *fractional*
//! worker that marks for a share of wall time and sleeps the rest (on 2 procs: no dedicated
//! worker and one fractional worker at half a core, Go's 25% of each of the two procs).
//! Procs the plan leaves free get an *idle* worker (Linux `SCHED_IDLE`: it runs only on CPU
//! nobody else wants, like Go's idle workers on procs with nothing to run); its time is
//! reported apart and does not count towards the 25%. Before a worker sleeps or stops it
//! moves its local queue to the injector, so assists and other workers can take the work;
//! an idle worker does so every 64 objects, since the OS may leave it off the CPU.
//!
//! A *round* runs the workers until marking looks finished: no worker or assist is busy and
//! no work is visible. That is only a hint; the caller then stops GC operations and asks
//! `mark::try_finish`, and starts another round if work appeared (Go's `gcMarkDone` loop).
//! The thread running the round coordinates: about once a millisecond it calls the cycle's
//! `tick` (assist ratio, CPU limiter). Shared fields are atomics or under the round's mutex.
//! See the collector overview in `crate::gc`.

use super::mark::{drain, flush_local, has_visible_work, or_die, Drainer, Role, Tracer, WORK};
use super::pacer::WorkerPlan;
use crate::sync::{thread, AtomicBool, AtomicU64, Condvar, Mutex, Ordering};
use crossbeam_deque::{Stealer, Worker};
use std::time::{Duration, Instant};

/// How often the coordinator revises the assist ratio and feeds the CPU limiter.
const TICK: Duration = Duration::from_millis(1);

/// Slack a fractional worker may run ahead of its share before it sleeps: long enough that
/// a slice amortises waking up, short enough to keep its share smooth.
const FRACTIONAL_SLICE: Duration = Duration::from_micros(500);

/// One round's shared state.
struct Round {
    /// Set by the coordinator: workers flush and leave.
    stop: AtomicBool,
    /// Set by a worker that saw marking look finished.
    looks_done: Mutex<bool>,
    wake: Condvar,
    /// Wall time spent marking by the dedicated and fractional workers, in ns.
    busy_ns: AtomicU64,
    /// Wall time spent marking by idle workers, in ns.
    idle_ns: AtomicU64,
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

impl Round {
    fn signal_done(&self) {
        *self.looks_done.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.wake.notify_all();
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

/// One background worker: marks per `mode` until the round stops.
fn worker(round: &Round, mode: Mode, local: Worker<usize>, others: &[Stealer<usize>]) {
    let utilization = match mode {
        Mode::Dedicated => 1.0,
        Mode::Fractional(u) => {
            crate::sync::lower_thread_priority();
            u
        }
        Mode::Idle => {
            crate::sync::idle_thread_priority();
            1.0
        }
    };
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
    let mut worked = Duration::ZERO;
    'work: loop {
        WORK.busy.fetch_add(1, Ordering::SeqCst);
        let t0 = Instant::now();
        let out_of_work = or_die(|| {
            drain(&drainer, &mut tracer, |t| {
                // Bank credit as we go, so assists can steal it instead of scanning.
                super::assist::add_background_credit(t.flush());
                if mode == Mode::Idle {
                    // The OS may leave an idle worker off the CPU for long: keep its queue
                    // where others can reach it (Go flushes a preempted idle worker's).
                    flush_local(&local);
                }
                round.stop.load(Ordering::Relaxed)
                    || (utilization < 1.0
                        && over_share(worked + t0.elapsed(), start.elapsed(), utilization))
            })
        });
        worked += t0.elapsed();
        super::assist::add_background_credit(tracer.flush());
        flush_local(&local);
        WORK.busy.fetch_sub(1, Ordering::SeqCst);
        if !out_of_work {
            if round.stop.load(Ordering::Relaxed) {
                break;
            }
            let nap = sleep_for_share(worked, start.elapsed(), utilization);
            thread::sleep(nap.min(Duration::from_millis(2)));
            continue;
        }
        let mut backoff = crate::sync::Backoff::default();
        loop {
            if round.stop.load(Ordering::Relaxed) {
                break 'work;
            }
            if has_visible_work(role) {
                continue 'work;
            }
            if WORK.busy.load(Ordering::SeqCst) == 0 && !has_visible_work(role) {
                round.signal_done();
            }
            backoff.snooze();
        }
    }
    let total = if mode == Mode::Idle {
        &round.idle_ns
    } else {
        &round.busy_ns
    };
    total.fetch_add(worked.as_nanos() as u64, Ordering::Relaxed);
}

/// The workers for a plan: its dedicated and fractional workers, plus idle workers for the
/// procs the plan leaves free (none while the CPU limiter is limiting, as in Go).
fn workers_for(plan: WorkerPlan, procs: usize, idle_allowed: bool) -> Vec<Mode> {
    let mut modes = vec![Mode::Dedicated; plan.dedicated];
    if plan.fractional_utilization > 0.0 {
        modes.push(Mode::Fractional(
            (plan.fractional_utilization * procs as f64).min(1.0),
        ));
    }
    if modes.is_empty() {
        modes.push(Mode::Fractional(super::pacer::GOAL_UTILIZATION));
    }
    if idle_allowed {
        let idle = procs.saturating_sub(modes.len());
        modes.extend(std::iter::repeat_n(Mode::Idle, idle));
    }
    modes
}

/// Marking time of a round, in ns.
#[derive(Default, Clone, Copy)]
pub(crate) struct RoundTimes {
    /// Dedicated and fractional workers.
    pub background_ns: u64,
    /// Idle workers.
    pub idle_ns: u64,
}

/// Runs background workers per `plan` (plus idle workers if `idle_allowed`) until marking
/// looks finished, calling `tick` about once a millisecond meanwhile.
pub(crate) fn run_round(
    plan: WorkerPlan,
    procs: usize,
    idle_allowed: bool,
    mut tick: impl FnMut(),
) -> RoundTimes {
    let round = Round {
        stop: AtomicBool::new(false),
        looks_done: Mutex::new(false),
        wake: Condvar::new(),
        busy_ns: AtomicU64::new(0),
        idle_ns: AtomicU64::new(0),
    };
    let modes = workers_for(plan, procs, idle_allowed);
    let locals: Vec<Worker<usize>> = modes.iter().map(|_| Worker::new_lifo()).collect();
    // Each worker steals from every other worker's queue (crossbeam-deque's scheme).
    let stealers: Vec<Vec<Stealer<usize>>> = (0..modes.len())
        .map(|i| {
            (0..locals.len())
                .filter(|&j| j != i)
                .map(|j| locals[j].stealer())
                .collect()
        })
        .collect();
    thread::scope(|scope| {
        for (i, ((&mode, local), others)) in modes.iter().zip(locals).zip(&stealers).enumerate() {
            let round = &round;
            thread::Builder::new()
                .name(format!("gc-mark-{i}"))
                .spawn_scoped(scope, move || worker(round, mode, local, others))
                .expect("cannot start a mark worker");
        }
        let mut done = round.looks_done.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = round
                .wake
                .wait_timeout(done, TICK)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            tick();
        }
        drop(done);
        round.stop.store(true, Ordering::Relaxed);
    });
    RoundTimes {
        background_ns: round.busy_ns.load(Ordering::Relaxed),
        idle_ns: round.idle_ns.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_follow_the_plan_and_fill_free_procs_with_idle_workers() {
        let plan = |procs| super::super::pacer::Pacer::worker_plan(procs);
        // 2 procs: one fractional worker at half a core, one idle worker.
        assert_eq!(
            workers_for(plan(2), 2, true),
            [Mode::Fractional(0.5), Mode::Idle]
        );
        // 4 procs: one dedicated worker, three idle ones; none while limited.
        assert_eq!(
            workers_for(plan(4), 4, true),
            [Mode::Dedicated, Mode::Idle, Mode::Idle, Mode::Idle]
        );
        assert_eq!(workers_for(plan(4), 4, false), [Mode::Dedicated]);
        // A forced or stop-the-world cycle: every proc dedicated, no room for idle ones.
        let all = WorkerPlan {
            dedicated: 2,
            fractional_utilization: 0.0,
        };
        assert_eq!(
            workers_for(all, 2, true),
            [Mode::Dedicated, Mode::Dedicated]
        );
    }

    #[test]
    fn fractional_share_arithmetic() {
        let ms = Duration::from_millis;
        // Half a core: 1 ms of work in 1 ms of wall time is over (slack 0.5 ms) ...
        assert!(over_share(ms(2), ms(2), 0.5));
        assert!(!over_share(ms(1), ms(2), 0.5));
        // ... and then needs 1 ms of sleep to get back to 50%.
        assert_eq!(sleep_for_share(ms(2), ms(3), 0.5), ms(1));
        assert_eq!(sleep_for_share(ms(1), ms(3), 0.5), Duration::ZERO);
        // A quarter share sleeps three times as long as it works.
        assert_eq!(sleep_for_share(ms(1), ms(1), 0.25), ms(3));
    }
}
