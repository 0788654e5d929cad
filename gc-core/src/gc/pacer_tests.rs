//! Tests of the pacer (a child of `pacer.rs`), by table and over a grid: goals with
//! `GOGC`, the memory limit and the minimum heap, trigger bounds, the mark's cost
//! estimate, assist ratios, the worker plan, and the invariants between them.

use super::*;

const MIB: u64 = 1 << 20;

// A pacer whose last cycle marked (and scanned) `marked` bytes, sweep finished, with no
// cons/mark measured.
use super::super::pacer_sim::warmed_up_at as after_cycle;

fn with_cons_mark(mut p: Pacer, cons_mark: f64) -> Pacer {
    p.cons_mark = cons_mark;
    p.recompute();
    p
}

#[test]
fn over_assist_is_gos_on_small_heaps_and_shrinks_on_large_ones() {
    const KIB: u64 = 1 << 10;
    for (goal, want) in [
        (0, 64 * KIB),
        (4 * MIB, 64 * KIB),
        (16 * MIB, 64 * KIB),
        (32 * MIB, 32 * KIB),
        (64 * MIB, 16 * KIB),
        (753 * MIB, 16 * KIB),
        (u64::MAX, 16 * KIB),
    ] {
        assert_eq!(over_assist_work(goal), want, "goal {goal}");
    }
}

#[test]
fn first_cycle() {
    let p = Pacer::new(Some(100), NO_MEMORY_LIMIT);
    assert_eq!(p.heap_goal(), 4 * MIB);
    assert_eq!(p.trigger(), 3_997_696); // 3.8125 MiB = 61/64 of 4 MiB
    assert_eq!(p.last_heap_goal(), 0);
    let cases = [
        (Some(50), 2 * MIB, 2 * MIB / 64 * 61),
        (Some(200), 8 * MIB, 8 * MIB / 64 * 61),
        (Some(0), 0, 0),
        (None, u64::MAX, u64::MAX),
    ];
    for (gogc, goal, trigger) in cases {
        let p = Pacer::new(gogc, NO_MEMORY_LIMIT);
        assert_eq!(
            (p.heap_goal(), p.trigger()),
            (goal, trigger),
            "GOGC={gogc:?}"
        );
    }
}

#[test]
fn surviving_external_memory_joins_the_live_base() {
    let mut p = after_cycle(Some(100), NO_MEMORY_LIMIT, 10 * MIB);
    assert_eq!(p.heap_goal(), 20 * MIB);
    // The sweep found 30 MiB of external memory still owned: (10 + 30) * 2.
    p.set_external(30 * MIB);
    assert_eq!((p.heap_marked(), p.heap_goal()), (40 * MIB, 80 * MIB));
    p.set_external(2 * MIB);
    assert_eq!(p.heap_goal(), 24 * MIB);
    assert!(p.trigger() <= p.heap_goal());
    // The next cycle's base is its marked heap plus the last measured survivors, until
    // its own sweep measures them again.
    p.end_cycle(&CycleMeasurements {
        heap_live: 20 * MIB,
        heap_marked: 5 * MIB,
        heap_scan_work: 5 * MIB,
        procs: 4,
        sweep_done: true,
        ..CycleMeasurements::default()
    });
    assert_eq!((p.heap_marked(), p.heap_goal()), (7 * MIB, 14 * MIB));
    // Below the minimum heap the floor still holds.
    p.set_external(0);
    assert_eq!(p.heap_goal(), 10 * MIB);
}

#[test]
fn gogc_goals_and_minimum_heap() {
    let cases = [
        (Some(50), 10 * MIB, 15 * MIB),
        (Some(100), 10 * MIB, 20 * MIB),
        (Some(200), 10 * MIB, 30 * MIB),
        (None, 10 * MIB, u64::MAX),
        (Some(50), 100 * MIB, 150 * MIB),
        (Some(100), 100 * MIB, 200 * MIB),
        (Some(200), 100 * MIB, 300 * MIB),
        (None, 100 * MIB, u64::MAX),
        (Some(0), 10 * MIB, 10 * MIB),
        // Minimum heap: 4 MiB * GOGC / 100.
        (Some(100), 0, 4 * MIB),
        (Some(100), MIB, 4 * MIB),
        (Some(50), MIB, 2 * MIB),
        (Some(200), MIB, 8 * MIB),
        (Some(100), 3 * MIB, 6 * MIB),
    ];
    for (gogc, marked, goal) in cases {
        let p = after_cycle(gogc, NO_MEMORY_LIMIT, marked);
        assert_eq!(p.heap_goal(), goal, "GOGC={gogc:?} marked={marked}");
        assert!(p.trigger() <= p.heap_goal());
    }
    // Root scan work counts towards growth: 10 + (10 + 2) * 100%.
    let mut p = Pacer::new(Some(100), NO_MEMORY_LIMIT);
    p.end_cycle(&CycleMeasurements {
        heap_marked: 10 * MIB,
        root_scan_work: 2 * MIB,
        sweep_done: true,
        ..CycleMeasurements::default()
    });
    assert_eq!(p.heap_goal(), 22 * MIB);
    // Unfinished sweeping keeps goal and trigger >= marked + 1 MiB.
    let mut p = Pacer::new(Some(0), NO_MEMORY_LIMIT);
    p.end_cycle(&CycleMeasurements {
        heap_marked: 10 * MIB,
        ..Default::default()
    });
    assert_eq!((p.heap_goal(), p.trigger()), (11 * MIB, 11 * MIB));
    p.commit(10 * MIB, true);
    assert_eq!((p.heap_goal(), p.trigger()), (10 * MIB, 10 * MIB));
}

#[test]
fn trigger_bounds() {
    let marked = 100 * MIB;
    let span = 100 * MIB; // goal 200 MiB
    let lo = marked + span / 64 * 45; // ~0.70
    let hi = 200 * MIB - HEAP_MINIMUM; // above 61/64 for a big heap
    let cases = [
        (0.0, hi),                    // no runway: as late as allowed
        (0.05, 200 * MIB - 15 * MIB), // runway 0.05 * 3 * 100 MiB
        (0.08, 200 * MIB - 24 * MIB), // still inside the bounds
        (0.2, lo),                    // runway 60 MiB: clamped to ~0.70
        (1e9, lo),                    // absurd runway
        (f64::INFINITY, lo),
    ];
    for (cons_mark, want) in cases {
        let p = with_cons_mark(after_cycle(Some(100), NO_MEMORY_LIMIT, marked), cons_mark);
        assert_eq!(p.trigger(), want, "cons/mark {cons_mark}");
    }
    // Small heap: the upper bound is 61/64 of the way.
    let p = after_cycle(Some(100), NO_MEMORY_LIMIT, 10 * MIB);
    assert_eq!(p.trigger(), 10 * MIB + 10 * MIB / 64 * 61);
    let p = with_cons_mark(p, 10.0);
    assert_eq!(p.trigger(), 10 * MIB + 10 * MIB / 64 * 45);
}

#[test]
fn the_start_lag_lowers_the_trigger_down_to_the_floor() {
    let marked = 10 * MIB;
    let p = after_cycle(Some(100), NO_MEMORY_LIMIT, marked);
    let (top, floor) = (marked + marked / 64 * 61, marked + marked / 64 * 45);
    assert_eq!(p.trigger(), top);
    // (heap at mark start past the trigger, per cycle; the trigger after them)
    let cases: [(&[u64], u64); 5] = [
        (&[0], top),
        (&[MIB], top - MIB / 2),
        (&[MIB, MIB], top - MIB / 4 * 3),
        (&[MIB, 0], top - MIB / 4), // a cycle with no lag halves it
        (&[8 * MIB], floor),        // never below ~70% of the way
    ];
    for (lags, want) in cases {
        let mut q = p.clone();
        for lag in lags {
            let t = q.trigger();
            q.note_start(t + lag, t);
        }
        assert_eq!(q.trigger(), want, "{lags:?}");
    }
    // A cycle started below the trigger (forced, periodic) measures nothing.
    let mut q = p.clone();
    q.note_start(marked, top);
    assert_eq!(q.trigger(), top);
    // GOGC=off: no trigger, nothing to measure.
    let mut off = Pacer::new(None, NO_MEMORY_LIMIT);
    off.note_start(u64::MAX, u64::MAX);
    assert_eq!(off.trigger(), u64::MAX);
}

#[test]
fn cons_mark_is_measured_and_takes_the_max_of_five() {
    let mut p = after_cycle(Some(100), NO_MEMORY_LIMIT, 100 * MIB);
    let cycle = |p: &mut Pacer, allocated: u64| {
        let t = p.trigger();
        p.start_cycle(t, 4);
        p.end_cycle(&CycleMeasurements {
            heap_live: t + allocated,
            heap_marked: 100 * MIB,
            heap_scan_work: 100 * MIB,
            mark_wall_ns: 100_000_000,
            procs: 4,
            ..Default::default()
        })
    };
    // No assists: cons/mark = allocated * 0.25 / (scanned * 0.75).
    let r = cycle(&mut p, 15 * MIB);
    assert!((r.cons_mark_measured.unwrap() - 0.05).abs() < 1e-12);
    assert!((p.cons_mark() - 0.05).abs() < 1e-12);
    assert_eq!(p.runway(), 15 * MIB);
    assert_eq!(p.trigger(), 185 * MIB);
    let mut estimates = vec![];
    for _ in 0..5 {
        cycle(&mut p, 3 * MIB); // measures 0.01
        estimates.push((p.cons_mark() * 100.0).round() as u32);
    }
    assert_eq!(estimates, [5, 5, 5, 5, 1]);
    // A cycle that saw no allocation keeps the estimate.
    let r = cycle(&mut p, 0);
    assert_eq!(r.cons_mark_measured, None);
    assert!((p.cons_mark() - 0.01).abs() < 1e-12);
    let line = r.to_string();
    assert!(
        line.starts_with("pacer: 25% CPU (25 exp.) for 104857600 B work"),
        "{line}"
    );
}

#[test]
fn idle_marking_counts_as_gc_cpu_only() {
    let mut p = after_cycle(Some(100), NO_MEMORY_LIMIT, 100 * MIB);
    p.start_cycle(185 * MIB, 4);
    // Idle workers added another 25% of the CPU: cons/mark = 15 * 0.5 / (100 * 0.75).
    let r = p.end_cycle(&CycleMeasurements {
        heap_live: 200 * MIB,
        heap_marked: 100 * MIB,
        heap_scan_work: 100 * MIB,
        mark_wall_ns: 100_000_000,
        idle_mark_ns: 100_000_000,
        procs: 4,
        ..Default::default()
    });
    assert_eq!((r.utilization, r.idle_utilization), (0.25, 0.25));
    assert!((p.cons_mark() - 0.1).abs() < 1e-12);
}

#[test]
fn goal_stays_a_minimum_runway_above_the_start_of_the_cycle() {
    // The cycle started late, past the 20 MiB goal: the goal moves to 64 KiB beyond.
    let mut p = after_cycle(Some(100), NO_MEMORY_LIMIT, 10 * MIB);
    p.start_cycle(21 * MIB, 4);
    assert_eq!(p.heap_goal(), 21 * MIB + MIN_RUNWAY);
    assert!(p.trigger() <= p.heap_goal());
    // Under a memory limit (15 MiB - 1 MiB headroom) the goal must not move up.
    let mut p = after_cycle(Some(100), 15 * MIB, 10 * MIB);
    p.start_cycle(21 * MIB, 4);
    assert_eq!(p.heap_goal(), 14 * MIB);
}

#[test]
fn memory_limit_below_live_heap_pins_goal_at_marked() {
    for gogc in [Some(100), None] {
        let p = after_cycle(gogc, 50 * MIB, 100 * MIB);
        assert_eq!(p.heap_goal(), 100 * MIB, "GOGC={gogc:?}");
        assert_eq!(p.trigger(), 100 * MIB); // collect continuously
    }
    // Limit 0: the same, never below marked.
    let p = after_cycle(Some(100), 0, 7 * MIB);
    assert_eq!((p.heap_goal(), p.trigger()), (7 * MIB, 7 * MIB));
}

#[test]
fn memory_limit_goal_with_headroom() {
    let usage = |mapped_ready, heap_free, heap_alloc| MemoryUse {
        mapped_ready: mapped_ready * MIB,
        heap_free: heap_free * MIB,
        heap_alloc: heap_alloc * MIB,
    };
    let minus_3pct = |g: u64| g - g / 100 * 3;
    let cases = [
        // (limit MiB, usage, marked MiB, GOGC, goal)
        (200, usage(0, 0, 0), 100, None, minus_3pct(200 * MIB)),
        (200, usage(150, 10, 120), 100, None, minus_3pct(180 * MIB)), // 20 MiB non-heap
        (
            200,
            usage(150, 10, 120),
            100,
            Some(100),
            minus_3pct(180 * MIB),
        ),
        (200, usage(150, 10, 120), 50, Some(100), 100 * MIB), // GOGC goal is lower
        (200, usage(220, 0, 220), 100, None, minus_3pct(180 * MIB)), // 20 MiB over
        (200, usage(300, 0, 50), 40, None, 40 * MIB),         // non-heap alone passes the limit
        (10, usage(0, 0, 0), 1, None, 9 * MIB),               // headroom at least 1 MiB
        (10, usage(0, 0, 0), 1, Some(100), 4 * MIB),
        (1, usage(0, 0, 0), 0, None, MIB), // goal floors at the headroom
        (1, usage(0, 0, 0), 3, None, 3 * MIB), // and at marked
    ];
    for (limit, use_, marked, gogc, goal) in cases {
        let mut p = after_cycle(gogc, limit * MIB, marked * MIB);
        p.set_memory_use(use_);
        assert_eq!(
            p.heap_goal(),
            goal,
            "limit={limit} {use_:?} marked={marked}"
        );
        assert!(p.trigger() <= goal);
    }
    let p = Pacer::new(None, u64::MAX);
    assert_eq!(p.memory_limit_heap_goal(), u64::MAX);
}

#[test]
fn setters_return_the_old_value_and_take_effect() {
    let mut p = after_cycle(Some(100), NO_MEMORY_LIMIT, 100 * MIB);
    assert_eq!(p.set_gogc(Some(50)), Some(100));
    assert_eq!(p.heap_goal(), 150 * MIB);
    assert_eq!(p.set_gogc(None), Some(50));
    assert_eq!((p.heap_goal(), p.trigger()), (u64::MAX, u64::MAX));
    assert_eq!(p.set_memory_limit(400 * MIB), NO_MEMORY_LIMIT);
    assert_eq!(p.heap_goal(), 400 * MIB - 400 * MIB / 100 * 3);
    assert!(p.trigger() < p.heap_goal());
    assert_eq!(p.set_memory_limit(NO_MEMORY_LIMIT), 400 * MIB);
    assert_eq!(p.set_gogc(Some(u32::MAX)), None); // huge GOGC saturates, never panics
    assert!(p.heap_goal() > 100 * MIB && p.trigger() <= p.heap_goal());
    assert_eq!(p.gogc(), Some(u32::MAX));
    assert_eq!(p.memory_limit(), NO_MEMORY_LIMIT);
}

#[test]
fn assist_ratio_cases() {
    let mut p = after_cycle(Some(100), NO_MEMORY_LIMIT, 100 * MIB); // goal 200 MiB
    p.start_cycle(185 * MIB, 4);
    let r = |p: &Pacer, live, scan, work| p.assist_ratio(live * MIB, scan * MIB, work * MIB);
    let close = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.max(1.0);
    // On schedule: 100 MiB of work over 15 MiB of heap, then 50 over 7.5.
    assert!(close(r(&p, 185, 185, 0).work_per_byte, 100.0 / 15.0));
    assert!(close(r(&p, 192, 185, 50).work_per_byte, 50.0 / 8.0));
    let ratio = r(&p, 190, 185, 20);
    assert!(close(ratio.work_per_byte * ratio.bytes_per_work, 1.0));
    // More work than last cycle: the goal stretches to (200-185)/100*185 + 185 MiB and
    // the expected work becomes the whole scannable heap.
    let ext_goal = 15.0 / 100.0 * 185.0 + 185.0;
    assert!(close(
        r(&p, 195, 185, 110).work_per_byte,
        75.0 / (ext_goal - 195.0)
    ));
    // ... at most to goal * (1 + GOGC/100).
    assert!(close(
        r(&p, 195, 100_000, 110).work_per_byte,
        (100_000.0 - 110.0) / 205.0
    ));
    // Past the goal: aim 10% further, expect the worst case.
    assert!(close(r(&p, 215, 185, 50).work_per_byte, 135.0 / 5.0));
    // Past even that: one byte of runway left.
    assert!(close(r(&p, 250, 185, 50).work_per_byte, 135.0 * MIB as f64));
    // Remaining work floors at 1000.
    assert!(close(
        r(&p, 185, 185, 100).work_per_byte,
        1000.0 / (15 * MIB) as f64
    ));
    // GOGC=off (a forced cycle): the goal is unbounded, assists are negligible.
    let mut off = after_cycle(None, NO_MEMORY_LIMIT, 100 * MIB);
    off.start_cycle(150 * MIB, 4);
    assert!(off.assist_ratio(150 * MIB, 150 * MIB, 0).work_per_byte < 1e-9);
    // Memory-limited: more work than last cycle does not push the goal back; the whole
    // scannable heap is expected within the limit goal.
    let mut lim = after_cycle(None, 64 * MIB, 16 * MIB);
    lim.start_cycle(58 * MIB, 2);
    let goal = lim.heap_goal() as f64;
    assert!(goal < 64.0 * MIB as f64);
    assert!(close(
        lim.assist_ratio(60 * MIB, 58 * MIB, 20 * MIB).work_per_byte,
        (38 * MIB) as f64 / (goal - (60 * MIB) as f64)
    ));
    // First cycle: nothing scanned before, any work at all extends to the hard goal.
    let mut first = Pacer::new(Some(100), NO_MEMORY_LIMIT);
    first.start_cycle(4 * MIB, 1);
    let a = first.assist_ratio(4 * MIB, 4 * MIB, 1);
    assert!(a.work_per_byte.is_finite() && a.work_per_byte > 0.0);
}

#[test]
fn worker_plan_table() {
    let table = [
        (1, 0, 0.25),
        (2, 0, 0.25),
        (3, 0, 0.25),
        (4, 1, 0.0),
        (5, 1, 0.0),
        (6, 1, 0.5 / 6.0),
        (7, 2, 0.0),
        (8, 2, 0.0),
        (9, 2, 0.0),
        (10, 3, 0.0),
        (11, 3, 0.0),
        (12, 3, 0.0),
        (13, 3, 0.0),
        (14, 4, 0.0),
        (15, 4, 0.0),
        (16, 4, 0.0),
    ];
    for (procs, dedicated, fractional) in table {
        let plan = Pacer::worker_plan(procs);
        assert_eq!(plan.dedicated, dedicated, "procs={procs}");
        assert!(
            (plan.fractional_utilization - fractional).abs() < 1e-12,
            "procs={procs}"
        );
        let total = plan.dedicated as f64 + plan.fractional_utilization * procs as f64;
        assert!(
            (total / procs as f64 - 0.25).abs() <= 0.25 * 0.3 + 1e-12,
            "procs={procs}"
        );
    }
    assert_eq!(Pacer::worker_plan(0), Pacer::worker_plan(1));
    assert_eq!(Pacer::worker_plan(64).dedicated, 16);
}

/// Trigger and goal invariants over a grid of extreme states; none may panic.
#[test]
fn invariants_hold_on_a_grid() {
    let sizes = [
        0,
        1,
        MIB,
        4 * MIB,
        100 * MIB,
        1 << 40,
        u64::MAX / 2,
        u64::MAX,
    ];
    let gogcs = [Some(0), Some(1), Some(100), Some(u32::MAX), None];
    for &marked in &sizes {
        for &limit in &sizes {
            for gogc in gogcs {
                for cons_mark in [0.0, 0.5, 1e30] {
                    let mut p = with_cons_mark(after_cycle(gogc, limit, marked), cons_mark);
                    p.set_memory_use(MemoryUse {
                        mapped_ready: limit,
                        heap_free: 0,
                        heap_alloc: marked,
                    });
                    for sweep_done in [true, false] {
                        p.commit(marked, sweep_done);
                        let (goal, trigger) = (p.heap_goal(), p.trigger());
                        assert!(trigger <= goal, "{p:?}");
                        assert!(goal >= marked, "{p:?}");
                        p.start_cycle(trigger, 3);
                        let a = p.assist_ratio(trigger, trigger, marked);
                        assert!(a.work_per_byte >= 0.0 && !a.work_per_byte.is_nan());
                        p.triggered = None;
                    }
                }
            }
        }
    }
}
