// `bound` and `crate` apply to the whole type, not to a field.
use gc_core::Trace;

#[derive(Trace)]
struct Fields<T> {
    #[trace(bound = "T: Trace")]
    t: T,
    #[trace(crate = "gc_core")]
    a: u8,
}

fn main() {}
