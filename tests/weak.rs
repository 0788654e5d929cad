//! Weak references (`Gc::downgrade`, `Weak::upgrade`, `Gc::new_cyclic`): upgrade works
//! while the object is reachable and fails once a cycle found it unreachable, never
//! returning a freed object, also with threads upgrading and dropping during back-to-back
//! cycles.

mod common;

use common::mix;
use gc_core::{Gc, GcCell, Trace, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Not tiny (a `String`), so it never shares a 16-byte block with other objects.
#[derive(Trace)]
struct Node {
    id: u64,
    canary: u64,
    name: String,
    next: GcCell<Option<Gc<Node>>>,
}

fn node(id: u64) -> Gc<Node> {
    Gc::new(Node {
        id,
        canary: mix(id),
        name: format!("node {id}"),
        next: GcCell::new(None),
    })
}

#[test]
fn upgrade_while_live_and_after_death() {
    let g = node(1);
    let w = Gc::downgrade(&g);
    gc_core::collect();
    let again = w.upgrade().expect("reachable object upgrades");
    assert!(Gc::ptr_eq(&again, &g));
    assert_eq!(again.name, "node 1");
    drop((g, again));
    gc_core::collect();
    assert!(
        w.upgrade().is_none(),
        "an unreachable object's weak reference is cleared"
    );
    assert!(w.clone().upgrade().is_none());
}

#[test]
fn every_weak_to_one_object_shares_its_fate() {
    let g = node(2);
    let (a, b) = (Gc::downgrade(&g), Gc::downgrade(&g));
    assert!(Weak::ptr_eq(&a, &b));
    let other = node(3);
    assert!(!Weak::ptr_eq(&a, &Gc::downgrade(&other)));
    drop(g);
    gc_core::collect();
    assert!(a.upgrade().is_none() && b.upgrade().is_none());
    assert!(Weak::ptr_eq(&a, &b), "identity survives the object");
    assert!(Gc::downgrade(&other).upgrade().is_some());
}

#[test]
fn weak_new_never_upgrades() {
    let w: Weak<Node> = Weak::new();
    assert!(w.upgrade().is_none());
    assert!(Weak::ptr_eq(&w, &Weak::default()));
}

#[test]
fn a_cycle_dies_and_its_weak_references_clear() {
    let a = node(10);
    let b = node(11);
    *a.next.borrow_mut() = Some(b.clone());
    *b.next.borrow_mut() = Some(a.clone());
    let (wa, wb) = (Gc::downgrade(&a), Gc::downgrade(&b));
    drop(a);
    gc_core::collect();
    // `b` still holds `a` through the cycle.
    assert_eq!(wa.upgrade().map(|n| n.id), Some(10));
    drop(b);
    gc_core::collect();
    assert!(wa.upgrade().is_none() && wb.upgrade().is_none());
}

/// A cache of weak entries inside a heap object does not keep its entries alive.
#[derive(Trace)]
struct Cache {
    entries: GcCell<Vec<Weak<Node>>>,
}

#[test]
fn weak_fields_in_heap_objects_are_not_edges() {
    let cache = Gc::new(Cache {
        entries: GcCell::new(Vec::new()),
    });
    let kept = node(20);
    let dropped = node(21);
    cache.entries.borrow_mut().push(Gc::downgrade(&kept));
    cache.entries.borrow_mut().push(Gc::downgrade(&dropped));
    drop(dropped);
    gc_core::collect();
    let alive: Vec<u64> = cache
        .entries
        .borrow()
        .iter()
        .filter_map(|w| w.upgrade().map(|n| n.id))
        .collect();
    assert_eq!(alive, vec![20]);
}

#[derive(Trace)]
struct Parent {
    me: Weak<Parent>,
    id: u64,
    label: String,
}

#[test]
fn new_cyclic_hands_out_a_weak_reference_to_itself() {
    let p = Gc::new_cyclic(|me| {
        assert!(me.upgrade().is_none(), "the object does not exist yet");
        Parent {
            me: me.clone(),
            id: 5,
            label: "parent".to_string(),
        }
    });
    let me = p.me.upgrade().expect("upgrades once built");
    assert!(Gc::ptr_eq(&me, &p));
    assert_eq!((me.id, me.label.as_str()), (5, "parent"));
    let w = p.me.clone();
    drop((p, me));
    gc_core::collect();
    assert!(
        w.upgrade().is_none(),
        "the self-reference is weak: it does not keep it"
    );
}

/// Four threads make nodes, keep some, drop the rest, and upgrade weak references to all
/// of them while a fifth collects back to back. An upgrade must return either `None` or a
/// node whose canary is intact (a freed and reused slot would show another id's canary);
/// a kept node must always upgrade; at the end every dropped node's reference is cleared.
#[test]
fn threads_upgrade_and_drop_during_back_to_back_cycles() {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let stop = Arc::new(AtomicBool::new(false));
        let cycles = Arc::new(AtomicU64::new(0));
        let collector = {
            let (stop, cycles) = (stop.clone(), cycles.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    gc_core::collect();
                    cycles.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                std::thread::spawn(move || {
                    let mut kept = Vec::new();
                    let mut weak = Vec::new();
                    for i in 0..3000u64 {
                        let id = t << 32 | i;
                        let g = node(id);
                        weak.push((id, Gc::downgrade(&g)));
                        if i % 3 == 0 {
                            kept.push(g);
                        }
                        let (wid, w) = &weak[(mix(id) % weak.len() as u64) as usize];
                        if let Some(n) = w.upgrade() {
                            assert_eq!(
                                (n.id, n.canary),
                                (*wid, mix(*wid)),
                                "upgrade gave a freed object"
                            );
                        }
                    }
                    for g in &kept {
                        let w = Gc::downgrade(g);
                        assert!(w.upgrade().is_some(), "a kept node failed to upgrade");
                    }
                    (kept, weak)
                })
            })
            .collect();
        let results: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
        stop.store(true, Ordering::SeqCst);
        collector.join().unwrap();
        assert!(cycles.load(Ordering::SeqCst) > 0);
        let mut kept_ids = std::collections::HashSet::new();
        for (kept, _) in &results {
            kept_ids.extend(kept.iter().map(|g| g.id));
        }
        gc_core::collect();
        for (_, weak) in &results {
            for (id, w) in weak {
                match w.upgrade() {
                    Some(n) => {
                        assert!(kept_ids.contains(id), "dropped node {id:#x} still upgrades");
                        assert_eq!(n.canary, mix(*id));
                    }
                    None => assert!(!kept_ids.contains(id), "kept node {id:#x} was cleared"),
                }
            }
        }
        done_tx.send(()).unwrap();
    });
    // A hang detector only (a healthy run takes a few seconds).
    done_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the weak-reference stress test hung or panicked");
}

#[test]
fn weak_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Weak<Node>>();
}

trait Named: Trace + Send + Sync {
    fn name(&self) -> &str;
}

impl Named for Node {
    fn name(&self) -> &str {
        &self.name
    }
}

#[test]
fn weak_references_to_trait_objects() {
    let g: Gc<dyn Named> = gc_core::coerce_gc!(node(30));
    let w = Gc::downgrade(&g);
    assert_eq!(w.upgrade().expect("live").name(), "node 30");
    drop(g);
    gc_core::collect();
    assert!(w.upgrade().is_none());
}
