//! The random operations a thread of the workload in `mod.rs` runs (listed with their
//! weights in `worker.rs`; the two walks are in `checkpoint.rs`): allocating clusters,
//! linking, unlinking, moving subgraphs, changing roots, slots and the shelf, allocating
//! under cell guards, garbage, holding, pruning.

use super::model::{Kind, MNode, KINDS};
use super::node::{id_of, new_node, Edge, Node};
use super::worker::Worker;
use super::{MAX_KIDS, SLOTS};
use gc_core::Gc;

const SHELF_MAX: usize = 8;
const HOLDERS: usize = 16;

impl<'s, 'p> Worker<'s, 'p> {
    /// A cluster allocated outside the lock (some with initial edges, moved in), held only
    /// by this thread for a while, then registered in the model under the lock and published
    /// (rooted, linked from a node, or parked in `pending` to be moved into the heap later).
    pub(super) fn op_alloc(&mut self) {
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
            self.garbage(200);
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

    pub(super) fn op_link(&mut self) {
        let (a, b) = (self.pick(), self.pick());
        let kind = KINDS[self.rng.below(4)];
        let mut m = self.sh.model();
        self.link(&mut m, &a, b, kind);
    }

    pub(super) fn op_unlink(&mut self) {
        let a = self.pick();
        let kind = KINDS[self.rng.below(4)];
        let mut m = self.sh.model();
        self.unlink(&mut m, &a, kind);
    }

    /// Takes edges out of one node, holds them only through this thread's handles while
    /// garbage is allocated (cycles run), then attaches them elsewhere: to another node,
    /// inside a new node (allocated black while a mark runs), or later (`pending`).
    pub(super) fn op_move(&mut self) {
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
                    v.into_iter().map(|e| e.to).collect()
                }
                Kind::Slot => {
                    let v = a.slot.replace(None);
                    self.expect_id(id_of(&v), mn.slot.take(), "slot.replace(None)");
                    if let Some(e) = &v {
                        self.verify_edge(e);
                    }
                    v.into_iter().map(|e| e.to).collect()
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
        self.garbage(300);
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
                self.garbage(100);
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
    pub(super) fn flush_pending(&mut self) {
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

    pub(super) fn keep_holder(&mut self, h: Gc<Node>) {
        if self.holders.len() >= HOLDERS {
            self.holders.pop_front();
        }
        self.holders.push_back(h);
    }

    pub(super) fn op_roots(&mut self) {
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
    pub(super) fn op_slots(&mut self) {
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
    pub(super) fn op_shelf(&mut self) {
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
                s.push(Edge::new(n.clone()));
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
                let old = sh.shelf.replace(vec![Edge::new(n.clone())]);
                let want = std::mem::replace(&mut m.shelf, vec![n.id]);
                self.check_kids(&old, &want, u64::MAX);
            }
        }
    }

    /// Allocation while holding a cell guard: a read guard outside the lock, or a write
    /// guard (under the lock) that a new node goes into.
    pub(super) fn op_guard_alloc(&mut self) {
        let sh = self.sh;
        let a = self.pick();
        if self.rng.chance(50) {
            let kids = a.kids.borrow();
            for k in kids.iter() {
                self.verify_edge(k);
            }
            self.garbage(150);
            for k in kids.iter() {
                self.verify_edge(k);
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
            let old_kid = kids.first().map(|e| e.to.clone());
            let mut nm = MNode {
                left: back.then_some(a.id),
                ..MNode::default()
            };
            nm.slot = id_of(&old_kid);
            let n = new_node(id, Vec::new(), old_kid, back.then(|| a.clone()));
            self.garbage(100);
            m.nodes.insert(id, nm);
            let mn = m.nodes.get_mut(&a.id).unwrap();
            if kids.len() >= MAX_KIDS {
                kids.pop();
                mn.kids.pop();
            }
            kids.push(Edge::new(n));
            mn.kids.push(id);
        }
    }

    /// Untracked garbage, and tracked garbage: a cycle nobody can reach.
    pub(super) fn op_garbage(&mut self) {
        let n = 200 + self.rng.below(1500);
        self.garbage(n);
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
    pub(super) fn op_hold(&mut self) {
        let n = self.pick();
        let id = n.id;
        self.garbage(400);
        self.verify(&n, Some(id));
        self.verify_in_place(&n);
    }

    /// Above the soft limit: cuts every edge of an anchor node and drops some roots.
    pub(super) fn op_prune(&mut self) {
        let sh = self.sh;
        let a = sh.anchors[self.rng.below(sh.anchors.len())].clone();
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
}
