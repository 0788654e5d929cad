//! `#[derive(Trace)]` for `gc-core`.
//!
//! Use the derive through its re-export, `gc_core::Trace`; this crate is an implementation
//! detail of `gc-core` and the generated code refers to `::gc_core` by absolute path.
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
//! * `unsafe impl<T: Trace> Trace for Node<T>`: every type parameter gets a `Trace` bound,
//!   lifetimes, const generics and the type's own `where` clause are kept. `trace`, `root`,
//!   `unroot` and the hidden methods for map keys (`root_key`, `unroot_key`,
//!   `forget_edges`, `holds_keys_at`) forward to each field that is not `#[trace(skip)]`
//!   (enums: to the fields of the active variant). `needs_trace()` is the `||` of the fields' `needs_trace()`;
//!   `drop_runs_user_code()` the `||` of the traced fields' `drop_runs_user_code()` and of
//!   `needs_drop` for skipped fields (`true` with `unsafe_drop`). Objects whose drop runs
//!   no user code are dropped in place while swept; the others are moved out of the heap
//!   and dropped outside the collector (see `gc_core::collect`).
//! * `impl<T: Trace> gc_core::__private::no_Drop_on_traced_types::use_trace_unsafe_drop_or_Gc_add_cleanup
//!   for Node<T> {}`, which conflicts with
//!   a hand-written `impl Drop for Node<T>`: a `Drop` impl could dereference a `Gc` whose
//!   target has already been swept (obligation 5 of `Trace`). The compile error reads
//!   "conflicting implementations of trait
//!   `gc_core::__private::no_Drop_on_traced_types::use_trace_unsafe_drop_or_Gc_add_cleanup`":
//!   the trait's path names the two ways out, `#[trace(unsafe_drop)]` and a cleanup
//!   registered with `Gc::add_cleanup` (finalisation that runs after the object is
//!   unreachable, given what it needs but not the object).
//!
//! # Attributes
//!
//! On a **field**:
//!
//! * `#[trace(skip)]`: the field is not traced, rooted or unrooted, its type need not
//!   implement `Trace`, and it does not count towards `needs_trace()` (its drop glue, if
//!   any, counts as user code for `drop_runs_user_code()`). Use it for fields that
//!   hold no `Gc` but whose type has no `Trace` impl (a `Mutex<u64>`, a file handle, a type
//!   from another crate). It is not `unsafe`: a `Gc` inside a skipped field is never unrooted,
//!   so it stays a counted root. That keeps its target alive (and leaks a cycle through it),
//!   but never frees anything early.
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
//!
//! Several options go in one attribute or in several: `#[trace(unsafe_drop, always_scan)]`.
//!
//! Unions and `#[repr(packed)]` types are rejected: the collector cannot tell which field of a
//! union is live, and fields of a packed type cannot be borrowed.
#![deny(missing_docs)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{
    parse_macro_input, parse_quote, Attribute, Data, DataEnum, DeriveInput, Fields, Ident, Index,
    Member, Token, Type,
};

/// Derives `gc_core::Trace` for a struct or enum.
///
/// Every field is traced, rooted and unrooted; every type parameter gets a `Trace` bound;
/// `needs_trace()` is `true` if any field's type may hold a `Gc`. A hand-written `Drop` impl
/// is rejected at compile time (use `#[trace(unsafe_drop)]`, or a cleanup registered with
/// `Gc::add_cleanup`, instead).
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
/// * Field: `#[trace(skip)]` leaves the field out of `trace`, `root`, `unroot` and
///   `needs_trace()`; its type need not implement `Trace`. A `Gc` inside it is never unrooted and
///   so stays a counted root (it keeps its target alive; nothing is freed early).
/// * Type: `#[trace(unsafe_drop)]` allows a hand-written `Drop` impl. The `Drop` impl must never
///   dereference a `Gc` (its target may already have been swept).
/// * Type: `#[trace(always_scan)]` makes `needs_trace()` `true` without evaluating the
///   fields' `needs_trace()`. A field whose type names the type itself (`Vec<Expr>`,
///   `Vec<Self>`) is already treated this way, and *mutually* recursive types end up `true`
///   after a bounded walk (`Trace::needs_trace_at`); `always_scan` skips that walk.
///
/// Unions and `#[repr(packed)]` types are not supported.
#[proc_macro_derive(Trace, attributes(trace))]
pub fn derive_trace(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(|e| e.to_compile_error())
        .into()
}

/// The options accepted on the struct or enum.
const CONTAINER_OPTIONS: &str = "`unsafe_drop`, `always_scan`";
/// The options accepted on a field.
const FIELD_OPTIONS: &str = "`skip`";

/// Options given on the struct or enum.
#[derive(Default)]
struct ContainerOpts {
    unsafe_drop: bool,
    always_scan: bool,
}

/// A field that is traced, with the expressions that reach it from `trace` (`&T`) and from
/// `root`/`unroot` (`&mut T`).
struct TracedField<'a> {
    ty: &'a Type,
    by_ref: TokenStream2,
    by_mut: TokenStream2,
}

/// Adds `error` to the accumulated errors.
fn push_error(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(e) => e.combine(error),
        None => *errors = Some(error),
    }
}

/// Runs `f` on each option (`key` in `#[trace(key, ...)]`) of each `#[trace]` attribute.
/// Options take no value; `f` returns an error for keys it does not accept.
fn for_each_option(
    attrs: &[Attribute],
    errors: &mut Option<syn::Error>,
    mut f: impl FnMut(&Ident) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("trace")) {
        if let Err(e) = attr.meta.require_list() {
            push_error(
                errors,
                syn::Error::new_spanned(
                    attr,
                    format!("{e}: write `#[trace(option, ...)]`; options are {CONTAINER_OPTIONS} on the type and {FIELD_OPTIONS} on a field"),
                ),
            );
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            let Some(key) = meta.path.get_ident() else {
                return Err(meta.error(format!(
                    "expected a #[trace] option: {CONTAINER_OPTIONS} on the type, {FIELD_OPTIONS} on a field"
                )));
            };
            if !(meta.input.is_empty() || meta.input.peek(Token![,])) {
                return Err(meta.error(format!("`{key}` takes no value: write `#[trace({key})]`")));
            }
            f(key)
        });
        if let Err(e) = result {
            push_error(errors, e);
        }
    }
}

/// Parses the `#[trace(...)]` attributes of the struct or enum.
fn container_opts(attrs: &[Attribute], errors: &mut Option<syn::Error>) -> ContainerOpts {
    let mut opts = ContainerOpts::default();
    for_each_option(attrs, errors, |key| {
        let slot = if key == "unsafe_drop" {
            &mut opts.unsafe_drop
        } else if key == "always_scan" {
            &mut opts.always_scan
        } else if key == "skip" {
            return Err(syn::Error::new_spanned(
                key,
                format!(
                    "`skip` applies to fields: put `#[trace(skip)]` on the fields to leave out (options on the type are {CONTAINER_OPTIONS})"
                ),
            ));
        } else {
            return Err(syn::Error::new_spanned(
                key,
                format!("unknown #[trace] option `{key}` on a type; expected one of {CONTAINER_OPTIONS} (or {FIELD_OPTIONS} on a field)"),
            ));
        };
        if std::mem::replace(slot, true) {
            return Err(syn::Error::new_spanned(
                key,
                format!("duplicate #[trace] option `{key}`"),
            ));
        }
        Ok(())
    });
    opts
}

/// Parses the `#[trace(...)]` attributes of a field; returns whether it is skipped.
fn field_skipped(attrs: &[Attribute], errors: &mut Option<syn::Error>) -> bool {
    let mut skip = false;
    for_each_option(attrs, errors, |key| {
        if key == "skip" {
            if std::mem::replace(&mut skip, true) {
                return Err(syn::Error::new_spanned(
                    key,
                    "duplicate #[trace] option `skip`",
                ));
            }
            Ok(())
        } else if key == "unsafe_drop" || key == "always_scan" {
            Err(syn::Error::new_spanned(
                key,
                format!("`{key}` applies to the whole type: put `#[trace({key})]` on the struct or enum, not on a field (the field option is {FIELD_OPTIONS})"),
            ))
        } else {
            Err(syn::Error::new_spanned(
                key,
                format!("unknown #[trace] option `{key}` on a field; expected {FIELD_OPTIONS} (or {CONTAINER_OPTIONS} on the type)"),
            ))
        }
    });
    skip
}

/// Rejects `#[trace(...)]` on an enum variant.
fn reject_variant_attrs(attrs: &[Attribute], errors: &mut Option<syn::Error>) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("trace")) {
        push_error(
            errors,
            syn::Error::new_spanned(
                attr,
                format!("#[trace] options are not accepted on enum variants; put {FIELD_OPTIONS} on the variant's fields, {CONTAINER_OPTIONS} on the enum"),
            ),
        );
    }
}

/// Whether the type has `#[repr(packed)]` / `#[repr(packed(N))]`.
fn packed_repr(attrs: &[Attribute]) -> Option<&Attribute> {
    attrs.iter().find(|attr| {
        attr.path().is_ident("repr")
            && attr.meta.require_list().is_ok_and(|list| {
                list.tokens
                    .clone()
                    .into_iter()
                    .any(|tt| matches!(&tt, TokenTree::Ident(i) if i == "packed"))
            })
    })
}

/// Whether `tokens` name the type being derived (by its ident or `Self`) or contain a macro
/// invocation, which could expand to either. Such a field makes the answer `true` at once,
/// without the walk to the depth limit.
fn mentions_self(tokens: TokenStream2, name: &Ident) -> bool {
    tokens.into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == *name || i == "Self",
        TokenTree::Punct(p) => p.as_char() == '!',
        TokenTree::Group(g) => mentions_self(g.stream(), name),
        TokenTree::Literal(_) => false,
    })
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let name = &input.ident;
    let mut errors = None;
    let opts = container_opts(&input.attrs, &mut errors);
    if let Some(attr) = packed_repr(&input.attrs) {
        push_error(
            &mut errors,
            syn::Error::new_spanned(
                attr,
                "#[derive(Trace)] does not support #[repr(packed)]: fields of a packed type cannot be borrowed for tracing",
            ),
        );
    }

    let (traced, skipped, bodies) = match &input.data {
        Data::Union(u) => {
            let e = syn::Error::new(
                u.union_token.span,
                "#[derive(Trace)] does not support unions: the collector cannot know which field is live",
            );
            push_error(&mut errors, e);
            return Err(errors.expect("just pushed"));
        }
        Data::Struct(s) => struct_bodies(&s.fields, &mut errors),
        Data::Enum(e) => enum_bodies(e, &mut errors),
    };
    if let Some(errors) = errors {
        return Err(errors);
    }

    let needs_trace = any_field(name, &opts, &traced, quote!(needs_trace_at));
    let holds_keys = any_field(name, &opts, &traced, quote!(holds_keys_at));
    let user_drop = drop_runs_user_code(name, &opts, &traced, &skipped);
    let [trace_body, root_body, unroot_body, root_key_body, unroot_key_body, forget_body] =
        bodies.0;
    // With nothing to visit, the tracer goes unused and `unsafe {}` would be an unused block.
    let (tracer_param, unsafe_bodies) = if traced.is_empty() {
        (
            quote!(_tracer),
            [quote!(), quote!(), quote!(), quote!(), quote!()],
        )
    } else {
        // SAFETY (of the generated blocks): the unsafe methods forward the caller's contract
        // unchanged to each traced field, which the value owns (`&mut self`), or which is
        // reached only through `&self` as the value is (`root_key`, `unroot_key`).
        (
            quote!(tracer),
            [
                root_body,
                unroot_body,
                root_key_body,
                unroot_key_body,
                forget_body,
            ]
            .map(|b| quote!(unsafe { #b })),
        )
    };
    let [root_body, unroot_body, root_key_body, unroot_key_body, forget_body] = unsafe_bodies;

    let mut generics = input.generics.clone();
    for param in generics.type_params_mut() {
        param.bounds.push(parse_quote!(::gc_core::Trace));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    let drop_guard = (!opts.unsafe_drop).then(|| {
        quote! {
            #[automatically_derived]
            impl #impl_generics ::gc_core::__private::no_Drop_on_traced_types::use_trace_unsafe_drop_or_Gc_add_cleanup for #name #ty_generics #where_clause {}
        }
    });

    // SAFETY (of the generated impl): obligations 1-2, every non-skipped field is traced,
    // rooted and unrooted; 3, the derive adds no interior mutability; 4, `needs_trace()` is
    // the `||` of the fields'; 5, a hand-written `Drop` conflicts with the drop guard
    // unless `unsafe_drop` is written; 6, `drop_runs_user_code()` is `true` whenever a field's
    // drop may run user code (skipped fields count by `needs_drop`); 7, `holds_keys_at`,
    // `root_key`, `unroot_key` and `forget_edges` forward to the same fields as `trace`.
    Ok(quote! {
        #[automatically_derived]
        unsafe impl #impl_generics ::gc_core::Trace for #name #ty_generics #where_clause {
            #[inline(always)]
            fn needs_trace() -> bool {
                <Self as ::gc_core::Trace>::needs_trace_at(0)
            }

            #[inline(always)]
            fn needs_trace_at(depth: u32) -> bool {
                #needs_trace
            }

            #[inline(always)]
            fn drop_runs_user_code() -> bool {
                <Self as ::gc_core::Trace>::drop_runs_user_code_at(0)
            }

            #[inline(always)]
            fn drop_runs_user_code_at(depth: u32) -> bool {
                #user_drop
            }

            #[inline]
            fn trace(&self, #tracer_param: &mut ::gc_core::Tracer) {
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
            fn holds_keys_at(depth: u32) -> bool {
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
        }

        #drop_guard
    })
}

/// The generated methods that visit every traced field: name, whether they take `&mut self`,
/// and the arguments after the field. `Bodies` and `calls` follow this order.
const METHODS: [(&str, bool, &str); 6] = [
    ("trace", false, "tracer"),
    ("root", true, ""),
    ("unroot", true, ""),
    ("root_key", false, ""),
    ("unroot_key", false, ""),
    ("forget_edges", true, ""),
];

/// The statements of the [`METHODS`], in that order (without any `unsafe` block).
struct Bodies([TokenStream2; 6]);

/// The traced fields of a struct, the types of its skipped fields, and the method bodies
/// that visit the traced ones through `self`.
fn struct_bodies<'a>(
    fields: &'a Fields,
    errors: &mut Option<syn::Error>,
) -> (Vec<TracedField<'a>>, Vec<&'a Type>, Bodies) {
    let mut traced = Vec::new();
    let mut skipped = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        if field_skipped(&field.attrs, errors) {
            skipped.push(&field.ty);
            continue;
        }
        let member = match &field.ident {
            Some(ident) => Member::Named(ident.clone()),
            None => Member::Unnamed(Index {
                span: field.ty.span(),
                ..Index::from(i)
            }),
        };
        let span = member.span();
        traced.push(TracedField {
            ty: &field.ty,
            by_ref: quote_spanned!(span=> &self.#member),
            by_mut: quote_spanned!(span=> &mut self.#member),
        });
    }
    let bodies = Bodies(calls(&traced).map(|c| quote!(#(#c)*)));
    (traced, skipped, bodies)
}

/// The traced fields of all variants of an enum, the types of the skipped ones, and the
/// method bodies that visit the traced ones: a `match self` with one arm per variant that
/// has traced fields, and one arm (an or-pattern) for all the variants that have none.
/// Without any traced field, the bodies are empty.
fn enum_bodies<'a>(
    data: &'a DataEnum,
    errors: &mut Option<syn::Error>,
) -> (Vec<TracedField<'a>>, Vec<&'a Type>, Bodies) {
    let mut traced = Vec::new();
    let mut skipped = Vec::new();
    let mut arms: [Vec<TokenStream2>; 6] = Default::default();
    let mut empty_pats = vec![];
    for variant in &data.variants {
        reject_variant_attrs(&variant.attrs, errors);
        let name = &variant.ident;
        let first = traced.len();
        let mut skipped_any = false;
        let mut pats = vec![];
        for (i, field) in variant.fields.iter().enumerate() {
            if field_skipped(&field.attrs, errors) {
                // Named patterns list only traced fields (`..` covers the rest).
                skipped_any = true;
                skipped.push(&field.ty);
                if field.ident.is_none() {
                    pats.push(quote!(_));
                }
                continue;
            }
            let binding = format_ident!("__gc_field_{}", i);
            pats.push(match &field.ident {
                Some(ident) => quote!(#ident: #binding),
                None => binding.to_token_stream(),
            });
            let binding = Ident::new(&binding.to_string(), field.ty.span());
            traced.push(TracedField {
                ty: &field.ty,
                by_ref: binding.to_token_stream(),
                by_mut: binding.into_token_stream(),
            });
        }
        let fields = &traced[first..];
        if fields.is_empty() {
            empty_pats.push(match &variant.fields {
                Fields::Named(_) => quote!(Self::#name { .. }),
                Fields::Unnamed(_) => quote!(Self::#name(..)),
                Fields::Unit => quote!(Self::#name),
            });
            continue;
        }
        let pat = match &variant.fields {
            Fields::Named(_) => {
                let rest = skipped_any.then(|| quote!(, ..));
                quote!(Self::#name { #(#pats),* #rest })
            }
            Fields::Unnamed(_) => quote!(Self::#name(#(#pats),*)),
            Fields::Unit => unreachable!("unit variants have no fields"),
        };
        for (arms, calls) in arms.iter_mut().zip(calls(fields)) {
            arms.push(quote!(#pat => { #(#calls)* }));
        }
    }
    if traced.is_empty() {
        return (traced, skipped, Bodies(Default::default()));
    }
    let empty_arm = (!empty_pats.is_empty()).then(|| quote!(#(#empty_pats)|* => {}));
    let bodies = Bodies(arms.map(|arms| quote!(match self { #(#arms)* #empty_arm })));
    (traced, skipped, bodies)
}

/// The statements of each of the [`METHODS`] for `fields`, spanned at each field's type so
/// that a missing `Trace` impl is reported on the field.
fn calls(fields: &[TracedField]) -> [Vec<TokenStream2>; 6] {
    METHODS.map(|(method, by_mut, args)| {
        let method = Ident::new(method, Span::call_site());
        let args: TokenStream2 = args.parse().expect("method arguments");
        let args = (!args.is_empty()).then(|| quote!(, #args));
        fields
            .iter()
            .map(|field| {
                // Calling through `<Ty as Trace>` makes a missing impl fail on the type's own
                // tokens, the same span as in `needs_trace()`, so the compiler reports it once.
                let span = field.ty.span();
                let ty = field.ty;
                let receiver = if by_mut { &field.by_mut } else { &field.by_ref };
                quote_spanned!(span=> <#ty as ::gc_core::Trace>::#method(#receiver #args);)
            })
            .collect()
    })
}

/// The body of `needs_trace_at` or `holds_keys_at` (`method`): the `||` of the traced
/// fields' answers, with each distinct type listed once, or `true` if a field's type refers
/// to the type being derived.
fn any_field(
    name: &Ident,
    opts: &ContainerOpts,
    fields: &[TracedField],
    method: TokenStream2,
) -> TokenStream2 {
    if opts.always_scan {
        return quote!({
            let _ = depth;
            true
        });
    }
    let mut seen = std::collections::HashSet::new();
    let mut terms = Vec::new();
    for field in fields {
        let ty = field.ty.to_token_stream();
        if mentions_self(ty.clone(), name) {
            return quote!({
                let _ = depth;
                true
            });
        }
        if seen.insert(ty.to_string()) {
            let span = field.ty.span();
            terms.push(quote_spanned!(span=> <#ty as ::gc_core::Trace>::#method(depth + 1)));
        }
    }
    if terms.is_empty() {
        quote!({
            let _ = depth;
            false
        })
    } else {
        // Past the limit the answer is `true` (sound), which ends every `||` above it:
        // mutually recursive types stop asking each other (`Trace::needs_trace_at`).
        quote!(depth >= ::gc_core::__private::TRACE_DEPTH_LIMIT || #(#terms)||*)
    }
}

/// The `drop_runs_user_code()` body: `true` with `#[trace(unsafe_drop)]` (a hand-written
/// `Drop`); otherwise the `||` of the traced fields' `drop_runs_user_code()` and of
/// `needs_drop` for skipped fields (the derive cannot see what their drop does). A field
/// whose type names the type being derived outside a `Gc<..>` (`Vec<Self>`) would make the
/// function call itself: it counts as `needs_drop` too. Behind a `Gc` it cannot: a
/// handle's drop is the runtime's whatever it points to, so `Option<Gc<Node>>` stays exact.
/// With `always_scan` (mutual recursion the derive cannot see) every field counts as
/// `needs_drop`.
fn drop_runs_user_code(
    name: &Ident,
    opts: &ContainerOpts,
    traced: &[TracedField],
    skipped: &[&Type],
) -> TokenStream2 {
    if opts.unsafe_drop {
        return quote!({
            let _ = depth;
            true
        });
    }
    let mut seen = std::collections::HashSet::new();
    let mut terms = Vec::new();
    let traced = traced.iter().map(|f| (f.ty, true));
    for (ty, is_traced) in traced.chain(skipped.iter().map(|&t| (t, false))) {
        let tokens = ty.to_token_stream();
        if !seen.insert((tokens.to_string(), is_traced)) {
            continue;
        }
        let span = ty.span();
        terms.push(
            if is_traced && !opts.always_scan && !mentions_self_outside_gc(tokens.clone(), name) {
                quote_spanned!(span=> <#ty as ::gc_core::Trace>::drop_runs_user_code_at(depth + 1))
            } else {
                quote_spanned!(span=> ::core::mem::needs_drop::<#ty>())
            },
        );
    }
    if terms.is_empty() {
        quote!({
            let _ = depth;
            false
        })
    } else {
        quote!(depth >= ::gc_core::__private::TRACE_DEPTH_LIMIT || #(#terms)||*)
    }
}

/// Like [`mentions_self`], but a mention inside the angle brackets of a `Gc<..>` or
/// `AtomicGc<..>` does not count.
fn mentions_self_outside_gc(tokens: TokenStream2, name: &Ident) -> bool {
    let mut iter = tokens.into_iter().peekable();
    while let Some(tt) = iter.next() {
        match tt {
            TokenTree::Ident(i) if i == "Gc" || i == "AtomicGc" => {
                if matches!(iter.peek(), Some(TokenTree::Punct(p)) if p.as_char() == '<') {
                    // Skip to the matching `>` (angle brackets are not token groups).
                    let mut depth = 0usize;
                    for tt in iter.by_ref() {
                        match &tt {
                            TokenTree::Punct(p) if p.as_char() == '<' => depth += 1,
                            TokenTree::Punct(p) if p.as_char() == '>' => {
                                // (A `->` inside ends the skip early: conservative.)
                                if depth <= 1 {
                                    break;
                                }
                                depth -= 1;
                            }
                            TokenTree::Punct(p) if p.as_char() == '!' => return true,
                            _ => {}
                        }
                    }
                }
            }
            TokenTree::Ident(i) => {
                if i == *name || i == "Self" {
                    return true;
                }
            }
            TokenTree::Punct(p) => {
                if p.as_char() == '!' {
                    return true;
                }
            }
            TokenTree::Group(g) => {
                if mentions_self_outside_gc(g.stream(), name) {
                    return true;
                }
            }
            TokenTree::Literal(_) => {}
        }
    }
    false
}
