//! The racy operation mix of the random-graph engine (`Mode::Racy`, used by
//! `tests/concurrent_mutation.rs`): threads mutate the shared graph with no lock and no
//! model, racing each other on the same nodes and edges. What an edge should hold is known
//! only from the `Edge`s themselves (each `GcCell` edge records the id it expects), so every
//! node reached is checked by id, payload and tracker; `AtomicGc` swaps and
//! compare-exchanges are checked for what they give back. The harness is in `racy_run.rs`.
//!
//! Checks of moved nodes read through cell guards by reference: cloning a handle roots it,
//! and rooting during a mark shades the object, which would hide a missing write barrier.

use super::common::Rng;
use super::garbage::array_garbage;
use super::node::{check_edge, check_node, new_node_edges, Edge, Node};
use super::walk::{verify_in_place, walk};
use super::watchdog::Beat;
use super::Params;
use gc_core::Gc;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};

/// Cap on a node's `kids` vector.
const MAX_KIDS: usize = 8;
/// Cap on a worker's local roots.
const MAX_LOCAL: usize = 32;
const PENDING: usize = 12;
const HOLDERS: usize = 24;

/// What the racy threads share.
pub(super) struct Racy<'p> {
    pub(super) p: &'p Params,
    pub(super) anchors: Vec<Gc<Node>>,
    pub(super) next_id: AtomicU64,
    pub(super) beat: Beat,
}

impl Racy<'_> {
    pub(super) fn new_node(&self) -> Gc<Node> {
        self.new_node_with(Vec::new(), None, None)
    }

    /// A node whose fields start with handles moved in (`Gc::new` turns them into edges).
    pub(super) fn new_node_with(
        &self,
        kids: Vec<Edge>,
        left: Option<Gc<Node>>,
        slot: Option<Edge>,
    ) -> Gc<Node> {
        new_node_edges(
            self.next_id.fetch_add(1, Ordering::Relaxed),
            kids,
            slot,
            left,
        )
    }
}

pub(super) struct Worker<'s, 'p> {
    pub(super) sh: &'s Racy<'p>,
    pub(super) t: usize,
    pub(super) rng: Rng,
    pub(super) local: Vec<Edge>,
    /// Fresh nodes held only by this thread, oldest first, until moved into the heap.
    pub(super) pending: VecDeque<Edge>,
    /// Recent holders of moved nodes, checked on every few steps.
    pub(super) holders: VecDeque<Edge>,
    pub(super) op: u64,
    pub(super) what: &'static str,
    /// The operation table, with `Params::weights` applied.
    pub(super) mix: Vec<(usize, &'static str, Op)>,
}

type Op = for<'s, 'p> fn(&mut Worker<'s, 'p>);

/// (weight, name, operation).
pub(super) const OPS: &[(usize, &str, Op)] = &[
    (13, "walk", |w| w.op_walk()),
    (6, "publish_local", |w| w.op_publish_local()),
    (10, "alloc_cluster", |w| w.op_alloc_cluster()),
    (8, "swap", |w| w.op_swap()),
    (8, "cas", |w| w.op_cas()),
    (8, "unlink", |w| w.op_unlink()),
    (8, "move", |w| w.op_move()),
    (4, "alloc_under_guard", |w| w.op_alloc_under_guard()),
    (3, "drop_roots", |w| w.op_drop_roots()),
    (1, "prune", |w| w.op_prune()),
    (4, "garbage_cycle", |w| w.op_garbage_cycle()),
    (20, "hold_and_move", |w| w.op_hold_and_move()),
    (7, "garbage", |w| array_garbage(&mut w.rng, 500)),
];

/// The index of "prune" in `OPS`.
const OP_PRUNE: usize = 9;

pub(super) fn op_name(i: usize) -> &'static str {
    OPS.get(i).map_or("?", |o| o.1)
}

impl Worker<'_, '_> {
    #[track_caller]
    pub(super) fn fail(&self, msg: &str) -> ! {
        panic!(
            "{msg}; seed {} thread {} op {} ({}); reproduce with the seed",
            self.sh.p.seed, self.t, self.op, self.what
        )
    }

    #[track_caller]
    pub(super) fn ok<T>(&self, r: Result<T, String>) -> T {
        r.unwrap_or_else(|e| self.fail(&e))
    }

    #[track_caller]
    fn verify(&self, n: &Gc<Node>) {
        self.ok(check_node(n, None));
    }

    #[track_caller]
    fn verify_edge(&self, e: &Edge) {
        self.ok(check_edge(e));
    }

    fn anchor(&mut self) -> Gc<Node> {
        self.sh.anchors[self.rng.below(self.sh.anchors.len())].clone()
    }

    /// A node: an anchor, a local root, or one reached by a short random walk.
    fn pick(&mut self) -> Gc<Node> {
        let mut n = if !self.local.is_empty() && self.rng.chance(40) {
            let e = self.local[self.rng.below(self.local.len())].clone();
            self.verify_edge(&e);
            e.to
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
                        self.verify_edge(e);
                        Some(e.to.clone())
                    }
                }
                1 => n.left.load(),
                2 => n.right.load(),
                _ => n.slot.borrow().as_ref().map(|e| {
                    self.verify_edge(e);
                    e.to.clone()
                }),
            };
            match next {
                Some(x) => {
                    self.verify(&x);
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
        self.local.push(Edge::new(n.clone()));
    }

    /// Pushes `child` onto `n.kids`, evicting a random kid if full.
    fn push_kid(&mut self, n: &Gc<Node>, child: &Gc<Node>) {
        let evict = self.rng.below(MAX_KIDS);
        let mut kids = n.kids.borrow_mut();
        if kids.len() >= MAX_KIDS {
            let n = kids.len();
            let old = kids.swap_remove(evict % n);
            self.verify_edge(&old);
        }
        kids.push(Edge::new(child.clone()));
    }

    /// Links `from -> to` through a random edge kind.
    fn link(&mut self, from: &Gc<Node>, to: &Gc<Node>) {
        match self.rng.below(5) {
            0 | 1 => self.push_kid(from, to),
            2 => {
                if let Some(old) = from.left.swap(Some(to.clone())) {
                    self.verify(&old);
                }
            }
            3 => {
                let cur = from.right.load();
                match from.right.compare_exchange(cur.as_ref(), Some(to.clone())) {
                    Ok(old) => {
                        if old.as_ref().map(Gc::as_ptr) != cur.as_ref().map(Gc::as_ptr) {
                            self.fail("successful compare_exchange returned another value");
                        }
                        if let Some(o) = old {
                            self.verify(&o);
                        }
                    }
                    Err(e) => {
                        // Lost a race with another thread: both values come back intact.
                        if let Some(c) = &e.current {
                            self.verify(c);
                        }
                        let back = e.new.expect("compare_exchange gives `new` back");
                        if !Gc::ptr_eq(&back, to) {
                            self.fail("wrong `new` given back");
                        }
                    }
                }
            }
            _ => {
                if let Some(old) = from.slot.replace(Some(Edge::new(to.clone()))) {
                    self.verify_edge(&old);
                }
            }
        }
    }

    /// A cluster of 1..=6 new nodes linked among themselves (cycles included), attached to a
    /// picked node.
    fn op_alloc_cluster(&mut self) {
        let k = 1 + self.rng.below(6);
        let nodes: Vec<Gc<Node>> = (0..k).map(|_| self.sh.new_node()).collect();
        for _ in 0..k * 2 {
            let (a, b) = (self.rng.below(k), self.rng.below(k));
            let (a, b) = (nodes[a].clone(), nodes[b].clone());
            self.link(&a, &b);
        }
        for n in &nodes {
            self.verify(n);
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
            self.verify(&old);
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
                if old.as_ref().map(Gc::as_ptr) != cur.as_ref().map(Gc::as_ptr) {
                    self.fail("successful compare_exchange returned another value");
                }
                if let Some(o) = old {
                    self.verify(&o);
                }
            }
            Err(e) => {
                if let Some(c) = &e.current {
                    self.verify(c);
                }
                if e.new.as_ref().map(Gc::as_ptr) != new_ptr {
                    self.fail("wrong `new` given back");
                }
                if let Some(n) = &e.new {
                    self.verify(n);
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
                    self.verify_edge(&e);
                }
            }
            1 => x.left.store(None),
            2 => {
                if let Some(old) = x.right.swap(None) {
                    self.verify(&old);
                }
            }
            _ => x.slot.set(None),
        }
    }

    /// A bounded walk from `n`, every node checked.
    fn walk_from(&self, n: &Gc<Node>, limit: usize) -> Vec<Gc<Node>> {
        self.ok(walk(n, limit))
    }

    /// Takes a subgraph out of one node, holds it only through a local handle while garbage
    /// is allocated (so a cycle may run), then attaches it elsewhere.
    fn op_move(&mut self) {
        let (x, y) = (self.pick(), self.pick());
        match self.rng.below(4) {
            0 => {
                let taken = x.kids.borrow_mut().pop();
                if let Some(e) = taken {
                    array_garbage(&mut self.rng, 300);
                    self.verify_edge(&e);
                    self.walk_from(&e, 16);
                    self.push_kid(&y, &e);
                }
            }
            1 => {
                let v = x.left.swap(None);
                array_garbage(&mut self.rng, 300);
                if let Some(n) = &v {
                    self.verify(n);
                    self.walk_from(n, 16);
                }
                if let Some(old) = y.right.swap(v) {
                    self.verify(&old);
                }
            }
            2 => {
                let v = x.slot.replace(None);
                array_garbage(&mut self.rng, 300);
                if let Some(e) = &v {
                    self.verify_edge(e);
                    self.walk_from(e, 16);
                }
                y.slot.set(v);
            }
            _ => {
                // A whole kids vector, through `replace`.
                let v = x.kids.replace(Vec::new());
                array_garbage(&mut self.rng, 300);
                for e in &v {
                    self.verify_edge(e);
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
            let n = self.sh.new_node();
            n.slot.set(Some(Edge::new(x.clone())));
            if kids.len() >= MAX_KIDS {
                kids.pop();
            }
            kids.push(Edge::new(n));
            array_garbage(&mut self.rng, 100);
        } else {
            let kids = x.kids.borrow();
            let n = self.sh.new_node();
            for e in kids.iter() {
                self.verify_edge(e);
                n.left.store(Some(e.to.clone()));
            }
            array_garbage(&mut self.rng, 100);
            drop(kids);
            x.left.store(Some(n));
        }
    }

    fn op_walk(&mut self) {
        let start = if !self.local.is_empty() && self.rng.chance(30) {
            let e = self.local[self.rng.below(self.local.len())].clone();
            self.verify_edge(&e);
            e.to
        } else {
            self.anchor()
        };
        let seen = self.walk_from(&start, 64);
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
        self.verify_edge(&e);
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
                if let Some(old) = x.left.swap(Some(e.to)) {
                    self.verify(&old);
                }
            }
            2 => {
                if let Some(old) = x.slot.replace(Some(e)) {
                    self.verify_edge(&old);
                }
            }
            3 => {
                // Into a new (allocated-black) node, then published.
                let n = if self.rng.chance(50) {
                    self.sh.new_node_with(vec![e], None, None)
                } else {
                    self.sh.new_node_with(Vec::new(), Some(e.to), None)
                };
                self.link(&x, &n);
            }
            _ => {
                let cur = x.right.load();
                let expect = e.expect;
                match x.right.compare_exchange(cur.as_ref(), Some(e.to)) {
                    Ok(old) => {
                        if let Some(o) = old {
                            self.verify(&o);
                        }
                    }
                    Err(err) => {
                        // Lost a race: keep the handle as a root instead.
                        let back = err.new.expect("compare_exchange gives `new` back");
                        self.ok(check_node(&back, Some(expect)));
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
        let nodes: Vec<Gc<Node>> = (0..k).map(|_| self.sh.new_node()).collect();
        for i in 0..k {
            let next = &nodes[(i + 1) % k];
            if i % 2 == 0 {
                nodes[i].kids.borrow_mut().push(Edge::new(next.clone()));
            } else {
                nodes[i].right.store(Some(next.clone()));
            }
        }
    }

    /// A fresh node (with a small private cycle behind it), held only by this thread for a
    /// while (usually across a cycle boundary), then *moved* (not cloned) into a new node,
    /// allocated black if a mark is running: only the barrier of the move can shade it.
    fn op_hold_and_move(&mut self) {
        let n = self.sh.new_node();
        let m = self.sh.new_node();
        m.slot.set(Some(Edge::new(n.clone())));
        n.left.store(Some(m));
        self.pending.push_back(Edge::new(n));
        array_garbage(&mut self.rng, 100);
        if self.pending.len() < PENDING {
            return;
        }
        let e = self.pending.pop_front().unwrap();
        self.verify_edge(&e);
        let holder = match self.rng.below(3) {
            0 => self.sh.new_node_with(vec![e], None, None),
            1 => self.sh.new_node_with(Vec::new(), Some(e.to), None),
            _ => self.sh.new_node_with(Vec::new(), None, Some(e)),
        };
        if self.rng.chance(50) {
            let target = self.pick();
            self.link(&target, &holder);
        }
        if self.holders.len() >= HOLDERS {
            self.holders.pop_front();
        }
        self.holders.push_back(Edge::new(holder));
    }

    /// Checks the holders and what they hold, without rooting what the cells hold.
    pub(super) fn check_holders(&mut self) {
        self.what = "check_holders";
        for h in &self.holders {
            self.ok(verify_in_place(&h.to, Some(h.expect)));
        }
    }

    /// One operation; `live` is the current count of live tracked nodes.
    pub(super) fn step(&mut self, live: u64) {
        if self.op & 3 == 0 {
            self.check_holders();
        }
        let i = if live > self.sh.p.live_soft_limit && self.rng.chance(10) {
            OP_PRUNE
        } else {
            self.rng.weighted(&self.mix)
        };
        self.sh.beat.progress[self.t]
            .what
            .store(i, Ordering::Relaxed);
        self.what = OPS[i].1;
        let op = self.mix[i].2;
        op(self);
        self.op += 1;
        self.sh.beat.progress[self.t]
            .op
            .store(self.op, Ordering::Relaxed);
        self.sh.beat.pulse.fetch_add(1, Ordering::Relaxed);
    }
}
