//! Deferred root counts (`gc-core/src/gc/root_cache.rs`): a handle cloned on one thread
//! has its root count pending in that thread's cache until the next stop of GC operations.
//! The hostile case is the handle leaving the thread before that: it is dropped elsewhere,
//! where the counter may read 0 (the decrement is then owed), while the object's only other
//! reference is gone. The object must stay alive while the handle does, and be freed once
//! it is gone: no lost root, no leaked count.

#![cfg(debug_assertions)] // `root_count_for_test` exists in debug builds only

mod common;

use common::{with_watchdog, Tracker, ALIVE, BAD_DROPS};
use gc_core::__private::root_count_for_test;
use gc_core::{Gc, GcCell, Trace};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

#[derive(Trace)]
struct Leaf {
    #[trace(skip)]
    tracker: Tracker,
}

/// A heap cell holding the leaf: the leaf's only reference is an edge, so its counter is 0.
fn holder_of(leaf: Gc<Leaf>) -> Gc<GcCell<Option<Gc<Leaf>>>> {
    Gc::new(GcCell::new(Some(leaf)))
}

#[test]
fn a_clone_dropped_on_another_thread_settles_at_the_next_stop() {
    with_watchdog("owed decrement", || {
        let holder = holder_of(Gc::new(Leaf {
            tracker: Tracker::new(1),
        }));
        let inner = holder.borrow().clone().unwrap(); // pending in this thread's cache
        let weak = Gc::downgrade(&inner);
        // Dropped on a thread that has a root cache of its own (it allocated) but no
        // pending root for the leaf: its counter may read 0, and the decrement is owed.
        std::thread::spawn(move || {
            let _registered = Gc::new(0u64);
            drop(inner);
        })
        .join()
        .unwrap();
        gc_core::collect(); // the stop applies the pending root, then pays the debt
        let leaf = holder.borrow().clone().unwrap();
        assert_eq!(leaf.tracker.state(), ALIVE ^ 1, "the leaf survived");
        assert_eq!(root_count_for_test(&leaf), 1, "only `leaf` is counted now");
        drop(leaf);
        *holder.borrow_mut() = None;
        gc_core::collect();
        gc_core::collect();
        assert!(
            weak.upgrade().is_none(),
            "no count was leaked: the leaf is gone"
        );
    });
}

#[test]
fn clones_sent_away_keep_their_objects_alive_under_concurrent_cycles() {
    with_watchdog("clones sent away", || {
        const ROUNDS: u64 = 4_000;
        let stop = Arc::new(AtomicBool::new(false));
        let collector = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    gc_core::collect();
                }
            })
        };
        let (tx, rx) = mpsc::sync_channel::<(u64, Gc<Leaf>)>(64);
        let receiver = std::thread::spawn(move || {
            let mut weaks = Vec::new();
            for (id, leaf) in rx {
                if id % 8 == 0 {
                    // A whole cycle while this handle is the leaf's only reference and its
                    // count may still be pending on the sender's thread; then objects of the
                    // leaf's size, which would take its slot had it been freed.
                    gc_core::collect();
                }
                let _churn: Vec<Gc<[u64; 2]>> = (0..64).map(|i| Gc::new([i; 2])).collect();
                assert_eq!(
                    leaf.tracker.state(),
                    ALIVE ^ id,
                    "leaf {id} freed while held"
                );
                if id % 1000 == 0 {
                    weaks.push(Gc::downgrade(&leaf));
                }
            }
            weaks
        });
        let holder: Gc<GcCell<Option<Gc<Leaf>>>> = Gc::new(GcCell::new(None));
        for id in 0..ROUNDS {
            *holder.borrow_mut() = Some(Gc::new(Leaf {
                tracker: Tracker::new(id),
            }));
            // The clone's root is pending here; then the edge goes, so the clone is the
            // leaf's only reference, and it leaves the thread.
            let leaf = holder.borrow().clone().unwrap();
            *holder.borrow_mut() = None;
            tx.send((id, leaf)).unwrap();
        }
        drop(tx);
        let weaks = receiver.join().unwrap();
        stop.store(true, Ordering::SeqCst);
        collector.join().unwrap();
        gc_core::collect();
        gc_core::collect();
        for w in &weaks {
            assert!(
                w.upgrade().is_none(),
                "a leaf outlived its handles: a count leaked"
            );
        }
        assert_eq!(BAD_DROPS.load(Ordering::SeqCst), 0);
    });
}

/// A list of clones whose roots are still pending on this thread, moved into a new object
/// on another thread: that thread's move-in makes the list's handles edges in runs
/// (`Trace::unroot_slice`), a counter word at a time, and its counters read 0 for the
/// clones whose roots are pending here, so those decrements are owed (to the right
/// objects: a debt paid to the wrong counter is fatal in this build). The next stop pays
/// them; the leaves stay alive while the list holds them and are freed with it.
#[test]
fn a_list_moved_in_on_another_thread_owes_its_pending_counts() {
    with_watchdog("owed decrements of a run", || {
        const N: u64 = 600;
        let holders: Vec<_> = (0..N)
            .map(|id| {
                holder_of(Gc::new(Leaf {
                    tracker: Tracker::new(id),
                }))
            })
            .collect();
        // Clones whose roots are pending in this thread's cache (some pushed out to their
        // counters by others: both ways are checked).
        let clones: Vec<Gc<Leaf>> = holders
            .iter()
            .map(|h| h.borrow().clone().unwrap())
            .collect();
        let weaks: Vec<_> = clones.iter().map(Gc::downgrade).collect();
        let list = std::thread::spawn(move || Gc::new(clones)).join().unwrap();
        gc_core::collect(); // applies the pending roots, then pays the debts
        for h in &holders {
            *h.borrow_mut() = None;
        }
        gc_core::collect();
        for (id, leaf) in list.iter().enumerate() {
            assert_eq!(leaf.tracker.state(), ALIVE ^ id as u64, "leaf {id} freed");
            assert_eq!(root_count_for_test(leaf), 0, "leaf {id}: a count was left");
        }
        drop(list);
        gc_core::collect();
        gc_core::collect();
        assert!(
            weaks.iter().all(|w| w.upgrade().is_none()),
            "a leaf outlived its list: a count leaked"
        );
        assert_eq!(BAD_DROPS.load(Ordering::SeqCst), 0);
    });
}
