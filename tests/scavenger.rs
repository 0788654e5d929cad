//! The scavenger and `free_os_memory()`: free heap pages go back to the OS, are counted as
//! `heap_released`, leave the process's RSS, and come back zero-cost and correct when the
//! heap reuses them. Runs in a child process (`tests/common/child.rs`, no runtime variables
//! set), alone in its heap, so the figures are exact.
//!
//! Run the child by hand: `GC_CORE_TEST_CHILD=1 cargo test --test scavenger -- --exact
//! child_release_and_reuse --nocapture`.

mod common;

use common::child::{is_child, run, MIB};
use gc_core::{free_os_memory, mem_stats, Gc};

const PAGE: u64 = 8192;
/// 256 KiB objects: large (their own spans), so dropping them frees whole page runs.
type Block = [u64; 32 * 1024];

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn fill(n: usize, salt: u64) -> Vec<Gc<Block>> {
    (0..n)
        .map(|i| {
            let v = Box::new([i as u64 ^ salt; 32 * 1024]);
            Gc::new(*v)
        })
        .collect()
}

fn check(blocks: &[Gc<Block>], salt: u64) {
    for (i, b) in blocks.iter().enumerate() {
        assert!(
            b.iter().all(|&w| w == i as u64 ^ salt),
            "block {i} corrupted"
        );
    }
}

#[test]
fn child_release_and_reuse() {
    if !is_child() {
        return;
    }
    // 64 MiB of live blocks, then garbage.
    let blocks = fill(256, 7);
    check(&blocks, 7);
    let rss_full = rss();
    drop(blocks);
    free_os_memory();
    let s = mem_stats();
    println!(
        "AFTER_FREE heap_sys={} heap_idle={} heap_released={} rss_drop_mib={}",
        s.heap_sys,
        s.heap_idle,
        s.heap_released,
        rss_full.saturating_sub(rss()) / MIB
    );
    assert!(s.heap_released <= s.heap_idle, "released more than is idle");
    assert!(
        s.heap_idle - s.heap_released <= PAGE,
        "free_os_memory left {} idle bytes unreleased",
        s.heap_idle - s.heap_released
    );
    assert!(
        s.heap_released >= 60 * MIB,
        "released only {}",
        s.heap_released
    );
    assert!(
        rss_full.saturating_sub(rss()) >= 48 * MIB,
        "RSS fell by only {} MiB",
        rss_full.saturating_sub(rss()) / MIB
    );

    // The released pages are reused: contents correct, counters move back.
    let again = fill(256, 9);
    check(&again, 9);
    let s2 = mem_stats();
    println!(
        "AFTER_REUSE heap_sys={} heap_released={}",
        s2.heap_sys, s2.heap_released
    );
    assert!(
        s2.heap_sys <= s.heap_sys + 8 * MIB,
        "the heap grew instead of reusing"
    );
    assert!(s2.heap_released + 60 * MIB <= s.heap_released + 8 * MIB);
    assert!(s2.heap_released <= s2.heap_idle);
    drop(again);
    free_os_memory();
    let s3 = mem_stats();
    assert!(s3.heap_idle - s3.heap_released <= PAGE);
    println!("DONE");
}

#[test]
fn free_os_memory_releases_idle_pages_and_they_are_reused() {
    if is_child() {
        return;
    }
    let out = run("child_release_and_reuse", &[], &[]);
    let stdout = &out.stdout;
    assert!(
        out.status.success() && stdout.contains("DONE"),
        "child failed:\n{stdout}\n{}",
        out.stderr
    );
}
