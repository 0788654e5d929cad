// A `crate` path that does not resolve: the error points at the string.
use gc_core::Trace;

#[derive(Trace)]
#[trace(crate = "no_such_runtime::gc")]
struct Lost {
    a: u8,
}

fn main() {}
