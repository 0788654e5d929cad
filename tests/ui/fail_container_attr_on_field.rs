use gc_core::Trace;

#[derive(Trace)]
struct Fields {
    #[trace(unsafe_drop)]
    a: u8,
    #[trace(always_scan)]
    b: u8,
}

#[derive(Trace)]
enum Variant {
    #[trace(skip)]
    A(u8),
}

fn main() {}
