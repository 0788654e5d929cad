//! Tests of the workers' scheduling policy (a child of `worker_mode.rs`): the worker
//! plan by `GOMAXPROCS`, the fractional share, and yielding between drains.

use super::*;

fn plan(procs: usize) -> WorkerPlan {
    super::super::pacer::Pacer::worker_plan(procs)
}

#[test]
fn only_workers_below_full_time_yield_their_core_between_drains() {
    let (ms, us) = (Duration::from_millis, Duration::from_micros);
    let cases = [
        // Dedicated: drains on at once, never yields, whatever its time.
        (Mode::Dedicated, ms(5), ms(5), Pause::None),
        // Idle: yields after every drain (its drains end on their slice).
        (Mode::Idle, ms(5), ms(5), Pause::Yield),
        (Mode::Idle, ms(0), ms(5), Pause::Yield),
        // Fractional within its share (plus the slack): yields, and drains again.
        (Mode::Fractional(0.5), ms(2), ms(4), Pause::Yield),
        (Mode::Fractional(0.5), ms(2), ms(3), Pause::Yield),
        // Fractional over it: sleeps it off, at most 2 ms at a time.
        (Mode::Fractional(0.5), ms(3), ms(4), Pause::Nap(ms(2))),
        (Mode::Fractional(0.25), ms(3), ms(6), Pause::Nap(ms(2))),
        (Mode::Fractional(0.5), ms(3), us(4500), Pause::Nap(us(1500))),
    ];
    for (mode, worked, wall, want) in cases {
        assert_eq!(
            paused(mode, worked, wall),
            want,
            "{mode:?} {worked:?} {wall:?}"
        );
    }
    assert_eq!(Mode::Dedicated.drain_slice(), None);
    assert_eq!(Mode::Idle.drain_slice(), Some(YIELD_SLICE));
    assert_eq!(Mode::Fractional(0.5).drain_slice(), Some(YIELD_SLICE));
}

#[test]
fn workers_follow_the_plan_and_fill_free_procs_with_idle_workers() {
    // 2 procs: one fractional worker at half a core, one idle worker.
    assert_eq!(
        workers_for(plan(2), 2, 2, true),
        [Mode::Fractional(0.5), Mode::Idle]
    );
    // 4 procs: one dedicated worker, three idle ones; none while limited.
    assert_eq!(
        workers_for(plan(4), 4, 4, true),
        [Mode::Dedicated, Mode::Idle, Mode::Idle, Mode::Idle]
    );
    assert_eq!(workers_for(plan(4), 4, 4, false), [Mode::Dedicated]);
    // A forced or stop-the-world cycle: every proc dedicated, no room for idle ones.
    let all = WorkerPlan {
        dedicated: 2,
        fractional_utilization: 0.0,
    };
    assert_eq!(
        workers_for(all, 2, 2, true),
        [Mode::Dedicated, Mode::Dedicated]
    );
}

#[test]
fn workers_never_outnumber_the_cores() {
    let all = |procs| WorkerPlan {
        dedicated: procs,
        fractional_utilization: 0.0,
    };
    // GOMAXPROCS=1024 on 2 cores: a forced cycle's 1024 dedicated workers become 2,
    // and a normal cycle's 256 dedicated ones too, with no idle workers.
    assert_eq!(
        workers_for(all(1024), 1024, 2, true),
        [Mode::Dedicated, Mode::Dedicated]
    );
    assert_eq!(
        workers_for(plan(1024), 1024, 2, true),
        [Mode::Dedicated, Mode::Dedicated]
    );
    // 8 procs on 4 cores: 2 dedicated workers, idle ones fill the other 2 cores.
    assert_eq!(
        workers_for(plan(8), 8, 4, true),
        [Mode::Dedicated, Mode::Dedicated, Mode::Idle, Mode::Idle]
    );
    // 6 procs on 2 cores: one dedicated worker and the fractional one (half a core);
    // on 1 core the fractional one no longer fits.
    let six = workers_for(plan(6), 6, 2, true);
    assert!(
        matches!(six[..], [Mode::Dedicated, Mode::Fractional(u)] if (u - 0.5).abs() < 1e-9),
        "{six:?}"
    );
    assert_eq!(workers_for(plan(6), 6, 1, true), [Mode::Dedicated]);
    // More cores than procs: idle workers fill the procs, not the cores.
    assert_eq!(
        workers_for(plan(2), 2, 64, true),
        [Mode::Fractional(0.5), Mode::Idle]
    );
    // An unknown core count (0) still gets one worker.
    assert_eq!(workers_for(plan(1), 1, 0, true).len(), 1);
    for procs in 1..=64 {
        for cores in 1..=16 {
            for idle in [false, true] {
                let modes = workers_for(plan(procs), procs, cores, idle);
                assert!(!modes.is_empty() && modes.len() <= cores.min(procs));
                // Dedicated before fractional before idle.
                let p: Vec<_> = modes.iter().map(|m| m.priority()).collect();
                assert!(p.windows(2).all(|w| w[0] <= w[1]), "{modes:?}");
            }
        }
    }
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
