//! Weak references and ephemerons in the modelled mix of `mod.rs` (listed with their weights
//! in `worker.rs`): downgrading a node a thread reaches, upgrading a recorded weak reference
//! (a success is a new root, possibly of a node the model no longer reaches: it resurrects
//! the node and what it reaches), and inserting, removing and reading entries of the shared
//! ephemeron table (`Shared::emap`, modelled by `Model::ephemerons`); plus the checkpoint's
//! checks of both.
//!
//! Why the model stays exact: a weak reference is cleared, and a table entry dropped, at the
//! mark termination that finds the object unmarked, which then is garbage and never
//! reachable again. So while a thread holds a node, its weak references upgrade and its
//! table entry (if the model has one) is still there; what the model reaches is live (its
//! roots are real roots), so a weak reference to it upgrades. A node the model stopped
//! reaching may still upgrade (not yet found unreachable): the handle is kept as a local
//! root, in the model too (a digest run drops it instead, and takes table keys only the
//! model reaches, so that its model does not depend on the collector's timing). A node pruned from the model at a checkpoint was collected
//! by its two `collect()`s, so it can never upgrade again.

use super::model::{MEph, MNode, Model};
use super::node::{id_of, new_node, Node};
use super::worker::Worker;
use gc_core::{Gc, Weak};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

/// Weak references a thread keeps (the oldest is dropped first).
const MAX_WEAKS: usize = 32;
/// Table entries at most: an insert of another key into a full table removes an entry
/// instead.
const MAX_EPHEMERONS: usize = 48;
/// Up to this many model nodes, every upgrade is checked against the model's reachable set;
/// above, a proportional sample of those that return `None` (`search_model`).
const SEARCH_ALL: usize = 4096;

/// What the weak operations saw in a run (`Report::weak`).
#[derive(Clone, Copy, Debug, Default)]
pub struct WeakReport {
    /// `upgrade` operations that returned a node, and those that returned `None`.
    pub upgraded: u64,
    pub cleared: u64,
    /// Upgrades of a node the model did not reach (still uncollected); counted while the
    /// model holds at most `SEARCH_ALL` nodes.
    pub resurrected: u64,
    /// `get`s that found an entry.
    pub eph_hits: u64,
    /// Entries dropped at checkpoints (their key was dead).
    pub eph_pruned: u64,
}

/// The counters behind `WeakReport`, shared by the threads.
#[derive(Default)]
pub(super) struct WeakCounters {
    upgraded: AtomicU64,
    cleared: AtomicU64,
    resurrected: AtomicU64,
    eph_hits: AtomicU64,
    eph_pruned: AtomicU64,
}

impl WeakCounters {
    pub(super) fn report(&self) -> WeakReport {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        WeakReport {
            upgraded: get(&self.upgraded),
            cleared: get(&self.cleared),
            resurrected: get(&self.resurrected),
            eph_hits: get(&self.eph_hits),
            eph_pruned: get(&self.eph_pruned),
        }
    }
}

fn count(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl<'s, 'p> Worker<'s, 'p> {
    /// Records a weak reference to node `id` (0: `Weak::new`), evicting the oldest. Two
    /// weak references share their target iff they were made from the same object.
    fn keep_weak(&mut self, w: Weak<Node>, id: u64) {
        for (o, oid) in &self.weaks {
            if Weak::ptr_eq(o, &w) != (*oid == id) {
                self.fail(&format!(
                    "Weak::ptr_eq of weak references to nodes {oid} and {id} is {}",
                    Weak::ptr_eq(o, &w)
                ));
            }
        }
        if self.weaks.len() >= MAX_WEAKS {
            self.weaks.pop_front();
        }
        self.weaks.push_back((w, id));
    }

    /// Downgrades a node this thread reaches (now and then, `Weak::new`) and records it; a
    /// new weak reference to a node held must upgrade to that node.
    pub(super) fn op_downgrade(&mut self) {
        if self.rng.chance(5) {
            let w = Weak::new();
            if w.upgrade().is_some() {
                self.fail("Weak::new upgraded");
            }
            self.keep_weak(w, 0);
            return;
        }
        let n = self.pick();
        let w = Gc::downgrade(&n);
        match w.upgrade() {
            Some(u) if Gc::ptr_eq(&u, &n) => {}
            Some(u) => self.fail(&format!(
                "a new weak reference to node {} (held) upgraded to node {}",
                n.id, u.id
            )),
            None => self.fail(&format!(
                "a new weak reference to node {} (held) upgraded to None",
                n.id
            )),
        }
        self.keep_weak(w, n.id);
    }

    /// Under the lock: upgrades a recorded weak reference. A node the model reaches must
    /// come back (the same node, intact); one it does not may come back only intact and
    /// known to the model (not pruned at a checkpoint), and then is a new local root.
    pub(super) fn op_upgrade(&mut self) {
        if self.weaks.is_empty() {
            return;
        }
        let sh = self.sh;
        let (w, id) = self.weaks[self.rng.below(self.weaks.len())].clone();
        let keep = self.rng.chance(60);
        let mut m = sh.model();
        let got = w.upgrade();
        // Only a `None` (checked) and a digest run's choice need the model's answer.
        let search = sh.p.digest || self.search_model(&m, got.is_none());
        let reach = if search {
            let (seen, reach) = m.search(Some(id));
            if !reach {
                // `seen` is the whole reachable set: check the table's size against it.
                self.check_ephemeron_len(&m, &seen);
            }
            reach
        } else {
            // Not known; a node that came back is kept (not counted as resurrected).
            got.is_some()
        };
        match got {
            None if reach => self.fail(&format!(
                "a weak reference to node {id}, which the model reaches, upgraded to None"
            )),
            None => count(&sh.weak.cleared),
            Some(n) => {
                count(&sh.weak.upgraded);
                if !reach {
                    count(&sh.weak.resurrected);
                }
                if id == 0 {
                    self.fail(&format!("Weak::new upgraded to node {}", n.id));
                }
                self.verify(&n, Some(id));
                if !m.nodes.contains_key(&id) {
                    self.fail(&format!(
                        "a weak reference to node {id} upgraded, but the model pruned the \
                         node at a checkpoint (unreachable: it should have been collected and \
                         the reference cleared)"
                    ));
                }
                if keep && (reach || !sh.p.digest) {
                    self.add_root(&mut m, n);
                }
            }
        }
    }

    /// Under the lock, given the model's reachable set: the table holds at least the entries
    /// of reachable keys and at most the model's (entries of dead keys may linger until the
    /// next cycle).
    fn check_ephemeron_len(&self, m: &Model, reachable: &HashSet<u64>) {
        let len = self.sh.emap.len();
        let live = m
            .ephemerons
            .keys()
            .filter(|k| reachable.contains(k))
            .count();
        if len < live || len > m.ephemerons.len() {
            self.fail(&format!(
                "WeakMap::len is {len}; the model has {} entries, {live} of them with a \
                 reachable key",
                m.ephemerons.len()
            ));
        }
    }

    /// Whether to search the model for reachability (under the lock, which serialises the
    /// threads): always on a model of up to `SEARCH_ALL` nodes, else a proportional sample
    /// of the cases that `need` it (the soak example's large models).
    fn search_model(&mut self, m: &Model, need: bool) -> bool {
        let n = m.nodes.len();
        n <= SEARCH_ALL || (need && self.rng.below(n) < SEARCH_ALL)
    }

    /// Outside the lock: the key of an ephemeron operation, picked (`Some`) or to be taken
    /// from an entry of the model (`None`).
    fn pick_key(&mut self) -> Option<Gc<Node>> {
        if self.rng.chance(30) {
            None
        } else {
            Some(self.pick())
        }
    }

    /// Under the lock: the picked key, or an entry's key upgraded (possibly one the model
    /// no longer reaches; `None` if it was found unreachable, or no entry). A digest run
    /// takes only keys the model reaches (whether another upgrades depends on the timing).
    fn ephemeron_key(&mut self, m: &Model, picked: Option<Gc<Node>>) -> Option<Gc<Node>> {
        if picked.is_some() {
            return picked;
        }
        if m.ephemerons.is_empty() {
            return None;
        }
        let i = self.rng.below(m.ephemerons.len());
        let (&kid, e) = m.ephemerons.iter().nth(i).unwrap();
        if self.sh.p.digest && !m.reaches(kid) {
            return None;
        }
        match e.key.upgrade() {
            Some(k) => {
                self.verify(&k, Some(kid));
                Some(k)
            }
            None => {
                if self.search_model(m, true) && m.reaches(kid) {
                    self.fail(&format!(
                        "the weak reference to key {kid} of a table entry upgraded to None, \
                         but the model reaches the key"
                    ));
                }
                None
            }
        }
    }

    /// Under the lock: the table has an entry for `key` iff the model has (the key is held,
    /// so no cycle can have dropped it).
    fn check_contains(&self, m: &Model, key: &Gc<Node>) {
        let got = self.sh.emap.contains_key(key);
        let want = m.ephemerons.contains_key(&key.id);
        if got != want {
            self.fail(&format!(
                "WeakMap::contains_key of node {}: table says {got}, model {want}",
                key.id
            ));
        }
    }

    /// Maps a key to a value: another node this thread reaches, or a new node (sometimes
    /// pointing back at its key, or at a node reached) held by the table alone.
    pub(super) fn op_eph_insert(&mut self) {
        let sh = self.sh;
        let picked = self.pick_key();
        let fresh = self.rng.chance(50);
        let back = fresh && self.rng.chance(30);
        let other = if !fresh || (!back && self.rng.chance(40)) {
            Some(self.pick())
        } else {
            None
        };
        let mut m = sh.model();
        let Some(key) = self.ephemeron_key(&m, picked) else {
            return;
        };
        if !m.nodes.contains_key(&key.id) {
            self.fail(&format!(
                "table key node {}, which the model does not hold",
                key.id
            ));
        }
        self.check_contains(&m, &key);
        if !m.ephemerons.contains_key(&key.id) && m.ephemerons.len() >= MAX_EPHEMERONS {
            // Full: remove another entry instead.
            drop(key);
            if let Some(k) = self.ephemeron_key(&m, None) {
                if !sh.emap.remove(&k) || m.ephemerons.remove(&k.id).is_none() {
                    self.fail(&format!("WeakMap::remove of a full table's key {}", k.id));
                }
            }
            return;
        }
        let value = if fresh {
            let id = sh.new_id();
            let left = if back { Some(key.clone()) } else { other };
            let mn = MNode {
                left: id_of(&left),
                ..MNode::default()
            };
            if m.nodes.insert(id, mn).is_some() {
                self.fail(&format!("node id {id} allocated twice"));
            }
            new_node(id, Vec::new(), None, left)
        } else {
            other.unwrap()
        };
        let vid = value.id;
        if !m.nodes.contains_key(&vid) {
            self.fail(&format!(
                "table value node {vid}, which the model does not hold"
            ));
        }
        let w = Gc::downgrade(&key);
        if let Some(old) = m.ephemerons.get(&key.id) {
            if !Weak::ptr_eq(&old.key, &w) {
                self.fail(&format!(
                    "two weak references to node {} do not share their target",
                    key.id
                ));
            }
        }
        // Moved in: the table holds the only handle to a new value.
        sh.emap.insert(&key, value);
        m.ephemerons.insert(key.id, MEph { value: vid, key: w });
    }

    pub(super) fn op_eph_remove(&mut self) {
        let sh = self.sh;
        let picked = self.pick_key();
        let mut m = sh.model();
        let Some(key) = self.ephemeron_key(&m, picked) else {
            return;
        };
        let got = sh.emap.remove(&key);
        let want = m.ephemerons.remove(&key.id).is_some();
        if got != want {
            self.fail(&format!(
                "WeakMap::remove of node {}: table says {got}, model {want}",
                key.id
            ));
        }
    }

    /// Reads an entry: the model's value (intact), or none; the value returned is a new
    /// root, sometimes kept as a local root.
    pub(super) fn op_eph_get(&mut self) {
        let sh = self.sh;
        let picked = self.pick_key();
        let keep = self.rng.chance(50);
        let mut m = sh.model();
        let Some(key) = self.ephemeron_key(&m, picked) else {
            return;
        };
        self.check_contains(&m, &key);
        let want = m.ephemerons.get(&key.id).map(|e| e.value);
        let got = sh.emap.get(&key);
        self.expect_id(id_of(&got), want, "WeakMap::get");
        if sh.emap.len() > m.ephemerons.len() {
            self.fail(&format!(
                "WeakMap::len is {}, the model has {} entries",
                sh.emap.len(),
                m.ephemerons.len()
            ));
        }
        if let Some(v) = got {
            count(&sh.weak.eph_hits);
            self.verify(&v, want);
            if keep {
                self.add_root(&mut m, v);
            }
        }
    }

    /// Checkpoint, after `collect()` twice, given whether the model reaches each recorded
    /// weak reference's node: those upgrade to their node, the others to `None`.
    pub(super) fn check_weaks(&self, reach: &[bool]) {
        for ((w, id), &r) in self.weaks.iter().zip(reach) {
            match (w.upgrade(), r) {
                (Some(n), true) => self.verify(&n, Some(*id)),
                (None, false) => {}
                (Some(n), false) => self.fail(&format!(
                    "after collect() twice at a checkpoint, a weak reference to node {id}, \
                     which the model does not reach, upgraded (to a node with id {})",
                    n.id
                )),
                (None, true) => self.fail(&format!(
                    "at a checkpoint, a weak reference to node {id}, which the model reaches, \
                     upgraded to None"
                )),
            }
        }
    }

    /// Checkpoint, thread 0, under the lock (the model's entries already pruned to those of
    /// reachable keys): the table has exactly the model's entries, each key's weak
    /// reference upgrades and `get` gives the model's value. Returns the values, from which
    /// the real walk goes on (the table's part of the reachable set).
    pub(super) fn check_ephemerons(&self, m: &Model) -> Vec<Gc<Node>> {
        let sh = self.sh;
        let len = sh.emap.len();
        if len != m.ephemerons.len() {
            self.fail(&format!(
                "after collect() twice at a checkpoint, WeakMap::len is {len}, but the model \
                 has {} entries with a reachable key",
                m.ephemerons.len()
            ));
        }
        let mut values = Vec::new();
        for (&kid, e) in &m.ephemerons {
            let Some(k) = e.key.upgrade() else {
                self.fail(&format!(
                    "at a checkpoint, the weak reference to key {kid} of a table entry \
                     upgraded to None, but the model reaches the key"
                ))
            };
            self.verify(&k, Some(kid));
            let got = sh.emap.get(&k);
            self.expect_id(id_of(&got), Some(e.value), "WeakMap::get at a checkpoint");
            let v = got.unwrap();
            self.verify(&v, Some(e.value));
            values.push(v);
        }
        values
    }
}

/// Checkpoint, the leader, after `collect()` twice: the model drops the entries whose key
/// it does not reach (the table dropped them in the cycle that found the key dead).
pub(super) fn prune_ephemerons(m: &mut Model, reachable: &HashSet<u64>, c: &WeakCounters) {
    let before = m.ephemerons.len();
    m.ephemerons.retain(|k, _| reachable.contains(k));
    let pruned = (before - m.ephemerons.len()) as u64;
    c.eph_pruned.fetch_add(pruned, Ordering::Relaxed);
}
