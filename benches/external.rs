//! What `CountingAllocator` adds to an allocation: `alloc` + `dealloc` of 64 bytes through
//! `std::alloc::System` and through `CountingAllocator::system()`, called directly (a bench
//! binary has one global allocator; calling both through `GlobalAlloc` compares them in one
//! process).
//!
//! ```text
//! cargo bench --bench external -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! 1000 pairs per iteration (criterion's time is per 1000). The counting adds two relaxed
//! atomic adds on the thread's shard per allocation and one per free, plus a cold trigger
//! check every 256 KiB of growth (never reached here: each pair frees what it allocated).

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use gc_core::CountingAllocator;
use std::alloc::{GlobalAlloc, Layout, System};

const BATCH: usize = 1000;

fn pairs<A: GlobalAlloc>(a: &A) {
    let layout = Layout::from_size_align(64, 8).expect("layout");
    for _ in 0..BATCH {
        // SAFETY: a valid non-zero layout; the block is freed with the same layout.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            black_box(p).write(1);
            a.dealloc(p, layout);
        }
    }
}

fn alloc_free(c: &mut Criterion) {
    let mut g = c.benchmark_group("alloc_free_64");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function(BenchmarkId::from_parameter("system"), |b| {
        b.iter(|| pairs(&System))
    });
    let counting = CountingAllocator::system();
    g.bench_function(BenchmarkId::from_parameter("counting"), |b| {
        b.iter(|| pairs(&counting))
    });
    g.finish();
}

criterion_group!(benches, alloc_free);
criterion_main!(benches);
