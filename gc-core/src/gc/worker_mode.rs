//! A background mark worker's scheduling policy (Go's `gcMarkWorkerMode`): the modes a
//! round's workers run in (dedicated, fractional, idle) and which modes a plan gets
//! (`workers_for`: never more workers than cores), the thread priority of each mode, how
//! long one drain may last before the worker yields its core ([`YIELD_SLICE`]), and a
//! fractional worker's share: when it is over it and how long it sleeps it off
//! (`over_share`, `paused`).
//!
//! Invariant: `workers_for` orders its modes dedicated, fractional, idle, which is also
//! their priorities' order, highest first (`worker_pool.rs` pairs them with threads by it).
//!
//! Shared state: none; constants and pure functions, used by the worker loop
//! (`workers.rs`) and the mark threads (`worker_pool.rs`). Unit tests in
//! `worker_mode_tests.rs`. See the collector overview (`crate::design::collector`).

use super::pacer::WorkerPlan;
use std::time::Duration;

/// Slack a fractional worker may run ahead of its share before it sleeps: long enough that
/// a slice amortises waking up, short enough to keep its share smooth.
const FRACTIONAL_SLICE: Duration = Duration::from_micros(500);

/// How long a fractional or idle worker drains before it ends the drain and offers its
/// core to whatever thread waits for it (`yield_now`). Linux does not keep a `SCHED_IDLE`
/// or nice +10 worker off a busy core: at a scheduler tick it may give it the core of a
/// running mutator for the whole next tick (4 ms at 250 Hz; BENCHMARKS.md, eighteenth
/// session). Go's idle and fractional workers likewise stop as soon as their P has a
/// goroutine to run.
const YIELD_SLICE: Duration = Duration::from_micros(100);

/// What a worker is for (Go's `gcMarkWorkerMode`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Mode {
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
pub(super) enum Priority {
    Normal = 0,
    /// nice +10 (`sync::lower_thread_priority`).
    Lowered = 1,
    /// `SCHED_IDLE` (`sync::idle_thread_priority`).
    Idle = 2,
}

impl Priority {
    pub(super) fn from_u8(v: u8) -> Priority {
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
    pub(super) fn drain_slice(self) -> Option<Duration> {
        match self {
            Mode::Dedicated => None,
            Mode::Fractional(_) | Mode::Idle => Some(YIELD_SLICE),
        }
    }

    /// The priority a worker in this mode runs at.
    pub(super) fn priority(self) -> Priority {
        match self {
            Mode::Dedicated => Priority::Normal,
            Mode::Fractional(_) => Priority::Lowered,
            Mode::Idle => Priority::Idle,
        }
    }
}

/// Whether a fractional worker with share `utilization` that worked `worked` of `wall` has
/// used its share (plus a slice of slack).
pub(super) fn over_share(worked: Duration, wall: Duration, utilization: f64) -> bool {
    worked > wall.mul_f64(utilization) + FRACTIONAL_SLICE
}

/// How long a fractional worker must sleep for its share to fall back to `utilization`.
fn sleep_for_share(worked: Duration, wall: Duration, utilization: f64) -> Duration {
    worked.div_f64(utilization).saturating_sub(wall)
}

/// What a worker does between a drain that ended with work left (not stopped) and the next.
#[derive(Debug, PartialEq)]
pub(super) enum Pause {
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
pub(super) fn paused(mode: Mode, worked: Duration, wall: Duration) -> Pause {
    match mode {
        Mode::Fractional(u) if over_share(worked, wall, u) => {
            Pause::Nap(sleep_for_share(worked, wall, u).min(Duration::from_millis(2)))
        }
        _ if mode.drain_slice().is_some() => Pause::Yield,
        _ => Pause::None,
    }
}

/// The workers for a plan: its dedicated and fractional workers, plus idle workers for the
/// procs the plan leaves free (none while the CPU limiter is limiting, as in Go); never
/// more than `cores` in all (dedicated first, then fractional, then idle).
pub(super) fn workers_for(
    plan: WorkerPlan,
    procs: usize,
    cores: usize,
    idle_allowed: bool,
) -> Vec<Mode> {
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

#[cfg(test)]
#[path = "worker_mode_tests.rs"]
mod tests;
