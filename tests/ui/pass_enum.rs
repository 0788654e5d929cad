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

const _: () = assert!(<Value as Trace>::NEEDS_TRACE);
const _: () = assert!(!<Flat as Trace>::NEEDS_TRACE);
const _: () = assert!(!<Empty as Trace>::NEEDS_TRACE);

fn main() {}
