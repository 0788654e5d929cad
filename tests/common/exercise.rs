//! The harness of `tests/trace_coverage.rs` and `tests/trace_features.rs`: puts a type that
//! can hold `Gc`s into heap objects with handles inside, collects, checks that the graph is
//! intact and that the handles are in the state the type's `Trace` impl promises (exact
//! root counts, debug builds), that a garbage copy releases exactly what it holds, and that
//! a cycle through the type is freed.

use super::{collect_until, mix};
use gc_core::{coerce_gc, Gc, GcCell, Trace, Weak};
use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};

/// A handle to any object (the back edge that closes a cycle).
pub type AnyGc = Gc<dyn Any + Send + Sync>;

/// What the exercised types hold. Compared, ordered and hashed by `id`, so that it can be a
/// map key or set element. Not tiny (it holds a `Gc` cell), so its root count is its own.
#[derive(Trace)]
pub struct Node {
    pub id: u64,
    pub canary: u64,
    pub back: GcCell<Option<AnyGc>>,
}

impl PartialEq for Node {
    fn eq(&self, other: &Node) -> bool {
        self.id == other.id
    }
}
impl Eq for Node {}
impl PartialOrd for Node {
    fn partial_cmp(&self, other: &Node) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Node {
    fn cmp(&self, other: &Node) -> std::cmp::Ordering {
        self.id.cmp(&other.id)
    }
}
impl std::hash::Hash for Node {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.id.hash(h)
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// `n` fresh nodes with consecutive ids, unique in the process.
pub fn nodes(n: u64) -> Vec<Gc<Node>> {
    let base = NEXT_ID.fetch_add(n, Ordering::Relaxed);
    (base..base + n)
        .map(|id| {
            Gc::new(Node {
                id,
                canary: mix(id),
                back: GcCell::new(None),
            })
        })
        .collect()
}

/// Fails unless `got` holds exactly the nodes `want` (any order), intact.
pub fn check_nodes(what: &str, got: &[Gc<Node>], want: &[u64]) {
    let mut ids: Vec<u64> = got.iter().map(|g| g.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, want, "{what}: the nodes inside changed");
    for g in got {
        assert_eq!(g.canary, mix(g.id), "{what}: node {} was clobbered", g.id);
    }
}

/// The root count of `g`'s object (debug builds; `None` in release builds).
pub fn count<T: ?Sized + 'static>(g: &Gc<T>) -> Option<u32> {
    #[cfg(debug_assertions)]
    return Some(gc_core::__private::root_count_for_test(g));
    #[cfg(not(debug_assertions))]
    {
        let _ = g;
        None
    }
}

/// Where a type's handles are once it sits in a heap object.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Inside {
    /// Plain edges (or keys that gave up their counts): the type is collected through.
    Edges,
    /// Counted roots, always (`Arc`, `OnceLock`): a cycle through it is never freed.
    Roots,
}

/// A copy in a cell (written now and then: rooted, then unrooted by the next cycle) and a
/// frozen copy (unrooted once, by `Gc::new`).
#[derive(Trace)]
pub struct Holder<W: Trace> {
    pub cell: GcCell<W>,
    pub frozen: W,
}

/// Some garbage, so that collections have something to free and reuse.
fn churn() {
    for _ in 0..50 {
        drop(nodes(4));
    }
}

/// Exercises `W` holding `n` fresh nodes (`make` builds one from handles to them, `read`
/// gives the handles back): the nodes stay alive and intact through collections and cell
/// writes with no handle left outside; each node's root count is exactly ours while `W`
/// holds edges (ours plus one per copy for `Inside::Roots`); a garbage holder releases
/// exactly what it held; and (for `Inside::Edges`) a cycle from the nodes back to their
/// holder is freed once dropped.
pub fn exercise<W: Trace + Send + Sync + 'static>(
    what: &str,
    n: u64,
    inside: Inside,
    make: impl Fn(Vec<Gc<Node>>) -> W,
    read: impl Fn(&W) -> Vec<Gc<Node>>,
) {
    assert!(W::needs_trace(), "{what} may hold a Gc: it must be scanned");
    let nodes = nodes(n);
    let ids: Vec<u64> = nodes.iter().map(|g| g.id).collect();
    let weak: Vec<Weak<Node>> = nodes.iter().map(Gc::downgrade).collect();
    let holder = Gc::new(Holder {
        cell: GcCell::new(make(nodes.clone())),
        frozen: make(nodes),
    });
    // What a node's count is with one handle of ours and the holder's copies inside.
    let expected = match inside {
        Inside::Edges => 1,
        Inside::Roots => 3,
    };
    for round in 0..4 {
        if round % 2 == 1 {
            // A write roots the cell's copy again; the next cycle unroots it.
            drop(holder.cell.borrow_mut());
        }
        churn();
        gc_core::collect();
        check_nodes(what, &read(&holder.cell.borrow()), &ids);
        for g in read(&holder.frozen) {
            if let Some(c) = count(&g) {
                assert_eq!(c, expected, "{what}: root count of node {}", g.id);
            }
        }
        check_nodes(what, &read(&holder.frozen), &ids);
    }

    // A garbage holder of the same nodes: dropping it must release exactly the counts its
    // copies hold (none for edges and keys, one per copy for roots).
    let witness = read(&holder.frozen);
    let spare = Gc::new(Holder {
        cell: GcCell::new(make(witness.clone())),
        frozen: make(witness.clone()),
    });
    let spare_weak = Gc::downgrade(&spare);
    drop(spare);
    collect_until(|| spare_weak.upgrade().is_none());
    gc_core::collect();
    for g in &witness {
        if let Some(c) = count(g) {
            assert_eq!(
                c, expected,
                "{what}: a garbage holder changed node {}'s count",
                g.id
            );
        }
    }
    drop(witness);

    let holder_weak = Gc::downgrade(&holder);
    if inside == Inside::Edges {
        // Close the cycle: every node points back at its holder.
        let back: AnyGc = coerce_gc!(holder.clone());
        for g in read(&holder.frozen) {
            g.back.set(Some(back.clone()));
        }
        drop(back);
    }
    drop(holder);
    collect_until(|| holder_weak.upgrade().is_none() && weak.iter().all(|w| w.upgrade().is_none()));
}
