//! The type descriptor: what the allocator records for each object (a pointer per span, or
//! per slot, `alloc::span`) and the collector reads back (how to trace the object, how to
//! drop it, its name for reports). A neutral module, below the object model and beside
//! the allocator, so that both sides name it without naming each other; the descriptors
//! themselves are built per type by `object::typeinfo`. Pure constants, no shared state.

use crate::Tracer;

/// What the collector knows about a type.
pub(crate) struct TypeInfo {
    /// Traces the object at the given address.
    pub trace: unsafe fn(*const u8, &mut Tracer),
    /// Traces the part of the object whose elements start in the byte range `[from, to)`
    /// of it, so that the marker can split a huge object into oblets (Go's 128 KiB pieces,
    /// `gc/oblets.rs`): `Some` for slices (`Gc<[T]>`), `None` for every other type, whose
    /// `Trace` impl is opaque and is run on the whole object.
    pub trace_range: Option<unsafe fn(*const u8, usize, usize, &mut Tracer)>,
    /// Drops the object at the given address in place; `None` for types without drop glue.
    pub drop: Option<unsafe fn(*mut u8)>,
    /// `drop` does nothing for garbage whose slot is clean (no dirty bit: every `GcCell`
    /// inline in it holds edges, `gc/dirty.rs`): `Trace::garbage_drop_is_noop_at`. The
    /// sweeper then frees the slot without calling it.
    pub skip_clean_garbage: bool,
    /// Whether `drop` may run user code (`Trace::drop_runs_user_code`): then the sweeper
    /// moves the object out of the heap and the dropper runs `drop` on the copy, outside
    /// every GC operation (the collector's dropper); otherwise the sweeper drops it in place.
    pub user_drop: bool,
    /// `std::any::type_name` of the type (a function: `type_name` is not `const`).
    pub name: fn() -> &'static str,
}

/// Descriptor shared by every type that holds no `Gc` and has no drop glue: the sweeper
/// only needs to know there is nothing to do.
pub(crate) static PLAIN: TypeInfo = TypeInfo {
    trace: trace_nothing,
    trace_range: None,
    drop: None,
    skip_clean_garbage: false,
    user_drop: false,
    name: plain_name,
};

fn plain_name() -> &'static str {
    "<plain data>"
}

/// # Safety
///
/// Trivially safe; `unsafe` only to match the descriptor's function type.
unsafe fn trace_nothing(_: *const u8, _: &mut Tracer) {}

/// A descriptor of no real type: a named bucket of the heap profile
/// (`alloc::live_types`), used only as a key and for its name.
pub(crate) const fn bucket(name: fn() -> &'static str) -> TypeInfo {
    TypeInfo {
        trace: trace_nothing,
        trace_range: None,
        drop: None,
        skip_clean_garbage: false,
        user_drop: false,
        name,
    }
}
