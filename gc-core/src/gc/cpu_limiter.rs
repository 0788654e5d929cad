//! Go's GC CPU limiter (`mgclimit.go`, `gcCPULimiter`): a leaky bucket that caps the GC's
//! share of CPU time near 50%, so that a memory limit set too low slows a program down at
//! most ~2x instead of thrashing. Like the pacer (`super::pacer`), it is a pure value: no
//! clock, no globals, no I/O; the runtime feeds it CPU-time measurements and asks whether
//! the GC must limit itself. The cycle that uses it is described in `crate::gc`.
//!
//! It does not synchronise: the owner keeps it under the heap lock.

use super::pacer::{saturate, GOAL_UTILIZATION};

/// Bucket capacity of the CPU limiter per proc, in ns: 1 CPU-second (Go: `capacityPerProc`).
pub(crate) const LIMITER_CAPACITY_PER_PROC_NS: u64 = 1_000_000_000;

/// Longest wall-clock time between two limiter updates (Go: `gcCPULimiterUpdatePeriod`).
pub(crate) const LIMITER_UPDATE_PERIOD_NS: u64 = 10_000_000;

/// Go's `gcCPULimiter` as a pure leaky bucket: GC CPU time fills it, mutator CPU time drains
/// it, and while it is full the GC must limit itself (no assists, no idle workers). Filling
/// and draining one-for-one caps GC CPU near 50% over a window of the bucket's capacity
/// (1 CPU-second per proc), so a memory limit set too low slows a program at most ~2x.
/// The bucket never goes below empty: idle time earns the GC no credit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CpuLimiter {
    /// CPU-ns in the bucket; `fill <= capacity` (Go: `bucket.fill`).
    fill: u64,
    /// `procs * 1 s` (Go: `bucket.capacity`).
    capacity: u64,
    /// GC CPU-ns that arrived while the bucket was full (Go: `overflow`).
    overflow: u64,
    /// The bucket is full: the GC must limit itself (Go: `enabled`).
    limiting: bool,
    /// `GOMAXPROCS` (Go: `nprocs`).
    procs: usize,
}

impl CpuLimiter {
    /// An empty bucket for `procs` processors (0 counts as 1).
    pub(crate) fn new(procs: usize) -> CpuLimiter {
        let procs = procs.max(1);
        CpuLimiter {
            fill: 0,
            capacity: capacity_for(procs),
            overflow: 0,
            limiting: false,
            procs,
        }
    }

    /// Whether the GC must limit its CPU use now (Go: `limiting`).
    pub(crate) fn limiting(&self) -> bool {
        self.limiting
    }

    /// CPU-ns in the bucket.
    /// (Tests and simulations only.)
    #[cfg(test)]
    pub(crate) fn fill(&self) -> u64 {
        self.fill
    }

    /// Bucket capacity in CPU-ns.
    /// (Tests and simulations only.)
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }

    /// GC CPU-ns that arrived while the bucket was full (work the limiter dropped).
    /// (Tests and simulations only.)
    #[cfg(test)]
    pub(crate) fn overflow(&self) -> u64 {
        self.overflow
    }

    /// Adds CPU-time deltas: `gc_ns` fills, `mutator_ns` drains (Go: `accumulate`).
    pub(crate) fn update(&mut self, gc_ns: u64, mutator_ns: u64) {
        let headroom = self.capacity - self.fill;
        let change = i128::from(gc_ns) - i128::from(mutator_ns);
        if change > 0 && headroom as i128 <= change {
            self.overflow = saturate(self.overflow as u128 + (change - headroom as i128) as u128);
            self.fill = self.capacity;
            self.limiting = true;
            return;
        }
        self.fill = (self.fill as i128 + change).max(0) as u64;
        if change != 0 {
            self.limiting = false;
        }
    }

    /// Accounts a wall-clock window of `wall_ns` (Go: `updateLocked`): total CPU is
    /// `wall * procs - idle_ns`; while `marking`, GC CPU is the background share (25% of
    /// `wall * procs`) plus `assist_ns`, otherwise 0.
    pub(crate) fn account_window(
        &mut self,
        wall_ns: u64,
        assist_ns: u64,
        idle_ns: u64,
        marking: bool,
    ) {
        let total = u128::from(wall_ns) * self.procs as u128;
        let gc = if marking {
            u128::from(assist_ns) + (total as f64 * GOAL_UTILIZATION) as u128
        } else {
            0
        };
        let total = total.saturating_sub(u128::from(idle_ns));
        self.update(saturate(gc), saturate(total.saturating_sub(gc)));
    }

    /// Accounts a stop-the-world pause of `wall_ns`: every proc counts as GC, since the GC
    /// keeps all of them from running user code (Go: `finishGCTransition`).
    /// (Tests and simulations only.)
    #[cfg(test)]
    pub(crate) fn account_stop_the_world(&mut self, wall_ns: u64) {
        self.update(saturate(u128::from(wall_ns) * self.procs as u128), 0);
    }

    /// Changes `GOMAXPROCS` and the capacity with it (Go: `resetCapacity`).
    /// (Tests and simulations only.)
    #[cfg(test)]
    pub(crate) fn reset_capacity(&mut self, procs: usize) {
        self.procs = procs.max(1);
        self.capacity = capacity_for(self.procs);
        if self.fill > self.capacity {
            self.fill = self.capacity;
            self.limiting = true;
        } else if self.fill < self.capacity {
            self.limiting = false;
        }
    }
}

/// `procs * 1 s`, saturating.
fn capacity_for(procs: usize) -> u64 {
    saturate(procs as u128 * u128::from(LIMITER_CAPACITY_PER_PROC_NS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_limiter_bucket() {
        let mut l = CpuLimiter::new(4);
        assert_eq!(
            (l.capacity(), l.fill(), l.limiting()),
            (4_000_000_000, 0, false)
        );
        l.update(1_000_000_000, 0);
        assert_eq!((l.fill(), l.limiting()), (1_000_000_000, false));
        l.update(3_000_000_001, 0);
        assert_eq!(
            (l.fill(), l.overflow(), l.limiting()),
            (4_000_000_000, 1, true)
        );
        l.update(7, 7); // no change: still limiting
        assert!(l.limiting());
        l.update(0, 1);
        assert_eq!((l.fill(), l.limiting()), (3_999_999_999, false));
        l.update(0, u64::MAX); // never below empty
        assert_eq!(l.fill(), 0);
        l.update(u64::MAX, 0);
        l.update(u64::MAX, 0); // overflow saturates
        assert_eq!((l.fill(), l.overflow()), (4_000_000_000, u64::MAX));
        // Fewer procs: the fill no longer fits, the limiter engages.
        let mut l = CpuLimiter::new(4);
        l.update(2_000_000_000, 0);
        l.reset_capacity(1);
        assert_eq!(
            (l.capacity(), l.fill(), l.limiting()),
            (1_000_000_000, 1_000_000_000, true)
        );
        l.reset_capacity(2);
        assert!(!l.limiting());
        // A 1 ms stop of 4 procs is 4 ms of GC CPU.
        let mut l = CpuLimiter::new(4);
        l.account_stop_the_world(1_000_000);
        assert_eq!(l.fill(), 4_000_000);
        assert_eq!(CpuLimiter::new(0).capacity(), LIMITER_CAPACITY_PER_PROC_NS);
    }

    #[test]
    fn cpu_limiter_engages_above_half_and_recovers() {
        let window = LIMITER_UPDATE_PERIOD_NS;
        // (GC share of a window, windows until limiting; None = never in 30 s)
        for (share, engages) in [
            (0.45, None),
            (0.5, None),
            (0.55, Some(1000)),
            (0.75, Some(200)),
        ] {
            let mut l = CpuLimiter::new(4);
            let cpu = window * 4;
            let gc = (cpu as f64 * share) as u64;
            let first = (1..=3000).find(|_| {
                l.update(gc, cpu - gc);
                l.limiting()
            });
            assert_eq!(first, engages, "share {share}");
            if engages.is_some() {
                // Back under 50%: the bucket drains and the limiter lets go at once.
                l.update(cpu * 3 / 10, cpu * 7 / 10);
                assert!(!l.limiting());
            }
        }
        // Through account_window: marking with assists taking 15 of 40 ms = 62.5% GC.
        let mut l = CpuLimiter::new(4);
        let windows = (1..=1000).find(|_| {
            l.account_window(window, 15_000_000, 0, true);
            l.limiting()
        });
        assert_eq!(windows, Some(400)); // +10 ms per window into a 4 s bucket
        l.account_window(window, 0, 0, false); // not marking: all mutator
        assert!(!l.limiting() && l.fill() == 4_000_000_000 - 40_000_000);
        // Idle time is not mutator time.
        l.account_window(window, 0, 40_000_000, false);
        assert_eq!(l.fill(), 4_000_000_000 - 40_000_000);
    }

    /// The runtime's side of the loop: assists run unless the limiter says stop. With
    /// assists GC takes 80% of the CPU, without them the background 25%; the limiter holds
    /// the long-run share near 50%.
    #[test]
    fn cpu_limiter_holds_gc_near_half() {
        let mut l = CpuLimiter::new(8);
        let window = LIMITER_UPDATE_PERIOD_NS;
        let cpu = (window * 8) as f64;
        let (mut gc_total, mut cpu_total) = (0.0, 0.0);
        let mut toggles = 0;
        for i in 0..3000 {
            let before = l.limiting();
            let assist = if before { 0.0 } else { cpu * 0.55 };
            l.account_window(window, assist as u64, 0, true);
            toggles += usize::from(before != l.limiting());
            if i >= 1000 {
                gc_total += cpu * 0.25 + assist;
                cpu_total += cpu;
            }
        }
        let share = gc_total / cpu_total;
        assert!((0.45..0.56).contains(&share), "GC share {share}");
        assert!(toggles > 100);
    }
}
