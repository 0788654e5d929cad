//! Marking: the grey work queues, the drain loop shared by background workers and assists,
//! mutator shades, and the `Tracer` that user `Trace` impls talk to.
//!
//! Colours (Go's): white = mark bit clear; grey = mark bit set and the object queued; black
//! = marked and scanned, or allocated during marking (allocate-black; before the young
//! scan small objects are allocated white instead, `young.rs`). Noscan objects go straight
//! to black. The work list is explicit, so marking a 10-million-node list needs no
//! recursion. Grey items live in one of five places:
//!
//! - the global injector (`WORK.injector`, Go's `work.full`), which every worker and
//!   assist takes from: a lock-free stack of recycled 2 KiB buffers (`grey_list.rs`), so
//!   handing work over neither allocates nor frees;
//! - the tracer's own buffer (`Tracer::buf`, Go's `gcWork` buffer): plain memory of the
//!   thread that is draining, with no atomics or fences per item; it overflows into the
//!   local queue, lends half to the injector when that runs dry, and is emptied into the
//!   local queue whenever `drain` returns (and into the injector if a tracer is dropped
//!   with items);
//! - the local LIFO queue (`local_queue.rs`) of a background worker (a crossbeam-deque
//!   `Worker` the other workers steal from) or an assist (a private vector its thread
//!   keeps), which pushes half of it to the injector whenever the injector runs dry (Go's
//!   `gcw.balance`), and all of it before it stops, sleeps or leaves its GC operation;
//! - the large-object list (`WORK.large`, a grey list too): objects over `OBLET_SIZE`
//!   that an assist came across and cannot split (any type but a slice), and objects
//!   with a large edge cell, left for the background workers (see `Role::Assist`);
//! - the mutator shade buffer (`SHADES`), filled by rooting during marking and taken by
//!   workers and assists one work buffer (`SHADE_BATCH` items) at a time;
//! - while `drain` runs, its prefetch FIFO (`prefetch_fifo.rs`): items far from the object
//!   scanned last wait there for their cache line; `drain` empties it before it returns.
//!
//! A queue item is an object address; an address `k * OBLET_SIZE` bytes into a slice over
//! `OBLET_SIZE` (`k >= 1`): "scan the elements that start in this oblet" (Go's oblets, so
//! a huge array is marked by every worker and assist in parallel; `oblets.rs`); or a span
//! address with bit 0 set: "scan this span's root counters" (root-scan jobs, so the root
//! scan is parallel and concurrent too).
//!
//! Termination is decided by `try_finish` with GC operations stopped (so no assist holds
//! items), after the workers have left and flushed their queues: if both injectors and
//! the shade buffer are empty then, and no ephemeron with a marked key has an untraced
//! value (`ephemeron.rs`), no grey object exists anywhere, and closing the shade buffer
//! under its lock makes that final. Otherwise marking resumes (Go's `gcMarkDone` loop).
//! See the collector overview (`crate::design::collector`).

use super::checkmark::Checker;
use super::oblets::{opaque_huge, scan_huge, OBLET_SIZE};
use super::prefetch_fifo::{is_near, PrefetchFifo};
use super::span_cache::SpanCache;
use super::roots::{locate, MARKING};
use crate::alloc::heap::HEAP;
use crate::alloc::span::SpanPtr;
#[cfg_attr(gc_loom, allow(unused_imports))] // `global!` drops the `LazyLock` under loom
use crate::sync::LazyLock;
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering};
use super::grey_list::{GreyList, BUF_ITEMS};
use super::local_queue::LocalQueue;
use crossbeam_deque::{Steal, Stealer};

/// Handed to [`Trace::trace`](crate::Trace::trace): report each `Gc` you hold to it, by
/// calling `trace` on it (or on the value holding it). There is nothing else to do with a
/// tracer, and it cannot be made outside the collector.
///
/// # Examples
///
/// ```
/// use gc_core::{Gc, Trace, Tracer};
///
/// struct Edges(Vec<Gc<u8>>);
///
/// // SAFETY: every method visits every handle inside; nothing else holds one.
/// unsafe impl Trace for Edges {
///     fn trace(&self, tracer: &mut Tracer) {
///         for e in &self.0 {
///             e.trace(tracer); // report the handle
///         }
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
/// let g = Gc::new(Edges(vec![Gc::new(1), Gc::new(2)]));
/// gc_core::collect();
/// assert_eq!(*g.0[0] + *g.0[1], 3);
/// ```
pub struct Tracer {
    /// The local queue the buffer overflows into; null for the checking and unrooting walks.
    queue: *const LocalQueue,
    /// Grey objects found by this tracer and not yet scanned (module header): `buf[..len]`.
    buf: [usize; BUF_LEN],
    len: usize,
    /// Set only for `gccheckmark`'s walk: edges go to the checker, not to the mark queues.
    check: Option<Box<Checker>>,
    /// The unroot pass's walk (`dirty.rs`): edges are ignored, and rooted cells inside the
    /// walked object turn their contents back into edges (`GcCell`'s `trace`).
    unrooting: bool,
    /// The unroot pass's walk: the write epoch it closed, if it keeps the large cells
    /// written recently (`dirty::written_within`).
    keep_written: Option<u8>,
    /// Set by the unroot pass's walk when a cell stays rooted: a writer held it, or it is
    /// large and was written recently.
    left_dirty: bool,
    /// An assist's tracer: a large edge cell (`GcCell`'s `LARGE`) is left to the
    /// background workers, as an opaque huge object is (`drain`).
    assist: bool,
    /// Set by an assist's tracer that met a large edge cell: the object being scanned goes
    /// to the background workers' list.
    deferred: bool,
    /// Edges seen (wrapping; only differences are read): while marking, a `GcCell` counts
    /// its contents' by them; a tracer that does not mark counts them too (`counted`).
    edges: u64,
    marked_bytes: u64,
    /// How many `GcCell`s' contents the walk is inside (`enter_cell`): a cell nested in
    /// another's contents may be moved by that one's writer, so it is not recorded to be
    /// rooted again after a forced cycle (`reroot.rs`).
    cell_depth: u32,
    /// The span of the last object this tracer looked up (`span_cache.rs`).
    spans: SpanCache,
    pub(crate) scanned_bytes: u64,
    /// Bytes of root counters scanned (Go's stack scan work: it pays for assists too).
    pub(crate) root_bytes: u64,
}

impl Tracer {
    /// A tracer that queues onto `queue` (which must outlive it).
    pub(crate) fn new(queue: &LocalQueue) -> Tracer {
        Tracer::blank(queue)
    }

    /// A tracer for `gccheckmark`'s walk (`checkmark.rs`).
    pub(crate) fn checking(checker: Checker) -> Tracer {
        let mut t = Tracer::blank(std::ptr::null());
        t.check = Some(Box::new(checker));
        t
    }

    /// A tracer for the unroot pass's walk of a dirty object (`dirty.rs`): it marks
    /// nothing; `GcCell`'s `trace` sees [`unrooting`](Self::unrooting) and unroots, except
    /// the large cells written recently (`dirty::written_within` epoch `keep_written`).
    pub(crate) fn unrooting(keep_written: Option<u8>) -> Tracer {
        let mut t = Tracer::blank(std::ptr::null());
        t.unrooting = true;
        t.keep_written = keep_written;
        t
    }

    /// A tracer that marks nothing and only counts the edges it is given (`counted`): the
    /// move-in walk's test of a cell's size (`move_in::count_edges`).
    pub(crate) fn counting() -> Tracer {
        Tracer::blank(std::ptr::null())
    }

    /// Edges given to a tracer that does not mark (wrapping: subtract with
    /// `wrapping_sub`).
    pub(crate) fn counted(&self) -> u64 {
        debug_assert!(self.queue.is_null(), "a marking tracer's edges: edges_seen");
        self.edges
    }

    /// A marking tracer on `queue` (null for the checking and unrooting walks) with
    /// nothing found yet.
    fn blank(queue: *const LocalQueue) -> Tracer {
        Tracer {
            queue,
            buf: [0; BUF_LEN],
            len: 0,
            check: None,
            unrooting: false,
            keep_written: None,
            left_dirty: false,
            assist: false,
            deferred: false,
            edges: 0,
            marked_bytes: 0,
            cell_depth: 0,
            spans: SpanCache::default(),
            scanned_bytes: 0,
            root_bytes: 0,
        }
    }

    /// Whether this is the unroot pass's walk.
    #[inline(always)]
    pub(crate) fn is_unrooting(&self) -> bool {
        self.unrooting
    }

    /// The unroot pass's walk: the write epoch it closed, if it keeps the large cells
    /// written recently.
    #[inline(always)]
    pub(crate) fn keep_written(&self) -> Option<u8> {
        self.keep_written
    }

    /// The unroot pass's walk left a cell rooted (busy, or large and written): the object
    /// stays dirty.
    pub(crate) fn note_left_dirty(&mut self) {
        self.left_dirty = true;
    }

    /// Whether the walk left a cell rooted since the last call (and forgets it).
    pub(crate) fn take_left_dirty(&mut self) -> bool {
        std::mem::take(&mut self.left_dirty)
    }

    /// Whether this is an assist's tracer, which leaves large edge cells to the background
    /// workers.
    #[inline(always)]
    pub(crate) fn is_assist(&self) -> bool {
        self.assist
    }

    /// An assist's tracer met a large edge cell: the object being scanned is handed to the
    /// background workers whole (`drain`), which scan it again.
    pub(crate) fn defer_object(&mut self) {
        self.deferred = true;
    }

    /// The walk enters a `GcCell`'s contents.
    #[inline(always)]
    pub(crate) fn enter_cell(&mut self) {
        self.cell_depth += 1;
    }

    /// The walk leaves the contents it last entered.
    #[inline(always)]
    pub(crate) fn leave_cell(&mut self) {
        self.cell_depth -= 1;
    }

    /// Whether a large edge cell written recently that this tracer meets now is to be
    /// rooted again after the cycle (`reroot.rs`): a forced cycle's marking tracer, not
    /// inside another cell's contents.
    #[inline]
    pub(crate) fn records_reroots(&self) -> bool {
        !self.queue.is_null() && self.cell_depth == 0 && super::reroot::recording()
    }

    /// Edges seen so far while marking (wrapping: subtract with `wrapping_sub`); `None` for
    /// the checking and unrooting walks, which do not count them.
    #[inline(always)]
    pub(crate) fn edges_seen(&self) -> Option<u64> {
        (!self.queue.is_null()).then_some(self.edges)
    }

    /// The checker of a checking tracer.
    pub(crate) fn checker(&mut self) -> &mut Checker {
        self.check.as_mut().expect("not a checking tracer")
    }

    /// Scan work done so far: heap and root bytes.
    pub(crate) fn work(&self) -> u64 {
        self.scanned_bytes + self.root_bytes
    }

    /// Shades the object containing `addr`: marks it and queues it for scanning. Always
    /// inlined into the `Trace` impls' edges (binary-trees 18: 5% less mark CPU than a call).
    #[inline(always)]
    pub(crate) fn edge(&mut self, addr: usize) {
        self.edges = self.edges.wrapping_add(1);
        if self.queue.is_null() {
            // A checking walk, a counting one, or the unroot pass's (which ignores edges).
            if let Some(c) = &mut self.check {
                c.edge(addr);
            }
            return;
        }
        let s = self.spans.span_of(addr);
        let idx = s.slot_index(addr);
        if s.mark(idx) {
            self.marked_bytes += s.elemsize as u64;
            if !s.spanclass.noscan() {
                self.push(s.slot_addr(idx));
            }
        }
    }

    /// Queues a grey object in the tracer's buffer; a full buffer sends its older half to
    /// the local queue first.
    #[inline]
    pub(super) fn push(&mut self, item: usize) {
        if self.len == BUF_LEN {
            self.spill(BUF_LEN / 2);
        }
        self.buf[self.len] = item;
        self.len += 1;
    }

    /// The most recently queued grey object of the buffer (LIFO, like the local queue).
    #[inline]
    pub(super) fn pop(&mut self) -> Option<usize> {
        self.len = self.len.checked_sub(1)?;
        Some(self.buf[self.len])
    }

    /// Moves the `n` oldest buffered items (at most all of them) to the local queue (where
    /// thieves and the injector can reach them).
    fn spill(&mut self, n: usize) {
        let n = n.min(self.len);
        // SAFETY: the queue outlives the tracer (`Tracer::new`); only a marking tracer
        // (non-null queue) buffers items.
        unsafe { (*self.queue).push_all(&self.buf[..n]) };
        self.buf.copy_within(n..self.len, 0);
        self.len -= n;
    }

    /// Moves every buffered item to the local queue (before the caller flushes that queue
    /// where others can reach it).
    pub(crate) fn hand_over(&mut self) {
        self.spill(self.len);
    }

    /// Lends half of a long buffer to the empty injector, so idle workers and assists find
    /// work (as `balance` does for the local queue).
    fn lend(&mut self) {
        if self.len > 1 && WORK.injector.is_empty() {
            let n = self.len / 2;
            WORK.injector.push_items(&self.buf[..n]);
            self.buf.copy_within(n..self.len, 0);
            self.len -= n;
        }
    }

    /// Adds this tracer's counts to the cycle's totals and resets them. Returns the scan
    /// work (heap and roots) it had done.
    pub(crate) fn flush(&mut self) -> u64 {
        WORK.marked_bytes
            .fetch_add(std::mem::take(&mut self.marked_bytes), Ordering::Relaxed);
        let scanned = std::mem::take(&mut self.scanned_bytes);
        let roots = std::mem::take(&mut self.root_bytes);
        WORK.scan_work.fetch_add(scanned, Ordering::Relaxed);
        WORK.root_work.fetch_add(roots, Ordering::Relaxed);
        scanned + roots
    }
}

/// The mark phase's shared state.
pub(crate) struct Work {
    pub(crate) injector: GreyList,
    /// Grey objects larger than `OBLET_SIZE`, left by assists for the background workers.
    large: GreyList,
    /// Workers and assists currently holding grey items outside the injector: a hint for
    /// "marking looks finished" (the real check is `try_finish`).
    pub(crate) busy: AtomicUsize,
    /// Bytes marked by tracing and shades this cycle.
    marked_bytes: AtomicU64,
    /// Heap bytes scanned this cycle (the pacer's heap scan work).
    pub(crate) scan_work: AtomicU64,
    /// Root-counter bytes scanned this cycle (the pacer's root scan work).
    pub(crate) root_work: AtomicU64,
}

crate::sync::global! {
    pub(crate) static WORK: LazyLock<Work> = LazyLock::new(|| Work {
        injector: GreyList::new(),
        large: GreyList::new(),
        busy: AtomicUsize::new(0),
        marked_bytes: AtomicU64::new(0),
        scan_work: AtomicU64::new(0),
        root_work: AtomicU64::new(0),
    });
}

/// Shades pushed by mutators while marking (rooting during marking, invariant I2).
struct ShadeBuffer {
    active: bool,
    items: Vec<usize>,
    /// Bytes the shades marked, added to `WORK.marked_bytes` when the mark ends (one locked
    /// add fewer per shade).
    marked_bytes: u64,
}

crate::sync::global! {
    static SHADES: Mutex<ShadeBuffer> = Mutex::new(ShadeBuffer {
        active: false,
        items: Vec::new(),
        marked_bytes: 0,
    });
}
crate::sync::global! {
    /// Whether `SHADES` holds items; written only under its lock, read without it.
    static SHADES_PENDING: AtomicBool = AtomicBool::new(false);
}

fn shades() -> MutexGuard<'static, ShadeBuffer> {
    SHADES.lock()
}

/// Called by a mutator that rooted or unrooted `addr` while `MARKING` was set: greys the
/// object (Go's `shade`). Each object is queued at most once per cycle, so mutators that
/// keep rooting cannot keep marking from terminating. Done under the buffer lock, so no
/// mark bit is set after mark termination closed the buffer.
#[cold]
pub(crate) fn shade_from_mutator(addr: usize) {
    let (s, idx) = locate(addr);
    if s.is_marked(idx) {
        return;
    }
    let mut b = shades();
    if b.active && s.mark(idx) {
        b.marked_bytes += s.elemsize as u64;
        if !s.spanclass.noscan() {
            b.items.push(s.slot_addr(idx));
            // Only lock holders write the flag: if it is set, it stays set until a taker
            // empties the buffer (and with it takes our item) and clears it under the lock.
            if !SHADES_PENDING.load(Ordering::Relaxed) {
                SHADES_PENDING.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// Shade-buffer items one drainer takes at a time: one work buffer (Go's `workbuf`, 2 KiB).
/// Taking them all made an assist push the whole buffer (25,000 items on the 1 GiB latency
/// probe, whose slot writes shade young trees) into its local queue, scan a few hundred and
/// hand the rest back to the injector: 0.7 ms of queue traffic in an allocation.
const SHADE_BATCH: usize = 256;

/// Moves up to `SHADE_BATCH` items from the shade buffer's end into `batch` (a copy under
/// the lock, no allocation); returns how many. Clears `SHADES_PENDING` only once the
/// buffer is empty.
fn take_shades(batch: &mut [usize; SHADE_BATCH]) -> usize {
    let mut b = shades();
    let n = take_last(&mut b.items, batch);
    if b.items.is_empty() {
        SHADES_PENDING.store(false, Ordering::SeqCst);
    }
    n
}

/// Moves the last `batch.len()` items of `items` (or all, if fewer) into `batch`; returns
/// how many.
fn take_last(items: &mut Vec<usize>, batch: &mut [usize]) -> usize {
    let rest = items.len().saturating_sub(batch.len());
    let n = items.len() - rest;
    batch[..n].copy_from_slice(&items[rest..]);
    items.truncate(rest);
    n
}

/// Whether any grey item is visible outside the workers' local queues.
pub(crate) fn has_visible_work(role: Role) -> bool {
    !WORK.injector.is_empty()
        || (role != Role::Assist && !WORK.large.is_empty())
        || SHADES_PENDING.load(Ordering::SeqCst)
}

/// Who is draining: what it may take and what it must leave.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Role {
    /// A dedicated or fractional background worker.
    Worker,
    /// An idle worker: the OS may leave it off the CPU for long, so it never takes the
    /// shade buffer's lock, which mutators wait for.
    Idle,
    /// A mutator paying for its allocation. It scans slices over `OBLET_SIZE` an oblet at a
    /// time, as Go does every huge object, but leaves other objects over `OBLET_SIZE` to
    /// the background workers: a Rust `Trace` impl is opaque, so such an object is scanned
    /// in one piece, never by an allocating thread. So is an object with a large edge cell
    /// (`GcCell`'s `LARGE`: thousands of handles, often in a `Vec` outside the heap): the
    /// cell's trace sets the tracer's `deferred`, and the object goes to the large-object
    /// list, to be scanned again whole.
    Assist,
}

/// A draining thread's queues.
pub(crate) struct Drainer<'a> {
    pub(crate) local: &'a LocalQueue,
    pub(crate) role: Role,
    /// The other background workers' queues, to steal from (empty for assists).
    pub(crate) stealers: &'a [Stealer<usize>],
}

/// The next grey item: local, then a batch from the injector, then (workers) the large
/// objects, then (not idle workers) the mutator shades, then (workers) the other workers'
/// queues.
fn find_task(d: &Drainer<'_>) -> Option<usize> {
    let local = d.local;
    if let Some(t) = local.pop() {
        return Some(t);
    }
    if let Some(t) = WORK.injector.pop_into(local) {
        return Some(t);
    }
    if d.role != Role::Assist {
        if let Some(t) = WORK.large.pop_into(local) {
            return Some(t);
        }
    }
    if d.role != Role::Idle && SHADES_PENDING.load(Ordering::SeqCst) {
        let mut batch = [0usize; SHADE_BATCH];
        let n = take_shades(&mut batch);
        local.push_all(&batch[..n]);
        if let Some(t) = local.pop() {
            return Some(t);
        }
    }
    d.stealers
        .iter()
        .find_map(|s| steal_from(|| local.steal_batch_and_pop(s)))
}

/// Retries a steal until it succeeds or finds the queue empty.
pub(crate) fn steal_from(mut steal: impl FnMut() -> Steal<usize>) -> Option<usize> {
    loop {
        match steal() {
            Steal::Success(t) => return Some(t),
            Steal::Retry => continue,
            Steal::Empty => return None,
        }
    }
}

/// Queue item tag (objects and spans are 8-byte aligned, so the low bits are free).
const ROOT_JOB_TAG: usize = 1;

impl Drop for Tracer {
    /// A tracer dropped with buffered grey items (a path that did not end in `drain`)
    /// hands them to the injector: a grey object must never be lost.
    fn drop(&mut self) {
        WORK.injector.push_items(&self.buf[..self.len]);
    }
}

/// Grey items a tracer buffers before it overflows into the local queue: 2 KiB, as Go's
/// work buffers (small enough for the stack of an assisting thread).
const BUF_LEN: usize = 256;

/// Queues a root-scan job for every span of `spans` (mark setup, the young scan).
pub(crate) fn queue_root_jobs(spans: &[SpanPtr]) {
    let mut jobs = [0usize; BUF_ITEMS];
    for chunk in spans.chunks(BUF_ITEMS) {
        for (job, s) in jobs.iter_mut().zip(chunk) {
            *job = s.as_ptr() as usize | ROOT_JOB_TAG;
        }
        WORK.injector.push_items(&jobs[..chunk.len()]);
    }
}

fn process(item: usize, tracer: &mut Tracer) {
    if item & ROOT_JOB_TAG != 0 {
        scan_roots(item & !ROOT_JOB_TAG, tracer);
    } else {
        scan_object(item, tracer);
    }
}

/// A root job: shades the objects the span's root counters count. Out of line, so that
/// `process` is two tail calls and needs no stack frame of its own.
#[inline(never)]
fn scan_roots(span: usize, tracer: &mut Tracer) {
    // SAFETY: root jobs are queued for spans in use at mark setup, and no span is freed
    // while marking (every span was swept before mark setup; sweeping resumes only after
    // mark termination).
    let s = unsafe { SpanPtr::from_raw(span as *const crate::alloc::span::Span) };
    if s.for_each_root(|idx| tracer.edge(s.slot_addr(idx))) {
        tracer.root_bytes += s.root_table_bytes() as u64;
    }
}

/// Blackens a grey object: runs its type's trace function. A span of one type (most) needs
/// no slot index; both paths end in a tail call, so this needs no stack frame.
pub(super) fn scan_object(addr: usize, tracer: &mut Tracer) {
    let s = tracer.spans.span_of(addr);
    if s.elemsize > OBLET_SIZE {
        return scan_huge(s, addr, tracer);
    }
    tracer.scanned_bytes += s.elemsize as u64;
    // SAFETY: the span holds this object.
    let Some(ty) = (unsafe { s.one_type() }) else {
        return scan_mixed(s, addr, tracer);
    };
    // SAFETY: `ty` is the descriptor recorded for every object of the span, this one too.
    unsafe { (ty.trace)(addr as *const u8, tracer) };
}

/// `scan_object` for an object of a span with per-slot types.
#[inline(never)]
fn scan_mixed(s: SpanPtr, addr: usize, tracer: &mut Tracer) {
    // SAFETY: the object is grey, so it was allocated before it was shaded (objects
    // allocated black are never queued; a young white one is shaded only once a root
    // count or an edge made after its allocation reaches it), and that allocation
    // happened-before the shade that queued it.
    let ty = unsafe { s.type_of(s.slot_index(addr)) };
    // SAFETY: `ty` is the descriptor recorded for this very object.
    unsafe { (ty.trace)(addr as *const u8, tracer) };
}

/// Moves half of a long local queue to the empty injector, so idle workers and assists
/// find work (Go's `gcw.balance`).
fn balance(local: &LocalQueue) {
    let n = local.len();
    if n > 1 && WORK.injector.is_empty() {
        move_to_injector(local, n / 2);
    }
}

/// Moves up to `n` items from `local` to the injector, a buffer at a time.
fn move_to_injector(local: &LocalQueue, mut n: usize) {
    let mut buf = [0usize; BUF_ITEMS];
    while n > 0 {
        let got = local.pop_into(&mut buf[..n.min(BUF_ITEMS)]);
        if got == 0 {
            return;
        }
        WORK.injector.push_items(&buf[..got]);
        n -= got;
    }
}

/// Moves every local item to the injector (before a worker or assist stops holding work).
pub(crate) fn flush_local(local: &LocalQueue) {
    move_to_injector(local, usize::MAX);
}

/// Scan work after which a background worker offers work to others even before its next
/// 64-item check: 64 small objects are a few microseconds, 64 wide ones (arrays of 8,192
/// handles) milliseconds, during which the other workers would find nothing to take
/// (`benches/mark.rs` `array_16MiB`, 85 such arrays: 6.2 -> 3.6-4.0 ms on 2 workers). An
/// assist's drain is short and hands everything over at its end.
const LEND_WORK: u64 = 32 << 10;

/// Scans grey objects until no work is found (returns true) or `stop` says so (checked
/// every 64 items, and may flush the tracer; returns false, leaving the rest queued
/// locally).
pub(crate) fn drain(
    d: &Drainer<'_>,
    tracer: &mut Tracer,
    mut stop: impl FnMut(&mut Tracer) -> bool,
) -> bool {
    let mut ahead = PrefetchFifo::default();
    let mut last = 0usize;
    let mut n = 0u32;
    // Scan work between lends is the tracer's own count since the last one (`flush`, in
    // `stop`, may reset that count: `lent_at` follows it).
    let lend_work = if d.role == Role::Assist {
        u64::MAX
    } else {
        LEND_WORK
    };
    let mut lent_at = tracer.scanned_bytes;
    tracer.assist = d.role == Role::Assist;
    loop {
        // An item far from the last one scanned waits in `ahead` while its line loads;
        // a near one (likely cached, or streamed in by the hardware) is scanned at once.
        let item = match tracer.pop() {
            Some(next) if !is_near(next, last) => match ahead.push_or_swap(next) {
                Some(oldest) => oldest,
                None => continue,
            },
            Some(next) => next,
            None => match ahead.pop().or_else(|| find_task(d)) {
                Some(next) => next,
                None => return true,
            },
        };
        last = item;
        if d.role == Role::Assist
            && item & ROOT_JOB_TAG == 0
            && opaque_huge(tracer.spans.span_of(item))
        {
            WORK.large.push_items(&[item]);
            continue;
        }
        process(item, tracer);
        if tracer.deferred {
            // An assist met a large edge cell in it: scanned again, whole, by a worker.
            tracer.deferred = false;
            WORK.large.push_items(&[item]);
        }
        n = n.wrapping_add(1);
        if n % 64 == 0 || tracer.scanned_bytes.wrapping_sub(lent_at) >= lend_work {
            tracer.lend();
            balance(d.local);
            lent_at = tracer.scanned_bytes;
        }
        if n % 64 == 0 {
            if stop(tracer) {
                // What is left goes where the caller's flush finds it.
                while let Some(item) = ahead.pop() {
                    tracer.push(item);
                }
                tracer.hand_over();
                return false;
            }
            lent_at = tracer.scanned_bytes;
        }
    }
}

/// Runs marking work where a panic (from a `Trace` impl) is fatal at once: the heap's
/// colours are then unknown, and the other workers would wait for this one for ever. Go's
/// marker throws on faults too.
pub(crate) fn or_die<R>(work: impl FnOnce() -> R) -> R {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|e| {
        let msg = e
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| e.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        crate::fatal(&format!(
            "a Trace implementation panicked while marking: {msg}"
        ))
    })
}

/// Mark setup, with GC operations stopped: resets the counters, opens the shade buffer and
/// sets `MARKING` (from here on, rooting shades and allocation is black).
pub(crate) fn start() {
    debug_assert!(
        super::cycle::phase().marking(),
        "mark setup outside the Mark phase"
    );
    WORK.marked_bytes.store(0, Ordering::Relaxed);
    WORK.scan_work.store(0, Ordering::Relaxed);
    WORK.root_work.store(0, Ordering::Relaxed);
    HEAP.allocated_black.store(0, Ordering::Relaxed);
    super::ephemeron::start_cycle();
    let mut b = shades();
    b.active = true;
    b.marked_bytes = 0;
    MARKING.store(true, Ordering::SeqCst);
    // The root scan's reads of the counters follow (the collector's half of the pair).
    crate::sync::seqcst_order();
}

/// Mark termination's check, with GC operations stopped and no worker running: if no grey
/// item is left anywhere, closes the shade buffer, clears `MARKING` and returns true.
/// Otherwise marking must go on (returns false).
pub(crate) fn try_finish() -> bool {
    let mut b = shades();
    if !b.items.is_empty() || !WORK.injector.is_empty() || !WORK.large.is_empty() {
        return false;
    }
    // No grey object left: the ephemerons whose key is now marked make their values grey
    // (`ephemeron.rs`); if any did, marking goes on.
    if ephemeron_round() {
        return false;
    }
    b.active = false;
    WORK.marked_bytes
        .fetch_add(std::mem::take(&mut b.marked_bytes), Ordering::Relaxed);
    SHADES_PENDING.store(false, Ordering::SeqCst);
    MARKING.store(false, Ordering::SeqCst);
    true
}

/// One round of the ephemeron fixed point (`ephemeron.rs`): greys the values of entries
/// whose key is marked and that were not traced yet this cycle; returns whether it found
/// any. The cycle runs it concurrently before it stops operations, then `try_finish` once
/// more with them stopped.
pub(crate) fn ephemeron_round() -> bool {
    if !super::ephemeron::any() {
        return false;
    }
    let local = LocalQueue::private();
    let mut tracer = Tracer::new(&local);
    let traced = super::ephemeron::trace_round(&mut tracer);
    tracer.flush();
    tracer.hand_over();
    flush_local(&local);
    traced
}

/// What one mark phase found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MarkResult {
    /// Bytes marked: traced, shaded and allocated black (the next cycle's base heap).
    pub marked_bytes: u64,
    /// Bytes scanned (the pacer's heap scan work).
    pub scanned_bytes: u64,
    /// Root-counter bytes scanned (the pacer's root scan work).
    pub root_bytes: u64,
}

/// The totals of the phase that `try_finish` just ended (caches flushed, so every black
/// allocation is counted).
pub(crate) fn result() -> MarkResult {
    MarkResult {
        marked_bytes: WORK.marked_bytes.load(Ordering::Relaxed)
            + HEAP.allocated_black.swap(0, Ordering::Relaxed),
        scanned_bytes: WORK.scan_work.load(Ordering::Relaxed),
        root_bytes: WORK.root_work.load(Ordering::Relaxed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_drainer_takes_the_shade_buffer_one_batch_at_a_time() {
        for (len, takes) in [
            (0, vec![0]),
            (3, vec![3, 0]),
            (SHADE_BATCH, vec![SHADE_BATCH, 0]),
            (SHADE_BATCH + 1, vec![SHADE_BATCH, 1, 0]),
            (2 * SHADE_BATCH + 5, vec![SHADE_BATCH, SHADE_BATCH, 5, 0]),
        ] {
            let mut items: Vec<usize> = (1..=len).collect();
            let mut seen = Vec::new();
            for want in takes {
                let mut batch = [0usize; SHADE_BATCH];
                let n = take_last(&mut items, &mut batch);
                assert_eq!(n, want, "buffer of {len}");
                seen.extend_from_slice(&batch[..n]);
            }
            // Every item taken exactly once, none left behind.
            assert!(items.is_empty());
            seen.sort_unstable();
            assert_eq!(seen, (1..=len).collect::<Vec<_>>(), "buffer of {len}");
        }
    }
}
