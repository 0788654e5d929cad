// A field whose type does not implement `Trace` (and is not `#[trace(skip)]`).
use gc_core::Trace;

#[derive(Trace)]
struct Holder {
    count: u8,
    cell: std::cell::RefCell<u8>,
}

fn main() {}
