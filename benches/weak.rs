//! Weak references: `Gc::downgrade` and `Weak::upgrade` beside `Arc::downgrade` and
//! `std::sync::Weak::upgrade`.
//!
//! ```text
//! cargo bench --bench weak -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! 1000 operations per iteration (criterion's time is per 1000), on one live object, with
//! no collection running. `downgrade` looks the object's weak target up in a sharded table
//! (a mutex and a map lookup) and clones an `Arc`; `upgrade` enters a GC operation, reads
//! the target and takes a root (an atomic add). The result of each is dropped at once, so
//! the figures include dropping a `Weak` (an `Arc` decrement) and a `Gc` (a root
//! decrement). `examples/weak_cache.rs` prints what weak references cost the collector.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gc_core::{Gc, Trace};
use std::sync::Arc;

const BATCH: usize = 1000;

#[derive(Trace)]
struct Node {
    id: u64,
    next: Option<Gc<Node>>,
}

struct Plain {
    _id: u64,
}

fn downgrade(c: &mut Criterion) {
    let mut g = c.benchmark_group("downgrade");
    g.throughput(Throughput::Elements(BATCH as u64));
    let node = Gc::new(Node { id: 1, next: None });
    g.bench_function(BenchmarkId::from_parameter("gc"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(Gc::downgrade(black_box(&node)));
            }
        })
    });
    let plain = Arc::new(Plain { _id: 1 });
    g.bench_function(BenchmarkId::from_parameter("arc"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(Arc::downgrade(black_box(&plain)));
            }
        })
    });
    g.finish();
    black_box(node.id);
}

fn upgrade(c: &mut Criterion) {
    let mut g = c.benchmark_group("upgrade");
    g.throughput(Throughput::Elements(BATCH as u64));
    let node = Gc::new(Node { id: 1, next: None });
    let weak = Gc::downgrade(&node);
    g.bench_function(BenchmarkId::from_parameter("gc"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(black_box(&weak).upgrade());
            }
        })
    });
    let plain = Arc::new(Plain { _id: 1 });
    let weak = Arc::downgrade(&plain);
    g.bench_function(BenchmarkId::from_parameter("arc"), |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                black_box(black_box(&weak).upgrade());
            }
        })
    });
    g.finish();
    black_box(node.id);
}

criterion_group!(benches, downgrade, upgrade);
criterion_main!(benches);
