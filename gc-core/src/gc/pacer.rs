//! Go's GC pacer (`mgcpacer.go`) as a pure value: no clock, no globals, no I/O. The runtime
//! feeds it measurements and asks for decisions; the cycle that uses it is described in
//! `crate::gc`. Its companion, the GC CPU limiter, is in `super::cpu_limiter`; closed-loop
//! simulations of the pacer are in `super::pacer_sim`.
//!
//! # Arithmetic (Go's names in brackets; elsewhere "(Go: `name`)")
//!
//! ```text
//! goal_gogc  = marked + (marked + roots) * GOGC / 100,
//!              at least heap_min                                     [commit]
//! heap_min   = 4 MiB * GOGC / 100                                    [heapMinimum]
//! goal_limit = limit - (non_heap + overage) - max(3%, 1 MiB),
//!              at least marked                                       [memoryLimitHeapGoal]
//! goal       = min(goal_gogc, goal_limit); when goal_gogc is the
//!              smaller, also >= sweep_dist and >= triggered + 64 KiB [heapGoalInternal]
//! runway     = consMark * (1 - 0.25) / 0.25 * (last_heap_scan + roots) [commit]
//! trigger    = clamp(goal - runway, lo, hi)                          [trigger]
//!   lo       = max(marked + (goal - marked) / 64 * 45, sweep_dist)   (~0.70)
//!   hi       = max(marked + (goal - marked) / 64 * 61, goal - 4 MiB) (~0.95)
//! assist     = max(expected_work - done, 1000) / max(goal' - live, 1) [revise]
//! consMark   = (live - triggered) * (u + idle) / (scan_work * (1 - u)),
//!              then the max of that and the last 4 measured values  [endCycle]
//! ```
//!
//! `marked` includes the external memory (`CountingAllocator`) that survived the last
//! sweep, and every heap figure the runtime passes in (`live`, the trigger point) includes
//! the external memory allocated now: those bytes count as if they were in the heap.
//! `roots` is the root-scan work of the last cycle (Go's stacks + globals), `sweep_dist` is
//! the heap at the last commit plus 1 MiB while sweeping is unfinished (0 otherwise), and
//! `u` is the measured GC CPU share of the mark phase (25% background plus assists).
//!
//! # Use by the runtime
//!
//! 1. [`Pacer::new`] with `GOGC` and `GOMEMLIMIT`; [`Pacer::set_gogc`],
//!    [`Pacer::set_memory_limit`] for the public setters; [`Pacer::set_memory_use`] whenever
//!    the memory statistics the limit depends on are refreshed.
//! 2. Allocation: start a cycle once `heap_live >= trigger()`.
//! 3. Sweep termination: [`Pacer::start_cycle`] records the trigger point and returns the
//!    [`WorkerPlan`].
//! 4. Marking: [`Pacer::assist_ratio`] whenever the live heap or the scan work moves.
//! 5. Mark termination: [`Pacer::end_cycle`] with the [`CycleMeasurements`]; it commits the
//!    next goal and trigger and returns a [`CycleReport`] (`GODEBUG=gcpacertrace=1`).
//! 6. Throughout: the CPU limiter ([`CpuLimiter`](super::cpu_limiter::CpuLimiter)) accounts
//!    GC and mutator CPU time; while it is limiting, assists and idle mark workers stand down.
//!
//! Invariants: `trigger() <= heap_goal()`; `heap_goal() >= heap_marked()`; arithmetic
//! saturates instead of overflowing, so no input panics. The pacer does not synchronise: the
//! owner keeps it under the `CONTROL` mutex of `control.rs` (Go: "protected by mheap_.lock or
//! a STW").

/// Heap goal floor at `GOGC=100` (Go: `defaultHeapMinimum`); it scales with `GOGC`.
pub(crate) const HEAP_MINIMUM: u64 = 4 << 20;

/// Share of `GOMAXPROCS` the background mark workers aim for (Go: `gcBackgroundUtilization`,
/// equal to `gcGoalUtilization`).
pub(crate) const GOAL_UTILIZATION: f64 = 0.25;

/// Denominator of the trigger bounds (Go: `triggerRatioDen`).
pub(crate) const TRIGGER_RATIO_DEN: u64 = 64;

/// The trigger is at least 45/64 (~0.70) of the way from the marked heap to the goal
/// (Go: `minTriggerRatioNum`).
pub(crate) const MIN_TRIGGER_RATIO_NUM: u64 = 45;

/// The trigger is at most 61/64 (~0.95) of the way from the marked heap to the goal, unless
/// `goal - HEAP_MINIMUM` is higher (Go: `maxTriggerRatioNum`).
pub(crate) const MAX_TRIGGER_RATIO_NUM: u64 = 61;

/// Memory-limit goal headroom, percent (Go: `memoryLimitHeapGoalHeadroomPercent`).
pub(crate) const MEMORY_LIMIT_HEADROOM_PERCENT: u64 = 3;

/// Memory-limit goal headroom, minimum bytes (Go: `memoryLimitMinHeapGoalHeadroom`).
pub(crate) const MEMORY_LIMIT_MIN_HEADROOM: u64 = 1 << 20;

/// The goal stays at least this far above the heap at which the cycle started, unless
/// memory-limited (Go: `minRunway` in `heapGoalInternal`).
pub(crate) const MIN_RUNWAY: u64 = 64 << 10;

/// Heap growth left to the sweeper after a commit while sweeping is unfinished
/// (Go: `sweepMinHeapDistance`).
pub(crate) const SWEEP_MIN_HEAP_DISTANCE: u64 = 1 << 20;

/// Extra scan work an assist does to pre-pay future allocation (Go: `gcOverAssistWork`),
/// on heaps whose goal is at most `OVER_ASSIST_FULL_GOAL`.
const OVER_ASSIST_WORK: u64 = 64 << 10;

/// Goals up to this get Go's whole over-assist.
const OVER_ASSIST_FULL_GOAL: u64 = 16 << 20;

/// The least over-assist, from a goal of 4 x `OVER_ASSIST_FULL_GOAL` up.
const MIN_OVER_ASSIST_WORK: u64 = 16 << 10;

/// The over-assist for a heap of goal `goal` bytes: Go's 64 KiB up to a 16 MiB goal, then
/// shrinking as the goal grows, to 16 KiB from a 64 MiB goal up. An assist pauses its
/// thread: on the 256 MiB latency probe, whose mutator reaches the goal every cycle, 64
/// KiB assists set the 99.9th percentile gap (38.9 us against 26.1 with 16 KiB, medians
/// of 7 runs), while on small heaps the over-assist is what finishes a mark early (16 KiB
/// there raised an interpreter's peak RSS from 7.6-9.1 to 8.2-9.9 MiB). BENCHMARKS.md.
pub(crate) fn over_assist_work(goal: u64) -> u64 {
    let scaled = (OVER_ASSIST_WORK as u128 * OVER_ASSIST_FULL_GOAL as u128 / goal.max(1) as u128)
        .min(OVER_ASSIST_WORK as u128) as u64;
    scaled.max(MIN_OVER_ASSIST_WORK)
}

/// Memory limits at or above this mean "no limit" (Go's `math.MaxInt64`, `GOMEMLIMIT=off`).
pub(crate) const NO_MEMORY_LIMIT: u64 = i64::MAX as u64;

/// Go's `revise` acts as if `GOGC` were this when it is off (a forced cycle).
const GOGC_WHEN_OFF: u64 = 100_000;
/// Once the heap passes even the extended goal, aim 10% further (Go: `maxOvershoot`).
pub(crate) const MAX_OVERSHOOT: f64 = 1.1;
/// Floor of the remaining scan work in the assist ratio (Go: in `revise`).
const MIN_SCAN_WORK_REMAINING: i128 = 1000;
/// Floor of the mutator share in the cons/mark quotient: Go divides by `1 - u` unguarded;
/// assists that took every mutator cycle would make it infinite.
const MIN_MUTATOR_SHARE: f64 = 1e-3;

/// Memory statistics the memory-limit goal reads (Go: the inputs of `memoryLimitHeapGoal`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct MemoryUse {
    /// Mapped memory not released to the OS: `Sys - HeapReleased` (Go: `mappedReady`).
    pub mapped_ready: u64,
    /// Free heap pages not yet released (Go: `heapFree`).
    pub heap_free: u64,
    /// Bytes in allocated heap objects, live or unswept (Go: `totalAlloc - totalFree`).
    pub heap_alloc: u64,
}

/// What a cycle measured, given to [`Pacer::end_cycle`] at mark termination.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct CycleMeasurements {
    /// Live heap at mark termination, before the reset to the marked heap (Go: `heapLive`).
    pub heap_live: u64,
    /// Bytes marked this cycle: the next cycle's starting heap (Go: `work.bytesMarked`).
    pub heap_marked: u64,
    /// Heap bytes scanned this cycle (Go: `heapScanWork`).
    pub heap_scan_work: u64,
    /// Root bytes scanned this cycle (Go: stacks and globals,
    /// `stackScanWork + globalsScanWork`).
    pub root_scan_work: u64,
    /// Wall time from mark start to mark termination (Go: `now - markStartTime`).
    pub mark_wall_ns: u64,
    /// CPU time mutators spent in assists (Go: `assistTime`).
    pub assist_ns: u64,
    /// CPU time idle mark workers spent marking (Go: `idleMarkTime`).
    pub idle_mark_ns: u64,
    /// `GOMAXPROCS` during the cycle.
    pub procs: usize,
    /// Whether sweeping is already finished at commit (only with `gcstoptheworld=2`)
    /// (Go: `isSweepDone`).
    pub sweep_done: bool,
}

/// What [`Pacer::end_cycle`] concluded, for `GODEBUG=gcpacertrace=1`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct CycleReport {
    /// GC share of CPU during mark: background plus assists (Go: `utilization`).
    pub utilization: f64,
    /// Idle-worker share of CPU during mark (Go: `idleUtilization`).
    pub idle_utilization: f64,
    /// Scan work done (heap + roots).
    pub scan_work: u64,
    /// Scan work expected at the start of the cycle.
    pub scan_work_expected: u64,
    /// Heap at which the cycle started, if [`Pacer::start_cycle`] was called
    /// (Go: `triggered`).
    pub triggered: Option<u64>,
    /// Heap at mark termination.
    pub heap_live: u64,
    /// Goal the cycle aimed for (Go: `lastHeapGoal`).
    pub heap_goal: u64,
    /// This cycle's cons/mark, if it could be measured.
    pub cons_mark_measured: Option<f64>,
    /// Cons/mark estimate before this cycle (Go: `oldConsMark`).
    pub previous_cons_mark: f64,
}

impl std::fmt::Display for CycleReport {
    /// Go's `pacer: ...` end-of-cycle line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let goal_pct = GOAL_UTILIZATION * 100.0;
        write!(
            f,
            "pacer: {}% CPU ({goal_pct} exp.) for {} B work ({} B exp.) in {} B -> {} B \
             (∆goal {}, cons/mark {:.6})",
            (self.utilization * 100.0) as i64,
            self.scan_work,
            self.scan_work_expected,
            self.triggered.unwrap_or(0),
            self.heap_live,
            i128::from(self.heap_live) - i128::from(self.heap_goal),
            self.previous_cons_mark,
        )
    }
}

/// How much mark assist a mutator owes per allocated byte (Go: `assistWorkPerByte`,
/// `assistBytesPerWork`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct AssistRatio {
    /// Scan work owed per byte allocated.
    pub work_per_byte: f64,
    /// Bytes allocatable per unit of scan work done (the inverse).
    pub bytes_per_work: f64,
}

/// Background mark workers for a cycle (Go: `startCycle`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct WorkerPlan {
    /// Procs that mark full-time until mark termination (Go: `dedicatedMarkWorkersNeeded`).
    pub dedicated: usize,
    /// Share of wall time each other proc spends in a fractional worker
    /// (Go: `fractionalUtilizationGoal`).
    pub fractional_utilization: f64,
}

/// Go's `gcControllerState` minus the atomics: decides when to start a cycle and how hard
/// mutators must assist, from what past cycles measured.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Pacer {
    /// `GOGC`; `None` = off (Go: `gcPercent < 0`).
    gogc: Option<u32>,
    /// Soft memory limit in bytes; >= [`NO_MEMORY_LIMIT`] = none (Go: `memoryLimit`).
    memory_limit: u64,
    /// `HEAP_MINIMUM * GOGC / 100`; unused when off (Go: `heapMinimum`).
    heap_minimum: u64,
    /// Latest memory statistics for the limit goal.
    usage: MemoryUse,
    /// Bytes marked by the last cycle (Go: `heapMarked`), plus `external`.
    heap_marked: u64,
    /// External memory (allocated outside the heap through `CountingAllocator`) that
    /// survived the last cycle: measured when its sweep ended, when the objects found dead
    /// had freed what they owned. Part of the live base, as if those bytes were in the heap
    /// (Go has no such bytes: everything is in its heap).
    external: u64,
    /// Heap bytes scanned by the last cycle (Go: `lastHeapScan`).
    last_heap_scan: u64,
    /// Root bytes scanned by the last cycle (Go: `lastStackScan + globalsScan`).
    last_root_scan: u64,
    /// Current allocation/scan ratio estimate (Go: `consMark`).
    cons_mark: f64,
    /// The last 4 measured cons/mark values, oldest first (Go: `lastConsMark`).
    last_cons_mark: [f64; 4],
    /// Goal from `GOGC` alone; `u64::MAX` when off (Go: `gcPercentHeapGoal`).
    gc_percent_heap_goal: u64,
    /// Floor for goal and trigger that leaves the sweeper room (Go: `sweepDistMinTrigger`).
    sweep_dist_min_trigger: u64,
    /// Heap growth the mark phase needs at the target utilisation (Go: `runway`).
    runway: u64,
    /// Heap when the current cycle started; `None` outside marking (Go: `triggered`).
    triggered: Option<u64>,
    /// Goal of the last finished cycle; 0 before the first (Go: `lastHeapGoal`).
    last_heap_goal: u64,
    /// Heap growth between the trigger and the start of marking, averaged over the cycles
    /// the trigger started (ours: Go's allocating goroutine starts the cycle itself, while
    /// here the GC thread must wake, finish the sweep and run the unroot pass first). The
    /// trigger comes this much earlier, so that marking starts where Go's would.
    start_lag: u64,
}

impl Pacer {
    /// The pacer before the first cycle (Go: `init`): goal `4 MiB * GOGC/100`, trigger at
    /// 61/64 of it (3.8125 MiB at `GOGC=100`). `memory_limit` >= [`NO_MEMORY_LIMIT`] means no
    /// limit.
    pub(crate) fn new(gogc: Option<u32>, memory_limit: u64) -> Pacer {
        let mut pacer = Pacer {
            gogc: None,
            memory_limit,
            heap_minimum: 0,
            usage: MemoryUse::default(),
            heap_marked: 0,
            external: 0,
            last_heap_scan: 0,
            last_root_scan: 0,
            cons_mark: 0.0,
            last_cons_mark: [0.0; 4],
            gc_percent_heap_goal: u64::MAX,
            sweep_dist_min_trigger: 0,
            runway: 0,
            triggered: None,
            last_heap_goal: 0,
            start_lag: 0,
        };
        pacer.set_gogc(gogc);
        pacer.commit(0, true); // No sweep phase before the first cycle.
        pacer
    }

    /// `GOGC` (`None` = off).
    pub(crate) fn gogc(&self) -> Option<u32> {
        self.gogc
    }

    /// Sets `GOGC` and recomputes goal and trigger; returns the old value
    /// (Go: `setGCPercent`).
    pub(crate) fn set_gogc(&mut self, gogc: Option<u32>) -> Option<u32> {
        let old = std::mem::replace(&mut self.gogc, gogc);
        self.heap_minimum = gogc.map_or(0, |p| HEAP_MINIMUM * u64::from(p) / 100);
        self.recompute();
        old
    }

    /// The soft memory limit in bytes.
    pub(crate) fn memory_limit(&self) -> u64 {
        self.memory_limit
    }

    /// Sets the memory limit; returns the old one (Go: `setMemoryLimit`). Goal and trigger
    /// are computed from it on demand.
    pub(crate) fn set_memory_limit(&mut self, bytes: u64) -> u64 {
        std::mem::replace(&mut self.memory_limit, bytes)
    }

    /// Records the memory statistics the memory-limit goal reads.
    pub(crate) fn set_memory_use(&mut self, usage: MemoryUse) {
        self.usage = usage;
    }

    /// Recomputes the `GOGC` goal, the runway and the sweep distance (Go: `commit`).
    /// `heap_live` is the live heap now; `sweep_done` whether sweeping has finished.
    /// [`Pacer::end_cycle`] calls this; call it again after sweeping ends for an exact trigger.
    pub(crate) fn commit(&mut self, heap_live: u64, sweep_done: bool) {
        self.sweep_dist_min_trigger = if sweep_done {
            0
        } else {
            heap_live.saturating_add(SWEEP_MIN_HEAP_DISTANCE)
        };
        self.recompute();
    }

    /// The parts of Go's `commit` that depend only on the pacer's own state.
    fn recompute(&mut self) {
        let marked = u128::from(self.heap_marked);
        self.gc_percent_heap_goal = match self.gogc {
            None => u64::MAX,
            Some(p) => {
                let growth = (marked + u128::from(self.last_root_scan)) * u128::from(p) / 100;
                saturate(marked + growth).max(self.heap_minimum)
            }
        };
        let scan = self.last_heap_scan.saturating_add(self.last_root_scan) as f64;
        // `as` saturates: an infinite or huge runway becomes u64::MAX.
        let util = GOAL_UTILIZATION;
        self.runway = (self.cons_mark * (1.0 - util) / util * scan) as u64;
    }

    /// Records the external memory that survived the last cycle (see the field `external`)
    /// and recomputes goal and trigger with it.
    pub(crate) fn set_external(&mut self, bytes: u64) {
        self.heap_marked = self.heap_marked - self.external + bytes;
        self.external = bytes;
        self.recompute();
    }

    /// The external memory in the live base ([`Pacer::set_external`]).
    pub(crate) fn external(&self) -> u64 {
        self.external
    }

    /// Bytes marked by the last cycle plus surviving external memory (Go: `heapMarked`).
    /// (Tests and simulations only.)
    #[cfg(test)]
    pub(crate) fn heap_marked(&self) -> u64 {
        self.heap_marked
    }

    /// Goal of the last finished cycle, 0 before the first (the scavenger's input)
    /// (Go: `lastHeapGoal`).
    /// (Tests and simulations only.)
    #[cfg(test)]
    pub(crate) fn last_heap_goal(&self) -> u64 {
        self.last_heap_goal
    }

    /// Current allocation/scan ratio estimate (Go: `consMark`).
    /// (Tests and simulations only.)
    #[cfg(test)]
    pub(crate) fn cons_mark(&self) -> f64 {
        self.cons_mark
    }

    /// Heap growth the next mark phase is expected to need (Go: `runway`).
    /// (Tests and simulations only.)
    #[cfg(test)]
    pub(crate) fn runway(&self) -> u64 {
        self.runway
    }

    /// The heap goal: `min(GOGC goal, memory-limit goal)`; `u64::MAX` when `GOGC` is off and
    /// there is no limit (Go: `heapGoal`).
    pub(crate) fn heap_goal(&self) -> u64 {
        self.goal_and_min_trigger().0
    }

    /// The goal from the memory limit alone; `u64::MAX` without a limit
    /// (Go: `memoryLimitHeapGoal`).
    pub(crate) fn memory_limit_heap_goal(&self) -> u64 {
        if self.memory_limit >= NO_MEMORY_LIMIT {
            return u64::MAX;
        }
        let limit = self.memory_limit;
        let MemoryUse {
            mapped_ready,
            heap_free,
            heap_alloc,
        } = self.usage;
        // Everything counted against the limit that does not hold heap objects.
        let non_heap = mapped_ready.saturating_sub(heap_free.saturating_add(heap_alloc));
        // How far the limit is already exceeded, to recover from it.
        let overage = mapped_ready.saturating_sub(limit);
        let taken = non_heap.saturating_add(overage);
        if taken >= limit {
            // Non-heap memory alone passes the limit: collect continuously; the CPU limiter
            // reins that in.
            return self.heap_marked;
        }
        let goal = limit - taken;
        let headroom = (goal / 100 * MEMORY_LIMIT_HEADROOM_PERCENT).max(MEMORY_LIMIT_MIN_HEADROOM);
        let goal = if goal < headroom || goal - headroom < headroom {
            headroom
        } else {
            goal - headroom
        };
        goal.max(self.heap_marked)
    }

    /// Go's `heapGoalInternal`: the goal, and the trigger floor that comes with it.
    fn goal_and_min_trigger(&self) -> (u64, u64) {
        let limit_goal = self.memory_limit_heap_goal();
        if limit_goal < self.gc_percent_heap_goal {
            // Memory-limited: respond hard, never push the goal up.
            return (limit_goal, 0);
        }
        let mut goal = self.gc_percent_heap_goal.max(self.sweep_dist_min_trigger);
        if let Some(triggered) = self.triggered {
            goal = goal.max(triggered.saturating_add(MIN_RUNWAY));
        }
        (goal, self.sweep_dist_min_trigger)
    }

    /// The heap size at which the next cycle starts (Go: `trigger`): `goal - runway`, kept
    /// between ~70% and ~95% of the way from the marked heap to the goal (see the module
    /// docs), then lowered by the start lag (not below the ~70% floor). `u64::MAX`, never
    /// reached, when the goal is `u64::MAX`.
    pub(crate) fn trigger(&self) -> u64 {
        let (goal, min_trigger) = self.goal_and_min_trigger();
        let marked = self.heap_marked;
        if goal == u64::MAX {
            return u64::MAX;
        }
        if marked >= goal {
            // Only a continuous cycle can meet this goal.
            return goal;
        }
        let span = goal - marked;
        let lower = marked + span / TRIGGER_RATIO_DEN * MIN_TRIGGER_RATIO_NUM;
        let min_trigger = min_trigger.max(marked).max(lower);
        let mut max_trigger = marked + span / TRIGGER_RATIO_DEN * MAX_TRIGGER_RATIO_NUM;
        if goal > HEAP_MINIMUM && goal - HEAP_MINIMUM > max_trigger {
            // Large heaps: 4 MiB of runway is what a cycle with no work to do needs.
            max_trigger = goal - HEAP_MINIMUM;
        }
        let max_trigger = max_trigger.max(min_trigger);
        let trigger = goal
            .saturating_sub(self.runway)
            .clamp(min_trigger, max_trigger)
            .saturating_sub(self.start_lag)
            .max(min_trigger);
        debug_assert!(trigger <= goal, "trigger {trigger} above goal {goal}");
        trigger.min(goal)
    }

    /// The worker plan for `procs` processors (Go: `startCycle`): 25% of them, as whole
    /// dedicated workers when rounding is within 30%, otherwise with a fractional worker
    /// making up the rest. `procs` 0 counts as 1.
    pub(crate) fn worker_plan(procs: usize) -> WorkerPlan {
        let procs = procs.max(1) as f64;
        let total = procs * GOAL_UTILIZATION;
        let mut dedicated = (total + 0.5) as usize;
        let error = dedicated as f64 / total - 1.0;
        let mut fractional_utilization = 0.0;
        if error.abs() > 0.3 {
            if dedicated as f64 > total {
                dedicated -= 1;
            }
            fractional_utilization = (total - dedicated as f64) / procs;
        }
        WorkerPlan {
            dedicated,
            fractional_utilization,
        }
    }

    /// Ours: marking starts at `heap_live` for a cycle that the heap crossing `trigger`
    /// (the trigger mutators compared with) set off. Averages the heap growth in between
    /// into the start lag, which lowers the next triggers. A cycle started below the trigger
    /// (forced, periodic) measures nothing.
    pub(crate) fn note_start(&mut self, heap_live: u64, trigger: u64) {
        if heap_live >= trigger && trigger != u64::MAX {
            self.start_lag = (self.start_lag + (heap_live - trigger)) / 2;
        }
    }

    /// Starts a mark phase at sweep termination (Go: `startCycle`): records `heap_live` as
    /// the trigger point and returns the workers to run. Follow with [`Pacer::assist_ratio`].
    pub(crate) fn start_cycle(&mut self, heap_live: u64, procs: usize) -> WorkerPlan {
        self.triggered = Some(heap_live);
        Pacer::worker_plan(procs)
    }

    /// The assist ratio during marking (Go: `revise`). `heap_live` is the live heap now,
    /// `heap_scan` the scannable heap fixed at mark start (Go: `heapScan`), `scan_work_done`
    /// the heap + root scan work so far. Without a running cycle, the marked heap stands in
    /// for the trigger point.
    ///
    /// Paces the remaining work to finish at the goal. If the work already exceeds what the
    /// last cycle scanned, the heap is growing: the goal is extended in proportion to the
    /// worst case (everything scannable is live), at most to `goal * (1 + GOGC/100)`, unless
    /// the goal comes from the memory limit (then it only expects the worst case). Past even
    /// that, it aims 10% further and expects the worst case.
    pub(crate) fn assist_ratio(
        &self,
        heap_live: u64,
        heap_scan: u64,
        scan_work_done: u64,
    ) -> AssistRatio {
        let gogc = self.gogc.map_or(GOGC_WHEN_OFF, u64::from);
        let live = i128::from(heap_live);
        let work = i128::from(scan_work_done);
        let mut goal = i128::from(self.heap_goal());
        let mut expected = i128::from(self.last_heap_scan) + i128::from(self.last_root_scan);
        let max_scan_work = i128::from(heap_scan) + i128::from(self.last_root_scan);
        let memory_limited = self.memory_limit_heap_goal() < self.gc_percent_heap_goal;
        if work > expected && memory_limited {
            // Under the memory limit the goal is a wall, not an estimate: expect the worst
            // case and do not push the goal back.
            expected = max_scan_work;
        } else if work > expected {
            let triggered = i128::from(self.triggered.unwrap_or(self.heap_marked));
            let extended = if expected > 0 {
                ((goal - triggered) as f64 / expected as f64 * max_scan_work as f64) as i128
                    + triggered
            } else {
                i128::MAX
            };
            let hard_goal = ((1.0 + gogc as f64 / 100.0) * goal as f64) as i128;
            goal = extended.min(hard_goal);
            expected = max_scan_work;
        }
        if live > goal {
            goal = (goal as f64 * MAX_OVERSHOOT) as i128;
            expected = max_scan_work;
        }
        let work_remaining = (expected - work).max(MIN_SCAN_WORK_REMAINING) as f64;
        let heap_remaining = (goal - live).max(1) as f64;
        AssistRatio {
            work_per_byte: work_remaining / heap_remaining,
            bytes_per_work: heap_remaining / work_remaining,
        }
    }

    /// Ends a mark phase (Go: `endCycle`, `resetLive`, `commit`): updates cons/mark from what
    /// the cycle measured, makes the marked heap the new base and commits the next goal and
    /// trigger.
    pub(crate) fn end_cycle(&mut self, m: &CycleMeasurements) -> CycleReport {
        self.last_heap_goal = self.heap_goal();
        let cpu_ns = m.mark_wall_ns as f64 * m.procs.max(1) as f64;
        let share = |ns: u64| {
            if m.mark_wall_ns > 0 {
                ns as f64 / cpu_ns
            } else {
                0.0
            }
        };
        // Assume the background workers met their goal; add what assists took.
        let utilization = GOAL_UTILIZATION + share(m.assist_ns);
        let idle_utilization = share(m.idle_mark_ns);
        let scan_work = m.heap_scan_work.saturating_add(m.root_scan_work);
        // (bytes allocated per mutator CPU) / (bytes scanned per GC CPU); wall time and procs
        // cancel out. Idle marking counts as GC CPU but not as CPU taken from the mutator.
        let measured = match self.triggered {
            Some(t) if m.heap_live > t && scan_work > 0 => {
                let c = (m.heap_live - t) as f64 * (utilization + idle_utilization)
                    / (scan_work as f64 * (1.0 - utilization).max(MIN_MUTATOR_SHARE));
                Some(c).filter(|c| c.is_finite())
            }
            _ => None, // A cycle too short to measure, or never started: keep the estimate.
        };
        let previous_cons_mark = self.cons_mark;
        if let Some(current) = measured {
            // Bias towards earlier starts (fewer assists): the max of the last 5 measurements.
            self.cons_mark = self.last_cons_mark.iter().fold(current, |a, &b| a.max(b));
            self.last_cons_mark.rotate_left(1);
            self.last_cons_mark[3] = current;
        }
        let report = CycleReport {
            utilization,
            idle_utilization,
            scan_work,
            scan_work_expected: self.last_heap_scan.saturating_add(self.last_root_scan),
            triggered: self.triggered,
            heap_live: m.heap_live,
            heap_goal: self.last_heap_goal,
            cons_mark_measured: measured,
            previous_cons_mark,
        };
        // resetLive: the marked heap is the new base (with the external memory that
        // survived the last sweep, until this cycle's sweep measures it); the cycle is over.
        self.heap_marked = m.heap_marked.saturating_add(self.external);
        self.last_heap_scan = m.heap_scan_work;
        self.last_root_scan = m.root_scan_work;
        self.triggered = None;
        self.commit(self.heap_marked, m.sweep_done);
        report
    }
}

/// `u128` to `u64`, saturating.
pub(crate) fn saturate(x: u128) -> u64 {
    u64::try_from(x).unwrap_or(u64::MAX)
}

#[cfg(test)]
#[path = "pacer_tests.rs"]
mod tests;
