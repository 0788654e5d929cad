//! `#[derive(Trace)]` for `gc-core`.
//!
//! Use the derive through its re-export, `gc_core::Trace`; this crate is an implementation
//! detail of `gc-core`. The generated code refers to the runtime as `::gc_core`, or by the
//! path given with `#[trace(crate = "...")]`.
//!
//! The derive implements `gc_core::Trace` for a struct or enum by visiting every field in
//! `trace`, `root` and `unroot`, and computes `needs_trace()` from the field types, so a type
//! made only of plain data (`u64`, `String`, ...) lands in the collector's noscan spans.
//!
//! ```ignore
//! use gc_core::{Gc, Trace};
//!
//! #[derive(Trace)]
//! struct Node<T> {
//!     left: Option<Gc<Node<T>>>,
//!     right: Option<Gc<Node<T>>>,
//!     // Holds no `Gc`, and `Mutex` does not implement `Trace`: leave it out.
//!     #[trace(skip)]
//!     hits: std::sync::Mutex<u64>,
//!     value: T,
//! }
//!
//! // A recursive type works as is: `needs_trace()` is simply `true` for it.
//! #[derive(Trace)]
//! enum Expr {
//!     Num(i64),
//!     Add(Box<Expr>, Box<Expr>),
//!     Call { name: String, args: Vec<Expr> },
//! }
//! ```
//!
//! # Generated code
//!
//! For a type `Node<T>` the derive emits
//!
//! * `unsafe impl<T> Trace for Node<T> where T: Trace`, with bounds inferred from the traced
//!   fields (below), or those of `#[trace(bound = "...")]`; lifetimes, const generics and
//!   the type's own `where` clause are kept. `trace`, `root`, `unroot` and the hidden
//!   methods for map keys (`root_key`, `unroot_key`, `forget_edges`, `holds_keys_at`)
//!   forward to each field that is not `#[trace(skip)]` (enums: to the fields of the active
//!   variant); the hidden `handles_hint` is the sum of theirs, and the hidden
//!   `trace_counting`, `trace_chunk` and `unroot_chunk` visit them in order, so that a long
//!   list in a field is counted, scanned and made edges in chunks as a list directly in a
//!   `GcCell` is (a value of fewer handles than a chunk is traced whole; a type with a cell
//!   or a box in a field is made edges whole). `needs_trace()` is the `||`
//!   of the fields' `needs_trace()`;
//!   `drop_runs_user_code()` the `||` of the traced fields' `drop_runs_user_code()` and of
//!   `needs_drop` for skipped fields (`true` with `unsafe_drop`). Objects whose drop runs
//!   no user code are dropped in place while swept; the others are moved out of the heap
//!   and dropped outside the collector (see `gc_core::collect`). The hidden
//!   `garbage_drop_is_noop_at` is the `&&` of the traced fields' answers and of
//!   `!needs_drop` for skipped fields (`false` with `unsafe_drop`): a dead object made only
//!   of `Gc` edges and plain data is freed without running its drop glue at all.
//! * `impl<T> gc_core::__private::no_Drop_on_traced_types::use_trace_unsafe_drop_or_Gc_add_cleanup
//!   for Node<T> {}`, which conflicts with
//!   a hand-written `impl Drop for Node<T>`: a `Drop` impl could dereference a `Gc` whose
//!   target has already been swept (obligation 5 of `Trace`). The compile error reads
//!   "conflicting implementations of trait
//!   `gc_core::__private::no_Drop_on_traced_types::use_trace_unsafe_drop_or_Gc_add_cleanup`":
//!   the trait's path names the two ways out, `#[trace(unsafe_drop)]` and a cleanup
//!   registered with `Gc::add_cleanup` (finalisation that runs after the object is
//!   unreachable, given what it needs but not the object).
//!
//! ## Bounds
//!
//! As serde's derives do, the impl bounds only the type parameters that the traced fields
//! use: `T` gets `T: Trace` if it occurs in the type of a field that is not
//! `#[trace(skip)]`, outside `PhantomData<..>` and outside function pointer types
//! (`fn(A) -> B`, `unsafe fn`, `extern "C" fn`), whose `Trace` impls hold for every type.
//! So `PhantomData<T>`, `fn() -> T` and `fn(T)` fields add no bound, and neither does a
//! parameter used only in skipped fields. A path from a parameter (`T::Item`,
//! `<T as Iterator>::Item`) gets the bound itself (`T::Item: Trace`). The rule is about
//! syntax: a type alias or a wrapper that hides its parameter is not seen through, and a
//! macro in type position bounds every parameter named in it. When the inferred bounds are
//! wrong (too many, or too few: the impl then fails to compile, never unsound), state them
//! with `#[trace(bound = "...")]`.
//!
//! ## Hygiene
//!
//! The derive works on types that a `macro_rules!` macro writes, with field names and types
//! from the macro's parameters: `self` resolves where the methods' `&self` does, the
//! generated locals have mixed-site hygiene, and the code around each field is located at
//! the field's type, so a missing `Trace` impl is still reported on the field.
//!
//! # Attributes
//!
//! On a **field**:
//!
//! * `#[trace(skip)]`: the field is not traced, rooted or unrooted, its type need not
//!   implement `Trace`, and it does not count towards `needs_trace()` or the inferred
//!   bounds (its drop glue, if any, counts as user code for `drop_runs_user_code()`). Use it
//!   for fields that hold no `Gc` but whose type has no `Trace` impl (a `Mutex<u64>`, a file
//!   handle, a type from another crate). It is not `unsafe`: a `Gc` inside a skipped field
//!   is never unrooted, so it stays a counted root. That keeps its target alive (and leaks
//!   a cycle through it), but never frees anything early.
//!
//! On the **struct or enum**:
//!
//! * `#[trace(unsafe_drop)]`: allow a hand-written `Drop` impl (no drop-guard impl is
//!   generated). You take on obligation 5 of `Trace`: `drop` must never dereference a `Gc`
//!   reachable from the value, because its target may have been freed in the same cycle.
//!   Dropping the handles themselves is fine.
//! * `#[trace(always_scan)]`: make `needs_trace()` return `true` without looking at the
//!   fields. The derive already does this for a field whose type mentions the type itself
//!   (`Vec<Expr>`, `Option<Box<Self>>`). *Mutually* recursive types (`enum A { B(Vec<B>) }`
//!   / `enum B { A(Vec<A>) }`, or recursion through a type alias) need nothing: their
//!   `needs_trace()` asks each other only `__private::TRACE_DEPTH_LIMIT` derived types deep
//!   and then answers `true` (`Trace::needs_trace_at`), so they are scanned and dropped
//!   outside the collector as `always_scan` would have them, at the cost of that walk
//!   wherever the answer is asked at run time; `always_scan` makes it constant. It is always
//!   sound; it only costs the marker a scan of objects that might have been noscan, and the
//!   sweeper a move to the dropper for objects with drop glue (the fields'
//!   `drop_runs_user_code()` is not evaluated either: every field with drop glue counts).
//! * `#[trace(bound = "T: Trace, U::Item: Trace")]`: replace the inferred bounds entirely;
//!   the where-predicates in the string are added to the impl's `where` clause (after the
//!   type's own), and `bound = ""` adds none. The names in the string resolve where the type
//!   is written, so `Trace` must be in scope or spelled out (`gc_core::Trace`).
//! * `#[trace(crate = "my_runtime::gc")]`: the path at which `gc_core` is reachable, for a
//!   crate that re-exports it (or renames it: `extern crate gc_core as renamed;`). Every
//!   path the generated code names (`Trace`, `Tracer`, `__private`) starts there instead of
//!   at `::gc_core`.
//!
//! Several options go in one attribute or in several: `#[trace(unsafe_drop, always_scan)]`.
//! Each may be given once. Every misuse (an unknown option, an option in the wrong place,
//! a malformed value, a duplicate) is a compile error at the offending tokens that says
//! what to write instead.
//!
//! Unions and `#[repr(packed)]` types are rejected: the collector cannot tell which field of a
//! union is live, and fields of a packed type cannot be borrowed.
#![deny(missing_docs)]

mod attrs;
mod bodies;
mod bounds;
#[cfg(test)]
mod tests;

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::quote;
use syn::{parse_macro_input, Data, DeriveInput};

use attrs::push_error;
use bodies::Names;

/// Derives `gc_core::Trace` for a struct or enum.
///
/// Every field is traced, rooted and unrooted; a type parameter gets a `Trace` bound if a
/// traced field's type uses it (outside `PhantomData` and `fn` pointer types);
/// `needs_trace()` is `true` if any field's type may hold a `Gc`. A hand-written `Drop` impl
/// is rejected at compile time (use `#[trace(unsafe_drop)]`, or a cleanup registered with
/// `Gc::add_cleanup`, instead). Works on types written by `macro_rules!` macros.
///
/// ```ignore
/// use gc_core::{Gc, Trace};
///
/// #[derive(Trace)]
/// #[trace(unsafe_drop)] // the `Drop` impl below never dereferences `next`
/// struct Link {
///     next: Option<Gc<Link>>,
///     #[trace(skip)] // holds no `Gc`; `File` does not implement `Trace`
///     log: std::fs::File,
/// }
///
/// impl Drop for Link {
///     fn drop(&mut self) {
///         use std::io::Write;
///         let _ = writeln!(self.log, "link dropped");
///     }
/// }
/// ```
///
/// # Attributes
///
/// * Field: `#[trace(skip)]` leaves the field out of `trace`, `root`, `unroot`,
///   `needs_trace()` and the inferred bounds; its type need not implement `Trace`. A `Gc`
///   inside it is never unrooted and so stays a counted root (it keeps its target alive;
///   nothing is freed early).
/// * Type: `#[trace(unsafe_drop)]` allows a hand-written `Drop` impl. The `Drop` impl must never
///   dereference a `Gc` (its target may already have been swept).
/// * Type: `#[trace(always_scan)]` makes `needs_trace()` `true` without evaluating the
///   fields' `needs_trace()`. A field whose type names the type itself (`Vec<Expr>`,
///   `Vec<Self>`) is already treated this way, and *mutually* recursive types end up `true`
///   after a bounded walk (`Trace::needs_trace_at`); `always_scan` skips that walk.
/// * Type: `#[trace(bound = "T: Trace")]` replaces the inferred bounds with these
///   where-predicates (`bound = ""`: none).
/// * Type: `#[trace(crate = "my_runtime::gc")]` names the path at which `gc_core` is
///   reachable (default `::gc_core`), for crates that re-export or rename it.
///
/// Unions and `#[repr(packed)]` types are not supported.
#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}

/// The impls for `input`, or every error found in it.
fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let mut errors = None;
    let opts = attrs::type_opts(&input.attrs, &mut errors);
    if let Some(attr) = attrs::packed_repr(&input.attrs) {
        push_error(
            &mut errors,
            syn::Error::new_spanned(
                attr,
                "#[derive(Trace)] does not support #[repr(packed)]: fields of a packed type cannot be borrowed for tracing; remove `packed` (`#[repr(C)]` alone keeps the field order)",
            ),
        );
    }
    let names = Names::new(opts.krate.clone());

    let visit = match &input.data {
        Data::Union(u) => {
            let e = syn::Error::new(
                u.union_token.span,
                "#[derive(Trace)] does not support unions: the collector cannot know which field is live; use an enum, whose active variant the derive can see",
            );
            push_error(&mut errors, e);
            return Err(errors.expect("just pushed"));
        }
        Data::Struct(s) => bodies::struct_bodies(&s.fields, &names, &mut errors),
        Data::Enum(e) => bodies::enum_bodies(e, &names, &mut errors),
    };
    if let Some(errors) = errors {
        return Err(errors);
    }
    let traced = &visit.traced;

    let needs_trace = bodies::any_field(name, &opts, &names, traced, "needs_trace_at");
    let holds_keys = bodies::any_field(name, &opts, &names, traced, "holds_keys_at");
    let drop_fact = |fact| bodies::drop_fact(fact, name, &opts, &names, traced, &visit.skipped);
    let user_drop = drop_fact(bodies::DropFact::UserCode);
    let garbage_noop = drop_fact(bodies::DropFact::GarbageNoop);
    let roots_in_runs = bodies::roots_in_runs(&names, traced);
    let [trace_body, root_body, unroot_body, root_key_body, unroot_key_body, forget_body, hint_body, root_into_body, unroot_into_body] =
        visit.bodies.0;
    // The sum of the traced fields' hints (0 without any: no unused `mut`).
    let hint_body = if traced.is_empty() {
        quote!(0)
    } else {
        let hint = &names.hint;
        quote!({
            let mut #hint: usize = 0;
            #hint_body
            #hint
        })
    };
    // With nothing to visit, the tracer goes unused and `unsafe {}` would be an unused block.
    let (tracer_param, run_param, unsafe_bodies) = if traced.is_empty() {
        (
            quote!(_),
            quote!(_),
            [
                quote!(),
                quote!(),
                quote!(),
                quote!(),
                quote!(),
                quote!(),
                quote!(),
            ],
        )
    } else {
        // SAFETY (of the generated blocks): the unsafe methods forward the caller's contract
        // unchanged to each traced field, which the value owns (`&mut self`), or which is
        // reached only through `&self` as the value is (`root_key`, `unroot_key`).
        let (tracer, run) = (&names.tracer, &names.run);
        (
            quote!(#tracer),
            quote!(#run),
            [
                root_body,
                unroot_body,
                root_key_body,
                unroot_key_body,
                forget_body,
                root_into_body,
                unroot_into_body,
            ]
            .map(|b| quote!(unsafe { #b })),
        )
    };
    let [root_body, unroot_body, root_key_body, unroot_key_body, forget_body, root_into_body, unroot_into_body] =
        unsafe_bodies;

    let krate = names.krate(Span::call_site());
    // A list in a field is counted, scanned and made edges in chunks as a list in a cell
    // is (the trait's defaults, which trace everything, serve a type without traced
    // fields).
    // SAFETY (of the generated blocks of `unroot_chunk`): the caller's contract (as for
    // `unroot`) is forwarded unchanged to the value's own `unroot` or to the fields'
    // `unroot_chunk`, the fields `unroot` visits.
    let chunked = visit.chunked.map(|[counting, chunk, unroot]| {
        let (tracer, from) = (&names.tracer, &names.from);
        let unroots_in_chunks = bodies::unroots_in_chunks(&names, traced);
        quote! {
            #[inline]
            fn trace_counting(&self, #tracer: &mut #krate::Tracer) {
                #counting
            }

            #[inline]
            fn trace_chunk(&self, #tracer: &mut #krate::Tracer, #from: usize) -> ::core::option::Option<usize> {
                #chunk
            }

            #[inline(always)]
            fn unroots_in_chunks() -> bool {
                #unroots_in_chunks
            }

            #[inline]
            unsafe fn unroot_chunk(&mut self, #from: usize) -> ::core::option::Option<usize> {
                if !<Self as #krate::Trace>::unroots_in_chunks() {
                    if #from == 0 {
                        unsafe { <Self as #krate::Trace>::unroot(self) };
                    }
                    return ::core::option::Option::None;
                }
                unsafe { #unroot }
            }
        }
    });
    let traced_types: Vec<_> = traced.iter().map(|f| f.ty).collect();
    let generics = bounds::with_bounds(&input.generics, &opts, &traced_types, &krate);
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let depth = &names.depth;

    // The guard needs no bounds: it conflicts with a `Drop` impl whatever they are.
    let drop_guard = (!opts.unsafe_drop).then(|| {
        let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
        quote! {
            #[automatically_derived]
            impl #impl_generics #krate::__private::no_Drop_on_traced_types::use_trace_unsafe_drop_or_Gc_add_cleanup for #name #ty_generics #where_clause {}
        }
    });

    // SAFETY (of the generated impl): obligations 1-2, every non-skipped field is traced,
    // rooted and unrooted; 3, the derive adds no interior mutability; 4, `needs_trace()` is
    // the `||` of the fields'; 5, a hand-written `Drop` conflicts with the drop guard
    // unless `unsafe_drop` is written; 6, `drop_runs_user_code()` is `true` whenever a field's
    // drop may run user code (skipped fields count by `needs_drop`), and
    // `garbage_drop_is_noop()` is `true` only when every field's drop is a no-op for
    // garbage (skipped fields only without drop glue); 7, `holds_keys_at`,
    // `root_key`, `unroot_key` and `forget_edges` forward to the same fields as `trace`
    // (as does `handles_hint`, a guess that nothing relies on for soundness, and
    // `trace_counting` and `trace_chunk`, which trace the same fields in the same order,
    // stopping only between two fields or inside one field's own); `unroot_chunk` makes
    // the same fields as `unroot` edges, in order, in chunks only when
    // `unroots_in_chunks` (no field holds a cell) and whole otherwise; `root_into`
    // and `unroot_into` forward to the same fields as `root`, and `roots_in_runs_at` is
    // the `&&` of their answers (so it is `true` only if theirs are).
    // The bounds are not part of the argument: a missing one fails to compile.
    Ok(quote! {
        #[automatically_derived]
        unsafe impl #impl_generics #krate::Trace for #name #ty_generics #where_clause {
            #[inline(always)]
            fn needs_trace() -> bool {
                <Self as #krate::Trace>::needs_trace_at(0)
            }

            #[inline(always)]
            fn needs_trace_at(#depth: u32) -> bool {
                #needs_trace
            }

            #[inline(always)]
            fn drop_runs_user_code() -> bool {
                <Self as #krate::Trace>::drop_runs_user_code_at(0)
            }

            #[inline(always)]
            fn drop_runs_user_code_at(#depth: u32) -> bool {
                #user_drop
            }

            #[inline(always)]
            fn garbage_drop_is_noop_at(#depth: u32) -> bool {
                #garbage_noop
            }

            #[inline]
            fn trace(&self, #tracer_param: &mut #krate::Tracer) {
                #trace_body
            }

            #[inline]
            unsafe fn root(&mut self) {
                #root_body
            }

            #[inline]
            unsafe fn unroot(&mut self) {
                #unroot_body
            }

            #[inline(always)]
            fn roots_in_runs_at(#depth: u32) -> bool {
                #roots_in_runs
            }

            #[inline]
            unsafe fn root_into(&mut self, #run_param: &mut #krate::__private::RootRun<'_>) {
                #root_into_body
            }

            #[inline]
            unsafe fn unroot_into(&mut self, #run_param: &mut #krate::__private::RootRun<'_>) {
                #unroot_into_body
            }

            #[inline(always)]
            fn holds_keys_at(#depth: u32) -> bool {
                #holds_keys
            }

            #[inline]
            unsafe fn root_key(&self) {
                #root_key_body
            }

            #[inline]
            unsafe fn unroot_key(&self) {
                #unroot_key_body
            }

            #[inline]
            unsafe fn forget_edges(&mut self) {
                #forget_body
            }

            #[inline]
            fn handles_hint(&self) -> usize {
                #hint_body
            }

            #chunked
        }

        #drop_guard
    })
}
