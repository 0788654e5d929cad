//! The macros that implement `Trace` for whole families of types (`object/trace.rs` holds
//! the trait and its obligations): leaves that hold no `Gc` (`leaf_trace!`), containers
//! whose elements an iterator yields (`container_trace!`), maps and sets whose keys follow
//! the key rules (`keyed_trace!`), tuples (`tuple_trace!`), and the facts a wrapper forwards
//! from its contents (`facts_of!`). Used by `trace_std` for the standard library, by
//! `crate::ext` for optional crates and by the runtime's own types. Each expansion's
//! `SAFETY` comment names the trait obligations it keeps. No shared state. See the collector
//! overview (`crate::design::collector`).

/// Implements `Trace` for types that never contain a `Gc`: a list of types, or one type
/// with generic parameters (`generic [T: ?Sized] PhantomData<T>`), optionally with
/// `, drop <expr>`: whether its drop may run user code (`false` without it).
macro_rules! leaf_trace {
    (generic [$($g:tt)*] $t:ty $(, drop $d:expr)? $(, box_into_heap $b:expr)?) => {
        // SAFETY: the type holds no `Gc` edge, so there is nothing to trace, root or unroot
        // (obligations 1, 2, 4); its drop runs only std's code and the global allocator
        // unless `drop` says otherwise (obligation 6).
        unsafe impl<$($g)*> $crate::Trace for $t {
            // (Never callable for the unsized `str`: `where Self: Sized` in the trait.)
            #[allow(dead_code)]
            #[inline(always)]
            fn needs_trace() -> bool { false }
            #[allow(dead_code)]
            #[inline(always)]
            fn drop_runs_user_code() -> bool { false $(|| $d)? }
            #[inline(always)]
            fn trace(&self, _: &mut $crate::Tracer) {}
            #[inline(always)]
            unsafe fn root(&mut self) {}
            #[inline(always)]
            unsafe fn unroot(&mut self) {}
            #[allow(dead_code)]
            #[inline(always)]
            fn roots_in_runs_at(_: u32) -> bool { true }
            #[allow(dead_code)]
            #[inline(always)]
            unsafe fn root_into(&mut self, _: &mut $crate::__private::RootRun<'_>) {}
            #[allow(dead_code)]
            #[inline(always)]
            unsafe fn unroot_into(&mut self, _: &mut $crate::__private::RootRun<'_>) {}
            $(
                fn box_into_heap(self: Box<Self>) -> *mut u8 {
                    $b(self)
                }
            )?
        }
    };
    ($($t:ty),* $(,)?) => {$(
        $crate::object::trace::leaf_trace!(generic [] $t);
    )*};
}
pub(crate) use leaf_trace;

/// `container_trace!`'s `trace`: always inlined for a container marked `inline elements`
/// (an `Option`, an array: its elements are stored inline), so that the marker's edge code,
/// itself always inlined, lands in the object's trace instead of behind a call per field (a
/// `GcCell<Option<Gc<_>>>` field cost a call with a full prologue per edge); `#[inline]` for
/// the others.
macro_rules! trace_fn {
    (elements; $($f:tt)*) => { #[inline(always)] $($f)* };
    (; $($f:tt)*) => { #[inline] $($f)* };
}
pub(crate) use trace_fn;

/// `container_trace!`'s loop over the elements in `trace` (`$s` is the container). For a
/// container whose elements are `outside` the heap (`buffer`: a `Vec`'s, a `VecDeque`'s),
/// a list of millions is one object to the marker but not one heap object's worth of work:
/// it is traced a chunk at a time (`Trace::trace_chunk`, as a cell's list is), and after
/// each chunk but the last the tracer is asked (`Tracer::list_chunk_done`), which banks a
/// background worker's credit for the assists waiting for it, or stops an assist's scan
/// (the object goes to the workers, which scan it whole again: Go's oblets split such an
/// array, but an assist's stop here cannot be resumed).
macro_rules! trace_elements {
    (; $tracer:ident, $s:ident, $iter:expr) => {
        for x in $iter {
            x.trace($tracer);
        }
    };
    (buffer; $tracer:ident, $s:ident, $iter:expr) => {
        let mut start = $tracer.edge_count();
        let mut from = 0;
        while let Some(next) = $crate::Trace::trace_chunk($s, $tracer, from) {
            if $tracer.list_chunk_done($tracer.edge_count().wrapping_sub(start)) {
                return;
            }
            (start, from) = ($tracer.edge_count(), next);
        }
    };
}
pub(crate) use trace_elements;

/// Implements `Trace` for a container whose elements of type `$e` `$iter` (shared) and
/// `$iter_mut` (exclusive) yield: collections, and wrappers with a fixed set of fields
/// (`Range<T>` yields `[&s.start, &s.end]`). Every method forwards to the elements, the
/// hidden key methods included. `drop <expr>` (optional) says whether the container's own
/// drop may run user code besides its elements' (a hasher's, say). `slices |m| <expr>`
/// (optional) yields the container's elements as mutable slices, which `root` and `unroot`
/// hand to the element type's `Trace::root_slice` and `unroot_slice`; `runs_if <expr>`
/// (optional: `Option`, arrays) says the container roots in runs
/// (`Trace::roots_in_runs_at`) when its elements do and `<expr>` holds (a bound on how
/// many it has). `outside buffer` (optional: `Vec`, `VecDeque`) says the elements live in
/// a buffer outside the heap, which the marker scans in chunks (`trace_elements!`).
macro_rules! container_trace {
    ($([$($g:tt)*] $t:ty, $e:ty, $(drop $d:expr,)? $(box_into_heap $b:expr,)? $(inline $inl:ident,)?
        $(slices |$sm:ident| $slices:expr,)? $(runs_if $runs:expr,)? $(outside $out:ident,)?
        |$s:ident| $iter:expr, |$m:ident| $iter_mut:expr;)*) => {$(
        // SAFETY: every element is visited by every method (obligations 1, 2, 7), the
        // container gives no interior mutability (obligation 3), and its own drop only
        // drops the elements and frees memory through the global allocator, as std's
        // containers do (obligation 6), unless `drop` says it may run more.
        unsafe impl<$($g)*> $crate::Trace for $t {
            // (Never callable for the unsized `[T]`: `where Self: Sized` in the trait.)
            #[allow(dead_code)]
            #[inline(always)]
            fn needs_trace() -> bool { <$e as $crate::Trace>::needs_trace_at(0) }
            #[allow(dead_code)]
            #[inline(always)]
            fn needs_trace_at(depth: u32) -> bool { <$e as $crate::Trace>::needs_trace_at(depth) }
            #[allow(dead_code)]
            #[inline(always)]
            fn drop_runs_user_code() -> bool {
                <$e as $crate::Trace>::drop_runs_user_code_at(0) $(|| $d)?
            }
            #[allow(dead_code)]
            #[inline(always)]
            fn drop_runs_user_code_at(depth: u32) -> bool {
                <$e as $crate::Trace>::drop_runs_user_code_at(depth) $(|| $d)?
            }
            #[allow(dead_code)]
            #[inline(always)]
            fn holds_keys_at(depth: u32) -> bool { <$e as $crate::Trace>::holds_keys_at(depth) }
            #[inline(always)]
            fn handles_hint(&self) -> usize {
                if <$e as $crate::Trace>::needs_trace() {
                    let $s = self;
                    let mut elements = IntoIterator::into_iter($iter);
                    let len = elements.size_hint().0;
                    // The first element stands for the others (a list of lists), and each
                    // holds one handle at least.
                    let each = elements.next().map_or(1, |e| e.handles_hint().max(1));
                    len.saturating_mul(each)
                } else {
                    0
                }
            }
            // `inline`: the elements are stored in the value itself, whose own drop only
            // drops them (no memory of its own to free).
            $(
            #[allow(dead_code)]
            #[inline(always)]
            fn garbage_drop_is_noop_at(depth: u32) -> bool {
                let _ = stringify!($inl);
                <$e as $crate::Trace>::garbage_drop_is_noop_at(depth)
            }
            )?
            $crate::object::trace::trace_fn! { $($inl)?;
                fn trace(&self, tracer: &mut $crate::Tracer) {
                    if <$e as $crate::Trace>::needs_trace() {
                        let $s = self;
                        $crate::object::trace::trace_elements!($($out)?; tracer, $s, $iter);
                    }
                }
            }
            #[inline]
            fn trace_counting(&self, tracer: &mut $crate::Tracer) {
                if <$e as $crate::Trace>::needs_trace() {
                    let $s = self;
                    for x in $iter {
                        x.trace_counting(tracer);
                        if tracer.counted_enough() {
                            return;
                        }
                    }
                }
            }
            // A container of slices (the `slices` clause) skips to an index in O(1).
            $(
            #[inline]
            fn trace_chunk(&self, tracer: &mut $crate::Tracer, from: usize) -> Option<usize> {
                let _ = stringify!($sm);
                if !<$e as $crate::Trace>::needs_trace() {
                    return None;
                }
                let $s = self;
                let start = tracer.edge_count();
                let mut elements = IntoIterator::into_iter($iter).skip(from);
                let mut at = from;
                while let Some(x) = elements.next() {
                    x.trace(tracer);
                    at += 1;
                    if tracer.chunk_full(start) {
                        return (elements.len() != 0).then_some(at);
                    }
                }
                None
            }
            #[allow(dead_code)]
            #[inline(always)]
            fn unroots_in_chunks() -> bool {
                <$e as $crate::Trace>::roots_in_runs_at(0)
            }
            #[inline]
            unsafe fn unroot_chunk(&mut self, from: usize) -> Option<usize> {
                if !<$e as $crate::Trace>::roots_in_runs_at(0) {
                    if from == 0 {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { $crate::Trace::unroot(self) };
                    }
                    return None;
                }
                let $sm = self;
                // Elements still to skip, and room left in the chunk.
                let (mut skip, mut room) = (from, $crate::gc::CHUNK_EDGES as usize);
                for slice in $slices {
                    let slice: &mut [$e] = slice;
                    if skip >= slice.len() {
                        skip -= slice.len();
                        continue;
                    }
                    let end = slice.len().min(skip + room);
                    // SAFETY: forwarded from the caller's contract, for these elements.
                    unsafe { <$e as $crate::Trace>::unroot_slice(&mut slice[skip..end]) };
                    room -= end - skip;
                    if room == 0 && end < slice.len() {
                        return Some(from + $crate::gc::CHUNK_EDGES as usize);
                    }
                    skip = 0;
                }
                // Full at the end of a slice: the next chunk finds out whether a later
                // slice has more.
                (room == 0).then_some(from + $crate::gc::CHUNK_EDGES as usize)
            }
            )?
            #[inline]
            unsafe fn root(&mut self) {
                if <$e as $crate::Trace>::needs_trace() {
                    $crate::object::trace::root_elements!(
                        root, root_slice, self, $e, $(|$sm| $slices)?; |$m| $iter_mut
                    );
                }
            }
            $(
            #[allow(dead_code)]
            #[inline(always)]
            fn roots_in_runs_at(depth: u32) -> bool {
                $runs && <$e as $crate::Trace>::roots_in_runs_at(depth)
            }
            #[allow(dead_code)]
            #[inline(always)]
            unsafe fn root_into(&mut self, run: &mut $crate::__private::RootRun<'_>) {
                let $m = self;
                for x in $iter_mut {
                    // SAFETY: forwarded from the caller's contract.
                    unsafe { x.root_into(run) };
                }
            }
            #[allow(dead_code)]
            #[inline(always)]
            unsafe fn unroot_into(&mut self, run: &mut $crate::__private::RootRun<'_>) {
                let $m = self;
                for x in $iter_mut {
                    // SAFETY: forwarded from the caller's contract.
                    unsafe { x.unroot_into(run) };
                }
            }
            )?
            #[inline]
            unsafe fn unroot(&mut self) {
                if <$e as $crate::Trace>::needs_trace() {
                    $crate::object::trace::root_elements!(
                        unroot, unroot_slice, self, $e, $(|$sm| $slices)?; |$m| $iter_mut
                    );
                }
            }
            #[inline]
            unsafe fn root_key(&self) {
                if <$e as $crate::Trace>::needs_trace() {
                    let $s = self;
                    for x in $iter {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { x.root_key() };
                    }
                }
            }
            #[inline]
            unsafe fn unroot_key(&self) {
                if <$e as $crate::Trace>::needs_trace() {
                    let $s = self;
                    for x in $iter {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { x.unroot_key() };
                    }
                }
            }
            #[inline]
            unsafe fn forget_edges(&mut self) {
                // Gated on `needs_trace`, not on the elements' `holds_keys_at`: a container
                // that is itself a map key or set element (a set of `Vec<Gc<T>>`) holds key
                // handles that its element type knows nothing about.
                if <$e as $crate::Trace>::needs_trace() {
                    let $m = self;
                    for x in $iter_mut {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { x.forget_edges() };
                    }
                }
            }
            $(
                fn box_into_heap(self: Box<Self>) -> *mut u8 {
                    $b(self)
                }
            )?
        }
    )*};
}
pub(crate) use container_trace;

/// A container's `root` (or `unroot`, `$one`): element by element, or, for a container
/// that keeps its elements in slices (`slices`), a slice at a time through
/// `Trace::root_slice` (`unroot_slice`, `$slice`).
macro_rules! root_elements {
    ($one:ident, $slice:ident, $this:ident, $e:ty, |$sm:ident| $slices:expr;
        |$m:ident| $iter_mut:expr) => {{
        let $sm = $this;
        for slice in $slices {
            // SAFETY: forwarded from the caller's contract, for each element.
            unsafe { <$e as $crate::Trace>::$slice(slice) };
        }
    }};
    ($one:ident, $slice:ident, $this:ident, $e:ty, ; |$m:ident| $iter_mut:expr) => {{
        let $m = $this;
        for x in $iter_mut {
            // SAFETY: forwarded from the caller's contract.
            unsafe { x.$one() };
        }
    }};
}
pub(crate) use root_elements;

/// Implements `Trace` for a map or set: its keys (set elements) `$keys` are reached only
/// through `&self` and follow the "Keys" protocol of the trait's docs (`root_key`,
/// `unroot_key`, and `forget_edges` through the owned entries `$drain` yields); its values
/// (`()` for a set) are visited like a container's elements.
macro_rules! keyed_trace {
    ($([$($g:tt)*] $t:ty, key $k:ty, value $v:ty, drop $s_drop:expr,
        |$s:ident| keys $keys:expr, values $values:expr,
        |$m:ident| values_mut $values_mut:expr, drain $drain:expr;)*) => {$(
        // SAFETY: every key and value is traced (obligation 1); values are rooted and
        // unrooted through `&mut` and keys through `root_key`/`unroot_key`, which keep a key
        // handle's count with its map's state, and `forget_edges` clears the flags of the
        // keys of a garbage map before they are dropped (obligations 2, 7); no interior
        // mutability (obligation 3); the container's own drop only drops its entries and
        // frees memory through the global allocator, as std's maps do (obligation 6, with
        // the hasher's drop, `drop`, counted as user code).
        unsafe impl<$($g)*> $crate::Trace for $t {
            #[inline(always)]
            fn needs_trace() -> bool { Self::needs_trace_at(0) }
            #[inline(always)]
            fn needs_trace_at(depth: u32) -> bool {
                <$k as $crate::Trace>::needs_trace_at(depth) || <$v as $crate::Trace>::needs_trace_at(depth)
            }
            #[inline(always)]
            fn drop_runs_user_code() -> bool { Self::drop_runs_user_code_at(0) }
            #[inline(always)]
            fn drop_runs_user_code_at(depth: u32) -> bool {
                <$k as $crate::Trace>::drop_runs_user_code_at(depth)
                    || <$v as $crate::Trace>::drop_runs_user_code_at(depth)
                    || $s_drop
            }
            #[inline(always)]
            fn holds_keys_at(depth: u32) -> bool {
                <$k as $crate::Trace>::needs_trace_at(depth) || <$v as $crate::Trace>::holds_keys_at(depth)
            }
            #[inline(always)]
            fn handles_hint(&self) -> usize {
                if Self::needs_trace() {
                    let $s = self;
                    $keys.size_hint().0
                } else {
                    0
                }
            }
            #[inline]
            fn trace(&self, tracer: &mut $crate::Tracer) {
                let $s = self;
                if <$k as $crate::Trace>::needs_trace() {
                    for k in $keys {
                        k.trace(tracer);
                    }
                }
                if <$v as $crate::Trace>::needs_trace() {
                    for v in $values {
                        v.trace(tracer);
                    }
                }
            }
            #[inline]
            fn trace_counting(&self, tracer: &mut $crate::Tracer) {
                let $s = self;
                if <$k as $crate::Trace>::needs_trace() {
                    for k in $keys {
                        k.trace_counting(tracer);
                        if tracer.counted_enough() {
                            return;
                        }
                    }
                }
                if <$v as $crate::Trace>::needs_trace() {
                    for v in $values {
                        v.trace_counting(tracer);
                        if tracer.counted_enough() {
                            return;
                        }
                    }
                }
            }
            #[inline]
            unsafe fn root(&mut self) {
                if <$k as $crate::Trace>::needs_trace() {
                    let $s = &*self;
                    for k in $keys {
                        // SAFETY: the map leaves the heap (caller's contract): its keys
                        // take their counts back.
                        unsafe { k.root_key() };
                    }
                }
                if <$v as $crate::Trace>::needs_trace() {
                    #[allow(unused_variables)] // a set's values are `()`
                    let $m = self;
                    for v in $values_mut {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { v.root() };
                    }
                }
            }
            #[inline]
            unsafe fn unroot(&mut self) {
                if <$k as $crate::Trace>::needs_trace() {
                    let $s = &*self;
                    for k in $keys {
                        // SAFETY: the map joins the heap (caller's contract): its keys give
                        // up their counts.
                        unsafe { k.unroot_key() };
                    }
                }
                if <$v as $crate::Trace>::needs_trace() {
                    #[allow(unused_variables)] // a set's values are `()`
                    let $m = self;
                    for v in $values_mut {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { v.unroot() };
                    }
                }
            }
            #[inline]
            unsafe fn root_key(&self) {
                let $s = self;
                if <$k as $crate::Trace>::needs_trace() {
                    for k in $keys {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { k.root_key() };
                    }
                }
                if <$v as $crate::Trace>::needs_trace() {
                    for v in $values {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { v.root_key() };
                    }
                }
            }
            #[inline]
            unsafe fn unroot_key(&self) {
                let $s = self;
                if <$k as $crate::Trace>::needs_trace() {
                    for k in $keys {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { k.unroot_key() };
                    }
                }
                if <$v as $crate::Trace>::needs_trace() {
                    for v in $values {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { v.unroot_key() };
                    }
                }
            }
            #[inline]
            unsafe fn forget_edges(&mut self) {
                let $m = self;
                if <$k as $crate::Trace>::needs_trace() {
                    // Owned, the keys are mutable: clear their flags, then drop the entries
                    // (the container's code only: draining neither hashes nor compares).
                    for (mut k, mut v) in $drain {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe {
                            k.forget_edges();
                            v.forget_edges();
                        }
                    }
                } else if <$v as $crate::Trace>::needs_trace() {
                    // Not `holds_keys_at`: a map that is itself a key has key handles in its
                    // values too (as for `container_trace!`).
                    for v in $values_mut {
                        // SAFETY: forwarded from the caller's contract.
                        unsafe { v.forget_edges() };
                    }
                }
            }
        }
    )*};
}
pub(crate) use keyed_trace;

/// Inside an `unsafe impl Trace` for a wrapper of one `$t` (a cell, a lock, a range): the
/// four facts (`needs_trace`, `drop_runs_user_code` and their `_at` forms) are `$t`'s, asked
/// at the same depth (the wrapper adds no derived level), with no drop code of its own.
macro_rules! facts_of {
    ($t:ty) => {
        #[inline(always)]
        fn needs_trace() -> bool {
            Self::needs_trace_at(0)
        }
        #[inline(always)]
        fn needs_trace_at(depth: u32) -> bool {
            <$t as $crate::Trace>::needs_trace_at(depth)
        }
        #[inline(always)]
        fn drop_runs_user_code() -> bool {
            Self::drop_runs_user_code_at(0)
        }
        #[inline(always)]
        fn drop_runs_user_code_at(depth: u32) -> bool {
            <$t as $crate::Trace>::drop_runs_user_code_at(depth)
        }
    };
}
pub(crate) use facts_of;

/// `Trace` for tuples: every position is visited.
macro_rules! tuple_trace {
    ($(($($n:tt $t:ident),+))*) => {$(
        // SAFETY: every element is visited by every method.
        unsafe impl<$($t: $crate::Trace),+> $crate::Trace for ($($t,)+) {
            #[inline(always)]
            fn needs_trace() -> bool { Self::needs_trace_at(0) }
            #[inline(always)]
            fn needs_trace_at(depth: u32) -> bool { false $(|| $t::needs_trace_at(depth))+ }
            #[inline(always)]
            fn drop_runs_user_code() -> bool { Self::drop_runs_user_code_at(0) }
            #[inline(always)]
            fn drop_runs_user_code_at(depth: u32) -> bool {
                false $(|| $t::drop_runs_user_code_at(depth))+
            }
            #[inline(always)]
            fn garbage_drop_is_noop_at(depth: u32) -> bool {
                true $(&& $t::garbage_drop_is_noop_at(depth))+
            }
            #[inline]
            fn trace(&self, tracer: &mut $crate::Tracer) {
                $(self.$n.trace(tracer);)+
            }
            #[inline]
            unsafe fn root(&mut self) {
                // SAFETY: forwarded from the caller's contract.
                unsafe { $(self.$n.root();)+ }
            }
            #[inline]
            unsafe fn unroot(&mut self) {
                // SAFETY: forwarded from the caller's contract.
                unsafe { $(self.$n.unroot();)+ }
            }
            #[inline(always)]
            fn roots_in_runs_at(depth: u32) -> bool {
                true $(&& $t::roots_in_runs_at(depth))+
            }
            #[inline(always)]
            unsafe fn root_into(&mut self, run: &mut $crate::__private::RootRun<'_>) {
                // SAFETY: forwarded from the caller's contract.
                unsafe { $(self.$n.root_into(run);)+ }
            }
            #[inline(always)]
            unsafe fn unroot_into(&mut self, run: &mut $crate::__private::RootRun<'_>) {
                // SAFETY: forwarded from the caller's contract.
                unsafe { $(self.$n.unroot_into(run);)+ }
            }
            #[inline(always)]
            fn holds_keys_at(depth: u32) -> bool { false $(|| $t::holds_keys_at(depth))+ }
            #[inline]
            unsafe fn root_key(&self) {
                // SAFETY: forwarded from the caller's contract.
                unsafe { $(self.$n.root_key();)+ }
            }
            #[inline]
            unsafe fn unroot_key(&self) {
                // SAFETY: forwarded from the caller's contract.
                unsafe { $(self.$n.unroot_key();)+ }
            }
            #[inline]
            unsafe fn forget_edges(&mut self) {
                // SAFETY: forwarded from the caller's contract.
                unsafe { $(self.$n.forget_edges();)+ }
            }
        }
    )*};
}
pub(crate) use tuple_trace;
