//! Checks of `#[derive(Trace)]`: which shapes of type it accepts, the `needs_trace()` it
//! computes, and (in `ui`) the errors it reports. Hygiene and bounds: types written by a
//! `macro_rules!` macro (field names and types from its parameters) derive and trace like
//! any other, in a heap graph the collector must keep and then free; a type parameter used
//! only in `PhantomData` or a `fn` pointer gets no `Trace` bound, `#[trace(bound = "...")]`
//! replaces the inferred bounds, and `#[trace(crate = "...")]` reaches the runtime through
//! a renamed crate or a re-export. Only the heap graph, the crate path test and the
//! mutually recursive AST allocate; the rest compiles and asks `needs_trace()`.

#![allow(dead_code)]

mod common;

use common::collect_until;
use gc_core::{Gc, GcCell, Trace};
use std::marker::PhantomData;
use std::sync::Mutex;

/// Compiles only if `T: Trace`.
fn assert_trace<T: Trace + ?Sized>() {}

/// `T::needs_trace()`, through a generic function so the asserts below are not
/// constant-folded by lints.
fn needs_trace<T: Trace>() -> bool {
    T::needs_trace()
}

/// The values the derive computes do not cycle (until `needs_trace` became a function these
/// were `const` assertions; a trait function cannot be called in a constant).
#[test]
fn needs_trace_does_not_cycle() {
    assert!(!<P as Trace>::needs_trace());
    assert!(<HoldsGc as Trace>::needs_trace());
    assert!(<Expr as Trace>::needs_trace());
    assert!(!<W<u8> as Trace>::needs_trace());
    assert!(<W<Gc<P>> as Trace>::needs_trace());
}

#[derive(Trace)]
struct P {
    a: u64,
    b: String,
}

#[derive(Trace)]
struct HoldsGc {
    p: Option<Gc<P>>,
    n: u32,
}

#[derive(Trace)]
struct Named {
    a: u8,
    b: Vec<String>,
    c: (u32, bool),
}

#[derive(Trace)]
struct Tuple(u8, Option<Gc<P>>, String);

#[derive(Trace)]
struct Unit;

#[derive(Trace)]
struct EmptyNamed {}

#[derive(Trace)]
struct EmptyTuple();

#[derive(Trace)]
enum Mixed {
    Unit,
    Tuple(u8, Gc<P>),
    Struct { a: String, b: Option<Gc<P>> },
    EmptyTuple(),
    EmptyStruct {},
}

#[derive(Trace)]
enum PlainEnum {
    A,
    B(u64),
    C { s: String },
}

#[derive(Trace)]
enum Never {}

#[derive(Trace)]
enum OneVariant {
    Only(Gc<P>),
}

#[derive(Trace)]
struct W<T> {
    v: T,
}

/// A bound for the where clause below.
trait Marker {}
impl Marker for u8 {}
impl Marker for u16 {}
impl Marker for Gc<P> {}
impl Marker for Option<Gc<P>> {}

#[derive(Trace)]
struct Generic<'a, T, U: Marker, const N: usize>
where
    T: Marker + 'a,
    [U; N]: Sized,
{
    t: T,
    u: [U; N],
    s: &'static str,
    marker: PhantomData<&'a ()>,
}

#[derive(Trace)]
enum GenericEnum<T, E = u8> {
    Ok(T),
    Err(E),
    Neither,
}

#[derive(Trace)]
struct Unsized<T: ?Sized> {
    b: Box<T>,
}

/// Recursive AST: each field names `Expr`, so `needs_trace()` is `true` instead of recursing.
#[derive(Trace)]
enum Expr {
    Num(i64),
    Add(Box<Expr>, Box<Expr>),
}

#[derive(Trace)]
enum SelfRef {
    Leaf,
    Node {
        children: Vec<Self>,
        next: Option<Box<Self>>,
    },
}

#[derive(Trace)]
struct RecursiveGeneric<T> {
    v: T,
    next: Option<Box<RecursiveGeneric<T>>>,
}

/// Mutual recursion is not visible to the derive; `always_scan` breaks the cycle.
#[derive(Trace)]
#[trace(always_scan)]
enum Even {
    Zero,
    Succ(Box<Odd>),
}

#[derive(Trace)]
#[trace(always_scan)]
enum Odd {
    Succ(Box<Even>),
}

#[derive(Trace)]
#[trace(always_scan)]
struct ForcedScan {
    a: u64,
}

#[derive(Trace)]
struct Skipped {
    #[trace(skip)]
    lock: std::sync::Mutex<u8>,
    #[trace(skip)]
    cell: std::cell::RefCell<Option<Gc<P>>>,
    kept: u8,
}

#[derive(Trace)]
struct AllSkipped {
    #[trace(skip)]
    lock: std::sync::Mutex<u8>,
}

#[derive(Trace)]
struct TupleSkipped(#[trace(skip)] std::sync::Mutex<u8>, Gc<P>);

#[derive(Trace)]
enum EnumSkipped {
    A(
        #[trace(skip)] std::sync::Mutex<u8>,
        Gc<P>,
        #[trace(skip)] std::cell::Cell<u8>,
    ),
    B {
        #[trace(skip)]
        lock: std::sync::Mutex<u8>,
        gc: Gc<P>,
    },
    C(#[trace(skip)] std::sync::Mutex<u8>),
    D {
        #[trace(skip)]
        lock: std::sync::Mutex<u8>,
    },
}

#[derive(Trace)]
#[trace(unsafe_drop)]
struct WithDrop {
    next: Option<Gc<P>>,
    #[trace(skip)]
    dropped: std::sync::atomic::AtomicBool,
}

impl Drop for WithDrop {
    fn drop(&mut self) {
        // Does not dereference `next` (obligation 5).
        self.dropped
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

#[derive(Trace)]
#[trace(unsafe_drop, always_scan)]
struct BothOptions<T> {
    v: T,
}

impl<T> Drop for BothOptions<T> {
    fn drop(&mut self) {}
}

#[derive(Trace)]
#[trace(unsafe_drop)]
#[trace(always_scan)]
enum SplitOptions {
    A(u8),
}

impl Drop for SplitOptions {
    fn drop(&mut self) {}
}

/// Field names that collide with the derive's own identifiers.
#[derive(Trace)]
struct Collisions {
    tracer: Gc<P>,
    r#type: u8,
    __gc_field_0: u8,
}

#[derive(Trace)]
enum EnumCollisions {
    V {
        tracer: Gc<P>,
        r#type: u8,
        __gc_field_0: u8,
    },
}

mod absolute_paths {
    // A local `gc_core` module and a `Trace` trait must not confuse the generated code.
    mod gc_core {}
    trait Trace {}

    #[derive(::gc_core::Trace)]
    pub struct Shadowed {
        pub v: Option<::gc_core::Gc<u8>>,
    }
}

#[test]
fn derived_types_implement_trace() {
    assert_trace::<P>();
    assert_trace::<HoldsGc>();
    assert_trace::<Named>();
    assert_trace::<Tuple>();
    assert_trace::<Unit>();
    assert_trace::<EmptyNamed>();
    assert_trace::<EmptyTuple>();
    assert_trace::<Mixed>();
    assert_trace::<PlainEnum>();
    assert_trace::<Never>();
    assert_trace::<OneVariant>();
    assert_trace::<W<u8>>();
    assert_trace::<Generic<'static, u8, u16, 4>>();
    assert_trace::<GenericEnum<String>>();
    assert_trace::<Unsized<str>>();
    assert_trace::<Unsized<[u8]>>();
    assert_trace::<Expr>();
    assert_trace::<SelfRef>();
    assert_trace::<RecursiveGeneric<u8>>();
    assert_trace::<Even>();
    assert_trace::<Odd>();
    assert_trace::<Skipped>();
    assert_trace::<AllSkipped>();
    assert_trace::<TupleSkipped>();
    assert_trace::<EnumSkipped>();
    assert_trace::<WithDrop>();
    assert_trace::<BothOptions<u8>>();
    assert_trace::<SplitOptions>();
    assert_trace::<Collisions>();
    assert_trace::<EnumCollisions>();
    assert_trace::<absolute_paths::Shadowed>();
}

#[test]
fn needs_trace_of_plain_data_is_false() {
    assert!(!needs_trace::<P>());
    assert!(!needs_trace::<Named>());
    assert!(!needs_trace::<Unit>());
    assert!(!needs_trace::<EmptyNamed>());
    assert!(!needs_trace::<EmptyTuple>());
    assert!(!needs_trace::<PlainEnum>());
    assert!(!needs_trace::<Never>());
}

#[test]
fn needs_trace_of_gc_holders_is_true() {
    assert!(needs_trace::<HoldsGc>());
    assert!(needs_trace::<Tuple>());
    assert!(needs_trace::<Mixed>());
    assert!(needs_trace::<OneVariant>());
    assert!(needs_trace::<Collisions>());
    assert!(needs_trace::<absolute_paths::Shadowed>());
}

#[test]
fn needs_trace_follows_type_parameters() {
    assert!(!needs_trace::<W<u8>>());
    assert!(needs_trace::<W<Gc<P>>>());
    assert!(!needs_trace::<W<W<String>>>());
    assert!(needs_trace::<W<Vec<Option<Gc<P>>>>>());
    assert!(!needs_trace::<Generic<'static, u8, u16, 4>>());
    assert!(needs_trace::<Generic<'static, Gc<P>, u16, 4>>());
    assert!(needs_trace::<Generic<'static, u8, Option<Gc<P>>, 0>>());
    assert!(!needs_trace::<GenericEnum<u8>>());
    assert!(needs_trace::<GenericEnum<u8, Gc<P>>>());
    // A `Box<T>` cannot ask a possibly unsized `T` (`str`, `dyn Trait`): it answers `true`
    // conservatively. (This was `false` while `NEEDS_TRACE` was a constant, which made
    // `Trace` dyn-incompatible; see `Box`'s impl.)
    assert!(needs_trace::<Unsized<str>>());
    assert!(needs_trace::<Unsized<[Gc<P>]>>());
}

#[test]
fn recursive_types_are_conservatively_scanned() {
    assert!(needs_trace::<Expr>());
    assert!(needs_trace::<SelfRef>());
    assert!(needs_trace::<RecursiveGeneric<u8>>());
    assert!(needs_trace::<Even>());
    assert!(needs_trace::<Odd>());
    assert!(needs_trace::<ForcedScan>());
}

#[test]
fn skipped_fields_do_not_count() {
    // `cell` holds a `Gc` type but is skipped; only `kept: u8` counts.
    assert!(!needs_trace::<Skipped>());
    assert!(!needs_trace::<AllSkipped>());
    assert!(needs_trace::<TupleSkipped>());
    assert!(needs_trace::<EnumSkipped>());
    assert!(needs_trace::<WithDrop>());
}

/// Whether the sweeper may skip a dead object's drop (`Trace::garbage_drop_is_noop_at`).
fn garbage_noop<T: Trace>() -> bool {
    T::garbage_drop_is_noop_at(0)
}

#[derive(Trace)]
struct EdgesOnly {
    left: Option<Gc<EdgesOnly>>,
    right: Option<Gc<EdgesOnly>>,
    kids: [Option<Gc<P>>; 2],
    n: u64,
}

#[derive(Trace)]
enum EdgeEnum {
    Leaf(u32),
    Pair(Gc<P>, Option<Gc<EdgeEnum>>),
}

#[derive(Trace)]
struct SkippedPlain {
    #[trace(skip)]
    _n: u64,
    e: Gc<P>,
}

#[derive(Trace)]
struct AtomicEdges {
    next: gc_core::AtomicGc<AtomicEdges>,
    cell: GcCell<Option<gc_core::AtomicGc<P>>>,
    n: u32,
}

#[derive(Trace)]
struct OwnsMemory {
    e: Gc<P>,
    name: String,
}

#[test]
fn only_types_made_of_edges_skip_their_garbage_drop() {
    assert!(garbage_noop::<EdgesOnly>());
    assert!(garbage_noop::<EdgeEnum>());
    assert!(garbage_noop::<SkippedPlain>());
    assert!(garbage_noop::<AtomicEdges>());
    // A `String`, a cell, a skipped field with drop glue, a hand-written `Drop`: the
    // sweeper runs the drop glue.
    assert!(!garbage_noop::<OwnsMemory>());
    assert!(!garbage_noop::<Skipped>());
    assert!(!garbage_noop::<WithDrop>());
    assert!(!garbage_noop::<BothOptions<u8>>());
}

#[test]
fn unsafe_drop_and_always_scan_combine() {
    assert!(needs_trace::<BothOptions<u8>>());
    assert!(needs_trace::<SplitOptions>());
}

/// The derive's compile errors, and the other compile-time guarantees (`fail_guard_not_send`:
/// `GcCell` guards are `!Send`).
#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail_*.rs");
    t.pass("tests/ui/pass_*.rs");
}

/// Mutually recursive types without a `Gc` or `Box` between them (an interpreter's AST):
/// asking whether they need tracing ends (a bounded walk, then the sound answer `true`)
/// instead of recursing for ever, and allocating them works.
#[derive(Trace)]
#[allow(dead_code)]
enum AstExpr {
    Num(i64),
    Block(Vec<AstStmt>),
}

#[derive(Trace)]
#[allow(dead_code)]
enum AstStmt {
    Eval(AstExpr),
    Let(String, AstExpr),
}

#[test]
fn mutually_recursive_types_terminate() {
    assert!(<AstExpr as Trace>::needs_trace());
    assert!(<AstStmt as Trace>::needs_trace());
    let e = Gc::new(AstExpr::Block(vec![AstStmt::Let(
        "x".into(),
        AstExpr::Num(1),
    )]));
    gc_core::collect();
    match &*e {
        AstExpr::Block(v) => assert_eq!(v.len(), 1),
        AstExpr::Num(_) => panic!("wrong variant"),
    }
}

/// Types written by a macro, with field, variant and type names from its parameters: their
/// tokens carry the call's hygiene, the derive's `self` and locals must resolve anyway.
/// `$depth`, `$tracer`, `$from`, `$chunks` and `$next` are named as the derive's own
/// parameters and locals (`trace_chunk`'s, `unroot_chunk`'s).
macro_rules! graph_types {
    (
        $node:ident {
            $edges:ident, $label:ident: $label_ty:ty, $depth:ident, $tracer:ident,
            $from:ident, $chunks:ident, $next:ident
        },
        $link:ident, $boxed:ident<$t:ident>,
        $edge:ident { $named:ident { $to:ident, $weight:ident }, $tuple:ident, $wrapped:ident }
    ) => {
        #[derive(Trace)]
        struct $node {
            $edges: GcCell<Vec<$edge>>,
            $label: $label_ty,
            $depth: u32,
            $tracer: Option<Gc<$node>>,
            $from: Vec<Gc<$node>>,
            $chunks: usize,
            $next: Option<Gc<$node>>,
        }

        #[derive(Trace)]
        struct $link(Gc<$node>, #[trace(skip)] Mutex<u64>, $label_ty);

        #[derive(Trace)]
        struct $boxed<$t> {
            $edges: $t,
            marker: PhantomData<$t>,
        }

        #[derive(Trace)]
        enum $edge {
            $named { $to: Gc<$node>, $weight: u32 },
            $tuple($link),
            $wrapped($boxed<Option<Gc<$node>>>),
            Nothing,
        }
    };
}

graph_types!(
    MNode { edges, label: String, depth, tracer, from, chunks, next },
    MLink, MBox<T>,
    MEdge { Named { to, weight }, Tuple, Wrapped }
);

/// The other way round: the derive comes from the call, the fields from the macro.
macro_rules! with_attrs {
    ($(#[$m:meta])* $pair:ident, $(#[$e:meta])* $edge:ident) => {
        $(#[$m])* struct $pair(Option<Gc<MNode>>, u8);
        $(#[$e])* enum $edge { Node { node: Gc<MNode> }, Pair($pair, $pair), Empty }
    };
}

with_attrs!(
    #[derive(Trace)]
    AttrPair,
    #[derive(Trace)]
    AttrEdge
);

fn m_node(label: &str, depth: u32) -> Gc<MNode> {
    Gc::new(MNode {
        edges: GcCell::new(Vec::new()),
        label: label.into(),
        depth,
        tracer: None,
        from: Vec::new(),
        chunks: 0,
        next: None,
    })
}

#[test]
fn macro_generated_types_are_traced_and_freed() {
    assert!(needs_trace::<MNode>());
    assert!(needs_trace::<MEdge>());
    assert!(!needs_trace::<MBox<u8>>());
    assert!(needs_trace::<AttrEdge>());
    let side = m_node("side", 3);
    let weak_side = Gc::downgrade(&side);
    let holder = Gc::new(AttrEdge::Pair(AttrPair(Some(side), 1), AttrPair(None, 2)));
    let root = m_node("root", 0);
    let weak_root = Gc::downgrade(&root);
    let mut leaves = Vec::new();
    for i in 0..4 {
        let leaf = m_node(&format!("leaf {i}"), 1);
        // Each leaf points back at the root: every edge is part of a cycle.
        leaf.edges.borrow_mut().push(MEdge::Named {
            to: root.clone(),
            weight: i,
        });
        leaves.push(Gc::downgrade(&leaf));
        let edge = match i {
            0 => MEdge::Named {
                to: leaf,
                weight: 7,
            },
            1 => MEdge::Tuple(MLink(leaf, Mutex::new(0), "link".into())),
            2 => MEdge::Wrapped(MBox {
                edges: Some(leaf),
                marker: PhantomData,
            }),
            _ => {
                root.edges.borrow_mut().push(MEdge::Nothing);
                MEdge::Named {
                    to: leaf,
                    weight: 3,
                }
            }
        };
        root.edges.borrow_mut().push(edge);
    }
    let hub = m_node("hub", 2);
    let weak_hub = Gc::downgrade(&hub);
    // Reachable only through `top.tracer`, `top.from` and `top.next`, fields named as
    // parameters and locals of the derive's.
    let (via_from, via_next) = (m_node("via from", 4), m_node("via next", 5));
    let weak_via = [Gc::downgrade(&via_from), Gc::downgrade(&via_next)];
    let top = Gc::new(MNode {
        edges: GcCell::new(vec![MEdge::Named {
            to: root.clone(),
            weight: 0,
        }]),
        label: "top".into(),
        depth: 9,
        tracer: Some(hub),
        from: vec![via_from],
        chunks: 1,
        next: Some(via_next),
    });
    // The same in a cell, scanned through the derived `trace_chunk`.
    let in_cell = Gc::new(GcCell::new(MNode {
        edges: GcCell::new(Vec::new()),
        label: "cell".into(),
        depth: 7,
        tracer: None,
        from: vec![m_node("in a cell", 6)],
        chunks: 0,
        next: None,
    }));
    drop(root);
    for _ in 0..2 {
        gc_core::collect();
    }
    for (w, label) in weak_via.iter().zip(["via from", "via next"]) {
        assert_eq!(w.upgrade().expect("reachable from top").label, label);
    }
    assert_eq!(in_cell.borrow().from[0].label, "in a cell");
    // Everything is reachable from `top` through the derived fields: nothing was freed.
    let root = weak_root.upgrade().expect("root reachable from top");
    assert_eq!(root.label, "root");
    assert_eq!(root.edges.borrow().len(), 5);
    for (i, leaf) in leaves.iter().enumerate() {
        let leaf = leaf.upgrade().expect("leaf reachable through an edge");
        assert_eq!(leaf.label, format!("leaf {i}"));
        assert_eq!(leaf.depth, 1);
    }
    assert_eq!(weak_hub.upgrade().expect("hub reachable").depth, 2);
    assert_eq!(weak_side.upgrade().expect("side reachable").label, "side");
    drop(holder);
    collect_until(|| weak_side.upgrade().is_none());
    // Unreachable, the whole graph (cycles through every kind of edge) is freed.
    drop((root, top));
    collect_until(|| {
        weak_root.upgrade().is_none()
            && weak_hub.upgrade().is_none()
            && leaves.iter().all(|l| l.upgrade().is_none())
    });
}

/// No `Trace` impl: only types that do not ask for one can hold it.
struct NotTrace;

/// `T` occurs only in `PhantomData` and `fn` pointers (and a skipped field): no bound.
#[derive(Trace)]
struct Phantom<T> {
    marker: PhantomData<T>,
    make: fn() -> T,
    eat: unsafe fn(T, u8),
    call: extern "C" fn(*const T) -> bool,
    #[trace(skip)]
    skipped: Option<T>,
    gc: Option<Gc<P>>,
}

/// `Gc<Phantom<T>>` is `Trace` for every `T`, but the inferred bound (`T` occurs outside
/// `PhantomData`) would ask `T: Trace`; `bound = ""` drops it.
#[derive(Trace)]
#[trace(bound = "")]
struct Handle<T: 'static> {
    target: Option<Gc<Phantom<T>>>,
}

/// `bound` adds its own predicates instead (here stricter than inferred).
#[derive(Trace)]
#[trace(bound = "T: Trace + Clone")]
struct Cloned<T> {
    v: Vec<T>,
}

/// A projection is bounded, not its parameter.
#[derive(Trace)]
struct Items<I: Iterator> {
    items: Vec<I::Item>,
}

extern crate gc_core as renamed;

/// A runtime that re-exports `gc_core` under another path.
mod my_runtime {
    pub use gc_core as gc;
}

#[derive(renamed::Trace)]
#[trace(crate = "renamed")]
struct ThroughRenamed<T> {
    gc: Option<renamed::Gc<u32>>,
    v: Vec<T>,
}

mod nested {
    use super::my_runtime::gc::{Gc, Trace};

    #[derive(Trace)]
    #[trace(crate = "crate::my_runtime::gc", always_scan)]
    pub enum ThroughReexport<T> {
        A(Gc<u32>),
        B(T),
    }
}

#[test]
fn bounds_follow_traced_fields() {
    assert_trace::<Phantom<NotTrace>>();
    assert!(needs_trace::<Phantom<NotTrace>>());
    assert!(!<Phantom<NotTrace> as Trace>::drop_runs_user_code());
    assert_trace::<Handle<NotTrace>>();
    assert!(needs_trace::<Handle<NotTrace>>());
    assert!(!needs_trace::<Cloned<u8>>());
    assert!(needs_trace::<Cloned<Gc<P>>>());
    assert!(needs_trace::<Items<std::vec::IntoIter<Gc<P>>>>());
    assert!(!needs_trace::<Items<std::ops::Range<u32>>>());
}

#[test]
fn crate_path_reaches_the_runtime() {
    assert!(needs_trace::<ThroughRenamed<u8>>());
    assert!(needs_trace::<nested::ThroughReexport<u8>>());
    let inner = Gc::new(5u32);
    let weak = Gc::downgrade(&inner);
    let outer = Gc::new(nested::ThroughReexport::<String>::A(inner));
    gc_core::collect();
    assert_eq!(
        *weak.upgrade().expect("traced through the re-export's impl"),
        5
    );
    drop(outer);
    collect_until(|| weak.upgrade().is_none());
}

/// `handles_hint` (hidden: `Gc::new` asks it of a cell's contents to tell a large cell
/// cheaply) sums the traced fields' hints: a container's elements when they hold handles.
#[test]
fn handles_hint_sums_the_traced_fields() {
    #[derive(Trace)]
    struct List {
        items: Vec<Gc<u64>>,
        spare: Option<Gc<u64>>,
        #[trace(skip)]
        bytes: Vec<u8>,
        counts: Vec<u64>,
    }
    #[derive(Trace)]
    enum Value {
        Nil,
        List(List),
        Pair(Vec<Gc<u64>>, Vec<Gc<u64>>),
    }
    let one = Gc::new(1u64);
    let list = List {
        items: vec![one.clone(); 3],
        spare: Some(one.clone()),
        bytes: vec![0; 100],
        counts: vec![0; 100],
    };
    assert_eq!(list.handles_hint(), 4);
    assert_eq!(Value::List(list).handles_hint(), 4);
    assert_eq!(
        Value::Pair(vec![one.clone(); 2], vec![one; 5]).handles_hint(),
        7
    );
    assert_eq!(Value::Nil.handles_hint(), 0);
    // A vector of such values counts its elements, each as one handle at least, and as
    // many as its first element holds (a list of lists).
    assert_eq!(vec![Value::Nil, Value::Nil].handles_hint(), 2);
    let three = vec![Gc::new(2u64); 3];
    assert_eq!(vec![three.clone(); 4].handles_hint(), 12);
    assert_eq!(vec![vec![three; 2]; 5].handles_hint(), 30);
    assert_eq!(Vec::<Vec<Gc<u64>>>::new().handles_hint(), 0);
}

/// `Trace::roots_in_runs_at` (hidden): whether a long list of a type is rooted in runs,
/// its elements' handles through `root_into` inside one root operation per chunk.
fn runs<T: Trace>() -> bool {
    T::roots_in_runs_at(0)
}

/// A field type with a hand-written `Trace` impl: its `root` and `unroot` are user code,
/// which never runs inside a root operation (these call `collect()`, which would wait for
/// that operation for ever, and allocate). It holds one handle.
struct UserRooted {
    inner: Gc<u64>,
}

static USER_ROOTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

// SAFETY: every method forwards to the one handle.
unsafe impl Trace for UserRooted {
    fn trace(&self, tracer: &mut gc_core::Tracer) {
        self.inner.trace(tracer);
    }
    unsafe fn root(&mut self) {
        user_code();
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.inner.root() }
    }
    unsafe fn unroot(&mut self) {
        user_code();
        // SAFETY: forwarded from the caller's contract.
        unsafe { self.inner.unroot() }
    }
}

/// What `UserRooted`'s `root` and `unroot` do besides forwarding: count the call, collect
/// (which would wait for ever for a root operation of this thread's), allocate.
fn user_code() {
    USER_ROOTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    gc_core::collect();
    drop(Gc::new([1u64; 4]));
}

#[derive(Trace)]
enum RunValue {
    Nil,
    Num(f64),
    Text(String),
    Obj(Gc<u64>),
    Pair(Gc<u64>, Option<Gc<RunValue>>),
    Small([Option<Gc<u64>>; 4], (u8, Gc<u64>)),
}

#[derive(Trace)]
struct WithUserField {
    n: u64,
    user: UserRooted,
}

#[derive(Trace)]
enum WithList {
    One(Gc<u64>),
    Many(Vec<Gc<u64>>),
}

#[derive(Trace)]
struct WithBox {
    boxed: Box<Gc<u64>>,
}

#[derive(Trace)]
struct WithCell {
    cell: GcCell<Option<Gc<u64>>>,
}

#[derive(Trace)]
struct Holder<T> {
    x: T,
    y: Option<Gc<u64>>,
}

#[test]
fn lists_of_derived_values_root_in_runs() {
    assert!(runs::<Gc<u64>>());
    assert!(runs::<Option<Gc<u64>>>());
    assert!(runs::<(u8, Gc<u64>, String)>());
    assert!(runs::<[Gc<u64>; 16]>());
    assert!(runs::<RunValue>());
    assert!(runs::<P>());
    assert!(runs::<EdgesOnly>());
    assert!(runs::<Holder<Gc<u64>>>());
    assert!(runs::<u64>() && runs::<String>());
    // Unbounded contents (a list, a map), a box, a cell, user code, or a long array: each
    // element is rooted on its own (a list's own `root` takes its own runs).
    assert!(!runs::<[Gc<u64>; 17]>());
    assert!(!runs::<Vec<Gc<u64>>>());
    assert!(!runs::<std::collections::HashMap<u64, Gc<u64>>>());
    assert!(!runs::<WithList>());
    assert!(!runs::<WithBox>());
    assert!(!runs::<WithCell>());
    assert!(!runs::<UserRooted>());
    assert!(!runs::<WithUserField>());
    assert!(!runs::<Holder<UserRooted>>());
    assert!(!runs::<(Gc<u64>, UserRooted)>());
    assert!(!runs::<Option<UserRooted>>());
}

/// A list whose elements hold a field with a hand-written `root` and `unroot` is rooted
/// and unrooted element by element, outside any root operation: those call `collect()` and
/// allocate, and every element's are called (also when `Gc::new` moves the list in). (Were it called inside a run's operation, `collect()` would
/// wait for that operation for ever: the watchdog fails the test instead.) A list of
/// derived values in runs keeps every element through collections.
#[test]
fn user_root_code_in_a_list_runs_outside_root_operations() {
    common::with_watchdog("a list with user root code", || {
        let one = Gc::new(1u64);
        let mut users: Vec<WithUserField> = (0..200)
            .map(|n| WithUserField {
                n,
                user: UserRooted { inner: one.clone() },
            })
            .collect();
        let before = USER_ROOTS.load(std::sync::atomic::Ordering::SeqCst);
        // SAFETY: the handles are rooted; `unroot` then `root` leaves them rooted.
        unsafe {
            users.unroot();
            users.root();
        }
        let after = USER_ROOTS.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(after - before, 400);
        // Moved into a new object: each element made an edge on its own again.
        let moved = Gc::new(users);
        let moved_in = USER_ROOTS.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(moved_in - after, 200);
        drop(moved);

        let values: Vec<RunValue> = (0..5_000u64)
            .map(|i| match i % 4 {
                0 => RunValue::Obj(Gc::new(i)),
                1 => RunValue::Num(i as f64),
                2 => RunValue::Pair(Gc::new(i), Some(Gc::new(RunValue::Nil))),
                _ => RunValue::Small([None, Some(Gc::new(i)), None, None], (3, Gc::new(i))),
            })
            .collect();
        let list = Gc::new(GcCell::new(values));
        for round in 0..12u64 {
            // A write roots the whole list whenever an unroot pass made it edges.
            list.borrow_mut()[1] = RunValue::Obj(Gc::new(round));
            gc_core::collect();
        }
        for (i, v) in list.borrow().iter().enumerate().skip(2) {
            let i = i as u64;
            match v {
                RunValue::Obj(g) | RunValue::Pair(g, _) => assert_eq!(**g, i),
                RunValue::Num(n) => assert_eq!(*n, i as f64),
                RunValue::Small(a, (3, g)) => assert_eq!((*a[1].clone().unwrap(), **g), (i, i)),
                _ => panic!("element {i} changed"),
            }
        }
    });
}
