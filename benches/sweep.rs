//! Sweeping throughput: the `collect()` that frees a heap made only of garbage.
//!
//! ```text
//! cargo bench --bench sweep -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Automatic collection is off for the whole bench (`set_gc_percent(-1)`), so garbage
//! stays in the heap until the bench collects. Every timed iteration first allocates 16 MiB
//! of objects and drops every handle at once (untimed), then times one `collect()`, which
//! finds nothing live and frees them all. `Throughput::Elements` is the number of objects
//! freed per cycle, so criterion's throughput line is objects swept per second.
//!
//! - `noscan48_16MiB`: `Gc<[u8; 48]>` (48-byte size class, noscan spans), 349,525 objects.
//! - `u64_16MiB`: `Gc<u64>`, 2,097,152 objects. 8-byte noscan objects go through the tiny
//!   allocator: two share one 16-byte block, and the sweep frees blocks, not objects.
//! - `node_16MiB`: a garbage linked list of traced 16-byte nodes (`Option<Gc<Node>>` plus
//!   a `u64`; no user `Drop`, so each is dropped in place while swept), 1,048,576 objects.
//! - `no_garbage`: `collect()` with nothing allocated since the last one (no throughput):
//!   the fixed cost of a cycle that every other case also pays.
//!
//! **What the figure includes.** The whole `collect()`: the unroot pass, both pauses, the
//! root scan over every span (all of them garbage, none with a root), marking an empty live
//! set, mark termination, then the sweep of every span of the 16 MiB (freeing each object,
//! running the in-place drop glue of the traced nodes, returning the emptied spans to the
//! page heap). Allocating the garbage is not timed. Subtract `no_garbage` for the sweep
//! alone; it is small next to the 16 MiB cases.

use criterion::{black_box, criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use gc_core::{Gc, Trace};
use std::time::{Duration, Instant};

const HEAP: usize = 16 << 20;

#[derive(Trace)]
struct Node {
    next: Option<Gc<Node>>,
    value: u64,
}

fn noscan48(n: usize) {
    for i in 0..n {
        black_box(Gc::new([i as u8; 48]));
    }
}

fn u64s(n: usize) {
    for i in 0..n {
        black_box(Gc::new(i as u64));
    }
}

fn nodes(n: usize) {
    let mut head: Option<Gc<Node>> = None;
    for i in 0..n {
        head = Some(Gc::new(Node {
            next: head,
            value: i as u64,
        }));
    }
    drop(black_box(head));
}

/// Allocates `n` objects and leaves them all garbage.
type Garbage = fn(usize);

/// Times the `collect()` that frees the `n` objects `make` leaves as garbage.
fn free_cycle(iters: u64, n: usize, make: Garbage) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        make(n);
        let t = Instant::now();
        gc_core::collect();
        total += t.elapsed();
    }
    total
}

fn sweep(c: &mut Criterion) {
    let old = gc_core::set_gc_percent(-1);
    gc_core::collect();
    let mut g = c.benchmark_group("sweep");
    g.sample_size(10);
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function("no_garbage", |b| b.iter(gc_core::collect));
    let cases: [(&str, usize, Garbage); 3] = [
        ("noscan48_16MiB", HEAP / 48, noscan48),
        ("u64_16MiB", HEAP / 8, u64s),
        ("node_16MiB", HEAP / std::mem::size_of::<Node>(), nodes),
    ];
    for (name, n, make) in cases {
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| b.iter_custom(|iters| free_cycle(iters, n, make)));
    }
    g.finish();
    gc_core::set_gc_percent(old);
}

criterion_group!(benches, sweep);
criterion_main!(benches);
