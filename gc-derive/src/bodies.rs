//! The bodies of the generated methods: the calls that visit each traced field (`trace`,
//! `root`, `unroot`, their run forms `root_into` and `unroot_into`, and the key methods),
//! the `||` of the fields' answers for `needs_trace_at`, `holds_keys_at` and
//! `drop_runs_user_code_at`, and the `&&` for `garbage_drop_is_noop_at` and
//! `roots_in_runs_at`.
//!
//! Hygiene: a type written by a `macro_rules!` macro has field names and types whose
//! tokens carry the macro's (or its caller's) hygiene, which need not be the derive's. So
//! `self` is spanned [`at`] the field but resolves at the derive's call site, like the
//! methods' `&self`, and the generated locals (`depth`, `tracer`, the enum bindings) have
//! [`Span::mixed_site`] hygiene: no name in the user's type can capture or miss them. The
//! rest of the code around a field's type (`<Ty as ::gc_core::Trace>::trace(..)`) carries
//! the type's own span, so that a missing `Trace` impl is reported on the field as an error
//! in the user's code; it names only absolute paths, the user's `crate = "..."` path (with
//! the string's span) and trait methods, which resolve the same in any hygiene context.

use proc_macro2::{Span, TokenStream as TokenStream2, TokenTree};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::spanned::Spanned;
use syn::{DataEnum, Fields, Ident, Index, Member, Path, Type};

use crate::attrs::{field_skipped, reject_variant_attrs, TypeOpts};

/// What every generated fragment shares: the path to the runtime and the names of the
/// generated parameters.
pub(crate) struct Names {
    /// `#[trace(crate = "...")]`, or `None` for `::gc_core`.
    krate: Option<Path>,
    /// The parameter of the `*_at(depth)` methods.
    pub depth: Ident,
    /// The parameter of `trace`.
    pub tracer: Ident,
    /// The sum `handles_hint` adds the fields' hints to.
    pub hint: Ident,
    /// The parameter of `root_into` and `unroot_into`.
    pub run: Ident,
    /// `trace_chunk`'s resume index.
    pub from: Ident,
    /// `trace_chunk`'s scan over the fields (`__private::FieldChunks`).
    chunks: Ident,
}

impl Names {
    pub fn new(krate: Option<Path>) -> Names {
        Names {
            krate,
            depth: Ident::new("depth", Span::mixed_site()),
            tracer: Ident::new("tracer", Span::mixed_site()),
            hint: Ident::new("hint", Span::mixed_site()),
            run: Ident::new("run", Span::mixed_site()),
            from: Ident::new("from", Span::mixed_site()),
            chunks: Ident::new("chunks", Span::mixed_site()),
        }
    }

    /// The path to the runtime, for tokens at `span`. A path from `crate = "..."` keeps
    /// the string's span (an error in it points at the string); `::gc_core` gets `span`.
    pub fn krate(&self, span: Span) -> TokenStream2 {
        match &self.krate {
            Some(path) => path.to_token_stream(),
            None => quote_spanned!(span=> ::gc_core),
        }
    }
}

/// A span at `span`'s location that resolves names at the derive's call site, as the
/// impl's own code does: for `self` in `self.field`.
pub(crate) fn at(span: Span) -> Span {
    Span::call_site().located_at(span)
}

/// A field that is traced, with the expressions that reach it from `trace` (`&T`) and from
/// `root`/`unroot` (`&mut T`).
pub(crate) struct TracedField<'a> {
    pub ty: &'a Type,
    by_ref: TokenStream2,
    by_mut: TokenStream2,
}

/// What a generated method passes on to each field's besides the field itself.
#[derive(Clone, Copy)]
enum Arg {
    None,
    /// `trace`'s tracer (`Names::tracer`).
    Tracer,
    /// `root_into`'s and `unroot_into`'s run (`Names::run`).
    Run,
}

/// The generated methods that visit every traced field: name, whether they take `&mut self`,
/// and what they pass on. [`Bodies`] and [`calls`] follow this order. (`handles_hint`'s
/// statements add each field's hint to `Names::hint`.)
const METHODS: [(&str, bool, Arg); 9] = [
    ("trace", false, Arg::Tracer),
    ("root", true, Arg::None),
    ("unroot", true, Arg::None),
    ("root_key", false, Arg::None),
    ("unroot_key", false, Arg::None),
    ("forget_edges", true, Arg::None),
    ("handles_hint", false, Arg::None),
    ("root_into", true, Arg::Run),
    ("unroot_into", true, Arg::Run),
];

/// The statements of the [`METHODS`], in that order (without any `unsafe` block).
pub(crate) struct Bodies(pub [TokenStream2; 9]);

/// What a struct or enum's fields give the impl.
pub(crate) struct Visit<'a> {
    /// The traced fields (of all variants).
    pub traced: Vec<TracedField<'a>>,
    /// The types of the skipped fields.
    pub skipped: Vec<&'a Type>,
    /// The bodies that visit the traced fields.
    pub bodies: Bodies,
    /// The bodies of `trace_counting` (statements), `trace_chunk` and `unroot_chunk`
    /// (expressions, the last without its `unsafe` block), or `None` without any traced
    /// field (the trait's defaults serve then).
    pub chunked: Option<[TokenStream2; 3]>,
}

/// The traced fields of a struct, the types of its skipped fields, and the method bodies
/// that visit the traced ones through `self`.
pub(crate) fn struct_bodies<'a>(
    fields: &'a Fields,
    names: &Names,
    errors: &mut Option<syn::Error>,
) -> Visit<'a> {
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
        // `self` resolves at the call site, as the method's `&self` (a field name written
        // by a `macro_rules!` macro carries the macro's hygiene, which would not see it).
        let span = at(member.span());
        traced.push(TracedField {
            ty: &field.ty,
            by_ref: quote_spanned!(span=> &self.#member),
            by_mut: quote_spanned!(span=> &mut self.#member),
        });
    }
    let bodies = Bodies(calls(&traced, names).map(|c| quote!(#(#c)*)));
    let chunked = (!traced.is_empty()).then(|| chunk_calls(&traced, names));
    Visit {
        traced,
        skipped,
        bodies,
        chunked,
    }
}

/// The traced fields of all variants of an enum, the types of the skipped ones, and the
/// method bodies that visit the traced ones: a `match self` with one arm per variant that
/// has traced fields, and one arm (an or-pattern) for all the variants that have none.
/// Without any traced field, the bodies are empty.
pub(crate) fn enum_bodies<'a>(
    data: &'a DataEnum,
    names: &Names,
    errors: &mut Option<syn::Error>,
) -> Visit<'a> {
    let mut traced = Vec::new();
    let mut skipped = Vec::new();
    let mut arms: [Vec<TokenStream2>; 9] = Default::default();
    let mut chunk_arms: [Vec<TokenStream2>; 3] = Default::default();
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
            // A local of the derive's own (mixed-site hygiene): it cannot clash with, or be
            // captured by, any name in the user's type.
            let binding = format_ident!("__gc_field_{}", i, span = Span::mixed_site());
            pats.push(match &field.ident {
                Some(ident) => quote!(#ident: #binding),
                None => binding.to_token_stream(),
            });
            let binding = Ident::new(
                &binding.to_string(),
                Span::mixed_site().located_at(field.ty.span()),
            );
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
        for (arms, calls) in arms.iter_mut().zip(calls(fields, names)) {
            arms.push(quote!(#pat => { #(#calls)* }));
        }
        for (arms, body) in chunk_arms.iter_mut().zip(chunk_calls(fields, names)) {
            arms.push(quote!(#pat => { #body }));
        }
    }
    if traced.is_empty() {
        return Visit {
            traced,
            skipped,
            bodies: Bodies(Default::default()),
            chunked: None,
        };
    }
    let empty_arm = |body| (!empty_pats.is_empty()).then(|| quote!(#(#empty_pats)|* => #body));
    let no_arm = empty_arm(quote!({}));
    let bodies = Bodies(arms.map(|arms| quote!(match self { #(#arms)* #no_arm })));
    let [counting, chunk, unroot] = chunk_arms;
    let none_arm = empty_arm(quote!(::core::option::Option::None));
    let chunked = Some([
        quote!(match self { #(#counting)* #no_arm }),
        quote!(match self { #(#chunk)* #none_arm }),
        quote!(match self { #(#unroot)* #none_arm }),
    ]);
    Visit {
        traced,
        skipped,
        bodies,
        chunked,
    }
}

/// The bodies of `trace_counting` (statements: each field counted, stopping between two
/// once the tracer has counted enough), `trace_chunk` and `unroot_chunk` (expressions: one
/// field's own chunks, or the fields in order through `__private::FieldChunks`, which
/// encodes the field in the resume index; `unroot_chunk`'s without its `unsafe` block) for
/// `fields` (one or more).
fn chunk_calls(fields: &[TracedField], names: &Names) -> [TokenStream2; 3] {
    let (tracer, from, chunks) = (&names.tracer, &names.from, &names.chunks);
    let last = fields.len() - 1;
    let counting = fields.iter().enumerate().map(|(i, field)| {
        let (span, ty, receiver) = (field.ty.span(), field.ty, &field.by_ref);
        let krate = names.krate(span);
        let stop = (i < last).then(
            || quote_spanned!(span=> if #krate::__private::counted_enough(#tracer) { return; }),
        );
        quote_spanned!(span=> <#ty as #krate::Trace>::trace_counting(#receiver, #tracer); #stop)
    });
    let counting = quote!(#(#counting)*);
    if let [field] = fields {
        let (span, ty) = (field.ty.span(), field.ty);
        let krate = names.krate(span);
        let (by_ref, by_mut) = (&field.by_ref, &field.by_mut);
        let chunk =
            quote_spanned!(span=> <#ty as #krate::Trace>::trace_chunk(#by_ref, #tracer, #from));
        let unroot = quote_spanned!(span=> <#ty as #krate::Trace>::unroot_chunk(#by_mut, #from));
        return [counting, chunk, unroot];
    }
    let krate = names.krate(Span::call_site());
    let n = fields.len();
    let next = Ident::new("next", Span::mixed_site());
    let some = quote!(::core::option::Option::Some);
    let none = quote!(::core::option::Option::None);
    // Each field in turn, `call` giving its chunk through `FieldChunks`: return what it
    // says to, else go on to the next field.
    let steps = |call: &dyn Fn(usize, &TracedField, &TokenStream2) -> TokenStream2| {
        let steps = fields.iter().enumerate().map(|(i, field)| {
            let span = field.ty.span();
            let call = call(i, field, &names.krate(span));
            quote_spanned!(span=> if let #some(#next) = #call { return #next; })
        });
        quote!(#(#steps)*)
    };
    let steps_traced = steps(&|i, field, krate| {
        let (ty, receiver) = (field.ty, &field.by_ref);
        quote_spanned!(field.ty.span()=> #chunks.field(#tracer, #i, |#tracer, #from| {
            <#ty as #krate::Trace>::trace_chunk(#receiver, #tracer, #from)
        }))
    });
    let chunk = quote!({
        if #krate::__private::FieldChunks::whole(#from, <Self as #krate::Trace>::handles_hint(self)) {
            <Self as #krate::Trace>::trace(self, #tracer);
            return #none;
        }
        #krate::__private::FieldChunks::scan(#tracer, #from, #n, |#chunks, #tracer| {
            #steps_traced
            #none
        })
    });
    let steps_unrooted = steps(&|i, field, krate| {
        let (ty, receiver) = (field.ty, &field.by_mut);
        quote_spanned!(field.ty.span()=> #chunks.unroot_field(#i, |#from| {
            <#ty as #krate::Trace>::unroot_chunk(#receiver, #from)
        }))
    });
    let unroot = quote!(#krate::__private::FieldChunks::unroot_scan(#from, #n, |#chunks| {
        #steps_unrooted
        #none
    }));
    [counting, chunk, unroot]
}

/// `unroots_in_chunks`: every traced field's type roots in runs or makes a list edges in
/// chunks (neither holds a cell), for `fields` (one or more).
pub(crate) fn unroots_in_chunks(names: &Names, fields: &[TracedField]) -> TokenStream2 {
    let terms = fields.iter().map(|field| {
        let (span, ty) = (field.ty.span(), field.ty);
        let krate = names.krate(span);
        quote_spanned!(span=>
            (<#ty as #krate::Trace>::roots_in_runs_at(0) || <#ty as #krate::Trace>::unroots_in_chunks())
        )
    });
    quote!(#(#terms)&&*)
}

/// The statements of each of the [`METHODS`] for `fields`, spanned at each field's type so
/// that a missing `Trace` impl is reported on the field.
fn calls(fields: &[TracedField], names: &Names) -> [Vec<TokenStream2>; 9] {
    METHODS.map(|(method, by_mut, arg)| {
        let sum = (method == "handles_hint").then(|| {
            let hint = &names.hint;
            quote!(#hint +=)
        });
        let method = Ident::new(method, Span::call_site());
        let args = match arg {
            Arg::None => None,
            Arg::Tracer => Some(&names.tracer),
            Arg::Run => Some(&names.run),
        }
        .map(|arg| quote!(, #arg));
        fields
            .iter()
            .map(|field| {
                // Calling through `<Ty as Trace>` makes a missing impl fail on the type's own
                // tokens, the same span as in `needs_trace()`, so the compiler reports it once.
                let span = field.ty.span();
                let ty = field.ty;
                let krate = names.krate(span);
                let receiver = if by_mut { &field.by_mut } else { &field.by_ref };
                quote_spanned!(span=> #sum <#ty as #krate::Trace>::#method(#receiver #args);)
            })
            .collect()
    })
}

/// `{ let _ = depth; answer }`: a constant answer that leaves the parameter unused.
fn constant(names: &Names, answer: bool) -> TokenStream2 {
    let depth = &names.depth;
    quote!({
        let _ = #depth;
        #answer
    })
}

/// The body of `needs_trace_at` or `holds_keys_at` (`method`): the `||` of the traced
/// fields' answers, with each distinct type listed once, or `true` if a field's type refers
/// to the type being derived.
pub(crate) fn any_field(
    name: &Ident,
    opts: &TypeOpts,
    names: &Names,
    fields: &[TracedField],
    method: &str,
) -> TokenStream2 {
    if opts.always_scan
        || fields
            .iter()
            .any(|f| mentions_self(f.ty.to_token_stream(), name))
    {
        return constant(names, true);
    }
    let depth = &names.depth;
    let terms = field_terms(names, fields, method);
    if terms.is_empty() {
        constant(names, false)
    } else {
        // Past the limit the answer is `true` (sound), which ends every `||` above it:
        // mutually recursive types stop asking each other (`Trace::needs_trace_at`).
        let krate = names.krate(Span::call_site());
        quote!(#depth >= #krate::__private::TRACE_DEPTH_LIMIT || #(#terms)||*)
    }
}

/// `<Ty as Trace>::method(depth + 1)` for each distinct traced field type, spanned at the
/// field's type.
fn field_terms(names: &Names, fields: &[TracedField], method: &str) -> Vec<TokenStream2> {
    let depth = &names.depth;
    let method = Ident::new(method, Span::call_site());
    let mut seen = std::collections::HashSet::new();
    let mut terms = Vec::new();
    for field in fields {
        let ty = field.ty.to_token_stream();
        if seen.insert(ty.to_string()) {
            let span = field.ty.span();
            let krate = names.krate(span);
            terms.push(quote_spanned!(span=> <#ty as #krate::Trace>::#method(#depth + 1)));
        }
    }
    terms
}

/// The body of `roots_in_runs_at`: the `&&` of the traced fields' answers, each distinct
/// type listed once; `true` without any traced field (`root` does nothing), `false` past
/// the depth limit (which ends the chains of mutually recursive types, as in
/// [`any_field`]).
pub(crate) fn roots_in_runs(names: &Names, fields: &[TracedField]) -> TokenStream2 {
    let depth = &names.depth;
    let terms = field_terms(names, fields, "roots_in_runs_at");
    if terms.is_empty() {
        return constant(names, true);
    }
    let krate = names.krate(Span::call_site());
    quote!(#depth < #krate::__private::TRACE_DEPTH_LIMIT && #(#terms)&&*)
}

/// The two facts about a type's drop glue that the derive answers field by field.
#[derive(Clone, Copy)]
pub(crate) enum DropFact {
    /// `drop_runs_user_code_at()`: `true` with `#[trace(unsafe_drop)]` (a hand-written
    /// `Drop`); otherwise the `||` of the traced fields' answers and of `needs_drop` for
    /// skipped fields (the derive cannot see what their drop does); `true` past the depth
    /// limit.
    UserCode,
    /// `garbage_drop_is_noop_at()`: `false` with `#[trace(unsafe_drop)]`; otherwise the
    /// `&&` of the traced fields' answers and of `!needs_drop` for skipped fields; `false`
    /// past the depth limit. (Both limit answers are the always-sound ones.)
    GarbageNoop,
}

/// The body of a [`DropFact`] method. A field whose type names the type being derived
/// outside a `Gc<..>` (`Vec<Self>`) would make the method call itself: it is answered by
/// `needs_drop`, as a skipped field is. Behind a `Gc` it cannot: a handle's drop is the
/// runtime's whatever it points to, so `Option<Gc<Node>>` stays exact. With `always_scan`
/// (mutual recursion the derive cannot see) every field is answered by `needs_drop`.
pub(crate) fn drop_fact(
    fact: DropFact,
    name: &Ident,
    opts: &TypeOpts,
    names: &Names,
    traced: &[TracedField],
    skipped: &[&Type],
) -> TokenStream2 {
    // What a hand-written `Drop` (or past the limit) gives, and what no field gives.
    let (sound, empty) = match fact {
        DropFact::UserCode => (true, false),
        DropFact::GarbageNoop => (false, true),
    };
    if opts.unsafe_drop {
        return constant(names, sound);
    }
    let depth = &names.depth;
    let mut seen = std::collections::HashSet::new();
    let mut terms = Vec::new();
    let traced = traced.iter().map(|f| (f.ty, true));
    for (ty, is_traced) in traced.chain(skipped.iter().map(|&t| (t, false))) {
        let tokens = ty.to_token_stream();
        if !seen.insert((tokens.to_string(), is_traced)) {
            continue;
        }
        let span = ty.span();
        let krate = names.krate(span);
        let exact =
            is_traced && !opts.always_scan && !mentions_self_outside_gc(tokens.clone(), name);
        terms.push(match (fact, exact) {
            (DropFact::UserCode, true) => {
                quote_spanned!(span=> <#ty as #krate::Trace>::drop_runs_user_code_at(#depth + 1))
            }
            (DropFact::GarbageNoop, true) => {
                quote_spanned!(span=> <#ty as #krate::Trace>::garbage_drop_is_noop_at(#depth + 1))
            }
            (DropFact::UserCode, false) => quote_spanned!(span=> ::core::mem::needs_drop::<#ty>()),
            (DropFact::GarbageNoop, false) => {
                quote_spanned!(span=> !::core::mem::needs_drop::<#ty>())
            }
        });
    }
    if terms.is_empty() {
        return constant(names, empty);
    }
    let krate = names.krate(Span::call_site());
    match fact {
        DropFact::UserCode => {
            quote!(#depth >= #krate::__private::TRACE_DEPTH_LIMIT || #(#terms)||*)
        }
        DropFact::GarbageNoop => {
            quote!(#depth < #krate::__private::TRACE_DEPTH_LIMIT && #(#terms)&&*)
        }
    }
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
