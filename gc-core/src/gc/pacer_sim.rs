//! Closed-loop simulations of the pacer (`super::pacer`): a model program allocates while
//! modelled mark workers and assists scan, and the tests check that, cycle after cycle, the
//! heap ends at the goal without overshooting and assists stay rare once the cons/mark
//! estimate has settled. A fuller model (`Sim`, in `pacer_sim_full.rs`, a child module)
//! also runs the program between cycles and feeds the GC CPU limiter
//! (`super::cpu_limiter`), for memory limits below the live heap, steady states over GOGC
//! and GOMAXPROCS, and a limit lowered mid-run. Test-only; the collector overview is
//! `crate::design::collector`.

use super::pacer::{CycleMeasurements, MemoryUse, Pacer, GOAL_UTILIZATION, NO_MEMORY_LIMIT};

const MIB: u64 = 1 << 20;

/// A program with a steady live heap, all of it scannable, that allocates `alloc` bytes
/// per mutator CPU-ns while the collector scans `scan` bytes per GC CPU-ns.
struct World {
    live: u64,
    alloc: f64,
    scan: f64,
    procs: usize,
}

struct Outcome {
    trigger: u64,
    goal: u64,
    end_heap: u64,
    utilization: f64,
}

/// What a simulated cycle of world `w` tells the pacer at mark termination: the whole live
/// heap marked and scanned, no roots, no idle workers.
fn measured(w: &World, heap_live: u64, wall_ns: f64, assist_ns: f64) -> CycleMeasurements {
    CycleMeasurements {
        heap_live,
        heap_marked: w.live,
        heap_scan_work: w.live,
        root_scan_work: 0,
        mark_wall_ns: wall_ns as u64,
        assist_ns: assist_ns as u64,
        idle_mark_ns: 0,
        procs: w.procs,
        sweep_done: false,
    }
}

/// Runs one cycle in 50 us steps: background workers take 25% of the CPU; mutators
/// allocate with the rest, paying `assist_ratio` scan work per byte, first out of the
/// background workers' credit and then by assisting (Go's gcAssistAlloc).
fn run_cycle(p: &mut Pacer, w: &World) -> Outcome {
    let trigger = p.trigger();
    let mut heap_live = trigger.max(w.live); // the mutator allocated up to the trigger
    p.set_memory_use(MemoryUse {
        mapped_ready: heap_live,
        heap_free: 0,
        heap_alloc: heap_live,
    });
    p.start_cycle(heap_live, w.procs);
    let goal = p.heap_goal();
    let heap_scan = heap_live;
    let procs = w.procs as f64;
    let dt = 50_000.0;
    let (mut work, mut credit, mut wall, mut assist_ns) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    let total = w.live as f64;
    while work < total {
        let ratio = p
            .assist_ratio(heap_live, heap_scan, work as u64)
            .work_per_byte;
        let background = w.scan * GOAL_UTILIZATION * procs * dt;
        // Mutator share f of the CPU: allocating A*f*P*dt bytes costs ratio times that in
        // work, paid from credit plus S*(0.75 - f)*P*dt of assist work.
        let f = ((credit + background + w.scan * 0.75 * procs * dt)
            / ((ratio * w.alloc + w.scan) * procs * dt))
            .clamp(0.0, 0.75);
        let assist_cpu = (0.75 - f) * procs * dt;
        let step_work = background + w.scan * assist_cpu;
        let k = ((total - work) / step_work).min(1.0); // the last step is partial
        let allocated = w.alloc * f * procs * dt * k;
        credit += (step_work - ratio * w.alloc * f * procs * dt) * k;
        work += step_work * k;
        wall += dt * k;
        assist_ns += assist_cpu * k;
        heap_live += allocated as u64;
    }
    let report = p.end_cycle(&measured(w, heap_live, wall, assist_ns));
    Outcome {
        trigger,
        goal,
        end_heap: heap_live,
        utilization: report.utilization,
    }
}

fn world(alloc: f64) -> World {
    World {
        live: 64 * MIB,
        alloc,
        scan: 1.0,
        procs: 4,
    }
}

/// Starts from scratch with a 64 MiB live heap already in place: one cycle marked (and
/// scanned) 64 MiB, sweep finished, no cons/mark measured yet.
fn warmed_up(gogc: Option<u32>, limit: u64) -> Pacer {
    warmed_up_at(gogc, limit, 64 * MIB)
}

/// [`warmed_up`] with a live heap of `live` bytes (also the pacer's tests' `after_cycle`).
pub(super) fn warmed_up_at(gogc: Option<u32>, limit: u64, live: u64) -> Pacer {
    let mut p = Pacer::new(gogc, limit);
    p.end_cycle(&CycleMeasurements {
        heap_live: live,
        heap_marked: live,
        heap_scan_work: live,
        procs: 4,
        sweep_done: true,
        ..CycleMeasurements::default()
    });
    p
}

#[test]
fn simulation_settles_at_the_goal() {
    let mut p = warmed_up(Some(100), NO_MEMORY_LIMIT);
    let w = world(0.05);
    let outcomes: Vec<Outcome> = (0..50).map(|_| run_cycle(&mut p, &w)).collect();
    // Runway = cons/mark * 3 * 64 MiB = 9.6 MiB below the 128 MiB goal.
    let expected_trigger = 128.0 - 0.05 * 3.0 * 64.0;
    for (i, o) in outcomes.iter().enumerate() {
        assert!(o.trigger <= o.goal);
        assert!(
            o.end_heap as f64 <= o.goal as f64 * 1.01,
            "cycle {i}: overshoot"
        );
        if i >= 2 {
            let trigger_mib = o.trigger as f64 / MIB as f64;
            assert!(
                (trigger_mib - expected_trigger).abs() < 0.1,
                "cycle {i}: {trigger_mib}"
            );
            assert!(
                (o.end_heap as f64 / o.goal as f64 - 1.0).abs() < 0.01,
                "cycle {i}"
            );
            assert!(o.utilization < 0.26, "cycle {i}: {}", o.utilization);
        }
    }
    // The first cycle had no estimate, started late and needed assists.
    assert!(outcomes[0].utilization > 0.3);
}

#[test]
fn simulation_absorbs_an_allocation_spike() {
    let mut p = warmed_up(Some(100), NO_MEMORY_LIMIT);
    let outcomes: Vec<Outcome> = (0..50)
        .map(|i| {
            run_cycle(
                &mut p,
                &world(if (20..30).contains(&i) { 0.08 } else { 0.04 }),
            )
        })
        .collect();
    let steady = 128.0 - 0.04 * 3.0 * 64.0;
    let spiking = 128.0 - 0.08 * 3.0 * 64.0;
    for (i, o) in outcomes.iter().enumerate() {
        let trigger = o.trigger as f64 / MIB as f64;
        assert!(
            o.end_heap as f64 <= o.goal as f64 * 1.01,
            "cycle {i}: overshoot"
        );
        match i {
            19 => assert!((trigger - steady).abs() < 0.1),
            // The spike's first cycle starts too late: assists keep the heap at the goal.
            20 => assert!(o.utilization > 0.3, "{}", o.utilization),
            // Then the pacer starts earlier and assists stop.
            22..=29 => {
                assert!((trigger - spiking).abs() < 0.1, "cycle {i}: {trigger}");
                assert!(o.utilization < 0.26, "cycle {i}");
            }
            // After the spike, the max-of-5 keeps starting early for a few cycles
            // (finishing below the goal, never above) ...
            30..=33 => {
                assert!((trigger - spiking).abs() < 0.1, "cycle {i}");
                assert!(o.end_heap < o.goal);
            }
            // ... then returns to the steady trigger.
            36.. => {
                assert!((trigger - steady).abs() < 0.1, "cycle {i}: {trigger}");
                assert!(o.utilization < 0.26);
            }
            _ => {}
        }
    }
}

/// Allocation rate jittering +-30% from cycle to cycle: the max-of-5 estimate starts
/// cycles a little early, so assists stay rare and the heap never passes the goal.
#[test]
fn simulation_with_a_noisy_allocation_rate() {
    let mut p = warmed_up(Some(100), NO_MEMORY_LIMIT);
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let (mut utilization, mut fill, mut n) = (0.0, 0.0, 0.0);
    for i in 0..50 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let jitter = 0.7 + 0.6 * (state % 1000) as f64 / 1000.0;
        let o = run_cycle(&mut p, &world(0.05 * jitter));
        assert!(o.trigger <= o.goal);
        assert!(
            o.end_heap as f64 <= o.goal as f64 * 1.01,
            "cycle {i}: overshoot"
        );
        if i >= 5 {
            utilization += o.utilization;
            fill += (o.end_heap - 64 * MIB) as f64 / (o.goal - 64 * MIB) as f64;
            n += 1.0;
        }
    }
    let (utilization, fill) = (utilization / n, fill / n);
    assert!(utilization < 0.26, "mean GC utilization {utilization}");
    assert!(fill > 0.75, "mean use of the runway to the goal {fill}");
}

/// A live heap growing 10% per cycle: each cycle finds more work than the last, so the
/// assist ratio stretches the goal rather than forcing heavy assists.
#[test]
fn simulation_with_a_growing_live_heap() {
    let mut p = warmed_up(Some(100), NO_MEMORY_LIMIT);
    let mut live = 64.0 * MIB as f64;
    for i in 0..20 {
        live *= 1.1;
        let w = World {
            live: live as u64,
            alloc: 0.05,
            scan: 1.0,
            procs: 4,
        };
        let o = run_cycle(&mut p, &w);
        assert!(o.trigger <= o.goal, "cycle {i}");
        // Scanning 10% more than expected stretches the goal by a little under 1%.
        assert!(
            o.end_heap as f64 <= o.goal as f64 * 1.02,
            "cycle {i}: overshoot"
        );
        if i > 0 {
            // Cycle 0 starts cold, without a cons/mark estimate.
            assert!(o.utilization < 0.26, "cycle {i}: {}", o.utilization);
        }
        assert_eq!(p.heap_goal(), 2 * live as u64, "cycle {i}: next goal");
    }
}

#[test]
fn simulation_under_a_memory_limit_with_gogc_off() {
    let limit = 256 * MIB;
    let mut p = warmed_up(None, limit);
    let goal = limit - limit / 100 * 3;
    for i in 0..30 {
        let o = run_cycle(&mut p, &world(0.05));
        assert_eq!(o.goal, goal, "cycle {i}");
        assert!(o.trigger < o.goal && o.end_heap <= limit, "cycle {i}");
        if i >= 2 {
            assert!(
                (o.end_heap as f64 / goal as f64 - 1.0).abs() < 0.01,
                "cycle {i}"
            );
            assert!(o.utilization < 0.26, "cycle {i}");
        }
    }
}

#[path = "pacer_sim_full.rs"]
mod full;
