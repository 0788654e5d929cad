//! `Gc<[T]>` and `Gc<str>`: slices and strings in the collected heap, with the conversions
//! `Arc` offers, and zeroed byte buffers that skip the copy (and, for pages fresh from the
//! OS, the zeroing).
//!
//! Layout: a slice whose elements hold a `Gc` or need dropping starts with a `usize`
//! length header (the collector's trace and drop functions get only the object's address),
//! elements follow at `data_offset()`; a plain slice (no `Gc`, no drop glue: bytes, numbers)
//! is its elements alone and the collector never looks inside. A handle is a fat pointer to
//! the elements, so the object's address and its slot are found as for any handle (interior
//! addresses map to their slot). Every object has at least one byte past its header, so even an
//! empty slice's handle points inside its own slot.
//!
//! Filling: elements holding a `Gc` are moved in and unrooted inside the allocating GC
//! operation (a marker may scan the object as soon as the operation ends); untraced
//! elements are copied, cloned or zeroed after it, while the new handle's root keeps the
//! object alive and no marker reads it, so a 100 MiB buffer does not hold up the
//! collector's stop. See the collector overview (`crate::design::collector`).

use super::gc::Gc;
use super::typeinfo::{placement, TypeInfo, PLAIN};
use crate::alloc::PAGE_SIZE;
use crate::gc::{self, Request, Tracer};
use crate::Trace;
use std::marker::PhantomData;
use std::mem::{align_of, needs_drop, size_of};
use std::ops::Range;

/// The largest slice object: 128 TiB, the heap's address-space bound (Go's `maxAlloc` on
/// 64-bit Linux is 2^48). Larger requests are a bug in the caller, reported by a panic
/// rather than the fatal out-of-memory error a merely unsatisfiable request gets.
const MAX_SLICE_BYTES: usize = 1 << 47;

/// Compile-time facts about `[T]` objects.
struct SliceLayout<T>(PhantomData<T>);

impl<T: Trace> SliceLayout<T> {
    /// No `Gc` inside and no drop glue: no header, never traced or dropped. A constant
    /// expression (`Trace::needs_trace` is `#[inline(always)]`), folded in optimised builds.
    #[inline(always)]
    fn plain() -> bool {
        !T::needs_trace() && !needs_drop::<T>()
    }

    /// Offset of element 0 past the length header. Both alignments are powers of two, so the
    /// larger is a multiple of the smaller.
    const HEADER_OFFSET: usize = if align_of::<T>() > size_of::<usize>() {
        align_of::<T>()
    } else {
        size_of::<usize>()
    };

    /// Offset of element 0: past the length header when there is one.
    #[inline(always)]
    fn data_offset() -> usize {
        if Self::plain() {
            0
        } else {
            Self::HEADER_OFFSET
        }
    }

    /// Alignment of an object with a length header.
    const HEADER_ALIGN: usize = {
        let a = if align_of::<T>() > align_of::<usize>() {
            align_of::<T>()
        } else {
            align_of::<usize>()
        };
        assert!(
            a <= PAGE_SIZE,
            "gc_core: types aligned above 8 KiB are not supported"
        );
        a
    };

    /// Alignment of the object.
    #[inline(always)]
    fn align() -> usize {
        if Self::plain() {
            align_of::<T>()
        } else {
            Self::HEADER_ALIGN
        }
    }

    /// The descriptor for a given answer of `T::drop_runs_user_code`.
    const fn info_for(user_drop: bool) -> TypeInfo {
        TypeInfo {
            trace: trace_slice::<T>,
            trace_range: Some(trace_slice_range::<T>),
            drop: if needs_drop::<T>() {
                Some(drop_slice::<T>)
            } else {
                None
            },
            skip_clean_garbage: false,
            user_drop,
            name: std::any::type_name::<[T]>,
        }
    }
    const INFO_USER_DROP: TypeInfo = Self::info_for(true);
    const INFO_RUNTIME_DROP: TypeInfo = Self::info_for(false);
    const INFO_USER_DROP_REF: &'static TypeInfo = &Self::INFO_USER_DROP;
    const INFO_RUNTIME_DROP_REF: &'static TypeInfo = &Self::INFO_RUNTIME_DROP;

    fn info() -> &'static TypeInfo {
        if Self::plain() {
            &PLAIN
        } else if T::drop_runs_user_code() {
            Self::INFO_USER_DROP_REF
        } else {
            Self::INFO_RUNTIME_DROP_REF
        }
    }

    /// Object size for `len` elements, with at least one byte past the header so that the
    /// handle (which points past it) stays inside the object's slot even when there are no
    /// elements or they are zero-sized; panics past `MAX_SLICE_BYTES`.
    fn size(len: usize) -> usize {
        len.checked_mul(size_of::<T>())
            .and_then(|b| b.checked_add(Self::data_offset()))
            .filter(|&b| b <= MAX_SLICE_BYTES)
            .unwrap_or_else(|| {
                panic!(
                    "gc_core: a slice of {len} `{}` is too large (over {MAX_SLICE_BYTES} bytes)",
                    std::any::type_name::<T>()
                )
            })
            .max(Self::data_offset() + 1)
    }
}

/// # Safety
///
/// `p` is the address of a live, initialised `[T]` object with a length header.
unsafe fn trace_slice<T: Trace>(p: *const u8, t: &mut Tracer) {
    // SAFETY: forwarded; every element starts below `usize::MAX`.
    unsafe { trace_slice_range::<T>(p, 0, usize::MAX, t) }
}

/// The marker's oblet of a huge slice object (`gc/oblets.rs`): traces the elements that start
/// in the object's byte range `[from, to)`.
///
/// # Safety
///
/// `p` is the address of a live, initialised `[T]` object with a length header.
unsafe fn trace_slice_range<T: Trace>(p: *const u8, from: usize, to: usize, t: &mut Tracer) {
    let data_offset = SliceLayout::<T>::data_offset();
    // SAFETY: the collector calls this only for a slot whose descriptor was recorded for a
    // `[T]` object: the header holds its length and the elements follow, initialised.
    unsafe {
        let len = p.cast::<usize>().read();
        let data = p.add(data_offset).cast::<T>();
        for i in elems_starting_in(from..to, data_offset, size_of::<T>(), len) {
            (*data.add(i)).trace(t);
        }
    }
}

/// The indices of the elements that start in the byte range `bytes` of a slice object whose
/// `len` elements of `elem` bytes each start at byte `data`. Ranges that tile the object
/// give every element to exactly one of them: an element that straddles the end of one
/// belongs to the one it starts in (all of a zero-sized type's start at `data`).
fn elems_starting_in(bytes: Range<usize>, data: usize, elem: usize, len: usize) -> Range<usize> {
    let first_at_or_after = |b: usize| match elem {
        0 if b <= data => 0,
        0 => len,
        _ => b.saturating_sub(data).div_ceil(elem).min(len),
    };
    first_at_or_after(bytes.start)..first_at_or_after(bytes.end)
}

/// # Safety
///
/// `p` is the address of an initialised `[T]` object with a length header that nothing
/// will use again.
unsafe fn drop_slice<T: Trace>(p: *mut u8) {
    // SAFETY: the sweeper calls this once, on an unreachable `[T]` object (as above).
    unsafe {
        let len = p.cast::<usize>().read();
        let data = p.add(SliceLayout::<T>::data_offset()).cast::<T>();
        let elems = &mut *std::ptr::slice_from_raw_parts_mut(data, len);
        // The object is garbage: its key handles must not touch their counts when dropped
        // ("Keys" in the `Trace` docs).
        if T::holds_keys_at(0) {
            elems.forget_edges();
        }
        std::ptr::drop_in_place(elems);
    }
}

/// A new `[T]` object of `len` elements, rooted, with the header written.
struct NewSlice<T> {
    data: *mut T,
    len: usize,
    /// The memory may hold old bytes (always, but for large objects on fresh pages).
    needzero: bool,
    _t: PhantomData<T>,
}

impl<T: Trace> NewSlice<T> {
    /// Allocates the object; `fill(data)` runs inside the GC operation, after the header
    /// is written and before the object is published. Elements holding a `Gc` must be
    /// written by `fill`; they become edges of the object once it is published, still
    /// inside the operation.
    ///
    /// # Safety
    ///
    /// `fill` writes only `data[..len]`; if `T::needs_trace()` it initialises all of them.
    //
    // Always inlined: each instance has one caller (`fill`'s closure type is its call
    // site's), so nothing is duplicated, and whether the compiler inlined it otherwise
    // changed with the crate's code-generation partitioning (strings.lox: 0.5% of its
    // instructions, BENCHMARKS.md, thirtieth and thirty-second sessions).
    #[inline(always)]
    unsafe fn alloc(len: usize, fill: impl FnOnce(*mut T)) -> NewSlice<T> {
        let size = SliceLayout::<T>::size(len);
        let align = SliceLayout::<T>::align();
        let noscan = !T::needs_trace();
        let req = Request {
            placement: placement(size, align, SliceLayout::<T>::plain(), noscan),
            size,
            align,
            noscan,
            info: SliceLayout::<T>::info(),
        };
        let new = gc::with_op(|op| {
            // SAFETY: the placement was computed for this size, alignment and scan class;
            // traced elements are all written by `fill` (the caller's contract), and an
            // untraced object is neither scanned nor swept while our root holds it.
            let new = unsafe {
                gc::mallocgc(op, &req, |addr| {
                    // SAFETY: the slot is ours, at least `size` bytes, aligned to `align`.
                    if !SliceLayout::<T>::plain() {
                        (addr as *mut usize).write(len);
                    }
                    fill((addr + SliceLayout::<T>::data_offset()) as *mut T);
                })
            };
            if T::needs_trace() {
                let data = (new.addr + SliceLayout::<T>::data_offset()) as *mut T;
                // SAFETY: `fill` initialised every element (the contract), and they live in
                // the object our root holds, so their handles become its edges.
                gc::unroot_new(new.white, || unsafe {
                    for i in 0..len {
                        (*data.add(i)).unroot();
                    }
                });
            }
            new
        });
        let (addr, needzero) = (new.addr, new.needzero);
        NewSlice {
            data: (addr + SliceLayout::<T>::data_offset()) as *mut T,
            len,
            needzero,
            _t: PhantomData,
        }
    }

    /// Moves the elements of `v` into a new object, initialised and rooted.
    fn from_vec(mut v: Vec<T>) -> NewSlice<T> {
        let (src, len) = (v.as_ptr(), v.len());
        let traced = T::needs_trace();
        // SAFETY: traced elements are moved in and unrooted inside the operation: they now
        // live in the rooted object, so their handles become its edges.
        let new = unsafe {
            NewSlice::<T>::alloc(len, |data| {
                if traced {
                    std::ptr::copy_nonoverlapping(src, data, len);
                }
            })
        };
        if !traced {
            // SAFETY: `src` holds `len` initialised elements; the object has room for
            // them and no one else can reach it yet.
            unsafe { std::ptr::copy_nonoverlapping(src, new.data, len) };
        }
        // SAFETY: the elements moved into the heap: the vector must not drop them.
        unsafe { v.set_len(0) };
        new
    }
}

impl<T: Trace + Send + Sync + 'static> NewSlice<T> {
    /// The handle, taking over the root `alloc` published.
    ///
    /// # Safety
    ///
    /// The elements are initialised (or, for a plain `T`, the caller accepts whatever they
    /// hold as values of `T`).
    unsafe fn finish(self) -> Gc<[T]> {
        let p = std::ptr::slice_from_raw_parts_mut(self.data, self.len);
        // SAFETY: `alloc` published the object with one root count, ours.
        unsafe { Gc::from_rooted_ptr(p) }
    }
}

impl<T: Trace + Send + Sync + 'static> Gc<[T]> {
    /// Moves the elements of `v` into a new heap slice.
    fn from_vec(v: Vec<T>) -> Gc<[T]> {
        // SAFETY: every element is initialised.
        unsafe { NewSlice::from_vec(v).finish() }
    }
}

impl Gc<[u8]> {
    /// A zeroed byte buffer of `len` bytes in the collected heap, without a copy. A large
    /// buffer on pages fresh from the OS (or released to it) is not even written: it costs
    /// no resident memory until touched.
    ///
    /// ```
    /// let buf = gc_core::Gc::<[u8]>::new_zeroed_slice(1 << 20);
    /// assert!(buf.iter().all(|&b| b == 0));
    /// ```
    pub fn new_zeroed_slice(len: usize) -> Gc<[u8]> {
        Gc::new_zeroed_slice_with(len, |_| {})
    }

    /// A zeroed byte buffer of `len` bytes that `init` fills in place before it is shared
    /// (a `Gc` gives only shared access afterwards).
    ///
    /// ```
    /// let buf = gc_core::Gc::<[u8]>::new_zeroed_slice_with(4, |b| b.copy_from_slice(b"gc!\n"));
    /// assert_eq!(&*buf, b"gc!\n");
    /// ```
    pub fn new_zeroed_slice_with(len: usize, init: impl FnOnce(&mut [u8])) -> Gc<[u8]> {
        // SAFETY: `fill` writes nothing.
        let new = unsafe { NewSlice::<u8>::alloc(len, |_| {}) };
        let (data, needzero) = (new.data, new.needzero);
        // SAFETY: bytes are valid whatever they hold; we zero them next, before any read.
        let gc = unsafe { new.finish() };
        // SAFETY: `data[..len]` is the new object's, which only `gc` (not yet shared) can
        // reach; plain bytes are never read by the collector.
        let bytes = unsafe { std::slice::from_raw_parts_mut(data, len) };
        if needzero {
            bytes.fill(0);
        }
        init(bytes);
        gc
    }
}

impl<T: Trace + Send + Sync + 'static> From<Vec<T>> for Gc<[T]> {
    /// Moves the elements into the heap (one copy of their bytes, no clones).
    fn from(v: Vec<T>) -> Gc<[T]> {
        Gc::from_vec(v)
    }
}

impl<T: Trace + Clone + Send + Sync + 'static> From<&[T]> for Gc<[T]> {
    /// Clones the elements into the heap: plain elements straight into the new object,
    /// others through a temporary vector (a clone may run arbitrary code, which must not
    /// run inside the allocation).
    fn from(s: &[T]) -> Gc<[T]> {
        if !SliceLayout::<T>::plain() {
            return Gc::from_vec(s.to_vec());
        }
        // SAFETY: `fill` writes nothing.
        let new = unsafe { NewSlice::<T>::alloc(s.len(), |_| {}) };
        let data = new.data;
        // SAFETY: plain elements need no drop, so if a clone panics the handle drops with
        // the rest unwritten and nothing ever reads them.
        let gc = unsafe { new.finish() };
        for (i, x) in s.iter().enumerate() {
            // SAFETY: `i < len`; the object is reachable only through `gc`, not yet shared.
            unsafe { data.add(i).write(x.clone()) };
        }
        gc
    }
}

impl<T: Trace + Send + Sync + 'static> FromIterator<T> for Gc<[T]> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Gc<[T]> {
        Gc::from_vec(iter.into_iter().collect())
    }
}

/// `Trace::box_into_heap` for `[T]`: the elements move into a slice object (the usual
/// layout, with the length header) and the box's memory is freed. Returns the address of
/// element 0, rooted once.
pub(crate) fn box_slice_into_heap<T: Trace>(b: Box<[T]>) -> *mut u8 {
    NewSlice::from_vec(b.into_vec()).data.cast()
}

/// `Trace::box_into_heap` for `str`: the bytes are copied into a plain byte object and the
/// box is freed. Returns the address of the first byte, rooted once.
#[allow(clippy::boxed_local)] // the signature `Trace::box_into_heap` gives it
pub(crate) fn box_str_into_heap(b: Box<str>) -> *mut u8 {
    Gc::into_rooted_ptr(Gc::<str>::from(&*b)).cast()
}

impl From<&str> for Gc<str> {
    fn from(s: &str) -> Gc<str> {
        let bytes = Gc::<[u8]>::from(s.as_bytes());
        // SAFETY: the bytes are a copy of a `str`, so valid UTF-8; the root moves over.
        unsafe { Gc::from_rooted_ptr(Gc::into_rooted_ptr(bytes) as *mut str) }
    }
}

impl From<String> for Gc<str> {
    fn from(s: String) -> Gc<str> {
        Gc::from(s.as_str())
    }
}

impl<T: Trace + Send + Sync + 'static> Default for Gc<[T]> {
    /// An empty slice (a one-byte object of its own).
    fn default() -> Gc<[T]> {
        Gc::from_vec(Vec::new())
    }
}

impl Default for Gc<str> {
    fn default() -> Gc<str> {
        Gc::from("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GcCell;

    #[test]
    fn headers_only_where_the_collector_needs_the_length() {
        assert_eq!(SliceLayout::<u8>::data_offset(), 0);
        assert_eq!(SliceLayout::<u8>::align(), 1);
        assert_eq!(SliceLayout::<u64>::data_offset(), 0);
        assert_eq!(SliceLayout::<String>::data_offset(), 8);
        assert_eq!(SliceLayout::<Gc<u8>>::data_offset(), 8);
        assert_eq!(SliceLayout::<Gc<u8>>::align(), 8);
        assert_eq!(
            SliceLayout::<u8>::size(0),
            1,
            "an empty slice still has an address"
        );
        assert_eq!(SliceLayout::<String>::size(0), 9);
        assert_eq!(SliceLayout::<()>::size(5), 1);
        assert_eq!(SliceLayout::<String>::size(2), 8 + 2 * 24);
        assert!(std::ptr::eq(SliceLayout::<u32>::info(), &PLAIN));
        assert!(SliceLayout::<Gc<u8>>::info().drop.is_some());
        assert!(std::panic::catch_unwind(|| SliceLayout::<u64>::size(usize::MAX / 4)).is_err());
    }

    #[test]
    fn oblet_ranges_give_each_element_to_the_one_it_starts_in() {
        // (bytes, data offset, element size, len) -> indices.
        let table = [
            ((0..16, 8, 8, 10), 0..1),
            ((16..32, 8, 8, 10), 1..3),
            ((0..usize::MAX, 8, 8, 10), 0..10),
            ((0..8, 8, 8, 10), 0..0),
            ((9..17, 8, 8, 10), 1..2),
            // 24-byte elements from 8: starts 8, 32, 56, 80.
            ((0..32, 8, 24, 4), 0..1),
            ((32..57, 8, 24, 4), 1..3),
            ((57..1000, 8, 24, 4), 3..4),
            ((1000..2000, 8, 24, 4), 4..4),
            // Zero-sized elements all start at the data offset.
            ((0..9, 8, 0, 5), 0..5),
            ((9..100, 8, 0, 5), 5..5),
        ];
        for ((bytes, data, elem, len), want) in table {
            let got = elems_starting_in(bytes.clone(), data, elem, len);
            assert_eq!(got, want, "{bytes:?} data {data} elem {elem} len {len}");
        }
        // Oblets of every size tile a slice of every element size: each index once.
        for elem in [1, 7, 8, 24, 4096, 200_000] {
            for oblet in [8, 1000, 128 << 10] {
                let len = 3 * (128 << 10) / elem + 5;
                let size = 8 + len * elem;
                let mut next = 0;
                for from in (0..size).step_by(oblet) {
                    let r = elems_starting_in(from..from + oblet, 8, elem, len);
                    assert_eq!(r.start, next, "elem {elem} oblet {oblet} from {from}");
                    next = r.end;
                }
                assert_eq!(next, len, "elem {elem} oblet {oblet}");
            }
        }
    }

    #[test]
    fn traced_elements_stay_alive_through_the_slice() {
        let s: Gc<[Gc<GcCell<u64>>]> = (0..100).map(|i| Gc::new(GcCell::new(i))).collect();
        crate::collect();
        crate::collect();
        assert_eq!(s.len(), 100);
        for (i, x) in s.iter().enumerate() {
            assert_eq!(*x.borrow(), i as u64);
        }
        *s[7].borrow_mut() = 700;
        crate::collect();
        assert_eq!(*s[7].borrow(), 700);
    }
}
