//! A thread's own shade buffer (`gc/shade.rs`): the objects a thread greys inside its root
//! operations wait in a buffer of its own until it is full, the thread allocates a span,
//! or a stop of GC operations drains it. Here a thread roots two objects the marker has not
//! reached, unlinks them from the graph, and then parks without allocating: mark
//! termination's stop must hand its buffer to the workers, or the objects would end marked
//! but unscanned, and what only they reach would be freed under the thread's handle.

mod common;

use common::{arm_gate, release_gate, wait_for_gate, with_watchdog, Gate};
use gc_core::{AtomicGc, Gc, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::channel;

static LEAF_DROPS: AtomicUsize = AtomicUsize::new(0);

/// Counts its drops.
struct Tally;
impl Drop for Tally {
    fn drop(&mut self) {
        LEAF_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Leaf {
    value: u64,
    #[trace(skip)]
    _tally: Tally,
}

/// Reached only through a `Holder`'s slot until the helper thread unlinks it.
#[derive(Trace)]
struct Parent {
    child: Gc<Leaf>,
}

#[derive(Trace)]
struct Holder {
    slot: AtomicGc<Parent>,
}

#[test]
fn a_parked_threads_shades_reach_the_marker_at_termination() {
    with_watchdog("own shade buffer", || {
        // Only the gate is rooted: the holder, the parent and the leaf are reachable
        // through it alone, and the gate's trace holds its worker during the mark.
        let gate = Gc::new(Gate {
            inner: AtomicGc::new(Some(Gc::new(Holder {
                slot: AtomicGc::new(Some(Gc::new(Parent {
                    child: Gc::new(Leaf {
                        value: 7,
                        _tally: Tally,
                    }),
                }))),
            }))),
        });
        gc_core::collect();

        let (go_tx, go_rx) = channel::<()>();
        let (took_tx, took_rx) = channel::<()>();
        let (end_tx, end_rx) = channel::<()>();
        let their_gate = gate.clone();
        let helper = std::thread::spawn(move || {
            // Registers the thread, so that its roots and shades go to its own caches.
            let warm = Gc::new(1u64);
            go_rx.recv().unwrap();
            // During the mark: the holder and the parent are white (the gate's worker is
            // held before it traced them). Rooting them greys both into this thread's
            // buffer; the parent is then unlinked, so only this handle keeps it.
            let holder = their_gate.inner.load().expect("holder");
            let parent = holder.slot.swap(None).expect("parent");
            drop(holder);
            drop(their_gate);
            took_tx.send(()).unwrap();
            // Parked, allocating nothing: no flush but a stop's.
            end_rx.recv().unwrap();
            assert_eq!(parent.child.value, 7, "the leaf under the parent");
            assert_eq!(*warm, 1);
        });

        arm_gate();
        let collector = std::thread::spawn(gc_core::collect);
        wait_for_gate();
        go_tx.send(()).unwrap();
        took_rx.recv().unwrap();
        release_gate();
        collector.join().unwrap();
        // Another full cycle: whatever the first one left unmarked is swept by now.
        gc_core::collect();
        gc_core::collect();
        assert_eq!(
            LEAF_DROPS.load(Ordering::SeqCst),
            0,
            "the leaf of an object rooted during the mark was freed"
        );

        end_tx.send(()).unwrap();
        helper.join().unwrap();
        common::collect_until(|| LEAF_DROPS.load(Ordering::SeqCst) == 1);
        drop(gate);
    });
}
