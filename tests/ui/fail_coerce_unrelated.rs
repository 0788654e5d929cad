// `coerce_gc!` performs only unsizing coercions: it cannot reinterpret an object as an
// unrelated type, not even one of the same size.
use gc_core::{coerce_gc, Gc, Trace};

trait Shape: Trace + Send + Sync {}

#[derive(Trace)]
struct Square(u64);

fn main() {
    let _n: Gc<i64> = coerce_gc!(Gc::new(1u64));
    // `Square` does not implement `Shape`.
    let _s: Gc<dyn Shape> = coerce_gc!(Gc::new(Square(2)));
}
