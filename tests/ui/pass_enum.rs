// An enum with every kind of variant, skipped fields and a recursive field.
#![deny(warnings)]
#![deny(clippy::all)]

use gc_core::{Gc, Trace};

#[derive(Trace)]
pub struct Leaf {
    pub value: u64,
}

#[derive(Trace)]
pub enum Value {
    Nil,
    Int(i64),
    Pair(Gc<Leaf>, Box<Value>),
    Record {
        name: String,
        fields: Vec<(String, Value)>,
        #[trace(skip)]
        cache: std::sync::Mutex<Option<u64>>,
    },
    Skipped(#[trace(skip)] std::cell::Cell<u8>),
}

#[derive(Trace)]
pub enum Empty {}

#[derive(Trace)]
pub enum Flat {
    A,
    B(u8, String),
    C { x: f64 },
}

// (`needs_trace` is a function: `Trace` is dyn-compatible; checked at run time.)
fn main() {
    assert!(<Value as Trace>::needs_trace());
    assert!(!<Flat as Trace>::needs_trace());
    assert!(!<Empty as Trace>::needs_trace());
}
