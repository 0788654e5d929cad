//! `GODEBUG=gccheckmark=1` catches a mark that missed a reachable object, and stays quiet
//! when the mark is right.
//!
//! The scenario holds one mark worker inside a gate object's `Trace` (as `barrier.rs`
//! does) while the other worker scans a watched object `b`. Then, mid-mark, this thread
//! loads a handle to `x` out of `w`, an object the marker has not reached (behind the
//! gate), stores it into the already-scanned `b`, and clears `w`'s edge. The write barrier
//! must shade `x`: rooting it while marking does, and so does storing it into `b`. With the
//! barrier disabled by the debug-only fault injection (`__private::skip_barrier`), `x`
//! stays white although `b` reaches it: the checkmark walk after the mark must abort and
//! name `x`'s type and its referrer. Each case runs in a child process (the environment is
//! read once per process; the fault case aborts).
//!
//! The children start through `tests/common/child.rs`. Run one by hand:
//! `GC_CORE_TEST_CHILD=1 GODEBUG=gccheckmark=1 GOMAXPROCS=2 GOGC=off cargo test --test
//! checkmark -- --exact child_fault --nocapture` (or `child_intact`).

#![cfg(debug_assertions)] // the fault injection exists in debug builds only

mod common;

use common::child::{is_child, run, Run};
use common::{arm_gate, release_gate, wait_for_gate, Gate};
use gc_core::{AtomicGc, Gc, Trace, Tracer};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static B_SCANNED: AtomicBool = AtomicBool::new(false);

/// An object with one edge; the one marked `watched` reports when the marker scans it.
struct Watched {
    slot: AtomicGc<Watched>,
    watched: bool,
    value: u64,
}

// SAFETY: traces, roots and unroots its one `Gc` field; the flag is a side effect only.
unsafe impl Trace for Watched {
    fn needs_trace() -> bool {
        true
    }
    fn trace(&self, tracer: &mut Tracer) {
        self.slot.trace(tracer);
        if self.watched {
            B_SCANNED.store(true, Ordering::SeqCst);
        }
    }
    unsafe fn root(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.slot.root() }
    }
    unsafe fn unroot(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.slot.unroot() }
    }
}

fn watched(slot: Option<Gc<Watched>>, watched: bool, value: u64) -> Gc<Watched> {
    Gc::new(Watched {
        slot: AtomicGc::new(slot),
        watched,
        value,
    })
}

/// Spins until `cond` holds; a collector that never gets there fails the test.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "the collector never {what}");
        std::thread::yield_now();
    }
}

/// The scenario (module header); `fault` disables the barrier while the handle moves.
fn scenario(fault: bool) {
    // `x` and `b` are objects of one type allocated back to back, so one root job scans
    // both: when `b` has been scanned, `x`'s counter was read (as zero) too.
    let (x, b) = loop {
        let x = watched(None, false, 42);
        let b = watched(None, true, 7);
        let (xa, ba) = (Gc::as_ptr(&x) as usize, Gc::as_ptr(&b) as usize);
        if xa / 8192 == ba / 8192 {
            break (x, b);
        }
    };
    let w = watched(Some(x), false, 1); // `x` is now only an edge of `w`
    let gate = Gc::new(Gate {
        inner: AtomicGc::new(Some(w)), // `w` is only an edge of the gate
    });

    arm_gate();
    let collector = std::thread::spawn(gc_core::collect);
    wait_for_gate();
    wait_for("scanned b", || B_SCANNED.load(Ordering::SeqCst));

    if fault {
        gc_core::__private::skip_barrier(true);
    }
    let w = gate.inner.load().unwrap();
    let x = w.slot.load().unwrap();
    b.slot.store(Some(x.clone()));
    w.slot.store(None);
    drop((x, w));
    gc_core::__private::skip_barrier(false);

    release_gate();
    collector.join().unwrap();
    gc_core::collect();
    let x = b.slot.load().expect("b lost its edge");
    println!("X_VALUE={}", x.value);
    drop(gate);
}

#[test]
fn child_fault() {
    if is_child() {
        scenario(true);
    }
}

#[test]
fn child_intact() {
    if is_child() {
        scenario(false);
    }
}

/// Runs child test `test` with the checkmark on, two Ps and no automatic cycles.
fn run_child(test: &str) -> Run {
    run(
        test,
        &[
            ("GODEBUG", b"gccheckmark=1"),
            ("GOMAXPROCS", b"2"),
            ("GOGC", b"off"),
        ],
        &[],
    )
}

#[test]
fn checkmark_catches_a_skipped_barrier() {
    if is_child() {
        return;
    }
    let out = run_child("child_fault");
    let stderr = &out.stderr;
    assert!(
        !out.status.success(),
        "the broken barrier went unnoticed:\n{stderr}"
    );
    assert!(
        stderr.contains("gccheckmark: the mark missed a reachable object"),
        "no checkmark report:\n{stderr}"
    );
    // The report names the missed object's type and its referrer, which is `b`.
    let report = stderr.lines().find(|l| l.contains("gccheckmark")).unwrap();
    assert_eq!(
        report.matches("of type `checkmark::Watched`").count(),
        2,
        "report should name both objects' types: {report}"
    );
    assert!(!out.stdout.contains("X_VALUE="));
}

#[test]
fn checkmark_passes_an_intact_barrier() {
    if is_child() {
        return;
    }
    let out = run_child("child_intact");
    let stdout = &out.stdout;
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        out.stderr
    );
    assert!(stdout.contains("X_VALUE=42"), "{stdout}");
}
