//! Which type each object of a span has: the marker, the sweeper and the dropper look up an
//! object's `TypeInfo` by its slot.
//!
//! Three representations, from the cheapest:
//! - **one type** (`ONE`): the span never held two types at once (most spans);
//! - **compact**: a palette of up to [`PALETTE`] types and one byte per slot naming its
//!   entry, once a second type is allocated in the span (16-byte objects: 664 bytes per
//!   8 KiB page, against the 4 KiB a pointer per slot takes);
//! - **wide**: a pointer per slot, when a span meets more types than the palette holds.
//!
//! One word (`state`) says which representation is current and points at it, so a lookup
//! is one load in the common case. Each step up is taken by the span's owner while it
//! allocates, and is never undone while the span holds objects: a reader running
//! concurrently (a marker) finds an object's type in whichever representation it loads,
//! because that one was current when the object was allocated or became current after,
//! and an object's allocation happens-before every lookup of its type (`get`'s contract).
//! A compact table left behind by the step to a pointer per slot stays until `clear`
//! (readers may still be looking at it). The tables are freed by `clear` (the span is
//! empty: swept, or dropped), when no marker runs. Their bytes are counted in
//! [`table_bytes`] for the runtime's metadata figures.
//!
//! Shared state: `state` is an atomic written by the owner only (`set`, `clear`) and read
//! by anyone (`get`); the tables' entries are atomics too; `retired` is the owner's.
//! See the allocator overview (`crate::design::allocator`).

use crate::descriptor::TypeInfo;
use crate::sync::{AtomicPtr, AtomicU8, AtomicUsize, Ordering};

/// Types a compact table names before the span switches to a pointer per slot (three under
/// loom, so that a model of four types takes every step: one type, a palette, a palette
/// entry added, a pointer per slot).
pub(crate) const PALETTE: usize = if cfg!(gc_loom) { 3 } else { 16 };

crate::sync::global! {
    /// Bytes of every span's per-slot type tables (compact and wide).
    static TABLE_BYTES: AtomicUsize = AtomicUsize::new(0);
}

/// Bytes of all spans' per-slot type tables, for the runtime's metadata figures.
pub(crate) fn table_bytes() -> usize {
    TABLE_BYTES.load(Ordering::Relaxed)
}

/// A palette and a byte per slot.
struct Compact {
    /// Entries `[0, len)` are set, each before any slot names it.
    palette: [AtomicPtr<TypeInfo>; PALETTE],
    /// Entries in use (the owner's; an atomic only to be `Sync`).
    len: AtomicUsize,
    /// Per slot, its type's palette entry.
    index: Box<[AtomicU8]>,
}

impl Compact {
    fn bytes(nelems: usize) -> usize {
        std::mem::size_of::<Compact>() + nelems
    }
}

/// A span's slot types (module header).
pub(crate) struct SlotTypes {
    /// The current representation: a `TypeInfo` pointer (or null: no object yet) tagged
    /// `ONE`, a `Compact` tagged `COMPACT`, or the first of `nelems` `AtomicPtr<TypeInfo>`
    /// (a leaked boxed slice) tagged `WIDE`.
    state: AtomicUsize,
    /// The compact table the step to `WIDE` replaced (freed by `clear`); the owner's.
    retired: AtomicPtr<Compact>,
}

const ONE: usize = 0;
const COMPACT: usize = 1;
const WIDE: usize = 2;
const TAG: usize = 3;
// Every representation is at least 4-aligned, so its address leaves the tag bits clear.
const _: () = assert!(
    std::mem::align_of::<TypeInfo>() > TAG
        && std::mem::align_of::<Compact>() > TAG
        && std::mem::align_of::<AtomicPtr<TypeInfo>>() > TAG
);

fn raw(ty: &'static TypeInfo) -> *mut TypeInfo {
    ty as *const TypeInfo as *mut TypeInfo
}

impl SlotTypes {
    crate::sync::const_fn! {
        pub(crate) fn new() -> SlotTypes {
            SlotTypes {
                state: AtomicUsize::new(ONE),
                retired: AtomicPtr::new(std::ptr::null_mut()),
            }
        }
    }

    /// Records that slot `idx` (of `nelems`) holds a `ty`; `alloc_count` says how many of
    /// the span's slots are allocated, this one included (asked only when the span's one
    /// type changes).
    ///
    /// # Safety
    ///
    /// The caller owns the span (no other thread calls `set` or `clear`), and `idx` is
    /// below `nelems`, the span's slot count.
    #[inline(always)]
    pub(crate) unsafe fn set(
        &self,
        idx: usize,
        ty: &'static TypeInfo,
        nelems: usize,
        alloc_count: impl FnOnce() -> usize,
    ) {
        // Relaxed: the owner wrote the state itself.
        let state = self.state.load(Ordering::Relaxed);
        let ptr = state & !TAG;
        match state & TAG {
            ONE if ptr == raw(ty) as usize => {}
            ONE if ptr == 0 || alloc_count() == 1 => {
                // No other object in the span could be reading this type. Release pairs with
                // the Acquire load in `get`, but only the pointer passes: descriptors are
                // constants, and `get`'s callers happen after this allocation (its
                // contract). Relaxed would do.
                self.state.store(raw(ty) as usize | ONE, Ordering::Release);
            }
            ONE => self.make_compact(idx, ty, ptr as *mut TypeInfo, nelems),
            COMPACT => {
                // SAFETY: made by `Box::into_raw` in `make_compact`, freed only by `clear`,
                // which only the owner calls.
                unsafe { self.set_compact(&*(ptr as *const Compact), idx, ty, nelems) }
            }
            _ => {
                // Release as for `ONE` above (Relaxed would do).
                // SAFETY: `nelems` entries (`make_wide`), `idx` one of them (the contract),
                // freed only by `clear`.
                unsafe {
                    (*(ptr as *const AtomicPtr<TypeInfo>).add(idx))
                        .store(raw(ty), Ordering::Release)
                }
            }
        }
    }

    /// A second type in the span: from one type to a palette. Readers that still load the
    /// one type read `single`, right for every slot but `idx` (whose lookups happen after
    /// this allocation, so they load the palette).
    #[cold]
    fn make_compact(
        &self,
        idx: usize,
        ty: &'static TypeInfo,
        single: *mut TypeInfo,
        nelems: usize,
    ) {
        let palette = std::array::from_fn(|i| {
            AtomicPtr::new(match i {
                0 => single,
                1 => raw(ty),
                _ => std::ptr::null_mut(),
            })
        });
        let index = (0..nelems)
            .map(|i| AtomicU8::new(u8::from(i == idx)))
            .collect();
        let c = Box::new(Compact {
            palette,
            len: AtomicUsize::new(2),
            index,
        });
        TABLE_BYTES.fetch_add(Compact::bytes(nelems), Ordering::Relaxed);
        // Release pairs with the Acquire load in `get`: a reader that sees the table sees
        // its palette and indices initialised.
        self.state
            .store(Box::into_raw(c) as usize | COMPACT, Ordering::Release);
    }

    /// # Safety
    ///
    /// As `set`; `c` is this span's compact table.
    unsafe fn set_compact(&self, c: &Compact, idx: usize, ty: &'static TypeInfo, nelems: usize) {
        let len = c.len.load(Ordering::Relaxed);
        let found = (0..len).find(|&k| c.palette[k].load(Ordering::Relaxed) == raw(ty));
        let k = match found {
            Some(k) => k,
            None if len < PALETTE => {
                // The entry first, then the index naming it (Release, below).
                c.palette[len].store(raw(ty), Ordering::Relaxed);
                c.len.store(len + 1, Ordering::Relaxed);
                len
            }
            None => return self.make_wide(c, idx, ty, nelems),
        };
        // Release pairs with the Acquire load of the index in `get`: a reader that sees
        // this entry's number sees the palette entry written before it. `get`'s contract
        // (the allocation happens-before the lookup) already gives that: Relaxed would do.
        // The tables' pointers are what must be Release (`loom_models/slot_types.rs`).
        c.index[idx].store(k as u8, Ordering::Release);
    }

    /// More types than the palette holds: a pointer per slot from now on. The compact
    /// table stays (readers may be looking at it) until `clear`.
    #[cold]
    fn make_wide(&self, c: &Compact, idx: usize, ty: &'static TypeInfo, nelems: usize) {
        let t: Box<[AtomicPtr<TypeInfo>]> = (0..nelems)
            .map(|i| {
                AtomicPtr::new(if i == idx {
                    raw(ty)
                } else {
                    // The owner's own writes: Relaxed.
                    let k = c.index[i].load(Ordering::Relaxed) as usize;
                    c.palette[k].load(Ordering::Relaxed)
                })
            })
            .collect();
        TABLE_BYTES.fetch_add(
            nelems * std::mem::size_of::<AtomicPtr<TypeInfo>>(),
            Ordering::Relaxed,
        );
        self.retired
            .store(c as *const Compact as *mut Compact, Ordering::Relaxed);
        // Release pairs with the Acquire load in `get`: a reader that sees the table sees
        // its entries initialised.
        self.state.store(
            Box::into_raw(t) as *mut AtomicPtr<TypeInfo> as usize | WIDE,
            Ordering::Release,
        );
    }

    /// The type of the object in slot `idx`. Safe to call while the owner allocates other
    /// slots (concurrent marking).
    ///
    /// # Safety
    ///
    /// The slot holds an object whose allocation happened-before this call, and `idx` is
    /// below the span's slot count.
    #[inline]
    pub(crate) unsafe fn get(&self, idx: usize) -> &'static TypeInfo {
        // Acquire pairs with the Release stores of `state`: a table we see is initialised.
        let state = self.state.load(Ordering::Acquire);
        let t = if state & TAG == ONE {
            state as *const TypeInfo
        } else {
            // SAFETY: forwarded.
            unsafe { Self::get_in_table(state, idx) }
        };
        debug_assert!(!t.is_null());
        // SAFETY: type descriptors are statics.
        unsafe { &*t }
    }

    /// `get` for a span with a table, out of line so that the one-type case (the marker's
    /// per-object path) stays small.
    ///
    /// # Safety
    ///
    /// As `get`; `state` was loaded from `state` by it and names a table.
    #[cold]
    #[inline(never)]
    unsafe fn get_in_table(state: usize, idx: usize) -> *mut TypeInfo {
        let ptr = state & !TAG;
        if state & TAG == COMPACT {
            // SAFETY: freed only by `clear`, which runs with no reader.
            let c = unsafe { &*(ptr as *const Compact) };
            // Acquire pairs with the index's Release store in `set_compact`.
            let k = c.index[idx].load(Ordering::Acquire) as usize;
            c.palette[k].load(Ordering::Relaxed)
        } else {
            // Acquire pairs with the entry's Release store in `set` (only the pointer
            // passes; Relaxed would do).
            // SAFETY: `nelems` entries, `idx` one of them (the contract), freed only by
            // `clear`, which runs with no reader.
            unsafe { (*(ptr as *const AtomicPtr<TypeInfo>).add(idx)).load(Ordering::Acquire) }
        }
    }

    /// `uniform` for a span known to hold an object: the tag alone decides (the marker's
    /// per-object path).
    ///
    /// # Safety
    ///
    /// The span holds an object whose allocation happened-before this call (so a span of
    /// one type has its type recorded).
    #[inline(always)]
    pub(crate) unsafe fn one(&self) -> Option<&'static TypeInfo> {
        // Acquire as in `get`.
        let state = self.state.load(Ordering::Acquire);
        // SAFETY: tagged `ONE` with an object allocated: a descriptor, and those are
        // statics.
        (state & TAG == ONE).then(|| unsafe { &*(state as *const TypeInfo) })
    }

    /// The type of every object when the span holds one type (no table); `None` when its
    /// slots have types of their own, or it never held an object.
    #[inline(always)]
    pub(crate) fn uniform(&self) -> Option<&'static TypeInfo> {
        // Acquire as in `get`.
        let state = self.state.load(Ordering::Acquire);
        let ptr = (state & !TAG) as *const TypeInfo;
        // SAFETY: type descriptors are statics.
        (state & TAG == ONE && !ptr.is_null()).then(|| unsafe { &*ptr })
    }

    /// Whether the slots have types of their own (a table exists).
    #[cfg(all(test, not(gc_loom)))]
    fn has_table(&self) -> bool {
        self.state.load(Ordering::Acquire) & TAG != ONE
    }

    /// Forgets the types (the span holds no object any more) and frees the tables of a
    /// span of `nelems` slots. Called by the owner with no reader running (a sweep of an
    /// empty span, or the span's drop).
    pub(crate) fn clear(&self, nelems: usize) {
        let state = self.state.swap(ONE, Ordering::Relaxed);
        let ptr = state & !TAG;
        let mut compact = self.retired.swap(std::ptr::null_mut(), Ordering::Relaxed);
        match state & TAG {
            ONE => {}
            COMPACT => compact = ptr as *mut Compact,
            _ => {
                TABLE_BYTES.fetch_sub(
                    nelems * std::mem::size_of::<AtomicPtr<TypeInfo>>(),
                    Ordering::Relaxed,
                );
                let wide = ptr as *mut AtomicPtr<TypeInfo>;
                // SAFETY: made by `Box::into_raw` of a slice of `nelems` entries in
                // `make_wide`, and no reader runs.
                drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(wide, nelems)) });
            }
        }
        if !compact.is_null() {
            TABLE_BYTES.fetch_sub(Compact::bytes(nelems), Ordering::Relaxed);
            // SAFETY: made by `Box::into_raw` in `make_compact`, and no reader runs.
            drop(unsafe { Box::from_raw(compact) });
        }
    }
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::*;

    /// `PALETTE + 2` distinct descriptors.
    fn types() -> Vec<&'static TypeInfo> {
        (0..PALETTE + 2)
            .map(|_| &*Box::leak(Box::new(crate::descriptor::bucket(|| "t"))))
            .collect()
    }

    #[test]
    fn one_type_then_a_palette_then_a_pointer_per_slot() {
        let ts = types();
        let n = 64;
        let t = SlotTypes::new();
        // SAFETY: the test is the owner; every index is below `n`; each slot is set before
        // it is read.
        unsafe {
            t.set(0, ts[0], n, || 1);
            t.set(1, ts[0], n, || 2);
            assert!(std::ptr::eq(t.uniform().unwrap(), ts[0]));
            t.set(2, ts[1], n, || 3);
            assert!(t.has_table() && t.uniform().is_none());
            assert_eq!(t.state.load(Ordering::Relaxed) & TAG, COMPACT);
            // Fill the palette: slots 3.. get the third type onwards.
            for (k, ty) in ts.iter().enumerate().take(PALETTE).skip(2) {
                t.set(k + 1, ty, n, || k + 2);
            }
            assert_eq!(
                t.state.load(Ordering::Relaxed) & TAG,
                COMPACT,
                "full, not over"
            );
            assert!(std::ptr::eq(t.get(0), ts[0]) && std::ptr::eq(t.get(2), ts[1]));
            t.set(40, ts[PALETTE], n, || PALETTE + 2);
            assert_eq!(
                t.state.load(Ordering::Relaxed) & TAG,
                WIDE,
                "a seventeenth type"
            );
            t.set(41, ts[PALETTE + 1], n, || PALETTE + 3);
            t.set(42, ts[3], n, || PALETTE + 4);
            for (idx, want) in [
                (0, 0),
                (1, 0),
                (2, 1),
                (5, 4),
                (40, PALETTE),
                (41, PALETTE + 1),
                (42, 3),
            ] {
                assert!(std::ptr::eq(t.get(idx), ts[want]), "slot {idx}");
            }
            t.clear(n);
            assert!(t.uniform().is_none() && !t.has_table());
        }
    }

    #[test]
    fn a_slot_reused_for_another_type_reads_the_new_one() {
        let ts = types();
        let n = 8;
        let t = SlotTypes::new();
        // SAFETY: as above.
        unsafe {
            t.set(0, ts[0], n, || 1);
            t.set(1, ts[1], n, || 2);
            t.set(0, ts[2], n, || 2); // slot 0 freed and reused
            assert!(std::ptr::eq(t.get(0), ts[2]) && std::ptr::eq(t.get(1), ts[1]));
            t.clear(n);
        }
    }

    #[test]
    fn table_bytes_count_the_tables_while_they_live() {
        let ts = types();
        let n = 512;
        let t = SlotTypes::new();
        // Other tests' spans may come and go meanwhile: compare with what this table adds.
        // SAFETY: as above.
        unsafe {
            t.set(0, ts[0], n, || 1);
            t.set(1, ts[1], n, || 2);
        }
        let compact = Compact::bytes(n);
        // The palette, its length and the index's pointer, then a byte per slot.
        assert_eq!(compact, 16 * 8 + 8 + 16 + n);
        assert!(table_bytes() >= compact);
        t.clear(n);
    }
}
