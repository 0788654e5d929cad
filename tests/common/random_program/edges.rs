//! The edge mutations of the workload in `mod.rs`: `link` and `unlink`, made under the
//! model lock with the model updated alongside, every old value checked against it.

use super::model::{Kind, Model};
use super::node::{id_of, Edge, Node};
use super::worker::Worker;
use super::MAX_KIDS;
use gc_core::Gc;

impl<'s, 'p> Worker<'s, 'p> {
    /// Under the lock: `a -> b` through an edge of kind `kind`, replacing or evicting what
    /// was there; the model follows and every old value is checked against it. `b` is moved
    /// in, not cloned: when it is the caller's only handle, nothing but the store's barrier
    /// shades it (a clone roots it, and rooting during a mark shades).
    pub(super) fn link(&mut self, m: &mut Model, a: &Gc<Node>, b: Gc<Node>, kind: Kind) {
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
                    self.verify_edge(&old);
                }
                kids.push(Edge::new(b));
                mn.kids.push(bi);
            }
            Kind::Slot => {
                let want = mn.slot.replace(bi);
                match self.rng.below(3) {
                    0 => {
                        let old = a.slot.replace(Some(Edge::new(b)));
                        self.expect_id(id_of(&old), want, "slot.replace old value");
                    }
                    1 => {
                        let old = a.slot.borrow().as_ref().map(|x| x.id);
                        self.expect_id(old, want, "slot before set");
                        a.slot.set(Some(Edge::new(b)));
                    }
                    _ => {
                        let mut s = a.slot.borrow_mut();
                        self.expect_id(id_of(&s), want, "slot under borrow_mut");
                        *s = Some(Edge::new(b));
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
    pub(super) fn unlink(&mut self, m: &mut Model, a: &Gc<Node>, kind: Kind) {
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
}
