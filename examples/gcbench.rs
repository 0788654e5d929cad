//! Hans Boehm's GCBench, five ways: `Gc` (this crate) with `GcCell` fields written through
//! the write guard or with `GcCell::set`, or with `AtomicGc` fields; `Box` and `Arc`.
//!
//! ```text
//! cargo run --release --example gcbench -- [--impl gc|gc-set|gc-atomic|box|arc|all] [--max-depth D]
//! ```
//!
//! The structure follows Boehm's `GCBench.java`: stretch the heap with a temporary tree, keep
//! a long-lived tree (built top-down) and a long-lived array of doubles half filled, then for
//! each depth from 4 to `max_depth` step 2 build `NumIters(depth)` trees top-down (allocate
//! a node, then store freshly allocated children into it) and the same number bottom-up
//! (children first), timing each. `NumIters(d) = 2 * TreeSize(stretch) / TreeSize(d)`, so
//! every depth allocates about the same number of nodes.
//!
//! Parameters (Boehm's originals are stretch 18, long-lived 16, array 500000, depths 4..16):
//! `max_depth` defaults to 18, the stretch tree is `max_depth + 1` deep (so the deepest step
//! still builds 4 trees), the long-lived tree is 16 deep and the array holds 500000 `f64`.
//!
//! Nodes carry Boehm's two `int` fields. The `Gc` node keeps its children in `GcCell`s
//! (top-down construction writes into existing heap objects): `--impl gc` writes them the
//! obvious way, `*node.left.borrow_mut() = Some(child)` (`RefCell`'s, and Boehm's
//! `node.left = child`); `--impl gc-set` with `node.left.set(Some(child))`, the faster idiom
//! for a small value replaced whole, reported beside `gc`, never instead of it. The `Box`
//! and `Arc` nodes use plain fields, written through `&mut` (`Arc::get_mut` while the tree
//! is still unshared). The array is a `Gc<[f64]>` (`Box<[f64]>`, `Arc<[f64]>`): its 4 MB
//! are in the collected heap, as Boehm's `new double[]` and Go's slice are, so the pacer
//! counts them as Go's does. (Until `Gc<[T]>` existed it was a `Gc<Vec<f64>>`, whose buffer
//! only the opt-in `CountingAllocator` would count: about twice Go's cycles.)
//!
//! `--impl gc-atomic` is the same `Gc` benchmark with the children in [`AtomicGc`] fields
//! instead of `GcCell`s: a 24-byte node (Go's and `Box`'s size) instead of 40, since a
//! `GcCell` carries an 8-byte lock word. It is the faster idiom for a field that only ever
//! holds one `Gc` and is replaced whole, reported beside `gc`, never instead of it
//! (BENCHMARKS.md).
//!
//! `--impl all` runs `box`, `arc`, `gc`, `gc-set`, `gc-atomic` in separate child
//! processes. The last line is a summary in the format of `binary_trees`.

mod common;

use gc_core::{AtomicGc, Gc, GcCell, Trace};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Instant;

const MIN_TREE_DEPTH: u32 = 4;
const LONG_LIVED_TREE_DEPTH: u32 = 16;
const ARRAY_SIZE: usize = 500_000;

fn tree_size(depth: u32) -> u64 {
    (1u64 << (depth + 1)) - 1
}

/// Operations the benchmark needs from each implementation.
trait Tree {
    type Handle;
    fn leaf() -> Self::Handle;
    /// Boehm's `Populate`: give `node` (a leaf) `depth` levels of children, top-down.
    fn populate(depth: u32, node: &mut Self::Handle);
    /// Boehm's `MakeTree`, bottom-up.
    fn make_tree(depth: u32) -> Self::Handle;
    /// Nodes in the tree (used to verify the long-lived tree).
    fn count(node: &Self::Handle) -> u64;
}

// ---- Gc ----

#[derive(Trace)]
struct GcNode {
    left: GcCell<Option<Gc<GcNode>>>,
    right: GcCell<Option<Gc<GcNode>>>,
    i: i32,
    j: i32,
}

/// How the top-down construction stores a child into a `GcCell` field.
trait CellWrite {
    fn write(cell: &GcCell<Option<Gc<GcNode>>>, child: Gc<GcNode>);
}

/// Through the write guard, `*cell.borrow_mut() = Some(child)`: the obvious way (`RefCell`'s),
/// and Boehm's `node.left = child`.
struct ThroughGuard;

impl CellWrite for ThroughGuard {
    fn write(cell: &GcCell<Option<Gc<GcNode>>>, child: Gc<GcNode>) {
        *cell.borrow_mut() = Some(child);
    }
}

/// With `cell.set(Some(child))`, the faster idiom for replacing a small value whole: it
/// keeps a heap cell an edge cell (no rooting of the contents, no dirty record for the next
/// cycle's unroot pass).
struct WithSet;

impl CellWrite for WithSet {
    fn write(cell: &GcCell<Option<Gc<GcNode>>>, child: Gc<GcNode>) {
        cell.set(Some(child));
    }
}

struct GcImpl<W>(std::marker::PhantomData<W>);

impl<W: CellWrite> Tree for GcImpl<W> {
    type Handle = Gc<GcNode>;
    fn leaf() -> Gc<GcNode> {
        Gc::new(GcNode {
            left: GcCell::new(None),
            right: GcCell::new(None),
            i: 0,
            j: 0,
        })
    }
    fn populate(depth: u32, node: &mut Gc<GcNode>) {
        if depth == 0 {
            return;
        }
        let mut l = Self::leaf();
        let mut r = Self::leaf();
        W::write(&node.left, l.clone());
        W::write(&node.right, r.clone());
        Self::populate(depth - 1, &mut l);
        Self::populate(depth - 1, &mut r);
    }
    fn make_tree(depth: u32) -> Gc<GcNode> {
        if depth == 0 {
            return Self::leaf();
        }
        Gc::new(GcNode {
            left: GcCell::new(Some(Self::make_tree(depth - 1))),
            right: GcCell::new(Some(Self::make_tree(depth - 1))),
            i: 0,
            j: 0,
        })
    }
    fn count(node: &Gc<GcNode>) -> u64 {
        let l = node.left.borrow();
        let r = node.right.borrow();
        1 + l.as_ref().map_or(0, Self::count)
            + r.as_ref().map_or(0, Self::count)
            + (node.i + node.j) as u64
    }
}

// ---- Gc, children in AtomicGc fields ----

#[derive(Trace)]
struct AtomicNode {
    left: AtomicGc<AtomicNode>,
    right: AtomicGc<AtomicNode>,
    i: i32,
    j: i32,
}

struct GcAtomicImpl;

impl Tree for GcAtomicImpl {
    type Handle = Gc<AtomicNode>;
    fn leaf() -> Gc<AtomicNode> {
        Gc::new(AtomicNode {
            left: AtomicGc::new(None),
            right: AtomicGc::new(None),
            i: 0,
            j: 0,
        })
    }
    fn populate(depth: u32, node: &mut Gc<AtomicNode>) {
        if depth == 0 {
            return;
        }
        let mut l = Self::leaf();
        let mut r = Self::leaf();
        node.left.store(Some(l.clone()));
        node.right.store(Some(r.clone()));
        Self::populate(depth - 1, &mut l);
        Self::populate(depth - 1, &mut r);
    }
    fn make_tree(depth: u32) -> Gc<AtomicNode> {
        if depth == 0 {
            return Self::leaf();
        }
        Gc::new(AtomicNode {
            left: AtomicGc::new(Some(Self::make_tree(depth - 1))),
            right: AtomicGc::new(Some(Self::make_tree(depth - 1))),
            i: 0,
            j: 0,
        })
    }
    fn count(node: &Gc<AtomicNode>) -> u64 {
        1 + node.left.load().map_or(0, |l| Self::count(&l))
            + node.right.load().map_or(0, |r| Self::count(&r))
            + (node.i + node.j) as u64
    }
}

// ---- Box ----

#[derive(Default)]
struct BoxNode {
    left: Option<Box<BoxNode>>,
    right: Option<Box<BoxNode>>,
    i: i32,
    j: i32,
}

struct BoxImpl;

impl Tree for BoxImpl {
    type Handle = Box<BoxNode>;
    fn leaf() -> Box<BoxNode> {
        Box::default()
    }
    fn populate(depth: u32, node: &mut Box<BoxNode>) {
        if depth == 0 {
            return;
        }
        node.left = Some(Self::leaf());
        node.right = Some(Self::leaf());
        Self::populate(depth - 1, node.left.as_mut().unwrap());
        Self::populate(depth - 1, node.right.as_mut().unwrap());
    }
    fn make_tree(depth: u32) -> Box<BoxNode> {
        if depth == 0 {
            return Self::leaf();
        }
        Box::new(BoxNode {
            left: Some(Self::make_tree(depth - 1)),
            right: Some(Self::make_tree(depth - 1)),
            i: 0,
            j: 0,
        })
    }
    fn count(node: &Box<BoxNode>) -> u64 {
        1 + node.left.as_ref().map_or(0, Self::count)
            + node.right.as_ref().map_or(0, Self::count)
            + (node.i + node.j) as u64
    }
}

// ---- Arc ----

#[derive(Default)]
struct ArcNode {
    left: Option<Arc<ArcNode>>,
    right: Option<Arc<ArcNode>>,
    i: i32,
    j: i32,
}

struct ArcImpl;

impl Tree for ArcImpl {
    type Handle = Arc<ArcNode>;
    fn leaf() -> Arc<ArcNode> {
        Arc::default()
    }
    fn populate(depth: u32, node: &mut Arc<ArcNode>) {
        if depth == 0 {
            return;
        }
        let n = Arc::get_mut(node).expect("tree is unshared while it is built");
        n.left = Some(Self::leaf());
        n.right = Some(Self::leaf());
        Self::populate(depth - 1, n.left.as_mut().unwrap());
        Self::populate(depth - 1, n.right.as_mut().unwrap());
    }
    fn make_tree(depth: u32) -> Arc<ArcNode> {
        if depth == 0 {
            return Self::leaf();
        }
        Arc::new(ArcNode {
            left: Some(Self::make_tree(depth - 1)),
            right: Some(Self::make_tree(depth - 1)),
            i: 0,
            j: 0,
        })
    }
    fn count(node: &Arc<ArcNode>) -> u64 {
        1 + node.left.as_ref().map_or(0, Self::count)
            + node.right.as_ref().map_or(0, Self::count)
            + (node.i + node.j) as u64
    }
}

// ---- driver ----

/// Records peaks (gc only; see `common::sample_gc`).
fn sample(is_gc: bool) {
    if is_gc {
        common::sample_gc();
    }
}

fn diagnostics(is_gc: bool) {
    if is_gc {
        let s = gc_core::mem_stats();
        println!(
            " heap_alloc={:.1} MB heap_inuse={:.1} MB heap_sys={:.1} MB num_gc={}",
            s.heap_alloc as f64 / 1048576.0,
            s.heap_inuse as f64 / 1048576.0,
            s.heap_sys as f64 / 1048576.0,
            s.num_gc
        );
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn time_construction<T: Tree>(depth: u32, stretch_depth: u32, is_gc: bool) -> (f64, f64) {
    let iters = 2 * tree_size(stretch_depth) / tree_size(depth);
    let every = (iters / 16).max(1);
    println!("Creating {iters} trees of depth {depth}");
    let t = Instant::now();
    for i in 0..iters {
        let mut temp = T::leaf();
        T::populate(depth, &mut temp);
        drop(temp);
        if (i + 1) % every == 0 {
            sample(is_gc);
        }
    }
    let top_down = ms(t);
    println!("\tTop down construction took {top_down:.0} msec");
    let t = Instant::now();
    for i in 0..iters {
        drop(T::make_tree(depth));
        if (i + 1) % every == 0 {
            sample(is_gc);
        }
    }
    let bottom_up = ms(t);
    println!("\tBottom up construction took {bottom_up:.0} msec");
    (top_down, bottom_up)
}

fn run<T: Tree, A: std::ops::Deref<Target = [f64]>>(
    name: &str,
    max_depth: u32,
    new_array: impl FnOnce(Vec<f64>) -> A,
) {
    let is_gc = name.starts_with("gc");
    let stretch_depth = max_depth + 1;
    println!("Garbage Collector Test ({name})");
    println!(" Stretching memory with a binary tree of depth {stretch_depth}");
    diagnostics(is_gc);
    let start = Instant::now();

    drop(T::make_tree(stretch_depth));
    sample(is_gc);

    println!(" Creating a long-lived binary tree of depth {LONG_LIVED_TREE_DEPTH}");
    let mut long_lived = T::leaf();
    T::populate(LONG_LIVED_TREE_DEPTH, &mut long_lived);

    println!(" Creating a long-lived array of {ARRAY_SIZE} doubles");
    let mut v = vec![0.0f64; ARRAY_SIZE];
    for (i, x) in v.iter_mut().enumerate().take(ARRAY_SIZE / 2).skip(1) {
        *x = 1.0 / i as f64;
    }
    let array = new_array(v);
    diagnostics(is_gc);
    sample(is_gc);

    let mut phases = Vec::new();
    for d in (MIN_TREE_DEPTH..=max_depth).step_by(2) {
        phases.push((d, time_construction::<T>(d, stretch_depth, is_gc)));
    }

    let ok =
        T::count(&long_lived) == tree_size(LONG_LIVED_TREE_DEPTH) && array[1000] == 1.0 / 1000.0;
    if !ok {
        println!("Failed");
    }
    let total = ms(start);
    diagnostics(is_gc);
    println!("Completed in {total:.0} msec");
    drop((long_lived, array));

    let td: f64 = phases.iter().map(|p| p.1 .0).sum();
    let bu: f64 = phases.iter().map(|p| p.1 .1).sum();
    let rss = common::peak_rss_field();
    let [cycles, pause_total, max_pause, peak_heap] = common::gc_fields(is_gc);
    println!(
        "impl={name} max_depth={max_depth} time_ms={total:.1} top_down_ms={td:.1} bottom_up_ms={bu:.1} \
         peak_rss_mb={rss} cycles={cycles} pause_total_ms={pause_total} max_pause_ms={max_pause} \
         peak_heap_mb={peak_heap} ok={ok}"
    );
}

fn usage(msg: &str) -> ExitCode {
    eprintln!("gcbench: {msg}");
    eprintln!("usage: gcbench [--impl gc|gc-set|gc-atomic|box|arc|all] [--max-depth D]");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut imp = "gc".to_string();
    let mut max_depth = 18u32;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--impl" => match it.next() {
                Some(v)
                    if ["gc", "gc-set", "gc-atomic", "box", "arc", "all"].contains(&v.as_str()) =>
                {
                    imp = v
                }
                v => return usage(&format!("bad --impl {v:?}")),
            },
            "--max-depth" => match it.next().and_then(|v| v.parse().ok()) {
                Some(d) if (MIN_TREE_DEPTH..=28).contains(&d) => max_depth = d,
                _ => return usage("bad --max-depth (4..=28)"),
            },
            _ => return usage(&format!("unknown argument {a:?}")),
        }
    }
    match imp.as_str() {
        "gc" => run::<GcImpl<ThroughGuard>, Gc<[f64]>>("gc", max_depth, Gc::from),
        "gc-set" => run::<GcImpl<WithSet>, Gc<[f64]>>("gc-set", max_depth, Gc::from),
        "gc-atomic" => run::<GcAtomicImpl, Gc<[f64]>>("gc-atomic", max_depth, Gc::from),
        "box" => run::<BoxImpl, _>("box", max_depth, Vec::into_boxed_slice),
        "arc" => run::<ArcImpl, Arc<[f64]>>("arc", max_depth, Arc::from),
        _ => {
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => return usage(&format!("cannot find own executable: {e}")),
            };
            for name in ["box", "arc", "gc", "gc-set", "gc-atomic"] {
                let status = Command::new(&exe)
                    .args(["--impl", name, "--max-depth", &max_depth.to_string()])
                    .status();
                if !matches!(&status, Ok(s) if s.success()) {
                    eprintln!("gcbench: --impl {name} failed: {status:?}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}
