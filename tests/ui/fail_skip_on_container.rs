use gc_core::Trace;

#[derive(Trace)]
#[trace(skip)]
struct Skipped {
    a: u8,
}

fn main() {}
