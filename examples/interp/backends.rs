//! The one runtime on three collectors. Each module below names its collector's pointer,
//! cell, heap string and derives, then expands `define_values!`, `define_evaluator!` and
//! `define_natives!` over them, so the three interpreters are the same code.
//!
//! | | gc-core (`gc`) | rust-gc (`rustgc`) | dumpster (`dumpster`) |
//! |---|---|---|---|
//! | pointer | `gc_core::Gc` | `gc::Gc` | `dumpster::unsync::Gc` |
//! | cell | `gc_core::GcCell` | `gc::GcCell` | `std::cell::RefCell` |
//! | string | `Gc<str>` | `Gc<String>` (no `Gc<str>` on stable) | `Gc<str>` |
//! | derive | `Trace` | `Trace, Finalize` | `Trace` |
//! | the AST's `Arc` | `#[trace(skip)]` | `#[unsafe_ignore_trace]` | a no-op `TraceWith` impl (no skip attribute) |
//!
//! Each uses its collector's defaults: no knob is set.

use crate::shared::{RunError, Size};

/// The collectors, as named on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Backend {
    GcCore,
    RustGc,
    Dumpster,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Backend::GcCore, Backend::RustGc, Backend::Dumpster];

    /// The `--backend` value.
    pub fn name(self) -> &'static str {
        match self {
            Backend::GcCore => "gc",
            Backend::RustGc => "rustgc",
            Backend::Dumpster => "dumpster",
        }
    }

    /// The collector's name in tables.
    pub fn label(self) -> &'static str {
        match self {
            Backend::GcCore => "gc-core",
            Backend::RustGc => "rust-gc",
            Backend::Dumpster => "dumpster",
        }
    }

    pub fn parse(s: &str) -> Option<Backend> {
        Backend::ALL.into_iter().find(|b| b.name() == s)
    }

    /// Compiles and runs `src` on this backend, on the current thread: the output, and the
    /// error that stopped it, if any.
    pub fn run(self, src: &str, size: Size) -> (String, Result<(), RunError>) {
        match self {
            Backend::GcCore => gccore::run(src, size),
            Backend::RustGc => rustgc::run(src, size),
            Backend::Dumpster => dumpster_rt::run(src, size),
        }
    }
}

/// gc-core, this repository's collector.
pub mod gccore {
    use gc_core::Trace;
    pub use gc_core::{Gc, GcCell as Cell};
    use std::sync::Arc;

    pub type Str = Gc<str>;

    pub fn new_str(s: String) -> Str {
        Gc::from(s)
    }

    /// A function's declaration: shared, not garbage, so not traced.
    #[derive(Trace)]
    pub struct FunRef(#[trace(skip)] pub Arc<crate::ast::FunDecl>);

    define_values!();
    define_evaluator!();
    define_natives!();
}

/// rust-gc, the `gc` crate. Its derives (synstructure 0.12) wrap their impls in a `const`
/// block, which rustc now warns about.
#[allow(non_local_definitions)]
pub mod rustgc {
    use gc::{Finalize, Trace};
    pub use gc::{Gc, GcCell as Cell};
    use std::sync::Arc;

    pub type Str = Gc<String>;

    pub fn new_str(s: String) -> Str {
        Gc::new(s)
    }

    /// A function's declaration: shared, not garbage, so not traced.
    #[derive(Trace, Finalize)]
    pub struct FunRef(#[unsafe_ignore_trace] pub Arc<crate::ast::FunDecl>);

    define_values!(Finalize);
    define_evaluator!();
    define_natives!();
}

/// dumpster's thread-local collector (`dumpster::unsync`), with `RefCell` for mutation.
pub mod dumpster_rt {
    pub use dumpster::unsync::Gc;
    use dumpster::Trace;
    pub use std::cell::RefCell as Cell;
    use std::sync::Arc;

    pub type Str = Gc<str>;

    pub fn new_str(s: String) -> Str {
        Gc::from(s)
    }

    /// A function's declaration: shared, not garbage, so not traced.
    pub struct FunRef(pub Arc<crate::ast::FunDecl>);

    // SAFETY: a `FunRef` holds no `Gc` (the syntax tree has none), so there is nothing to
    // visit.
    unsafe impl<V: dumpster::Visitor> dumpster::TraceWith<V> for FunRef {
        fn accept(&self, _: &mut V) -> Result<(), ()> {
            Ok(())
        }
    }

    define_values!();
    define_evaluator!();
    define_natives!();
}
