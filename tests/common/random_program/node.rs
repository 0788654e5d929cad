//! The objects of the workload in `mod.rs`: the graph `Node` (an immutable payload that is
//! a function of its id, `GcCell` and `AtomicGc` edges, a drop tracker), and untracked
//! garbage and ballast.

use super::common::{mix, Rng, Tracker};
use gc_core::{AtomicGc, Gc, GcCell, Trace};

const WORDS: usize = 4;

/// A graph node: an immutable payload that is a function of its id, two `GcCell` edges and
/// two `AtomicGc` edges.
#[derive(Trace)]
pub struct Node {
    pub(super) id: u64,
    pub(super) words: [u64; WORDS],
    pub(super) kids: GcCell<Vec<Gc<Node>>>,
    pub(super) slot: GcCell<Option<Gc<Node>>>,
    pub(super) left: AtomicGc<Node>,
    pub(super) right: AtomicGc<Node>,
    #[trace(skip)]
    pub(super) tracker: Tracker,
}

pub(super) fn payload(id: u64) -> [u64; WORDS] {
    std::array::from_fn(|k| mix((id << 3) | k as u64))
}

pub(super) fn new_node(
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

pub(super) fn id_of(n: &Option<Gc<Node>>) -> Option<u64> {
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
pub(super) fn garbage(rng: &mut Rng, n: usize) {
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
