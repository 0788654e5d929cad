//! Cells inside cells, written from several threads while collections run: inner cells are
//! listed as dirty by direct writes, then unlisted and moved (a `Vec` reallocation) by writes
//! to the enclosing cell, racing the unroot pass. Every leaf must stay intact, and every
//! leaf must be dropped exactly once in the end.

use gc_core::{Gc, GcCell, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

static LIVE_LEAVES: AtomicUsize = AtomicUsize::new(0);

struct LeafCount;
impl Drop for LeafCount {
    fn drop(&mut self) {
        LIVE_LEAVES.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Leaf {
    value: u64,
    check: u64,
    #[trace(skip)]
    _count: LeafCount,
}

fn leaf(value: u64) -> Gc<Leaf> {
    LIVE_LEAVES.fetch_add(1, Ordering::SeqCst);
    Gc::new(Leaf {
        value,
        check: !value,
        _count: LeafCount,
    })
}

fn assert_leaf(l: &Leaf) {
    assert_eq!(l.check, !l.value, "leaf corrupted (freed while reachable?)");
}

#[derive(Trace)]
struct Outer {
    slots: GcCell<Vec<GcCell<Option<Gc<Leaf>>>>>,
}

const THREADS: u64 = 4;
const ROUNDS: u64 = 3000;
const MIN_COLLECTIONS: usize = 20;

#[test]
fn nested_cells_survive_concurrent_writes_and_unroot_passes() {
    let outer = Gc::new(Outer {
        slots: GcCell::new((0..8).map(|i| GcCell::new(Some(leaf(i)))).collect()),
    });
    let cycles_before = gc_core::mem_stats().num_gc;
    let done = Arc::new(AtomicUsize::new(0));
    // Collections run concurrently with the writers; they keep writing until enough have
    // completed, whatever the relative speeds.
    let collections = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..THREADS)
        .map(|t| {
            let outer = outer.clone();
            let done = done.clone();
            let collections = collections.clone();
            std::thread::spawn(move || {
                let mut seed = t + 1;
                for round in 0.. {
                    if round >= ROUNDS && collections.load(Ordering::SeqCst) >= MIN_COLLECTIONS {
                        break;
                    }
                    seed = seed
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    match (seed >> 33) % 4 {
                        // Write one inner cell through a shared borrow of the outer one.
                        0 | 1 => {
                            let slots = outer.slots.borrow();
                            let i = (seed >> 40) as usize % slots.len();
                            let old = slots[i].borrow_mut().replace(leaf(round));
                            if let Some(l) = old {
                                assert_leaf(&l);
                            }
                        }
                        // Grow the outer vector (moves every inner cell) or shrink it.
                        2 => {
                            let mut slots = outer.slots.borrow_mut();
                            if slots.len() < 64 {
                                slots.push(GcCell::new(Some(leaf(round))));
                                slots.shrink_to_fit();
                            } else {
                                let i = (seed >> 40) as usize % slots.len();
                                let moved = slots.swap_remove(i);
                                if let Some(l) = moved.into_inner() {
                                    assert_leaf(&l);
                                }
                            }
                        }
                        // Read everything.
                        _ => {
                            for s in outer.slots.borrow().iter() {
                                if let Some(l) = s.borrow().as_ref() {
                                    assert_leaf(l);
                                }
                            }
                        }
                    }
                    // Garbage to keep automatic cycles coming.
                    for i in 0..200u64 {
                        std::hint::black_box(Gc::new([i; 3]));
                    }
                }
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    while done.load(Ordering::SeqCst) < THREADS as usize {
        gc_core::collect();
        collections.fetch_add(1, Ordering::SeqCst);
        std::thread::yield_now();
    }
    for w in writers {
        w.join().unwrap();
    }
    gc_core::collect();
    let cycles = gc_core::mem_stats().num_gc - cycles_before;
    assert!(
        cycles as usize >= MIN_COLLECTIONS,
        "only {cycles} cycles ran during the writes"
    );
    let in_slots = outer
        .slots
        .borrow()
        .iter()
        .filter(|s| s.borrow().is_some())
        .count();
    assert_eq!(
        LIVE_LEAVES.load(Ordering::SeqCst),
        in_slots,
        "exactly the reachable leaves are alive"
    );
    drop(outer);
    gc_core::collect();
    assert_eq!(LIVE_LEAVES.load(Ordering::SeqCst), 0);
}
