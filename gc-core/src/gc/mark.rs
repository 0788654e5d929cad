//! Marking: grey work queues, parallel drain with work stealing, termination detection,
//! and the `Tracer` user `Trace` impls talk to.
//!
//! Colours (Go's): white = mark bit clear; grey = mark bit set and the object queued; black
//! = marked and scanned. Noscan objects go straight to black. The work list is explicit
//! (crossbeam-deque: one LIFO worker per marking thread, a global injector, stealers), so
//! marking a 10-million-node list needs no recursion.
//!
//! A queue item is an object address, or a span address with bit 0 set: "scan this span's
//! root counters" (root-scan jobs, so the root scan is parallel too).
//!
//! Termination: a worker that finds no work anywhere increments `idle`; marking is done when
//! `idle == workers` and no queue, stealer or mutator shade buffer holds anything. Only a
//! non-idle worker creates work, so once all are idle none appears, except mutator shades,
//! which are either redundant (the object is reachable from marked objects) or pushed
//! before a non-idle worker can observe the cell state that makes them necessary (see
//! `GcCell::trace`). See the collector overview in `crate::gc`.

use super::roots::{locate, MARKING};
use crate::alloc::heap::{SpanPtr, HEAP};
use crate::sync::{AtomicBool, AtomicU64, AtomicUsize, Backoff, Mutex, Ordering};
use crossbeam_deque::{Injector, Steal, Stealer, Worker};

/// Handed to [`Trace::trace`](crate::Trace::trace): report each `Gc` you hold to it.
pub struct Tracer {
    worker: *const Worker<usize>,
    marked_bytes: u64,
    marked_objects: u64,
    scanned_bytes: u64,
}

impl Tracer {
    /// Shades the object containing `addr`: marks it and queues it for scanning.
    #[inline]
    pub(crate) fn edge(&mut self, addr: usize) {
        let (s, idx) = locate(addr);
        if s.mark(idx) {
            self.marked_bytes += s.elemsize as u64;
            self.marked_objects += 1;
            if !s.spanclass.noscan() {
                // SAFETY: the worker outlives the tracer (both live in `drain`).
                unsafe { (*self.worker).push(s.slot_addr(idx)) };
            }
        }
    }
}

/// Shades pushed by mutators while marking (rooting during marking, invariant I2).
struct ShadeBuffer {
    active: bool,
    items: Vec<usize>,
}

static SHADES: Mutex<ShadeBuffer> = Mutex::new(ShadeBuffer {
    active: false,
    items: Vec::new(),
});
static SHADES_PENDING: AtomicBool = AtomicBool::new(false);

fn shades() -> crate::sync::MutexGuard<'static, ShadeBuffer> {
    SHADES.lock().unwrap_or_else(|e| e.into_inner())
}

/// Bytes marked by mutators' shades this cycle.
static MUTATOR_MARKED: AtomicU64 = AtomicU64::new(0);

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
        MUTATOR_MARKED.fetch_add(s.elemsize as u64, Ordering::Relaxed);
        if !s.spanclass.noscan() {
            b.items.push(s.slot_addr(idx));
            SHADES_PENDING.store(true, Ordering::SeqCst);
        }
    }
}

/// State shared by the marking threads of one cycle.
struct Shared {
    injector: Injector<usize>,
    stealers: Vec<Stealer<usize>>,
    idle: AtomicUsize,
    workers: usize,
    done: AtomicBool,
    marked_bytes: AtomicU64,
    marked_objects: AtomicU64,
    scanned_bytes: AtomicU64,
}

impl Shared {
    fn has_work(&self) -> bool {
        !self.injector.is_empty()
            || SHADES_PENDING.load(Ordering::SeqCst)
            || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Go's `findRunnableGCWorker` loop for one worker, as in crossbeam-deque's docs:
    /// local, then a batch from the injector, then mutator shades, then steal.
    fn find_task(&self, local: &Worker<usize>) -> Option<usize> {
        if let Some(t) = local.pop() {
            return Some(t);
        }
        loop {
            match self.injector.steal_batch_and_pop(local) {
                Steal::Success(t) => return Some(t),
                Steal::Retry => continue,
                Steal::Empty => break,
            }
        }
        if SHADES_PENDING.load(Ordering::SeqCst) {
            let items = {
                let mut b = shades();
                SHADES_PENDING.store(false, Ordering::SeqCst);
                std::mem::take(&mut b.items)
            };
            for a in items {
                local.push(a);
            }
            if let Some(t) = local.pop() {
                return Some(t);
            }
        }
        loop {
            let mut retry = false;
            for s in &self.stealers {
                match s.steal_batch_and_pop(local) {
                    Steal::Success(t) => return Some(t),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }
}

/// Queue item tag (objects and spans are 8-byte aligned, so the low bits are free).
const ROOT_JOB_TAG: usize = 1;

fn process(item: usize, tracer: &mut Tracer) {
    if item & ROOT_JOB_TAG != 0 {
        // SAFETY: root jobs are queued only for in-use spans, and spans are not freed
        // while the world is stopped.
        let s =
            unsafe { SpanPtr::from_raw((item & !ROOT_JOB_TAG) as *const crate::alloc::span::Span) };
        s.for_each_root(|idx| tracer.edge(s.slot_addr(idx)));
    } else {
        scan_object(item, tracer);
    }
}

/// Blackens a grey object: runs its type's trace function.
fn scan_object(addr: usize, tracer: &mut Tracer) {
    let (s, idx) = locate(addr);
    // SAFETY: the object is marked, so allocated; the world is stopped for GC operations,
    // so no owner writes the span's type table.
    let ty = unsafe { s.type_of(idx) };
    tracer.scanned_bytes += s.elemsize as u64;
    // SAFETY: `ty` is the descriptor recorded for this very object.
    unsafe { (ty.trace)(addr as *const u8, tracer) };
}

fn drain(shared: &Shared, local: &Worker<usize>) {
    let mut tracer = Tracer {
        worker: local,
        marked_bytes: 0,
        marked_objects: 0,
        scanned_bytes: 0,
    };
    'work: loop {
        while let Some(item) = shared.find_task(local) {
            process(item, &mut tracer);
        }
        shared.idle.fetch_add(1, Ordering::SeqCst);
        let mut backoff = Backoff::default();
        loop {
            if shared.done.load(Ordering::SeqCst) {
                break 'work;
            }
            if shared.has_work() {
                shared.idle.fetch_sub(1, Ordering::SeqCst);
                continue 'work;
            }
            if shared.idle.load(Ordering::SeqCst) == shared.workers && !shared.has_work() {
                shared.done.store(true, Ordering::SeqCst);
                break 'work;
            }
            backoff.snooze();
        }
    }
    shared
        .marked_bytes
        .fetch_add(tracer.marked_bytes, Ordering::Relaxed);
    shared
        .marked_objects
        .fetch_add(tracer.marked_objects, Ordering::Relaxed);
    shared
        .scanned_bytes
        .fetch_add(tracer.scanned_bytes, Ordering::Relaxed);
}

/// Runs marking work where a panic (from a `Trace` impl) is fatal at once: the heap's
/// colours are then unknown, and the other workers would wait for this one for ever. Go's
/// marker throws on faults too.
fn or_die<R>(work: impl FnOnce() -> R) -> R {
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

/// What one mark phase found.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct MarkResult {
    pub marked_bytes: u64,
    pub marked_objects: u64,
    pub scanned_bytes: u64,
}

/// Marks everything reachable from the roots with `workers` threads (this one included).
/// Runs with the world stopped for GC operations; returns with `MARKING` clear.
pub(crate) fn mark_heap(workers: usize) -> MarkResult {
    let workers = workers.max(1);
    let locals: Vec<Worker<usize>> = (0..workers).map(|_| Worker::new_lifo()).collect();
    let shared = Shared {
        injector: Injector::new(),
        stealers: locals.iter().map(|w| w.stealer()).collect(),
        idle: AtomicUsize::new(0),
        workers,
        done: AtomicBool::new(false),
        marked_bytes: AtomicU64::new(0),
        marked_objects: AtomicU64::new(0),
        scanned_bytes: AtomicU64::new(0),
    };
    for s in HEAP.all_spans() {
        shared.injector.push(s.as_ptr() as usize | ROOT_JOB_TAG);
    }
    // Mark setup: from here on, rooting shades (roots.rs explains the ordering).
    debug_assert!(
        super::cycle::phase().marking(),
        "marking outside the Mark phase"
    );
    shades().active = true;
    MARKING.store(true, Ordering::SeqCst);

    let mut locals = locals.into_iter();
    let mine = locals.next().expect("at least one worker");
    crate::sync::thread::scope(|scope| {
        for w in locals {
            let shared = &shared;
            scope.spawn(move || or_die(|| drain(shared, &w)));
        }
        or_die(|| drain(&shared, &mine));
    });

    // Mark termination: stop accepting shades, then blacken whatever arrived last.
    let late = {
        let mut b = shades();
        b.active = false;
        SHADES_PENDING.store(false, Ordering::SeqCst);
        MARKING.store(false, Ordering::SeqCst);
        std::mem::take(&mut b.items)
    };
    let mut r = result(&shared);
    r.marked_bytes += MUTATOR_MARKED.swap(0, Ordering::Relaxed);
    if !late.is_empty() {
        let w = Worker::new_lifo();
        let mut tracer = Tracer {
            worker: &w,
            marked_bytes: 0,
            marked_objects: 0,
            scanned_bytes: 0,
        };
        for a in late {
            w.push(a);
        }
        or_die(|| {
            while let Some(item) = w.pop() {
                process(item, &mut tracer);
            }
        });
        r.marked_bytes += tracer.marked_bytes;
        r.marked_objects += tracer.marked_objects;
        r.scanned_bytes += tracer.scanned_bytes;
    }
    r
}

fn result(s: &Shared) -> MarkResult {
    MarkResult {
        marked_bytes: s.marked_bytes.load(Ordering::Relaxed),
        marked_objects: s.marked_objects.load(Ordering::Relaxed),
        scanned_bytes: s.scanned_bytes.load(Ordering::Relaxed),
    }
}
