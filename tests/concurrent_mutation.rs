//! Six threads mutate one shared graph while collections run back to back: one thread calls
//! `collect()` in a loop (with gaps, some long) and allocation triggers automatic cycles,
//! which mark concurrently with the mutators (the heap stays near the 4 MiB minimum goal, so
//! cycles are frequent). A 40k-object ballast tree keeps each mark busy for a while.
//!
//! The workload is the racy mix of the random-graph engine (`tests/common/random_program/`,
//! `Mode::Racy`, in `racy.rs`): no lock and no model, threads race on the same nodes. Nodes
//! carry an immutable payload that is a function of their id, and every `GcCell` edge
//! records the id it expects to find. Every node reached is checked: a node freed while
//! reachable (its tracker reads "dropped"), clobbered, or freed and reused (wrong id behind
//! an edge) fails the check. After the run: a full walk, live tracked nodes == reachable
//! ones after `collect()`, and every tracked node dropped exactly once at the end.
//!
//! (Without the shade in `root_to_edge`, gc-core's `gc/roots.rs`, this file fails within a
//! second or so.)
//!
//! Tests: the workload in-process; in a child process with `GODEBUG=clobberfree=1` (a node
//! freed while reachable is also poisoned); a focused child (`moved_handles_workload`);
//! and both children with young objects allocated white (`allocwhite=1,gccheckmark=1`).
//! Children run through `tests/common/child.rs`. Reproduce with a fixed seed:
//! `CM_SEED=<n> cargo test --test concurrent_mutation`; a child alone:
//! `GC_CORE_TEST_CHILD=1 CM_ROLE=workload|moved cargo test --test concurrent_mutation --
//! --exact child_workload --nocapture`.

#[path = "common/random_program/mod.rs"]
mod random_program;

use gc_core::Gc;
use random_program::common::{child, Rng, ALLOCATED, BAD_DROPS, DROPPED};
use random_program::{check_node, env_seed, new_node, new_node_edges, run, verify_in_place};
use random_program::{Edge, Mode, Node, Params, Report};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const THREADS: usize = 6;
const ANCHORS: usize = 48;
/// Operations per worker thread.
const OPS: u64 = 25_000;
/// Workers keep going after their `OPS` operations until this many cycles (forced and
/// automatic) have completed since the start, so that the run overlaps enough cycles however
/// fast the collector or the machine, or until `MAX_RUN` has passed.
const TARGET_CYCLES: u64 = 25;
const MAX_RUN: Duration = Duration::from_secs(6);
/// Cycles that must have completed while the workers ran (even if `MAX_RUN` cut them short).
const MIN_CYCLES: u64 = 12;
/// The child's role: `workload` or `moved`.
const ROLE: &str = "CM_ROLE";

fn seed() -> u64 {
    env_seed("CM_SEED", 0xC0FF_EE00_2024)
}

fn params(ops: u64, target_cycles: u64) -> Params {
    Params {
        mode: Mode::Racy,
        threads: THREADS,
        anchors: ANCHORS,
        ops_per_thread: ops,
        target_cycles,
        max_time: Some(MAX_RUN),
        ballast: 40_000,
        live_soft_limit: 30_000,
        collector_gap_us: Some(2_000),
        ..Params::short(seed(), 1, 1)
    }
}

/// Runs the racy workload; checks that enough cycles, some automatic, overlapped it.
fn run_workload(ops: u64, target_cycles: u64, min_cycles: u64) -> Report {
    let p = params(ops, target_cycles);
    let r = run(&p).unwrap_or_else(|e| {
        panic!(
            "{e}\nreproduce with CM_SEED={} cargo test --test concurrent_mutation",
            p.seed
        )
    });
    assert!(
        r.cycles > r.forced,
        "no automatic cycle ran during the workload (all forced): {r}"
    );
    assert!(
        r.cycles >= min_cycles,
        "only {} cycles ran during the workload: {r}",
        r.cycles
    );
    r
}

/// Handles held by threads across cycle boundaries, then moved (not cloned) into new nodes,
/// which are allocated black while a mark runs: nothing but the barrier of the move shades
/// the moved node. Each thread allocates a node, keeps it for `HOLD` rounds of garbage, moves
/// it into a new holder (through a `GcCell` `Vec`, an `AtomicGc` or a `GcCell` `Option`), and
/// checks its recent holders and what they hold on every round. Only automatic cycles run,
/// marked by the background workers; in a fresh process (the first cycles are the ones
/// that catch a missing barrier fastest).
fn moved_handles_workload(threads: u64, run: Duration) -> String {
    const HOLD: usize = 16;
    const RING: usize = 64;
    /// Words in a `Node`: an array of as many is in the same size class.
    const NODE_WORDS: usize = std::mem::size_of::<Node>() / 8;
    let t0 = Instant::now();
    let before = gc_core::mem_stats();
    let seed = seed();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed ^ (t << 32) ^ 0x4D0E);
                let mut op = 0u64;
                let ctx = |op: u64| format!("seed {seed} thread {t} op {op} (moved_handles)");
                let ok = |r: Result<usize, String>, op: u64| {
                    r.unwrap_or_else(|e| panic!("{e}; {}", ctx(op)))
                };
                let mut held: VecDeque<Edge> = VecDeque::new();
                let mut ring: VecDeque<Edge> = VecDeque::new();
                while t0.elapsed() < run {
                    op += 1;
                    let id = (t << 40) | op;
                    held.push_back(Edge::new(new_node(id, Vec::new(), None, None)));
                    // Garbage of the nodes' size class: the held nodes share spans with it,
                    // so their spans hold many slots for the mark to get through.
                    for _ in 0..200 {
                        std::hint::black_box(Gc::new([rng.next(); NODE_WORDS]));
                    }
                    if held.len() > HOLD {
                        let e = held.pop_front().unwrap();
                        ok(check_node(&e, Some(e.expect)).map(|_| 0), op);
                        let hid = (t << 40) | (1 << 39) | op;
                        let holder = match op % 3 {
                            0 => new_node_edges(hid, vec![e], None, None),
                            1 => new_node_edges(hid, Vec::new(), None, Some(e.to)),
                            _ => new_node_edges(hid, Vec::new(), Some(e), None),
                        };
                        if ring.len() >= RING {
                            ring.pop_front();
                        }
                        ring.push_back(Edge::new(holder));
                    }
                    for h in &ring {
                        // By reference: a clone would shade the held node (see
                        // `verify_in_place`), except for the `AtomicGc` holders.
                        let mut held_nodes = ok(verify_in_place(&h.to, Some(h.expect)), op);
                        if op & 7 == 0 {
                            if let Some(x) = h.left.load() {
                                ok(check_node(&x, None).map(|_| 0), op);
                                held_nodes += 1;
                            }
                        } else if !h.left.is_none() {
                            held_nodes += 1;
                        }
                        assert_eq!(held_nodes, 1, "holder lost its node; {}", ctx(op));
                    }
                }
                op
            })
        })
        .collect();
    let rounds: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let cycles = gc_core::mem_stats().num_gc - before.num_gc;
    gc_core::collect();
    gc_core::collect();
    assert_eq!(BAD_DROPS.load(Ordering::SeqCst), 0, "a node dropped twice");
    assert_eq!(
        DROPPED.load(Ordering::SeqCst),
        ALLOCATED.load(Ordering::SeqCst),
        "every tracked node dropped exactly once"
    );
    assert!(cycles >= 3, "only {cycles} cycles ran");
    format!(
        "{threads} threads, {rounds} rounds, {cycles} cycles in {:.2?}",
        t0.elapsed()
    )
}

/// Runs this test binary's `child_workload` in a child process with `role` and `godebug`;
/// returns the child's summary line.
fn run_child(role: &str, godebug: Option<&str>) -> String {
    let vars: Vec<(&str, &[u8])> = godebug
        .map(|g| ("GODEBUG", g.as_bytes()))
        .into_iter()
        .collect();
    let seed = seed().to_string();
    let r = child::run("child_workload", &vars, &[(ROLE, role), ("CM_SEED", &seed)]);
    assert!(
        r.status.success() && r.stdout.contains("CM_OK"),
        "child `{role}` (GODEBUG={godebug:?}) failed ({:?}):\n{}\n{}",
        r.status,
        r.stdout,
        r.stderr
    );
    let line = r
        .stdout
        .split("CM_OK")
        .nth(1)
        .and_then(|s| s.lines().next());
    line.unwrap_or_default().trim().to_string()
}

#[test]
fn threads_mutate_a_shared_graph_during_back_to_back_cycles() {
    if child::is_child() {
        return;
    }
    let r = run_workload(OPS, TARGET_CYCLES, MIN_CYCLES);
    eprintln!("{r}");
}

#[test]
fn child_workload() {
    if !child::is_child() {
        return;
    }
    match std::env::var(ROLE).as_deref() {
        Ok("workload") => {
            let r = run_workload(OPS / 2, TARGET_CYCLES / 2, MIN_CYCLES / 2);
            println!("CM_OK {r}");
        }
        Ok("moved") => {
            let summary = moved_handles_workload(3, Duration::from_millis(1500));
            println!("CM_OK {summary}");
        }
        _ => {}
    }
}

/// The same workload with `GODEBUG=clobberfree=1`: a node freed while still reachable is
/// poisoned, so the payload checks catch it even before its memory is reused.
#[test]
fn clobberfree_child_process() {
    if child::is_child() {
        return;
    }
    let summary = run_child("workload", Some("clobberfree=1"));
    eprintln!("clobberfree child: {summary}");
}

/// Both workloads with young objects allocated white (`gc-core/src/gc/young.rs`; by
/// default only from a 128 MiB goal, on this small heap by `allocwhite=1`), and the mark
/// re-checked from the roots at every termination (`gccheckmark=1`).
#[test]
fn young_white_child_processes() {
    if child::is_child() {
        return;
    }
    for role in ["workload", "moved"] {
        let summary = run_child(role, Some("allocwhite=1,gccheckmark=1"));
        eprintln!("allocwhite {role} child: {summary}");
    }
}

/// Handles moved into the heap during concurrent marks, in a fresh process.
#[test]
fn moved_handles_child_process() {
    if child::is_child() {
        return;
    }
    let summary = run_child("moved", None);
    eprintln!("moved-handles child: {summary}");
}
