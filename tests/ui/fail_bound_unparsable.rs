// A `bound` string that is not a list of where-predicates: the error points at the string.
use gc_core::Trace;

#[derive(Trace)]
#[trace(bound = "T Trace")]
struct NoColon<T> {
    t: T,
}

#[derive(Trace)]
#[trace(bound = "T: Trace;")]
struct Semicolon<T> {
    t: T,
}

fn main() {}
