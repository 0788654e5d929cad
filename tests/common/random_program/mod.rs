//! The random-graph engine: seeded random programs over ONE shared graph of `Node`s while
//! the collector runs, shared by every random-graph workload. Each is a parameterisation
//! (`Params`): `tests/random_differential.rs` (the modelled mix, four threads, short runs,
//! also in child processes under `GODEBUG=gccheckmark=1` and `clobberfree=1`),
//! `tests/stoptheworld_differential.rs` (`Params::deterministic`: one thread, no collector
//! thread, a digest per checkpoint that runs under different `GODEBUG` modes must share),
//! `tests/concurrent_mutation.rs` (`Mode::Racy`: six threads, no lock and no model) and
//! `examples/soak.rs` (long modelled runs, round after round with new seeds). They include
//! this file with `#[path]`; it brings the drop tracker, seeded generator and child runner
//! of `tests/common/mod.rs` along as `common` (use those through it: one copy of the
//! tracker counters).
//!
//! The modelled mix: threads allocate clusters (some with initial edges, allocated black
//! while a mark runs), link and unlink through `GcCell` edges (`kids`, `slot`; each `Edge`
//! records the id it expects) and `AtomicGc` edges (`left`, `right`: store, swap,
//! compare_exchange), move subgraphs (held only by a thread's handle while garbage is
//! allocated), allocate while holding cell guards, change shared anchors (rooted
//! `AtomicGc` slots and a `GcCell` outside the heap) and their own root handles, allocate
//! tracked and untracked garbage, and walk and verify what they reach. They also downgrade
//! nodes they reach to `Weak`s (a bounded per-thread list, with some `Weak::new`s) and
//! upgrade them, keeping a successful upgrade as a local root (it may resurrect a node the
//! model no longer reaches but the collector has not yet found dead), and insert (values:
//! nodes reached, or new nodes held by the table alone, some pointing back at their key),
//! remove and get entries of one shared ephemeron table (`WeakMap<Node, Gc<Node>>`),
//! keeping some values got as local roots (`weak_ops.rs`).
//!
//! The model: node id -> out-edges (by id, in order), plus every root the program holds
//! (each thread's local handles, the permanent anchor nodes, the slots, the shelf), plus the
//! ephemeron table's entries (key id -> value id), behind one `Mutex`; reachable is the
//! fixed point from the roots along edges and from each reached key to its value. Weak
//! references are not in it (not edges; each thread knows its own). Every mutation of an
//! edge, of a modelled root or of the table, and every upgrade, happens together with the
//! model update while holding that lock, so the model is exact; reads, walks, allocation
//! and garbage happen outside it, so mutators overlap each other and the collector, which
//! the lock never serialises (automatic cycles from allocation on a small heap, plus one
//! thread calling `collect()` at seeded intervals unless `collector_gap_us` is `None`).
//!
//! Checks: every node reached anywhere has its payload (`mix` of its id), its tracker id and
//! an ALIVE tracker (a node reachable from a root must not have been dropped), and a `GcCell`
//! edge holds the id it expects; under the lock, a node's real edges equal the model's (so
//! an edge leading to a freed and reused object is caught by id); `AtomicGc` swaps and
//! compare-exchanges return exactly the model's old values. Weak references: a new one
//! upgrades to its (held) node, and two share their target iff made from the same node (an
//! address reused by a new node gets a new target); under the lock, a weak reference to a
//! node the model reaches upgrades to that node, one that upgrades gives an intact node
//! (payload, tracker ALIVE) that the model still holds (not pruned at a checkpoint), and
//! `Weak::new` never upgrades (the search behind a `None`'s check is sampled on models of
//! over 4096 nodes, the soak example's). The table, under the lock: for a key held, `contains_key`,
//! `get` (the model's value, intact) and `remove` agree exactly with the model (a held key
//! cannot have been found dead), and `len` lies between the model's entries with a
//! reachable key and all its entries (a dead key's entry goes in the cycle that finds it
//! dead, the model's at the next checkpoint). Every `checkpoint_every` operations all
//! threads meet at a barrier, `collect()` runs twice, and then: the live tracked nodes
//! (`ALLOCATED - DROPPED`) equal exactly the model's reachable count, the model drops the
//! entries whose key it does not reach and the table's `len` equals the rest, each of
//! their keys' weak references upgrades and `get` gives the model's value, every recorded
//! weak reference upgrades to its node iff the model reaches it (else `None`), a full real
//! walk from the real roots and the table's values finds exactly the model's reachable id
//! set with the model's edges, and `BAD_DROPS == 0`. At the end everything is dropped and
//! every tracked node must have been dropped exactly once. The racy mix's checks are in
//! `racy.rs`.
//!
//! Reproduce: a run is fixed by `Params::seed` (each thread's choices come from its own
//! generator seeded from it; with several threads the interleaving, and so the exact graph,
//! still varies). The tests read it from `RD_SEED`, `SD_SEED` and `CM_SEED` (`env_seed`),
//! the soak example from `--seed <n>`; failures print the seed, thread, operation number and
//! name. A run that makes no progress for `Params::hang_after` prints each thread's
//! position and exits the process with status 3 (a hang, not a slow run); children run
//! through `common::child`, which also kills and reports a hung child.
//!
//! Layout: this file holds the entry points (`Params`, `Report`, `run`) and the state the
//! modelled threads share (`Shared`); the rest is in child modules:
//! - `node.rs`: the graph `Node`, its `Edge`s and payload, and `check_node`;
//! - `garbage.rs`: untracked garbage of three kinds, and garbage-only threads;
//! - `model.rs`: the exact model (`MNode`, `Model`, reachability, digest), the edge kinds;
//! - `worker.rs`: a modelled mutator thread (`Worker`), its operation table and checks;
//! - `edges.rs`: `link` and `unlink`, the edge mutations made under the model lock;
//! - `ops.rs`: the modelled random operations;
//! - `weak_ops.rs`: the weak-reference and ephemeron-table operations and their checkpoint
//!   checks;
//! - `checkpoint.rs`: the barrier, the checkpoint and the modelled walks;
//! - `walk.rs`: model-free walks (the racy mix, `tests/concurrent_mutation.rs`);
//! - `racy.rs`, `racy_run.rs`: the racy mix and its harness;
//! - `collector.rs`: the collector thread;
//! - `watchdog.rs`: thread progress and the hang watchdog.

// Each test and the soak example use a subset.
#![allow(dead_code, unused_imports)]

#[path = "../mod.rs"]
pub mod common;

mod checkpoint;
mod collector;
mod edges;
mod garbage;
mod model;
mod node;
mod ops;
mod racy;
mod racy_run;
mod walk;
mod watchdog;
mod weak_ops;
mod worker;

pub use garbage::{Garbage, GarbageThreads};
pub use node::{check_edge, check_node, id_of, new_node, new_node_edges, Edge, Node};
pub use walk::{verify_in_place, walk, walk_all};
pub use weak_ops::WeakReport;

use checkpoint::{Ckpt, Gate};
use collector::collect_loop;
use common::{ballast, check_ballast};
use common::{Rng, ALLOCATED, BAD_DROPS, DROPPED};
use gc_core::{AtomicGc, Gc, GcCell, WeakMap};
use model::{MNode, Model};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use watchdog::{watchdog, Beat};
use weak_ops::WeakCounters;
use worker::Worker;

/// Which operation mix runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The modelled mix (`ops.rs`, `edges.rs`, `checkpoint.rs`): every mutation under the
    /// model lock, checkpoints comparing the heap with the model.
    Modelled,
    /// The racy mix (`racy.rs`, `racy_run.rs`): no lock and no model, threads race on the
    /// same nodes; edges carry expected ids, and a full check runs after the threads join.
    Racy,
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Params {
    pub mode: Mode,
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
    /// Permanent anchor nodes (rooted for the whole run).
    pub anchors: usize,
    /// The collector thread's longest ordinary gap between two `collect()` calls, in
    /// microseconds; `None`: no collector thread (only the checkpoints call `collect()`).
    pub collector_gap_us: Option<u64>,
    /// The untracked garbage the modelled mix allocates.
    pub garbage: Garbage,
    /// Racy mix: threads go on past `ops_per_thread` until this many cycles have completed
    /// (or `max_time` has passed).
    pub target_cycles: u64,
    /// Modelled mix, one thread: the run's choices depend on the seed only (pruning follows
    /// the model's size, not the live count), and each checkpoint records a digest line
    /// (`Report::digest`) that any two runs of the same parameters must share, whatever
    /// the collector does.
    pub digest: bool,
    /// Weights that replace those of the named operations of the mix (`worker::OPS` or
    /// `racy::OPS`), e.g. `&[("garbage", 30)]`.
    pub weights: &'static [(&'static str, usize)],
}

impl Params {
    /// A short run: four threads, `checkpoints` checkpoints of `ops_between` operations each.
    pub fn short(seed: u64, checkpoints: u64, ops_between: u64) -> Params {
        Params {
            mode: Mode::Modelled,
            threads: 4,
            ops_per_thread: checkpoints * ops_between,
            checkpoint_every: ops_between,
            max_time: None,
            seed,
            ballast: 20_000,
            live_soft_limit: 3_000,
            hang_after: Duration::from_secs(120),
            verbose: false,
            anchors: 12,
            collector_gap_us: Some(3_000),
            garbage: Garbage::Chains,
            target_cycles: 0,
            digest: false,
            weights: &[],
        }
    }

    /// A run whose outcome depends on the seed only (see `digest`): one thread, no
    /// collector thread, `checkpoints` checkpoints of `ops_between` operations.
    pub fn deterministic(seed: u64, checkpoints: u64, ops_between: u64) -> Params {
        Params {
            threads: 1,
            ballast: 0,
            collector_gap_us: None,
            garbage: Garbage::Cells,
            digest: true,
            ..Params::short(seed, checkpoints, ops_between)
        }
    }
}

/// An operation table with `p.weights` applied.
fn mix<T: Copy>(table: &[(usize, &'static str, T)], p: &Params) -> Vec<(usize, &'static str, T)> {
    for (name, _) in p.weights {
        assert!(
            table.iter().any(|e| e.1 == *name),
            "no operation {name} in the mix"
        );
    }
    table
        .iter()
        .map(|&(w, name, op)| {
            let w = p.weights.iter().find(|o| o.0 == name).map_or(w, |o| o.1);
            (w, name, op)
        })
        .collect()
}

/// The seed in environment variable `var` (a `u64`), else `default`.
pub fn env_seed(var: &str, default: u64) -> u64 {
    match std::env::var(var) {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{var} is a u64")),
        Err(_) => default,
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
    /// One line per checkpoint when `Params::digest` (see there).
    pub digest: Vec<String>,
    /// What the weak operations saw (modelled mix).
    pub weak: WeakReport,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seed={} threads={} ops={} checkpoints={} cycles={} forced={} collector_calls={} \
             nodes_allocated={} max_reachable={} last_reachable={} upgraded={} cleared={} \
             resurrected={} eph_hits={} eph_pruned={} seconds={:.2}",
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
            self.weak.upgraded,
            self.weak.cleared,
            self.weak.resurrected,
            self.weak.eph_hits,
            self.weak.eph_pruned,
            self.elapsed.as_secs_f64()
        )
    }
}

const MAX_KIDS: usize = 6;
const SLOTS: usize = 8;

struct Shared<'p> {
    p: &'p Params,
    model: Mutex<Model>,
    anchors: Vec<Gc<Node>>,
    /// Rooted `AtomicGc` slots outside the heap.
    slots: Vec<AtomicGc<Node>>,
    /// A `GcCell` outside the heap (its contents stay rooted).
    shelf: GcCell<Vec<Edge>>,
    /// The shared ephemeron table; `Model::ephemerons` holds its entries.
    emap: WeakMap<Node, Gc<Node>>,
    weak: WeakCounters,
    gate: Gate,
    failed: AtomicBool,
    failure: Mutex<Option<String>>,
    next_id: AtomicU64,
    /// Live tracked nodes before the run.
    baseline: u64,
    t0: Instant,
    ckpt: Mutex<Ckpt>,
    stop: AtomicBool,
    max_reachable: AtomicU64,
    last_reachable: AtomicU64,
    num_gc_before: u32,
    beat: Beat,
    digest: Mutex<Vec<String>>,
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
    assert!(p.threads >= 1 && p.checkpoint_every >= 1 && p.anchors >= 1);
    assert!(!p.digest || (p.threads == 1 && p.mode == Mode::Modelled));
    match p.mode {
        Mode::Modelled => run_modelled(p),
        Mode::Racy => racy_run::run_racy(p),
    }
}

fn run_modelled(p: &Params) -> Result<Report, String> {
    let t0 = Instant::now();
    let before = gc_core::mem_stats();
    let baseline = ALLOCATED.load(Ordering::SeqCst) - DROPPED.load(Ordering::SeqCst);
    let allocated_before = ALLOCATED.load(Ordering::SeqCst);
    let ballast_root = ballast(p.ballast);
    let ballast_sum = ballast_root.sum;

    let next_id = AtomicU64::new(1);
    let anchors: Vec<Gc<Node>> = (0..p.anchors)
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
        ephemerons: BTreeMap::new(),
    };
    let sh = Shared {
        p,
        model: Mutex::new(model),
        anchors,
        slots: (0..SLOTS).map(|_| AtomicGc::new(None)).collect(),
        shelf: GcCell::new(Vec::new()),
        emap: WeakMap::new(),
        weak: WeakCounters::default(),
        gate: Gate::new(p.threads),
        failed: AtomicBool::new(false),
        failure: Mutex::new(None),
        next_id,
        baseline,
        t0,
        ckpt: Mutex::new(Ckpt::default()),
        stop: AtomicBool::new(false),
        max_reachable: AtomicU64::new(0),
        last_reachable: AtomicU64::new(0),
        num_gc_before: before.num_gc,
        beat: Beat::new(p.threads, worker::op_name),
        digest: Mutex::new(Vec::new()),
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
                        weaks: VecDeque::new(),
                        op: 0,
                        what: "start",
                        mix: mix(worker::OPS, p),
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
        let collector = p.collector_gap_us.map(|gap| {
            s.spawn(move || {
                collect_loop(p.seed, gap, workers_done, &sh.beat, |rng| {
                    if rng.chance(10) {
                        // `mem_stats` stops allocation briefly: more interleavings.
                        std::hint::black_box(gc_core::mem_stats());
                    }
                })
                .unwrap_or_else(|e| {
                    sh.fail(e);
                    0
                })
            })
        });
        s.spawn(move || watchdog(p, &sh.beat, done_rx));
        for w in workers {
            w.join().expect("worker threads catch their panics");
        }
        workers_done.store(true, Ordering::SeqCst);
        let calls = collector.map_or(0, |c| {
            c.join().expect("the collector thread catches its panics")
        });
        drop(done_tx);
        calls
    });

    if let Some(f) = sh.failure.lock().unwrap_or_else(|e| e.into_inner()).take() {
        return Err(f);
    }
    let during = gc_core::mem_stats();
    let checkpoints = sh.beat.checkpoints.load(Ordering::SeqCst);
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
        digest: std::mem::take(&mut *sh.digest.lock().unwrap()),
        weak: sh.weak.report(),
    };
    if check_ballast(&ballast_root) != ballast_sum {
        return Err(format!("ballast corrupted; seed {}", p.seed));
    }
    drop(ballast_root);
    drop(sh);
    check_all_dropped(p.seed, baseline)?;
    Ok(report)
}

/// After the run dropped everything: `collect()` twice, then no tracked node may have been
/// dropped twice or clobbered, and every one must have been dropped (live is `baseline`).
fn check_all_dropped(seed: u64, baseline: u64) -> Result<(), String> {
    gc_core::collect();
    gc_core::collect();
    let bad = BAD_DROPS.load(Ordering::SeqCst);
    if bad != 0 {
        return Err(format!(
            "{bad} tracked nodes dropped twice or clobbered; seed {seed}"
        ));
    }
    let dropped = DROPPED.load(Ordering::SeqCst);
    let live = ALLOCATED.load(Ordering::SeqCst) - dropped;
    if live != baseline {
        return Err(format!(
            "after dropping everything and collect() twice, {} tracked nodes are still live; \
             seed {seed}",
            live - baseline
        ));
    }
    Ok(())
}
