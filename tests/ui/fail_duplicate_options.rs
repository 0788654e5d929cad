// Each option may be given once, in one attribute or across several.
use gc_core::Trace;

#[derive(Trace)]
#[trace(bound = "T: Trace")]
#[trace(bound = "T: Clone")]
struct TwoBounds<T> {
    t: T,
}

#[derive(Trace)]
#[trace(crate = "gc_core", crate = "gc_core")]
struct TwoCrates {
    a: u8,
}

#[derive(Trace)]
#[trace(always_scan, unsafe_drop)]
#[trace(always_scan)]
struct TwoScans {
    a: u8,
}

fn main() {}
