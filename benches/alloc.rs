//! Criterion benches for allocation (filled in below).
fn main() {}
