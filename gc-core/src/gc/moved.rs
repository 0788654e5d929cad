//! Objects moved out of the heap to wait for their `Drop` (the dropper's `Job::Moved`): a
//! sweep that finds dead objects whose drop runs user code copies each out of its slot into
//! one buffer (a bitwise move: nothing can reach an unreachable object) and frees the slots
//! at once; a dropper runs the `Drop`s on the copies later (`dropper.rs`).
//!
//! One block per sweep holds both the objects (at `index * stride`, aligned as in their
//! slots) and their descriptors, and blocks are recycled: a dropper gives an emptied block
//! back to a small pool ([`SPARE`]) from which the next sweep takes one. Without the pool
//! every such sweep allocated on the sweeper's thread what a dropper freed (through the
//! mutators' deferred frees, `alloc/remote_free.rs`), and the C allocator's lock of the
//! sweeper's arena was fought over by the three threads.
//!
//! Shared state: the pool, under its mutex (held for a few instructions, never while
//! running user code). See the collector overview (`crate::design::collector`, "Drop").

use super::dropper::guarded;
use crate::descriptor::TypeInfo;
use crate::sync::Mutex;
use std::alloc::Layout;

/// Blocks kept for reuse; more are freed.
const SPARE_MAX: usize = 16;

/// Smallest block: a page of objects (a one-page span's worth) plus their descriptors.
const MIN_BLOCK: usize = 16 << 10;

crate::sync::global! {
    static SPARE: Spare = Spare::new();
}

/// Objects moved out of the heap by one sweep, waiting for their `Drop`.
pub(crate) struct Moved {
    buf: *mut u8,
    layout: Layout,
    /// Bytes between two objects (the slots' size).
    stride: usize,
    /// Objects moved in.
    len: usize,
    /// Room for objects.
    cap: usize,
    /// Offset of the descriptor array (`cap` entries) in the block.
    types_at: usize,
}

// SAFETY: the block holds objects of `Send` types (`Gc::new` requires `T: Send`) and
// `&'static TypeInfo`s, owned by this value alone.
unsafe impl Send for Moved {}

impl Moved {
    /// Room for `n` objects from slots of `elemsize` bytes.
    pub(crate) fn with_capacity(n: usize, elemsize: usize) -> Moved {
        // Slots sit at multiples of `elemsize` from a page-aligned base, so every object's
        // alignment divides the largest power of two in `elemsize` (up to a page).
        let align = (1usize << elemsize.trailing_zeros())
            .clamp(align_of::<&TypeInfo>(), crate::alloc::PAGE_SIZE);
        let objects = n.checked_mul(elemsize).unwrap_or_else(|| overflow());
        let types_at = objects.next_multiple_of(align_of::<&TypeInfo>());
        let need = n
            .checked_mul(size_of::<&TypeInfo>())
            .and_then(|t| t.checked_add(types_at))
            .unwrap_or_else(|| overflow());
        let (buf, layout) = SPARE.take(need, align);
        Moved {
            buf,
            layout,
            stride: elemsize,
            len: 0,
            cap: n,
            types_at,
        }
    }

    /// Moves the object at `addr` (a whole slot of the `elemsize` given at creation) into
    /// the block; its slot may be reused as soon as this returns.
    ///
    /// # Safety
    ///
    /// `addr` holds an initialised object of type `ty` that nothing can reach any more
    /// (swept), whose `Drop` has not run, and which nothing will drop or read after this
    /// call.
    pub(crate) unsafe fn push(&mut self, addr: usize, ty: &'static TypeInfo) {
        assert!(self.len < self.cap, "more moved objects than room");
        // SAFETY: object `len` and descriptor `len` are inside the block (`len < cap`, and
        // `with_capacity` took a block of room for `cap` of each); the source slot is `stride`
        // bytes of the swept span, which never overlaps a block of the C allocator.
        unsafe {
            std::ptr::copy_nonoverlapping(
                addr as *const u8,
                self.buf.add(self.len * self.stride),
                self.stride,
            );
            self.types().add(self.len).write(ty);
        }
        self.len += 1;
    }

    fn types(&self) -> *mut &'static TypeInfo {
        // SAFETY: `types_at` is inside the block (`with_capacity`).
        unsafe { self.buf.add(self.types_at).cast() }
    }
}

impl Drop for Moved {
    /// Runs every moved object's `Drop` (each under its own `catch_unwind`), in order, then
    /// gives the block back.
    fn drop(&mut self) {
        for i in 0..self.len {
            // SAFETY: descriptor `i` was written by `push`.
            let ty = unsafe { *self.types().add(i) };
            if let Some(drop_fn) = ty.drop {
                // SAFETY: object `i` was moved in by `push` and is dropped exactly once, here.
                let p = unsafe { self.buf.add(i * self.stride) };
                // SAFETY: as above; `drop_fn` is the descriptor's for this very object.
                guarded(
                    || unsafe { drop_fn(p) },
                    || format!("Drop of a {}", (ty.name)()),
                );
            }
        }
        SPARE.give(self.buf, self.layout);
    }
}

/// A sweep's dead objects cannot fill the address space; their block's size would.
#[cold]
fn overflow() -> ! {
    crate::fatal("a sweep's moved objects overflow the address space")
}

/// Emptied blocks kept for reuse (at most [`SPARE_MAX`]), with their layouts.
struct Spare(Mutex<Vec<(usize, Layout)>>);

impl Spare {
    crate::sync::const_fn! {
        fn new() -> Spare {
            Spare(Mutex::new(Vec::new()))
        }
    }

    /// A block of at least `need` bytes aligned to `align`: a spare one if one fits, else
    /// a new one of at least [`MIN_BLOCK`] bytes (a power of two, so spares fit often).
    fn take(&self, need: usize, align: usize) -> (*mut u8, Layout) {
        {
            let mut spare = self.0.lock();
            if let Some(i) = spare
                .iter()
                .position(|(_, l)| l.size() >= need && l.align() >= align)
            {
                let (p, l) = spare.swap_remove(i);
                return (p as *mut u8, l);
            }
        }
        let size = need
            .max(MIN_BLOCK)
            .checked_next_power_of_two()
            .unwrap_or(need);
        let layout = Layout::from_size_align(size, align).unwrap_or_else(|_| overflow());
        // SAFETY: the size is at least `MIN_BLOCK`, not zero.
        let buf = unsafe { std::alloc::alloc(layout) };
        if buf.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        (buf, layout)
    }

    /// Takes back an emptied block from [`take`](Self::take), or frees it if the pool is
    /// full.
    fn give(&self, buf: *mut u8, layout: Layout) {
        {
            let mut spare = self.0.lock();
            if spare.len() < SPARE_MAX {
                // Never grows past `SPARE_MAX`: reserve the room once, so that giving back
                // (on a dropper) allocates nothing after the first time.
                spare.reserve_exact(SPARE_MAX);
                spare.push((buf as usize, layout));
                return;
            }
        }
        // SAFETY: allocated by `take` with this layout, and empty.
        unsafe { std::alloc::dealloc(buf, layout) };
    }
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::*;
    use crate::object::typeinfo::Layout as TypeLayout;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static DROPPED: AtomicUsize = AtomicUsize::new(0);

    /// Counts its drops; 32 bytes, 32-aligned (the slot alignment a 32-byte class gives).
    #[repr(align(32))]
    struct Counted(u64);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPPED.fetch_add(self.0 as usize, Ordering::SeqCst);
        }
    }
    // SAFETY: no `Gc` inside; the default facts (a hand-written `Drop` is user code).
    unsafe impl crate::Trace for Counted {
        fn needs_trace() -> bool {
            false
        }
        fn trace(&self, _: &mut crate::Tracer) {}
        unsafe fn root(&mut self) {}
        unsafe fn unroot(&mut self) {}
    }

    #[test]
    fn moved_objects_are_dropped_once() {
        let ty = TypeLayout::<Counted>::request().info;
        let mut objects: Vec<std::mem::ManuallyDrop<Counted>> = (1..=3)
            .map(|i| std::mem::ManuallyDrop::new(Counted(i)))
            .collect();
        let mut m = Moved::with_capacity(3, 32);
        assert_eq!(m.buf as usize % 32, 0, "objects keep their alignment");
        for o in &mut objects {
            // SAFETY: each object is moved once and never used again (`ManuallyDrop`).
            unsafe { m.push(&mut **o as *mut Counted as usize, ty) };
        }
        let before = DROPPED.load(Ordering::SeqCst);
        drop(m);
        assert_eq!(DROPPED.load(Ordering::SeqCst) - before, 1 + 2 + 3);
    }

    #[test]
    fn spare_blocks_are_reused_when_they_fit() {
        let pool = Spare::new();
        let (a, la) = pool.take(100, 32);
        assert!(la.size() >= MIN_BLOCK && la.align() == 32);
        pool.give(a, la);
        // Fits: the same block. Needs more, or a stricter alignment: a new one.
        let (b, lb) = pool.take(MIN_BLOCK, 16);
        assert_eq!(b, a);
        let (c, lc) = pool.take(MIN_BLOCK + 1, 8);
        assert_ne!(c, a);
        assert_eq!(lc.size(), 2 * MIN_BLOCK);
        pool.give(b, lb);
        let (d, ld) = pool.take(64, 64);
        assert_ne!(d, a);
        for (p, l) in [(c, lc), (d, ld)] {
            pool.give(p, l);
        }
        // Past `SPARE_MAX` blocks, the pool frees what comes back.
        let blocks: Vec<_> = (0..SPARE_MAX + 2)
            .map(|_| pool.take(MIN_BLOCK, 8))
            .collect();
        for (p, l) in blocks {
            pool.give(p, l);
        }
        assert_eq!(pool.0.lock().len(), SPARE_MAX);
        for (p, l) in pool.0.lock().drain(..) {
            // SAFETY: every block in the pool came from `take` with its layout.
            unsafe { std::alloc::dealloc(p as *mut u8, l) };
        }
    }
}
