//! `GcCell` writes and reads, the way user code writes them, against `RefCell` in an `Rc`
//! and `Mutex` (for reads also `RwLock`) in an `Arc`.
//!
//! ```text
//! cargo bench --bench cell -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Every case does 1000 operations per iteration (criterion's time is per 1000; the
//! throughput line gives operations per second). Each cell is the whole object:
//! `Gc<GcCell<..>>` against `Rc<RefCell<..>>` and `Arc<Mutex<..>>`, holding handles of the
//! same kind (`Gc`, `Rc`, `Arc`) to one pre-built node with a `u64` payload.
//!
//! - `push`: `list.borrow_mut().push(node.clone())` 1000 times into a
//!   `Gc<GcCell<Vec<Gc<Node>>>>`, then one `list.borrow_mut().clear()` (the clear, 1000
//!   handle drops, is part of the time). `rc`: `RefCell<Vec<Rc<Node>>>`; `arc_mutex`:
//!   `Mutex<Vec<Arc<Node>>>` with `lock().unwrap()`.
//! - `assign`: `*cell.borrow_mut() = Some(node.clone())` on a small cell
//!   (`Gc<GcCell<Option<Gc<Node>>>>`), dropping the previous value.
//! - `replace`: `cell.replace(Some(node.clone()))`, dropping the returned value
//!   (`RefCell::replace`; `Option::replace` through the `Mutex` guard).
//! - `read`: `cell.borrow().as_ref().map_or(0, |n| n.value)`, summed (`arc_mutex` and
//!   `arc_rwlock`: `GcCell::borrow` is a shared read lock, like `RwLock::read`).
//!
//! **What the `gc` figures include.** `GcCell` is a reader-writer lock with atomic
//! operations (shareable across threads, like the `Arc` peers and unlike `RefCell`); a `Gc`
//! clone or drop is an atomic root-count update. No collection runs during the bench
//! (nothing is allocated in the collected heap), so `borrow_mut` is its O(1) path: the
//! cell's first writes (in warm-up) rooted its contents and recorded it as dirty (a small
//! value's first write of a cycle turns it back into edges at the guard's release, the
//! second leaves it rooted), and it stays rooted until a cycle's unroot pass. Those first
//! writes after each cycle (O(contents)) and the unroot pass are not in these figures. `replace` never roots the
//! contents: its cell has not been written through `borrow_mut`, so it is an edge cell and
//! every `replace` roots the old value and turns the new one into an edge (the write
//! barrier of `barrier.rs`, here with no collection running).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gc_core::{Gc, GcCell, Trace};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex, RwLock};

const BATCH: usize = 1000;

#[derive(Trace)]
struct GcNode {
    value: u64,
}

struct Node {
    value: u64,
}

fn push(c: &mut Criterion) {
    let mut g = c.benchmark_group("cell_push");
    g.throughput(Throughput::Elements(BATCH as u64));
    let node = Gc::new(GcNode { value: 1 });
    let list: Gc<GcCell<Vec<Gc<GcNode>>>> = Gc::new(GcCell::new(Vec::with_capacity(BATCH)));
    g.bench_function(BenchmarkId::from_parameter("gc"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                list.borrow_mut().push(node.clone());
            }
            black_box(&list).borrow_mut().clear();
        })
    });
    let node = Rc::new(Node { value: 1 });
    let list: Rc<RefCell<Vec<Rc<Node>>>> = Rc::new(RefCell::new(Vec::with_capacity(BATCH)));
    g.bench_function(BenchmarkId::from_parameter("rc"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                list.borrow_mut().push(node.clone());
            }
            black_box(&list).borrow_mut().clear();
        })
    });
    let node = Arc::new(Node { value: 1 });
    let list: Arc<Mutex<Vec<Arc<Node>>>> = Arc::new(Mutex::new(Vec::with_capacity(BATCH)));
    g.bench_function(BenchmarkId::from_parameter("arc_mutex"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                list.lock().unwrap().push(node.clone());
            }
            black_box(&list).lock().unwrap().clear();
        })
    });
    g.finish();
}

fn assign(c: &mut Criterion) {
    let mut g = c.benchmark_group("cell_assign");
    g.throughput(Throughput::Elements(BATCH as u64));
    let node = Gc::new(GcNode { value: 1 });
    let cell: Gc<GcCell<Option<Gc<GcNode>>>> = Gc::new(GcCell::new(None));
    g.bench_function(BenchmarkId::from_parameter("gc"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                *black_box(&cell).borrow_mut() = Some(node.clone());
            }
        })
    });
    let node = Rc::new(Node { value: 1 });
    let cell: Rc<RefCell<Option<Rc<Node>>>> = Rc::new(RefCell::new(None));
    g.bench_function(BenchmarkId::from_parameter("rc"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                *black_box(&cell).borrow_mut() = Some(node.clone());
            }
        })
    });
    let node = Arc::new(Node { value: 1 });
    let cell: Arc<Mutex<Option<Arc<Node>>>> = Arc::new(Mutex::new(None));
    g.bench_function(BenchmarkId::from_parameter("arc_mutex"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                *black_box(&cell).lock().unwrap() = Some(node.clone());
            }
        })
    });
    g.finish();
}

fn replace(c: &mut Criterion) {
    let mut g = c.benchmark_group("cell_replace");
    g.throughput(Throughput::Elements(BATCH as u64));
    let node = Gc::new(GcNode { value: 1 });
    let cell: Gc<GcCell<Option<Gc<GcNode>>>> = Gc::new(GcCell::new(None));
    g.bench_function(BenchmarkId::from_parameter("gc"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                drop(black_box(&cell).replace(Some(node.clone())));
            }
        })
    });
    let node = Rc::new(Node { value: 1 });
    let cell: Rc<RefCell<Option<Rc<Node>>>> = Rc::new(RefCell::new(None));
    g.bench_function(BenchmarkId::from_parameter("rc"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                drop(black_box(&cell).replace(Some(node.clone())));
            }
        })
    });
    let node = Arc::new(Node { value: 1 });
    let cell: Arc<Mutex<Option<Arc<Node>>>> = Arc::new(Mutex::new(None));
    g.bench_function(BenchmarkId::from_parameter("arc_mutex"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                drop(black_box(&cell).lock().unwrap().replace(node.clone()));
            }
        })
    });
    g.finish();
}

fn read(c: &mut Criterion) {
    let mut g = c.benchmark_group("cell_read");
    g.throughput(Throughput::Elements(BATCH as u64));
    let cell = Gc::new(GcCell::new(Some(Gc::new(GcNode { value: 1 }))));
    g.bench_function(BenchmarkId::from_parameter("gc"), |b| {
        b.iter(|| {
            let mut sum = 0;
            for _ in 0..BATCH {
                sum += black_box(&cell).borrow().as_ref().map_or(0, |n| n.value);
            }
            sum
        })
    });
    let cell = Rc::new(RefCell::new(Some(Rc::new(Node { value: 1 }))));
    g.bench_function(BenchmarkId::from_parameter("rc"), |b| {
        b.iter(|| {
            let mut sum = 0;
            for _ in 0..BATCH {
                sum += black_box(&cell).borrow().as_ref().map_or(0, |n| n.value);
            }
            sum
        })
    });
    let cell = Arc::new(Mutex::new(Some(Arc::new(Node { value: 1 }))));
    g.bench_function(BenchmarkId::from_parameter("arc_mutex"), |b| {
        b.iter(|| {
            let mut sum = 0;
            for _ in 0..BATCH {
                sum += black_box(&cell)
                    .lock()
                    .unwrap()
                    .as_ref()
                    .map_or(0, |n| n.value);
            }
            sum
        })
    });
    let cell = Arc::new(RwLock::new(Some(Arc::new(Node { value: 1 }))));
    g.bench_function(BenchmarkId::from_parameter("arc_rwlock"), |b| {
        b.iter(|| {
            let mut sum = 0;
            for _ in 0..BATCH {
                sum += black_box(&cell)
                    .read()
                    .unwrap()
                    .as_ref()
                    .map_or(0, |n| n.value);
            }
            sum
        })
    });
    g.finish();
}

criterion_group!(benches, push, assign, replace, read);
criterion_main!(benches);
