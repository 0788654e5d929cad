//! Periodic GC (Go's `forcegcperiod`): a program that stops allocating still gets a cycle
//! once none has ended for the period (2 minutes; 50 ms here through the test knob), as a
//! background cycle (not counted as forced, not marked `(forced)`, as in Go); none while
//! `GOGC=off`, and they resume when `GOGC` is turned back on. Each case runs in a child
//! process (`GOGC` is read once per process; the period is process-wide), under the child
//! runner's hang watchdog; waits for cycles poll `mem_stats` with a deadline.

mod common;

use common::child::{is_child, run};
use gc_core::{collect, mem_stats, set_gc_percent, Gc};
use std::time::{Duration, Instant};

const PERIOD: Duration = Duration::from_millis(50);

/// Polls until `num_gc` reaches `n` (a minute at most: a hang detector, not a speed limit).
fn wait_for_cycles(n: u32) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while mem_stats().num_gc < n {
        assert!(Instant::now() < deadline, "no periodic cycle");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn child_idle_program() {
    if !is_child() {
        return;
    }
    gc_core::__private::set_forcegc_period(PERIOD);
    let keep = Gc::new([7u64; 16]);
    // Go counts the period from the end of the last cycle: there must have been one.
    collect();
    let start = mem_stats();
    println!("FORCED_BEFORE={}", start.num_forced_gc);
    if std::env::var_os("GOGC").is_some() {
        // GOGC=off: six periods and nothing.
        std::thread::sleep(PERIOD * 6);
        println!("OFF_CYCLES={}", mem_stats().num_gc - start.num_gc);
        set_gc_percent(100);
    }
    // No allocation from here on.
    wait_for_cycles(start.num_gc + 3);
    let end = mem_stats();
    println!("PERIODIC={}", end.num_gc - start.num_gc);
    println!("FORCED_AFTER={}", end.num_forced_gc);
    assert_eq!(keep[15], 7);
    println!("PROBE_OK");
}

#[test]
fn an_idle_program_still_collects_every_period() {
    if is_child() {
        return;
    }
    let r = run("child_idle_program", &[("GODEBUG", b"gctrace=1")], &[]);
    r.assert_ok("idle");
    assert!(r.num("PERIODIC=") >= 3);
    // Go's gcTriggerTime cycles are not user-forced.
    assert_eq!(r.num("FORCED_AFTER="), r.num("FORCED_BEFORE="));
    let lines: Vec<_> = r.stderr.lines().filter(|l| l.starts_with("gc ")).collect();
    assert!(lines.len() >= 4, "{}", r.stderr);
    assert!(
        lines[0].ends_with("(forced)"),
        "the collect(): {}",
        lines[0]
    );
    assert!(
        lines[1..].iter().all(|l| !l.ends_with("(forced)")),
        "{}",
        r.stderr
    );
}

#[test]
fn gogc_off_stops_periodic_cycles() {
    if is_child() {
        return;
    }
    let r = run("child_idle_program", &[("GOGC", b"off")], &[]);
    r.assert_ok("GOGC=off");
    assert_eq!(r.num("OFF_CYCLES="), 0, "{}", r.stdout);
    // set_gc_percent(100) brings them back.
    assert!(r.num("PERIODIC=") >= 3);
}
