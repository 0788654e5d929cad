//! Driven with zero-sized test allocators used directly (never installed): each keeps
//! the blocks it served and records every free, and where it happened. The queue is
//! process-wide, so the tests take turns (`SERIAL`).

use super::*;
use crate::sync::Mutex;
use std::alloc::System;

static SERIAL: Mutex<()> = Mutex::new(());

/// A test's turn: at the process-wide queue, and (glibc targets) among the tests that
/// keep blocks in recycle caches, whose bound all threads share.
struct Turn {
    _queue: crate::sync::MutexGuard<'static, ()>,
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    _keeping: crate::sync::MutexGuard<'static, ()>,
}

/// Takes this test's turn, starting with nothing pending and no spare batch (which an
/// earlier test's allocator would still book as live).
fn take_turn() -> Turn {
    let turn = Turn {
        _queue: SERIAL.lock(),
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        _keeping: recycle::tests::take_turn(),
    };
    drain();
    release_spares();
    turn
}

/// What test allocator `ID` saw.
struct Book {
    /// Blocks served and not freed yet.
    live: Vec<(usize, Layout)>,
    /// Frees made on a thread that defers its frees.
    freed_on_deferring: usize,
    /// Frees made elsewhere.
    freed_elsewhere: usize,
    /// Frees of a block not live, or with another layout.
    bad: usize,
    /// The next allocation of a batch's layout fails.
    fail_batches: bool,
}

#[allow(clippy::declare_interior_mutable_const)] // only as an array initialiser
const EMPTY: Mutex<Book> = Mutex::new(Book {
    live: Vec::new(),
    freed_on_deferring: 0,
    freed_elsewhere: 0,
    bad: 0,
    fail_batches: false,
});
static BOOKS: [Mutex<Book>; 3] = [EMPTY; 3];

/// A zero-sized allocator over `System` that books everything in `BOOKS[ID]`.
struct TestAlloc<const ID: usize>;

// SAFETY: forwards to `System`; the bookkeeping allocates through the global allocator
// (not this one: it is never installed).
unsafe impl<const ID: usize> GlobalAlloc for TestAlloc<ID> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut book = BOOKS[ID].lock();
        if book.fail_batches && layout == Layout::new::<Batch>() {
            return ptr::null_mut();
        }
        // SAFETY: the caller's contract.
        let p = unsafe { System.alloc(layout) };
        book.live.push((p as usize, layout));
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let mut book = BOOKS[ID].lock();
        match book.live.iter().position(|&(p, _)| p == ptr as usize) {
            Some(i) if book.live[i].1 == layout => {
                book.live.swap_remove(i);
                if untracked::defer_frees() {
                    book.freed_on_deferring += 1;
                } else {
                    book.freed_elsewhere += 1;
                }
                // SAFETY: served by `System` with this layout, freed once (unbooked).
                unsafe { System.dealloc(ptr, layout) };
            }
            _ => book.bad += 1,
        }
    }
}

fn reset<const ID: usize>() {
    let mut book = BOOKS[ID].lock();
    assert!(book.live.is_empty(), "blocks left from an earlier test");
    book.freed_on_deferring = 0;
    book.freed_elsewhere = 0;
    book.bad = 0;
    book.fail_batches = false;
}

/// Allocates `n` blocks of assorted layouts from `a`.
fn blocks<A: GlobalAlloc>(a: &A, n: usize) -> Vec<(*mut u8, Layout)> {
    (0..n)
        .map(|i| {
            let layout = Layout::from_size_align(8 + i % 300, 1 << (i % 5)).unwrap();
            // SAFETY: non-zero size.
            let p = unsafe { a.alloc(layout) };
            assert!(!p.is_null());
            (p, layout)
        })
        .collect()
}

/// Runs `f` on a new thread that defers its frees; `flush`es before it ends.
fn on_deferring_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    crate::sync::thread::scope(|s| {
        s.spawn(|| {
            defer_here();
            let r = f();
            flush();
            r
        })
        .join()
        .unwrap()
    })
}

/// Blocks to free on another thread.
struct Blocks(Vec<(*mut u8, Layout)>);
// SAFETY: the blocks are owned by the vector, which moves between threads whole.
unsafe impl Send for Blocks {}

/// Queues the free of every block of `all` (served by `TestAlloc::<ID>`) on a new
/// deferring thread.
fn defer_all<const ID: usize>(all: Blocks) {
    on_deferring_thread(move || {
        let all = all;
        for (p, l) in all.0 {
            // SAFETY: served by this allocator with this layout, given up here.
            assert!(unsafe { defer(&TestAlloc::<ID>, p, l) });
        }
    });
}

fn book<const ID: usize>() -> (usize, usize, usize, usize) {
    let b = BOOKS[ID].lock();
    (b.live.len(), b.freed_on_deferring, b.freed_elsewhere, b.bad)
}

#[test]
fn frees_on_a_deferring_thread_are_made_by_the_next_drain_elsewhere() {
    let _serial = take_turn();
    reset::<0>();
    reset::<1>();
    let n = 1000;
    // Two allocators, interleaved: each batch is for one of them.
    let (a0, a1) = (TestAlloc::<0>, TestAlloc::<1>);
    let mut b0 = blocks(&a0, n);
    let mut b1 = blocks(&a1, n / 2);
    let mut all: Vec<(bool, *mut u8, Layout)> = Vec::new();
    // In runs of 100 (a switch of allocator starts a batch: staying under the bound).
    while !b0.is_empty() || !b1.is_empty() {
        for (p, l) in b0.drain(b0.len().saturating_sub(100)..) {
            all.push((false, p, l));
        }
        for (p, l) in b1.drain(b1.len().saturating_sub(100)..) {
            all.push((true, p, l));
        }
    }
    struct Blocks(Vec<(bool, *mut u8, Layout)>);
    // SAFETY: the blocks are owned by the vector, which moves between threads whole.
    unsafe impl Send for Blocks {}
    let all = Blocks(all);
    on_deferring_thread(move || {
        let all = all;
        for (one, p, l) in all.0 {
            // SAFETY: each block was served by that allocator with that layout and is
            // given up here.
            let queued = unsafe {
                if one {
                    defer(&TestAlloc::<1>, p, l)
                } else {
                    defer(&TestAlloc::<0>, p, l)
                }
            };
            assert!(queued);
        }
    });
    // Nothing was freed on the deferring thread; the blocks and their batches are live.
    let (live0, on0, _, bad0) = book::<0>();
    let (live1, on1, _, bad1) = book::<1>();
    assert_eq!((on0, on1, bad0, bad1), (0, 0, 0, 0));
    assert!(live0 > n && live1 > n / 2, "{live0} {live1}");
    assert!(PENDING.load(Relaxed) > 0);
    // This thread does not defer: its next allocation's check drains everything.
    drain();
    release_spares();
    let (live0, on0, else0, bad0) = book::<0>();
    let (live1, on1, else1, bad1) = book::<1>();
    assert_eq!((live0, on0, bad0), (0, 0, 0));
    assert_eq!((live1, on1, bad1), (0, 0, 0));
    // Every block once, plus the batches.
    assert!(else0 > n && else1 > n / 2, "{else0} {else1}");
    assert_eq!(PENDING.load(Relaxed), 0);
}

#[test]
fn a_mutators_drain_keeps_small_blocks_for_its_next_allocations() {
    let _serial = take_turn();
    reset::<2>();
    // On a thread of its own, so that the recycle cache starts empty and is freed.
    crate::sync::thread::scope(|s| {
        s.spawn(|| {
            let a = TestAlloc::<2>;
            let small = Layout::from_size_align(64, 8).unwrap();
            let large = Layout::from_size_align(recycle::MAX_SIZE + 8, 8).unwrap();
            let all = Blocks(
                (0..100)
                    .map(|i| {
                        let l = if i % 2 == 0 { small } else { large };
                        // SAFETY: a non-zero size.
                        (unsafe { a.alloc(l) }, l)
                    })
                    .collect(),
            );
            defer_all::<2>(all);
            // A mutator's drain (as `CountingAllocator<TestAlloc<2>>::alloc` makes it):
            // the large blocks are freed, the small ones kept.
            drain_if_pending(&a);
            let (live, _, elsewhere, bad) = book::<2>();
            assert_eq!((elsewhere, bad), (50, 0));
            assert_eq!(
                live,
                50 + 1 + 1,
                "50 kept blocks, the spare batch, the table"
            );
            // The next 50 allocations of the small layout are the kept blocks.
            for _ in 0..50 {
                let p = recycle::take::<TestAlloc<2>>(small);
                assert!(!p.is_null());
                // SAFETY: a block of this allocator and layout, now ours.
                unsafe { a.dealloc(p, small) };
            }
            assert!(recycle::take::<TestAlloc<2>>(small).is_null());
            recycle::release_here();
        })
        .join()
        .unwrap();
    });
    release_spares();
    let (live, _, _, bad) = book::<2>();
    assert_eq!((live, bad), (0, 0));
}

#[test]
fn a_mutators_exit_frees_the_blocks_it_kept() {
    let _serial = take_turn();
    reset::<2>();
    let small = Layout::from_size_align(24, 8).unwrap();
    let all = Blocks(
        (0..10)
            // SAFETY: non-zero size.
            .map(|_| (unsafe { TestAlloc::<2>.alloc(small) }, small))
            .collect(),
    );
    defer_all::<2>(all);
    crate::sync::thread::scope(|s| {
        s.spawn(|| {
            drain_if_pending(&TestAlloc::<2>);
            let (live, _, elsewhere, _) = book::<2>();
            assert_eq!(
                (live, elsewhere),
                (10 + 1 + 1, 0),
                "kept, spare batch, table"
            );
            // The thread ends without taking them back.
        })
        .join()
        .unwrap();
    });
    release_spares();
    let (live, _, elsewhere, bad) = book::<2>();
    assert_eq!(
        (live, elsewhere, bad),
        (0, 10 + 1 + 1, 0),
        "the blocks and the table at the thread's exit, the spare batch after"
    );
}

#[test]
fn past_the_bound_the_publisher_drains() {
    let _serial = take_turn();
    reset::<0>();
    let a = TestAlloc::<0>;
    let n = (MAX_PENDING + 4) * BATCH_LEN;
    let all = Blocks(blocks(&a, n));
    let most = on_deferring_thread(move || {
        let all = all;
        let mut most = 0;
        for (p, l) in all.0 {
            // SAFETY: served by `a` with this layout, given up here.
            assert!(unsafe { defer(&TestAlloc::<0>, p, l) });
            most = most.max(PENDING.load(Relaxed));
        }
        most
    });
    assert!(most <= MAX_PENDING + 1, "{most} batches pending");
    let (_, on, _, bad) = book::<0>();
    // The publisher drained the first MAX_PENDING + 1 batches itself.
    assert_eq!(bad, 0);
    assert!(on >= MAX_PENDING * BATCH_LEN, "{on} frees on the publisher");
    drain();
    release_spares();
    let (live, _, _, bad) = book::<0>();
    assert_eq!((live, bad), (0, 0));
}

#[test]
fn large_blocks_bound_the_bytes_pending() {
    let _serial = take_turn();
    reset::<1>();
    let a = TestAlloc::<1>;
    // 64 KiB blocks: four fill a batch's bytes; 40 batches' worth pass the byte bound.
    let l = Layout::from_size_align(64 << 10, 8).unwrap();
    let n = 4 * 40;
    // SAFETY: non-zero sizes.
    let all: Vec<usize> = (0..n).map(|_| unsafe { a.alloc(l) } as usize).collect();
    let big = Layout::from_size_align(BATCH_BYTES, 8).unwrap();
    // SAFETY: as above.
    let huge = unsafe { a.alloc(big) } as usize;
    let (most, huge_queued) = on_deferring_thread(move || {
        let mut most = 0;
        for p in all {
            // SAFETY: served by `a` with this layout, given up here.
            assert!(unsafe { defer(&TestAlloc::<1>, p as *mut u8, l) });
            most = most.max(PENDING_BYTES.load(Relaxed));
        }
        // SAFETY: served by `a` with this layout; given up only if queued.
        let queued = unsafe { defer(&TestAlloc::<1>, huge as *mut u8, big) };
        if !queued {
            // SAFETY: not queued: still ours.
            unsafe { TestAlloc::<1>.dealloc(huge as *mut u8, big) };
        }
        (most, queued)
    });
    assert!(!huge_queued, "a block of BATCH_BYTES was queued");
    assert!(
        most <= MAX_PENDING_BYTES + BATCH_BYTES,
        "{} KiB pending",
        most >> 10
    );
    let (_, on, _, bad) = book::<1>();
    assert_eq!(bad, 0);
    assert!(on > n / 2, "{on} frees on the publisher");
    drain();
    release_spares();
    let (live, _, _, bad) = book::<1>();
    assert_eq!((live, bad), (0, 0));
    assert_eq!(PENDING_BYTES.load(Relaxed), 0);
}

#[test]
fn without_a_batch_the_free_is_made_at_once() {
    let _serial = take_turn();
    reset::<2>();
    let a = TestAlloc::<2>;
    let (p, l) = blocks(&a, 1)[0];
    BOOKS[2].lock().fail_batches = true;
    let p = p as usize;
    let queued = on_deferring_thread(move || {
        // SAFETY: served by `a` with this layout; given up only if queued.
        unsafe { defer(&TestAlloc::<2>, p as *mut u8, l) }
    });
    assert!(!queued);
    assert_eq!(PENDING.load(Relaxed), 0);
    // SAFETY: not queued: still ours to free.
    unsafe { a.dealloc(p as *mut u8, l) };
    let (live, _, _, bad) = book::<2>();
    assert_eq!((live, bad), (0, 0));
}

/// Blocks of `Batch`'s layout that allocator `ID` served and nobody freed yet.
fn live_batches<const ID: usize>() -> usize {
    let b = BOOKS[ID].lock();
    b.live
        .iter()
        .filter(|(_, l)| *l == Layout::new::<Batch>())
        .count()
}

#[test]
fn drained_batches_are_reused_not_freed_and_allocated_again() {
    let _serial = take_turn();
    reset::<0>();
    // Three rounds of one full batch each: queued on a deferring thread, drained here.
    for round in 0..3 {
        let all = Blocks(blocks(&TestAlloc::<0>, BATCH_LEN));
        defer_all::<0>(all);
        drain();
        // The one batch there ever was is kept as a spare: the deferring thread never
        // allocated another, and the draining thread never freed it.
        assert_eq!(live_batches::<0>(), 1, "round {round}");
    }
    release_spares();
    let (live, _, _, bad) = book::<0>();
    assert_eq!((live, bad), (0, 0));
}

#[test]
fn only_deferring_threads_and_stateless_allocators_defer() {
    let _serial = SERIAL.lock();
    /// An allocator with state: its frees are never queued.
    struct Stateful(#[allow(dead_code)] u8);
    // SAFETY: forwards to `System`.
    unsafe impl GlobalAlloc for Stateful {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: the caller's contract.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: the caller's contract.
            unsafe { System.dealloc(ptr, layout) }
        }
    }
    let l = Layout::new::<u64>();
    let a = Stateful(7);
    let queued = on_deferring_thread(|| {
        // SAFETY: a fresh block, given up only if queued.
        unsafe {
            let p = a.alloc(l);
            let queued = defer(&a, p, l);
            if !queued {
                a.dealloc(p, l);
            }
            queued
        }
    });
    assert!(!queued);
    // This thread does not defer.
    // SAFETY: as above.
    unsafe {
        let p = System.alloc(l);
        assert!(!defer(&System, p, l));
        System.dealloc(p, l);
    }
}
