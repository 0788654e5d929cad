//! Tests of the recycle cache (a child of `recycle.rs`): a kept block comes back only for
//! its exact layout and allocator type, last in first out (unaligned links included), a
//! thread's and all threads' bounds, and a stale bin giving way to another layout.
//!
//! Each test runs on threads of its own, so that each starts with a fresh table, and frees
//! what it kept before it ends. The tests that keep blocks take turns (`take_turn`, which
//! `remote_free_tests.rs` takes too): `KEPT_ALL`, the threads' sum, is shared by every
//! thread (an atomic), and one test fills it. See the allocator overview
//! (`crate::design::allocator`).

use super::*;
use std::alloc::System;

/// Blocks kept on this thread, by bin, and their bytes.
fn kept() -> ([usize; BINS], usize) {
    local::with(|cell| {
        let t = cell.get();
        let mut n = [0; BINS];
        if t.is_null() {
            return (n, 0);
        }
        // SAFETY: this thread's table, read only; its lists are well formed.
        let t = unsafe { &*t };
        for (i, b) in t.bins.iter().enumerate() {
            let mut p = b.head;
            while !p.is_null() {
                n[i] += 1;
                // SAFETY: as above.
                p = unsafe { p.cast::<*mut u8>().read_unaligned() };
            }
        }
        (n, t.kept)
    })
    .unwrap()
}

/// Offers one block to this thread's table, as a drain does.
///
/// # Safety
///
/// As [`Keeper::keep`], for an `A`.
unsafe fn put<A: GlobalAlloc + 'static>(inner: &A, ptr: *mut u8, layout: Layout) -> bool {
    // SAFETY: forwarded.
    with_keeper(inner, |k| k.is_some_and(|k| unsafe { k.keep(ptr, layout) }))
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// Tests that keep blocks take turns: [`KEPT_ALL`] is shared, and one test fills it.
static SERIAL: crate::sync::Mutex<()> = crate::sync::Mutex::new(());

pub(crate) fn take_turn() -> crate::sync::MutexGuard<'static, ()> {
    SERIAL.lock()
}

/// Runs `f` on a thread of its own (a fresh table), releasing what it kept after.
fn on_own_thread(f: impl FnOnce() + Send + 'static) {
    let _turn = take_turn();
    std::thread::spawn(move || {
        f();
        release_here();
        assert_eq!(kept().1, 0);
    })
    .join()
    .unwrap();
}

#[test]
fn a_kept_block_comes_back_only_for_its_exact_layout() {
    on_own_thread(|| {
        let (l48, l44) = (layout(48, 8), layout(44, 4));
        // SAFETY: valid layouts; each block is given up to `put` or freed.
        unsafe {
            let p = System.alloc(l48);
            assert!(put(&System, p, l48));
            assert_eq!(
                kept(),
                (
                    {
                        let mut n = [0; BINS];
                        n[5] = 1;
                        n
                    },
                    48
                )
            );
            // Same bin, other layout: neither kept nor handed out.
            assert!(take::<System>(l44).is_null());
            let q = System.alloc(l44);
            assert!(!put(&System, q, l44));
            System.dealloc(q, l44);
            // Too small, too large, or too aligned: never kept.
            for l in [layout(4, 4), layout(MAX_SIZE + 1, 8), layout(64, 64)] {
                let r = System.alloc(l);
                assert!(!put(&System, r, l));
                System.dealloc(r, l);
            }
            // The exact layout gets the block back, once.
            assert_eq!(take::<System>(l48), p);
            assert!(take::<System>(l48).is_null());
            assert_eq!(kept().1, 0);
            System.dealloc(p, l48);
        }
    });
}

#[test]
fn blocks_come_back_last_in_first_out_and_unaligned_ones_too() {
    on_own_thread(|| {
        // Align 1: the link is written unaligned where the block allows no better.
        let l = layout(13, 1);
        // SAFETY: valid layout; every block is given up to `put` and taken back.
        unsafe {
            let blocks: Vec<*mut u8> = (0..100).map(|_| System.alloc(l)).collect();
            for &p in &blocks {
                assert!(put(&System, p, l));
            }
            assert_eq!(kept().1, 1300);
            for &p in blocks.iter().rev() {
                assert_eq!(take::<System>(l), p);
                System.dealloc(p, l);
            }
            assert!(take::<System>(l).is_null());
        }
    });
}

#[test]
fn a_thread_keeps_at_most_max_kept_bytes() {
    on_own_thread(|| {
        let l = layout(MAX_SIZE, 8);
        let fits = MAX_KEPT / MAX_SIZE;
        // SAFETY: valid layout; each block is given up to `put` or freed.
        unsafe {
            for n in 0..fits + 3 {
                let p = System.alloc(l);
                let kept_it = put(&System, p, l);
                assert_eq!(kept_it, n < fits, "block {n}");
                if !kept_it {
                    System.dealloc(p, l);
                }
            }
        }
        assert_eq!(kept().1, fits * MAX_SIZE);
    });
}

#[test]
fn threads_together_keep_about_max_kept_all_bytes() {
    use std::sync::{mpsc, Barrier};
    let turn = take_turn();
    let l = layout(MAX_SIZE, 8);
    let per_thread = MAX_KEPT / MAX_SIZE;
    assert_eq!(
        MAX_KEPT_ALL,
        2 * MAX_KEPT,
        "two full threads fill the bound"
    );
    let done = std::sync::Arc::new(Barrier::new(3));
    let (tx, rx) = mpsc::channel();
    // Two threads keep `MAX_KEPT` each, publish, and hold on until the third checked.
    let holders: Vec<_> = (0..2)
        .map(|_| {
            let (done, tx) = (done.clone(), tx.clone());
            std::thread::spawn(move || {
                // SAFETY: valid layout; each block is given up to the table.
                unsafe {
                    for _ in 0..per_thread {
                        assert!(put(&System, System.alloc(l), l));
                    }
                }
                with_keeper(&System, |k| k.unwrap().publish());
                tx.send(()).unwrap();
                done.wait();
                release_here();
            })
        })
        .collect();
    rx.recv().unwrap();
    rx.recv().unwrap();
    std::thread::spawn(move || {
        // `MAX_KEPT_ALL` is published already: a new table may keep nothing.
        // SAFETY: valid layout; the block is freed when not kept.
        unsafe {
            let p = System.alloc(l);
            assert!(!put(&System, p, l), "kept past the threads' bound");
            System.dealloc(p, l);
        }
        release_here();
    })
    .join()
    .unwrap();
    done.wait();
    for h in holders {
        h.join().unwrap();
    }
    drop(turn);
}

#[test]
fn a_stale_bin_gives_way_to_the_layout_asked_for() {
    on_own_thread(|| {
        let (old, new) = (layout(40, 8), layout(36, 4));
        // SAFETY: valid layouts; each block is given up to `put` or freed.
        unsafe {
            let p = System.alloc(old);
            assert!(put(&System, p, old));
            for _ in 0..STALE_AFTER {
                assert!(take::<System>(new).is_null());
            }
            // The old block is freed, the bin now keeps the new layout.
            let q = System.alloc(new);
            assert!(put(&System, q, new));
            assert_eq!(kept().1, 36);
            assert_eq!(take::<System>(new), q);
            System.dealloc(q, new);
        }
    });
}

#[test]
fn blocks_of_another_allocator_type_are_not_mixed_in() {
    /// Frees through `Other`, so that its code differs from `System`'s.
    static OTHER_FREES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    /// A zero-sized allocator of its own type (System underneath).
    struct Other;
    // SAFETY: forwards to System.
    unsafe impl GlobalAlloc for Other {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            // SAFETY: forwarded.
            unsafe { System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            OTHER_FREES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // SAFETY: forwarded.
            unsafe { System.dealloc(p, l) }
        }
    }
    on_own_thread(|| {
        let l = layout(32, 8);
        // SAFETY: valid layout; each block is given up to `put` or freed.
        unsafe {
            let p = System.alloc(l);
            assert!(put(&System, p, l));
            // The table is System's: Other's blocks are not kept, nor is System's
            // block handed to Other.
            let q = Other.alloc(l);
            assert!(!put(&Other, q, l));
            Other.dealloc(q, l);
            assert!(take::<Other>(l).is_null());
            assert_eq!(take::<System>(l), p);
            System.dealloc(p, l);
        }
    });
}
