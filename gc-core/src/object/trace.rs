//! The `Trace` trait: how the collector finds the `Gc` handles inside a value, and how
//! handles change between *rooted* (counted, outside the heap) and *unrooted* (plain heap
//! edges). The macros that implement it for whole families of types (leaves, containers,
//! maps and sets, tuples) are in `trace_macros.rs`, re-exported here. The standard
//! library's types get it in `trace_std`, optional crates' in `crate::ext`; `Gc`, `GcCell`
//! and the other runtime types implement it in their own modules. See the collector
//! overview (`crate::design::collector`) for why both operations exist.

use crate::gc::Tracer;

/// A type whose `Gc` handles the collector can find.
///
/// Derive it with `#[derive(Trace)]`; write it by hand only for containers the derive cannot
/// see into.
///
/// # Safety
///
/// An implementation must keep these obligations; the collector frees memory on the strength
/// of them:
///
/// 1. **Trace everything.** `trace` calls `Trace::trace` on every value that may hold a `Gc`
///    and that this value owns or can reach without taking a lock (fields, elements, boxed
///    contents). A `Gc` that is missed may be freed while still reachable.
/// 2. **Root and unroot everything.** `root` and `unroot` visit exactly the same values as
///    `trace`, calling `root`/`unroot` on each. They only flip the state of the handles
///    themselves; they never follow a `Gc` to another object.
/// 3. **No hidden mutation.** A `Gc` reachable from the value is changed only through `&mut`
///    access to the value, a `GcCell`, or an `AtomicGc`; never through `Cell`, `RefCell`,
///    `Mutex`, `RwLock` or other interior mutability the collector does not know about.
/// 4. **`needs_trace` is honest.** It may return `false` only if no value of the type can
///    ever contain a `Gc`. Such types are allocated in noscan spans the marker never reads.
///    It returns the same answer every time (a constant expression of the type).
/// 5. **No `Gc` access in `Drop`.** A type's `Drop` must not dereference a `Gc` it holds: the
///    target may have been swept in the same cycle. (The derive rejects `Drop` unless the
///    type opts out with `#[trace(unsafe_drop)]`.)
/// 6. **`drop_runs_user_code` is honest.** It may return `false` only if dropping a value
///    of the type runs nothing but the runtime's own code (`Gc`, `GcCell`, `AtomicGc`), the
///    standard library's containers and the global allocator. Such values are dropped in
///    place while their object is swept; any other drop could block, allocate or panic
///    inside the collector.
/// 7. **Keys follow the same rules.** The hidden methods `holds_keys_at`, `root_key`,
///    `unroot_key` and `forget_edges` (see "Keys" below) either all keep their defaults (then
///    a handle inside a value of this type that sits in a map key or set element stays a
///    counted root) or all forward to the same values as `trace`. The derive and every
///    container in this crate forward them; a hand-written impl for a type holding a map or
///    set keyed by `Gc` must forward them too.
///
/// # Keys
///
/// A map key or set element can never be reached mutably, so a `Gc` there cannot change its
/// own rooted flag. Such a handle still follows its map: when the map joins the heap
/// (`unroot`), `unroot_key` gives up the key's count through `&self` and leaves the flag
/// set; when it leaves again (`root`), `root_key` takes the count back. A key handle inside
/// a heap object therefore claims a count it does not hold, which matters only when its
/// object is dropped as garbage: the sweeper first calls `forget_edges`, which takes the
/// keys out of their maps (owned, hence mutable) and clears their flags, so that dropping
/// them touches no count. `holds_keys_at` says whether a type may hold such keys, so the
/// sweeper skips that walk for every other type.
///
/// # Examples
///
/// Derive it (the usual way), or write it by hand for a type the derive cannot see into:
///
/// ```
/// use gc_core::{Gc, Trace, Tracer};
///
/// /// A wrapper of our own around a handle.
/// struct Slot(Option<Gc<u64>>);
///
/// // SAFETY: every method visits the one handle inside (obligations 1 and 2); no
/// // interior mutability (3); `needs_trace` keeps its default, `true` (4); no `Drop` (5).
/// unsafe impl Trace for Slot {
///     fn trace(&self, tracer: &mut Tracer) {
///         self.0.trace(tracer)
///     }
///     unsafe fn root(&mut self) {
///         // SAFETY: forwarded from the caller's contract.
///         unsafe { self.0.root() }
///     }
///     unsafe fn unroot(&mut self) {
///         // SAFETY: forwarded from the caller's contract.
///         unsafe { self.0.unroot() }
///     }
/// }
///
/// #[derive(Trace)]
/// struct Holder { slot: Slot, name: String }
///
/// let h = Gc::new(Holder { slot: Slot(Some(Gc::new(1))), name: "h".into() });
/// gc_core::collect(); // the inner object is reached through `Slot::trace`
/// assert_eq!(h.slot.0.as_deref(), Some(&1));
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be traced by the collector",
    label = "this type does not implement `Trace`",
    note = "derive it with `#[derive(Trace)]`, or mark a field that holds no `Gc` with `#[trace(skip)]`"
)]
pub unsafe trait Trace {
    /// Whether a value of this type may contain a `Gc` (obligation 4). `false` puts the type
    /// in noscan spans that the marker never reads.
    ///
    /// An associated function rather than a constant so that `Trace` stays dyn-compatible
    /// (`Box<dyn Shape>`, `Gc<dyn Shape>`); the `where Self: Sized` bound keeps it out of the
    /// vtable. Implementations return a constant expression and are `#[inline(always)]`, so
    /// for a sized type the answer is still known at compile time: `Gc::new` selects between
    /// placement tables that are themselves constants (`object/typeinfo.rs`).
    #[inline(always)]
    fn needs_trace() -> bool
    where
        Self: Sized,
    {
        true
    }

    /// Whether dropping a value of this type may run code the runtime does not know
    /// (obligation 6): a hand-written `Drop`, a field the derive cannot see into
    /// (`#[trace(skip)]`), a closure, a trait object. The sweeper moves such objects out of
    /// the heap and the dropper runs their `Drop` outside every GC operation
    /// (`gc_core::collect` has the details); other objects are dropped in place while
    /// swept, which is cheaper. A moved object's `Drop` sees it at a new address (as any
    /// moved Rust value), not at `Gc::as_ptr`. The default,
    /// `std::mem::needs_drop::<Self>()`, is always correct. Like [`Trace::needs_trace`], a
    /// constant expression behind a function so that the trait stays dyn-compatible.
    #[inline(always)]
    fn drop_runs_user_code() -> bool
    where
        Self: Sized,
    {
        std::mem::needs_drop::<Self>()
    }

    /// [`Trace::needs_trace`], asked `depth` derived types deep. The derive and the
    /// containers implement it (a derived type adds 1, a container passes `depth` on) and
    /// answer `true` (always sound) past `__private::TRACE_DEPTH_LIMIT`, so the question
    /// ends for mutually recursive types (`enum Expr { Block(Vec<Stmt>) }` and
    /// `enum Stmt { Expr(Expr) }`), which would otherwise ask each other for ever; the
    /// first answer past the limit ends the `||` chains above it, so the cost stays linear.
    /// A hand-written container impl should pass `depth` on the same way.
    #[doc(hidden)]
    #[inline(always)]
    fn needs_trace_at(depth: u32) -> bool
    where
        Self: Sized,
    {
        let _ = depth;
        Self::needs_trace()
    }

    /// [`Trace::drop_runs_user_code`], asked `depth` derived types deep (as
    /// [`Trace::needs_trace_at`]).
    #[doc(hidden)]
    #[inline(always)]
    fn drop_runs_user_code_at(depth: u32) -> bool
    where
        Self: Sized,
    {
        let _ = depth;
        Self::drop_runs_user_code()
    }

    /// Whether dropping a value of this type that is garbage (in a dead object whose slot
    /// is clean: the heap's edge state, every `GcCell` inline in it unrooted) does nothing
    /// at all, asked `depth` derived types deep: then the sweeper frees such a slot without
    /// running the object's drop glue (a dirty slot's glue always runs). True for `Gc` (an
    /// edge handle's drop is a no-op), for `GcCell<T>` when it is for `T`, and for
    /// `Option`, arrays, tuples and derived types made only of such parts; `false` (always
    /// sound) for everything else, and past `__private::TRACE_DEPTH_LIMIT`.
    #[doc(hidden)]
    #[inline(always)]
    fn garbage_drop_is_noop_at(depth: u32) -> bool
    where
        Self: Sized,
    {
        let _ = depth;
        !std::mem::needs_drop::<Self>()
    }

    /// Whether a value of this type may hold a `Gc` that cannot be reached mutably (a map
    /// key or set element, see "Keys"), asked `depth` derived types deep (as
    /// [`Trace::needs_trace_at`]). The default, `false`, goes with the defaults of the three
    /// methods below.
    #[doc(hidden)]
    #[inline(always)]
    fn holds_keys_at(depth: u32) -> bool
    where
        Self: Sized,
    {
        let _ = depth;
        false
    }

    /// A cheap guess at how many handles `self` holds: a container's number of elements
    /// when they hold handles, times its first element's guess if that is more than one
    /// (a list of lists), a map's entries, the sum of its fields' for a derived type, 0
    /// for everything else (the default). `Gc::new` and the unroot pass ask it of a rooted
    /// `GcCell`'s contents before they count their handles exactly, to tell a large cell,
    /// which they leave rooted, without a walk of a small one (`crate::gc::move_in`,
    /// `GcCell::keeps_large`). O(nesting depth) for containers, O(fields) for a derived
    /// type. Never relied on for soundness.
    #[doc(hidden)]
    #[inline(always)]
    fn handles_hint(&self) -> usize {
        0
    }

    /// `trace` for a walk that only counts edges, to learn whether there are at least
    /// some number of them (`GcCell`'s test of a large cell, which asks for 1,024): a
    /// container stops between two elements once the tracer has counted enough, so the
    /// answer costs O(that number) instead of O(contents). The default traces everything
    /// (always a correct answer); a derived type counts its fields in order and stops
    /// between two (`object/field_chunks.rs`). Never called on a
    /// marking tracer.
    #[doc(hidden)]
    #[inline(always)]
    fn trace_counting(&self, tracer: &mut Tracer) {
        self.trace(tracer)
    }

    /// `trace` in chunks, for the marker's scan of a `GcCell`'s contents, which lets go of
    /// the cell's lock between two chunks so that its readers and writers do not wait for
    /// all of a large list: traces the elements from index `from` on until the tracer says
    /// a chunk is full (`Tracer::chunk_full`), and returns the index to resume at, or
    /// `None` when everything from `from` on was traced. A list whose elements can be
    /// skipped to in O(1) (`Vec`, `VecDeque`, boxed slices, arrays) resumes, and a derived
    /// type resumes inside the field that filled the chunk (`object/field_chunks.rs`); the
    /// default traces everything when `from` is 0 and returns `None`. The caller resumes only on
    /// the same contents or on contents every handle of which was shaded since (the
    /// barrier of a write guard or of `GcCell::replace` while marking), and an index past
    /// the end traces nothing.
    #[doc(hidden)]
    #[inline(always)]
    fn trace_chunk(&self, tracer: &mut Tracer, from: usize) -> Option<usize> {
        if from == 0 {
            self.trace(tracer);
        }
        None
    }

    /// Whether [`Trace::unroot_chunk`] makes a value of this type edges a chunk at a time:
    /// a list whose elements root in runs (`Vec`, `VecDeque`, boxed slices and arrays of
    /// handles, optional handles, an interpreter's derived `Value` enum: no `GcCell`
    /// inside, each handle with its own root flag), and a derived type each of whose
    /// fields roots in runs or makes its edges in chunks. `false` (the default) for
    /// everything else (a box, which may hold anything, included), which `unroot_chunk`
    /// makes edges whole.
    #[doc(hidden)]
    #[inline(always)]
    fn unroots_in_chunks() -> bool
    where
        Self: Sized,
    {
        false
    }

    /// `unroot` in chunks, for the unroot pass's turning of a large `GcCell`'s list back
    /// into edges, which lets go of the cell between two chunks so that its readers do not
    /// wait for the whole list: makes the elements from index `from` on edges, at most a
    /// chunk of them ([`CHUNK_EDGES`](crate::gc::CHUNK_EDGES) elements), and returns the
    /// index to resume at, or `None` when none is left. Only where
    /// [`Trace::unroots_in_chunks`] says so; the default makes everything edges when
    /// `from` is 0 and returns `None`. Each handle keeps its own root flag, so a value left
    /// part rooted, part edges, is consistent: rooting it again (a writer's guard) roots
    /// the edges only, and unrooting it again from 0 makes only the roots edges.
    ///
    /// # Safety
    ///
    /// As for [`Trace::unroot`], for the elements it reaches.
    #[doc(hidden)]
    #[inline]
    unsafe fn unroot_chunk(&mut self, from: usize) -> Option<usize> {
        if from == 0 {
            // SAFETY: forwarded from the caller's contract.
            unsafe { self.unroot() };
        }
        None
    }

    /// Report every `Gc` reachable from `self` to the tracer (obligation 1).
    fn trace(&self, tracer: &mut Tracer);

    /// Turn every handle inside `self` into a counted root (obligation 2).
    ///
    /// # Safety
    ///
    /// Called only by the runtime: the caller owns `self` exclusively and the value is leaving
    /// the heap's control (a `GcCell` being written, say). Calling it on a value inside the
    /// heap by hand keeps its targets alive, and calling `unroot` afterwards by hand can free
    /// objects that are still in use.
    unsafe fn root(&mut self);

    /// Turn every handle inside `self` into a plain heap edge (obligation 2).
    ///
    /// # Safety
    ///
    /// Called only by the runtime, on a value that has just become part of a heap object and
    /// is reachable through it. Unrooting a value that lives outside the heap lets the
    /// collector free its targets while they are still in use.
    unsafe fn unroot(&mut self);

    /// [`Trace::root`] on every element of `items`: what a container that keeps its
    /// elements in slices (`Vec`, `VecDeque`, arrays, boxed slices) calls from its own
    /// `root`. A long slice of a type that roots in runs ([`Trace::roots_in_runs_at`]:
    /// handles, optional handles, an interpreter's derived `Value` enum) takes one root
    /// operation per chunk, its counts gathered by counter word (`crate::gc::root_run`),
    /// which is what a write guard pays for a large list the collector made edges again;
    /// any other slice is rooted element by element.
    ///
    /// # Safety
    ///
    /// As for [`Trace::root`], for each element.
    #[doc(hidden)]
    #[inline]
    unsafe fn root_slice(items: &mut [Self])
    where
        Self: Sized,
    {
        // SAFETY: forwarded from the caller's contract.
        unsafe { super::gc::slice_roots::<Self, true>(items) }
    }

    /// [`Trace::unroot`] on every element of `items`, as [`Trace::root_slice`] roots them:
    /// a long slice of a type that roots in runs is made edges with one root operation per
    /// chunk, each root taken back from the thread's cache or kept with its counter word's
    /// pending decrements until the chunk ends (`crate::gc::unroot_run`): what `Gc::new`
    /// pays to move a list in. Any other slice is unrooted element by element.
    ///
    /// # Safety
    ///
    /// As for [`Trace::unroot`], for each element.
    #[doc(hidden)]
    #[inline]
    unsafe fn unroot_slice(items: &mut [Self])
    where
        Self: Sized,
    {
        // SAFETY: forwarded from the caller's contract.
        unsafe { super::gc::slice_roots::<Self, false>(items) }
    }

    /// Whether [`Trace::root_into`] and [`Trace::unroot_into`] root and unroot a value of
    /// this type, asked `depth` derived types deep: its `root` and `unroot` run only the
    /// runtime's own code (no hand-written `Trace` impl on the way) and visit a bounded
    /// number of handles (no list, map or box: those take their own elements in runs,
    /// outside any one element's). True for `Gc`, for types without handles, and for
    /// `Option`, tuples, small arrays and derived types made only of such parts; `false`
    /// (the default, always sound) for everything else and past
    /// `__private::TRACE_DEPTH_LIMIT`.
    #[doc(hidden)]
    #[inline(always)]
    fn roots_in_runs_at(depth: u32) -> bool
    where
        Self: Sized,
    {
        let _ = depth;
        false
    }

    /// [`Trace::root`] inside a run's root operation: every handle inside `self` that is
    /// an edge gets its root through `run`. The runtime calls it (and
    /// [`Trace::unroot_into`]) only for a type whose [`Trace::roots_in_runs_at`] is `true`;
    /// an implementation that answers `true` there must forward both methods to exactly
    /// the fields its `root` visits, and run nothing else (the operation holds off every
    /// stop of the world while it runs).
    ///
    /// # Safety
    ///
    /// As for [`Trace::root`].
    #[doc(hidden)]
    #[inline(always)]
    unsafe fn root_into(&mut self, run: &mut crate::__private::RootRun<'_>)
    where
        Self: Sized,
    {
        let _ = run;
        panic!(
            "Trace::root_into called for a type whose roots_in_runs_at answers false: its Trace impl answers true there without implementing root_into"
        );
    }

    /// [`Trace::unroot`] inside a run's root operation: every rooted handle inside `self`
    /// becomes an edge, its root given up through `run` (as [`Trace::root_into`]).
    ///
    /// # Safety
    ///
    /// As for [`Trace::unroot`].
    #[doc(hidden)]
    #[inline(always)]
    unsafe fn unroot_into(&mut self, run: &mut crate::__private::RootRun<'_>)
    where
        Self: Sized,
    {
        let _ = run;
        panic!(
            "Trace::unroot_into called for a type whose roots_in_runs_at answers false: its Trace impl answers true there without implementing unroot_into"
        );
    }

    /// [`Trace::root`] for a value reached only through `&self` (a map key or set element,
    /// see "Keys"): takes a count for every handle inside whose map is leaving the heap,
    /// without changing the handles. The default does nothing: such handles then stay
    /// counted roots throughout.
    ///
    /// # Safety
    ///
    /// As for [`Trace::root`]; called only by a map or set whose own `root` runs.
    #[doc(hidden)]
    #[inline(always)]
    unsafe fn root_key(&self) {}

    /// [`Trace::unroot`] for a value reached only through `&self`: gives up the count of
    /// every handle inside (they stay flagged as rooted; see "Keys").
    ///
    /// # Safety
    ///
    /// As for [`Trace::unroot`]; called only by a map or set whose own `unroot` runs.
    #[doc(hidden)]
    #[inline(always)]
    unsafe fn unroot_key(&self) {}

    /// Called on a value in the heap's edge state that is about to be dropped as garbage:
    /// makes sure that dropping it touches no root count it does not hold (clears the flag
    /// of every key handle, see "Keys"). Runs only the runtime's and std's code. Called on a
    /// map's key, it must clear every handle inside whose count `unroot_key` gave up: an
    /// implementation that forwards the key methods forwards this one to the same values,
    /// whatever their `holds_keys_at` says (a `Vec<Gc<T>>` set element holds only key
    /// handles, though `Gc<T>` holds no keys).
    ///
    /// # Safety
    ///
    /// `self` is garbage in edge state (inside a dead object, outside any `ROOTED` cell)
    /// and is never traced or rooted again.
    #[doc(hidden)]
    #[inline(always)]
    unsafe fn forget_edges(&mut self) {}

    /// Moves the boxed value into a new heap object, for `From<Box<T>> for Gc<T>`, and
    /// returns the object's address with one root count, which the caller owns. A method
    /// (in every trait object's vtable, thanks to the `Box<Self>` receiver) so that a
    /// `Box<dyn Shape>` is moved by its concrete type's code, which knows the descriptor
    /// (`object/boxed.rs`). The default is right for every sized type; `[T]` and `str`
    /// override it. Not meant to be overridden elsewhere.
    #[doc(hidden)]
    fn box_into_heap(self: Box<Self>) -> *mut u8 {
        crate::object::boxed::move_into_heap(self)
    }
}

#[path = "trace_macros.rs"]
mod macros;
pub(crate) use macros::{
    container_trace, facts_of, keyed_trace, leaf_trace, root_elements, trace_elements, trace_fn,
    tuple_trace,
};
