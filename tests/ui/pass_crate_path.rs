// `#[trace(crate = "...")]`: the generated code reaches the runtime through a renamed
// crate or a re-export.
#![deny(warnings)]
#![deny(clippy::all)]

extern crate gc_core as renamed;

/// What a runtime built on `gc_core` might export.
pub mod my_runtime {
    pub use gc_core as gc;
}

#[derive(renamed::Trace)]
#[trace(crate = "renamed")]
pub struct ThroughRename<T> {
    pub next: Option<renamed::Gc<u64>>,
    pub value: T,
}

pub mod nested {
    use crate::my_runtime::gc::{Gc, Trace};

    #[derive(Trace)]
    #[trace(crate = "crate::my_runtime::gc")]
    pub enum ThroughReexport<T> {
        Held(Gc<u64>),
        Value(T),
    }
}

fn is_trace<T: my_runtime::gc::Trace>() -> bool {
    T::needs_trace()
}

fn main() {
    assert!(is_trace::<ThroughRename<u8>>());
    assert!(is_trace::<nested::ThroughReexport<String>>());
    let v = renamed::Gc::new(nested::ThroughReexport::<u8>::Value(3));
    renamed::collect();
    assert!(matches!(*v, nested::ThroughReexport::Value(3)));
}
