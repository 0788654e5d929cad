//! Unit tests of the expansion, on token streams: the where clause the bounds rule gives,
//! and the paths a `crate = "..."` option leaves in the generated code. (What the compiler
//! makes of the code, and the error messages, are checked by `tests/derive.rs` and its ui
//! cases.)

use quote::ToTokens;
use syn::{DeriveInput, File, Item, ItemImpl, WherePredicate};

/// The items `expand` generates for `src`, which must be accepted.
fn expand_str(src: &str) -> File {
    let input: DeriveInput = syn::parse_str(src).expect("test input parses");
    let out = crate::expand(&input).unwrap_or_else(|e| panic!("expand failed: {e}"));
    syn::parse2(out).expect("the expansion parses as items")
}

/// The `Trace` impl among `file`'s items (the one with methods).
fn trace_impl(file: &File) -> &ItemImpl {
    file.items
        .iter()
        .find_map(|item| match item {
            Item::Impl(i) if !i.items.is_empty() => Some(i),
            _ => None,
        })
        .expect("a Trace impl")
}

/// The where-predicates of the `Trace` impl for `src`, as normalised strings.
fn predicates(src: &str) -> Vec<String> {
    let file = expand_str(src);
    let generics = &trace_impl(&file).generics;
    let Some(where_clause) = &generics.where_clause else {
        return vec![];
    };
    where_clause
        .predicates
        .iter()
        .map(|p| p.to_token_stream().to_string())
        .collect()
}

/// `pred` as `predicates` prints it.
fn norm(pred: &str) -> String {
    syn::parse_str::<WherePredicate>(pred)
        .expect("test predicate parses")
        .to_token_stream()
        .to_string()
}

fn norms(preds: &[&str]) -> Vec<String> {
    preds.iter().map(|p| norm(p)).collect()
}

#[test]
fn only_parameters_in_traced_fields_are_bounded() {
    let got = predicates(
        "struct S<A, B, C, D, E, F, G> {
            a: Vec<A>,
            b: ::core::marker::PhantomData<B>,
            c: fn(C) -> D,
            #[trace(skip)]
            e: E,
            f: Option<(u8, Box<F>)>,
            g: std::marker::PhantomData<fn(G)>,
        }",
    );
    assert_eq!(got, norms(&["A: ::gc_core::Trace", "F: ::gc_core::Trace"]));
}

#[test]
fn function_pointer_variants_add_no_bounds() {
    let got = predicates(
        r#"struct S<A, R> {
            a: unsafe fn(A) -> R,
            b: extern "C" fn(&'static A),
            c: Option<unsafe extern "C" fn() -> R>,
        }"#,
    );
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn projections_are_bounded_instead_of_their_parameter() {
    let got = predicates(
        "struct S<I: Iterator, J: IntoIterator> where I::Item: Copy {
            a: Vec<I::Item>,
            b: <J as IntoIterator>::IntoIter,
            c: <u8 as Clone>::Output,
        }",
    );
    assert_eq!(
        got,
        norms(&[
            "I::Item: Copy",
            "I::Item: ::gc_core::Trace",
            "<J as IntoIterator>::IntoIter: ::gc_core::Trace",
        ])
    );
}

#[test]
fn macros_and_groups_are_seen_through_conservatively() {
    // A type macro cannot be read: every parameter it names counts, even in a `PhantomData`.
    let got = predicates(
        "struct S<A, B, C> {
            a: my_type!(A, PhantomData<B>),
            c: PhantomData<C>,
        }",
    );
    assert_eq!(got, norms(&["A: ::gc_core::Trace", "B: ::gc_core::Trace"]));
}

#[test]
fn repeated_uses_give_one_bound_and_where_clauses_are_kept() {
    let got = predicates(
        "enum E<'a, T: 'a, const N: usize> where T: Clone {
            A(T, [T; N]),
            B { t: Option<T>, r: PhantomData<&'a T> },
        }",
    );
    assert_eq!(got, norms(&["T: Clone", "T: ::gc_core::Trace"]));
}

#[test]
fn bound_replaces_the_inferred_bounds() {
    let got = predicates(
        r#"#[trace(bound = "T: Clone + Trace, Vec<U>: Trace")]
        struct S<T, U> where U: Copy {
            t: T,
            u: U,
        }"#,
    );
    assert_eq!(
        got,
        norms(&["U: Copy", "T: Clone + Trace", "Vec<U>: Trace"])
    );
    let none = predicates(
        r#"#[trace(bound = "")]
        struct S<T> {
            t: Vec<T>,
        }"#,
    );
    assert!(none.is_empty(), "{none:?}");
}

#[test]
fn drop_guard_has_no_trace_bounds() {
    let file = expand_str("struct S<T> where T: Copy { t: T }");
    let guard = file
        .items
        .iter()
        .find_map(|item| match item {
            Item::Impl(i) if i.items.is_empty() => Some(i),
            _ => None,
        })
        .expect("a drop guard impl");
    let preds: Vec<_> = guard
        .generics
        .where_clause
        .iter()
        .flat_map(|w| w.predicates.iter())
        .map(|p| p.to_token_stream().to_string())
        .collect();
    assert_eq!(preds, norms(&["T: Copy"]));
}

#[test]
fn crate_path_replaces_every_gc_core_path() {
    let file = expand_str(
        r#"#[trace(crate = "my_runtime::gc")]
        enum E<T> {
            A(Vec<T>, #[trace(skip)] String),
            B { gc: Option<Box<E<T>>> },
            C,
        }"#,
    );
    let out = file.to_token_stream().to_string();
    assert!(!out.contains("gc_core"), "{out}");
    for path in [
        "my_runtime :: gc :: Trace for E",
        "T : my_runtime :: gc :: Trace",
        "& mut my_runtime :: gc :: Tracer",
        "my_runtime :: gc :: __private :: TRACE_DEPTH_LIMIT",
        "my_runtime :: gc :: __private :: no_Drop_on_traced_types :: use_trace_unsafe_drop_or_Gc_add_cleanup for E",
        "< Vec < T > as my_runtime :: gc :: Trace > :: trace",
    ] {
        assert!(out.contains(path), "no `{path}` in {out}");
    }
}

#[test]
fn default_crate_path_is_absolute() {
    let out = expand_str("struct S { a: u8 }")
        .to_token_stream()
        .to_string();
    assert!(out.contains(":: gc_core :: Trace for S"), "{out}");
    assert!(
        !out.replace(":: gc_core", "").contains("gc_core"),
        "a relative gc_core path: {out}"
    );
}

#[test]
fn misuses_are_errors_naming_the_fix() {
    let cases = [
        (
            r#"#[trace(bound = 3)] struct S;"#,
            "`bound` takes a string, not this literal: write `#[trace(bound = \"T: Trace\")]`",
        ),
        (r#"#[trace(crate = "")] struct S;"#, "`crate` needs a path"),
        (
            r#"#[trace(crate = "a", crate = "b")] struct S;"#,
            "duplicate #[trace] option `crate`: write it once",
        ),
        (
            r#"struct S { #[trace(bound = "T: Trace")] a: u8 }"#,
            "`bound` applies to the whole type",
        ),
        (
            "enum E { #[trace(skip)] A(u8) }",
            "put `#[trace(skip)]` on each of the variant's fields",
        ),
    ];
    for (src, expected) in cases {
        let input: DeriveInput = syn::parse_str(src).expect("test input parses");
        let Err(e) = crate::expand(&input) else {
            panic!("`{src}` was accepted");
        };
        assert!(
            e.to_string().contains(expected),
            "`{src}`: `{e}` does not say `{expected}`"
        );
    }
}
