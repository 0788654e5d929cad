//! The exact model of the program's graph and roots (see `mod.rs`): each node's out-edges
//! by id and every root, kept behind one lock and updated together with each real mutation,
//! so that its reachable set is exactly what must be live. Also the four edge kinds.

use super::common::mix;
use std::collections::{HashMap, HashSet};

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
    /// sorted ids) and the reachable set (count, sum and hash of the sorted ids).
    pub(super) fn digest(&self, reachable: &HashSet<u64>) -> String {
        let mut roots: Vec<u64> = self.roots().collect();
        roots.sort_unstable();
        let root_hash = roots.iter().fold(7u64, |h, &i| mix(h ^ i));
        let mut ids: Vec<u64> = reachable.iter().copied().collect();
        ids.sort_unstable();
        let hash = ids.iter().fold(0xCBF2_9CE4_8422_2325u64, |h, &i| {
            (h ^ i).wrapping_mul(0x0100_0000_01B3)
        });
        format!(
            "roots {} roothash {root_hash:016x} reach {} idsum {} idhash {hash:016x}",
            roots.len(),
            ids.len(),
            ids.iter().sum::<u64>()
        )
    }

    pub(super) fn reachable(&self) -> HashSet<u64> {
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

#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    Kids,
    Slot,
    Left,
    Right,
}

pub(super) const KINDS: [Kind; 4] = [Kind::Kids, Kind::Slot, Kind::Left, Kind::Right];
