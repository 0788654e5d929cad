//! The fuller pacer model (`Sim`, a child of `pacer_sim.rs`) and the scenarios that need
//! it. Beside one mark phase, as `pacer_sim.rs`'s `run_cycle` models it, it runs the program
//! between cycles, refreshes the memory statistics the memory-limit goal reads at every
//! step, and can feed a GC CPU limiter (`cpu_limiter.rs`). The scenarios: a memory limit
//! below the live heap, with and without the limiter; steady states over GOGC and
//! GOMAXPROCS; a memory limit lowered mid-run.
//!
//! Invariants of the model: the heap is all the memory there is (`mapped_ready` and
//! `heap_alloc` are the heap), a mark phase ends when its scan work reaches the live heap,
//! and a cycle starts at the trigger, at least a span above where the last one left the
//! heap. Test-only and single-threaded: each test owns its `Sim`, nothing is shared. The
//! program (`World`) and the warmed-up pacer (`warmed_up_at`) are `pacer_sim.rs`'s. The
//! collector overview is `crate::design::collector`.

use super::super::cpu_limiter::CpuLimiter;
use super::super::pacer::{MemoryUse, Pacer, NO_MEMORY_LIMIT};
use super::{measured, warmed_up_at, World, MIB};

// A fuller model for the tests below: it also runs the program between cycles (every proc
// allocating until the heap reaches the trigger), keeps the memory statistics the limit goal
// reads up to date at every step (the heap is all the memory there is), and can feed a CPU
// limiter, whose `limiting()` makes assists stand down as in Go's `gcAssistAlloc`.

/// Go tests the trigger when an mcache refills a span, so a cycle starts with the heap at
/// least this far above where the last cycle left it, even when the trigger is lower.
const SPAN: u64 = 8 << 10;

/// Simulation step during marking, ns of wall time.
const STEP_NS: f64 = 50_000.0;

/// What one cycle of [`Sim::cycle`] did. Times are ns, `*_cpu` CPU-ns.
#[derive(Clone, Copy, Debug)]
struct SimCycle {
    trigger: u64,
    /// The goal when the cycle started.
    goal: u64,
    /// The goal the cycle ended with (Go: `lastHeapGoal`).
    final_goal: u64,
    /// The heap at mark termination.
    end_heap: u64,
    /// The pacer's measure of the mark phase's GC CPU share.
    utilization: f64,
    /// Wall time from the end of the previous cycle to the start of this one.
    between_wall: f64,
    mark_wall: f64,
    /// GC CPU over the whole cycle (background workers and assists).
    gc_cpu: f64,
    /// All CPU over the whole cycle, between-cycles time included.
    cpu: f64,
    /// Mark-phase wall time during which the limiter was on.
    limited_wall: f64,
}

struct Sim {
    pacer: Pacer,
    limiter: Option<CpuLimiter>,
    /// The live heap (Go: `heapLive`), fractional so that slow steps still allocate.
    heap: f64,
    /// A memory limit to set once the next cycle reaches its trigger, before it starts.
    limit_at_mark_start: Option<u64>,
}

impl Sim {
    fn new(pacer: Pacer, limiter: Option<CpuLimiter>) -> Sim {
        let heap = pacer.heap_marked() as f64;
        Sim {
            pacer,
            limiter,
            heap,
            limit_at_mark_start: None,
        }
    }

    fn refresh_memory_use(&mut self) {
        let heap = self.heap as u64;
        self.pacer.set_memory_use(MemoryUse {
            mapped_ready: heap,
            heap_free: 0,
            heap_alloc: heap,
        });
    }

    fn limiting(&self) -> bool {
        self.limiter.as_ref().is_some_and(CpuLimiter::limiting)
    }

    /// Runs the program up to the trigger, then one mark phase in [`STEP_NS`] steps as in
    /// [`run_cycle`](super::run_cycle), except that the background share comes from the
    /// worker plan and, while the limiter is on, mutators run unthrottled and only run up
    /// debt.
    fn cycle(&mut self, w: &World) -> SimCycle {
        let procs = w.procs as f64;
        // Between cycles: every proc runs the program.
        self.refresh_memory_use();
        let trigger = self.pacer.trigger();
        assert!(trigger < u64::MAX, "no trigger");
        let start = (trigger as f64).max(self.heap + SPAN as f64);
        let between_wall = (start - self.heap) / (w.alloc * procs);
        self.heap = start;
        if let Some(l) = &mut self.limiter {
            l.account_window(between_wall as u64, 0, 0, false);
        }
        let mut cpu = between_wall * procs;
        // Marking.
        if let Some(limit) = self.limit_at_mark_start.take() {
            self.pacer.set_memory_limit(limit);
        }
        self.refresh_memory_use();
        let plan = self.pacer.start_cycle(start as u64, w.procs);
        let goal = self.pacer.heap_goal();
        let background_share =
            (plan.dedicated as f64 + plan.fractional_utilization * procs) / procs;
        let mutator_max = 1.0 - background_share;
        let heap_scan = start as u64;
        let total = w.live as f64;
        let step_cpu = procs * STEP_NS;
        let (mut work, mut credit, mut wall, mut assist_ns) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
        let (mut gc_cpu, mut limited_wall) = (0.0f64, 0.0f64);
        let mut steps = 0;
        while work < total {
            steps += 1;
            assert!(steps < 1_000_000, "the mark phase never ends");
            self.refresh_memory_use();
            let ratio = self
                .pacer
                .assist_ratio(self.heap as u64, heap_scan, work as u64)
                .work_per_byte;
            let limiting = self.limiting();
            let background = w.scan * background_share * step_cpu;
            let f = if limiting {
                mutator_max
            } else {
                ((credit + background + w.scan * mutator_max * step_cpu)
                    / ((ratio * w.alloc + w.scan) * step_cpu))
                    .clamp(0.0, mutator_max)
            };
            let assist_cpu = (mutator_max - f) * step_cpu;
            let step_work = background + w.scan * assist_cpu;
            let k = ((total - work) / step_work).min(1.0); // the last step is partial
            let allocated = w.alloc * f * step_cpu;
            credit += (step_work - ratio * allocated) * k;
            work += step_work * k;
            self.heap += allocated * k;
            wall += STEP_NS * k;
            assist_ns += assist_cpu * k;
            gc_cpu += (background_share * step_cpu + assist_cpu) * k;
            cpu += step_cpu * k;
            if limiting {
                limited_wall += STEP_NS * k;
            }
            if let Some(l) = &mut self.limiter {
                l.account_window((STEP_NS * k) as u64, (assist_cpu * k) as u64, 0, true);
            }
        }
        let end_heap = self.heap as u64;
        let report = self
            .pacer
            .end_cycle(&measured(w, end_heap, wall, assist_ns));
        self.heap = w.live as f64; // Go's resetLive
        SimCycle {
            trigger,
            goal,
            final_goal: report.heap_goal,
            end_heap,
            utilization: report.utilization,
            between_wall,
            mark_wall: wall,
            gc_cpu,
            cpu,
            limited_wall,
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB as f64
}

/// A memory limit (64 MiB) below a 100 MiB live heap, under a program that allocates as
/// fast as the collector scans. The goal is pinned at the marked heap, so the trigger is
/// there too and cycles run back to back; assists hold the heap to the 10% overshoot the
/// assist ratio allows past the goal, which takes ~91% of the CPU. Fed the CPU limiter,
/// assists stand down whenever it is on: GC CPU falls to 62.5%. That is above 50%
/// because the limiter alternates step by step between "on" (background workers only, 25%)
/// and "off" (assists repaying the debt run up meanwhile, 100%), and the step that fills the
/// bucket again counts its excess as overflow; net of overflow the share is exactly 50%
/// (Go's `accumulate` does the same). The price is heap: allocation runs unpaced half the
/// time, and cycles end near 160 MiB instead of 110 MiB.
#[test]
fn simulation_with_the_memory_limit_below_the_live_heap() {
    const LIVE: u64 = 100 * MIB;
    const LIMIT: u64 = 64 * MIB;
    /// Simulated wall time before the measurement starts: the bucket takes ~1.2 s to fill.
    const WARM_UP_NS: f64 = 2e9;
    const END_NS: f64 = 4e9;
    struct Run {
        gc_share: f64,
        /// GC share with the limiter's overflow taken out of GC and total CPU.
        accounted_share: f64,
        /// Share of mark time with the limiter on.
        limited_share: f64,
        max_end_heap: u64,
        cycles: usize,
    }
    let run = |gogc: Option<u32>, procs: usize, with_limiter: bool| -> Run {
        let w = World {
            live: LIVE,
            alloc: 1.0,
            scan: 1.0,
            procs,
        };
        let limiter = with_limiter.then(|| CpuLimiter::new(procs));
        let mut sim = Sim::new(warmed_up_at(gogc, LIMIT, LIVE), limiter);
        let overflow = |sim: &Sim| sim.limiter.as_ref().map_or(0, CpuLimiter::overflow) as f64;
        let (mut now, mut gc, mut cpu, mut mark, mut limited) = (0.0, 0.0, 0.0, 0.0, 0.0);
        let (mut overflow_at_start, mut max_end_heap, mut cycles) = (None, 0, 0);
        while now < END_NS {
            if now >= WARM_UP_NS && overflow_at_start.is_none() {
                overflow_at_start = Some(overflow(&sim));
            }
            let o = sim.cycle(&w);
            let i = cycles;
            cycles += 1;
            now += o.between_wall + o.mark_wall;
            // Pinned at the marked heap, whatever GOGC says.
            assert_eq!(
                (o.trigger, o.goal, o.final_goal),
                (LIVE, LIVE, LIVE),
                "cycle {i}"
            );
            assert_eq!(sim.pacer.heap_marked(), LIVE);
            // Back to back: the next cycle starts on the first span refill.
            assert!(o.between_wall < o.mark_wall * 1e-3, "cycle {i}: {o:?}");
            if !with_limiter {
                // Assists hold the heap to 10% past the goal.
                assert!(o.end_heap as f64 <= LIVE as f64 * 1.1 * 1.001, "cycle {i}");
            }
            if overflow_at_start.is_some() {
                gc += o.gc_cpu;
                cpu += o.cpu;
                mark += o.mark_wall;
                limited += o.limited_wall;
                max_end_heap = max_end_heap.max(o.end_heap);
            }
        }
        let overflowed = overflow(&sim) - overflow_at_start.unwrap();
        Run {
            gc_share: gc / cpu,
            accounted_share: (gc - overflowed) / (cpu - overflowed),
            limited_share: limited / mark,
            max_end_heap,
            cycles,
        }
    };
    for gogc in [None, Some(100)] {
        for procs in [4, 8] {
            let case = format!("GOGC={gogc:?} procs={procs}");
            let free = run(gogc, procs, false);
            assert!(free.gc_share > 0.9, "{case}: {}", free.gc_share);
            assert_eq!(free.limited_share, 0.0);
            let held = run(gogc, procs, true);
            assert!(
                (0.45..0.65).contains(&held.gc_share),
                "{case}: GC share {} with the limiter",
                held.gc_share
            );
            assert!(
                (held.accounted_share - 0.5).abs() < 0.01,
                "{case}: {}",
                held.accounted_share
            );
            assert!(
                (0.4..0.6).contains(&held.limited_share),
                "{case}: {}",
                held.limited_share
            );
            // Less GC CPU: fewer, longer cycles in the same wall time, and a bigger (but
            // bounded) heap.
            assert!(held.cycles < free.cycles, "{case}");
            assert!(
                held.max_end_heap > free.max_end_heap && held.max_end_heap < LIVE * 17 / 10,
                "{case}: {} MiB",
                mib(held.max_end_heap)
            );
            println!(
                "{case}: GC CPU {:.4} without the limiter, {:.4} with it ({:.4} net of \
                 overflow, limiter on {:.3} of mark time); cycles end at up to {:.1} MiB \
                 without, {:.1} MiB with",
                free.gc_share,
                held.gc_share,
                held.accounted_share,
                held.limited_share,
                mib(free.max_end_heap),
                mib(held.max_end_heap)
            );
        }
    }
}

/// Steady states over GOGC and GOMAXPROCS, with the allocation rate jittering +-10% from
/// cycle to cycle and the CPU limiter fed: after warm-up each cycle ends within 5% of
/// `live * (1 + GOGC/100)` (never more than 1% past it), GC utilization averages within a
/// point of the 25% background share (a cycle faster than the last five needs some assists),
/// and the limiter never engages.
#[test]
fn simulation_steady_state_table() {
    const LIVE: u64 = 64 * MIB;
    const WARM_UP: usize = 5;
    const CYCLES: usize = 40;
    // (GOGC, allocated bytes per mutator CPU-ns; the collector scans 1 byte per GC CPU-ns)
    let rows = [
        (50, 0.03),
        (100, 0.04),
        (100, 0.08),
        (200, 0.04),
        (200, 0.1),
    ];
    for (gogc, alloc) in rows {
        for procs in [2, 4, 8] {
            let case = format!("GOGC={gogc} alloc={alloc} procs={procs}");
            let mut sim = Sim::new(
                warmed_up_at(Some(gogc), NO_MEMORY_LIMIT, LIVE),
                Some(CpuLimiter::new(procs)),
            );
            let target = LIVE + LIVE * u64::from(gogc) / 100;
            // A jitter sequence per row; the same for each procs count, which the model's
            // outcome does not depend on beyond the worker plan.
            let mut state: u64 =
                0x9E37_79B9_7F4A_7C15 ^ (u64::from(gogc) << 32 | (alloc * 1e3) as u64);
            let (mut worst, mut max_utilization, mut utilization) = (0.0f64, 0.0f64, 0.0);
            for i in 0..CYCLES {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let jitter = 0.9 + 0.2 * (state % 1000) as f64 / 1000.0;
                let w = World {
                    live: LIVE,
                    alloc: alloc * jitter,
                    scan: 1.0,
                    procs,
                };
                let o = sim.cycle(&w);
                assert_eq!(o.goal, target, "{case} cycle {i}");
                assert!(o.trigger < o.goal, "{case} cycle {i}");
                assert_eq!(o.limited_wall, 0.0, "{case} cycle {i}");
                if i >= WARM_UP {
                    let deviation = o.end_heap as f64 / target as f64 - 1.0;
                    assert!(
                        (-0.05..=0.01).contains(&deviation),
                        "{case} cycle {i}: ended at {} MiB",
                        mib(o.end_heap)
                    );
                    assert!(
                        (0.25..0.3).contains(&o.utilization),
                        "{case} cycle {i}: utilization {}",
                        o.utilization
                    );
                    worst = worst.max(deviation.abs());
                    max_utilization = max_utilization.max(o.utilization);
                    utilization += o.utilization / (CYCLES - WARM_UP) as f64;
                }
            }
            assert!(utilization < 0.26, "{case}: mean utilization {utilization}");
            let limiter = sim.limiter.as_ref().unwrap();
            assert!(!limiter.limiting() && limiter.overflow() == 0, "{case}");
            println!(
                "{case}: worst |end/goal - 1| {worst:.4}, utilization mean {utilization:.4} \
                 max {max_utilization:.4}"
            );
        }
    }
}

/// When the limit is lowered.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Lowered {
    /// Right after a cycle ends, with the heap at the marked heap.
    AfterCycle,
    /// When the heap has reached the old trigger, above the new limit: the overage counts
    /// against the goal until the heap comes down.
    AtTrigger,
}

/// A memory limit lowered at cycle 10 (`Pacer::set_memory_limit`): the goal follows at
/// once (lower still by the overage when the heap is already above the new limit, and then
/// that cycle's assists stop the program), and from the next cycle on cycles end at
/// `limit - 3%`, under the limit. When the live heap itself is above the new limit, the
/// goal stays pinned at the marked heap until the program frees memory (at cycle 20 in the
/// last row).
#[test]
fn simulation_with_a_memory_limit_lowered_mid_run() {
    const CHANGE: usize = 10;
    const SHRINK: usize = 20;
    // (GOGC, limit before, live heap before, new limit, when, live heap from cycle SHRINK)
    let rows = [
        (Some(100), NO_MEMORY_LIMIT, 64, 100, Lowered::AfterCycle, 64),
        (Some(100), NO_MEMORY_LIMIT, 64, 100, Lowered::AtTrigger, 64),
        (None, 512 * MIB, 64, 128, Lowered::AfterCycle, 64),
        (None, 512 * MIB, 64, 128, Lowered::AtTrigger, 64),
        (Some(100), NO_MEMORY_LIMIT, 96, 80, Lowered::AfterCycle, 48),
    ];
    for (gogc, old_limit, live_before, new_limit, when, live_after) in rows {
        let case = format!("GOGC={gogc:?} {live_before} MiB live, limit {new_limit} MiB {when:?}");
        let (new_limit, live_before, live_after) =
            (new_limit * MIB, live_before * MIB, live_after * MIB);
        let limit_goal = new_limit - new_limit / 100 * 3;
        let mut sim = Sim::new(warmed_up_at(gogc, old_limit, live_before), None);
        let old_goal = sim.pacer.heap_goal();
        let mut marked = live_before;
        let mut first_under = None;
        let mut trace = Vec::new();
        for i in 0..30 {
            if i == CHANGE {
                match when {
                    Lowered::AfterCycle => {
                        sim.pacer.set_memory_limit(new_limit);
                    }
                    Lowered::AtTrigger => sim.limit_at_mark_start = Some(new_limit),
                }
            }
            let live = if i < SHRINK { live_before } else { live_after };
            let o = sim.cycle(&World {
                live,
                alloc: 0.05,
                scan: 1.0,
                procs: 4,
            });
            let at_trigger = when == Lowered::AtTrigger && i == CHANGE;
            if i < CHANGE {
                assert_eq!(o.goal, old_goal, "{case} cycle {i}");
            } else if at_trigger {
                // The heap is already over the new limit: the goal drops below the limit by
                // the overage too, but never below the marked heap.
                assert!(
                    o.goal >= marked && o.goal < limit_goal,
                    "{case}: goal {} MiB",
                    mib(o.goal)
                );
                // The heap is past even 110% of that goal: assists take every mutator cycle
                // and the heap stops where it was.
                assert!(
                    o.utilization > 0.99 && o.end_heap < o.trigger + MIB,
                    "{case}"
                );
            } else {
                assert_eq!(o.goal, limit_goal.max(marked), "{case} cycle {i}");
            }
            if !at_trigger {
                // (At the trigger, `o.trigger` is the old limit's.)
                assert!(o.trigger <= o.goal, "{case} cycle {i}");
            }
            if i >= CHANGE && !at_trigger {
                if marked < limit_goal {
                    // The live heap allows it: the heap ends at the goal, under the limit.
                    assert!(o.end_heap <= new_limit, "{case} cycle {i}");
                    assert!(
                        (o.end_heap as f64 / o.goal as f64 - 1.0).abs() < 0.01,
                        "{case} cycle {i}: {} MiB for a goal of {} MiB",
                        mib(o.end_heap),
                        mib(o.goal)
                    );
                    first_under.get_or_insert(i);
                } else {
                    // It does not: pinned at the marked heap, at most 10% past it.
                    assert_eq!(o.goal, marked, "{case} cycle {i}");
                    assert!(o.end_heap > new_limit, "{case} cycle {i}");
                    assert!(o.end_heap as f64 <= marked as f64 * 1.1 * 1.001);
                }
            }
            if (CHANGE - 1..=CHANGE + 1).contains(&i) || (SHRINK..=SHRINK + 1).contains(&i) {
                trace.push(format!(
                    "{i}: goal {:.1} end {:.1} u {:.2}",
                    mib(o.goal),
                    mib(o.end_heap),
                    o.utilization
                ));
            }
            marked = live;
        }
        println!("{case}: {}", trace.join(", "));
        let expected_first_under = if live_before >= limit_goal {
            SHRINK + 1
        } else if when == Lowered::AtTrigger {
            CHANGE + 1
        } else {
            CHANGE
        };
        assert_eq!(first_under, Some(expected_first_under), "{case}");
    }
}
