// Enum variants take no options: each error says where the option goes.
use gc_core::Trace;

#[derive(Trace)]
enum Variants<T> {
    #[trace(bound = "T: Trace")]
    A(T),
    #[trace(unsafe_drop)]
    B(u8),
    #[trace(ignore)]
    C(u8),
}

fn main() {}
