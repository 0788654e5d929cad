//! Shades taken while a mark is held open (`gc/shade.rs`, `gc/roots.rs`):
//!
//! 1. A thread's own shade buffer: the objects a thread greys inside its root operations
//!    wait in a buffer of its own until it is full, the thread allocates a span, or a stop
//!    of GC operations drains it. Here a thread roots two objects the marker has not
//!    reached, unlinks them from the graph, and then parks without allocating: mark
//!    termination's stop must hand its buffer to the workers, or the objects would end
//!    marked but unscanned, and what only they reach would be freed under the thread's
//!    handle.
//! 2. A run of handles rooted in one root operation (`Trace::root_slice`, a write guard
//!    on a list of `Gc`s): each object is shaded as its count is taken. Here a thread
//!    takes a 300-handle list out of a cell the marker has not reached: the objects are
//!    then held only by the thread's roots, which the mark's root scan never saw.
//!
//! One test, the scenarios in turn: each holds a mark worker in the shared gate.

mod common;

use common::{arm_gate, release_gate, wait_for_gate, with_watchdog, Gate, Tracker};
use gc_core::{AtomicGc, Gc, GcCell, Trace};
use std::sync::atomic::Ordering;
use std::sync::mpsc::channel;

/// The leaves are the only objects with a tracker (`common::Tracker` counts their drops).
#[derive(Trace)]
struct Leaf {
    value: u64,
    #[trace(skip)]
    _tracker: Tracker,
}

fn leaf(value: u64) -> Gc<Leaf> {
    Gc::new(Leaf {
        value,
        _tracker: Tracker::new(value),
    })
}

/// Reached only through a `Holder` until the helper thread unlinks it.
#[derive(Trace)]
struct Parent {
    child: Gc<Leaf>,
}

#[derive(Trace)]
struct Holder {
    slot: AtomicGc<Parent>,
    list: GcCell<Vec<Gc<Parent>>>,
}

fn drops() -> u64 {
    common::DROPPED.load(Ordering::SeqCst)
}

/// Runs `during` on a helper thread (registered: it allocated before) while a forced
/// cycle's mark is held at the gate, before the marker reached anything behind it; the
/// helper then parks, allocating nothing, while the cycle ends and two more run. Then
/// `check` runs on the helper, and the helper's handles are dropped.
fn during_a_held_mark<H: Send + 'static>(
    gate: &Gc<Gate<Holder>>,
    during: impl FnOnce(Gc<Holder>) -> H + Send + 'static,
    check: impl FnOnce(H) + Send + 'static,
) {
    let (go_tx, go_rx) = channel::<()>();
    let (took_tx, took_rx) = channel::<()>();
    let (end_tx, end_rx) = channel::<()>();
    let their_gate = gate.clone();
    let helper = std::thread::spawn(move || {
        // Registers the thread, so that its roots and shades go to its own caches.
        let warm = Gc::new(1u64);
        go_rx.recv().unwrap();
        let held = during(their_gate.inner.load().expect("holder"));
        drop(their_gate);
        took_tx.send(()).unwrap();
        // Parked, allocating nothing: no flush but a stop's.
        end_rx.recv().unwrap();
        check(held);
        assert_eq!(*warm, 1);
    });
    arm_gate();
    let collector = std::thread::spawn(gc_core::collect);
    wait_for_gate();
    go_tx.send(()).unwrap();
    took_rx.recv().unwrap();
    release_gate();
    collector.join().unwrap();
    // Two more full cycles: whatever the first one left unmarked is swept by now.
    gc_core::collect();
    gc_core::collect();
    end_tx.send(()).unwrap();
    helper.join().unwrap();
}

#[test]
fn shades_taken_during_a_held_mark_reach_the_marker() {
    with_watchdog("shades during a held mark", || {
        // Only the gate is rooted: the holder, the parents and the leaves are reachable
        // through it alone, and the gate's trace holds its worker during the mark.
        let gate = Gc::new(Gate {
            inner: AtomicGc::new(Some(Gc::new(Holder {
                slot: AtomicGc::new(Some(Gc::new(Parent { child: leaf(7) }))),
                list: GcCell::new(
                    (0..300)
                        .map(|i| Gc::new(Parent { child: leaf(i) }))
                        .collect(),
                ),
            }))),
        });
        gc_core::collect();

        // 1. Rooting the holder and the parent greys both into the helper's buffer; the
        // parent is then unlinked, so only the helper's handle keeps it.
        during_a_held_mark(
            &gate,
            |holder| holder.slot.swap(None).expect("parent"),
            |parent| assert_eq!(parent.child.value, 7, "the leaf under the parent"),
        );
        assert_eq!(
            drops(),
            0,
            "the leaf of an object rooted during the mark was freed"
        );
        common::collect_until(|| drops() == 1);

        // 2. The write guard roots the list's 300 handles as one run, then the list leaves
        // the cell: its parents are held by the helper's roots alone.
        during_a_held_mark(
            &gate,
            |holder| std::mem::take(&mut *holder.list.borrow_mut()),
            |list| {
                let values: Vec<u64> = list.iter().map(|p| p.child.value).collect();
                assert_eq!(
                    values,
                    (0..300).collect::<Vec<_>>(),
                    "the leaves under the list"
                );
            },
        );
        assert_eq!(
            drops(),
            1,
            "a leaf of a list rooted during the mark was freed"
        );
        common::collect_until(|| drops() == 301);
        drop(gate);
    });
}
