// A hand-written `Drop` on a traced type is rejected: it could dereference a swept `Gc`.
use gc_core::{Gc, Trace};

#[derive(Trace)]
struct Node {
    next: Option<Gc<Node>>,
}

impl Drop for Node {
    fn drop(&mut self) {}
}

fn main() {}
