//! The where clause of the generated `Trace` impl: the bounds inferred from the traced
//! fields' types, or the ones `#[trace(bound = "...")]` gives instead.
//!
//! A type parameter `T` gets `T: Trace` only if it occurs in the type of a traced
//! (non-skipped) field, outside `PhantomData<..>` and outside function pointer types
//! (`fn(A) -> B`, whose `Trace` impls hold for every argument and return type). A path that
//! starts with a type parameter (`T::Item`, `<T as Iterator>::Item`) is traced as itself:
//! it gets the bound (`T::Item: Trace`), `T` does not. Inside a macro invocation in type
//! position (`ty!(T)`) the derive cannot see the type, so every type parameter named in it
//! gets a bound. Like serde's bounds, this is a rule about syntax: a type alias or a
//! wrapper that holds its parameter only as a `PhantomData` still counts as an occurrence.
//! A missing bound is never unsound: the impl then fails to compile, and
//! `#[trace(bound = "...")]` states the right one.

use proc_macro2::{TokenStream as TokenStream2, TokenTree};
use quote::ToTokens;
use syn::{
    GenericArgument, Generics, Ident, Path, PathArguments, ReturnType, Type, TypeParamBound,
    TypePath,
};

use crate::attrs::TypeOpts;

/// `generics` with the `Trace` impl's bounds added to its where clause: `bound`'s
/// predicates if given, otherwise those inferred from `traced` (the traced fields' types).
/// `krate` is the path to `gc_core`.
pub(crate) fn with_bounds(
    generics: &Generics,
    opts: &TypeOpts,
    traced: &[&Type],
    krate: &TokenStream2,
) -> Generics {
    let mut generics = generics.clone();
    if let Some(bound) = &opts.bound {
        generics
            .make_where_clause()
            .predicates
            .extend(bound.clone());
        return generics;
    }
    let params: Vec<Ident> = generics.type_params().map(|p| p.ident.clone()).collect();
    let mut uses = Uses {
        params: &params,
        used: vec![false; params.len()],
        projections: Vec::new(),
    };
    for ty in traced {
        uses.ty(ty);
    }
    let Uses {
        used, projections, ..
    } = uses;
    let bounded = params
        .iter()
        .zip(used)
        .filter(|&(_, used)| used)
        .map(|(param, _)| param.to_token_stream());
    let mut seen = std::collections::HashSet::new();
    let predicates: Vec<_> = bounded
        .chain(projections)
        .filter(|ty| seen.insert(ty.to_string()))
        .map(|ty| -> syn::WherePredicate { syn::parse_quote!(#ty: #krate::Trace) })
        .collect();
    if !predicates.is_empty() {
        generics.make_where_clause().predicates.extend(predicates);
    }
    generics
}

/// The type parameters that occur in the traced fields' types, and the projections
/// (`T::Item`) that do.
struct Uses<'a> {
    params: &'a [Ident],
    /// `used[i]`: `params[i]` needs `Trace`.
    used: Vec<bool>,
    /// Types that start at a type parameter (`T::Item`), which need `Trace` themselves.
    projections: Vec<TokenStream2>,
}

impl Uses<'_> {
    /// Records the uses in `ty`.
    fn ty(&mut self, ty: &Type) {
        match ty {
            // `fn(A) -> B` is `Trace` for every `A` and `B` (a leaf: it holds no `Gc`).
            Type::BareFn(_) => {}
            Type::Never(_) | Type::Infer(_) => {}
            Type::Array(t) => self.ty(&t.elem),
            Type::Group(t) => self.ty(&t.elem),
            Type::Paren(t) => self.ty(&t.elem),
            Type::Ptr(t) => self.ty(&t.elem),
            Type::Reference(t) => self.ty(&t.elem),
            Type::Slice(t) => self.ty(&t.elem),
            Type::Tuple(t) => t.elems.iter().for_each(|t| self.ty(t)),
            Type::ImplTrait(t) => t.bounds.iter().for_each(|b| self.bound(b)),
            Type::TraitObject(t) => t.bounds.iter().for_each(|b| self.bound(b)),
            Type::Path(t) => self.type_path(t),
            // A macro (`ty!(T)`), or syntax this version of syn does not know: any type
            // parameter named inside counts.
            other => self.tokens(other.to_token_stream()),
        }
    }

    /// Records the uses in a path type: a type parameter itself, a projection from one, or
    /// a type whose generic arguments may name them.
    fn type_path(&mut self, ty: &TypePath) {
        if let Some(qself) = &ty.qself {
            // `<T as Trait>::Item`: the projection is what is traced, if it depends on a
            // parameter at all (otherwise it is a concrete type, checked where it is used).
            let mut inner = Uses {
                params: self.params,
                used: vec![false; self.params.len()],
                projections: Vec::new(),
            };
            inner.ty(&qself.ty);
            inner.path_arguments(&ty.path);
            if inner.used.contains(&true) || !inner.projections.is_empty() {
                self.projections.push(ty.to_token_stream());
            }
            return;
        }
        let path = &ty.path;
        if path.leading_colon.is_none() {
            if let Some(i) = self.param_index(&path.segments[0].ident) {
                if path.segments.len() == 1 {
                    self.used[i] = true;
                } else {
                    // `T::Item`: a projection (`T` itself is never traced here).
                    self.projections.push(ty.to_token_stream());
                }
                return;
            }
        }
        let last = path.segments.last().expect("a path has a segment");
        if last.ident == "PhantomData" {
            // `PhantomData<T>` holds no `T`: its `Trace` impl holds for every `T`.
            return;
        }
        self.path_arguments(path);
    }

    /// Records the uses in the generic arguments of every segment of `path`.
    fn path_arguments(&mut self, path: &Path) {
        for segment in &path.segments {
            match &segment.arguments {
                PathArguments::None => {}
                PathArguments::AngleBracketed(args) => {
                    for arg in &args.args {
                        match arg {
                            GenericArgument::Type(t) => self.ty(t),
                            GenericArgument::AssocType(a) => self.ty(&a.ty),
                            GenericArgument::Constraint(c) => {
                                c.bounds.iter().for_each(|b| self.bound(b))
                            }
                            GenericArgument::Lifetime(_)
                            | GenericArgument::Const(_)
                            | GenericArgument::AssocConst(_) => {}
                            other => self.tokens(other.to_token_stream()),
                        }
                    }
                }
                // `Fn(A) -> B` in a trait object's bound.
                PathArguments::Parenthesized(args) => {
                    args.inputs.iter().for_each(|t| self.ty(t));
                    if let ReturnType::Type(_, t) = &args.output {
                        self.ty(t);
                    }
                }
            }
        }
    }

    /// Records the uses in a trait bound (`dyn Shape<T>`).
    fn bound(&mut self, bound: &TypeParamBound) {
        match bound {
            TypeParamBound::Trait(t) => self.path_arguments(&t.path),
            TypeParamBound::Lifetime(_) => {}
            other => self.tokens(other.to_token_stream()),
        }
    }

    /// Records every type parameter named anywhere in `tokens` (macro input).
    fn tokens(&mut self, tokens: TokenStream2) {
        for tt in tokens {
            match tt {
                TokenTree::Ident(ident) => {
                    if let Some(i) = self.param_index(&ident) {
                        self.used[i] = true;
                    }
                }
                TokenTree::Group(g) => self.tokens(g.stream()),
                TokenTree::Punct(_) | TokenTree::Literal(_) => {}
            }
        }
    }

    fn param_index(&self, ident: &Ident) -> Option<usize> {
        self.params.iter().position(|p| p == ident)
    }
}
