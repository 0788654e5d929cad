// `crate = ""` names no path.
use gc_core::Trace;

#[derive(Trace)]
#[trace(crate = "")]
struct Empty {
    a: u8,
}

#[derive(Trace)]
#[trace(crate = "  ")]
struct Blank {
    a: u8,
}

fn main() {}
