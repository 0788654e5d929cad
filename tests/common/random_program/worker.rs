//! A mutator thread of the workload in `mod.rs`: its state (`Worker`), the weighted
//! operation table, one step and the run loop, picking nodes to work on, its local roots,
//! and the checks applied to every node it reaches (payload, tracker, ids against the model).

use super::checkpoint::Broken;
use super::common::Rng;
use super::garbage::garbage;
use super::model::Model;
use super::node::{check_edge, check_node, Edge, Node};
use super::watchdog::WHAT_DONE;
use super::{Shared, SLOTS};
use gc_core::{Gc, Weak};
use std::collections::VecDeque;
use std::sync::atomic::Ordering;

const MAX_LOCAL: usize = 24;
const PENDING: usize = 8;

pub(super) struct Worker<'s, 'p> {
    pub(super) t: usize,
    pub(super) sh: &'s Shared<'p>,
    pub(super) rng: Rng,
    /// Local root handles; `Model::local[t]` holds their ids in the same order.
    pub(super) roots: Vec<Gc<Node>>,
    /// Recent receivers of moved subgraphs: temporary handles, dropped at checkpoints.
    pub(super) holders: VecDeque<Gc<Node>>,
    /// Modelled nodes taken out of the graph or never published, held only by these
    /// handles across operations (and so across cycle boundaries), then moved into the heap
    /// by `flush_pending`; all of them before each checkpoint.
    pub(super) pending: VecDeque<Gc<Node>>,
    /// Weak references this thread made (`weak_ops.rs`) and the id of each one's node (0:
    /// `Weak::new`), oldest first; they are no roots and not in the model.
    pub(super) weaks: VecDeque<(Weak<Node>, u64)>,
    pub(super) op: u64,
    pub(super) what: &'static str,
    /// The operation table, with `Params::weights` applied.
    pub(super) mix: Vec<(usize, &'static str, Op)>,
}

type Op = for<'s, 'p> fn(&mut Worker<'s, 'p>);

/// (weight, name, operation).
pub(super) const OPS: &[(usize, &str, Op)] = &[
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
    (3, "downgrade", |w| w.op_downgrade()),
    (3, "upgrade", |w| w.op_upgrade()),
    (2, "eph_insert", |w| w.op_eph_insert()),
    (1, "eph_remove", |w| w.op_eph_remove()),
    (2, "eph_get", |w| w.op_eph_get()),
];

pub(super) const OP_PRUNE: usize = OPS.len();

/// The name of an operation number (the watchdog's report).
pub(super) fn op_name(i: usize) -> &'static str {
    match i {
        OP_PRUNE => "prune",
        i => OPS.get(i).map_or("?", |o| o.1),
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
            self.sh.beat.checkpoints.load(Ordering::SeqCst)
        )
    }

    #[track_caller]
    pub(super) fn fail(&self, msg: &str) -> ! {
        panic!("{msg}; {}", self.ctx())
    }

    /// Checks a node reached through a live handle or edge (see `check_node`).
    #[track_caller]
    pub(super) fn verify(&self, n: &Gc<Node>, expect: Option<u64>) {
        if let Err(e) = check_node(n, expect) {
            self.fail(&e);
        }
    }

    /// Checks what a `GcCell` edge holds, against the id it expects.
    #[track_caller]
    pub(super) fn verify_edge(&self, e: &Edge) {
        if let Err(e) = check_edge(e) {
            self.fail(&e);
        }
    }

    /// Untracked garbage of the run's kind.
    pub(super) fn garbage(&mut self, n: usize) {
        garbage(self.sh.p.garbage, &mut self.rng, n);
    }

    /// Checks `n` and the targets of its `GcCell` edges by reference, without cloning: a
    /// clone roots the target, and rooting during a mark shades it, which could hide a
    /// missing barrier.
    pub(super) fn verify_in_place(&self, n: &Gc<Node>) {
        self.verify(n, None);
        for k in n.kids.borrow().iter() {
            self.verify_edge(k);
        }
        if let Some(s) = n.slot.borrow().as_ref() {
            self.verify_edge(s);
        }
    }

    pub(super) fn expect_id(&self, got: Option<u64>, want: Option<u64>, what: &str) {
        if got != want {
            self.fail(&format!("{what}: graph has {got:?}, model has {want:?}"));
        }
    }

    /// A handle to start from: a local root, an anchor node, a slot or the shelf.
    pub(super) fn start(&mut self) -> Gc<Node> {
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
                    self.verify_edge(n);
                    Some(n.to.clone())
                }
            }
            _ => None,
        };
        let n = n.unwrap_or_else(|| sh.anchors[self.rng.below(sh.anchors.len())].clone());
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
                    self.verify_edge(k);
                    Some(k.to.clone())
                }
            }
            1 => n.slot.borrow().as_ref().map(|s| {
                self.verify_edge(s);
                s.to.clone()
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
    pub(super) fn pick(&mut self) -> Gc<Node> {
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
    pub(super) fn add_root(&mut self, m: &mut Model, n: Gc<Node>) {
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
    pub(super) fn check_kids(&self, kids: &[Edge], want: &[u64], of: u64) {
        if kids.len() != want.len() || kids.iter().zip(want).any(|(k, &w)| k.id != w) {
            let got: Vec<u64> = kids.iter().map(|k| k.id).collect();
            self.fail(&format!(
                "kids of node {of}: graph has {got:?}, model has {want:?}"
            ));
        }
        for (k, &w) in kids.iter().zip(want) {
            self.verify(k, Some(w));
            self.verify_edge(k);
        }
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
        // A digest run decides by the model's size: the live count depends on the collector.
        let size = if sh.p.digest {
            sh.model().nodes.len() as u64
        } else {
            sh.live()
        };
        let i = if size > sh.p.live_soft_limit && self.rng.chance(10) {
            OP_PRUNE
        } else {
            self.rng.weighted(&self.mix)
        };
        sh.beat.progress[self.t].what.store(i, Ordering::Relaxed);
        self.what = op_name(i);
        if i == OP_PRUNE {
            self.op_prune();
        } else {
            let op = self.mix[i].2;
            op(self);
        }
        while self.pending.len() > PENDING {
            self.what = "flush_pending";
            self.flush_pending();
        }
        self.op += 1;
        sh.beat.progress[self.t]
            .op
            .store(self.op, Ordering::Relaxed);
        sh.beat.pulse.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn run(&mut self) {
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
        self.sh.beat.progress[self.t]
            .what
            .store(WHAT_DONE, Ordering::Relaxed);
    }
}
