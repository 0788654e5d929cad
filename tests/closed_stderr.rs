//! A closed stderr does not stop the collector (issue 11, defect 9).
//!
//! `GODEBUG=gctrace=1` under `prog 2>&1 | head -1`: once `head` exits, every write to
//! stderr fails with `EPIPE`. The trace lines used to be written with `eprintln!`, which
//! panics on a write error, so the first automatic cycle's line killed the GC thread; from
//! then on no automatic cycle ran, and every allocation that wanted one waited 100 ms for a
//! thread that was gone (220k allocations in 20 s instead of 319M). All diagnostics now go
//! through `crate::report`, which ignores write errors.
//!
//! The child runs with all three traces on (`gctrace`, `gcpacertrace`, `scavtrace`) and a
//! stderr whose read end the parent closed before the child started
//! (`child::start_closed_stderr`), churns garbage until `CYCLES` automatic cycles have run
//! (or a budget is spent), and prints how many did. A dead GC thread stops them at the first
//! one.

mod common;

use common::child::{automatic_cycles, churn_until, is_child, start_closed_stderr, MIB};
use gc_core::mem_stats;
use std::io::Write;

/// Automatic cycles the child waits for.
const CYCLES: u32 = 60;

#[test]
fn child_churn_with_closed_stderr() {
    if !is_child() {
        return;
    }
    // The setup works: stderr really is closed.
    let err = std::io::stderr().write_all(b"probe\n").unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
    let before = automatic_cycles(&mem_stats());
    // GOGC=25: a first goal of 1 MiB, so 60 cycles take ~100 MiB of garbage.
    churn_until(512 * MIB, |_, s| automatic_cycles(s) >= before + CYCLES);
    println!("AUTO_GC={}", automatic_cycles(&mem_stats()) - before);
    println!("PROBE_OK");
}

#[test]
fn traces_to_a_closed_stderr_keep_the_collector_running() {
    if is_child() {
        return;
    }
    let r = start_closed_stderr(
        "child_churn_with_closed_stderr",
        &[
            ("GODEBUG", b"gctrace=1,gcpacertrace=1,scavtrace=1"),
            ("GOGC", b"25"),
        ],
        &[],
    )
    .finish();
    assert!(
        r.status.success() && r.stdout.contains("PROBE_OK"),
        "child failed ({}):\n{}",
        r.status,
        r.stdout
    );
    let cycles = r.num("AUTO_GC=");
    assert!(
        cycles >= CYCLES as u64,
        "only {cycles} automatic cycles: the GC thread died"
    );
}
