//! The exact model of the program's graph and roots (see `mod.rs`): each node's out-edges
//! by id and every root, kept behind one lock and updated together with each real mutation,
//! so that its reachable set is exactly what must be live (the fixed point over the
//! ephemeron table's entries included). Also the four edge kinds.

use super::common::mix;
use super::node::Node;
use gc_core::Weak;
use std::collections::{BTreeMap, HashMap, HashSet};

/// The model of one node: its out-edges by id (kids in order).
#[derive(Clone, Default, Debug, PartialEq, Eq)]
pub(super) struct MNode {
    pub(super) kids: Vec<u64>,
    pub(super) slot: Option<u64>,
    pub(super) left: Option<u64>,
    pub(super) right: Option<u64>,
}

impl MNode {
    pub(super) fn edges(&self) -> impl Iterator<Item = u64> + '_ {
        self.kids
            .iter()
            .copied()
            .chain([self.slot, self.left, self.right].into_iter().flatten())
    }
}

/// The exact model of the program's graph and roots.
pub(super) struct Model {
    /// Every node that may be live: allocated and published since the last checkpoint, or
    /// reachable at it. Pruned to the reachable set at each checkpoint.
    pub(super) nodes: HashMap<u64, MNode>,
    /// Each thread's local root handles, by id, in the same order as the thread's `Vec`.
    pub(super) local: Vec<Vec<u64>>,
    pub(super) anchors: Vec<u64>,
    pub(super) slots: Vec<Option<u64>>,
    pub(super) shelf: Vec<u64>,
    /// The entries of the shared `WeakMap` (`Shared::emap`), by key id (ordered: a digest
    /// run picks entries by index). Its value is reachable iff its key is.
    pub(super) ephemerons: BTreeMap<u64, MEph>,
}

/// An ephemeron entry of the model: the value's id, and a weak reference to the key (not
/// model state: how a checkpoint gets a handle to the key, which the map needs, without
/// keeping it alive).
pub(super) struct MEph {
    pub(super) value: u64,
    pub(super) key: Weak<Node>,
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

    /// The digest of a checkpoint (`Params::digest`): the roots (count and a hash of their
    /// sorted ids), the reachable set (count, sum and hash of the sorted ids) and the
    /// ephemeron entries (count and a hash of the key and value ids).
    pub(super) fn digest(&self, reachable: &HashSet<u64>) -> String {
        let mut roots: Vec<u64> = self.roots().collect();
        roots.sort_unstable();
        let root_hash = roots.iter().fold(7u64, |h, &i| mix(h ^ i));
        let mut ids: Vec<u64> = reachable.iter().copied().collect();
        ids.sort_unstable();
        let hash = ids.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &i| {
            (h ^ i).wrapping_mul(0x0100_0000_01B3)
        });
        let eph = self
            .ephemerons
            .iter()
            .fold(3u64, |h, (&k, e)| mix(h ^ mix(k ^ (e.value << 32))));
        format!(
            "roots {} roothash {root_hash:016x} reach {} idsum {} idhash {hash:016x} eph {} \
             ephhash {eph:016x}",
            roots.len(),
            ids.len(),
            ids.iter().sum::<u64>(),
            self.ephemerons.len()
        )
    }

    /// The reachable set: from the roots along the edges and, to a fixed point, from each
    /// ephemeron entry's key (once reached) to its value.
    pub(super) fn reachable(&self) -> HashSet<u64> {
        self.search(None).0
    }

    /// Whether node `id` is reachable (`reachable().contains(&id)`, stopping early).
    pub(super) fn reaches(&self, id: u64) -> bool {
        self.search(Some(id)).1
    }

    /// The reachable set, or part of it when `target` is found (then `true`).
    pub(super) fn search(&self, target: Option<u64>) -> (HashSet<u64>, bool) {
        let mut seen = HashSet::new();
        let mut stack: Vec<u64> = self.roots().collect();
        loop {
            while let Some(id) = stack.pop() {
                if seen.insert(id) {
                    if target == Some(id) {
                        return (seen, true);
                    }
                    let n = self.nodes.get(&id).unwrap_or_else(|| {
                        panic!("model: edge to node {id}, which it does not hold")
                    });
                    stack.extend(n.edges());
                }
            }
            // Values of entries whose key is reached and who are not yet.
            stack.extend(
                self.ephemerons
                    .iter()
                    .filter(|(k, e)| seen.contains(*k) && !seen.contains(&e.value))
                    .map(|(_, e)| e.value),
            );
            if stack.is_empty() {
                return (seen, false);
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    Kids,
    Slot,
    Left,
    Right,
}

pub(super) const KINDS: [Kind; 4] = [Kind::Kids, Kind::Slot, Kind::Left, Kind::Right];
