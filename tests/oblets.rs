//! Huge slices are marked in oblets (Go's 128 KiB pieces, `gc/oblets.rs`): every element of a
//! slice over 128 KiB stays reachable through the slice across back-to-back cycles while
//! this thread rewrites cells inside it and allocates (so its assists take oblets too).
//! Elements are 24 bytes, so some straddle an oblet boundary. The check runs in child
//! processes under `GODEBUG=gccheckmark=1` (a mark that missed an element aborts the child,
//! naming it) and `clobberfree=1` (an element freed while reachable reads as poison), at a
//! low `GOGC` so that cycles follow each other closely. Run one by hand:
//! `GC_CORE_TEST_CHILD=1 GODEBUG=gccheckmark=1 GOMAXPROCS=2 GOGC=10 cargo test --test
//! oblets -- --exact child_rewrite --nocapture`.

mod common;

use common::child::{is_child, run_all};
use gc_core::{Gc, GcCell, Trace};
use std::sync::atomic::{AtomicBool, Ordering};

/// 24 bytes: one handle fixed at the start, one replaced through a cell.
#[derive(Trace)]
struct Elem {
    fixed: Gc<u64>,
    cell: GcCell<Option<Gc<u64>>>,
}

/// Elements: 1.2 MB, ten oblets.
const N: usize = 50_000;
/// Full collections the other thread runs while this one writes.
const CYCLES: usize = 30;

/// Checks every element: `fixed` is its index, `cell` holds its index plus a multiple of `N`.
fn check(s: &Gc<[Elem]>) {
    for (i, e) in s.iter().enumerate() {
        assert_eq!(*e.fixed, i as u64, "element {i}: fixed handle");
        let v = e.cell.borrow().as_ref().map(|g| **g);
        assert_eq!(v.map(|v| v % N as u64), Some(i as u64), "element {i}: cell");
    }
}

#[test]
fn child_rewrite() {
    if !is_child() {
        return;
    }
    let s: Gc<[Elem]> = (0..N)
        .map(|i| Elem {
            fixed: Gc::new(i as u64),
            cell: GcCell::new(Some(Gc::new(i as u64))),
        })
        .collect();
    // The elements' values are reachable through the slice only.
    let done = AtomicBool::new(false);
    let mut round = 1u64;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..CYCLES {
                gc_core::collect();
            }
            done.store(true, Ordering::SeqCst);
        });
        while !done.load(Ordering::SeqCst) {
            // Every seventh cell gets a fresh value: the old one becomes garbage, the new
            // one is reachable through a slice the marker may be halfway through.
            for i in (round as usize % 7..N).step_by(7) {
                s[i].cell.set(Some(Gc::new(i as u64 + round * N as u64)));
            }
            // Garbage of other shapes, so this thread assists.
            let junk: Vec<Gc<[u64; 4]>> = (0..2_000).map(|k| Gc::new([k; 4])).collect();
            drop(junk);
            round += 1;
        }
    });
    gc_core::collect();
    check(&s);
    println!("PROBE_OK rounds={round}");
}

#[test]
fn every_element_of_a_huge_slice_survives_concurrent_cycles() {
    if is_child() {
        return;
    }
    let godebug: [&[u8]; 2] = [b"gccheckmark=1", b"clobberfree=1"];
    let jobs: Vec<Vec<(&str, &[u8])>> = godebug
        .iter()
        .map(|&g| {
            vec![
                ("GODEBUG", g),
                ("GOMAXPROCS", b"2".as_slice()),
                ("GOGC", b"10"),
            ]
        })
        .collect();
    for (run, g) in run_all("child_rewrite", &jobs, &[]).iter().zip(godebug) {
        run.assert_succeeded(&format!("GODEBUG={}", String::from_utf8_lossy(g)));
    }
}
