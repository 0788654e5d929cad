//! The drain loop (Go's `gcDrain`), shared by the background workers (`workers.rs`) and
//! the mark assists (`assist.rs`): where a drainer finds its next grey item (`find_task`:
//! its local queue, the injector, the large-object list, the mutator shade buffer, the
//! other workers' queues), how it scans one (an object, an oblet of a huge slice
//! (`oblets.rs`), or a root job: a span address tagged by `queue_root_jobs`), and how it
//! offers work to the others (`Tracer::lend`, `balance`, `flush_local`).
//!
//! Invariants: `drain` returns with its prefetch FIFO empty, and with its tracer's buffer
//! empty or handed over to the local queue; an assist leaves to the background workers
//! (`WORK.large`) every object over `OBLET_SIZE` that is not a slice, unscanned, and every
//! object in which it met a large edge cell, to be scanned again whole; a panic in a
//! `Trace` impl while marking is fatal (`or_die`).
//!
//! Shared state: the queues in `WORK` (lock-free grey lists, `grey_list.rs`), a drainer's
//! local queue (`local_queue.rs`), the shade buffer (its mutex, `shade.rs`). A root job's
//! span stays valid: no span is freed while marking. Where grey items live and how marking
//! ends: `mark.rs`'s header. See the collector overview (`crate::design::collector`).

use super::grey_list::BUF_ITEMS;
use super::local_queue::LocalQueue;
use super::mark::WORK;
use super::oblets::{opaque_huge, scan_huge, OBLET_SIZE};
use super::prefetch_fifo::{is_near, PrefetchFifo};
use super::shade::{take_shades, SHADES_PENDING, SHADE_BATCH};
use super::tracer::Tracer;
use crate::alloc::span::SpanPtr;
use crate::sync::Ordering;
use crossbeam_deque::{Steal, Stealer};

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
