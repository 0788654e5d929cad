//! `mem_stats()` follows Go's definitions and is exact after `collect()`. One test function:
//! the heap is process-wide, so parallel tests in this binary would disturb the counts.

use gc_core::{Gc, GcCell, Trace};

#[derive(Trace)]
struct Pair {
    a: Option<Gc<Pair>>,
    b: Option<Gc<Pair>>,
}

/// Two cells and a word: 40 bytes, which has a size class of its own here (Go's classes
/// would round it up to 48).
#[derive(Trace)]
struct Node40 {
    left: GcCell<Option<Gc<Node40>>>,
    right: GcCell<Option<Gc<Node40>>>,
    n: u64,
}

#[test]
fn counts_are_exact_after_collect() {
    gc_core::collect();
    let base = gc_core::mem_stats();
    assert_eq!(base.heap_objects, base.mallocs - base.frees);
    assert_eq!(base.heap_sys, base.heap_inuse + base.heap_idle);

    // 10,000 Pairs (16 bytes: size class 2) kept, 10,000 dropped.
    let kept: Vec<Gc<Pair>> = (0..10_000)
        .map(|_| Gc::new(Pair { a: None, b: None }))
        .collect();
    for _ in 0..10_000 {
        drop(Gc::new(Pair { a: None, b: None }));
    }
    // One large object (40,000 bytes -> 5 pages).
    let big = Gc::new([7u8; 40_000]);
    let s = gc_core::mem_stats();
    assert_eq!(s.mallocs - base.mallocs, 20_001);
    assert_eq!(s.total_alloc - base.total_alloc, 20_000 * 16 + 5 * 8192);
    assert_eq!(s.by_size[2].mallocs - base.by_size[2].mallocs, 20_000);
    assert_eq!(
        s.by_size[0].mallocs - base.by_size[0].mallocs,
        1,
        "large objects are class 0"
    );

    gc_core::collect();
    let s = gc_core::mem_stats();
    assert_eq!(
        s.frees - base.frees,
        10_000,
        "exactly the dropped objects were freed"
    );
    assert_eq!(s.heap_objects - base.heap_objects, 10_001);
    assert_eq!(s.heap_alloc - base.heap_alloc, 10_000 * 16 + 5 * 8192);
    assert_eq!(s.num_forced_gc - base.num_forced_gc, 1);
    assert!(s.num_gc > base.num_gc);
    assert!(s.last_gc >= base.last_gc && s.last_gc > 0);
    assert!(s.pause_total_ns >= base.pause_total_ns);
    let last = s.pause_ns[((s.num_gc + 255) % 256) as usize];
    assert!(last > 0 && s.pause_total_ns - base.pause_total_ns >= last);
    assert!(s.heap_inuse >= s.heap_alloc);
    assert_eq!(s.heap_sys, s.heap_inuse + s.heap_idle);
    assert!(s.sys >= s.heap_sys);
    assert!(s.next_gc >= 4 << 20);
    assert!((0.0..=1.0).contains(&s.gc_cpu_fraction));
    assert_eq!(big[39_999], 7);

    drop((kept, big));
    gc_core::collect();
    let s = gc_core::mem_stats();
    assert_eq!(
        s.heap_objects, base.heap_objects,
        "everything allocated here was freed"
    );
    assert_eq!(s.heap_alloc, base.heap_alloc);

    // A thread's cache goes back to the central lists when the thread exits, so its
    // allocations are counted although the thread is gone.
    let base = gc_core::mem_stats();
    let from_thread =
        std::thread::spawn(|| (0..1000u64).map(|i| Gc::new([i, i])).collect::<Vec<_>>())
            .join()
            .unwrap();
    let s = gc_core::mem_stats();
    assert_eq!(s.by_size[2].mallocs - base.by_size[2].mallocs, 1000);
    assert_eq!(s.heap_objects - base.heap_objects, 1000);
    assert!(from_thread
        .iter()
        .enumerate()
        .all(|(i, g)| g[1] == i as u64));
    drop(from_thread);

    // A 40-byte object takes 40 bytes: its own class, counted there and in total_alloc.
    assert_eq!(std::mem::size_of::<Node40>(), 40);
    let class40 = base
        .by_size
        .iter()
        .position(|c| c.size == 40)
        .expect("a 40-byte size class");
    let base = gc_core::mem_stats();
    let nodes: Vec<Gc<Node40>> = (0..1000u64)
        .map(|n| {
            Gc::new(Node40 {
                left: GcCell::new(None),
                right: GcCell::new(None),
                n,
            })
        })
        .collect();
    nodes[0].left.set(Some(nodes[1].clone()));
    let s = gc_core::mem_stats();
    assert_eq!(
        s.by_size[class40].mallocs - base.by_size[class40].mallocs,
        1000
    );
    assert_eq!(s.total_alloc - base.total_alloc, 1000 * 40);
    assert_eq!(nodes[0].left.borrow().as_ref().unwrap().n, 1);
    drop(nodes);

    // set_gc_percent returns the old value and moves the goal with it.
    assert_eq!(gc_core::set_gc_percent(200), 100);
    gc_core::collect();
    let g200 = gc_core::mem_stats().next_gc;
    assert_eq!(gc_core::set_gc_percent(100), 200);
    gc_core::collect();
    let g100 = gc_core::mem_stats().next_gc;
    assert!(
        g200 >= 2 * g100 - 1,
        "goal {g200} at GOGC=200 vs {g100} at 100"
    );
    assert_eq!(gc_core::set_gc_percent(-1), 100);
    assert_eq!(gc_core::set_gc_percent(100), -1, "off reads back as -1");
}
