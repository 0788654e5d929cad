//! `GOGC` from the environment: a malformed value warns once and uses 100; `off` disables
//! automatic cycles; a percentage scales the first goal. Each case runs in a child process
//! (the environment is read once per process), started through `tests/common/child.rs`
//! with `GOGC` its only runtime variable.

mod common;

use common::child::{is_child, run, Run};
use common::field;

fn run_child(test: &str, gogc: &str) -> Run {
    run(test, &[("GOGC", gogc.as_bytes())], &[])
}

#[test]
fn child_reports_goal() {
    if !is_child() {
        return;
    }
    // Touch the runtime so the environment is read.
    let _ = gc_core::Gc::new(1u64);
    let s = gc_core::mem_stats();
    println!("NEXT_GC={}", s.next_gc);
    for i in 0..2_000_000u64 {
        std::hint::black_box(gc_core::Gc::new([i; 4]));
    }
    println!("NUM_GC={}", gc_core::mem_stats().num_gc);
}

#[test]
fn malformed_gogc_warns_and_uses_100() {
    if is_child() {
        return;
    }
    let out = run_child("child_reports_goal", "12x");
    let stderr = &out.stderr;
    let stdout = &out.stdout;
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    let warnings: Vec<_> = stderr.lines().filter(|l| l.contains("GOGC")).collect();
    assert_eq!(warnings.len(), 1, "exactly one warning: {stderr}");
    assert!(
        warnings[0].contains("\"12x\"") && warnings[0].contains("GOGC=100"),
        "{}",
        warnings[0]
    );
    assert_eq!(field(stdout, "NEXT_GC="), 4 << 20);
    assert!(field(stdout, "NUM_GC=") > 0, "automatic cycles run");
}

#[test]
fn gogc_off_disables_automatic_cycles() {
    if is_child() {
        return;
    }
    let out = run_child("child_reports_goal", "off");
    let stdout = &out.stdout;
    assert!(out.status.success(), "{stdout}");
    assert_eq!(field(stdout, "NUM_GC="), 0, "64 MB of garbage and no cycle");
    assert!(out.stderr.lines().all(|l| !l.contains("GOGC")));
}

#[test]
fn gogc_percent_scales_first_goal() {
    if is_child() {
        return;
    }
    let out = run_child("child_reports_goal", "200");
    let stdout = &out.stdout;
    assert!(out.status.success(), "{stdout}");
    assert_eq!(field(stdout, "NEXT_GC="), 8 << 20);
}
