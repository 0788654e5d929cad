use gc_core::Trace;

#[derive(Trace)]
#[trace]
struct Bare {
    a: u8,
}

#[derive(Trace)]
#[trace = "skip"]
struct NameValue {
    a: u8,
}

#[derive(Trace)]
struct Value {
    #[trace(skip = true)]
    a: u8,
    #[trace(skip, skip)]
    b: u8,
    #[trace(skip(all))]
    c: u8,
    #[trace(gc_core::skip)]
    d: u8,
}

fn main() {}
