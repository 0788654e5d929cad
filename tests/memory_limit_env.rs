//! `GOMEMLIMIT` from the environment: a malformed value warns once and means no limit; a
//! limit with `GOGC=off` still collects, and keeps the heap near the limit. Each case runs
//! in a child process (the environment is read once per process), started through
//! `tests/common/child.rs` with `GOGC=off` and the `GOMEMLIMIT` under test.

mod common;

use common::child::{is_child, run, MIB};
use common::field;
use gc_core::Gc;

fn run_child(limit: &str) -> (String, String, bool) {
    let out = run(
        "child_churns",
        &[("GOGC", b"off"), ("GOMEMLIMIT", limit.as_bytes())],
        &[],
    );
    (out.stdout, out.stderr, out.status.success())
}

/// Keeps 8 MiB live (32-byte objects) and allocates 256 MiB of garbage, sampling
/// `heap_sys`. (A larger live share would make the collector run nearly back to back, and
/// past ~50% of the CPU Go's limiter, and ours, lets the heap exceed the limit on purpose.)
#[test]
fn child_churns() {
    if !is_child() {
        return;
    }
    let live: Vec<Gc<[u64; 4]>> = (0..(8 * MIB / 32)).map(|i| Gc::new([i; 4])).collect();
    let mut max_sys = 0;
    for i in 0..(256 * MIB / 32) {
        std::hint::black_box(Gc::new([i; 4]));
        if i % (1 << 16) == 0 {
            max_sys = max_sys.max(gc_core::mem_stats().heap_sys);
        }
    }
    assert!(live.iter().enumerate().all(|(i, g)| g[3] == i as u64));
    let s = gc_core::mem_stats();
    println!(
        "LIMIT={} NUM_GC={} MAX_HEAP_SYS={}",
        gc_core::set_memory_limit(-1),
        s.num_gc,
        max_sys.max(s.heap_sys)
    );
}

#[test]
fn malformed_limit_warns_and_means_no_limit() {
    if is_child() {
        return;
    }
    let (stdout, stderr, ok) = run_child("12XB");
    assert!(ok, "child failed:\n{stdout}\n{stderr}");
    let warnings: Vec<_> = stderr
        .lines()
        .filter(|l| l.contains("GOMEMLIMIT"))
        .collect();
    assert_eq!(warnings.len(), 1, "exactly one warning: {stderr}");
    assert!(warnings[0].contains("\"12XB\""), "{}", warnings[0]);
    assert_eq!(field(&stdout, "LIMIT="), i64::MAX as u64);
    assert_eq!(
        field(&stdout, "NUM_GC="),
        0,
        "GOGC=off and no limit: no cycle"
    );
}

#[test]
fn limit_with_gogc_off_collects_and_bounds_the_heap() {
    if is_child() {
        return;
    }
    let (stdout, stderr, ok) = run_child("64MiB");
    assert!(ok, "child failed:\n{stdout}\n{stderr}");
    assert_eq!(field(&stdout, "LIMIT="), 64 * MIB);
    assert!(field(&stdout, "NUM_GC=") >= 3, "{stdout}");
    // 256 MiB of garbage went through a heap that stayed near the limit (the heap grows
    // in 4 MiB steps; one step of overshoot while a cycle finishes is tolerated).
    let max_sys = field(&stdout, "MAX_HEAP_SYS=");
    assert!(
        max_sys <= 68 * MIB,
        "heap_sys reached {} MiB",
        max_sys / MIB
    );
}
