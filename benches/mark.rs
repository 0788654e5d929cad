//! Marking throughput: `gc_core::collect()` over a live graph of known size, with no garbage.
//!
//! ```text
//! cargo bench --bench mark -- --warm-up-time 1 --measurement-time 3
//! GOMAXPROCS=1 cargo bench --bench mark -- --warm-up-time 1 --measurement-time 3   # 1 worker
//! GOMAXPROCS=2 cargo bench --bench mark -- --warm-up-time 1 --measurement-time 3   # 2 workers
//! ```
//!
//! Each case builds one graph, reachable from a single `Gc` root, collects once, takes the
//! live heap from `mem_stats().heap_alloc`, then times `collect()` with
//! `Throughput::Bytes(live heap)`: criterion's throughput line is marked bytes per second
//! (MiB/s). The cases:
//!
//! - `list_<N>MiB`: a singly linked list of 16-byte nodes (`next` plus a `u64`). Marking
//!   a list is a chain of dependent loads: one worker at a time can make progress on it, so
//!   more workers do not help here.
//! - `tree_<N>MiB`: a complete binary tree of 24-byte nodes (two children plus a `u64`),
//!   which workers can split between them by stealing.
//! - `cells_<N>MiB`: the same tree with GCBench's node (40 bytes, a size class of its own): two
//!   `GcCell<Option<Gc<_>>>` children and two `i32`s, so each node costs the marker two
//!   cell locks besides its children (`object/cell_lock.rs`, the collector's hold).
//! - `array_<N>MiB`: large pointer arrays: `Gc<[Gc<[u64; 2]>]>` of 8192 handles (64 KiB,
//!   one large object each) to distinct 16-byte noscan leaves, under one root array; half
//!   the bytes are scanned pointers, half leaves that are marked but not scanned.
//! - `one_array_<N>MiB`: the same bytes as one slice, a `Gc<[Gc<[u64; 2]>]>` of a third
//!   of them (its leaves the rest): a huge object, marked in 128 KiB oblets that every
//!   worker takes (Go's oblets, `gc/oblets.rs`); before oblets one worker scanned it all.
//! - `empty`: `collect()` with nothing live, the fixed cost of a cycle (its two pauses,
//!   waking the workers, the sweep of an empty heap). Subtract it from the other cases for
//!   a figure closer to marking alone.
//!
//! **Workers.** `collect()` runs a forced cycle, which marks with every proc: `GOMAXPROCS`
//! dedicated workers, capped at the machine's cores (no idle or fractional workers; those
//! are for cycles the pacer starts; see `gc-core/src/gc/cycle.rs`, `mark_setup`, and
//! `gc/worker_mode.rs`, `workers_for`). `GOMAXPROCS` is read once at start and defaults to the
//! number of cores; the benchmark id ends with the value in effect (`procs=N`) and the bench
//! prints the worker count on stderr. For the figure per worker, run the bench once with
//! `GOMAXPROCS=1` (one worker) and once with `GOMAXPROCS=2` (two, on a 2-core machine) and
//! compare; on a 2-core machine the second also competes with the bench's own thread and
//! the GC coordinator for the cores.
//!
//! **What else the time includes.** Besides marking, every `collect()` pays: the unroot pass
//! (nothing to do here), the two short pauses, the root scan (a walk over every span's
//! root counts, so it grows with the heap too), mark termination, and the sweep of every
//! span of the live heap, which frees nothing but visits each span's mark bits. There is
//! no garbage to free and no `Drop` to run. So the figures are a lower bound on marking
//! throughput.

use criterion::{
    black_box, criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use gc_core::{Gc, GcCell, Trace};

const MIB: usize = 1 << 20;
const SIZES_MIB: [usize; 2] = [16, 64];

/// `GOMAXPROCS` as the runtime takes it (read once at start): a positive integer, capped at
/// 4 per available core; unset or malformed means the number of cores.
fn gomaxprocs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    match std::env::var("GOMAXPROCS")
        .ok()
        .map(|v| v.trim().parse::<usize>())
    {
        Some(Ok(n)) if (1..=1024).contains(&n) => n.min(4 * cores).min(1024),
        _ => cores.min(1024),
    }
}

#[derive(Trace)]
struct ListNode {
    next: Option<Gc<ListNode>>,
    value: u64,
}

#[derive(Trace)]
struct TreeNode {
    left: Option<Gc<TreeNode>>,
    right: Option<Gc<TreeNode>>,
    value: u64,
}

fn list(bytes: usize) -> Gc<ListNode> {
    let n = bytes / std::mem::size_of::<ListNode>();
    let mut head = Gc::new(ListNode {
        next: None,
        value: 0,
    });
    for i in 1..n {
        head = Gc::new(ListNode {
            next: Some(head),
            value: i as u64,
        });
    }
    head
}

/// A complete binary tree of `bytes / size_of::<N>()` nodes in heap order (node i's
/// children are 2i+1 and 2i+2), built bottom-up: `node(i, left, right)` makes node i.
fn heap_order_tree<N: Trace + Send + Sync + 'static>(
    bytes: usize,
    node: impl Fn(usize, Option<Gc<N>>, Option<Gc<N>>) -> N,
) -> Gc<N> {
    let n = bytes / std::mem::size_of::<N>();
    let mut nodes: Vec<Option<Gc<N>>> = (0..n).map(|_| None).collect();
    for i in (0..n).rev() {
        let left = nodes.get_mut(2 * i + 1).and_then(Option::take);
        let right = nodes.get_mut(2 * i + 2).and_then(Option::take);
        nodes[i] = Some(Gc::new(node(i, left, right)));
    }
    nodes[0].take().expect("a non-empty tree")
}

/// `bytes / 24` `TreeNode`s.
fn tree(bytes: usize) -> Gc<TreeNode> {
    heap_order_tree(bytes, |i, left, right| TreeNode {
        left,
        right,
        value: i as u64,
    })
}

#[derive(Trace)]
struct CellNode {
    left: GcCell<Option<Gc<CellNode>>>,
    right: GcCell<Option<Gc<CellNode>>>,
    i: i32,
    j: i32,
}

/// `bytes / 40` `CellNode`s.
fn cell_tree(bytes: usize) -> Gc<CellNode> {
    heap_order_tree(bytes, |i, left, right| CellNode {
        left: GcCell::new(left),
        right: GcCell::new(right),
        i: i as i32,
        j: 0,
    })
}

const ARRAY_LEN: usize = 8192;

type Leaf = [u64; 2];

/// Root array of arrays of `ARRAY_LEN` handles, each to its own leaf.
fn arrays(bytes: usize) -> Gc<[Gc<[Gc<Leaf>]>]> {
    let per_array = ARRAY_LEN * (std::mem::size_of::<Gc<Leaf>>() + std::mem::size_of::<Leaf>());
    (0..bytes / per_array)
        .map(|a| {
            (0..ARRAY_LEN)
                .map(|i| Gc::new([a as u64, i as u64]))
                .collect::<Gc<[Gc<Leaf>]>>()
        })
        .collect()
}

/// One array of handles, each to its own leaf: `bytes` in all.
fn one_array(bytes: usize) -> Gc<[Gc<Leaf>]> {
    let per_elem = std::mem::size_of::<Gc<Leaf>>() + std::mem::size_of::<Leaf>();
    (0..bytes / per_elem)
        .map(|i| Gc::new([i as u64, 0]))
        .collect()
}

/// Times `collect()` over the live graph `root`, with the live heap as the throughput.
fn bench_collect<R>(c: &mut Criterion, name: &str, procs: usize, root: R) {
    gc_core::collect();
    let live = gc_core::mem_stats().heap_alloc;
    let mut g = c.benchmark_group("mark");
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.throughput(Throughput::Bytes(live));
    g.bench_function(BenchmarkId::new(name, format!("procs={procs}")), |b| {
        b.iter(gc_core::collect)
    });
    g.finish();
    drop(black_box(root));
    gc_core::collect();
}

fn mark(c: &mut Criterion) {
    let procs = gomaxprocs();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "mark: GOMAXPROCS={procs}, {cores} cores: collect() marks with {} dedicated worker(s)",
        procs.min(cores)
    );
    {
        let mut g = c.benchmark_group("mark");
        g.bench_function(BenchmarkId::new("empty", format!("procs={procs}")), |b| {
            b.iter(gc_core::collect)
        });
        g.finish();
    }
    for mib in SIZES_MIB {
        bench_collect(c, &format!("list_{mib}MiB"), procs, list(mib * MIB));
        bench_collect(c, &format!("tree_{mib}MiB"), procs, tree(mib * MIB));
        bench_collect(c, &format!("cells_{mib}MiB"), procs, cell_tree(mib * MIB));
        bench_collect(c, &format!("array_{mib}MiB"), procs, arrays(mib * MIB));
        bench_collect(
            c,
            &format!("one_array_{mib}MiB"),
            procs,
            one_array(mib * MIB),
        );
    }
}

criterion_group!(benches, mark);
criterion_main!(benches);
