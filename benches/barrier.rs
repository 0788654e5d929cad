//! The write barrier: `AtomicGc::store`/`swap` and `GcCell::replace` on fields of a heap
//! object, with no collection running (`idle`) and while a mark is in progress (`marking`).
//!
//! ```text
//! cargo bench --bench barrier -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every case does 1000 operations per iteration (criterion's time is per 1000; the
//! throughput line gives operations per second), on the fields of one
//! `Gc<Holder { slot: AtomicGc<Leaf>, cell: GcCell<Option<Gc<Leaf>>> }>`. Both fields are
//! inside the heap, so they are heap edges and every write goes through the barrier: the
//! old value leaves the heap (its object gains a root count), the new one joins it (loses
//! one); while marking, both objects are also shaded (Go's hybrid barrier).
//!
//! - `store`: `holder.slot.store(Some(leaf.clone()))`, alternating two leaves: a clone (a
//!   root count), the barrier, and dropping the old value (a root count back).
//! - `swap`: `held = holder.slot.swap(held.take())` (`held: Option<Gc<Leaf>>`): the
//!   handle moves in and the old one out, no clone or drop; the barrier alone plus the
//!   atomic swap.
//! - `replace`: `held = holder.cell.replace(held.take())`: the same through the
//!   cell's write lock. (`replace` keeps a heap cell an edge cell: it never goes on the
//!   dirty list; `cell.rs` measures `borrow_mut`.)
//!
//! **While marking.** The bench holds a mark in progress for the `marking` cases: a
//! hand-written `Trace` impl on a gate object (a `Gc<Gate>` the bench keeps alive) blocks
//! the mark worker that traces it until the bench releases it, while a background thread
//! waits in `collect()`. So marking is certainly in progress for every timed operation.
//! The two leaves are shaded by the first operations and then stay marked: the figures are
//! the steady-state barrier while marking (the `MARKING` check, the shade finding the
//! object already marked), not the cost of greying a new object. The forced cycle's other
//! mark workers, out of work, back off to 50 us sleeps; on a 2-core machine they and the
//! coordinator's millisecond tick still take a little CPU from the bench thread.
//! No `Gc` allocation happens while the mark is held, so there are no mark assists.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gc_core::{AtomicGc, Gc, GcCell, Trace, Tracer};
use std::sync::{Condvar, Mutex};
use std::thread::{self, ThreadId};

const BATCH: usize = 1000;

#[derive(Trace)]
struct Leaf {
    value: u64,
}

#[derive(Trace)]
struct Holder {
    slot: AtomicGc<Leaf>,
    cell: GcCell<Option<Gc<Leaf>>>,
}

/// Holds the mark worker that traces it until `open`; never the bench thread itself (it
/// allocates nothing while the gate is armed, but a mark assist must not block it).
struct Gate(#[allow(dead_code)] u64);

#[derive(Default)]
struct GateState {
    armed: bool,
    entered: bool,
    open: bool,
}

static GATE: Mutex<GateState> = Mutex::new(GateState {
    armed: false,
    entered: false,
    open: false,
});
static GATE_CV: Condvar = Condvar::new();
static BENCH_THREAD: Mutex<Option<ThreadId>> = Mutex::new(None);

// SAFETY: `Gate` holds no `Gc`: nothing to report, root or unroot. Its `trace` only waits
// (on a lock no collector code holds) for the bench thread, which opens the gate without
// waiting for the collector.
unsafe impl Trace for Gate {
    fn needs_trace() -> bool {
        true
    }
    fn trace(&self, _tracer: &mut Tracer) {
        if *BENCH_THREAD.lock().unwrap() == Some(thread::current().id()) {
            return;
        }
        let mut s = GATE.lock().unwrap();
        if !s.armed {
            return;
        }
        s.armed = false;
        s.entered = true;
        GATE_CV.notify_all();
        while !s.open {
            s = GATE_CV.wait(s).unwrap();
        }
    }
    unsafe fn root(&mut self) {}
    unsafe fn unroot(&mut self) {}
}

/// Starts a forced cycle on a background thread and returns once a mark worker is held in
/// the gate; `release` ends it.
fn hold_mark() -> thread::JoinHandle<()> {
    *GATE.lock().unwrap() = GateState {
        armed: true,
        ..GateState::default()
    };
    let collector = thread::spawn(gc_core::collect);
    let mut s = GATE.lock().unwrap();
    while !s.entered {
        s = GATE_CV.wait(s).unwrap();
    }
    collector
}

fn release(collector: thread::JoinHandle<()>) {
    GATE.lock().unwrap().open = true;
    GATE_CV.notify_all();
    collector.join().unwrap();
}

fn cases(c: &mut Criterion, state: &str, holder: &Gc<Holder>, a: &Gc<Leaf>, b: &Gc<Leaf>) {
    let mut g = c.benchmark_group("barrier");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function(BenchmarkId::new("store", state), |bn| {
        bn.iter(|| {
            for _ in 0..BATCH / 2 {
                holder.slot.store(Some(black_box(a).clone()));
                holder.slot.store(Some(black_box(b).clone()));
            }
        })
    });
    let mut held = Some(a.clone());
    holder.slot.store(Some(b.clone()));
    g.bench_function(BenchmarkId::new("swap", state), |bn| {
        bn.iter(|| {
            for _ in 0..BATCH {
                held = black_box(holder.slot.swap(held.take()));
            }
        })
    });
    holder.cell.set(Some(b.clone()));
    g.bench_function(BenchmarkId::new("replace", state), |bn| {
        bn.iter(|| {
            for _ in 0..BATCH {
                held = black_box(holder.cell.replace(held.take()));
            }
        })
    });
    g.finish();
    drop(held);
}

fn barrier(c: &mut Criterion) {
    *BENCH_THREAD.lock().unwrap() = Some(thread::current().id());
    let a = Gc::new(Leaf { value: 1 });
    let b = Gc::new(Leaf { value: 2 });
    let holder = Gc::new(Holder {
        slot: AtomicGc::new(None),
        cell: GcCell::new(None),
    });
    let gate = Gc::new(Gate(0));
    gc_core::collect();
    cases(c, "idle", &holder, &a, &b);
    let collector = hold_mark();
    cases(c, "marking", &holder, &a, &b);
    release(collector);
    drop(gate);
}

criterion_group!(benches, barrier);
criterion_main!(benches);
