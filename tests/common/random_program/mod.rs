//! The randomized multi-threaded differential workload shared by
//! `tests/random_differential.rs` (short runs, also in child processes under
//! `GODEBUG=gccheckmark=1` and `GODEBUG=clobberfree=1`) and `examples/soak.rs` (long runs,
//! round after round with new seeds). Both include this file with `#[path]`; it brings the
//! drop tracker and seeded generator of `tests/common/mod.rs` along as `common`.
//!
//! Several threads run seeded random programs over ONE shared graph of `Node`s: allocate
//! clusters (some with initial edges, allocated black while a mark runs), link and unlink
//! through `GcCell` edges (`kids: GcCell<Vec<Gc<Node>>>`, `slot: GcCell<Option<Gc<Node>>>`)
//! and `AtomicGc` edges (`left`, `right`: store, swap, compare_exchange), move subgraphs
//! (held only by a thread's handle while garbage is allocated), allocate while holding cell
//! guards, change shared anchors (rooted `AtomicGc` slots and a `GcCell<Vec<Gc<Node>>>`
//! outside the heap) and the thread's own root handles, allocate tracked and untracked
//! garbage, and walk and verify what they reach.
//!
//! The model: node id -> out-edges (by id, in order), plus every root the program holds
//! (each thread's local handles, the permanent anchor nodes, the slots, the shelf), behind
//! one `Mutex`. Every mutation of an edge or of a modelled root happens together with the
//! model update while holding that lock, so the model is exact; reads, walks, allocation
//! and garbage happen outside it, so mutators overlap each other and the collector, which
//! the lock never serialises (automatic cycles from allocation on a small heap, plus one
//! thread calling `collect()` at seeded intervals).
//!
//! Checks: every node reached anywhere has its payload (`mix` of its id), its tracker id and
//! an ALIVE tracker (a node reachable from a root must not have been dropped); under the
//! lock, a node's real edges equal the model's (so an edge leading to a freed and reused
//! object is caught by id); `AtomicGc` swaps and compare-exchanges return exactly the model's
//! old values. Every `checkpoint_every` operations all threads meet at a barrier, `collect()`
//! runs twice, and then: the live tracked nodes (`ALLOCATED - DROPPED`) equal exactly the
//! model's reachable count, a full real walk from the real roots finds exactly the model's
//! reachable id set with the model's edges, and `BAD_DROPS == 0`. At the end everything is
//! dropped and every tracked node must have been dropped exactly once.
//!
//! Reproduce: a run is fixed by `Params::seed` (each thread's choices come from its own
//! generator seeded from it; the interleaving, and so the exact graph, still varies). The
//! test takes `RD_SEED=<n>`, the soak example `--seed <n>`; failures print the seed, thread,
//! operation number and name. A run that makes no progress for `Params::hang_after` prints
//! each thread's position and exits the process with status 3 (a hang, not a slow run).
//!
//! Layout: this file holds the entry points (`Params`, `Report`, `run`) and the state the
//! threads share (`Shared`); the rest is in child modules:
//! - `node.rs`: the graph `Node` and its payload, untracked garbage and ballast;
//! - `model.rs`: the exact model (`MNode`, `Model`, reachability) and the edge kinds;
//! - `worker.rs`: a mutator thread (`Worker`), its operation table and node checks;
//! - `edges.rs`: `link` and `unlink`, the edge mutations made under the model lock;
//! - `ops.rs`: the random operations a thread runs;
//! - `checkpoint.rs`: the barrier, the checkpoint and the walks (free and checked);
//! - `watchdog.rs`: thread progress and the hang watchdog.

// The test and the soak example each use a subset.
#![allow(dead_code)]

#[path = "../mod.rs"]
pub mod common;

mod checkpoint;
mod edges;
mod model;
mod node;
mod ops;
mod watchdog;
mod worker;

use checkpoint::{Ckpt, Gate};
use common::{ballast, check_ballast};
use common::{Rng, ALLOCATED, BAD_DROPS, DROPPED};
use gc_core::{AtomicGc, Gc, GcCell};
use model::{MNode, Model};
use node::{new_node, Node};
use std::collections::VecDeque;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use watchdog::{watchdog, Progress};
use worker::Worker;

/// What to run.
#[derive(Clone, Debug)]
pub struct Params {
    /// Mutator threads (the collector thread and the watchdog come on top).
    pub threads: usize,
    /// Stop after the checkpoint at which every thread has done this many operations.
    pub ops_per_thread: u64,
    /// Operations each thread runs between two checkpoints.
    pub checkpoint_every: u64,
    /// Stop after the first checkpoint past this much time (whatever `ops_per_thread` says).
    pub max_time: Option<Duration>,
    pub seed: u64,
    /// Untracked objects kept live for the whole run, so that each mark takes a while.
    pub ballast: u64,
    /// Above this many live tracked nodes, threads cut edges of the anchors more often.
    pub live_soft_limit: u64,
    /// No operation, checkpoint or `collect()` finishing for this long is reported as a hang.
    pub hang_after: Duration,
    /// Print one `RD_CKPT` line per checkpoint on stdout.
    pub verbose: bool,
}

impl Params {
    /// A short run: four threads, `checkpoints` checkpoints of `ops_between` operations each.
    pub fn short(seed: u64, checkpoints: u64, ops_between: u64) -> Params {
        Params {
            threads: 4,
            ops_per_thread: checkpoints * ops_between,
            checkpoint_every: ops_between,
            max_time: None,
            seed,
            ballast: 20_000,
            live_soft_limit: 3_000,
            hang_after: Duration::from_secs(120),
            verbose: false,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub seed: u64,
    pub threads: usize,
    /// Operations run by all threads together.
    pub ops: u64,
    pub checkpoints: u64,
    /// Collection cycles during the run, and how many of them were forced (`collect()`).
    pub cycles: u64,
    pub forced: u64,
    /// `collect()` calls made by the collector thread.
    pub collector_calls: u64,
    /// Tracked nodes allocated (reachable ones and tracked garbage).
    pub nodes_allocated: u64,
    /// Largest reachable (= live) count seen at a checkpoint, and the last one.
    pub max_reachable: u64,
    pub last_reachable: u64,
    pub elapsed: Duration,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed={} threads={} ops={} checkpoints={} cycles={} forced={} collector_calls={} \
             nodes_allocated={} max_reachable={} last_reachable={} seconds={:.2}",
            self.seed,
            self.threads,
            self.ops,
            self.checkpoints,
            self.cycles,
            self.forced,
            self.collector_calls,
            self.nodes_allocated,
            self.max_reachable,
            self.last_reachable,
            self.elapsed.as_secs_f64()
        )
    }
}

const MAX_KIDS: usize = 6;
const ANCHOR_NODES: usize = 12;
const SLOTS: usize = 8;

struct Shared<'p> {
    p: &'p Params,
    model: Mutex<Model>,
    anchors: Vec<Gc<Node>>,
    /// Rooted `AtomicGc` slots outside the heap.
    slots: Vec<AtomicGc<Node>>,
    /// A `GcCell` outside the heap (its contents stay rooted).
    shelf: GcCell<Vec<Gc<Node>>>,
    gate: Gate,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    next_id: AtomicU64,
    /// Live tracked nodes before the run.
    baseline: u64,
    t0: Instant,
    ckpt: Mutex<Ckpt>,
    stop: AtomicBool,
    checkpoints: AtomicU64,
    max_reachable: AtomicU64,
    last_reachable: AtomicU64,
    num_gc_before: u32,
    progress: Vec<Progress>,
    /// Bumped by every finished operation, checkpoint and `collect()`: the watchdog's pulse.
    pulse: AtomicU64,
}

impl Shared<'_> {
    fn model(&self) -> MutexGuard<'_, Model> {
        self.model
            .lock()
            .expect("model lock poisoned (another thread failed while holding it)")
    }

    fn live(&self) -> u64 {
        // DROPPED first: a drop between the two loads then only overstates `live`.
        let dropped = DROPPED.load(Ordering::SeqCst);
        ALLOCATED.load(Ordering::SeqCst) - dropped - self.baseline
    }

    fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Records the first failure and breaks the barrier; later ones are consequences.
    fn fail(&self, msg: String) {
        if !self.failed.swap(true, Ordering::SeqCst) {
            *self.failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(msg);
        }
        self.gate.break_it();
    }
}

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(non-string panic)".to_string())
}

/// Runs the workload once. `Err` holds the first failure (with seed, thread and operation).
pub fn run(p: &Params) -> Result<Report, String> {
    assert!(p.threads >= 1 && p.checkpoint_every >= 1);
    let t0 = Instant::now();
    let before = gc_core::mem_stats();
    let baseline = ALLOCATED.load(Ordering::SeqCst) - DROPPED.load(Ordering::SeqCst);
    let allocated_before = ALLOCATED.load(Ordering::SeqCst);
    let ballast_root = ballast(p.ballast);
    let ballast_sum = ballast_root.sum;

    let next_id = AtomicU64::new(1);
    let anchors: Vec<Gc<Node>> = (0..ANCHOR_NODES)
        .map(|_| {
            new_node(
                next_id.fetch_add(1, Ordering::Relaxed),
                Vec::new(),
                None,
                None,
            )
        })
        .collect();
    let model = Model {
        nodes: anchors.iter().map(|a| (a.id, MNode::default())).collect(),
        local: vec![Vec::new(); p.threads],
        anchors: anchors.iter().map(|a| a.id).collect(),
        slots: vec![None; SLOTS],
        shelf: Vec::new(),
    };
    let sh = Shared {
        p,
        model: Mutex::new(model),
        anchors,
        slots: (0..SLOTS).map(|_| AtomicGc::new(None)).collect(),
        shelf: GcCell::new(Vec::new()),
        gate: Gate::new(p.threads),
        failed: AtomicBool::new(false),
        failure: Mutex::new(None),
        next_id,
        baseline,
        t0,
        ckpt: Mutex::new(Ckpt::default()),
        stop: AtomicBool::new(false),
        checkpoints: AtomicU64::new(0),
        max_reachable: AtomicU64::new(0),
        last_reachable: AtomicU64::new(0),
        num_gc_before: before.num_gc,
        progress: (0..p.threads).map(|_| Progress::default()).collect(),
        pulse: AtomicU64::new(0),
    };
    let workers_done = AtomicBool::new(false);
    let (done_tx, done_rx) = mpsc::channel::<()>();

    let collector_calls = std::thread::scope(|s| {
        let sh = &sh;
        let workers: Vec<_> = (0..p.threads)
            .map(|t| {
                s.spawn(move || {
                    let mut w = Worker {
                        t,
                        sh,
                        rng: Rng::new(p.seed ^ ((t as u64 + 1) << 48)),
                        roots: Vec::new(),
                        holders: VecDeque::new(),
                        pending: VecDeque::new(),
                        op: 0,
                        what: "start",
                    };
                    if let Err(e) = catch_unwind(AssertUnwindSafe(|| w.run())) {
                        sh.fail(panic_message(&*e));
                    }
                    // Drop this thread's handles on its own thread.
                    drop(w);
                })
            })
            .collect();
        let workers_done = &workers_done;
        let collector = s.spawn(move || {
            let mut rng = Rng::new(p.seed ^ 0xC011_EC70);
            let mut calls = 0u64;
            while !workers_done.load(Ordering::SeqCst) {
                if let Err(e) = catch_unwind(gc_core::collect) {
                    sh.fail(format!(
                        "collect() panicked on the collector thread: {}; seed {}",
                        panic_message(&*e),
                        p.seed
                    ));
                    break;
                }
                calls += 1;
                sh.pulse.fetch_add(1, Ordering::Relaxed);
                if rng.chance(10) {
                    // `mem_stats` stops allocation briefly: more interleavings.
                    std::hint::black_box(gc_core::mem_stats());
                }
                // Gaps, some long, so that automatic cycles (marked by the background
                // workers, concurrently with the mutators) run too.
                let gap = if rng.chance(20) {
                    20_000
                } else {
                    rng.below(3_000) as u64
                };
                std::thread::sleep(Duration::from_micros(gap));
            }
            calls
        });
        s.spawn(move || watchdog(p, sh, done_rx));
        for w in workers {
            w.join().expect("worker threads catch their panics");
        }
        workers_done.store(true, Ordering::SeqCst);
        let calls = collector
            .join()
            .expect("the collector thread catches its panics");
        drop(done_tx);
        calls
    });

    if let Some(f) = sh.failure.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(f);
    }
    let during = gc_core::mem_stats();
    let checkpoints = sh.checkpoints.load(Ordering::SeqCst);
    let report = Report {
        seed: p.seed,
        threads: p.threads,
        ops: checkpoints * p.checkpoint_every * p.threads as u64,
        checkpoints,
        cycles: u64::from(during.num_gc - before.num_gc),
        forced: u64::from(during.num_forced_gc - before.num_forced_gc),
        collector_calls,
        nodes_allocated: ALLOCATED.load(Ordering::SeqCst) - allocated_before,
        max_reachable: sh.max_reachable.load(Ordering::Relaxed),
        last_reachable: sh.last_reachable.load(Ordering::Relaxed),
        elapsed: t0.elapsed(),
    };
    if check_ballast(&ballast_root) != ballast_sum {
        return Err(format!("ballast corrupted; seed {}", p.seed));
    }
    drop(ballast_root);
    drop(sh);
    gc_core::collect();
    gc_core::collect();
    let bad = BAD_DROPS.load(Ordering::SeqCst);
    if bad != 0 {
        return Err(format!(
            "{bad} tracked nodes dropped twice or clobbered; seed {}",
            p.seed
        ));
    }
    let dropped = DROPPED.load(Ordering::SeqCst);
    let live = ALLOCATED.load(Ordering::SeqCst) - dropped;
    if live != baseline {
        return Err(format!(
            "after dropping everything and collect() twice, {} tracked nodes are still live; \
             seed {}",
            live - baseline,
            p.seed
        ));
    }
    Ok(report)
}
