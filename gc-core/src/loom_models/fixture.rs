//! Spans and objects for the loom models: a span over page-aligned memory from the global
//! allocator, registered in the (loom) arena index so `roots::locate` finds its objects,
//! and filled through the span's own allocation functions. Also `Probe`, a traced object
//! whose `trace`/`drop` are observable, and a list object holding handles to probes in a
//! cell (`ListInHeap`). See `super` for the models.

use crate::alloc::arena;
use crate::alloc::sizeclass::{SpanClass, CLASSES};
use crate::alloc::span::SpanPtr;
use crate::alloc::span::{OwnedSpan, Shape, Span};
use crate::alloc::PAGE_SIZE;
use crate::gc::local_queue::LocalQueue;
use crate::gc::mark::{drain, Drainer, Role, Tracer};
use crate::object::typeinfo::{Layout, Placement};
use crate::sync::{Arc, AtomicUsize, Ordering};
use crate::{Gc, GcCell, Trace};

/// A background mark worker's round: drains every grey item it can find (root jobs, the
/// injector, the shade buffer) until none is left.
pub(super) fn drain_all() {
    let local = LocalQueue::shared();
    let mut tracer = Tracer::new(&local);
    let d = Drainer {
        local: &local,
        role: Role::Worker,
        stealers: &[],
    };
    drain(&d, &mut tracer, |_| false);
}

/// A span built for a model. Dropped (when the model's threads are done with it), it drops
/// the objects it still holds, unregisters and frees its memory.
pub(super) struct ModelSpan {
    span: OwnedSpan,
    layout: std::alloc::Layout,
}

impl ModelSpan {
    /// An empty span for objects of type `T`, in sweep state `sweepgen`.
    pub(super) fn new<T: Trace>(sweepgen: u32) -> ModelSpan {
        let Placement::Small(sc) = Layout::<T>::request().placement else {
            panic!("model objects must be small, not tiny or large");
        };
        let k = CLASSES[sc.size_class()];
        let bytes = k.npages as usize * PAGE_SIZE;
        let layout = std::alloc::Layout::from_size_align(bytes, PAGE_SIZE).unwrap();
        // SAFETY: non-zero size.
        let base = unsafe { std::alloc::alloc_zeroed(layout) } as usize;
        assert_ne!(base, 0, "out of memory");
        let mut span = OwnedSpan::new(
            Shape::small(SpanClass::new(sc.size_class(), sc.noscan())),
            sweepgen,
        );
        span.place(base, true);
        arena::set_span(base, k.npages as usize, &*span);
        ModelSpan { span, layout }
    }

    /// The span as the runtime holds it.
    pub(super) fn ptr(&self) -> SpanPtr {
        // SAFETY: the box lives as long as `self`, which outlives every use in a model.
        unsafe { SpanPtr::from_raw(&*self.span) }
    }

    /// Allocates `value` in the next free slot; returns (slot, address).
    ///
    /// The calling thread must own the span (the model's setup, or the thread that has it
    /// cached).
    pub(super) fn alloc<T: Trace>(&self, value: T) -> (usize, usize) {
        let s = &self.span;
        // SAFETY: the caller owns the span (above).
        let idx = unsafe { s.next_free_fast().or_else(|| s.next_free()) }.expect("span full");
        let addr = s.slot_addr(idx);
        // SAFETY: a fresh slot of a span sized for `T` (aligned: page base, class size a
        // multiple of the alignment); the owner records the type as `Gc::new` does.
        unsafe {
            std::ptr::write(addr as *mut T, value);
            s.set_type(idx, Layout::<T>::request().info);
        }
        (idx, addr)
    }

    /// The object at `addr`, which this span holds.
    ///
    /// # Safety
    ///
    /// `addr` came from `alloc::<T>` and the object has not been swept.
    pub(super) unsafe fn get<T>(&self, addr: usize) -> &T {
        // SAFETY: forwarded.
        unsafe { &*(addr as *const T) }
    }
}

impl std::ops::Deref for ModelSpan {
    type Target = Span;
    fn deref(&self) -> &Span {
        &self.span
    }
}

impl Drop for ModelSpan {
    fn drop(&mut self) {
        let s = &self.span;
        let allocated: Vec<usize> = s.alloc.with(|a| {
            // SAFETY: the model's threads are done: the span is ours.
            let a = unsafe { &*a };
            (0..s.nelems)
                .filter(|&i| i < a.freeindex || a.alloc_bits.get(i))
                .collect()
        });
        for i in allocated {
            // SAFETY: an allocated slot holds an object of the recorded type, not yet dropped
            // (the sweeper clears the alloc bit of every object it drops).
            unsafe {
                if let Some(drop_fn) = s.type_of(i).drop {
                    drop_fn(s.slot_addr(i) as *mut u8);
                }
            }
        }
        arena::set_span(self.span.base, self.span.npages, std::ptr::null());
        // SAFETY: allocated in `new` with this layout; the models are done with it.
        unsafe { std::alloc::dealloc(self.span.base as *mut u8, self.layout) };
    }
}

/// Pads model objects to 1 KiB, so their spans have 8 slots: the root scan reads each
/// slot's counter, and every read is a step loom must schedule.
pub(super) type Pad = [u8; 1000];

/// A heap object of one field (padded as the other model objects) that forwards `Trace` to
/// it: a `GcCell` (`dirty.rs`), an `AtomicGc` (`atomic.rs`). Its drop runs only runtime
/// code, so the sweeper would drop it in place.
pub(super) struct Padded<F> {
    pub(super) field: F,
    _pad: Pad,
}

impl<F> Padded<F> {
    pub(super) fn new(field: F) -> Padded<F> {
        Padded {
            field,
            _pad: [0; 1000],
        }
    }
}

// SAFETY: obligations 1-3 as `F`'s own, to which every method forwards.
unsafe impl<F: Trace> Trace for Padded<F> {
    fn needs_trace() -> bool {
        true
    }
    fn drop_runs_user_code() -> bool {
        false
    }
    fn trace(&self, tracer: &mut Tracer) {
        self.field.trace(tracer);
    }
    unsafe fn root(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.field.root() }
    }
    unsafe fn unroot(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.field.unroot() }
    }
}

/// A heap object with one edge, which a model's mutator stores (`roots.rs`, `young.rs`).
pub(super) struct Holder {
    pub(super) edge: AtomicUsize,
    pub(super) _pad: Pad,
}

// SAFETY: `trace` reports the one edge; the models set the edge before its handle's root
// becomes an edge (`root_to_edge`), as the barrier requires.
unsafe impl Trace for Holder {
    fn needs_trace() -> bool {
        true
    }
    fn trace(&self, tracer: &mut Tracer) {
        let a = self.edge.load(Ordering::Acquire);
        if a != 0 {
            tracer.edge(a);
        }
    }
    unsafe fn root(&mut self) {}
    unsafe fn unroot(&mut self) {}
}

/// A traced object (so its span is scanned) that counts how often it was traced and
/// dropped, in counters shared with the model.
pub(super) struct Probe {
    pub(super) traces: Arc<AtomicUsize>,
    pub(super) drops: Arc<AtomicUsize>,
    _pad: Pad,
}

impl Probe {
    pub(super) fn new() -> (Probe, Arc<AtomicUsize>, Arc<AtomicUsize>) {
        let traces = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        (
            Probe {
                traces: traces.clone(),
                drops: drops.clone(),
                _pad: [0; 1000],
            },
            traces,
            drops,
        )
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: holds no `Gc`, so obligations 1-3 hold trivially; `needs_trace` only makes the
// span scannable so the models exercise the grey queues.
unsafe impl Trace for Probe {
    fn needs_trace() -> bool {
        true
    }
    // Its `Drop` only bumps a counter, so the sweeper drops it in place: the models check
    // the sweep's claims, not the dropper (whose threads are std threads, outside loom).
    fn drop_runs_user_code() -> bool {
        false
    }
    fn trace(&self, _: &mut Tracer) {
        self.traces.fetch_add(1, Ordering::SeqCst);
    }
    unsafe fn root(&mut self) {}
    unsafe fn unroot(&mut self) {}
}

/// A heap object holding a list in a cell, as an interpreter's list object.
pub(super) type ListObject = Padded<GcCell<Vec<Gc<Probe>>>>;

/// `N` probes and a list object holding a handle to each, the list moved into the heap
/// as `Gc::new` moves it (its handles are edges), and rooted by its own handle: the
/// chunked scans' models (`cell_scan.rs`, `cell_unroot.rs`).
pub(super) struct ListInHeap<const N: usize> {
    /// First, so that it is dropped first: the list's drop releases the counts of the
    /// handles it holds rooted, on the probes' span.
    pub(super) lists: std::sync::Arc<ModelSpan>,
    /// The list object's address.
    pub(super) list: usize,
    pub(super) objects: std::sync::Arc<ModelSpan>,
    /// Each probe's slot and address, in list order.
    pub(super) objs: [(usize, usize); N],
}

impl<const N: usize> ListInHeap<N> {
    pub(super) fn new() -> ListInHeap<N> {
        let sg = crate::alloc::heap::HEAP.sweepgen();
        let objects = std::sync::Arc::new(ModelSpan::new::<Probe>(sg));
        let lists = std::sync::Arc::new(ModelSpan::new::<ListObject>(sg));
        let objs = [(); N].map(|_| {
            let (idx, addr) = objects.alloc(Probe::new().0);
            crate::gc::roots::set_new_root(&objects, idx);
            (idx, addr)
        });
        // SAFETY: each object's count (set above) moves to its handle.
        let handles = objs.map(|(_, addr)| unsafe { Gc::<Probe>::from_counted_addr(addr) });
        let (l_idx, list) = lists.alloc(ListObject::new(GcCell::new(handles.into())));
        // Moved into the heap, as `Gc::new` does: the handles become the list's edges.
        // SAFETY: just allocated; no other thread knows it yet.
        unsafe { (*(list as *mut ListObject)).unroot() };
        crate::gc::roots::set_new_root(&lists, l_idx);
        ListInHeap {
            lists,
            list,
            objects,
            objs,
        }
    }

    /// The list object.
    pub(super) fn get(&self) -> &ListObject {
        // SAFETY: the list lives as long as its span, which `self` holds.
        unsafe { self.lists.get::<ListObject>(self.list) }
    }
}
