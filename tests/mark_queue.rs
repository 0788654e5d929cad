//! Grey objects that a draining thread holds outside every queue are never lost.
//!
//! `drain` (gc-core/src/gc/drain.rs) keeps up to 16 grey objects in its prefetch FIFO
//! (`gc/prefetch_fifo.rs`) while their cache lines load, besides its tracer buffer. A mark
//! assist stops draining as soon as its debt is paid, with objects still in both: they
//! must go back where the rest of the mark finds them, or everything behind them stays
//! white while reachable. The child builds a tree whose parents and children lie far
//! apart in memory (the FIFO's case: every edge leaves the cache line), then allocates
//! garbage fast enough that assists run during the marks, under `GODEBUG=gccheckmark=1`:
//! after every mark the world is stopped and the heap re-marked from scratch, and an
//! object the concurrent mark missed aborts the child with its type. The parent checks
//! that the child finished, that its tree is whole, and that assists really scanned.
//!
//! Run the child by hand: `GC_CORE_TEST_CHILD=1 GODEBUG=gccheckmark=1,gctrace=1 GOGC=25
//! GOMAXPROCS=2 cargo test --test mark_queue -- --exact child_scattered_tree
//! --nocapture`.

mod common;

use common::child::{is_child, run};
use common::field;
use gc_core::{Gc, GcCell, Trace};

#[derive(Trace)]
struct Node {
    kids: [GcCell<Option<Gc<Node>>>; 2],
    value: u64,
}

fn node(value: u64) -> Gc<Node> {
    Gc::new(Node {
        kids: [GcCell::new(None), GcCell::new(None)],
        value,
    })
}

/// Nodes in the tree: 100,000 nodes of 48 bytes, about 5 MB live.
const NODES: usize = 100_000;
/// Garbage nodes allocated after the tree is built (about 170 MB in all).
const GARBAGE: usize = 3_500_000;

/// A xorshift generator: the test needs a fixed scatter, not good randomness.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// The tree: nodes allocated in index order, linked as a binary heap over a shuffled order,
/// so a parent and its children are a random distance apart. Returns the root.
fn scattered_tree() -> Gc<Node> {
    let nodes: Vec<Gc<Node>> = (0..NODES as u64).map(node).collect();
    let mut order: Vec<usize> = (0..NODES).collect();
    let mut rng = 0x9E37_79B9_7F4A_7C15;
    for i in (1..NODES).rev() {
        order.swap(i, next(&mut rng) as usize % (i + 1));
    }
    for (i, &at) in order.iter().enumerate() {
        for (k, cell) in nodes[at].kids.iter().enumerate() {
            if let Some(&kid) = order.get(2 * i + 1 + k) {
                cell.set(Some(nodes[kid].clone()));
            }
        }
    }
    nodes[order[0]].clone()
}

/// Counts the nodes reachable from `root` and sums their values.
fn census(root: &Gc<Node>) -> (u64, u64) {
    let (mut count, mut sum) = (0, 0);
    let mut stack = vec![root.clone()];
    while let Some(n) = stack.pop() {
        count += 1;
        sum += n.value;
        for cell in &n.kids {
            stack.extend(cell.borrow().clone());
        }
    }
    (count, sum)
}

#[test]
fn child_scattered_tree() {
    if !is_child() {
        return;
    }
    let root = scattered_tree();
    // Garbage in short chains: the marks run while this allocates, so this thread assists.
    let mut last = None;
    for i in 0..GARBAGE {
        let n = node(i as u64);
        if i % 8 != 0 {
            n.kids[0].set(last.take());
        }
        last = Some(n);
    }
    drop(last);
    gc_core::collect();
    let (count, sum) = census(&root);
    println!("NODES={count} SUM={sum}");
}

#[test]
fn assists_that_stop_early_lose_no_grey_object() {
    if is_child() {
        return;
    }
    let run = run(
        "child_scattered_tree",
        &[
            ("GODEBUG", b"gccheckmark=1,gctrace=1"),
            ("GOGC", b"25"),
            ("GOMAXPROCS", b"2"),
        ],
        &[],
    );
    assert!(
        run.status.success(),
        "the child failed ({:?}): a reachable object was left white?\n{}",
        run.status,
        run.stderr
    );
    let n = NODES as u64;
    assert_eq!(field(&run.stdout, "NODES="), n, "{}", run.stdout);
    assert_eq!(field(&run.stdout, "SUM="), n * (n - 1) / 2);
    // gctrace's cpu field: `a+b/c/d+e ms cpu`, with `b` the mark assists' time.
    let (mut cycles, mut assist_ms) = (0, 0.0);
    for line in run.stderr.lines().filter(|l| l.starts_with("gc ")) {
        let cpu = line
            .split(", ")
            .find(|f| f.ends_with(" ms cpu"))
            .unwrap_or_else(|| panic!("no cpu field in {line}"));
        let assist: f64 = cpu
            .split('+')
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        cycles += 1;
        assist_ms += assist;
    }
    assert!(cycles >= 20, "only {cycles} cycles:\n{}", run.stderr);
    assert!(
        assist_ms > 0.0,
        "no cycle had assists: the case under test never ran"
    );
    eprintln!("{cycles} cycles, {assist_ms:.1} ms of assists");
}
