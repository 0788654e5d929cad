//! Periodic GC (Go's `forcegcperiod`, which sysmon checks): a program that stops
//! allocating still gets a cycle once no cycle has ended for [`DEFAULT_PERIOD`] (2 minutes),
//! so pooled values age out, dead objects' `Drop`s and cleanups run, and the heap goal
//! falls to what is live, after which the scavenger returns the idle pages to the OS.
//!
//! As Go's `gcTrigger{kind: gcTriggerTime}.test()`: no periodic cycle while `GOGC=off`
//! (`set_gc_percent(-1)`), none before the first cycle has ended (Go's `last_gc_nanotime`
//! is 0 until then), and the cycle is a background one, not forced: it does not count in
//! `num_forced_gc` and gctrace does not mark it `(forced)` (Go's `work.userForced` is
//! only set for `runtime.GC()`).
//!
//! The `gc-forcegc` thread (a [`Daemon`] whose body never returns) is started by the end of
//! the first cycle and sleeps in a timed wait until the period since the last cycle's end
//! has passed: cycles that run anyway push the deadline back and cost one atomic store
//! each. Shared state: the period and the last end are atomics; the wait's mutex only
//! serves the timed wait (a period change notifies it). Under loom the thread is never
//! started (models drive single steps). [`decide`] is the pure policy, table-tested. See
//! the collector overview (`crate::design::collector`).

// Under loom the thread is never started, so its parts go unused.
#![cfg_attr(gc_loom, allow(dead_code, unused_imports))]

use super::daemon::Daemon;
use crate::sync::{AtomicBool, AtomicU64, Condvar, Mutex, Ordering};
use std::time::{Duration, Instant};

/// Go's `forcegcperiod`.
pub(crate) const DEFAULT_PERIOD: Duration = Duration::from_secs(120);

/// The shortest period the test knob accepts (a zero period would collect in a loop).
const MIN_PERIOD: Duration = Duration::from_millis(1);

crate::sync::global! {
    /// The period in nanoseconds.
    static PERIOD_NS: AtomicU64 = AtomicU64::new(DEFAULT_PERIOD.as_nanos() as u64);
}
crate::sync::global! {
    /// When the last cycle ended, nanoseconds since `epoch()` plus one; 0 before the first.
    static LAST_END: AtomicU64 = AtomicU64::new(0);
}
crate::sync::global! {
    static STARTED: AtomicBool = AtomicBool::new(false);
}
crate::sync::global! {
    static DAEMON: Daemon = Daemon::new("gc-forcegc");
}
crate::sync::global! {
    /// The timed wait's lock (it guards nothing else).
    static SLEEP: Mutex<()> = Mutex::new(());
}
crate::sync::global! {
    /// Notified when the period changes.
    static CHANGED: Condvar = Condvar::new();
}

fn now_ns() -> u64 {
    static EPOCH: crate::sync::OnceLock<Instant> = crate::sync::OnceLock::new();
    (EPOCH.get_or_init(Instant::now).elapsed().as_nanos() as u64).saturating_add(1)
}

/// What the periodic thread does next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    /// Run a cycle now.
    Collect,
    /// Check again after this long.
    Wait(Duration),
}

/// Pure: a cycle is due when `GOGC` is on, a cycle has ended (`last_end`, ns) and the
/// period has passed since; otherwise wait until it will have (or a whole period, when
/// there is nothing to count from or `GOGC` is off: it may be turned on meanwhile).
pub(crate) fn decide(last_end: Option<u64>, now: u64, period: u64, gogc_on: bool) -> Next {
    let Some(last) = last_end.filter(|_| gogc_on) else {
        return Next::Wait(Duration::from_nanos(period));
    };
    let since = now.saturating_sub(last);
    if since >= period {
        Next::Collect
    } else {
        Next::Wait(Duration::from_nanos(period - since))
    }
}

/// Whether a periodic cycle is due now (`gogc_on` from the pacer).
pub(crate) fn due(gogc_on: bool) -> bool {
    decide(
        last_end(),
        now_ns(),
        PERIOD_NS.load(Ordering::Relaxed),
        gogc_on,
    ) == Next::Collect
}

fn last_end() -> Option<u64> {
    Some(LAST_END.load(Ordering::Relaxed)).filter(|&t| t != 0)
}

/// A cycle ended (mark termination): the period restarts; the first one starts the thread.
pub(crate) fn cycle_ended() {
    LAST_END.store(now_ns(), Ordering::Relaxed);
    #[cfg(not(gc_loom))]
    if !STARTED.swap(true, Ordering::Relaxed) {
        // Without the thread (it could not be started; `wake` warned), no periodic cycles.
        let _ = DAEMON.wake(run);
    }
}

/// The thread's body: never returns.
fn run() {
    loop {
        let period = PERIOD_NS.load(Ordering::Relaxed);
        match decide(last_end(), now_ns(), period, super::cycle::gogc_on()) {
            // Checks again under the cycle lock, and runs the cycle on this thread.
            Next::Collect => super::cycle::periodic_cycle(),
            Next::Wait(d) => {
                let g = SLEEP.lock();
                if PERIOD_NS.load(Ordering::Relaxed) == period {
                    drop(CHANGED.wait_timeout(g, d));
                }
            }
        }
    }
}

/// The test knob (`__private::set_forcegc_period`): sets the period (at least 1 ms) and
/// wakes the thread to count with it. Returns the previous period.
pub(crate) fn set_period(period: Duration) -> Duration {
    let ns = period.max(MIN_PERIOD).as_nanos().min(u64::MAX as u128) as u64;
    let old = {
        let _g = SLEEP.lock();
        let old = PERIOD_NS.swap(ns, Ordering::Relaxed);
        CHANGED.notify_all();
        old
    };
    Duration::from_nanos(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cycle_is_due_a_period_after_the_last_one_ended() {
        let s = |n: u64| Duration::from_secs(n);
        let p = 120_000_000_000u64; // 2 minutes, in ns
        let at = |sec: u64| sec * 1_000_000_000;
        // (last end, now, GOGC on) -> next
        let cases = [
            (Some(at(10)), at(130), true, Next::Collect),
            (Some(at(10)), at(500), true, Next::Collect),
            (Some(at(10)), at(100), true, Next::Wait(s(30))),
            (Some(at(10)), at(10), true, Next::Wait(s(120))),
            (Some(at(10)), at(500), false, Next::Wait(s(120))), // GOGC=off: never
            (None, at(500), true, Next::Wait(s(120))),          // no cycle yet
            (Some(at(20)), at(10), true, Next::Wait(s(120))),   // clock read before the end
        ];
        for (last, now, on, want) in cases {
            assert_eq!(decide(last, now, p, on), want, "{last:?} {now} {on}");
        }
    }
}
