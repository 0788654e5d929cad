//! `Gc<T>`: a shared, thread-safe pointer to an object in the collected heap.
//!
//! A handle is either *rooted* (it holds one count on its object's root counter; every
//! handle a user can own or move is rooted) or *unrooted* (a plain edge stored inside a heap
//! object, traced by the collector instead of counted). Bit 63 of the pointer says which;
//! user-space addresses never use it. Rooting rules and their proofs are in the collector
//! overview
//! (`crate::design::collector`); the counter operations are the collector's entry points
//! `add_root`, `drop_root` and `root_to_edge` (`gc/roots.rs`).

use crate::gc::{self, RootRun, Tracer};
use crate::object::typeinfo::Layout;
use crate::Trace;
use std::fmt;
use std::marker::PhantomData;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::ops::Deref;
use std::ptr::NonNull;

/// Set in a handle's address when the handle holds a root count.
const ROOTED: usize = 1 << 63;

crate::sync::thread_local! {
    /// Edges this thread's `root` walks turned into roots (wrapping: only differences are
    /// read).
    static ROOTED_HANDLES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The count of edges this thread's `root` walks turned into roots so far: a write guard
/// tells a large cell by the difference across its rooting (`object/cell.rs`, `LARGE`).
/// Wrapping; subtract with `wrapping_sub`.
#[inline(always)]
pub(crate) fn rooted_handles() -> usize {
    ROOTED_HANDLES.with(|n| n.get())
}

/// `Trace::root_slice` (`ROOT`) or `Trace::unroot_slice`: a long slice whose type roots in
/// runs (`Trace::roots_in_runs_at`: handles, optional handles, derived values made of
/// them) in runs ([`in_runs`]), any other element by element.
///
/// # Safety
///
/// As for `Trace::root` (`Trace::unroot`), for each element.
#[inline]
pub(super) unsafe fn slice_roots<T: Trace, const ROOT: bool>(items: &mut [T]) {
    if T::roots_in_runs_at(0) && items.len() >= gc::ROOT_RUN_MIN {
        // SAFETY: the caller's contract, and `roots_in_runs_at` is true.
        let rooted = unsafe { in_runs::<T, ROOT>(items) };
        if ROOT {
            ROOTED_HANDLES.with(|n| n.set(n.get().wrapping_add(rooted)));
        }
    } else {
        for x in items {
            // SAFETY: the caller's contract.
            unsafe { one::<T, ROOT>(x) };
        }
    }
}

/// `x.root()` (`ROOT`) or `x.unroot()`.
///
/// # Safety
///
/// As for that method.
#[inline(always)]
unsafe fn one<T: Trace, const ROOT: bool>(x: &mut T) {
    // SAFETY: the caller's contract.
    unsafe {
        if ROOT {
            x.root()
        } else {
            x.unroot()
        }
    }
}

/// A long slice rooted (`ROOT`) or made edges in runs: each chunk in one root operation,
/// every element through `Trace::root_into` (`unroot_into`), the counts gathered by
/// counter word (`crate::gc::root_run`, `unroot_run`); a chunk that finds the world
/// stopping (or a thread without a root cache) goes element by element. Returns the
/// roots the runs added.
///
/// # Safety
///
/// As for `Trace::root` (`Trace::unroot`), for each element; `T::roots_in_runs_at(0)` is
/// true.
#[inline(never)]
unsafe fn in_runs<T: Trace, const ROOT: bool>(items: &mut [T]) -> usize {
    let mut rooted = 0usize;
    for chunk in items.chunks_mut(gc::ROOT_RUN_CHUNK) {
        let each = |run: &mut RootRun<'_>| {
            for x in chunk.iter_mut() {
                // SAFETY: the caller's contract; `roots_in_runs_at` said that these run
                // only the runtime's code, as the operation requires.
                unsafe {
                    if ROOT {
                        x.root_into(run)
                    } else {
                        x.unroot_into(run)
                    }
                }
            }
        };
        let ran = if ROOT {
            gc::root_run(each)
        } else {
            gc::unroot_run(each)
        };
        match ran {
            Some(added) => rooted += added,
            None => {
                for x in chunk.iter_mut() {
                    // SAFETY: the caller's contract.
                    unsafe { one::<T, ROOT>(x) };
                }
            }
        }
    }
    rooted
}

/// A pointer to a garbage-collected `T`.
///
/// Create one with [`Gc::new`]; clone it freely and send it to other threads (when `T` is
/// `Send + Sync`). The object stays alive while any handle outside the heap, or any object
/// reachable from one, refers to it; cycles are collected.
///
/// ```
/// use gc_core::{Gc, GcCell, Trace};
///
/// #[derive(Trace)]
/// struct Node { next: GcCell<Option<Gc<Node>>>, value: u64 }
///
/// let a = Gc::new(Node { next: GcCell::new(None), value: 1 });
/// let b = Gc::new(Node { next: GcCell::new(Some(a.clone())), value: 2 });
/// *a.next.borrow_mut() = Some(b.clone()); // a cycle
/// assert_eq!(a.next.borrow().as_ref().unwrap().value, 2);
/// drop((a, b));
/// gc_core::collect(); // the cycle is freed
/// ```
pub struct Gc<T: ?Sized + 'static> {
    ptr: NonNull<T>,
    _owns: PhantomData<T>,
}

// SAFETY: a `Gc<T>` gives shared access to `T` from any thread, like `Arc<T>`; the root
// counter it touches is atomic.
unsafe impl<T: ?Sized + Send + Sync> Send for Gc<T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Send + Sync> Sync for Gc<T> {}

impl<T: Trace + Send + Sync + 'static> Gc<T> {
    /// Allocates `value` in the collected heap and returns a rooted handle to it.
    ///
    /// Every `Gc` inside `value` becomes a plain heap edge (a walk over `value` only, never
    /// over the objects it points to). May start a collection cycle when the heap has grown
    /// past the pacer's trigger.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{Gc, Trace};
    ///
    /// #[derive(Trace)]
    /// struct Pair { left: Gc<u32>, right: Gc<u32> }
    ///
    /// let one = Gc::new(1);
    /// let pair = Gc::new(Pair { left: one.clone(), right: one }); // handles inside become edges
    /// assert_eq!(*pair.left + *pair.right, 2);
    /// ```
    #[inline(always)]
    pub fn new(value: T) -> Gc<T> {
        if std::mem::size_of::<T>() <= 2 * std::mem::size_of::<usize>() {
            // Passed in registers: written into the slot from them.
            Self::new_in_registers(value)
        } else {
            // Passed through memory: read from there only once the slot is known
            // (`move_in`), and not copied into `new`'s own frame first, as a by-value
            // argument of this size is.
            let mut value = ManuallyDrop::new(value);
            // SAFETY: `value` is initialised and not used again here.
            unsafe { Self::new_in_memory(&mut value) }
        }
    }

    #[inline]
    fn new_in_registers(value: T) -> Gc<T> {
        // SAFETY: the slot is free, sized and aligned for `T`, and ours.
        Self::allocate(move |slot| unsafe { slot.write(value) })
    }

    /// # Safety
    ///
    /// `value` is initialised, and the caller neither uses nor drops it again: it is moved
    /// into the new object, or dropped here if the allocation unwinds before that.
    #[inline]
    unsafe fn new_in_memory(value: &mut ManuallyDrop<T>) -> Gc<T> {
        /// Drops the value if it was not moved into the slot.
        struct Unmoved<'a, T>(&'a mut ManuallyDrop<T>);
        impl<T> Drop for Unmoved<'_, T> {
            fn drop(&mut self) {
                // SAFETY: the value was not moved out (`allocate` forgets us when it is),
                // and this is its only drop (the function's contract).
                unsafe { ManuallyDrop::drop(self.0) }
            }
        }
        let unmoved = Unmoved(value);
        Self::allocate(move |slot| {
            // SAFETY: the slot is free, sized and aligned for `T`, and ours; the value is
            // initialised and now moved (not dropped: `forget`).
            unsafe { move_in(&**unmoved.0, slot) };
            std::mem::forget(unmoved);
        })
    }

    /// A new object whose value `init` writes into the slot; returns its handle.
    #[inline(always)]
    fn allocate(init: impl FnOnce(*mut T)) -> Gc<T> {
        // The operation as a guard rather than `with_op`'s closure, so that the value is
        // not copied through the closure's captures on its way into the slot (`OpScope`).
        let addr = match gc::OpScope::enter() {
            Some(scope) => {
                let addr = Self::place(&mut scope.op(), init);
                scope.finish();
                addr
            }
            None => gc::with_op(|op| Self::place(op, init)),
        };
        // SAFETY: `mallocgc` gave the object at `addr` its first root count, now ours.
        unsafe { Gc::from_rooted_ptr(addr as *mut T) }
    }

    /// Moves the value `init` writes into a new object; returns its address, holding one
    /// root count.
    #[inline(always)]
    fn place(op: &mut gc::Op<'_>, init: impl FnOnce(*mut T)) -> usize {
        // SAFETY: the request is `T`'s, computed at compile time (one of four constant
        // candidates, chosen by constant-folded answers), and `init` writes a whole `T`.
        let new = unsafe { gc::mallocgc(op, Layout::<T>::request(), |addr| init(addr as *mut T)) };
        if T::needs_trace() {
            // A large cell inside stays rooted (`crate::gc::move_in`).
            let move_in = may_hold_large_cell::<T>().then(gc::MoveIn::begin);
            // SAFETY: the value now lives in the heap object at `addr`, which is rooted
            // by the handle we are about to return, so its handles become edges of it.
            gc::unroot_new(new.white, || unsafe { (*(new.addr as *mut T)).unroot() });
            if let Some(move_in) = move_in {
                move_in.end();
            }
        }
        new.addr
    }
}

/// Whether a `T` may hold a `GcCell` with [`LARGE_HANDLES`](super::cell::LARGE_HANDLES)
/// handles or more, which `Gc::new` leaves rooted (`crate::gc::move_in`). Not if its
/// garbage drops as a no-op (then every handle in it is inline: no buffer) and it is
/// smaller than that many handles. A constant expression: `Gc::new` of a GCBench node or
/// a binary tree pays nothing for the question.
#[inline(always)]
fn may_hold_large_cell<T: Trace>() -> bool {
    !(T::garbage_drop_is_noop_at(0)
        && std::mem::size_of::<T>() < super::cell::LARGE_HANDLES * std::mem::size_of::<usize>())
}

/// Copies a `T` from `src` to `dst`: a `T` of at most 64 bytes, aligned to 8, in 8-byte
/// words, each with its own load (volatile, so that the compiler does not merge them).
///
/// Why: the caller has just stored the value's fields, 8 bytes or fewer at a time, and a
/// wider load that spans two of those stores cannot take its data from the store buffer:
/// it waits until they reach the cache, behind every older store, such as the previous
/// object's, to a slot that is often not in the cache. `memcpy`'s 16-byte loads did that in
/// every `Gc::new` of a `GcCell` node (GCBench: a quarter of `Gc::new`'s samples on its
/// first load; BENCHMARKS.md, twenty-second session). Word loads of word stores forward.
///
/// # Safety
///
/// `src` points to an initialised `T`, `dst` to memory valid for writing one, not
/// overlapping.
#[inline(always)]
unsafe fn move_in<T>(src: *const T, dst: *mut T) {
    const WORD: usize = std::mem::size_of::<u64>();
    if std::mem::align_of::<T>() >= WORD && std::mem::size_of::<T>() <= 8 * WORD {
        let (s, d) = (
            src.cast::<MaybeUninit<u64>>(),
            dst.cast::<MaybeUninit<u64>>(),
        );
        for i in 0..std::mem::size_of::<T>() / WORD {
            // SAFETY: word `i` lies inside both `T`s (the size is a multiple of the
            // alignment, at least 8) and is aligned; `MaybeUninit` carries padding bytes.
            unsafe { d.add(i).write(s.add(i).read_volatile()) };
        }
    } else {
        // SAFETY: the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src, dst, 1) };
    }
}

impl<T: ?Sized + 'static> Gc<T> {
    #[inline(always)]
    fn addr(&self) -> usize {
        self.ptr.as_ptr().cast::<u8>() as usize & !ROOTED
    }

    /// Tests only: whether this handle is a counted root (its own flag).
    #[cfg(all(test, not(gc_loom)))]
    pub(crate) fn is_rooted_for_test(&self) -> bool {
        self.is_rooted()
    }

    #[inline(always)]
    fn is_rooted(&self) -> bool {
        self.ptr.as_ptr().cast::<u8>() as usize & ROOTED != 0
    }

    #[inline(always)]
    fn set_rooted(&mut self, rooted: bool) {
        let p = self
            .ptr
            .as_ptr()
            .map_addr(|a| if rooted { a | ROOTED } else { a & !ROOTED });
        // SAFETY: only bit 63 changed; the address stays non-null.
        self.ptr = unsafe { NonNull::new_unchecked(p) };
    }

    /// Gives up this handle's root count to the caller: returns the object's address, and
    /// the count the handle held (if it was rooted) is now the caller's to release.
    #[inline]
    pub(crate) fn into_counted_addr(this: Gc<T>) -> usize {
        debug_assert!(
            this.is_rooted(),
            "only rooted handles leave the heap by value"
        );
        let a = this.addr();
        std::mem::forget(this);
        a
    }

    /// A rooted handle to the object at `p` (the root-bit clear), taking over a root count
    /// the caller holds on it.
    ///
    /// # Safety
    ///
    /// `p` points at a live object of type `T` in the heap (for a slice: its elements), and
    /// the caller owns one root count on it.
    #[inline(always)]
    pub(super) unsafe fn from_rooted_ptr(p: *mut T) -> Gc<T> {
        // SAFETY: heap addresses are non-null; setting bit 63 keeps them so.
        Gc {
            ptr: unsafe { NonNull::new_unchecked(p.map_addr(|a| a | ROOTED)) },
            _owns: PhantomData,
        }
    }

    /// Gives up a rooted handle: returns its pointer (root bit clear); the root count it
    /// held is now the caller's to hand to `from_rooted_ptr`.
    #[inline(always)]
    pub(super) fn into_rooted_ptr(this: Gc<T>) -> *mut T {
        debug_assert!(this.is_rooted());
        let p = Gc::as_ptr(&this).cast_mut();
        std::mem::forget(this);
        p
    }

    /// Whether two handles point at the same object.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::Gc;
    ///
    /// let a = Gc::new(5);
    /// assert!(Gc::ptr_eq(&a, &a.clone()));
    /// assert!(!Gc::ptr_eq(&a, &Gc::new(5))); // equal values, different objects
    /// ```
    #[inline]
    pub fn ptr_eq(this: &Gc<T>, other: &Gc<T>) -> bool {
        this.addr() == other.addr()
    }

    /// The object's address (stable: the collector never moves objects).
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::Gc;
    ///
    /// let g = Gc::new([1u8, 2, 3]);
    /// let p: *const [u8; 3] = Gc::as_ptr(&g);
    /// assert_eq!(p, Gc::as_ptr(&g.clone())); // every handle to the object gives the same address
    /// // SAFETY: the object is alive while `g` is.
    /// assert_eq!(unsafe { (*p)[2] }, 3);
    /// ```
    #[inline]
    pub fn as_ptr(this: &Gc<T>) -> *const T {
        this.ptr.as_ptr().map_addr(|a| a & !ROOTED)
    }
}

impl<T: 'static> Gc<T> {
    /// A rooted handle that takes over a root count already held on the object at `addr`.
    ///
    /// # Safety
    ///
    /// `addr` is a live `T` in the heap, and the caller owns one root count on it.
    #[inline]
    pub(crate) unsafe fn from_counted_addr(addr: usize) -> Gc<T> {
        // SAFETY: per the caller's contract.
        unsafe { Gc::from_rooted_ptr(addr as *mut T) }
    }
}

impl<T: ?Sized + 'static> Deref for Gc<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        // SAFETY: the object is alive: a rooted handle keeps it alive by its count; an
        // unrooted handle is only reachable through a live object that holds it as an edge.
        unsafe { &*Gc::as_ptr(self) }
    }
}

impl<T: ?Sized + 'static> Clone for Gc<T> {
    /// A new rooted handle (one more count on the object's root counter).
    #[inline]
    fn clone(&self) -> Gc<T> {
        gc::add_root(self.addr());
        let mut g = Gc {
            ptr: self.ptr,
            _owns: PhantomData,
        };
        g.set_rooted(true);
        g
    }
}

impl<T: ?Sized + 'static> Drop for Gc<T> {
    #[inline]
    fn drop(&mut self) {
        if self.is_rooted() {
            gc::drop_root(self.addr());
        }
    }
}

// SAFETY: tracing reports the handle itself; root/unroot flip only this handle's state and
// adjust its object's counter, root_key/unroot_key only the counter (obligations 1, 2, 7).
// A `Gc` is never mutated behind `&self`.
unsafe impl<T: ?Sized + 'static> Trace for Gc<T> {
    #[inline(always)]
    fn needs_trace() -> bool {
        true
    }
    /// Dropping a handle only uncounts a root (obligation 6).
    #[inline(always)]
    fn drop_runs_user_code() -> bool {
        false
    }

    /// A handle in garbage is an edge (or a key whose flag `forget_edges` would clear): its
    /// drop touches nothing.
    #[inline(always)]
    fn garbage_drop_is_noop_at(_: u32) -> bool {
        true
    }

    // Always inlined, as `Tracer::edge` is: an object's trace marks its edges in place.
    #[inline(always)]
    fn trace(&self, tracer: &mut Tracer) {
        tracer.edge(self.addr());
    }

    #[inline]
    unsafe fn root(&mut self) {
        #[cfg(test)]
        tests::VISITS.with(|v| v.set(v.get() + 1));
        if !self.is_rooted() {
            gc::add_root(self.addr());
            self.set_rooted(true);
            ROOTED_HANDLES.with(|n| n.set(n.get().wrapping_add(1)));
        }
    }

    #[inline(always)]
    fn roots_in_runs_at(_: u32) -> bool {
        true
    }

    #[inline(always)]
    unsafe fn root_into(&mut self, run: &mut RootRun<'_>) {
        #[cfg(test)]
        tests::VISITS.with(|v| v.set(v.get() + 1));
        if !self.is_rooted() {
            run.add(self.addr());
            self.set_rooted(true);
        }
    }

    #[inline(always)]
    unsafe fn unroot(&mut self) {
        #[cfg(test)]
        tests::VISITS.with(|v| v.set(v.get() + 1));
        if self.is_rooted() {
            gc::root_to_edge(self.addr());
            self.set_rooted(false);
        }
    }

    #[inline(always)]
    unsafe fn unroot_into(&mut self, run: &mut RootRun<'_>) {
        #[cfg(test)]
        tests::VISITS.with(|v| v.set(v.get() + 1));
        if self.is_rooted() {
            run.remove(self.addr());
            self.set_rooted(false);
        }
    }

    /// A key handle (map key, set element): its flag stays set, only the count moves with
    /// its map ("Keys" in the `Trace` docs). The map calls this and `unroot_key` in turn,
    /// starting from a rooted map, so the count is given up before it is taken back.
    #[inline]
    unsafe fn root_key(&self) {
        debug_assert!(self.is_rooted(), "a key handle lost its flag");
        gc::add_root(self.addr());
    }

    #[inline]
    unsafe fn unroot_key(&self) {
        debug_assert!(self.is_rooted(), "a key handle lost its flag");
        gc::root_to_edge(self.addr());
    }

    /// In a garbage value, a flagged handle is a key that holds no count: clear the flag so
    /// that dropping it does not touch its (maybe freed) object. Edge handles have it clear
    /// already.
    #[inline]
    unsafe fn forget_edges(&mut self) {
        self.set_rooted(false);
    }
}

impl<T: ?Sized + fmt::Debug + 'static> fmt::Debug for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display + 'static> fmt::Display for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

impl<T: ?Sized + 'static> fmt::Pointer for Gc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Pointer::fmt(&Gc::as_ptr(self), f)
    }
}

impl<T: ?Sized + PartialEq + 'static> PartialEq for Gc<T> {
    /// Compares the values, like `Arc`; use [`Gc::ptr_eq`] for identity.
    fn eq(&self, other: &Gc<T>) -> bool {
        **self == **other
    }
}

impl<T: ?Sized + Eq + 'static> Eq for Gc<T> {}

impl<T: ?Sized + PartialOrd + 'static> PartialOrd for Gc<T> {
    fn partial_cmp(&self, other: &Gc<T>) -> Option<std::cmp::Ordering> {
        (**self).partial_cmp(&**other)
    }
}

impl<T: ?Sized + Ord + 'static> Ord for Gc<T> {
    fn cmp(&self, other: &Gc<T>) -> std::cmp::Ordering {
        (**self).cmp(&**other)
    }
}

impl<T: ?Sized + std::hash::Hash + 'static> std::hash::Hash for Gc<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        (**self).hash(state)
    }
}

impl<T: ?Sized + 'static> AsRef<T> for Gc<T> {
    fn as_ref(&self) -> &T {
        self
    }
}

impl<T: ?Sized + 'static> std::borrow::Borrow<T> for Gc<T> {
    fn borrow(&self) -> &T {
        self
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::{Gc, GcCell};
    use std::cell::Cell;

    crate::sync::thread_local! {
        /// Handles visited by `root`/`unroot` walks on this thread.
        pub(super) static VISITS: Cell<u64> = const { Cell::new(0) };
    }

    /// Handles visited by `root`/`unroot` walks on this thread so far.
    pub(crate) fn visits() -> u64 {
        VISITS.with(|v| v.get())
    }

    /// A list made edges in chunks (`Trace::unroot_chunk`, for the unroot pass's large
    /// lists): each chunk makes the next `CHUNK_EDGES` elements edges, across a
    /// `VecDeque`'s two slices too, and the handles past it keep their root flags (a list
    /// left part rooted is consistent: rooting it again roots only the edges). Elements
    /// that do not root in runs (a list of cells) are made edges whole.
    #[test]
    #[cfg(not(gc_loom))]
    fn a_list_is_made_edges_in_chunks() {
        use crate::Trace;
        use std::collections::VecDeque;
        let c = crate::gc::CHUNK_EDGES as usize;
        let rooted = |l: &VecDeque<Gc<u64>>| l.iter().map(|g| g.is_rooted()).collect::<Vec<_>>();
        let mut list: VecDeque<Gc<u64>> = (0..10_000).map(Gc::new).collect();
        list.rotate_left(3_000);
        assert_eq!(list.as_slices().0.len(), 7_000, "two slices");
        // Rooted clones keep the objects alive while the list's handles are edges.
        let keep: Vec<Gc<u64>> = list.iter().cloned().collect();
        assert!(<VecDeque<Gc<u64>> as Trace>::unroots_in_chunks());
        let mut resumes = Vec::new();
        let mut from = 0;
        // SAFETY: test: the objects stay alive through `keep`, and every handle is rooted
        // again below before the list is dropped.
        while let Some(next) = unsafe { list.unroot_chunk(from) } {
            resumes.push(next);
            let flags = rooted(&list);
            assert!(flags[..next].iter().all(|r| !r) && flags[next..].iter().all(|r| *r));
            from = next;
        }
        assert_eq!(resumes, [c, 2 * c]);
        assert!(rooted(&list).iter().all(|r| !r));
        // Part rooted again, then rooted: every handle a root once more.
        // SAFETY: as above.
        unsafe { list.root() };
        assert!(rooted(&list).iter().all(|r| *r));
        assert!(list
            .iter()
            .zip(0..)
            .all(|(g, i)| **g == (i + 3_000) % 10_000));
        drop(keep);
        // A list of cells is made edges whole.
        assert!(!<Vec<GcCell<u64>> as Trace>::unroots_in_chunks());
    }

    /// Writing N handles into one cell, one `borrow_mut` each, visits O(N) handles in
    /// total (rust-gc re-rooted the whole contents on every write: N^2/2).
    #[test]
    fn writing_n_handles_into_one_cell_is_linear() {
        for n in [1_000u64, 4_000, 16_000] {
            // Sweep the previous round's cell first: its contents would be unrooted by the
            // next collection on this thread and counted here.
            crate::collect();
            let cell: Gc<GcCell<Vec<Gc<u64>>>> = Gc::new(GcCell::new(Vec::new()));
            let cycles_before = crate::mem_stats().num_gc;
            let start = visits();
            for i in 0..n {
                let v = Gc::new(i);
                cell.borrow_mut().push(v);
            }
            let writes = visits() - start;
            // The first borrow_mut roots the (empty) contents; later ones are O(1), except
            // the first after each cycle that runs meanwhile (other tests allocate too),
            // which roots the contents unrooted by that cycle once: at most n per cycle,
            // where re-rooting on every write would visit n^2/2. A cycle's unroot pass runs
            // at its start, so one that had started before `cycles_before` and one still
            // running at the end are not in `num_gc`'s difference: two more are allowed.
            let cycles = u64::from(crate::mem_stats().num_gc - cycles_before) + 2;
            assert!(
                writes <= 1 + cycles * n,
                "n={n}: {writes} handle visits for {n} writes, {cycles} cycles at most"
            );
            // A collection unroots the cell's contents once (n handles), and the next
            // write roots them once more: O(contents) per cycle, not per write.
            crate::collect();
            cell.borrow_mut().push(Gc::new(0));
            let after = visits() - start;
            let cycles = u64::from(crate::mem_stats().num_gc - cycles_before) + 2;
            assert!(
                after <= 2 * n + 2 + cycles * (n + 1),
                "n={n}: {after} visits"
            );
            assert_eq!(cell.borrow().len() as u64, n + 1);
            assert_eq!(*cell.borrow()[n as usize - 1], n - 1);
        }
    }
}
