//! The `#[trace(...)]` options: parsing them on the type, on fields and on enum variants,
//! and the errors for every misuse. Each error is spanned at what is wrong (the option's
//! name, or the value that cannot be used) and says what to write instead.

use proc_macro2::TokenTree;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::{Attribute, Ident, LitStr, Path, Token, WherePredicate};

/// The options accepted on the struct or enum, as error messages list them.
const TYPE_OPTIONS: &str = "`unsafe_drop`, `always_scan`, `bound = \"...\"`, `crate = \"...\"`";
/// The options accepted on a field, as error messages list them.
const FIELD_OPTIONS: &str = "`skip`";

/// Where a `#[trace(...)]` attribute was written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Type,
    Field,
    Variant,
}

/// Where an option belongs, and what value it takes.
#[derive(Clone, Copy)]
struct Spec {
    name: &'static str,
    place: Place,
    /// `None` for a flag (`skip`); for an option with a string value, how to write it.
    example: Option<&'static str>,
}

impl Spec {
    /// The option as written: `skip` or `bound = "T: Trace"`.
    fn written(&self) -> String {
        match self.example {
            None => self.name.to_owned(),
            Some(example) => format!("{} = {example}", self.name),
        }
    }
}

/// Every option the derive knows.
const SPECS: [Spec; 5] = [
    Spec {
        name: "skip",
        place: Place::Field,
        example: None,
    },
    Spec {
        name: "unsafe_drop",
        place: Place::Type,
        example: None,
    },
    Spec {
        name: "always_scan",
        place: Place::Type,
        example: None,
    },
    Spec {
        name: "bound",
        place: Place::Type,
        example: Some("\"T: Trace\""),
    },
    Spec {
        name: "crate",
        place: Place::Type,
        example: Some("\"my_runtime::gc\""),
    },
];

/// Options given on the struct or enum.
#[derive(Default)]
pub(crate) struct TypeOpts {
    /// `#[trace(unsafe_drop)]`: a hand-written `Drop` is allowed (no drop guard).
    pub unsafe_drop: bool,
    /// `#[trace(always_scan)]`: `needs_trace()` is `true` without asking the fields.
    pub always_scan: bool,
    /// `#[trace(bound = "...")]`: the where-predicates that replace the inferred bounds.
    pub bound: Option<Punctuated<WherePredicate, Token![,]>>,
    /// `#[trace(crate = "...")]`: the path at which `gc_core` is reachable.
    pub krate: Option<Path>,
}

/// Adds `error` to the accumulated errors.
pub(crate) fn push_error(errors: &mut Option<syn::Error>, error: syn::Error) {
    match errors {
        Some(e) => e.combine(error),
        None => *errors = Some(error),
    }
}

/// Parses the `#[trace(...)]` attributes of the struct or enum.
pub(crate) fn type_opts(attrs: &[Attribute], errors: &mut Option<syn::Error>) -> TypeOpts {
    let mut opts = TypeOpts::default();
    for_each_option(attrs, Place::Type, errors, |key, meta| {
        let duplicate = match key.to_string().as_str() {
            "unsafe_drop" => std::mem::replace(&mut opts.unsafe_drop, true),
            "always_scan" => std::mem::replace(&mut opts.always_scan, true),
            "bound" => {
                let bound = bound_value(&string_value(key, meta)?)?;
                opts.bound.replace(bound).is_some()
            }
            "crate" => {
                let path = crate_value(&string_value(key, meta)?)?;
                opts.krate.replace(path).is_some()
            }
            _ => unreachable!("for_each_option passes only the type's options"),
        };
        if duplicate {
            let hint = if key == "bound" {
                "give all the predicates in one string: `bound = \"A: Trace, B: Trace\"`"
            } else {
                "write it once"
            };
            return Err(syn::Error::new_spanned(
                key,
                format!("duplicate #[trace] option `{key}`: {hint}"),
            ));
        }
        Ok(())
    });
    opts
}

/// Parses the `#[trace(...)]` attributes of a field; returns whether it is skipped.
pub(crate) fn field_skipped(attrs: &[Attribute], errors: &mut Option<syn::Error>) -> bool {
    let mut skip = false;
    for_each_option(attrs, Place::Field, errors, |key, _| {
        if std::mem::replace(&mut skip, true) {
            return Err(syn::Error::new_spanned(
                key,
                "duplicate #[trace] option `skip`: write it once",
            ));
        }
        Ok(())
    });
    skip
}

/// Rejects `#[trace(...)]` on an enum variant: every option is reported where it belongs.
pub(crate) fn reject_variant_attrs(attrs: &[Attribute], errors: &mut Option<syn::Error>) {
    for_each_option(attrs, Place::Variant, errors, |_, _| {
        unreachable!("no option belongs on a variant")
    });
}

/// Runs `f` on each option of each `#[trace]` attribute in `attrs` that belongs at `place`,
/// after checking its shape (a flag has no value; `bound` and `crate` are left for `f` to
/// read). Options that belong elsewhere, unknown options and malformed attributes become
/// errors in `errors`, as do the errors `f` returns.
fn for_each_option(
    attrs: &[Attribute],
    place: Place,
    errors: &mut Option<syn::Error>,
    mut f: impl FnMut(&Ident, &ParseNestedMeta) -> syn::Result<()>,
) {
    for attr in attrs.iter().filter(|a| a.path().is_ident("trace")) {
        if let Err(e) = attr.meta.require_list() {
            push_error(
                errors,
                syn::Error::new_spanned(
                    attr,
                    format!("{e}: write `#[trace(option, ...)]`; options are {TYPE_OPTIONS} on the type and {FIELD_OPTIONS} on a field"),
                ),
            );
            continue;
        }
        let result = attr.parse_nested_meta(|meta| {
            let Some(key) = meta.path.get_ident() else {
                return Err(meta.error(format!(
                    "expected a #[trace] option: {TYPE_OPTIONS} on the type, {FIELD_OPTIONS} on a field"
                )));
            };
            let Some(spec) = SPECS.iter().find(|s| key == s.name) else {
                return Err(syn::Error::new_spanned(key, unknown(key, place)));
            };
            if spec.place != place {
                return Err(syn::Error::new_spanned(key, misplaced(spec, place)));
            }
            if spec.example.is_none() && !(meta.input.is_empty() || meta.input.peek(Token![,])) {
                return Err(meta.error(format!("`{key}` takes no value: write `#[trace({key})]`")));
            }
            f(key, &meta)
        });
        if let Err(e) = result {
            push_error(errors, e);
        }
    }
}

/// The error for an option the derive does not know, written at `place`.
fn unknown(key: &Ident, place: Place) -> String {
    match place {
        Place::Type => format!(
            "unknown #[trace] option `{key}` on a type; expected one of {TYPE_OPTIONS} (or {FIELD_OPTIONS} on a field)"
        ),
        Place::Field => format!(
            "unknown #[trace] option `{key}` on a field; expected {FIELD_OPTIONS} (or {TYPE_OPTIONS} on the type)"
        ),
        Place::Variant => format!(
            "unknown #[trace] option `{key}`, and enum variants take no options: put {FIELD_OPTIONS} on the variant's fields, {TYPE_OPTIONS} on the enum"
        ),
    }
}

/// The error for a known option written where it does not belong.
fn misplaced(spec: &Spec, place: Place) -> String {
    let (key, written) = (spec.name, spec.written());
    match (spec.place, place) {
        (Place::Type, Place::Field) => format!(
            "`{key}` applies to the whole type: put `#[trace({written})]` on the struct or enum, not on a field (the field option is {FIELD_OPTIONS})"
        ),
        (Place::Type, _) => format!(
            "enum variants take no #[trace] options: put `#[trace({written})]` on the enum"
        ),
        (Place::Field, Place::Type) => format!(
            "`{key}` applies to fields: put `#[trace({written})]` on the fields to leave out (options on the type are {TYPE_OPTIONS})"
        ),
        (Place::Field, _) => format!(
            "enum variants take no #[trace] options: put `#[trace({written})]` on each of the variant's fields"
        ),
        (Place::Variant, _) => unreachable!("no option belongs on a variant"),
    }
}

/// The string literal after `key =` (`bound = "..."`, `crate = "..."`).
fn string_value(key: &Ident, meta: &ParseNestedMeta) -> syn::Result<LitStr> {
    let spec = SPECS
        .iter()
        .find(|s| key == s.name)
        .expect("a known option");
    let write = format!("write `#[trace({})]`", spec.written());
    if !meta.input.peek(Token![=]) {
        return Err(meta.error(format!("`{key}` takes a string: {write}")));
    }
    let value = meta.value()?;
    if !value.peek(LitStr) {
        // Point at the value, not at the whole attribute.
        let span = value
            .cursor()
            .token_tree()
            .map_or_else(|| value.span(), |(tt, _)| tt.span());
        let found = value
            .cursor()
            .token_tree()
            .map(|(tt, _)| describe(&tt))
            .unwrap_or("nothing");
        return Err(syn::Error::new(
            span,
            format!("`{key}` takes a string, not {found}: {write}"),
        ));
    }
    value.parse()
}

/// What a token that should have been a string literal is, for an error message.
fn describe(tt: &TokenTree) -> &'static str {
    match tt {
        TokenTree::Literal(_) => "this literal",
        TokenTree::Ident(_) => "a bare identifier or path",
        TokenTree::Group(_) => "a group",
        TokenTree::Punct(_) => "this token",
    }
}

/// Parses the string of `bound = "..."`: where-predicates, separated by commas; `""` gives
/// none. Errors point at the string.
fn bound_value(lit: &LitStr) -> syn::Result<Punctuated<WherePredicate, Token![,]>> {
    lit.parse_with(Punctuated::parse_terminated).map_err(|e| {
        syn::Error::new(
            lit.span(),
            format!(
                "`bound` is not a list of where-predicates ({e}): write e.g. `#[trace(bound = \"T: Trace, U::Item: Trace\")]`, or `bound = \"\"` for no bounds"
            ),
        )
    })
}

/// Parses the string of `crate = "..."`: a module-style path (`my_runtime::gc`,
/// `::gc_core`). Errors point at the string.
fn crate_value(lit: &LitStr) -> syn::Result<Path> {
    let write = "write the path at which `gc_core` is reachable, e.g. `#[trace(crate = \"my_runtime::gc\")]`, or leave the option out for `::gc_core`";
    if lit.value().trim().is_empty() {
        return Err(syn::Error::new(
            lit.span(),
            format!("`crate` needs a path: {write}"),
        ));
    }
    lit.parse_with(Path::parse_mod_style)
        .map_err(|e| syn::Error::new(lit.span(), format!("`crate` is not a path ({e}): {write}")))
}

/// Whether the type has `#[repr(packed)]` / `#[repr(packed(N))]`.
pub(crate) fn packed_repr(attrs: &[Attribute]) -> Option<&Attribute> {
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
