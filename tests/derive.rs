//! Compile-time checks for `#[derive(Trace)]`: which shapes of type it accepts, the
//! `needs_trace()` it computes, and (in `ui`) the errors it reports. Nothing here allocates.

#![allow(dead_code)]

use gc_core::{Gc, Trace};
use std::marker::PhantomData;

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

#[test]
fn unsafe_drop_and_always_scan_combine() {
    assert!(needs_trace::<BothOptions<u8>>());
    assert!(needs_trace::<SplitOptions>());
}

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
