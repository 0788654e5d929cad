//! Six threads mutate one shared graph while collections run back to back: one thread calls
//! `collect()` in a loop (with gaps, some long) and allocation triggers automatic cycles,
//! which mark concurrently with the mutators (the heap stays near the 4 MiB minimum goal, so
//! cycles are frequent). A 40k-object ballast tree keeps each mark busy for a while.
//!
//! Nodes carry an immutable payload that is a function of their id, and every edge that can
//! carry it also records the id it expects to find (`GcCell` edges are `(id, Gc)` pairs).
//! Every node reached is checked: a node freed while reachable (its tracker reads "dropped"),
//! clobbered, or freed and reused (wrong id behind an edge) fails the check. Operations:
//! allocate clusters and link them through `GcCell` and `AtomicGc` edges, swap and
//! compare-exchange `AtomicGc` edges, `GcCell::replace`/`set`, unlink, move subgraphs (held
//! only by a local root while garbage is allocated), move long-held handles into the heap
//! (into existing nodes and into new, allocated-black ones), drop roots, allocate while
//! holding cell guards. After the run: a full walk, live tracked nodes == reachable ones
//! after `collect()`, and every tracked node dropped exactly once at the end.
//!
//! Checks of moved nodes read through cell guards by reference: cloning a handle roots it,
//! and rooting during a mark shades the object, which would hide a missing write barrier.
//! (Without the shade in `roots::dec_to_edge`, this file fails within a second or so.)
//!
//! Tests: the workload in-process; in a child process with `GODEBUG=clobberfree=1` (a node
//! freed while reachable is also poisoned); and a focused child (`moved_handles_workload`).
//! Reproduce with a fixed seed: `CM_SEED=<n> cargo test --test concurrent_mutation`; a child
//! alone: `GC_CORE_CM_CHILD=workload|moved cargo test --test concurrent_mutation --
//! --exact child_workload --nocapture`.

mod common;

use common::{ballast, check_ballast, mix, Rng, Tracker, ALIVE, ALLOCATED, BAD_DROPS, DROPPED};
use gc_core::{AtomicGc, Gc, GcCell, Trace};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const THREADS: usize = 6;
const ANCHORS: usize = 48;
/// Operations per worker thread.
const OPS: usize = 25_000;
/// Above this many live tracked nodes, workers prune anchors more often.
const LIVE_SOFT_LIMIT: u64 = 30_000;
/// Untracked live objects kept for the whole run (marking has more to do).
const BALLAST: u64 = 40_000;
/// Cap on a node's `kids` vector.
const MAX_KIDS: usize = 8;
/// Cap on a worker's local roots.
const MAX_LOCAL: usize = 32;
/// Workers keep going after their `OPS` operations until this many cycles (forced and
/// automatic) have completed since the start, so that the run overlaps enough cycles however
/// fast the collector or the machine, or until `MAX_RUN` has passed.
const TARGET_CYCLES: u64 = 25;
const MAX_RUN: Duration = Duration::from_secs(6);
/// Cycles that must have completed while the workers ran (even if `MAX_RUN` cut them short).
const MIN_CYCLES: u64 = 12;

const CHILD: &str = "GC_CORE_CM_CHILD";

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static MAX_LIVE: AtomicU64 = AtomicU64::new(0);

/// A `GcCell` edge: the id the holder expects, and the node.
type Edge = (u64, Gc<Node>);

#[derive(Trace)]
struct Node {
    id: u64,
    check: [u64; 3],
    kids: GcCell<Vec<Edge>>,
    left: AtomicGc<Node>,
    right: AtomicGc<Node>,
    slot: GcCell<Option<Edge>>,
    #[trace(skip)]
    tracker: Tracker,
}

fn checks(id: u64) -> [u64; 3] {
    [mix(id), mix(id ^ (1 << 60)), !mix(id.rotate_left(17))]
}

fn new_node() -> Gc<Node> {
    new_node_with(Vec::new(), None, None)
}

/// A node whose fields start with handles moved in (`Gc::new` turns them into edges).
fn new_node_with(kids: Vec<Edge>, left: Option<Gc<Node>>, slot: Option<Edge>) -> Gc<Node> {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    Gc::new(Node {
        id,
        check: checks(id),
        kids: GcCell::new(kids),
        left: AtomicGc::new(left),
        right: AtomicGc::new(None),
        slot: GcCell::new(slot),
        tracker: Tracker::new(id),
    })
}

fn edge(n: &Gc<Node>) -> Edge {
    (n.id, n.clone())
}

/// Where the worker is, for failure messages.
#[derive(Clone, Copy)]
struct Ctx {
    seed: u64,
    thread: usize,
    op: usize,
    what: &'static str,
}

impl std::fmt::Display for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "seed {} thread {} op {} ({}); reproduce with CM_SEED={} cargo test --test concurrent_mutation",
            self.seed, self.thread, self.op, self.what, self.seed
        )
    }
}

/// Checks a node reached through an edge that expected `expect` (if known).
fn verify(n: &Gc<Node>, expect: Option<u64>, ctx: Ctx) {
    let id = n.id;
    if let Some(e) = expect {
        assert_eq!(
            id,
            e,
            "edge expected node {e} but found node {id} at {:p} (freed and reused?); {ctx}",
            Gc::as_ptr(n)
        );
    }
    assert_eq!(
        n.check,
        checks(id),
        "payload of node {id} at {:p} corrupted; {ctx}",
        Gc::as_ptr(n)
    );
    assert_eq!(
        n.tracker.id,
        id,
        "tracker of node {id} at {:p} corrupted; {ctx}",
        Gc::as_ptr(n)
    );
    let st = n.tracker.state();
    assert_eq!(
        st,
        ALIVE ^ id,
        "node {id} at {:p} is reachable but its tracker reads {st:#x} (dropped while reachable?); {ctx}",
        Gc::as_ptr(n)
    );
}

fn verify_edge(e: &Edge, ctx: Ctx) {
    verify(&e.1, Some(e.0), ctx);
}

/// All out-edges of `n` (as rooted handles), verified.
fn neighbours(n: &Gc<Node>, ctx: Ctx) -> Vec<Gc<Node>> {
    let mut out: Vec<Gc<Node>> = Vec::new();
    {
        let kids = n.kids.borrow();
        for e in kids.iter() {
            verify_edge(e, ctx);
            out.push(e.1.clone());
        }
    }
    if let Some(e) = n.slot.borrow().as_ref() {
        verify_edge(e, ctx);
        out.push(e.1.clone());
    }
    for a in [&n.left, &n.right] {
        if let Some(x) = a.load() {
            verify(&x, None, ctx);
            out.push(x);
        }
    }
    out
}

/// Checks `n` and what its `GcCell` edges hold, by reference only: cloning a handle roots it,
/// and rooting while a mark runs shades the object, which would hide a missing barrier.
/// (`AtomicGc` has no such read: its targets are checked through `load`.)
fn verify_in_place(n: &Gc<Node>, expect: Option<u64>, ctx: Ctx) -> usize {
    verify(n, expect, ctx);
    let mut count = 0;
    for e in n.kids.borrow().iter() {
        verify_edge(e, ctx);
        count += 1;
    }
    if let Some(e) = n.slot.borrow().as_ref() {
        verify_edge(e, ctx);
        count += 1;
    }
    count
}

/// Bounded depth-first walk from `start`, verifying every node; returns the nodes seen.
fn walk(start: &Gc<Node>, limit: usize, ctx: Ctx) -> Vec<Gc<Node>> {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![start.clone()];
    let mut out = Vec::new();
    while let Some(n) = stack.pop() {
        if out.len() >= limit {
            break;
        }
        if !seen.insert(Gc::as_ptr(&n) as usize) {
            continue;
        }
        verify(&n, None, ctx);
        stack.extend(neighbours(&n, ctx));
        out.push(n);
    }
    out
}

struct Worker {
    rng: Rng,
    anchors: Arc<Vec<Gc<Node>>>,
    local: Vec<Edge>,
    /// Fresh nodes held only by this thread, oldest first, until moved into the heap.
    pending: std::collections::VecDeque<Edge>,
    /// Recent holders of moved nodes, checked on every step.
    holders: std::collections::VecDeque<Edge>,
    ctx: Ctx,
}

const PENDING: usize = 12;
const HOLDERS: usize = 24;

impl Worker {
    fn anchor(&mut self) -> Gc<Node> {
        self.anchors[self.rng.below(ANCHORS)].clone()
    }

    /// A node: an anchor, a local root, or one reached by a short random walk.
    fn pick(&mut self) -> Gc<Node> {
        let mut n = if !self.local.is_empty() && self.rng.chance(40) {
            let e = self.local[self.rng.below(self.local.len())].clone();
            verify_edge(&e, self.ctx);
            e.1
        } else {
            self.anchor()
        };
        for _ in 0..self.rng.below(5) {
            let next = match self.rng.below(4) {
                0 => {
                    let kids = n.kids.borrow();
                    if kids.is_empty() {
                        None
                    } else {
                        let e = &kids[self.rng.below(kids.len())];
                        verify_edge(e, self.ctx);
                        Some(e.1.clone())
                    }
                }
                1 => n.left.load(),
                2 => n.right.load(),
                _ => n.slot.borrow().as_ref().map(|e| {
                    verify_edge(e, self.ctx);
                    e.1.clone()
                }),
            };
            match next {
                Some(x) => {
                    verify(&x, None, self.ctx);
                    n = x;
                }
                None => break,
            }
        }
        n
    }

    fn keep(&mut self, n: &Gc<Node>) {
        if self.local.len() >= MAX_LOCAL {
            let i = self.rng.below(self.local.len());
            self.local.swap_remove(i);
        }
        self.local.push(edge(n));
    }

    /// Pushes `child` onto `n.kids`, evicting a random kid if full.
    fn push_kid(&mut self, n: &Gc<Node>, child: &Gc<Node>) {
        let evict = self.rng.below(MAX_KIDS);
        let mut kids = n.kids.borrow_mut();
        if kids.len() >= MAX_KIDS {
            let n = kids.len();
            let old = kids.swap_remove(evict % n);
            verify_edge(&old, self.ctx);
        }
        kids.push(edge(child));
    }

    /// Links `from -> to` through a random edge kind.
    fn link(&mut self, from: &Gc<Node>, to: &Gc<Node>) {
        match self.rng.below(5) {
            0 | 1 => self.push_kid(from, to),
            2 => {
                if let Some(old) = from.left.swap(Some(to.clone())) {
                    verify(&old, None, self.ctx);
                }
            }
            3 => {
                let cur = from.right.load();
                match from.right.compare_exchange(cur.as_ref(), Some(to.clone())) {
                    Ok(old) => {
                        assert_eq!(
                            old.as_ref().map(Gc::as_ptr),
                            cur.as_ref().map(Gc::as_ptr),
                            "successful compare_exchange returned another value; {}",
                            self.ctx
                        );
                        if let Some(o) = old {
                            verify(&o, None, self.ctx);
                        }
                    }
                    Err(e) => {
                        // Lost a race with another thread: both values come back intact.
                        if let Some(c) = &e.current {
                            verify(c, None, self.ctx);
                        }
                        let back = e.new.expect("compare_exchange gives `new` back");
                        assert!(
                            Gc::ptr_eq(&back, to),
                            "wrong `new` given back; {}",
                            self.ctx
                        );
                    }
                }
            }
            _ => {
                if let Some(old) = from.slot.replace(Some(edge(to))) {
                    verify_edge(&old, self.ctx);
                }
            }
        }
    }

    /// A cluster of 1..=6 new nodes linked among themselves (cycles included), attached to a
    /// picked node.
    fn op_alloc_cluster(&mut self) {
        let k = 1 + self.rng.below(6);
        let nodes: Vec<Gc<Node>> = (0..k).map(|_| new_node()).collect();
        for _ in 0..k * 2 {
            let (a, b) = (self.rng.below(k), self.rng.below(k));
            let (a, b) = (nodes[a].clone(), nodes[b].clone());
            self.link(&a, &b);
        }
        for n in &nodes {
            verify(n, None, self.ctx);
        }
        let target = self.pick();
        let head = nodes[self.rng.below(k)].clone();
        self.link(&target, &head);
        if self.rng.chance(30) {
            self.keep(&head);
        }
    }

    /// `left.swap` between picked nodes.
    fn op_swap(&mut self) {
        let (x, y) = (self.pick(), self.pick());
        let new = if self.rng.chance(15) { None } else { Some(y) };
        if let Some(old) = x.left.swap(new) {
            verify(&old, None, self.ctx);
            if self.rng.chance(20) {
                self.keep(&old);
            }
        }
    }

    /// `right.compare_exchange`, expected to succeed or (with a stale or wrong `current`) fail.
    fn op_cas(&mut self) {
        let (x, y) = (self.pick(), self.pick());
        let cur = if self.rng.chance(20) {
            Some(self.pick()) // most likely wrong
        } else {
            x.right.load()
        };
        let new = if self.rng.chance(10) { None } else { Some(y) };
        let new_ptr = new.as_ref().map(Gc::as_ptr);
        match x.right.compare_exchange(cur.as_ref(), new) {
            Ok(old) => {
                assert_eq!(
                    old.as_ref().map(Gc::as_ptr),
                    cur.as_ref().map(Gc::as_ptr),
                    "successful compare_exchange returned another value; {}",
                    self.ctx
                );
                if let Some(o) = old {
                    verify(&o, None, self.ctx);
                }
            }
            Err(e) => {
                if let Some(c) = &e.current {
                    verify(c, None, self.ctx);
                }
                assert_eq!(
                    e.new.as_ref().map(Gc::as_ptr),
                    new_ptr,
                    "wrong `new` given back; {}",
                    self.ctx
                );
                if let Some(n) = &e.new {
                    verify(n, None, self.ctx);
                }
            }
        }
    }

    fn op_unlink(&mut self) {
        let x = self.pick();
        match self.rng.below(4) {
            0 => {
                let i = self.rng.next() as usize;
                let removed = {
                    let mut kids = x.kids.borrow_mut();
                    if kids.is_empty() {
                        None
                    } else {
                        let n = kids.len();
                        Some(kids.swap_remove(i % n))
                    }
                };
                if let Some(e) = removed {
                    verify_edge(&e, self.ctx);
                }
            }
            1 => x.left.store(None),
            2 => {
                if let Some(old) = x.right.swap(None) {
                    verify(&old, None, self.ctx);
                }
            }
            _ => x.slot.set(None),
        }
    }

    /// Takes a subgraph out of one node, holds it only through a local handle while garbage is
    /// allocated (so a cycle may run), then attaches it elsewhere.
    fn op_move(&mut self) {
        let (x, y) = (self.pick(), self.pick());
        match self.rng.below(4) {
            0 => {
                let taken = x.kids.borrow_mut().pop();
                if let Some(e) = taken {
                    garbage(&mut self.rng, 300);
                    verify_edge(&e, self.ctx);
                    walk(&e.1, 16, self.ctx);
                    self.push_kid(&y, &e.1);
                }
            }
            1 => {
                let v = x.left.swap(None);
                garbage(&mut self.rng, 300);
                if let Some(n) = &v {
                    verify(n, None, self.ctx);
                    walk(n, 16, self.ctx);
                }
                if let Some(old) = y.right.swap(v) {
                    verify(&old, None, self.ctx);
                }
            }
            2 => {
                let v = x.slot.replace(None);
                garbage(&mut self.rng, 300);
                if let Some(e) = &v {
                    verify_edge(e, self.ctx);
                    walk(&e.1, 16, self.ctx);
                }
                y.slot.set(v);
            }
            _ => {
                // A whole kids vector, through `replace`.
                let v = x.kids.replace(Vec::new());
                garbage(&mut self.rng, 300);
                for e in &v {
                    verify_edge(e, self.ctx);
                }
                let mut kids = y.kids.borrow_mut();
                for e in v {
                    if kids.len() < MAX_KIDS {
                        kids.push(e);
                    }
                }
            }
        }
    }

    /// Allocates while holding a cell guard (legal user code: the guard is not waited for).
    fn op_alloc_under_guard(&mut self) {
        let x = self.pick();
        if self.rng.chance(50) {
            let mut kids = x.kids.borrow_mut();
            let n = new_node();
            n.slot.set(Some(edge(&x)));
            if kids.len() >= MAX_KIDS {
                kids.pop();
            }
            kids.push(edge(&n));
            garbage(&mut self.rng, 100);
        } else {
            let kids = x.kids.borrow();
            let n = new_node();
            for e in kids.iter() {
                verify_edge(e, self.ctx);
                n.left.store(Some(e.1.clone()));
            }
            garbage(&mut self.rng, 100);
            drop(kids);
            x.left.store(Some(n));
        }
    }

    fn op_walk(&mut self) {
        let start = if !self.local.is_empty() && self.rng.chance(30) {
            let e = self.local[self.rng.below(self.local.len())].clone();
            verify_edge(&e, self.ctx);
            e.1
        } else {
            self.anchor()
        };
        let seen = walk(&start, 64, self.ctx);
        if !seen.is_empty() && self.rng.chance(30) {
            let n = seen[self.rng.below(seen.len())].clone();
            self.keep(&n);
        }
    }

    /// Moves a handle held since earlier (often since before the current cycle began) into
    /// the heap without cloning it: no rooting shades it, only the write barrier can.
    fn op_publish_local(&mut self) {
        if self.local.is_empty() {
            return;
        }
        let i = self.rng.below(self.local.len());
        let e = self.local.swap_remove(i);
        verify_edge(&e, self.ctx);
        let x = self.pick();
        match self.rng.below(5) {
            0 => {
                let evict = self.rng.below(MAX_KIDS);
                let mut kids = x.kids.borrow_mut();
                if kids.len() >= MAX_KIDS {
                    let n = kids.len();
                    kids.swap_remove(evict % n);
                }
                kids.push(e);
            }
            1 => {
                if let Some(old) = x.left.swap(Some(e.1)) {
                    verify(&old, None, self.ctx);
                }
            }
            2 => {
                if let Some(old) = x.slot.replace(Some(e)) {
                    verify_edge(&old, self.ctx);
                }
            }
            3 => {
                // Into a new (allocated-black) node, then published.
                let n = if self.rng.chance(50) {
                    new_node_with(vec![e], None, None)
                } else {
                    new_node_with(Vec::new(), Some(e.1), None)
                };
                self.link(&x, &n);
            }
            _ => {
                let cur = x.right.load();
                match x.right.compare_exchange(cur.as_ref(), Some(e.1)) {
                    Ok(old) => {
                        if let Some(o) = old {
                            verify(&o, None, self.ctx);
                        }
                    }
                    Err(err) => {
                        // Lost a race: keep the handle as a root instead.
                        let back = err.new.expect("compare_exchange gives `new` back");
                        verify(&back, Some(e.0), self.ctx);
                        self.keep(&back);
                    }
                }
            }
        }
    }

    fn op_drop_roots(&mut self) {
        if self.rng.chance(50) {
            self.local.clear();
        } else {
            let keep = self.rng.below(self.local.len() + 1);
            self.local.truncate(keep);
        }
    }

    /// Detaches most of an anchor's subgraph.
    fn op_prune(&mut self) {
        let a = self.anchor();
        a.kids.set(Vec::new());
        a.left.store(None);
        a.right.store(None);
        a.slot.set(None);
    }

    /// Tracked garbage: an unreachable cycle of nodes.
    fn op_garbage_cycle(&mut self) {
        let k = 2 + self.rng.below(5);
        let nodes: Vec<Gc<Node>> = (0..k).map(|_| new_node()).collect();
        for i in 0..k {
            let next = &nodes[(i + 1) % k];
            if i % 2 == 0 {
                nodes[i].kids.borrow_mut().push(edge(next));
            } else {
                nodes[i].right.store(Some(next.clone()));
            }
        }
    }

    /// A fresh node (with a small private cycle behind it), held only by this thread for a
    /// while (usually across a cycle boundary), then *moved* (not cloned) into a new node,
    /// allocated black if a mark is running: only the barrier of the move can shade it.
    fn op_hold_and_move(&mut self) {
        let n = new_node();
        let m = new_node();
        m.slot.set(Some(edge(&n)));
        n.left.store(Some(m));
        self.pending.push_back(edge(&n));
        drop(n);
        garbage(&mut self.rng, 100);
        if self.pending.len() < PENDING {
            return;
        }
        let e = self.pending.pop_front().unwrap();
        verify_edge(&e, self.ctx);
        let holder = match self.rng.below(3) {
            0 => new_node_with(vec![e], None, None),
            1 => new_node_with(Vec::new(), Some(e.1), None),
            _ => new_node_with(Vec::new(), None, Some(e)),
        };
        if self.rng.chance(50) {
            let target = self.pick();
            self.link(&target, &holder);
        }
        if self.holders.len() >= HOLDERS {
            self.holders.pop_front();
        }
        self.holders.push_back(edge(&holder));
    }

    /// Checks the holders and what they hold, without rooting what the cells hold.
    fn check_holders(&self) {
        let ctx = Ctx {
            what: "check_holders",
            ..self.ctx
        };
        for h in &self.holders {
            verify_in_place(&h.1, Some(h.0), ctx);
        }
    }

    fn step(&mut self, op: usize) {
        self.ctx.op = op;
        if op & 3 == 0 {
            self.check_holders();
        }
        let live = ALLOCATED.load(Ordering::Relaxed) - DROPPED.load(Ordering::Relaxed);
        MAX_LIVE.fetch_max(live, Ordering::Relaxed);
        if live > LIVE_SOFT_LIMIT && self.rng.chance(10) {
            self.ctx.what = "prune";
            self.op_prune();
            return;
        }
        let (_, name, op) = OPS_TABLE[self.rng.weighted(OPS_TABLE)];
        self.ctx.what = name;
        op(self);
    }
}

type Op = fn(&mut Worker);

/// (weight, name, operation).
const OPS_TABLE: &[(usize, &str, Op)] = &[
    (13, "walk", Worker::op_walk),
    (6, "publish_local", Worker::op_publish_local),
    (10, "alloc_cluster", Worker::op_alloc_cluster),
    (8, "swap", Worker::op_swap),
    (8, "cas", Worker::op_cas),
    (8, "unlink", Worker::op_unlink),
    (8, "move", Worker::op_move),
    (4, "alloc_under_guard", Worker::op_alloc_under_guard),
    (3, "drop_roots", Worker::op_drop_roots),
    (1, "prune", Worker::op_prune),
    (4, "garbage_cycle", Worker::op_garbage_cycle),
    (20, "hold_and_move", Worker::op_hold_and_move),
    (7, "garbage", |w| garbage(&mut w.rng, 500)),
];

/// Untracked garbage, so automatic cycles keep coming.
fn garbage(rng: &mut Rng, n: usize) {
    for i in 0..n {
        if i % 16 == 0 {
            std::hint::black_box(Gc::new([rng.next(); 16]));
        } else {
            std::hint::black_box(Gc::new([i as u64; 6]));
        }
    }
}

fn base_seed() -> u64 {
    match std::env::var("CM_SEED") {
        Ok(s) => s.trim().parse().expect("CM_SEED is a u64"),
        Err(_) => 0xC0FF_EE00_2024,
    }
}

/// Runs the workload; returns a one-line summary.
fn run_workload(ops: usize, target_cycles: u64, min_cycles: u64) -> String {
    let seed = base_seed();
    let t0 = Instant::now();
    let before = gc_core::mem_stats();
    let anchors: Arc<Vec<Gc<Node>>> = Arc::new((0..ANCHORS).map(|_| new_node()).collect());
    let ballast_root = ballast(BALLAST);
    let ballast_sum = ballast_root.sum;
    let anchor_ids: Vec<u64> = anchors.iter().map(|a| a.id).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let cycles_done = Arc::new(AtomicU64::new(0));
    let done_ops = Arc::new(AtomicU64::new(0));
    let collector = {
        let stop = stop.clone();
        let cycles_done = cycles_done.clone();
        let before = before.num_gc;
        std::thread::spawn(move || {
            let mut rng = Rng::new(seed ^ 0xC011);
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                gc_core::collect();
                n += 1;
                // `mem_stats` also stops allocation briefly: more interleavings.
                let done = gc_core::mem_stats().num_gc - before;
                cycles_done.store(u64::from(done), Ordering::SeqCst);
                // Leave gaps, sometimes long ones, so that automatic cycles (marked by the
                // background workers, concurrently with the mutators) run too.
                let gap = if rng.chance(20) {
                    20_000
                } else {
                    rng.below(2000) as u64
                };
                std::thread::sleep(Duration::from_micros(gap));
            }
            n
        })
    };

    let barrier = Arc::new(Barrier::new(THREADS));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let anchors = anchors.clone();
            let barrier = barrier.clone();
            let cycles_done = cycles_done.clone();
            let done_ops = done_ops.clone();
            std::thread::spawn(move || {
                let tseed = seed.wrapping_add(t as u64);
                let mut w = Worker {
                    rng: Rng::new(tseed),
                    anchors,
                    local: Vec::new(),
                    pending: Default::default(),
                    holders: Default::default(),
                    ctx: Ctx {
                        seed,
                        thread: t,
                        op: 0,
                        what: "start",
                    },
                };
                barrier.wait();
                let mut op = 0;
                while op < ops
                    || (cycles_done.load(Ordering::SeqCst) < target_cycles
                        && t0.elapsed() < MAX_RUN)
                {
                    w.step(op);
                    op += 1;
                }
                done_ops.fetch_add(op as u64, Ordering::SeqCst);
                // A final full check of what this thread still holds.
                w.ctx.what = "final";
                w.check_holders();
                let pending = std::mem::take(&mut w.pending);
                for e in std::mem::take(&mut w.local).into_iter().chain(pending) {
                    verify_edge(&e, w.ctx);
                }
            })
        })
        .collect();
    let mut failures = Vec::new();
    for (t, h) in workers.into_iter().enumerate() {
        if let Err(e) = h.join() {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("worker {t}: {msg}"));
        }
    }
    let during = gc_core::mem_stats();
    stop.store(true, Ordering::SeqCst);
    let forced_by_thread = collector.join().expect("collector thread");
    assert!(
        failures.is_empty(),
        "workers failed:\n{}",
        failures.join("\n")
    );
    let elapsed = t0.elapsed();

    let cycles = u64::from(during.num_gc - before.num_gc);
    let forced = u64::from(during.num_forced_gc - before.num_forced_gc);
    assert!(
        cycles > forced,
        "no automatic cycle ran during the workload ({cycles} cycles, all forced; seed {seed})"
    );
    assert!(
        cycles >= min_cycles,
        "only {cycles} cycles ran during the workload in {elapsed:.2?} (seed {seed})"
    );

    // Everything the workers did is joined: a full check of the shared graph, and the live
    // tracked nodes after a collection are exactly the reachable ones.
    let ctx = Ctx {
        seed,
        thread: usize::MAX,
        op: 0,
        what: "final walk",
    };
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<Gc<Node>> = anchors.iter().cloned().collect();
    while let Some(n) = stack.pop() {
        if seen.insert(Gc::as_ptr(&n) as usize) {
            verify(&n, None, ctx);
            stack.extend(neighbours(&n, ctx));
        }
    }
    let reachable = seen.len() as u64;
    gc_core::collect();
    let live = ALLOCATED.load(Ordering::SeqCst) - DROPPED.load(Ordering::SeqCst);
    assert_eq!(
        live, reachable,
        "after joining and collect(): {live} live tracked nodes, {reachable} reachable (seed {seed})"
    );
    for (a, id) in anchors.iter().zip(&anchor_ids) {
        verify(a, Some(*id), ctx);
    }

    assert_eq!(check_ballast(&ballast_root), ballast_sum);
    drop(ballast_root);
    drop(anchors);
    gc_core::collect();
    gc_core::collect();
    let allocated = ALLOCATED.load(Ordering::SeqCst);
    let dropped = DROPPED.load(Ordering::SeqCst);
    assert_eq!(
        BAD_DROPS.load(Ordering::SeqCst),
        0,
        "a node was dropped twice or its tracker was clobbered (seed {seed})"
    );
    assert_eq!(
        dropped, allocated,
        "every tracked node dropped exactly once (seed {seed})"
    );
    format!(
        "seed {seed}: {THREADS} threads, {} ops in {:.2?}: {allocated} nodes allocated and dropped, \
         {cycles} cycles during the run ({forced} forced, {} by the collector thread), \
         at most {} live, {reachable} reachable at the end",
        done_ops.load(Ordering::SeqCst),
        elapsed,
        forced_by_thread,
        MAX_LIVE.load(Ordering::Relaxed)
    )
}

/// Handles held by threads across cycle boundaries, then moved (not cloned) into new nodes,
/// which are allocated black while a mark runs: nothing but the barrier of the move shades
/// the moved node. Each thread allocates a node, keeps it for `HOLD` rounds of garbage, moves
/// it into a new holder (through a `GcCell` `Vec`, an `AtomicGc` or a `GcCell` `Option`), and
/// checks its recent holders and what they hold on every round. Only automatic cycles run,
/// marked by the background workers; in a fresh process (the first cycles are the ones
/// that catch a missing barrier fastest).
/// Words in a `Node`: an array of as many is in the same size class.
const NODE_WORDS: usize = std::mem::size_of::<Node>() / 8;

fn moved_handles_workload(threads: u64, run: Duration) -> String {
    const HOLD: usize = 16;
    const RING: usize = 64;
    let t0 = Instant::now();
    let before = gc_core::mem_stats();
    let seed = base_seed();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            std::thread::spawn(move || {
                let mut rng = Rng::new(seed ^ (t << 32) ^ 0x4D0E);
                let mut ctx = Ctx {
                    seed,
                    thread: t as usize,
                    op: 0,
                    what: "moved_handles",
                };
                let mut held: std::collections::VecDeque<Edge> = Default::default();
                let mut ring: std::collections::VecDeque<Edge> = Default::default();
                while t0.elapsed() < run {
                    ctx.op += 1;
                    held.push_back(edge(&new_node()));
                    // Garbage of the nodes' size class: the held nodes share spans with it,
                    // so their spans hold many slots for the mark to get through.
                    for _ in 0..200 {
                        std::hint::black_box(Gc::new([rng.next(); NODE_WORDS]));
                    }
                    if held.len() > HOLD {
                        let e = held.pop_front().unwrap();
                        verify_edge(&e, ctx);
                        let holder = match ctx.op % 3 {
                            0 => new_node_with(vec![e], None, None),
                            1 => new_node_with(Vec::new(), Some(e.1), None),
                            _ => new_node_with(Vec::new(), None, Some(e)),
                        };
                        if ring.len() >= RING {
                            ring.pop_front();
                        }
                        ring.push_back(edge(&holder));
                    }
                    for h in &ring {
                        // By reference: a clone would shade the held node (see
                        // `verify_in_place`), except for the `AtomicGc` holders.
                        let mut held_nodes = verify_in_place(&h.1, Some(h.0), ctx);
                        if ctx.op & 7 == 0 {
                            if let Some(x) = h.1.left.load() {
                                verify(&x, None, ctx);
                                held_nodes += 1;
                            }
                        } else if !h.1.left.is_none() {
                            held_nodes += 1;
                        }
                        assert_eq!(held_nodes, 1, "holder lost its node; {ctx}");
                    }
                }
                ctx.op
            })
        })
        .collect();
    let rounds: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
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

fn child_role() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// Runs this test binary's `test` in a child process with `role` and `godebug`; returns the
/// child's summary line.
fn run_child(test: &str, role: &str, godebug: Option<&str>) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, role)
        .env_remove("GODEBUG");
    if let Some(g) = godebug {
        cmd.env("GODEBUG", g);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("CM_OK"),
        "child `{role}` (GODEBUG={godebug:?}) failed ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    let line = stdout.split("CM_OK").nth(1).and_then(|s| s.lines().next());
    line.unwrap_or_default().trim().to_string()
}

#[test]
fn threads_mutate_a_shared_graph_during_back_to_back_cycles() {
    if child_role().is_some() {
        return;
    }
    let summary = run_workload(OPS, TARGET_CYCLES, MIN_CYCLES);
    eprintln!("{summary}");
}

#[test]
fn child_workload() {
    match child_role().as_deref() {
        Some("workload") => {
            let summary = run_workload(OPS / 2, TARGET_CYCLES / 2, MIN_CYCLES / 2);
            println!("CM_OK {summary}");
        }
        Some("moved") => {
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
    if child_role().is_some() {
        return;
    }
    let summary = run_child("child_workload", "workload", Some("clobberfree=1"));
    eprintln!("clobberfree child: {summary}");
}

/// Handles moved into the heap during concurrent marks, in a fresh process.
#[test]
fn moved_handles_child_process() {
    if child_role().is_some() {
        return;
    }
    let summary = run_child("child_workload", "moved", None);
    eprintln!("moved-handles child: {summary}");
}
