//! Cycles through `GcCell` are collected, and their `Drop` runs exactly once.

mod common;

use gc_core::{Gc, GcCell, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

#[derive(Trace)]
struct Node {
    next: GcCell<Option<Gc<Node>>>,
    #[trace(skip)]
    _drops: Arc<AtomicUsize>,
}

use common::Counted;

#[derive(Trace)]
struct CNode {
    next: GcCell<Option<Gc<CNode>>>,
    #[trace(skip)]
    _c: Counted,
}

fn cnode(drops: &Arc<AtomicUsize>) -> Gc<CNode> {
    Gc::new(CNode {
        next: GcCell::new(None),
        _c: Counted(drops.clone()),
    })
}

#[test]
fn two_node_cycle_is_freed_once() {
    let drops = Arc::new(AtomicUsize::new(0));
    let a = cnode(&drops);
    let b = cnode(&drops);
    *a.next.borrow_mut() = Some(b.clone());
    *b.next.borrow_mut() = Some(a.clone());
    drop((a, b));
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 2, "Drop ran twice");
}

#[test]
fn cycle_made_with_set_is_freed_by_one_collection() {
    let drops = Arc::new(AtomicUsize::new(0));
    let a = cnode(&drops);
    let b = cnode(&drops);
    a.next.set(Some(b.clone()));
    b.next.set(Some(a.clone()));
    assert!(Gc::ptr_eq(a.next.borrow().as_ref().unwrap(), &b));
    drop((a, b));
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

#[test]
fn self_cycle_and_long_ring_are_freed() {
    let drops = Arc::new(AtomicUsize::new(0));
    let me = cnode(&drops);
    *me.next.borrow_mut() = Some(me.clone());
    drop(me);

    let first = cnode(&drops);
    let mut prev = first.clone();
    for _ in 0..9_999 {
        let n = cnode(&drops);
        *prev.next.borrow_mut() = Some(n.clone());
        prev = n;
    }
    *prev.next.borrow_mut() = Some(first.clone());
    drop((first, prev));
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 10_001);
}

#[test]
fn reachable_cycle_survives_and_stays_intact() {
    let drops = Arc::new(AtomicUsize::new(0));
    let a = Gc::new(Node {
        next: GcCell::new(None),
        _drops: drops.clone(),
    });
    let b = Gc::new(Node {
        next: GcCell::new(Some(a.clone())),
        _drops: drops.clone(),
    });
    *a.next.borrow_mut() = Some(b.clone());
    drop(b);
    for _ in 0..3 {
        gc_core::collect();
    }
    let b2 = a.next.borrow().clone().expect("edge kept");
    let a2 = b2.next.borrow().clone().expect("edge kept");
    assert!(Gc::ptr_eq(&a, &a2));
    assert_eq!(drops.load(Ordering::SeqCst), 0);
}

#[test]
fn cycle_through_nested_cells_and_vec_is_freed() {
    #[derive(Trace)]
    struct Graph {
        nodes: GcCell<Vec<GcCell<Option<Gc<Graph>>>>>,
        #[trace(skip)]
        _c: Counted,
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let g1 = Gc::new(Graph {
        nodes: GcCell::new(vec![]),
        _c: Counted(drops.clone()),
    });
    let g2 = Gc::new(Graph {
        nodes: GcCell::new(vec![]),
        _c: Counted(drops.clone()),
    });
    g1.nodes.borrow_mut().push(GcCell::new(Some(g2.clone())));
    g2.nodes.borrow_mut().push(GcCell::new(None));
    // Write through the inner cell only (the outer one is not borrowed mutably).
    *g2.nodes.borrow()[0].borrow_mut() = Some(g1.clone());
    drop((g1, g2));
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 2);
}

/// `collect()` on several threads at once: each returns only after the drops of the garbage
/// it found have run, even when another thread's `collect()` took those drops to run.
#[test]
fn concurrent_collects_each_see_their_own_drops() {
    common::with_watchdog("concurrent collects", || {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for round in 0..20 {
                        let drops = Arc::new(AtomicUsize::new(0));
                        for _ in 0..500 {
                            let n = cnode(&drops);
                            *n.next.borrow_mut() = Some(n.clone());
                        }
                        gc_core::collect();
                        assert_eq!(drops.load(Ordering::SeqCst), 500, "round {round}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    });
}
