//! The `Tracer` (Go's `gcWork`): what user `Trace` impls report their handles to, and,
//! while marking, the draining thread's own buffer of grey items (`Tracer::buf`) in front
//! of its local queue (`local_queue.rs`). The same type serves the walks that do not mark:
//! `gccheckmark`'s (`checkmark.rs`), the unroot pass's (`dirty.rs`) and the move-in's
//! count of a cell's edges (`move_in.rs`).
//!
//! Invariant: a grey item is never lost. The buffer overflows into the local queue, lends
//! half to the injector when that runs dry, is moved into the local queue whenever `drain`
//! returns (`drain.rs`), and a tracer dropped with items hands them to the injector.
//!
//! Shared state: none of its own. A tracer belongs to the thread that drains with it, and
//! its buffer and counts are plain memory (no atomics or fences per item); `flush` adds the
//! counts to the cycle's totals in `WORK` (relaxed atomics, `mark.rs`), and the items it
//! hands over go to the local queue and the injector, which synchronise themselves. Where
//! grey items live and how marking ends: `mark.rs`'s header. See the collector overview
//! (`crate::design::collector`).

use super::checkmark::Checker;
use super::local_queue::LocalQueue;
use super::mark::WORK;
use super::span_cache::SpanCache;
use crate::sync::Ordering;

/// The edges of one chunk of a large list's scan: a `GcCell`'s contents, whose lock the
/// marker lets go between two chunks (`Trace::trace_chunk`), so that a thread that reads
/// or writes the cell waits for one chunk, not for the whole list; and a `Vec` directly in
/// an object, whose chunks a worker banks as credit and an assist stops after
/// (`list_chunk_done`). One under loom, so that the models see a scan resumed.
pub(crate) const CHUNK_EDGES: u64 = if cfg!(gc_loom) { 1 } else { 4096 };

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
    pub(super) assist: bool,
    /// Set by an assist's tracer that met a large edge cell: the object being scanned goes
    /// to the background workers' list.
    pub(super) deferred: bool,
    /// Edges seen (wrapping; only differences are read): while marking, a `GcCell` counts
    /// its contents' by them; a counting tracer counts from 0 (`count_to`, `counted`).
    edges: u64,
    /// A counting tracer's target: once `edges` reaches it, containers may stop giving
    /// edges (`counted_enough`). `u64::MAX` for every other tracer.
    enough: u64,
    marked_bytes: u64,
    /// How many `GcCell`s' contents the walk is inside (`enter_cell`): a cell nested in
    /// another's contents may be moved by that one's writer, so it is not recorded to be
    /// rooted again after a forced cycle (`reroot.rs`).
    cell_depth: u32,
    /// The span of the last object this tracer looked up (`span_cache.rs`).
    pub(super) spans: SpanCache,
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

    /// A tracer that marks nothing and only counts the edges it is given (`count_to`,
    /// `counted`): the test of a cell's size (`move_in::count_edges`).
    pub(crate) fn counting() -> Tracer {
        Tracer::blank(std::ptr::null())
    }

    /// Starts a count from 0 on a counting tracer, which containers may stop once it
    /// reaches `enough` (`Trace::trace_counting`).
    pub(crate) fn count_to(&mut self, enough: u64) {
        debug_assert!(self.queue.is_null(), "a marking tracer's edges: edges_seen");
        self.edges = 0;
        self.enough = enough;
    }

    /// Edges given to a counting tracer since `count_to`.
    pub(crate) fn counted(&self) -> u64 {
        debug_assert!(self.queue.is_null(), "a marking tracer's edges: edges_seen");
        self.edges
    }

    /// Whether a counting tracer has reached its target (never for any other tracer): a
    /// container's `Trace::trace_counting` stops there.
    #[inline(always)]
    pub(crate) fn counted_enough(&self) -> bool {
        self.edges >= self.enough
    }

    /// Between two chunks of a large list's scan (`GcCell::trace_rest`), `edges` the edges
    /// the last chunk gave: they count as scan work (8 bytes each, what a slice of handles
    /// in Go's heap would cost its marker: the list's buffer is outside this heap), and a
    /// background worker banks its work so far for the assists that wait for credit and
    /// lends half of a long buffer to the injector. Otherwise a list scanned by a worker
    /// paid no credit until its object was done, and an assist at the heap goal waited
    /// all that time (5-13 ms with 2.8 million handles, `GODEBUG=stalltrace=1`). An
    /// assist's own tracer keeps its work (its drain settles its debt with it).
    pub(crate) fn between_chunks(&mut self, edges: u64) {
        if self.queue.is_null() {
            return;
        }
        self.scanned_bytes += edges * 8;
        if !self.assist {
            super::assist::add_background_credit(self.flush());
            self.lend();
        }
    }

    /// At the end of a chunk of `edges` edges of a list outside the heap that is not inside
    /// a cell's contents (a `Vec` in an object: `trace_elements!`; a cell's list is chunked
    /// and banked by the cell, `GcCell::trace_rest`): true if the scan is to stop here, an
    /// assist's, whose object then goes to the background workers to be scanned whole
    /// (`deferred`, as for an object holding a large edge cell: an assist's scan of a list
    /// of millions stalled its allocation for milliseconds); otherwise false, a worker's
    /// chunk banked (`between_chunks`).
    pub(crate) fn list_chunk_done(&mut self, edges: u64) -> bool {
        if self.queue.is_null() || self.cell_depth > 0 {
            return false;
        }
        if self.assist {
            self.deferred = true;
            return true;
        }
        self.between_chunks(edges);
        false
    }

    /// Edges given so far (wrapping: subtract with `wrapping_sub`), for
    /// [`chunk_full`](Self::chunk_full).
    #[inline(always)]
    pub(crate) fn edge_count(&self) -> u64 {
        self.edges
    }

    /// Whether the edges given since `start` (an [`edge_count`](Self::edge_count)) fill a
    /// chunk of a list's scan (`Trace::trace_chunk`): [`CHUNK_EDGES`].
    #[inline(always)]
    pub(crate) fn chunk_full(&self, start: u64) -> bool {
        self.edges.wrapping_sub(start) >= CHUNK_EDGES
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
            enough: u64::MAX,
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
    pub(super) fn lend(&mut self) {
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

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::*;

    /// Between two chunks of a list's scan, the chunk's handles count as scan work, 8 bytes
    /// each: a background worker's tracer banks it at once (its counts flushed, so assists
    /// waiting for credit get it), an assist's keeps it for its own debt, and a tracer that
    /// does not mark counts nothing.
    #[test]
    fn a_chunk_of_a_list_is_scan_work_banked_by_workers() {
        let queue = LocalQueue::private();
        let mut worker = Tracer::new(&queue);
        worker.scanned_bytes = 100;
        worker.between_chunks(4096);
        assert_eq!(worker.scanned_bytes, 0, "a worker banks its work");
        let mut assist = Tracer::new(&queue);
        assist.assist = true;
        assist.between_chunks(4096);
        assert_eq!(assist.scanned_bytes, 4096 * 8, "an assist keeps it");
        let mut counting = Tracer::counting();
        counting.between_chunks(4096);
        assert_eq!(counting.scanned_bytes, 0);
    }

    /// A chunk of a list outside the heap and outside any cell (a `Vec` in an object):
    /// an assist stops there and leaves the object to the workers, a worker banks it and
    /// goes on; inside a cell's contents the cell's own chunks do both, and a tracer that
    /// does not mark just goes on.
    #[test]
    fn a_chunk_of_a_vec_stops_an_assist_and_is_banked_by_a_worker() {
        let queue = LocalQueue::private();
        let mut assist = Tracer::new(&queue);
        assist.assist = true;
        assert!(assist.list_chunk_done(4096), "an assist stops");
        assert!(assist.deferred, "and defers the object to the workers");
        let mut worker = Tracer::new(&queue);
        worker.scanned_bytes = 100;
        assert!(!worker.list_chunk_done(4096));
        assert_eq!(
            (worker.scanned_bytes, worker.deferred),
            (0, false),
            "banked"
        );
        let mut in_cell = Tracer::new(&queue);
        in_cell.assist = true;
        in_cell.enter_cell();
        assert!(!in_cell.list_chunk_done(4096));
        assert_eq!((in_cell.scanned_bytes, in_cell.deferred), (0, false));
        assert!(!Tracer::counting().list_chunk_done(4096));
    }
}
