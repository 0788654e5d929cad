use gc_core::Trace;

#[derive(Trace)]
#[repr(C, packed)]
struct Packed {
    a: u8,
    b: u32,
}

fn main() {}
