//! `GODEBUG=stalltrace=1`: a stretch of 1 ms or more that a thread spends held up in the
//! runtime is printed, with its cause and the thread's CPU time in it, after the next cycle;
//! without the key nothing is, and `stallthreshold=N` moves the threshold.
//! The stall here is certain on any machine: a 64 MiB object of handles moved into the heap
//! (a large object, whose first write, timed after its slow path, faults in 16,384 fresh
//! pages). Each case runs in a child
//! process (`GODEBUG` is read once per process), started through `tests/common/child.rs`.

mod common;

use common::child::{is_child, run};

#[test]
fn child_makes_a_stall() {
    if !is_child() {
        return;
    }
    // Traced elements are written inside the allocating operation (plain bytes would be
    // copied after it).
    let big: Box<[Option<gc_core::Gc<u8>>]> = vec![None; 8 << 20].into_boxed_slice();
    let g: gc_core::Gc<[Option<gc_core::Gc<u8>>]> = gc_core::Gc::from(big);
    assert!(g[(8 << 20) - 1].is_none());
    gc_core::collect();
    println!("PROBE_OK");
}

#[test]
fn stalls_are_reported_with_their_cause() {
    if is_child() {
        return;
    }
    let out = run("child_makes_a_stall", &[("GODEBUG", b"stalltrace=1")], &[]);
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let stalls: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.starts_with("stall: "))
        .collect();
    assert!(
        stalls
            .iter()
            .any(|l| l.contains(" ms in init (") || l.contains(" ms in large (")),
        "no stall reported for the 64 MiB object:\n{}",
        out.stderr
    );
    for l in &stalls {
        let ms = number_after(l, "stall: ");
        assert!(ms >= 1.0, "a stall under the 1 ms threshold: {l}");
        // The CPU clock starts and stops just after the wall clock: never ahead of it by
        // more than its resolution.
        let cpu = number_after(l, "on CPU ");
        assert!(cpu <= ms + 0.1, "more CPU time than wall time: {l}");
    }
}

/// The number of milliseconds written right after `key` in `line`.
fn number_after(line: &str, key: &str) -> f64 {
    let at = line
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in {line:?}"));
    line[at + key.len()..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {key:?} in {line:?}"))
}

#[test]
fn the_threshold_moves() {
    if is_child() {
        return;
    }
    // 1000 s: nothing in this process takes that long.
    let out = run(
        "child_makes_a_stall",
        &[("GODEBUG", b"stalltrace=1,stallthreshold=1000000000")],
        &[],
    );
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("stall: "), "{}", out.stderr);
}

#[test]
fn without_the_key_nothing_is_reported() {
    if is_child() {
        return;
    }
    let out = run("child_makes_a_stall", &[], &[]);
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    assert!(!out.stderr.contains("stall: "), "{}", out.stderr);
}
