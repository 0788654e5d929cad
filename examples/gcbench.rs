//! Hans Boehm's GCBench, nine ways: `Gc` (this crate) with `GcCell` fields written through
//! the write guard or with `GcCell::set`, or with `AtomicGc` fields (in a 24- or a 40-byte
//! node); `Box` and `Arc`; the peer crates rust-gc, dumpster and gc-arena.
//!
//! ```text
//! cargo run --release --example gcbench -- [--impl IMPL|all] [--max-depth D]
//! IMPL: gc|gc-set|gc-atomic|gc-atomic-40|box|arc|rust-gc|dumpster|gc-arena
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
//! (BENCHMARKS.md). `--impl gc-atomic-40` pads that node to the `GcCell` node's 40 bytes, to
//! tell what the node's size costs from what the cells' write path costs.
//!
//! `--impl rust-gc`, `--impl dumpster` and `--impl gc-arena` are the same benchmark on the
//! peer crates, written the obvious way for each: rust-gc's `Gc` with `GcCell` children
//! (`borrow_mut`); dumpster's thread-local `unsync::Gc` with `RefCell` children; gc-arena's
//! `Gc<RefLock<Node>>` written through `borrow_mut(mc)`, one `mutate` call per tree and
//! `collect_debt` after each (its collector runs only between `mutate` calls). Their array is
//! a `Box<[f64]>` (none has a `Gc<[T]>` built from a `Vec`), so their collectors do not see
//! its 4 MB.
//!
//! `--impl all` runs `box`, `arc`, `gc`, `gc-set`, `gc-atomic`, `gc-atomic-40`, `rust-gc`,
//! `dumpster` and `gc-arena` in separate child processes. The last line is a summary in the
//! format of `binary_trees`.

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

/// One tree implementation: a handle type and Boehm's operations on it. Every
/// implementation but gc-arena's (whose handles cannot leave its `mutate` calls) is a
/// `Tree`, driven through [`Plain`].
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

/// `Tree` for `$ty` (generic over `[$($gen)*]`) whose nodes are `$node`s holding their
/// children `left` and `right` in cells of type `$cell` (`new`, `borrow`) as
/// `Option<Gc<$node>>`, with Boehm's `i` and `j`; `$write(cell, child)` stores a child.
/// `Gc` is the one in scope where it is expanded: this crate's, or a peer module's.
macro_rules! cell_tree {
    ($ty:ty, [$($gen:tt)*], $node:ident, $cell:ident, $write:path) => {
        impl<$($gen)*> Tree for $ty {
            type Handle = Gc<$node>;
            fn leaf() -> Gc<$node> {
                Gc::new($node {
                    left: $cell::new(None),
                    right: $cell::new(None),
                    i: 0,
                    j: 0,
                })
            }
            fn populate(depth: u32, node: &mut Gc<$node>) {
                if depth == 0 {
                    return;
                }
                let mut l = Self::leaf();
                let mut r = Self::leaf();
                $write(&node.left, l.clone());
                $write(&node.right, r.clone());
                Self::populate(depth - 1, &mut l);
                Self::populate(depth - 1, &mut r);
            }
            fn make_tree(depth: u32) -> Gc<$node> {
                if depth == 0 {
                    return Self::leaf();
                }
                Gc::new($node {
                    left: $cell::new(Some(Self::make_tree(depth - 1))),
                    right: $cell::new(Some(Self::make_tree(depth - 1))),
                    i: 0,
                    j: 0,
                })
            }
            fn count(node: &Gc<$node>) -> u64 {
                let l = node.left.borrow();
                let r = node.right.borrow();
                1 + l.as_ref().map_or(0, Self::count)
                    + r.as_ref().map_or(0, Self::count)
                    + (node.i + node.j) as u64
            }
        }
    };
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

cell_tree!(GcImpl<W>, [W: CellWrite], GcNode, GcCell, W::write);

// ---- Gc, children in AtomicGc fields ----

/// `P` pads the node: `()` for `--impl gc-atomic` (24 bytes), `[u64; 2]` for
/// `--impl gc-atomic-40` (40 bytes, the `GcCell` node's size).
#[derive(Trace)]
struct AtomicNode<P: Trace + Default + Send + Sync + 'static> {
    left: AtomicGc<AtomicNode<P>>,
    right: AtomicGc<AtomicNode<P>>,
    i: i32,
    j: i32,
    pad: P,
}

struct GcAtomicImpl<P>(std::marker::PhantomData<P>);

impl<P: Trace + Default + Send + Sync + 'static> Tree for GcAtomicImpl<P> {
    type Handle = Gc<AtomicNode<P>>;
    fn leaf() -> Gc<AtomicNode<P>> {
        Gc::new(AtomicNode {
            left: AtomicGc::new(None),
            right: AtomicGc::new(None),
            i: 0,
            j: 0,
            pad: P::default(),
        })
    }
    fn populate(depth: u32, node: &mut Gc<AtomicNode<P>>) {
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
    fn make_tree(depth: u32) -> Gc<AtomicNode<P>> {
        if depth == 0 {
            return Self::leaf();
        }
        Gc::new(AtomicNode {
            left: AtomicGc::new(Some(Self::make_tree(depth - 1))),
            right: AtomicGc::new(Some(Self::make_tree(depth - 1))),
            i: 0,
            j: 0,
            pad: P::default(),
        })
    }
    fn count(node: &Gc<AtomicNode<P>>) -> u64 {
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

// ---- peer crates: rust-gc and dumpster ----

/// rust-gc (the `gc` crate). Its derives wrap their impls in a `const` block, which rustc
/// now warns about.
#[allow(non_local_definitions)]
mod rust_gc {
    use super::Tree;
    use gc::{Finalize, Gc, GcCell, Trace};

    #[derive(Trace, Finalize)]
    pub struct Node {
        left: GcCell<Option<Gc<Node>>>,
        right: GcCell<Option<Gc<Node>>>,
        i: i32,
        j: i32,
    }

    /// Through the write guard, as `--impl gc`.
    fn write(cell: &GcCell<Option<Gc<Node>>>, child: Gc<Node>) {
        *cell.borrow_mut() = Some(child);
    }

    pub struct Impl;

    cell_tree!(Impl, [], Node, GcCell, write);
}

/// dumpster's thread-local collector (`dumpster::unsync`), with `RefCell` for mutation.
mod dumpster_gc {
    use super::Tree;
    use dumpster::unsync::Gc;
    use dumpster::Trace;
    use std::cell::RefCell;

    #[derive(Trace)]
    pub struct Node {
        left: RefCell<Option<Gc<Node>>>,
        right: RefCell<Option<Gc<Node>>>,
        i: i32,
        j: i32,
    }

    /// Through the write guard, as `--impl gc`.
    fn write(cell: &RefCell<Option<Gc<Node>>>, child: Gc<Node>) {
        *cell.borrow_mut() = Some(child);
    }

    pub struct Impl;

    cell_tree!(Impl, [], Node, RefCell, write);
}

// ---- gc-arena ----

/// gc-arena: an arena whose collection runs only between `mutate` calls, as the crate's
/// users write it: each tree is built in one `mutate` call, `collect_debt` runs after each
/// (the work the allocation since the last call paid for), and the long-lived tree is kept
/// in the arena's root. Nodes are `Gc<RefLock<Node>>`, children written through
/// `borrow_mut(mc)` (the write barrier).
mod arena {
    use gc_arena::{Arena, Collect, Gc, Mutation, RefLock, Rootable};

    type NodePtr<'gc> = Gc<'gc, RefLock<Node<'gc>>>;

    #[derive(Collect)]
    #[collect(no_drop)]
    struct Node<'gc> {
        left: Option<NodePtr<'gc>>,
        right: Option<NodePtr<'gc>>,
        i: i32,
        j: i32,
    }

    fn leaf<'gc>(mc: &Mutation<'gc>) -> NodePtr<'gc> {
        Gc::new(
            mc,
            RefLock::new(Node {
                left: None,
                right: None,
                i: 0,
                j: 0,
            }),
        )
    }

    fn populate<'gc>(mc: &Mutation<'gc>, depth: u32, node: NodePtr<'gc>) {
        if depth == 0 {
            return;
        }
        let (l, r) = (leaf(mc), leaf(mc));
        node.borrow_mut(mc).left = Some(l);
        node.borrow_mut(mc).right = Some(r);
        populate(mc, depth - 1, l);
        populate(mc, depth - 1, r);
    }

    fn make_tree<'gc>(mc: &Mutation<'gc>, depth: u32) -> NodePtr<'gc> {
        if depth == 0 {
            return leaf(mc);
        }
        Gc::new(
            mc,
            RefLock::new(Node {
                left: Some(make_tree(mc, depth - 1)),
                right: Some(make_tree(mc, depth - 1)),
                i: 0,
                j: 0,
            }),
        )
    }

    fn count(node: NodePtr<'_>) -> u64 {
        let n = node.borrow();
        1 + n.left.map_or(0, count) + n.right.map_or(0, count) + (n.i + n.j) as u64
    }

    #[derive(Collect)]
    #[collect(no_drop)]
    struct Root<'gc> {
        long_lived: Option<NodePtr<'gc>>,
    }

    pub struct Bench(Arena<Rootable![Root<'_>]>);

    impl Bench {
        pub fn new() -> Bench {
            Bench(Arena::new(|_| Root { long_lived: None }))
        }
    }

    impl super::Bench for Bench {
        fn top_down(&mut self, depth: u32) {
            self.0.mutate(|mc, _| populate(mc, depth, leaf(mc)));
            self.0.collect_debt();
        }
        fn bottom_up(&mut self, depth: u32) {
            self.0.mutate(|mc, _| {
                make_tree(mc, depth);
            });
            self.0.collect_debt();
        }
        fn keep_long_lived(&mut self, depth: u32) {
            self.0.mutate_root(|mc, root| {
                let t = leaf(mc);
                populate(mc, depth, t);
                root.long_lived = Some(t);
            });
            self.0.collect_debt();
        }
        fn count_long_lived(&mut self) -> u64 {
            self.0.mutate(|_, root| root.long_lived.map_or(0, count))
        }
    }
}

// ---- driver ----

/// What the driver asks of an implementation: build and drop trees, keep one.
trait Bench {
    /// Builds a tree `depth` deep top-down and drops it.
    fn top_down(&mut self, depth: u32);
    /// Builds a tree `depth` deep bottom-up and drops it (also the stretch tree).
    fn bottom_up(&mut self, depth: u32);
    /// Builds the long-lived tree top-down and keeps it until the end.
    fn keep_long_lived(&mut self, depth: u32);
    /// Nodes in the long-lived tree.
    fn count_long_lived(&mut self) -> u64;
}

/// A [`Tree`] implementation as a [`Bench`], holding the long-lived tree.
struct Plain<T: Tree>(Option<T::Handle>);

impl<T: Tree> Bench for Plain<T> {
    fn top_down(&mut self, depth: u32) {
        let mut temp = T::leaf();
        T::populate(depth, &mut temp);
    }
    fn bottom_up(&mut self, depth: u32) {
        drop(T::make_tree(depth));
    }
    fn keep_long_lived(&mut self, depth: u32) {
        let mut t = T::leaf();
        T::populate(depth, &mut t);
        self.0 = Some(t);
    }
    fn count_long_lived(&mut self) -> u64 {
        self.0.as_ref().map_or(0, T::count)
    }
}

/// Runs [`run`] on a [`Tree`] implementation.
fn run_tree<T: Tree, A: std::ops::Deref<Target = [f64]>>(
    name: &str,
    max_depth: u32,
    new_array: impl FnOnce(Vec<f64>) -> A,
) {
    run(name, Plain::<T>(None), max_depth, new_array)
}

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

fn time_construction(
    b: &mut impl Bench,
    depth: u32,
    stretch_depth: u32,
    is_gc: bool,
) -> (f64, f64) {
    let iters = 2 * tree_size(stretch_depth) / tree_size(depth);
    let every = (iters / 16).max(1);
    println!("Creating {iters} trees of depth {depth}");
    let t = Instant::now();
    for i in 0..iters {
        b.top_down(depth);
        if (i + 1) % every == 0 {
            sample(is_gc);
        }
    }
    let top_down = ms(t);
    println!("\tTop down construction took {top_down:.0} msec");
    let t = Instant::now();
    for i in 0..iters {
        b.bottom_up(depth);
        if (i + 1) % every == 0 {
            sample(is_gc);
        }
    }
    let bottom_up = ms(t);
    println!("\tBottom up construction took {bottom_up:.0} msec");
    (top_down, bottom_up)
}

fn run<A: std::ops::Deref<Target = [f64]>>(
    name: &str,
    mut b: impl Bench,
    max_depth: u32,
    new_array: impl FnOnce(Vec<f64>) -> A,
) {
    // This crate's collector (not the peers'), whose figures the summary line reports.
    let is_gc = matches!(name, "gc" | "gc-set" | "gc-atomic" | "gc-atomic-40");
    let stretch_depth = max_depth + 1;
    println!("Garbage Collector Test ({name})");
    println!(" Stretching memory with a binary tree of depth {stretch_depth}");
    diagnostics(is_gc);
    let start = Instant::now();

    b.bottom_up(stretch_depth);
    sample(is_gc);

    println!(" Creating a long-lived binary tree of depth {LONG_LIVED_TREE_DEPTH}");
    b.keep_long_lived(LONG_LIVED_TREE_DEPTH);

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
        phases.push((d, time_construction(&mut b, d, stretch_depth, is_gc)));
    }

    let ok =
        b.count_long_lived() == tree_size(LONG_LIVED_TREE_DEPTH) && array[1000] == 1.0 / 1000.0;
    if !ok {
        println!("Failed");
    }
    let total = ms(start);
    diagnostics(is_gc);
    println!("Completed in {total:.0} msec");
    drop((b, array));

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

/// Every implementation, in the order `--impl all` runs them.
const IMPLS: [&str; 9] = [
    "box",
    "arc",
    "gc",
    "gc-set",
    "gc-atomic",
    "gc-atomic-40",
    "rust-gc",
    "dumpster",
    "gc-arena",
];

fn usage(msg: &str) -> ExitCode {
    eprintln!("gcbench: {msg}");
    eprintln!(
        "usage: gcbench [--impl gc|gc-set|gc-atomic|gc-atomic-40|box|arc|rust-gc|dumpster|gc-arena|all] \
         [--max-depth D]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut imp = "gc".to_string();
    let mut max_depth = 18u32;
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--impl" => match it.next() {
                Some(v) if IMPLS.contains(&v.as_str()) || v == "all" => imp = v,
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
        "gc" => run_tree::<GcImpl<ThroughGuard>, Gc<[f64]>>("gc", max_depth, Gc::from),
        "gc-set" => run_tree::<GcImpl<WithSet>, Gc<[f64]>>("gc-set", max_depth, Gc::from),
        "gc-atomic" => run_tree::<GcAtomicImpl<()>, Gc<[f64]>>("gc-atomic", max_depth, Gc::from),
        "gc-atomic-40" => {
            run_tree::<GcAtomicImpl<[u64; 2]>, Gc<[f64]>>("gc-atomic-40", max_depth, Gc::from)
        }
        "box" => run_tree::<BoxImpl, _>("box", max_depth, Vec::into_boxed_slice),
        "arc" => run_tree::<ArcImpl, Arc<[f64]>>("arc", max_depth, Arc::from),
        "rust-gc" => run_tree::<rust_gc::Impl, _>("rust-gc", max_depth, Vec::into_boxed_slice),
        "dumpster" => {
            run_tree::<dumpster_gc::Impl, _>("dumpster", max_depth, Vec::into_boxed_slice)
        }
        "gc-arena" => run(
            "gc-arena",
            arena::Bench::new(),
            max_depth,
            Vec::into_boxed_slice,
        ),
        _ => {
            let exe = match std::env::current_exe() {
                Ok(e) => e,
                Err(e) => return usage(&format!("cannot find own executable: {e}")),
            };
            for name in IMPLS {
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
