//! `gc_core::debug::heap_snapshot()` agrees with `mem_stats()`, is internally consistent
//! while another thread allocates, keeps one record per cycle, and works from a `Drop`.
//! The heap is process-wide: the tests of this binary take `SERIAL` so their counts are
//! not disturbed by each other.

mod common;

use common::with_watchdog;
use gc_core::debug::{heap_snapshot, HeapSnapshot, PageState, RETAINED_CYCLES};
use gc_core::{Gc, GcCell, Trace};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

#[derive(Trace)]
struct Node {
    left: Option<Gc<Node>>,
    right: Option<Gc<Node>>,
}

fn tree(depth: u32) -> Gc<Node> {
    if depth == 0 {
        Gc::new(Node {
            left: None,
            right: None,
        })
    } else {
        Gc::new(Node {
            left: Some(tree(depth - 1)),
            right: Some(tree(depth - 1)),
        })
    }
}

/// Every span lies in the arenas, they tile the arenas exactly in address order, the page
/// totals match the spans, and every count is possible.
fn check_consistent(s: &HeapSnapshot) {
    let p = s.page_size;
    assert!(!s.arenas.is_empty());
    assert!(s
        .arenas
        .windows(2)
        .all(|w| w[0].base + w[0].size <= w[1].base));
    // Contiguous segments of arena address space.
    let mut segments: Vec<(usize, usize)> = Vec::new();
    for a in &s.arenas {
        assert_eq!(a.pages * p, a.size);
        match segments.last_mut() {
            Some(last) if last.1 == a.base => last.1 += a.size,
            _ => segments.push((a.base, a.base + a.size)),
        }
    }
    let mut seg = segments.iter();
    let mut cur = seg.next().copied().unwrap();
    let mut at = cur.0;
    let (mut inuse, mut free, mut released, mut reserved) = (0, 0, 0, 0);
    for sp in &s.spans {
        if at == cur.1 {
            cur = *seg.next().expect("a span past the last arena");
            at = cur.0;
        }
        assert_eq!(sp.base, at, "spans overlap or leave a gap at {at:#x}");
        assert!(sp.pages > 0);
        at += sp.pages * p;
        assert!(at <= cur.1, "span at {:#x} runs past its arenas", sp.base);
        let a = &s.arenas[sp.arena];
        assert_eq!(a.base + sp.first_page * p, sp.base);
        match &sp.state {
            PageState::InUse(c) => {
                inuse += sp.pages;
                let n = c.allocated.expect("counts are read outside the collector");
                assert!(n <= c.capacity);
                assert_eq!(c.span_class, c.size_class << 1 | c.noscan as usize);
                if c.size_class == 0 {
                    assert_eq!((c.capacity, c.object_size), (1, sp.pages * p));
                } else {
                    assert!(c.capacity * c.object_size <= sp.pages * p);
                }
            }
            PageState::Free => free += sp.pages,
            PageState::Released => released += sp.pages,
            PageState::Reserved => reserved += sp.pages,
            _ => unreachable!("a new page state"),
        }
    }
    assert_eq!(at, cur.1, "the spans end before the last arena does");
    assert!(seg.next().is_none());
    assert_eq!(
        (inuse, free, released, reserved),
        (
            s.pages_in_use,
            s.pages_free,
            s.pages_released,
            s.pages_reserved
        )
    );
    let total: usize = s.arenas.iter().map(|a| a.pages).sum();
    assert_eq!(inuse + free + released + reserved, total);
}

#[test]
fn agrees_with_mem_stats_after_collect() {
    let _s = serial();
    with_watchdog("agrees with mem_stats", || {
        // A mix: scan trees, noscan arrays of several classes, large objects; then half
        // of it dropped so that some pages fall free.
        let trees: Vec<Gc<Node>> = (0..8).map(|_| tree(10)).collect();
        let small: Vec<Gc<[u64; 12]>> = (0..20_000).map(|i| Gc::new([i; 12])).collect();
        let large: Vec<Gc<[u8; 100_000]>> = (0..40).map(|_| Gc::new([1; 100_000])).collect();
        let texts: Vec<Gc<GcCell<String>>> = (0..5_000)
            .map(|i| Gc::new(GcCell::new(format!("{i}"))))
            .collect();
        let keep = (
            trees[..4].to_vec(),
            small[..5_000].to_vec(),
            large[..10].to_vec(),
        );
        drop((trees, small, large));

        for release in [false, true] {
            if release {
                gc_core::free_os_memory();
            } else {
                gc_core::collect();
            }
            // The background scavenger may release pages meanwhile (and only that: nothing
            // allocates): bracket the snapshot.
            let before = gc_core::mem_stats();
            let snap = heap_snapshot();
            let after = gc_core::mem_stats();
            check_consistent(&snap);
            assert_eq!(snap.heap_inuse(), before.heap_inuse);
            assert_eq!(snap.heap_inuse(), after.heap_inuse);
            assert_eq!(snap.heap_sys(), before.heap_sys);
            assert_eq!(snap.heap_idle(), before.heap_idle);
            assert!(before.heap_released <= snap.heap_released());
            assert!(snap.heap_released() <= after.heap_released);
            if release {
                assert_eq!(
                    snap.pages_free, 0,
                    "free_os_memory released every free page"
                );
                assert!(snap.pages_released > 0);
            }
            assert_eq!(snap.num_gc, before.num_gc);
            assert_eq!(snap.next_gc, before.next_gc);
            // Sweeping is over: the counts are the live objects, class by class.
            assert!(snap.in_use().all(|(_, c)| !c.unswept));
            let mut by_class = vec![0u64; before.by_size.len()];
            for (_, c) in snap.in_use() {
                by_class[c.size_class] += c.allocated.unwrap() as u64;
            }
            for (class, b) in before.by_size.iter().enumerate() {
                assert_eq!(by_class[class], b.mallocs - b.frees, "size class {class}");
            }
            assert_eq!(snap.allocated_bytes(), Some(before.heap_alloc));
            assert!(snap.in_use().any(|(_, c)| c.noscan && c.size_class > 0));
            assert!(snap.in_use().any(|(_, c)| !c.noscan && c.size_class > 0));
        }
        drop((keep, texts));
    });
}

#[test]
fn consistent_while_another_thread_allocates() {
    let _s = serial();
    with_watchdog("snapshots under allocation", || {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicUsize::new(0));
        let churn = {
            let (stop, rounds) = (stop.clone(), rounds.clone());
            std::thread::spawn(move || {
                let mut keep = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    keep.push(tree(8));
                    keep.push(tree(2));
                    drop(Gc::new([0u8; 70_000]));
                    if keep.len() > 40 {
                        keep.drain(..20);
                    }
                    rounds.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let mut last_sys = 0;
        let mut last_gc = 0;
        // At least 100 snapshots, and on until the other thread has done 200 rounds.
        let mut taken = 0;
        while taken < 100 || rounds.load(Ordering::Relaxed) < 200 {
            taken += 1;
            let snap = heap_snapshot();
            check_consistent(&snap);
            // The heap never gives address space back, and cycles only add up.
            assert!(snap.heap_sys() >= last_sys);
            assert!(snap.num_gc >= last_gc);
            (last_sys, last_gc) = (snap.heap_sys(), snap.num_gc);
        }
        stop.store(true, Ordering::Relaxed);
        churn.join().unwrap();
    });
}

#[test]
fn consistent_while_another_thread_releases_memory() {
    let _s = serial();
    with_watchdog("snapshots under free_os_memory", || {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicUsize::new(0));
        // Pages go back to the OS in batches taken out of the free runs and released
        // without the heap lock: a snapshot meanwhile still counts each page once, and
        // memory reused after its release reads back what was written.
        let releaser = {
            let (stop, rounds) = (stop.clone(), rounds.clone());
            std::thread::spawn(move || {
                let mut salt = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    salt += 1;
                    let blocks: Vec<Gc<[u64]>> = (0..32)
                        .map(|i| Gc::from(vec![salt ^ i; 32 * 1024]))
                        .collect();
                    for (i, b) in blocks.iter().enumerate() {
                        assert!(b.iter().all(|&w| w == salt ^ i as u64), "block corrupted");
                    }
                    drop(blocks);
                    gc_core::free_os_memory();
                    rounds.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let mut taken = 0;
        while taken < 100 || rounds.load(Ordering::Relaxed) < 20 {
            taken += 1;
            check_consistent(&heap_snapshot());
        }
        stop.store(true, Ordering::Relaxed);
        releaser.join().unwrap();
    });
}

#[test]
fn one_record_per_cycle() {
    let _s = serial();
    with_watchdog("cycle records", || {
        gc_core::collect();
        let first = heap_snapshot();
        let runs = RETAINED_CYCLES as u32 + 10;
        for _ in 0..runs {
            gc_core::collect();
        }
        let snap = heap_snapshot();
        let stats = gc_core::mem_stats();
        // Nothing else allocates here, so every cycle since is one of ours.
        assert_eq!(snap.num_gc, first.num_gc + runs);
        assert_eq!(snap.num_gc, stats.num_gc);
        assert_eq!(snap.cycles.len(), RETAINED_CYCLES);
        for (i, c) in snap.cycles.iter().enumerate() {
            assert_eq!(c.num_gc, snap.num_gc - (RETAINED_CYCLES - 1 - i) as u32);
            assert!(c.forced);
            assert!(c.start_ns <= c.stw_sweep_termination_start_ns);
            assert!(c.stw_sweep_termination_start_ns <= c.mark_start_ns);
            assert!(c.mark_start_ns <= c.stw_mark_termination_start_ns);
            assert!(c.stw_mark_termination_start_ns <= c.end_ns);
            assert!(
                c.stw_sweep_termination_ns <= c.mark_start_ns - c.stw_sweep_termination_start_ns
            );
            assert!(c.pause_ns >= c.stw_sweep_termination_ns + c.stw_mark_termination_ns);
            assert!(c.gc_cpu_ns >= c.mark_assist_cpu_ns + c.mark_background_cpu_ns);
            assert!(c.heap_marked <= c.heap_live_end);
            assert!(c.heap_released <= c.heap_sys);
            // The same figures as MemStats' pause buffer.
            let slot = ((c.num_gc + 255) % 256) as usize;
            assert_eq!(c.pause_ns, stats.pause_ns[slot], "cycle {}", c.num_gc);
            assert_eq!(c.pause_end, stats.pause_end[slot], "cycle {}", c.num_gc);
        }
        for w in snap.cycles.windows(2) {
            assert!(w[0].end_ns <= w[1].start_ns, "cycles overlap");
        }
        assert!(snap.cycles.last().unwrap().end_ns <= snap.taken_ns);
    });
}

/// Takes a snapshot in its `Drop`, which the runtime runs outside the collector.
struct SnapOnDrop;

static SPANS_SEEN_IN_DROP: AtomicUsize = AtomicUsize::new(0);

impl Drop for SnapOnDrop {
    fn drop(&mut self) {
        let snap = heap_snapshot();
        check_consistent(&snap);
        SPANS_SEEN_IN_DROP.store(snap.spans.len(), Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Holder {
    #[trace(skip)]
    _d: SnapOnDrop,
}

#[test]
fn callable_from_a_drop() {
    let _s = serial();
    with_watchdog("snapshot in a Drop", || {
        drop(Gc::new(Holder { _d: SnapOnDrop }));
        // collect() runs the queued drops of what its cycle freed before returning.
        gc_core::collect();
        assert!(SPANS_SEEN_IN_DROP.load(Ordering::SeqCst) > 0);
    });
}
