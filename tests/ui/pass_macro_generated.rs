// Types written by `macro_rules!` macros derive `Trace`: field names, field types and
// variant names from the macro's parameters (their hygiene is the caller's), or the
// derive itself from the caller with the fields from the macro.
#![deny(warnings)]
#![deny(clippy::all)]

use gc_core::{Gc, Trace};

macro_rules! node {
    ($name:ident { $($field:ident: $ty:ty),* } $tuple:ident($($tty:ty),*)) => {
        #[derive(Trace)]
        pub struct $name {
            $(pub $field: $ty,)*
        }

        #[derive(Trace)]
        pub struct $tuple($(pub $tty),*);
    };
}

macro_rules! choice {
    ($name:ident<$t:ident> { $($variant:ident { $field:ident: $ty:ty }),* }) => {
        #[derive(Trace)]
        pub enum $name<$t> {
            $($variant { $field: $ty },)*
            Plain($t),
        }
    };
}

macro_rules! with_attrs {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        pub struct $name {
            pub value: u8,
            pub next: Option<Gc<$name>>,
        }
    };
}

// `depth` and `tracer` are the names of the derive's own parameters.
node!(Node { next: Option<Gc<Node>>, depth: u32, tracer: String } Pair(Gc<Node>, u8));
choice!(Choice<T> { Left { left: Gc<Node> }, Right { right: Vec<T> } });
with_attrs!(#[derive(Trace)] Linked);

fn main() {
    assert!(<Node as Trace>::needs_trace());
    assert!(<Pair as Trace>::needs_trace());
    assert!(<Choice<u8> as Trace>::needs_trace());
    assert!(<Linked as Trace>::needs_trace());
    let n = Gc::new(Node {
        next: None,
        depth: 1,
        tracer: "t".into(),
    });
    let p = Gc::new(Pair(n.clone(), 2));
    let c: Gc<Choice<u8>> = Gc::new(Choice::Left { left: n });
    gc_core::collect();
    assert_eq!(p.0.depth, 1);
    match &*c {
        Choice::Left { left } => assert_eq!(left.tracer, "t"),
        _ => unreachable!(),
    }
}
