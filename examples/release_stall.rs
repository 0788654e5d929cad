//! How long does an allocating thread wait while another thread gives memory back to the
//! OS? One thread fills `--mib` MiB (default 1024) of the heap with 1 MiB arrays, touching
//! every page, and drops them; after a collection those pages are free but resident. Then
//! a second thread allocates small objects in a loop and records its longest gap between
//! iterations, while the first calls `gc_core::free_os_memory()` (Go's
//! `debug.FreeOSMemory`), which releases every free page.
//!
//! ```text
//! cargo run --release --example release_stall -- [--mib N]
//! ```
//!
//! Output, one line:
//!
//! ```text
//! release_stall: mib=.. released_mib=.. free_os_memory_ms=.. max_gap_us=.. iterations=..
//! ```
//!
//! The pages are released in batches of 64 taken out of the free runs under the heap lock
//! and released without it, as Go does (`alloc/heap.rs`, `Heap::scavenge`); a thread that
//! needs a span meanwhile waits for a short hold of the lock, never for a release.

mod common;

use gc_core::Gc;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: release_stall [--mib N]";

fn main() -> ExitCode {
    let mut mib = 1024usize;
    if let Err(e) = common::parse_flags(USAGE, |flag, v| {
        match flag {
            "--mib" => mib = common::parse_value(v, "size", |&n| n >= 1)?,
            _ => return Ok(false),
        }
        Ok(true)
    }) {
        return common::usage_error("release_stall", USAGE, &e);
    }
    // Written element by element (`vec!` of a non-zero value), so every page is resident.
    let arrays: Vec<Gc<[u64]>> = (0..mib)
        .map(|i| Gc::from(vec![i as u64 | 1; 1 << 17]))
        .collect();
    drop(arrays);
    gc_core::collect();

    let stop = AtomicBool::new(false);
    let (release, (max_gap, iterations)) = std::thread::scope(|s| {
        let mutator = s.spawn(|| {
            let (mut max, mut n) = (Duration::ZERO, 0u64);
            let mut prev = Instant::now();
            while !stop.load(Ordering::Relaxed) {
                let v: Vec<Gc<[u64; 4]>> = (0..64).map(|i| Gc::new([i; 4])).collect();
                std::hint::black_box(&v);
                let now = Instant::now();
                max = max.max(now - prev);
                prev = now;
                n += 1;
            }
            (max, n)
        });
        // Let the mutator's caches warm up, then release while it runs.
        std::thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        gc_core::free_os_memory();
        let release = t.elapsed();
        std::thread::sleep(Duration::from_millis(100));
        stop.store(true, Ordering::Relaxed);
        (release, mutator.join().expect("mutator panicked"))
    });
    println!(
        "release_stall: mib={mib} released_mib={} free_os_memory_ms={:.1} max_gap_us={} iterations={iterations}",
        gc_core::mem_stats().heap_released >> 20,
        release.as_secs_f64() * 1e3,
        max_gap.as_micros(),
    );
    ExitCode::SUCCESS
}
