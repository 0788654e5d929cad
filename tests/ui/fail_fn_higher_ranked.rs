// `Trace` covers function pointers of fixed types (`fn(A) -> R`); one generic over a
// lifetime (`fn(&str)` is `for<'a> fn(&'a str)`) is not covered: skip the field.
use gc_core::Trace;

#[derive(Trace)]
struct Callbacks {
    fixed: fn(&'static str) -> usize,
    generic: fn(&str) -> usize,
}

fn main() {}
