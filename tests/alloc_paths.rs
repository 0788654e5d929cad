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

/// `Gc::new` moves a value into its slot three ways: from registers (16 bytes or less), in
/// 8-byte words (up to 64 bytes aligned to 8), or by `memcpy`. Each way must carry every
/// field (padding around them), turn the handles inside into edges, and leave exactly one
/// value to drop.
#[test]
fn values_of_every_layout_move_into_the_heap_whole() {
    use gc_core::GcCell;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Counted(u16);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[derive(Trace)]
    struct Regs(u8, Gc<u64>); // 16 bytes or less: registers
    #[derive(Trace)]
    struct Words {
        // 17-64 bytes, aligned to 8, with padding: words
        a: u8,
        cell: GcCell<Option<Gc<u64>>>,
        b: u32,
        #[trace(skip)]
        c: Counted,
        d: u64,
    }
    #[derive(Trace)]
    struct Big {
        // over 64 bytes: memcpy
        words: [u64; 7],
        child: Gc<u64>,
        #[trace(skip)]
        c: Counted,
    }
    #[derive(Trace)]
    struct Packed4 {
        // aligned to 4: memcpy
        v: [u32; 5],
        #[trace(skip)]
        c: Counted,
        tail: u8,
    }

    use std::mem::{align_of, size_of};
    assert!(size_of::<Regs>() <= 16);
    assert!((17..=64).contains(&size_of::<Words>()) && align_of::<Words>() == 8);
    assert!(size_of::<Big>() > 64 && align_of::<Packed4>() == 4);
    let n = 2000u64;
    let before = DROPS.load(Ordering::Relaxed);
    let regs: Vec<Gc<Regs>> = (0..n).map(|i| Gc::new(Regs(i as u8, Gc::new(i)))).collect();
    let words: Vec<Gc<Words>> = (0..n)
        .map(|i| {
            Gc::new(Words {
                a: i as u8,
                cell: GcCell::new(Some(Gc::new(i * 3))),
                b: i as u32 ^ 0xdead_beef,
                c: Counted(i as u16),
                d: !i,
            })
        })
        .collect();
    let bigs: Vec<Gc<Big>> = (0..n)
        .map(|i| {
            Gc::new(Big {
                words: [i; 7],
                child: Gc::new(i + 1),
                c: Counted(i as u16),
            })
        })
        .collect();
    let packed: Vec<Gc<Packed4>> = (0..n)
        .map(|i| {
            Gc::new(Packed4 {
                v: [i as u32; 5],
                c: Counted(i as u16),
                tail: i as u8 ^ 0x5a,
            })
        })
        .collect();
    assert_eq!(DROPS.load(Ordering::Relaxed), before, "moved, not dropped");
    // The children are reachable only through the objects now: they must be edges.
    gc_core::collect();
    gc_core::collect();
    for i in 0..n as usize {
        let x = i as u64;
        assert_eq!((regs[i].0, *regs[i].1), (x as u8, x));
        let w = &words[i];
        let child = w.cell.borrow().as_ref().map(|g| **g);
        assert_eq!(
            (w.a, child, w.b, w.c.0, w.d),
            (x as u8, Some(x * 3), x as u32 ^ 0xdead_beef, x as u16, !x)
        );
        assert_eq!(
            (bigs[i].words, *bigs[i].child, bigs[i].c.0),
            ([x; 7], x + 1, x as u16)
        );
        let p = &packed[i];
        assert_eq!(
            (p.v, p.c.0, p.tail),
            ([x as u32; 5], x as u16, x as u8 ^ 0x5a)
        );
    }
    drop((regs, words, bigs, packed));
    let want = before + 3 * n as usize;
    for _ in 0..100 {
        gc_core::collect();
        if DROPS.load(Ordering::Relaxed) >= want {
            break;
        }
        std::thread::yield_now();
    }
    assert_eq!(
        DROPS.load(Ordering::Relaxed),
        want,
        "each value dropped once"
    );
}
