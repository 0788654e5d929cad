// `bound` takes its where-predicates as a string.
use gc_core::Trace;

#[derive(Trace)]
#[trace(bound = 3)]
struct Number<T> {
    t: T,
}

#[derive(Trace)]
#[trace(bound)]
struct Missing<T> {
    t: T,
}

#[derive(Trace)]
#[trace(bound = T: Trace)]
struct Unquoted<T> {
    t: T,
}

fn main() {}
