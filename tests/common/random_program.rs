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

// The test and the soak example each use a subset.
#![allow(dead_code)]

#[path = "mod.rs"]
pub mod common;

use common::{mix, Rng, Tracker, ALIVE, ALLOCATED, BAD_DROPS, DROPPED};
use gc_core::{AtomicGc, Gc, GcCell, Trace};
use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

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

const WORDS: usize = 4;
const MAX_KIDS: usize = 6;
const MAX_LOCAL: usize = 24;
const ANCHOR_NODES: usize = 12;
const SLOTS: usize = 8;
const SHELF_MAX: usize = 8;
const HOLDERS: usize = 16;
const PENDING: usize = 8;
/// Nodes a walk visits at most, outside and inside the lock.
const WALK_LIMIT: usize = 200;
const CHECKED_WALK_LIMIT: usize = 64;

/// A graph node: an immutable payload that is a function of its id, two `GcCell` edges and
/// two `AtomicGc` edges.
#[derive(Trace)]
pub struct Node {
    id: u64,
    words: [u64; WORDS],
    kids: GcCell<Vec<Gc<Node>>>,
    slot: GcCell<Option<Gc<Node>>>,
    left: AtomicGc<Node>,
    right: AtomicGc<Node>,
    #[trace(skip)]
    tracker: Tracker,
}

fn payload(id: u64) -> [u64; WORDS] {
    std::array::from_fn(|k| mix((id << 3) | k as u64))
}

fn new_node(
    id: u64,
    kids: Vec<Gc<Node>>,
    slot: Option<Gc<Node>>,
    left: Option<Gc<Node>>,
) -> Gc<Node> {
    Gc::new(Node {
        id,
        words: payload(id),
        kids: GcCell::new(kids),
        slot: GcCell::new(slot),
        left: AtomicGc::new(left),
        right: AtomicGc::new(None),
        tracker: Tracker::new(id),
    })
}

fn id_of(n: &Option<Gc<Node>>) -> Option<u64> {
    n.as_ref().map(|n| n.id)
}

/// Untracked garbage with edges.
#[derive(Trace)]
struct Junk {
    next: Option<Gc<Junk>>,
    pad: [u64; 5],
}

/// Untracked garbage, so that automatic cycles keep coming: short chains and arrays of
/// a few size classes.
fn garbage(rng: &mut Rng, n: usize) {
    let mut chain: Option<Gc<Junk>> = None;
    for i in 0..n {
        match i % 8 {
            0 | 4 => {
                chain = Some(Gc::new(Junk {
                    next: chain.take(),
                    pad: [i as u64; 5],
                }))
            }
            1 => {
                std::hint::black_box(Gc::new([rng.next(); 12]));
            }
            _ => {
                std::hint::black_box(Gc::new([i as u64; 3]));
            }
        }
        if i % 64 == 63 {
            chain = None;
        }
    }
    drop(chain);
}

/// Untracked live data, so that marking takes a while and races have room.
#[derive(Trace)]
struct Ballast {
    kids: Vec<Gc<Ballast>>,
    sum: u64,
}

/// A 4-ary tree of about `n` nodes; each node's `sum` is the sum of its leaves.
fn ballast(n: u64) -> Gc<Ballast> {
    let mut level: Vec<Gc<Ballast>> = (1..=(n * 3 / 4).max(1))
        .map(|sum| {
            Gc::new(Ballast {
                kids: Vec::new(),
                sum,
            })
        })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(4)
            .map(|c| {
                Gc::new(Ballast {
                    sum: c.iter().map(|k| k.sum).sum(),
                    kids: c.to_vec(),
                })
            })
            .collect();
    }
    level.pop().unwrap()
}

fn check_ballast(b: &Gc<Ballast>) -> u64 {
    if b.kids.is_empty() {
        return b.sum;
    }
    let s: u64 = b.kids.iter().map(check_ballast).sum();
    assert_eq!(s, b.sum, "ballast corrupted");
    s
}

/// The model of one node: its out-edges by id (kids in order).
#[derive(Clone, Default, Debug, PartialEq, Eq)]
struct MNode {
    kids: Vec<u64>,
    slot: Option<u64>,
    left: Option<u64>,
    right: Option<u64>,
}

impl MNode {
    fn edges(&self) -> impl Iterator<Item = u64> + '_ {
        self.kids
            .iter()
            .copied()
            .chain([self.slot, self.left, self.right].into_iter().flatten())
    }
}

/// The exact model of the program's graph and roots.
struct Model {
    /// Every node that may be live: allocated and published since the last checkpoint, or
    /// reachable at it. Pruned to the reachable set at each checkpoint.
    nodes: HashMap<u64, MNode>,
    /// Each thread's local root handles, by id, in the same order as the thread's `Vec`.
    local: Vec<Vec<u64>>,
    anchors: Vec<u64>,
    slots: Vec<Option<u64>>,
    shelf: Vec<u64>,
}

impl Model {
    fn roots(&self) -> impl Iterator<Item = u64> + '_ {
        self.local
            .iter()
            .flatten()
            .chain(&self.anchors)
            .chain(self.slots.iter().flatten())
            .chain(&self.shelf)
            .copied()
    }

    fn reachable(&self) -> HashSet<u64> {
        let mut seen = HashSet::new();
        let mut stack: Vec<u64> = self.roots().collect();
        while let Some(id) = stack.pop() {
            if seen.insert(id) {
                let n = self
                    .nodes
                    .get(&id)
                    .unwrap_or_else(|| panic!("model: edge to node {id}, which it does not hold"));
                stack.extend(n.edges());
            }
        }
        seen
    }
}

/// A reusable barrier that a failing thread can break, so that a failure never becomes a
/// hang of the others. `wait` returns whether this thread is the leader of the round.
struct Gate {
    n: usize,
    state: Mutex<(usize, u64)>,
    cv: Condvar,
    broken: AtomicBool,
}

struct Broken;

impl Gate {
    fn new(n: usize) -> Gate {
        Gate {
            n,
            state: Mutex::new((0, 0)),
            cv: Condvar::new(),
            broken: AtomicBool::new(false),
        }
    }

    fn wait(&self) -> Result<bool, Broken> {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if self.broken.load(Ordering::SeqCst) {
            return Err(Broken);
        }
        let generation = g.1;
        g.0 += 1;
        if g.0 == self.n {
            g.0 = 0;
            g.1 += 1;
            self.cv.notify_all();
            return Ok(true);
        }
        while g.1 == generation && !self.broken.load(Ordering::SeqCst) {
            g = self.cv.wait(g).unwrap_or_else(|e| e.into_inner());
        }
        if g.1 == generation {
            Err(Broken)
        } else {
            Ok(false)
        }
    }

    fn break_it(&self) {
        let _g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        self.broken.store(true, Ordering::SeqCst);
        self.cv.notify_all();
    }
}

/// Checkpoint scratch, written by the leader and the walkers between barriers.
#[derive(Default)]
struct Ckpt {
    expected: HashSet<u64>,
    found: HashSet<u64>,
    live: u64,
}

/// Where a thread is, for the hang report.
#[derive(Default)]
struct Progress {
    op: AtomicU64,
    what: AtomicUsize,
}

/// Names for `Progress::what` beyond the operation table.
const WHAT_CHECKPOINT: usize = 1000;
const WHAT_DONE: usize = 1001;

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

#[derive(Clone, Copy, Debug)]
enum Kind {
    Kids,
    Slot,
    Left,
    Right,
}

const KINDS: [Kind; 4] = [Kind::Kids, Kind::Slot, Kind::Left, Kind::Right];

struct Worker<'s, 'p> {
    t: usize,
    sh: &'s Shared<'p>,
    rng: Rng,
    /// Local root handles; `Model::local[t]` holds their ids in the same order.
    roots: Vec<Gc<Node>>,
    /// Recent receivers of moved subgraphs: temporary handles, dropped at checkpoints.
    holders: VecDeque<Gc<Node>>,
    /// Modelled nodes taken out of the graph or never published, held only by these
    /// handles across operations (and so across cycle boundaries), then moved into the heap
    /// by `flush_pending`; all of them before each checkpoint.
    pending: VecDeque<Gc<Node>>,
    op: u64,
    what: &'static str,
}

type Op = for<'s, 'p> fn(&mut Worker<'s, 'p>);

/// (weight, name, operation).
const OPS: &[(usize, &str, Op)] = &[
    (14, "walk", |w| w.op_walk()),
    (6, "checked_walk", |w| w.op_checked_walk()),
    (14, "alloc", |w| w.op_alloc()),
    (14, "link", |w| w.op_link()),
    (8, "unlink", |w| w.op_unlink()),
    (8, "move", |w| w.op_move()),
    (8, "roots", |w| w.op_roots()),
    (6, "slots", |w| w.op_slots()),
    (4, "shelf", |w| w.op_shelf()),
    (5, "guard_alloc", |w| w.op_guard_alloc()),
    (8, "garbage", |w| w.op_garbage()),
    (4, "hold", |w| w.op_hold()),
];

const OP_PRUNE: usize = OPS.len();

const OPS_TOTAL: usize = {
    let mut total = 0;
    let mut i = 0;
    while i < OPS.len() {
        total += OPS[i].0;
        i += 1;
    }
    total
};

fn what_name(w: usize) -> &'static str {
    match w {
        WHAT_CHECKPOINT => "checkpoint",
        WHAT_DONE => "done",
        OP_PRUNE => "prune",
        w => OPS.get(w).map_or("?", |o| o.1),
    }
}

impl<'s, 'p> Worker<'s, 'p> {
    fn ctx(&self) -> String {
        format!(
            "seed {} thread {} op {} ({}), after checkpoint {}",
            self.sh.p.seed,
            self.t,
            self.op,
            self.what,
            self.sh.checkpoints.load(Ordering::SeqCst)
        )
    }

    #[track_caller]
    fn fail(&self, msg: &str) -> ! {
        panic!("{msg}; {}", self.ctx())
    }

    /// Checks a node reached through a live handle or edge: id (if the edge's expected id is
    /// known), payload, tracker id, tracker ALIVE.
    #[track_caller]
    fn verify(&self, n: &Gc<Node>, expect: Option<u64>) {
        let id = n.id;
        if let Some(e) = expect {
            if id != e {
                self.fail(&format!(
                    "expected node {e} but found node {id} at {:p} (freed and reused?)",
                    Gc::as_ptr(n)
                ));
            }
        }
        if n.words != payload(id) {
            self.fail(&format!(
                "payload of node {id} at {:p} corrupted: {:x?}",
                Gc::as_ptr(n),
                n.words
            ));
        }
        if n.tracker.id != id {
            self.fail(&format!(
                "tracker of node {id} at {:p} corrupted (tracker id {})",
                Gc::as_ptr(n),
                n.tracker.id
            ));
        }
        let st = n.tracker.state();
        if st != ALIVE ^ id {
            self.fail(&format!(
                "node {id} at {:p} is reachable but its tracker reads {st:#x} (dropped while reachable?)",
                Gc::as_ptr(n)
            ));
        }
    }

    /// Checks `n` and the targets of its `GcCell` edges by reference, without cloning: a
    /// clone roots the target, and rooting during a mark shades it, which could hide a
    /// missing barrier.
    fn verify_in_place(&self, n: &Gc<Node>) {
        self.verify(n, None);
        for k in n.kids.borrow().iter() {
            self.verify(k, None);
        }
        if let Some(s) = n.slot.borrow().as_ref() {
            self.verify(s, None);
        }
    }

    fn expect_id(&self, got: Option<u64>, want: Option<u64>, what: &str) {
        if got != want {
            self.fail(&format!("{what}: graph has {got:?}, model has {want:?}"));
        }
    }

    /// A handle to start from: a local root, an anchor node, a slot or the shelf.
    fn start(&mut self) -> Gc<Node> {
        let sh = self.sh;
        let n = match self.rng.below(10) {
            0..=3 if !self.roots.is_empty() => {
                Some(self.roots[self.rng.below(self.roots.len())].clone())
            }
            4 | 5 => sh.slots[self.rng.below(SLOTS)].load(),
            6 => {
                let shelf = sh.shelf.borrow();
                if shelf.is_empty() {
                    None
                } else {
                    let n = &shelf[self.rng.below(shelf.len())];
                    self.verify(n, None);
                    Some(n.clone())
                }
            }
            _ => None,
        };
        let n = n.unwrap_or_else(|| sh.anchors[self.rng.below(ANCHOR_NODES)].clone());
        self.verify(&n, None);
        n
    }

    /// One random out-edge of `n` (a new handle), verified.
    fn step_from(&mut self, n: &Gc<Node>) -> Option<Gc<Node>> {
        let next = match self.rng.below(4) {
            0 => {
                let kids = n.kids.borrow();
                if kids.is_empty() {
                    None
                } else {
                    let k = &kids[self.rng.below(kids.len())];
                    self.verify(k, None);
                    Some(k.clone())
                }
            }
            1 => n.slot.borrow().as_ref().map(|s| {
                self.verify(s, None);
                s.clone()
            }),
            2 => n.left.load(),
            _ => n.right.load(),
        };
        if let Some(x) = &next {
            self.verify(x, None);
        }
        next
    }

    /// A node this thread can reach: a start and a short random walk (outside the lock).
    fn pick(&mut self) -> Gc<Node> {
        let mut n = self.start();
        for _ in 0..self.rng.below(4) {
            match self.step_from(&n) {
                Some(x) => n = x,
                None => break,
            }
        }
        n
    }

    /// Under the lock: adds `n` to the local roots (evicting one if full).
    fn add_root(&mut self, m: &mut Model, n: Gc<Node>) {
        if !m.nodes.contains_key(&n.id) {
            self.fail(&format!(
                "rooting node {}, which the model does not hold",
                n.id
            ));
        }
        if self.roots.len() >= MAX_LOCAL {
            let i = self.rng.below(self.roots.len());
            self.roots.swap_remove(i);
            m.local[self.t].swap_remove(i);
        }
        m.local[self.t].push(n.id);
        self.roots.push(n);
    }

    /// Under the lock: a node's kids, checked against the model.
    fn check_kids(&self, kids: &[Gc<Node>], want: &[u64], of: u64) {
        if kids.len() != want.len() || kids.iter().zip(want).any(|(k, &w)| k.id != w) {
            let got: Vec<u64> = kids.iter().map(|k| k.id).collect();
            self.fail(&format!(
                "kids of node {of}: graph has {got:?}, model has {want:?}"
            ));
        }
        for (k, &w) in kids.iter().zip(want) {
            self.verify(k, Some(w));
        }
    }

    /// Under the lock: `a -> b` through an edge of kind `kind`, replacing or evicting what
    /// was there; the model follows and every old value is checked against it. `b` is moved
    /// in, not cloned: when it is the caller's only handle, nothing but the store's barrier
    /// shades it (a clone roots it, and rooting during a mark shades).
    fn link(&mut self, m: &mut Model, a: &Gc<Node>, b: Gc<Node>, kind: Kind) {
        let (ai, bi) = (a.id, b.id);
        if !m.nodes.contains_key(&bi) {
            self.fail(&format!(
                "linking to node {bi}, which the model does not hold"
            ));
        }
        let Some(mn) = m.nodes.get_mut(&ai) else {
            self.fail(&format!(
                "linking from node {ai}, which the model does not hold"
            ))
        };
        match kind {
            Kind::Kids => {
                let mut kids = a.kids.borrow_mut();
                self.check_kids(&kids, &mn.kids, ai);
                if kids.len() >= MAX_KIDS {
                    let i = self.rng.below(kids.len());
                    let old = kids.remove(i);
                    mn.kids.remove(i);
                    self.verify(&old, None);
                }
                kids.push(b);
                mn.kids.push(bi);
            }
            Kind::Slot => {
                let want = mn.slot.replace(bi);
                match self.rng.below(3) {
                    0 => {
                        let old = a.slot.replace(Some(b));
                        self.expect_id(id_of(&old), want, "slot.replace old value");
                    }
                    1 => {
                        let old = a.slot.borrow().as_ref().map(|x| x.id);
                        self.expect_id(old, want, "slot before set");
                        a.slot.set(Some(b));
                    }
                    _ => {
                        let mut s = a.slot.borrow_mut();
                        self.expect_id(id_of(&s), want, "slot under borrow_mut");
                        *s = Some(b);
                    }
                }
            }
            Kind::Left => {
                let want = mn.left.replace(bi);
                if self.rng.chance(50) {
                    let old = a.left.swap(Some(b));
                    self.expect_id(id_of(&old), want, "left.swap old value");
                    if let Some(o) = &old {
                        self.verify(o, want);
                    }
                } else {
                    a.left.store(Some(b));
                }
            }
            Kind::Right => {
                let want = mn.right.replace(bi);
                let cur = a.right.load();
                self.expect_id(id_of(&cur), want, "right.load");
                match a.right.compare_exchange(cur.as_ref(), Some(b)) {
                    Ok(old) => {
                        if old.as_ref().map(Gc::as_ptr) != cur.as_ref().map(Gc::as_ptr) {
                            self.fail("successful compare_exchange returned another old value");
                        }
                    }
                    Err(e) => self.fail(&format!(
                        "compare_exchange with the current value failed (slot holds {:?}) \
                         although every writer holds the model lock",
                        id_of(&e.current)
                    )),
                }
                // With a value that is not current: must fail and change nothing.
                if ai != bi {
                    match a.right.compare_exchange(Some(a), None) {
                        Ok(_) => self.fail("compare_exchange with a stale value succeeded"),
                        Err(e) => {
                            self.expect_id(id_of(&e.current), Some(bi), "failed cas current");
                            if e.new.is_some() {
                                self.fail("failed compare_exchange invented a `new` value");
                            }
                        }
                    }
                }
            }
        }
    }

    /// Under the lock: removes an edge of kind `kind` from `a`.
    fn unlink(&mut self, m: &mut Model, a: &Gc<Node>, kind: Kind) {
        let ai = a.id;
        let Some(mn) = m.nodes.get_mut(&ai) else {
            self.fail(&format!(
                "unlinking from node {ai}, which the model does not hold"
            ))
        };
        match kind {
            Kind::Kids => {
                let mut kids = a.kids.borrow_mut();
                self.check_kids(&kids, &mn.kids, ai);
                if !kids.is_empty() {
                    let i = self.rng.below(kids.len());
                    kids.remove(i);
                    mn.kids.remove(i);
                }
            }
            Kind::Slot => {
                let old = a.slot.replace(None);
                self.expect_id(id_of(&old), mn.slot.take(), "slot.replace(None)");
            }
            Kind::Left => {
                let old = a.left.swap(None);
                self.expect_id(id_of(&old), mn.left.take(), "left.swap(None)");
            }
            Kind::Right => {
                let want = mn.right.take();
                let cur = a.right.load();
                self.expect_id(id_of(&cur), want, "right.load");
                if a.right.compare_exchange(cur.as_ref(), None).is_err() {
                    self.fail("compare_exchange(current, None) failed under the model lock");
                }
            }
        }
    }

    /// Walks from a start outside the lock, verifying every node and cell edge it meets.
    fn op_walk(&mut self) {
        let start = self.start();
        let limit = 1 + self.rng.below(WALK_LIMIT);
        let mut seen = HashSet::new();
        let mut stack = vec![start];
        while let Some(n) = stack.pop() {
            if seen.len() >= limit {
                break;
            }
            self.verify(&n, None);
            if !seen.insert(n.id) {
                continue;
            }
            for k in n.kids.borrow().iter() {
                self.verify(k, None);
                if !seen.contains(&k.id) {
                    stack.push(k.clone());
                }
            }
            if let Some(s) = n.slot.borrow().as_ref() {
                self.verify(s, None);
                stack.push(s.clone());
            }
            stack.extend(n.left.load());
            stack.extend(n.right.load());
        }
    }

    /// Under the lock: a bounded walk comparing each node's real edges with the model's.
    fn checked_walk(
        &self,
        m: &Model,
        starts: Vec<Gc<Node>>,
        limit: usize,
        found: &mut HashSet<u64>,
    ) {
        let mut stack = starts;
        while let Some(n) = stack.pop() {
            if found.len() >= limit {
                break;
            }
            self.verify(&n, None);
            let id = n.id;
            if !found.insert(id) {
                continue;
            }
            let Some(want) = m.nodes.get(&id) else {
                self.fail(&format!(
                    "node {id} at {:p} is reachable in the graph but not in the model",
                    Gc::as_ptr(&n)
                ))
            };
            let kids: Vec<Gc<Node>> = n.kids.borrow().clone();
            let slot = n.slot.borrow().clone();
            let (left, right) = (n.left.load(), n.right.load());
            let got = MNode {
                kids: kids.iter().map(|k| k.id).collect(),
                slot: id_of(&slot),
                left: id_of(&left),
                right: id_of(&right),
            };
            if &got != want {
                self.fail(&format!(
                    "node {id}: graph edges {got:?}, model edges {want:?}"
                ));
            }
            for (k, w) in kids.iter().zip(&want.kids) {
                self.verify(k, Some(*w));
            }
            stack.extend(kids);
            stack.extend([slot, left, right].into_iter().flatten());
        }
    }

    fn op_checked_walk(&mut self) {
        let sh = self.sh;
        let m = sh.model();
        let start = match self.rng.below(4) {
            0 if !self.roots.is_empty() => {
                let i = self.rng.below(self.roots.len());
                self.expect_id(
                    Some(self.roots[i].id),
                    Some(m.local[self.t][i]),
                    "local root",
                );
                Some(self.roots[i].clone())
            }
            1 => {
                let i = self.rng.below(SLOTS);
                let n = sh.slots[i].load();
                self.expect_id(id_of(&n), m.slots[i], "slot load");
                n
            }
            _ => None,
        };
        let start = start.unwrap_or_else(|| sh.anchors[self.rng.below(ANCHOR_NODES)].clone());
        let mut found = HashSet::new();
        self.checked_walk(&m, vec![start], CHECKED_WALK_LIMIT, &mut found);
    }

    /// A cluster allocated outside the lock (some with initial edges, moved in), held only
    /// by this thread for a while, then registered in the model under the lock and published
    /// (rooted, linked from a node, or parked in `pending` to be moved into the heap later).
    fn op_alloc(&mut self) {
        let sh = self.sh;
        let k = 1 + self.rng.below(4);
        let mut fresh: Vec<(Gc<Node>, MNode)> = Vec::new();
        for _ in 0..k {
            let mut mn = MNode::default();
            let mut kids = Vec::new();
            if let Some((prev, _)) = fresh.last() {
                kids.push(prev.clone());
                mn.kids.push(prev.id);
            }
            let left = if self.rng.chance(30) {
                let x = self.pick();
                mn.left = Some(x.id);
                Some(x)
            } else {
                None
            };
            let slot = if self.rng.chance(15) {
                let x = self.pick();
                mn.slot = Some(x.id);
                Some(x)
            } else {
                None
            };
            fresh.push((new_node(sh.new_id(), kids, slot, left), mn));
        }
        if self.rng.chance(30) {
            garbage(&mut self.rng, 200);
            for (n, mn) in &fresh {
                self.verify(n, None);
                if let Some(l) = n.left.load() {
                    self.verify(&l, mn.left);
                }
            }
        }
        let target = self.pick();
        let mut m = sh.model();
        for (n, mn) in &fresh {
            for e in mn.edges() {
                if !m.nodes.contains_key(&e) && !fresh.iter().any(|f| f.0.id == e) {
                    self.fail(&format!("new node {} points to unknown node {e}", n.id));
                }
            }
            if m.nodes.insert(n.id, mn.clone()).is_some() {
                self.fail(&format!("node id {} allocated twice", n.id));
            }
        }
        let mut handles: Vec<Gc<Node>> = fresh.into_iter().map(|(n, _)| n).collect();
        let tail = handles.pop().unwrap();
        let head = handles.into_iter().next();
        if let Some(h) = &head {
            if self.rng.chance(40) {
                // A cycle through the cluster.
                let kind = KINDS[2 + self.rng.below(2)];
                self.link(&mut m, h, tail.clone(), kind);
            }
        }
        let kind = KINDS[self.rng.below(4)];
        match self.rng.below(4) {
            0 => self.add_root(&mut m, tail),
            1 => {
                drop(head);
                // The only handle to the tail, moved into the heap.
                self.link(&mut m, &target, tail, kind);
            }
            2 => {
                drop(head);
                drop(m);
                self.pending.push_back(tail);
            }
            _ => {
                self.link(&mut m, &target, tail, kind);
                if let Some(h) = head {
                    self.add_root(&mut m, h);
                }
            }
        }
    }

    fn op_link(&mut self) {
        let (a, b) = (self.pick(), self.pick());
        let kind = KINDS[self.rng.below(4)];
        let mut m = self.sh.model();
        self.link(&mut m, &a, b, kind);
    }

    fn op_unlink(&mut self) {
        let a = self.pick();
        let kind = KINDS[self.rng.below(4)];
        let mut m = self.sh.model();
        self.unlink(&mut m, &a, kind);
    }

    /// Takes edges out of one node, holds them only through this thread's handles while
    /// garbage is allocated (cycles run), then attaches them elsewhere: to another node,
    /// inside a new node (allocated black while a mark runs), or later (`pending`).
    fn op_move(&mut self) {
        let sh = self.sh;
        let (a, b) = (self.pick(), self.pick());
        let kind = KINDS[self.rng.below(4)];
        let taken: Vec<Gc<Node>> = {
            let mut m = sh.model();
            let Some(mn) = m.nodes.get_mut(&a.id) else {
                self.fail(&format!(
                    "moving from node {}, which the model does not hold",
                    a.id
                ))
            };
            match kind {
                Kind::Kids => {
                    let v = a.kids.replace(Vec::new());
                    let want = std::mem::take(&mut mn.kids);
                    self.check_kids(&v, &want, a.id);
                    v
                }
                Kind::Slot => {
                    let v = a.slot.replace(None);
                    self.expect_id(id_of(&v), mn.slot.take(), "slot.replace(None)");
                    v.into_iter().collect()
                }
                Kind::Left => {
                    let v = a.left.swap(None);
                    self.expect_id(id_of(&v), mn.left.take(), "left.swap(None)");
                    v.into_iter().collect()
                }
                Kind::Right => {
                    let v = a.right.swap(None);
                    self.expect_id(id_of(&v), mn.right.take(), "right.swap(None)");
                    v.into_iter().collect()
                }
            }
        };
        drop(a);
        if taken.is_empty() {
            return;
        }
        let ids: Vec<u64> = taken.iter().map(|n| n.id).collect();
        garbage(&mut self.rng, 300);
        for (n, &id) in taken.iter().zip(&ids) {
            self.verify(n, Some(id));
        }
        match self.rng.below(10) {
            0..=2 => self.pending.extend(taken),
            3..=5 => {
                // Into a new holder: the handles are moved in, and the holder linked from `b`.
                let holder_id = sh.new_id();
                let mut mn = MNode::default();
                let mut kids = Vec::new();
                let mut slot = None;
                for n in taken {
                    if kids.len() < MAX_KIDS {
                        mn.kids.push(n.id);
                        kids.push(n);
                    } else if slot.is_none() {
                        mn.slot = Some(n.id);
                        slot = Some(n);
                    }
                }
                let holder = new_node(holder_id, kids, slot, None);
                garbage(&mut self.rng, 100);
                self.verify_in_place(&holder);
                self.keep_holder(holder.clone());
                let mut m = sh.model();
                m.nodes.insert(holder_id, mn);
                let kind = KINDS[self.rng.below(4)];
                self.link(&mut m, &b, holder, kind);
            }
            _ => {
                let mut m = sh.model();
                for n in taken {
                    let kind = KINDS[self.rng.below(4)];
                    self.link(&mut m, &b, n, kind);
                }
                drop(m);
                self.keep_holder(b);
            }
        }
    }

    /// Moves the oldest parked handle (a modelled node, possibly held by nothing else) into
    /// the heap: into a new holder (allocated black while a mark runs), or into a node.
    fn flush_pending(&mut self) {
        let sh = self.sh;
        let Some(n) = self.pending.pop_front() else {
            return;
        };
        self.verify(&n, None);
        let id = n.id;
        let target = self.pick();
        if self.rng.chance(50) {
            let holder_id = sh.new_id();
            let mut mn = MNode::default();
            let holder = match self.rng.below(3) {
                0 => {
                    mn.kids.push(id);
                    new_node(holder_id, vec![n], None, None)
                }
                1 => {
                    mn.slot = Some(id);
                    new_node(holder_id, Vec::new(), Some(n), None)
                }
                _ => {
                    mn.left = Some(id);
                    new_node(holder_id, Vec::new(), None, Some(n))
                }
            };
            self.keep_holder(holder.clone());
            let mut m = sh.model();
            m.nodes.insert(holder_id, mn);
            let kind = KINDS[self.rng.below(4)];
            self.link(&mut m, &target, holder, kind);
        } else {
            let kind = KINDS[self.rng.below(4)];
            let mut m = sh.model();
            self.link(&mut m, &target, n, kind);
            drop(m);
            self.keep_holder(target);
        }
    }

    fn keep_holder(&mut self, h: Gc<Node>) {
        if self.holders.len() >= HOLDERS {
            self.holders.pop_front();
        }
        self.holders.push_back(h);
    }

    fn op_roots(&mut self) {
        let sh = self.sh;
        match self.rng.below(4) {
            0 | 1 => {
                let n = self.pick();
                let mut m = sh.model();
                self.add_root(&mut m, n);
            }
            2 => {
                let mut m = sh.model();
                if !self.roots.is_empty() {
                    let i = self.rng.below(self.roots.len());
                    self.roots.swap_remove(i);
                    m.local[self.t].swap_remove(i);
                }
            }
            _ => {
                let mut m = sh.model();
                let keep = self.rng.below(self.roots.len() + 1);
                self.roots.truncate(keep);
                m.local[self.t].truncate(keep);
            }
        }
    }

    /// The rooted `AtomicGc` slots outside the heap.
    fn op_slots(&mut self) {
        let sh = self.sh;
        let i = self.rng.below(SLOTS);
        let new = if self.rng.chance(80) {
            Some(self.pick())
        } else {
            None
        };
        let mut m = sh.model();
        let want = m.slots[i];
        match self.rng.below(3) {
            0 => {
                let old = sh.slots[i].swap(new.clone());
                self.expect_id(id_of(&old), want, "anchor slot swap");
            }
            1 => {
                let cur = sh.slots[i].load();
                self.expect_id(id_of(&cur), want, "anchor slot load");
                if let Err(e) = sh.slots[i].compare_exchange(cur.as_ref(), new.clone()) {
                    self.fail(&format!(
                        "anchor slot compare_exchange with the current value failed ({:?})",
                        id_of(&e.current)
                    ));
                }
            }
            _ => sh.slots[i].store(new.clone()),
        }
        m.slots[i] = id_of(&new);
    }

    /// The `GcCell` outside the heap.
    fn op_shelf(&mut self) {
        let sh = self.sh;
        let n = self.pick();
        let mut m = sh.model();
        match self.rng.below(3) {
            0 => {
                let mut s = sh.shelf.borrow_mut();
                self.check_kids(&s, &m.shelf, u64::MAX);
                if s.len() >= SHELF_MAX {
                    s.remove(0);
                    m.shelf.remove(0);
                }
                s.push(n.clone());
                m.shelf.push(n.id);
            }
            1 => {
                let mut s = sh.shelf.borrow_mut();
                if !s.is_empty() {
                    let i = self.rng.below(s.len());
                    s.remove(i);
                    m.shelf.remove(i);
                }
            }
            _ => {
                let old = sh.shelf.replace(vec![n.clone()]);
                let want = std::mem::replace(&mut m.shelf, vec![n.id]);
                self.check_kids(&old, &want, u64::MAX);
            }
        }
    }

    /// Allocation while holding a cell guard: a read guard outside the lock, or a write
    /// guard (under the lock) that a new node goes into.
    fn op_guard_alloc(&mut self) {
        let sh = self.sh;
        let a = self.pick();
        if self.rng.chance(50) {
            let kids = a.kids.borrow();
            for k in kids.iter() {
                self.verify(k, None);
            }
            garbage(&mut self.rng, 150);
            for k in kids.iter() {
                self.verify(k, None);
            }
        } else {
            let mut m = sh.model();
            let mut kids = a.kids.borrow_mut();
            let Some(mn) = m.nodes.get(&a.id) else {
                self.fail(&format!("node {} not in the model", a.id))
            };
            self.check_kids(&kids, &mn.kids, a.id);
            // The new node points back at `a` (moved in) and at an old kid.
            let id = sh.new_id();
            let back = self.rng.chance(50);
            let old_kid = kids.first().cloned();
            let mut nm = MNode {
                left: back.then_some(a.id),
                ..MNode::default()
            };
            nm.slot = id_of(&old_kid);
            let n = new_node(id, Vec::new(), old_kid, back.then(|| a.clone()));
            garbage(&mut self.rng, 100);
            m.nodes.insert(id, nm);
            let mn = m.nodes.get_mut(&a.id).unwrap();
            if kids.len() >= MAX_KIDS {
                kids.pop();
                mn.kids.pop();
            }
            kids.push(n);
            mn.kids.push(id);
        }
    }

    /// Untracked garbage, and tracked garbage: a cycle nobody can reach.
    fn op_garbage(&mut self) {
        let n = 200 + self.rng.below(1500);
        garbage(&mut self.rng, n);
        if self.rng.chance(40) {
            let k = 2 + self.rng.below(4);
            let mut ring: Vec<Gc<Node>> = Vec::new();
            for _ in 0..k {
                let kids = ring.last().cloned().into_iter().collect();
                ring.push(new_node(self.sh.new_id(), kids, None, None));
            }
            ring[0].left.store(Some(ring[k - 1].clone()));
        }
    }

    /// A node held only through a temporary handle across allocation (cycles run).
    fn op_hold(&mut self) {
        let n = self.pick();
        let id = n.id;
        garbage(&mut self.rng, 400);
        self.verify(&n, Some(id));
        self.verify_in_place(&n);
    }

    /// Above the soft limit: cuts every edge of an anchor node and drops some roots.
    fn op_prune(&mut self) {
        let sh = self.sh;
        let a = sh.anchors[self.rng.below(ANCHOR_NODES)].clone();
        let mut m = sh.model();
        for kind in KINDS {
            if matches!(kind, Kind::Kids) {
                let mut kids = a.kids.borrow_mut();
                let mn = m.nodes.get_mut(&a.id).unwrap();
                self.check_kids(&kids, &mn.kids, a.id);
                kids.clear();
                mn.kids.clear();
            } else {
                self.unlink(&mut m, &a, kind);
            }
        }
        let keep = self.roots.len() / 2;
        self.roots.truncate(keep);
        m.local[self.t].truncate(keep);
        let i = self.rng.below(SLOTS);
        sh.slots[i].store(None);
        m.slots[i] = None;
    }

    fn step(&mut self) {
        let sh = self.sh;
        if self.op & 3 == 0 {
            self.what = "check_holders";
            for h in &self.holders {
                self.verify_in_place(h);
            }
            for n in &self.pending {
                self.verify(n, None);
            }
        }
        let i = if sh.live() > sh.p.live_soft_limit && self.rng.chance(10) {
            OP_PRUNE
        } else {
            let mut r = self.rng.below(OPS_TOTAL);
            let mut i = 0;
            while r >= OPS[i].0 {
                r -= OPS[i].0;
                i += 1;
            }
            i
        };
        sh.progress[self.t].what.store(i, Ordering::Relaxed);
        self.what = what_name(i);
        if i == OP_PRUNE {
            self.op_prune();
        } else {
            (OPS[i].2)(self);
        }
        while self.pending.len() > PENDING {
            self.what = "flush_pending";
            self.flush_pending();
        }
        self.op += 1;
        sh.progress[self.t].op.store(self.op, Ordering::Relaxed);
        sh.pulse.fetch_add(1, Ordering::Relaxed);
    }

    /// All threads meet; returns whether the run stops here.
    fn checkpoint(&mut self) -> Result<bool, Broken> {
        let sh = self.sh;
        self.what = "flush_pending";
        while !self.pending.is_empty() {
            self.flush_pending();
        }
        self.holders.clear();
        self.what = "checkpoint";
        sh.progress[self.t]
            .what
            .store(WHAT_CHECKPOINT, Ordering::Relaxed);
        // 1. Every thread is between operations: it holds only its modelled roots.
        if sh.gate.wait()? {
            gc_core::collect();
            gc_core::collect();
            let live = sh.live();
            let m = sh.model();
            let expected = m.reachable();
            if live != expected.len() as u64 {
                self.fail(&format!(
                    "after collect() twice at a checkpoint: {live} live tracked nodes, but {} \
                     reachable in the model",
                    expected.len()
                ));
            }
            let bad = BAD_DROPS.load(Ordering::SeqCst);
            if bad != 0 {
                self.fail(&format!("{bad} tracked nodes dropped twice or clobbered"));
            }
            let mut c = sh.ckpt.lock().unwrap();
            c.expected = expected;
            c.found.clear();
            c.live = live;
        }
        sh.gate.wait()?;
        // 2. A full walk from the real roots, checked against the model: each thread walks
        // from its own roots, thread 0 also from the shared ones.
        let mut found = HashSet::new();
        {
            let m = sh.model();
            let ids: Vec<u64> = self.roots.iter().map(|n| n.id).collect();
            if ids != m.local[self.t] {
                self.fail(&format!(
                    "local roots {ids:?}, model has {:?}",
                    m.local[self.t]
                ));
            }
            let mut starts = self.roots.clone();
            if self.t == 0 {
                starts.extend(sh.anchors.iter().cloned());
                for (i, s) in sh.slots.iter().enumerate() {
                    let n = s.load();
                    self.expect_id(id_of(&n), m.slots[i], "anchor slot");
                    starts.extend(n);
                }
                let shelf = sh.shelf.borrow().clone();
                self.check_kids(&shelf, &m.shelf, u64::MAX);
                starts.extend(shelf);
            }
            self.checked_walk(&m, starts, usize::MAX, &mut found);
        }
        sh.ckpt.lock().unwrap().found.extend(found);
        // 3. The union of the walks is exactly the model's reachable set.
        if sh.gate.wait()? {
            let mut c = sh.ckpt.lock().unwrap();
            if c.found != c.expected {
                let mut missing: Vec<u64> = c.expected.difference(&c.found).copied().collect();
                let mut extra: Vec<u64> = c.found.difference(&c.expected).copied().collect();
                missing.sort_unstable();
                extra.sort_unstable();
                missing.truncate(20);
                extra.truncate(20);
                self.fail(&format!(
                    "the real walk found {} nodes, the model has {} reachable; missing (first \
                     20) {missing:?}, extra {extra:?}",
                    c.found.len(),
                    c.expected.len()
                ));
            }
            let expected = std::mem::take(&mut c.expected);
            c.found.clear();
            let live = c.live;
            drop(c);
            let mut m = sh.model();
            m.nodes.retain(|id, _| expected.contains(id));
            let model_nodes = m.nodes.len();
            drop(m);
            let n = sh.checkpoints.fetch_add(1, Ordering::SeqCst) + 1;
            let reach = expected.len() as u64;
            sh.max_reachable.fetch_max(reach, Ordering::Relaxed);
            sh.last_reachable.store(reach, Ordering::Relaxed);
            let ops_each = n * sh.p.checkpoint_every;
            let stop = ops_each >= sh.p.ops_per_thread
                || sh.p.max_time.is_some_and(|t| sh.t0.elapsed() >= t);
            if sh.p.verbose {
                let cycles = gc_core::mem_stats().num_gc - sh.num_gc_before;
                println!(
                    "RD_CKPT n={n} ops={} live={live} reachable={reach} model_nodes={model_nodes} \
                     cycles={cycles}{}",
                    ops_each * sh.p.threads as u64,
                    if stop { " last" } else { "" }
                );
            }
            sh.stop.store(stop, Ordering::SeqCst);
            sh.pulse.fetch_add(1, Ordering::Relaxed);
        }
        sh.gate.wait()?;
        Ok(sh.stop.load(Ordering::SeqCst))
    }

    fn run(&mut self) {
        loop {
            for _ in 0..self.sh.p.checkpoint_every {
                if self.sh.failed.load(Ordering::Relaxed) {
                    return;
                }
                self.step();
            }
            match self.checkpoint() {
                Ok(false) => {}
                Ok(true) | Err(Broken) => break,
            }
        }
        self.sh.progress[self.t]
            .what
            .store(WHAT_DONE, Ordering::Relaxed);
    }
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
        s.spawn(move || {
            let mut last = (sh.pulse.load(Ordering::Relaxed), Instant::now());
            loop {
                match done_rx.recv_timeout(Duration::from_millis(500)) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                let pulse = sh.pulse.load(Ordering::Relaxed);
                if pulse != last.0 {
                    last = (pulse, Instant::now());
                } else if last.1.elapsed() >= p.hang_after {
                    eprintln!(
                        "HANG: no operation, checkpoint or collect() finished for {:?} (seed {}, \
                         {} checkpoints done):",
                        p.hang_after,
                        p.seed,
                        sh.checkpoints.load(Ordering::SeqCst)
                    );
                    for (t, pr) in sh.progress.iter().enumerate() {
                        eprintln!(
                            "  thread {t}: op {} ({})",
                            pr.op.load(Ordering::Relaxed),
                            what_name(pr.what.load(Ordering::Relaxed))
                        );
                    }
                    eprintln!(
                        "  inspect with `gdb -p {} -batch -ex 'thread apply all bt'`",
                        std::process::id()
                    );
                    std::process::exit(3);
                }
            }
        });
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
