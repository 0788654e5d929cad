//! Allocation benches: `Gc::new` against `Box::new` and `Arc::new`.
//!
//! ```text
//! cargo bench --bench alloc -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every case does 1000 operations per iteration (criterion's reported time is per 1000;
//! the throughput line gives elements per second):
//!
//! - `new_8`, `new_16`, `new_64`, `new_256` / `gc|box|arc`: allocate 1000 `[u64; N/8]`
//!   (a noscan value for `Gc`) into a reused `Vec`, then drop them all. The `gc` figure
//!   includes the collection cycles that the garbage triggers (amortised), the `box`/`arc`
//!   figures the `free` calls.
//! - `new_node` / `gc|box|arc`: build and drop a complete binary tree of 1023 binary-trees
//!   nodes (two child pointers, 16-byte payload), bottom-up (the element count is 1023).
//! - `new_cell_node` / `gc|box`: allocate 1000 GCBench nodes (two empty children and two
//!   `i32`s, as `examples/gcbench.rs` builds them: `GcCell<Option<Gc<_>>>` children, 40
//!   bytes; `RefCell<Option<Box<_>>>` for `box`, 40 bytes) into a reused `Vec`, then drop
//!   them all.
//! - `clone_drop` / `gc|arc`: clone a handle and drop the clone, 1000 times.
//! - `new_node_threads` / `gc|box` `threads=N` (N = 1, 2, 4, 8): N threads each build and
//!   drop 16 trees of 1023 nodes per iteration; time per iteration is the wall time of the
//!   slowest thread (all start together), throughput counts every thread's nodes. On a
//!   machine with fewer than N cores the threads share them.
//! - `dyn_from_box` / `gc_from_box|gc_coerce|arc_from_box`: 1000 trait objects (a 32-byte
//!   value) made from a `Box<dyn Shape>` (`Gc::from`, `Arc::from`: allocate the box, move
//!   the value, free the box) or with `coerce_gc!(Gc::new(..))` (no box), then dropped.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gc_core::{Gc, GcCell, Trace};
use std::cell::RefCell;
use std::sync::Arc;

const BATCH: usize = 1000;

fn new_size<const W: usize>(c: &mut Criterion, bytes: usize) {
    let mut g = c.benchmark_group(format!("new_{bytes}"));
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function(BenchmarkId::from_parameter("box"), |b| {
        let mut v: Vec<Box<[u64; W]>> = Vec::with_capacity(BATCH);
        b.iter(|| {
            for i in 0..BATCH {
                v.push(Box::new(black_box([i as u64; W])));
            }
            black_box(&v);
            v.clear();
        })
    });
    g.bench_function(BenchmarkId::from_parameter("arc"), |b| {
        let mut v: Vec<Arc<[u64; W]>> = Vec::with_capacity(BATCH);
        b.iter(|| {
            for i in 0..BATCH {
                v.push(Arc::new(black_box([i as u64; W])));
            }
            black_box(&v);
            v.clear();
        })
    });
    g.bench_function(BenchmarkId::from_parameter("gc"), |b| {
        let mut v: Vec<Gc<[u64; W]>> = Vec::with_capacity(BATCH);
        b.iter(|| {
            for i in 0..BATCH {
                v.push(Gc::new(black_box([i as u64; W])));
            }
            black_box(&v);
            v.clear();
        })
    });
    g.finish();
}

fn new_sizes(c: &mut Criterion) {
    new_size::<1>(c, 8);
    new_size::<2>(c, 16);
    new_size::<8>(c, 64);
    new_size::<32>(c, 256);
}

macro_rules! tree {
    ($m:ident, $ptr:ident, $($derive:ident)?) => {
        mod $m {
            #[allow(unused_imports)]
            use super::*;
            $(#[derive($derive)])?
            #[allow(dead_code)] // the children are only dropped, never read
            pub struct Node {
                pub left: Option<$ptr<Node>>,
                pub right: Option<$ptr<Node>>,
            }
            pub fn bottom_up(depth: u32) -> $ptr<Node> {
                if depth == 0 {
                    $ptr::new(Node { left: None, right: None })
                } else {
                    $ptr::new(Node { left: Some(bottom_up(depth - 1)), right: Some(bottom_up(depth - 1)) })
                }
            }
        }
    };
}

tree!(gc_tree, Gc, Trace);
tree!(box_tree, Box,);
tree!(arc_tree, Arc,);

const TREE_DEPTH: u32 = 9; // 1023 nodes

fn new_node(c: &mut Criterion) {
    let mut g = c.benchmark_group("new_node");
    g.throughput(Throughput::Elements((1 << (TREE_DEPTH + 1)) - 1));
    g.bench_function(BenchmarkId::from_parameter("box"), |b| {
        b.iter(|| drop(black_box(box_tree::bottom_up(black_box(TREE_DEPTH)))))
    });
    g.bench_function(BenchmarkId::from_parameter("arc"), |b| {
        b.iter(|| drop(black_box(arc_tree::bottom_up(black_box(TREE_DEPTH)))))
    });
    g.bench_function(BenchmarkId::from_parameter("gc"), |b| {
        b.iter(|| drop(black_box(gc_tree::bottom_up(black_box(TREE_DEPTH)))))
    });
    g.finish();
}

fn clone_drop(c: &mut Criterion) {
    let mut g = c.benchmark_group("clone_drop");
    g.throughput(Throughput::Elements(BATCH as u64));
    let a = Arc::new([7u64; 2]);
    g.bench_function(BenchmarkId::from_parameter("arc"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                drop(black_box(Arc::clone(black_box(&a))));
            }
        })
    });
    let h = Gc::new([7u64; 2]);
    g.bench_function(BenchmarkId::from_parameter("gc"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                drop(black_box(Gc::clone(black_box(&h))));
            }
        })
    });
    g.finish();
}

/// A trait-object type (no methods are called: only the conversions are measured).
trait Shape: Trace + Send + Sync {}

#[derive(Trace)]
struct Quad([f64; 4]);

impl Shape for Quad {}

fn dyn_from_box(c: &mut Criterion) {
    let mut g = c.benchmark_group("dyn_from_box");
    g.throughput(Throughput::Elements(BATCH as u64));
    let mut v: Vec<Gc<dyn Shape>> = Vec::with_capacity(BATCH);
    g.bench_function(BenchmarkId::from_parameter("gc_from_box"), |b| {
        b.iter(|| {
            for i in 0..BATCH {
                let boxed: Box<dyn Shape> = Box::new(Quad([i as f64; 4]));
                v.push(Gc::from(black_box(boxed)));
            }
            v.clear();
        })
    });
    g.bench_function(BenchmarkId::from_parameter("gc_coerce"), |b| {
        b.iter(|| {
            for i in 0..BATCH {
                v.push(gc_core::coerce_gc!(Gc::new(black_box(Quad([i as f64; 4])))));
            }
            v.clear();
        })
    });
    let mut a: Vec<Arc<dyn Shape>> = Vec::with_capacity(BATCH);
    g.bench_function(BenchmarkId::from_parameter("arc_from_box"), |b| {
        b.iter(|| {
            for i in 0..BATCH {
                let boxed: Box<dyn Shape> = Box::new(Quad([i as f64; 4]));
                a.push(Arc::from(black_box(boxed)));
            }
            a.clear();
        })
    });
    g.finish();
}

#[derive(Trace)]
#[allow(dead_code)] // built and dropped, never read
struct GcCellNode {
    left: GcCell<Option<Gc<GcCellNode>>>,
    right: GcCell<Option<Gc<GcCellNode>>>,
    i: i32,
    j: i32,
}

#[allow(dead_code)] // built and dropped, never read
struct BoxCellNode {
    left: RefCell<Option<Box<BoxCellNode>>>,
    right: RefCell<Option<Box<BoxCellNode>>>,
    i: i32,
    j: i32,
}

fn new_cell_node(c: &mut Criterion) {
    let mut g = c.benchmark_group("new_cell_node");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function(BenchmarkId::from_parameter("box"), |b| {
        let mut v = Vec::with_capacity(BATCH);
        b.iter(|| {
            for i in 0..BATCH {
                v.push(Box::new(BoxCellNode {
                    left: RefCell::new(None),
                    right: RefCell::new(None),
                    i: black_box(i as i32),
                    j: 0,
                }));
            }
            black_box(&v);
            v.clear();
        })
    });
    g.bench_function(BenchmarkId::from_parameter("gc"), |b| {
        let mut v = Vec::with_capacity(BATCH);
        b.iter(|| {
            for i in 0..BATCH {
                v.push(Gc::new(GcCellNode {
                    left: GcCell::new(None),
                    right: GcCell::new(None),
                    i: black_box(i as i32),
                    j: 0,
                }));
            }
            black_box(&v);
            v.clear();
        })
    });
    g.finish();
}

/// `threads` threads each run `work` `per_thread` times, all started together; returns the
/// wall time from the start signal to the last thread's end.
fn in_threads(threads: usize, per_thread: u64, work: fn()) -> std::time::Duration {
    let start = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                start.wait();
                for _ in 0..per_thread {
                    work();
                }
            });
        }
        start.wait();
        let t = std::time::Instant::now();
        // The scope joins every thread before returning.
        t
    })
    .elapsed()
}

fn new_node_threads(c: &mut Criterion) {
    const TREES: u64 = 16;
    let mut g = c.benchmark_group("new_node_threads");
    for threads in [1usize, 2, 4, 8] {
        let nodes = ((1u64 << (TREE_DEPTH + 1)) - 1) * TREES * threads as u64;
        g.throughput(Throughput::Elements(nodes));
        let id = |name: &str| BenchmarkId::new(name, format!("threads={threads}"));
        g.bench_function(id("box"), |b| {
            b.iter_custom(|iters| {
                in_threads(threads, iters * TREES, || {
                    drop(black_box(box_tree::bottom_up(black_box(TREE_DEPTH))))
                })
            })
        });
        g.bench_function(id("gc"), |b| {
            b.iter_custom(|iters| {
                in_threads(threads, iters * TREES, || {
                    drop(black_box(gc_tree::bottom_up(black_box(TREE_DEPTH))))
                })
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    new_sizes,
    new_node,
    new_cell_node,
    new_node_threads,
    clone_drop,
    dyn_from_box
);
criterion_main!(benches);
