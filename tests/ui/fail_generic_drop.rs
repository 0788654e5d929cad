// The `Drop` check also covers generic types.
use gc_core::Trace;

#[derive(Trace)]
struct Wrapper<T> {
    value: T,
}

impl<T> Drop for Wrapper<T> {
    fn drop(&mut self) {}
}

fn main() {}
