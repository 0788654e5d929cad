// `crate` takes a module path, as a string.
use gc_core::Trace;

#[derive(Trace)]
#[trace(crate = "my runtime")]
struct Spaces {
    a: u8,
}

#[derive(Trace)]
#[trace(crate = "gc_core::<u8>")]
struct Generic {
    a: u8,
}

#[derive(Trace)]
#[trace(crate = gc_core)]
struct Unquoted {
    a: u8,
}

fn main() {}
