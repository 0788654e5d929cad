//! `Drop` runs exactly once for every unreachable object and never for a reachable one,
//! also when only allocation drives the cycles.

mod common;

use common::Counted;
use gc_core::{Gc, GcCell, Trace};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;

/// One flag per node: how many times it was dropped.
struct Tally(Arc<Vec<AtomicU8>>, usize);
impl Drop for Tally {
    fn drop(&mut self) {
        self.0[self.1].fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Node {
    edges: GcCell<Vec<Gc<Node>>>,
    #[trace(skip)]
    _tally: Tally,
}

/// xorshift: reproducible without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn reachable(roots: &[usize], edges: &[Vec<usize>]) -> Vec<bool> {
    let mut seen = vec![false; edges.len()];
    let mut stack: Vec<usize> = roots.to_vec();
    while let Some(i) = stack.pop() {
        if !seen[i] {
            seen[i] = true;
            stack.extend(&edges[i]);
        }
    }
    seen
}

#[test]
fn random_graphs_drop_exactly_the_unreachable_nodes() {
    for seed in 1..=5u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        const N: usize = 3000;
        let tally = Arc::new((0..N).map(|_| AtomicU8::new(0)).collect::<Vec<_>>());
        let nodes: Vec<Gc<Node>> = (0..N)
            .map(|i| {
                Gc::new(Node {
                    edges: GcCell::new(Vec::new()),
                    _tally: Tally(tally.clone(), i),
                })
            })
            .collect();
        let mut model: Vec<Vec<usize>> = vec![Vec::new(); N];
        for _ in 0..N * 2 {
            let (a, b) = (rng.below(N), rng.below(N));
            nodes[a].edges.borrow_mut().push(nodes[b].clone());
            model[a].push(b);
        }
        // Keep a random tenth as roots.
        let roots: Vec<usize> = (0..N / 10).map(|_| rng.below(N)).collect();
        let kept: Vec<Gc<Node>> = roots.iter().map(|&i| nodes[i].clone()).collect();
        drop(nodes);
        gc_core::collect();
        let live = reachable(&roots, &model);
        for i in 0..N {
            let d = tally[i].load(Ordering::SeqCst);
            assert_eq!(
                d,
                u8::from(!live[i]),
                "seed {seed} node {i} live={} drops={d}",
                live[i]
            );
        }
        // Reachable nodes still hold their edges.
        for (&r, g) in roots.iter().zip(&kept) {
            assert_eq!(g.edges.borrow().len(), model[r].len());
        }
        drop(kept);
        gc_core::collect();
        assert!(
            tally.iter().all(|t| t.load(Ordering::SeqCst) == 1),
            "seed {seed}: every node dropped once"
        );
    }
}

#[derive(Trace)]
struct Dropped {
    #[trace(skip)]
    _c: Counted,
}

/// A few objects with a `Drop` (fewer than the dropper's wake-up batch) die and the program
/// only allocates: the cycles that allocation starts must get their drops run, with no
/// `collect()` to run them.
#[test]
fn drops_run_when_only_allocation_drives_cycles() {
    common::with_watchdog("drops without collect()", || {
        let drops = Arc::new(AtomicUsize::new(0));
        // First a dropper thread is started (by the first queued drop) and left idle.
        drop(Gc::new(Dropped {
            _c: Counted(drops.clone()),
        }));
        gc_core::collect();
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "collect() ran the first drop"
        );
        let drops = Arc::new(AtomicUsize::new(0));
        const N: usize = 5;
        for _ in 0..N {
            drop(Gc::new(Dropped {
                _c: Counted(drops.clone()),
            }));
        }
        while drops.load(Ordering::SeqCst) < N {
            for i in 0..10_000u64 {
                std::hint::black_box(Gc::new([i; 8]));
            }
        }
        assert_eq!(drops.load(Ordering::SeqCst), N);
    });
}
