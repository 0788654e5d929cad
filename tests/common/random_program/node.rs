//! The objects of the random-graph engine (`mod.rs`), shared by every workload built on it
//! (`tests/random_differential.rs`, `tests/stoptheworld_differential.rs`,
//! `tests/concurrent_mutation.rs`, `examples/soak.rs`): the graph `Node` (an immutable
//! payload that is a function of its id, two `GcCell` and two `AtomicGc` edges, a drop
//! tracker), the `Edge` a `GcCell` holds (the node and the id its holder expects there), and
//! `check_node`, the check every node reached must pass.

use super::common::{mix, Tracker, ALIVE};
use gc_core::{AtomicGc, Gc, GcCell, Trace};
use std::ops::Deref;

const WORDS: usize = 4;

/// A graph node: an immutable payload that is a function of its id, two `GcCell` edges and
/// two `AtomicGc` edges.
#[derive(Trace)]
pub struct Node {
    pub id: u64,
    pub words: [u64; WORDS],
    pub kids: GcCell<Vec<Edge>>,
    pub slot: GcCell<Option<Edge>>,
    pub left: AtomicGc<Node>,
    pub right: AtomicGc<Node>,
    #[trace(skip)]
    pub tracker: Tracker,
}

/// A `GcCell` edge: the node, and the id the holder recorded when it stored it, so that an
/// edge to a node freed and reused by another is caught by id even where no model says
/// what the edge should hold.
#[derive(Trace, Clone)]
pub struct Edge {
    #[trace(skip)]
    pub expect: u64,
    pub to: Gc<Node>,
}

impl Edge {
    /// An edge to `to` (moved in, not cloned), expecting its current id.
    pub fn new(to: Gc<Node>) -> Edge {
        Edge { expect: to.id, to }
    }
}

impl Deref for Edge {
    type Target = Gc<Node>;
    fn deref(&self) -> &Gc<Node> {
        &self.to
    }
}

/// What holds a node: a handle or an edge.
pub trait HasId {
    fn node_id(&self) -> u64;
}

impl HasId for Gc<Node> {
    fn node_id(&self) -> u64 {
        self.id
    }
}

impl HasId for Edge {
    fn node_id(&self) -> u64 {
        self.to.id
    }
}

/// The id of the node held, if any.
pub fn id_of<T: HasId>(n: &Option<T>) -> Option<u64> {
    n.as_ref().map(HasId::node_id)
}

pub fn payload(id: u64) -> [u64; WORDS] {
    std::array::from_fn(|k| mix((id << 3) | k as u64))
}

/// A node whose fields start with the given handles moved in (`Gc::new` turns them into
/// edges).
pub fn new_node(
    id: u64,
    kids: Vec<Gc<Node>>,
    slot: Option<Gc<Node>>,
    left: Option<Gc<Node>>,
) -> Gc<Node> {
    let kids = kids.into_iter().map(Edge::new).collect();
    new_node_edges(id, kids, slot.map(Edge::new), left)
}

/// Like [`new_node`], with the `GcCell` edges given as they were held (their expected ids
/// kept).
pub fn new_node_edges(
    id: u64,
    kids: Vec<Edge>,
    slot: Option<Edge>,
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

/// Checks a node reached through a live handle or edge: its id (if the holder's expected id
/// is known), payload, tracker id, tracker ALIVE (a node reachable from a root must not have
/// been dropped). `Err` says what is wrong.
pub fn check_node(n: &Gc<Node>, expect: Option<u64>) -> Result<(), String> {
    let id = n.id;
    let at = Gc::as_ptr(n);
    if let Some(e) = expect {
        if id != e {
            return Err(format!(
                "expected node {e} but found node {id} at {at:p} (freed and reused?)"
            ));
        }
    }
    if n.words != payload(id) {
        return Err(format!(
            "payload of node {id} at {at:p} corrupted: {:x?}",
            n.words
        ));
    }
    if n.tracker.id != id {
        return Err(format!(
            "tracker of node {id} at {at:p} corrupted (tracker id {})",
            n.tracker.id
        ));
    }
    let st = n.tracker.state();
    if st != ALIVE ^ id {
        return Err(format!(
            "node {id} at {at:p} is reachable but its tracker reads {st:#x} (dropped while \
             reachable?)"
        ));
    }
    Ok(())
}

/// [`check_node`] of what an edge holds, against the id it expects.
pub fn check_edge(e: &Edge) -> Result<(), String> {
    check_node(&e.to, Some(e.expect))
}
