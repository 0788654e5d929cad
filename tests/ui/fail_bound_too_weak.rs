// `bound = ""` on a type whose traced field needs `T: Trace`: a compile error (never
// unsound), pointing at the field.
use gc_core::Trace;

#[derive(Trace)]
#[trace(bound = "")]
struct Holder<T> {
    items: Vec<T>,
}

fn main() {}
