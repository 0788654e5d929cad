//! `AtomicGc<T>`: a lock-free, nullable `Gc` field (Go's pointer slot with a write
//! barrier), for graphs whose edges change without a `GcCell` lock.
//!
//! The slot is one word: the object's address, or 0 for `None`, plus bit 63 (`ROOTED`, as
//! in `Gc`) saying whether the slot holds a root count on its object (*rooted mode*: the
//! slot is outside the heap, or was taken out of it) or is a plain heap edge (*edge mode*:
//! the slot is inside a heap object). The mode changes only through `&mut self` (`Trace`'s
//! `root`/`unroot`, when the slot enters or leaves the heap), so every concurrent operation
//! on `&self` sees the same mode and keeps it.
//!
//! Barrier (invariant I2): in edge mode a store roots the old value (which leaves the heap)
//! and turns the new one into an edge; while marking, both steps shade (`gc::add_root`,
//! `gc::root_to_edge`), which is Go's hybrid barrier. Every operation that reads the word
//! and then touches a root count runs inside a GC operation (`gc::with_op`), so no cycle
//! boundary falls between the two (invariant I3): a value read from the slot was reachable at
//! the read, hence is marked or shaded in any cycle that could free it.
//!
//! `store` in edge mode reads the old value and then writes the new one with a plain store,
//! not a swap (a locked instruction waits for every earlier store to reach the cache). Two
//! racing stores may then both read the same old value, and the value the first one wrote
//! is overwritten without the second shading it. That is safe: no count moves with an
//! edge-mode old value (the root that `barrier` gives it is dropped at once), and every
//! value a slot holds during a mark is shaded by the store that put it there. In rooted
//! mode the slot's count on the old value must be dropped exactly once, so `store` swaps;
//! `swap` and `compare_exchange` return the old value and always read-modify-write. Loom
//! model: `loom_models/atomic.rs`. See the collector overview (`crate::design::collector`).

use crate::gc::{self, Tracer};
use crate::sync::{AtomicUsize, Ordering};
use crate::{Gc, Trace};
use std::fmt;
use std::marker::PhantomData;

/// Set in the word while the slot holds a root count (same bit as in `Gc`).
const ROOTED: usize = 1 << 63;

/// An atomic, nullable `Gc<T>` field: `load`, `store`, `swap` and `compare_exchange` from
/// any number of threads without a lock.
///
/// Inside a heap object it is a traced edge, and every store goes through the collector's
/// write barrier, so it is safe to mutate while the collector marks concurrently.
///
/// ```
/// use gc_core::{AtomicGc, Gc, Trace};
///
/// #[derive(Trace)]
/// struct Node { next: AtomicGc<Node>, value: u64 }
///
/// let a = Gc::new(Node { next: AtomicGc::new(None), value: 1 });
/// let b = Gc::new(Node { next: AtomicGc::new(Some(a.clone())), value: 2 });
/// a.next.store(Some(b.clone())); // a cycle, built without a lock
/// assert_eq!(a.next.load().unwrap().value, 2);
/// let old = b.next.swap(None);
/// assert!(Gc::ptr_eq(&old.unwrap(), &a));
/// ```
pub struct AtomicGc<T: 'static> {
    word: AtomicUsize,
    _holds: PhantomData<Gc<T>>,
}

/// Returned by [`AtomicGc::compare_exchange`] when the slot did not hold the expected value.
///
/// # Examples
///
/// ```
/// use gc_core::{AtomicGc, Gc};
///
/// let slot = AtomicGc::new(Some(Gc::new(1)));
/// let stale = Gc::new(2);
/// let err = slot.compare_exchange(Some(&stale), Some(Gc::new(3))).unwrap_err();
/// assert_eq!(err.current.as_deref(), Some(&1)); // what the slot held
/// assert_eq!(err.new.as_deref(), Some(&3)); // given back
/// ```
pub struct CompareExchangeError<T: 'static> {
    /// What the slot held.
    pub current: Option<Gc<T>>,
    /// The value that was not stored, given back.
    pub new: Option<Gc<T>>,
}

impl<T: 'static> fmt::Debug for CompareExchangeError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompareExchangeError")
            .field("current", &self.current.as_ref().map(Gc::as_ptr))
            .field("new", &self.new.as_ref().map(Gc::as_ptr))
            .finish()
    }
}

// SAFETY: the slot hands out `Gc<T>` handles to any thread, like a `Mutex<Option<Gc<T>>>`.
unsafe impl<T: Send + Sync> Send for AtomicGc<T> {}
// SAFETY: as above; the word is atomic.
unsafe impl<T: Send + Sync> Sync for AtomicGc<T> {}

fn addr_of<T>(v: Option<Gc<T>>) -> usize {
    v.map_or(0, Gc::into_counted_addr)
}

fn addr_ref<T>(v: Option<&Gc<T>>) -> usize {
    v.map_or(0, |g| Gc::as_ptr(g) as usize)
}

impl<T: 'static> AtomicGc<T> {
    /// A slot holding `value`. It is rooted until it is moved into the heap.
    ///
    /// # Examples
    ///
    /// ```
    /// let empty: gc_core::AtomicGc<u64> = gc_core::AtomicGc::new(None);
    /// assert!(empty.is_none());
    /// let full = gc_core::AtomicGc::new(Some(gc_core::Gc::new(5u64)));
    /// assert_eq!(full.load().as_deref(), Some(&5));
    /// ```
    pub fn new(value: Option<Gc<T>>) -> AtomicGc<T> {
        AtomicGc {
            word: AtomicUsize::new(addr_of(value) | ROOTED),
            _holds: PhantomData,
        }
    }

    /// A new rooted handle to the value, from an address read out of the slot.
    ///
    /// # Safety
    ///
    /// Called inside a GC operation that read `addr` from the slot (module header, I3).
    unsafe fn root_read(addr: usize) -> Option<Gc<T>> {
        if addr == 0 {
            return None;
        }
        gc::add_root(addr);
        // SAFETY: the count was just taken; the object is live (module header).
        Some(unsafe { Gc::from_counted_addr(addr) })
    }

    /// The current value (a new rooted handle).
    ///
    /// # Examples
    ///
    /// ```
    /// let slot = gc_core::AtomicGc::new(Some(gc_core::Gc::new("config v1")));
    /// let current = slot.load().unwrap(); // a rooted handle, usable after the slot changes
    /// slot.store(None);
    /// assert_eq!(*current, "config v1");
    /// ```
    pub fn load(&self) -> Option<Gc<T>> {
        gc::with_op(|_| {
            // Acquire pairs with the Release half of the `swap` or `compare_exchange` that
            // stored `w`: we see the object as its storer did.
            let w = self.word.load(Ordering::Acquire);
            // SAFETY: inside the operation that read `w`.
            unsafe { Self::root_read(w & !ROOTED) }
        })
    }

    /// Whether the slot is empty (no count taken, no GC operation).
    ///
    /// # Examples
    ///
    /// ```
    /// let slot = gc_core::AtomicGc::<u8>::default();
    /// assert!(slot.is_none());
    /// slot.store(Some(gc_core::Gc::new(1)));
    /// assert!(!slot.is_none());
    /// ```
    pub fn is_none(&self) -> bool {
        // Acquire pairs with the Release half of `swap`/`compare_exchange`, as in `load`: the
        // runtime reads nothing through it, but users get the guarantee `load` gives.
        self.word.load(Ordering::Acquire) & !ROOTED == 0
    }

    /// Stores `value`, dropping the old one.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{AtomicGc, Gc};
    ///
    /// let slot = AtomicGc::new(None);
    /// let writers: Vec<_> = (0..2)
    ///     .map(|_| std::thread::spawn(|| Gc::new(7u32)))
    ///     .map(|t| t.join().unwrap())
    ///     .collect();
    /// for w in writers {
    ///     slot.store(Some(w));
    /// }
    /// assert_eq!(slot.load().as_deref(), Some(&7));
    /// ```
    pub fn store(&self, value: Option<Gc<T>>) {
        let new = addr_of(value);
        let old = gc::with_op(|_| {
            // Acquire, as in `swap`: the object read is seen initialised (the barrier
            // roots, so may shade, it).
            let w = self.word.load(Ordering::Acquire);
            if w & ROOTED != 0 {
                // Rooted mode: the slot's count on the old value is dropped once, by
                // whichever store swaps it out.
                let old = self.word.swap(new | ROOTED, Ordering::AcqRel) & !ROOTED;
                // SAFETY: inside the operation that swapped the word.
                return unsafe { self.barrier(ROOTED, old, new) };
            }
            // Edge mode: a plain store (module header). Release pairs with the Acquire
            // reads of the word, as `swap`'s does.
            self.word.store(new, Ordering::Release);
            // SAFETY: inside the operation that read `w` and stored `new`; `w` was in the
            // slot at the read, so its object is alive for this operation (module header).
            unsafe { self.barrier(0, w, new) }
        });
        drop(old);
    }

    /// Stores `value` and returns the old one.
    ///
    /// # Examples
    ///
    /// ```
    /// let slot = gc_core::AtomicGc::new(Some(gc_core::Gc::new(1)));
    /// let old = slot.swap(Some(gc_core::Gc::new(2)));
    /// assert_eq!((old.as_deref(), slot.load().as_deref()), (Some(&1), Some(&2)));
    /// ```
    pub fn swap(&self, value: Option<Gc<T>>) -> Option<Gc<T>> {
        let new = addr_of(value);
        gc::with_op(|_| {
            let mode = self.word.load(Ordering::Relaxed) & ROOTED;
            // AcqRel: the Release half pairs with the Acquire reads of the word (`load`,
            // `trace`, `compare_exchange`, the next `swap`): they see the new object as we
            // do. The Acquire half pairs with the Release half of the store that put `old`
            // there: the handle we return is to an object we see whole.
            let old = self.word.swap(new | mode, Ordering::AcqRel) & !ROOTED;
            // SAFETY: inside the operation that read `old`; the counts move as the module
            // header describes.
            unsafe { self.barrier(mode, old, new) }
        })
    }

    /// Stores `new` if the slot holds `current` (compared by identity, `None` matches an
    /// empty slot). On success returns the old value (the same object as `current`); on
    /// failure returns what the slot held and gives `new` back.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::{AtomicGc, Gc};
    ///
    /// let first = Gc::new(1);
    /// let slot = AtomicGc::new(Some(first.clone()));
    /// let old = slot.compare_exchange(Some(&first), Some(Gc::new(2))).ok().unwrap();
    /// assert!(Gc::ptr_eq(old.as_ref().unwrap(), &first));
    /// assert!(slot.compare_exchange(Some(&first), None).is_err()); // no longer there
    /// ```
    pub fn compare_exchange(
        &self,
        current: Option<&Gc<T>>,
        new: Option<Gc<T>>,
    ) -> Result<Option<Gc<T>>, CompareExchangeError<T>> {
        let expected = addr_ref(current);
        let new_addr = new.as_ref().map_or(0, |g| Gc::as_ptr(g) as usize);
        gc::with_op(|_| {
            let mode = self.word.load(Ordering::Relaxed) & ROOTED;
            match self.word.compare_exchange(
                expected | mode,
                new_addr | mode,
                // As in `swap`: the Release half publishes `new` to later readers of the
                // word; on success or failure, what we read (`expected` or `actual`) was
                // published by the Release half of the operation that stored it.
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let new_addr = addr_of(new);
                    // SAFETY: as in `swap`.
                    Ok(unsafe { self.barrier(mode, expected, new_addr) })
                }
                Err(actual) => Err(CompareExchangeError {
                    // SAFETY: inside the operation that read `actual`.
                    current: unsafe { Self::root_read(actual & !ROOTED) },
                    new,
                }),
            }
        })
    }

    /// After `old` was replaced by `new` (whose count the caller gave up): in edge mode the
    /// old value leaves the heap (it gains a count) and the new one joins it (it loses its
    /// count); while marking both are shaded. Returns the old value as a rooted handle.
    ///
    /// # Safety
    ///
    /// Called inside the GC operation that swapped the word (or, in edge mode, read `old`
    /// from it and then stored `new`).
    unsafe fn barrier(&self, mode: usize, old: usize, new: usize) -> Option<Gc<T>> {
        if mode == 0 {
            if old != 0 {
                gc::add_root(old);
            }
            if new != 0 {
                gc::root_to_edge(new);
            }
        }
        // SAFETY: `old` is now counted, by the slot's count (rooted mode) or the one above.
        (old != 0).then(|| unsafe { Gc::from_counted_addr(old) })
    }

    /// The address the slot holds, without touching a count (loom models).
    #[cfg(all(test, gc_loom))]
    pub(crate) fn edge_for_model(&self) -> usize {
        self.word.load(Ordering::Acquire) & !ROOTED
    }

    /// Consumes the slot and returns its value.
    ///
    /// # Examples
    ///
    /// ```
    /// let slot = gc_core::AtomicGc::new(Some(gc_core::Gc::new(4)));
    /// assert_eq!(slot.into_inner().as_deref(), Some(&4));
    /// ```
    pub fn into_inner(mut self) -> Option<Gc<T>> {
        // SAFETY: by value, so not inside the heap: root the value if it is an edge.
        unsafe { self.root() };
        let w = self.word.load(Ordering::Relaxed);
        std::mem::forget(self);
        // SAFETY: the slot's count moves to the handle.
        (w & !ROOTED != 0).then(|| unsafe { Gc::from_counted_addr(w & !ROOTED) })
    }
}

impl<T: 'static> Default for AtomicGc<T> {
    fn default() -> Self {
        AtomicGc::new(None)
    }
}

impl<T: 'static> Drop for AtomicGc<T> {
    fn drop(&mut self) {
        // `&mut self`: no other access, so Relaxed (loom atomics have no `get_mut`).
        let w = self.word.load(Ordering::Relaxed);
        if w & ROOTED != 0 && w & !ROOTED != 0 {
            gc::drop_root(w & !ROOTED);
        }
    }
}

impl<T: fmt::Debug + 'static> fmt::Debug for AtomicGc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AtomicGc").field(&self.load()).finish()
    }
}

// SAFETY: obligation 1: `trace` reports the edge it holds (a rooted slot's value is counted,
// so the root scan or the rooting's shade covers it); obligation 2: `root`/`unroot` move the
// one handle between counted and edge through `&mut self`; obligation 3: the word changes
// behind `&self` only through the barrier above.
unsafe impl<T: 'static> Trace for AtomicGc<T> {
    #[inline(always)]
    fn needs_trace() -> bool {
        true
    }
    /// Dropping the slot only uncounts a rooted value (obligation 6).
    #[inline(always)]
    fn drop_runs_user_code() -> bool {
        false
    }
    /// A slot in garbage is in edge mode (a slot inside a heap object is, unless a `GcCell`
    /// around it rooted it, which makes its slot dirty): its drop touches nothing.
    #[inline(always)]
    fn garbage_drop_is_noop_at(_: u32) -> bool {
        true
    }

    #[inline]
    fn trace(&self, tracer: &mut Tracer) {
        // Acquire pairs with the Release half of the `swap`/`compare_exchange` that stored
        // `w`: the marker that scans the object sees it initialised.
        let w = self.word.load(Ordering::Acquire);
        if w & ROOTED == 0 && w != 0 {
            tracer.edge(w);
        }
    }

    #[inline]
    unsafe fn root(&mut self) {
        let w = self.word.load(Ordering::Relaxed);
        if w & ROOTED == 0 {
            if w != 0 {
                gc::add_root(w);
            }
            self.word.store(w | ROOTED, Ordering::Relaxed);
        }
    }

    // Inlined into the derived `unroot` of the object holding the slot: for an empty slot
    // (a new node's children) this is a load, a test and a store.
    #[inline(always)]
    unsafe fn unroot(&mut self) {
        let w = self.word.load(Ordering::Relaxed);
        if w & ROOTED != 0 {
            let a = w & !ROOTED;
            if a != 0 {
                gc::root_to_edge(a);
            }
            self.word.store(a, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Objects of 32 bytes: small, not tiny (tiny objects share their block's counter).
    type Obj = [u64; 4];

    fn count(g: &Gc<Obj>) -> u8 {
        crate::gc::flush_root_cache();
        let (s, i) = crate::alloc::span::locate(Gc::as_ptr(g) as usize);
        s.root_count(i).load(Ordering::SeqCst)
    }

    #[test]
    fn a_rooted_slot_holds_one_count() {
        let a = Gc::new([7u64; 4]);
        let slot = AtomicGc::new(Some(a.clone()));
        assert_eq!(count(&a), 2);
        let b = slot.load().unwrap();
        assert_eq!(count(&a), 3);
        drop(b);
        drop(slot);
        assert_eq!(count(&a), 1);
    }

    #[test]
    fn an_edge_slot_holds_no_count_and_stores_move_counts() {
        let a = Gc::new([1u64; 4]);
        let b = Gc::new([2u64; 4]);
        let mut slot = AtomicGc::new(Some(a.clone()));
        // SAFETY: pretend the slot moved into a heap object (what `Gc::new` does).
        unsafe { slot.unroot() };
        assert_eq!(count(&a), 1);
        let old = slot.swap(Some(b.clone())).unwrap();
        assert!(Gc::ptr_eq(&old, &a));
        assert_eq!((count(&a), count(&b)), (2, 1));
        let fail = slot.compare_exchange(Some(&a), None).unwrap_err();
        assert!(Gc::ptr_eq(fail.current.as_ref().unwrap(), &b));
        assert!(fail.new.is_none());
        drop(fail);
        let prev = slot.compare_exchange(Some(&b), Some(a.clone())).unwrap();
        assert!(Gc::ptr_eq(&prev.unwrap(), &b));
        assert_eq!((count(&a), count(&b)), (2, 1));
        // SAFETY: the slot leaves the heap again.
        unsafe { slot.root() };
        assert_eq!(count(&a), 3);
        let v = slot.into_inner().unwrap();
        assert!(Gc::ptr_eq(&v, &a));
        assert_eq!(count(&a), 3);
    }
}
