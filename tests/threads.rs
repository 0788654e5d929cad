//! Four threads share and drop graphs while collections run; values stay intact and what
//! is dropped is freed.

use gc_core::{Gc, GcCell, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};

static LIVE: AtomicUsize = AtomicUsize::new(0);

struct Live;
impl Live {
    fn new() -> Live {
        LIVE.fetch_add(1, Ordering::SeqCst);
        Live
    }
}
impl Drop for Live {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Node {
    id: u64,
    children: GcCell<Vec<Gc<Node>>>,
    #[trace(skip)]
    _live: Live,
}

fn node(id: u64) -> Gc<Node> {
    Gc::new(Node {
        id,
        children: GcCell::new(Vec::new()),
        _live: Live::new(),
    })
}

/// Sum of ids reachable from `root`, not walking through `stop`.
fn checksum_until(root: &Gc<Node>, stop: Option<&Gc<Node>>) -> u64 {
    let mut sum = 0;
    let mut seen = std::collections::HashSet::new();
    if let Some(s) = stop {
        seen.insert(Gc::as_ptr(s) as usize);
    }
    let mut stack = vec![root.clone()];
    while let Some(n) = stack.pop() {
        if !seen.insert(Gc::as_ptr(&n) as usize) {
            continue;
        }
        sum += n.id;
        stack.extend(n.children.borrow().iter().cloned());
    }
    sum
}

fn checksum(root: &Gc<Node>) -> u64 {
    checksum_until(root, None)
}

const ROUNDS: u64 = 1000;

#[test]
fn four_threads_share_mutate_and_drop() {
    let shared = node(0);
    let barrier = Arc::new(Barrier::new(4));
    let threads: Vec<_> = (0..4u64)
        .map(|t| {
            let shared = shared.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                for round in 0..ROUNDS {
                    // A private subtree with a back edge to the shared root (a cycle).
                    let sub = node(1);
                    for i in 0..50 {
                        let c = node(1);
                        c.children.borrow_mut().push(shared.clone());
                        if i % 7 == 0 {
                            c.children.borrow_mut().push(sub.clone());
                        }
                        sub.children.borrow_mut().push(c);
                    }
                    assert_eq!(
                        checksum_until(&sub, Some(&shared)),
                        51,
                        "thread {t} round {round}"
                    );
                    // Publish some subtrees through the shared root, drop others.
                    if round % 10 == t {
                        shared.children.borrow_mut().push(sub);
                    }
                    // Garbage, so automatic cycles run while the other threads mutate.
                    for i in 0..2000u64 {
                        std::hint::black_box(Gc::new([i; 6]));
                    }
                    if round % 100 == 99 {
                        gc_core::collect();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // Each thread published ROUNDS/10 subtrees of 51 nodes, plus the root.
    let published = 4 * ROUNDS / 10 * 51;
    assert_eq!(checksum(&shared), published);
    gc_core::collect();
    assert_eq!(LIVE.load(Ordering::SeqCst) as u64, 1 + published);
    assert!(
        gc_core::mem_stats().num_gc > 20,
        "automatic cycles ran during the test"
    );
    drop(shared);
    gc_core::collect();
    assert_eq!(LIVE.load(Ordering::SeqCst), 0);
}
