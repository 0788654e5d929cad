//! The write barrier and allocate-black, exercised while a mark is certainly in progress: a
//! gate object's `Trace` impl holds one mark worker inside the cycle while this thread
//! allocates, moves the only edge to an object, and stores new objects into a part of the
//! graph the marker has not reached or has already passed. Nothing reachable may be dropped;
//! what became unreachable must be dropped by the next cycle.

mod common;

use common::{arm_gate, release_gate, wait_for_gate, Gate};
use gc_core::{AtomicGc, Gc, GcCell, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};

static DROPS: [AtomicUsize; 8] = [const { AtomicUsize::new(0) }; 8];

/// Counts drops of leaf `i`.
struct Tally(usize);
impl Drop for Tally {
    fn drop(&mut self) {
        DROPS[self.0].fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Leaf {
    value: u64,
    #[trace(skip)]
    _tally: Tally,
}

fn leaf(i: usize) -> Gc<Leaf> {
    Gc::new(Leaf {
        value: 1000 + i as u64,
        _tally: Tally(i),
    })
}

#[derive(Trace)]
struct Node {
    slot: AtomicGc<Leaf>,
    cell: GcCell<Vec<Gc<Leaf>>>,
}

fn drops(i: usize) -> usize {
    DROPS[i].load(Ordering::SeqCst)
}

#[test]
fn barrier_and_allocate_black_during_a_mark() {
    // Only the gate is rooted; the node and the leaves are reachable through it alone.
    let gate = Gc::new(Gate {
        inner: AtomicGc::new(Some(Gc::new(Node {
            slot: AtomicGc::new(Some(leaf(0))),
            cell: GcCell::new(vec![leaf(1)]),
        }))),
    });
    gc_core::collect();
    // Give this thread's cache a span for leaves now, so the leaves allocated during the
    // mark come from it without a refill: a refill while marking charges an assist, which
    // would wait for the held worker's progress.
    let warm = leaf(5);

    arm_gate();
    let collector = std::thread::spawn(gc_core::collect);
    wait_for_gate();
    // The mark is in progress and the node is not scanned yet (only the gate leads to it,
    // and the gate's worker is held). Move leaf 0 out of the slot into the cell, and leaf 1
    // out of the cell into the slot: each leaf's only edge moves to where the marker may
    // already have looked. New leaves (black) replace and join them.
    {
        let node = gate.inner.load().expect("node");
        let l0 = node.slot.swap(Some(leaf(2))).expect("leaf 0");
        let l1 = std::mem::replace(&mut node.cell.borrow_mut()[0], l0);
        node.slot.store(Some(l1));
        node.cell.borrow_mut().push(leaf(3));
        // Leaf 4 is allocated and dropped during the mark: black, so it survives this cycle
        // as floating garbage and is freed by the next.
        drop(leaf(4));
        // Leaf 2 was stored and is overwritten again: unreachable after this cycle.
    }
    release_gate();
    collector.join().unwrap();

    gc_core::collect();
    let node = gate.inner.load().expect("node");
    assert_eq!(node.slot.load().expect("leaf 1").value, 1001);
    let cell = node.cell.borrow();
    assert_eq!(
        cell.iter().map(|l| l.value).collect::<Vec<_>>(),
        [1000, 1003]
    );
    for i in [0, 1, 3] {
        assert_eq!(drops(i), 0, "reachable leaf {i} was dropped");
    }
    assert_eq!(drops(2), 1, "leaf 2, overwritten, is freed");
    assert_eq!(drops(4), 1, "leaf 4, dropped during the mark, is freed");
    assert_eq!(warm.value, 1005);
}
