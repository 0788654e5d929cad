//! Objects larger than 128 KiB holding many edges, marked concurrently while other threads
//! allocate (so assists run and must leave the large objects to the background workers):
//! every edge of every large object is marked, and what they stop referencing is freed.

use gc_core::{Gc, GcCell, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};

static LEAF_DROPS: AtomicUsize = AtomicUsize::new(0);

struct Count;
impl Drop for Count {
    fn drop(&mut self) {
        LEAF_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Leaf {
    value: u64,
    #[trace(skip)]
    _count: Count,
}

/// 20,000 edges: 160 KiB, a large object of its own span.
const EDGES: usize = 20_000;

#[derive(Trace)]
struct Big {
    slots: [Option<Gc<Leaf>>; EDGES],
    next: GcCell<Option<Gc<Big>>>,
}

fn big(seed: u64) -> Gc<Big> {
    // Built on the heap: 160 KiB would strain a test thread's stack.
    let mut slots: Box<[Option<Gc<Leaf>>; EDGES]> = vec![None; EDGES]
        .into_boxed_slice()
        .try_into()
        .unwrap_or_else(|_| unreachable!());
    for (i, s) in slots.iter_mut().enumerate() {
        *s = Some(Gc::new(Leaf {
            value: seed * 1_000_000 + i as u64,
            _count: Count,
        }));
    }
    Gc::new(Big {
        slots: *slots,
        next: GcCell::new(None),
    })
}

fn check(b: &Big, seed: u64) {
    for (i, s) in b.slots.iter().enumerate() {
        assert_eq!(s.as_ref().unwrap().value, seed * 1_000_000 + i as u64);
    }
}

#[test]
fn large_objects_are_marked_while_threads_allocate() {
    let head = big(0);
    let mut tail = head.clone();
    for seed in 1..6 {
        let b = big(seed);
        *tail.next.borrow_mut() = Some(b.clone());
        tail = b;
    }
    drop(tail);
    let cycles = gc_core::mem_stats().num_gc;
    std::thread::scope(|s| {
        for t in 0..2u64 {
            s.spawn(move || {
                for i in 0..400_000u64 {
                    std::hint::black_box(Gc::new([t, i, 0, 0, 0, 0]));
                }
            });
        }
        for _ in 0..5 {
            gc_core::collect();
        }
    });
    assert!(gc_core::mem_stats().num_gc - cycles >= 5);
    let mut b = Some(head.clone());
    let mut seed = 0;
    while let Some(x) = b {
        check(&x, seed);
        b = x.next.borrow().clone();
        seed += 1;
    }
    assert_eq!(seed, 6);
    assert_eq!(
        LEAF_DROPS.load(Ordering::SeqCst),
        0,
        "a reachable leaf was freed"
    );
    // Unlink the last four: their leaves go.
    let second = head.next.borrow().clone().unwrap();
    *second.next.borrow_mut() = None;
    drop(second);
    gc_core::collect();
    gc_core::collect();
    assert_eq!(LEAF_DROPS.load(Ordering::SeqCst), 4 * EDGES);
    check(&head, 0);
}
