use gc_core::Trace;

#[derive(Trace)]
struct Field {
    #[trace(foo)]
    a: u8,
}

#[derive(Trace)]
#[trace(bar)]
struct Container {
    a: u8,
}

fn main() {}
