//! Every allocation path hands out distinct, correctly aligned memory whose contents survive
//! collections and cache refills: tiny blocks, each size class, large objects, ZSTs, over-
//! aligned types.

use gc_core::{Gc, Trace};
use std::collections::HashSet;

#[test]
fn tiny_objects_share_blocks_but_never_overlap() {
    let bytes: Vec<Gc<u8>> = (0..5000u32).map(|i| Gc::new(i as u8)).collect();
    let words: Vec<Gc<u32>> = (0..5000u32).map(Gc::new).collect();
    gc_core::collect();
    let mut seen = HashSet::new();
    for (i, b) in bytes.iter().enumerate() {
        assert_eq!(**b, i as u8);
        assert!(seen.insert(Gc::as_ptr(b) as usize));
    }
    for (i, w) in words.iter().enumerate() {
        assert_eq!(**w, i as u32);
        assert_eq!(Gc::as_ptr(w) as usize % 4, 0, "u32 is 4-aligned");
        assert!(seen.insert(Gc::as_ptr(w) as usize));
    }
}

macro_rules! sized_round_trip {
    ($($n:expr),*) => {$(
        {
            // Enough objects to need several spans (cache refills) of this class.
            let objs: Vec<Gc<[u64; $n]>> = (0..3000u64).map(|i| Gc::new([i; $n])).collect();
            gc_core::collect();
            let mut addrs = HashSet::new();
            for (i, o) in objs.iter().enumerate() {
                assert!(o.iter().all(|&v| v == i as u64), "size {} object {i}", $n * 8);
                assert!(addrs.insert(Gc::as_ptr(o) as usize));
                assert_eq!(Gc::as_ptr(o) as usize % 8, 0);
            }
        }
    )*};
}

#[test]
fn small_classes_round_trip_through_refills_and_cycles() {
    sized_round_trip!(2, 3, 5, 9, 17, 33, 64, 129, 400);
}

#[test]
fn large_objects_get_their_own_pages() {
    let larges: Vec<Gc<[u64; 5000]>> = (0..20u64).map(|i| Gc::new([i; 5000])).collect();
    for _ in 0..20 {
        drop(Gc::new([0u64; 5000])); // garbage large objects
    }
    gc_core::collect();
    for (i, l) in larges.iter().enumerate() {
        assert_eq!(
            Gc::as_ptr(l) as usize % 8192,
            0,
            "large objects start a page"
        );
        assert!(l.iter().all(|&v| v == i as u64));
    }
}

#[test]
fn zero_sized_and_over_aligned_types() {
    #[derive(Trace, PartialEq, Debug)]
    struct Unit;
    #[derive(Trace)]
    #[repr(align(64))]
    struct Line {
        v: [u64; 3],
    }
    let units: Vec<Gc<Unit>> = (0..100).map(|_| Gc::new(Unit)).collect();
    let lines: Vec<Gc<Line>> = (0..1000u64).map(|i| Gc::new(Line { v: [i; 3] })).collect();
    gc_core::collect();
    assert!(units.iter().all(|u| **u == Unit));
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(Gc::as_ptr(l) as usize % 64, 0);
        assert_eq!(l.v, [i as u64; 3]);
    }
}
