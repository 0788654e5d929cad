//! `gc_core::heap_profile()`: exact live counts per type after `collect()`, garbage gone
//! after the next one, and calls racing allocation and cycles (under a watchdog) always
//! see the objects that stayed live throughout.
//!
//! Each test uses types of its own (other tests of this binary run concurrently and the
//! heap is process-wide), so filtering the profile by type name isolates it.

mod common;

use common::with_watchdog;
use gc_core::{Gc, GcCell, Trace, TypeStats};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

fn entry<T: ?Sized>(p: &[TypeStats]) -> Option<TypeStats> {
    let name = std::any::type_name::<T>();
    let mut found = p.iter().filter(|t| t.type_name == name);
    let first = found.next().copied();
    assert!(found.next().is_none(), "one entry per type name");
    first
}

fn objects<T: ?Sized>(p: &[TypeStats]) -> u64 {
    entry::<T>(p).map_or(0, |t| t.objects)
}

#[derive(Trace)]
struct Apple {
    seeds: u64,
    peel: String,
}

#[derive(Trace)]
struct Branch {
    apples: Vec<Gc<Apple>>,
    next: GcCell<Option<Gc<Branch>>>,
}

#[derive(Trace)]
struct Orchard {
    branches: GcCell<Vec<Gc<Branch>>>,
}

#[test]
fn exact_live_counts_of_three_types_and_garbage_leaves() {
    // 1 orchard -> 300 branches (a linked chain too, cycles included) -> 2 apples each.
    let orchard = Gc::new(Orchard {
        branches: GcCell::new(Vec::new()),
    });
    let mut prev: Option<Gc<Branch>> = None;
    for i in 0..300u64 {
        let b = Gc::new(Branch {
            apples: (0..2)
                .map(|s| {
                    Gc::new(Apple {
                        seeds: s,
                        peel: format!("{i}"),
                    })
                })
                .collect(),
            next: GcCell::new(prev.take()),
        });
        orchard.branches.borrow_mut().push(b.clone());
        prev = Some(b);
    }
    // A cycle: the first branch points at the last.
    *orchard.branches.borrow()[0].next.borrow_mut() = prev.clone();
    drop(prev);
    // Garbage of the same types, unreachable at once.
    for _ in 0..1_000 {
        drop(Gc::new(Apple {
            seeds: 0,
            peel: String::new(),
        }));
    }
    gc_core::collect();
    let p = gc_core::heap_profile();
    assert_eq!(objects::<Orchard>(&p), 1);
    assert_eq!(objects::<Branch>(&p), 300);
    assert_eq!(objects::<Apple>(&p), 600);
    let apple = entry::<Apple>(&p).unwrap();
    assert_eq!(apple.bytes % 600, 0);
    assert!(apple.bytes >= 600 * std::mem::size_of::<Apple>() as u64);
    assert!(
        p.windows(2).all(|w| w[0].bytes >= w[1].bytes),
        "sorted by bytes"
    );
    assert_eq!(orchard.branches.borrow()[7].apples[1].seeds, 1);

    // Drop half the branches from the list: the chain still holds all of them. Then cut
    // the chain after branch 100 (and the cycle): 200 branches and their apples are garbage.
    orchard.branches.borrow_mut().truncate(100);
    *orchard.branches.borrow()[0].next.borrow_mut() = None;
    *orchard.branches.borrow()[100 - 1].next.borrow_mut() = None;
    gc_core::collect();
    let p = gc_core::heap_profile();
    assert_eq!(objects::<Orchard>(&p), 1);
    assert_eq!(objects::<Branch>(&p), 100);
    assert_eq!(objects::<Apple>(&p), 200);
    drop(orchard);
    gc_core::collect();
    let p = gc_core::heap_profile();
    assert!(entry::<Orchard>(&p).is_none());
    assert!(entry::<Branch>(&p).is_none());
    assert!(entry::<Apple>(&p).is_none());
}

#[test]
fn plain_data_and_tiny_blocks_have_buckets() {
    let plain: Vec<Gc<[u64; 8]>> = (0..100).map(|i| Gc::new([i; 8])).collect();
    let tiny: Vec<Gc<u32>> = (0..100).map(Gc::new).collect();
    gc_core::collect();
    let p = gc_core::heap_profile();
    let bucket = |name: &str| p.iter().find(|t| t.type_name == name).copied();
    // Other tests' plain data may be there too: at least ours.
    assert!(bucket(TypeStats::PLAIN_DATA).unwrap().objects >= 100);
    // 100 u32s fill 25 16-byte blocks.
    assert!(bucket(TypeStats::TINY_BLOCKS).unwrap().objects >= 25);
    assert!(p.iter().all(|t| !t.type_name.contains("[u64; 8]")));
    drop((plain, tiny));
}

#[derive(Trace)]
struct Keeper {
    id: u64,
    _pad: String,
}

#[derive(Trace)]
struct Churn {
    next: Option<Gc<Churn>>,
}

#[test]
fn profiles_while_other_threads_allocate_and_collect() {
    with_watchdog("heap_profile racing allocation", || {
        let kept: Vec<Gc<Keeper>> = (0..500)
            .map(|id| {
                Gc::new(Keeper {
                    id,
                    _pad: String::new(),
                })
            })
            .collect();
        gc_core::collect();
        let stop = Arc::new(AtomicBool::new(false));
        let churners: Vec<_> = (0..2)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut head = None;
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        head = Some(Gc::new(Churn { next: head }));
                        n += 1;
                        if n.is_multiple_of(5_000) {
                            head = None;
                        }
                        if n.is_multiple_of(50_000) {
                            gc_core::collect();
                        }
                    }
                })
            })
            .collect();
        let mut calls = 0;
        let start = gc_core::mem_stats().num_gc;
        while gc_core::mem_stats().num_gc < start + 5 || calls < 100 {
            let p = gc_core::heap_profile();
            // Live throughout: every profile since the collect above counts them.
            assert_eq!(objects::<Keeper>(&p), 500);
            assert!(p.windows(2).all(|w| w[0].bytes >= w[1].bytes));
            calls += 1;
        }
        stop.store(true, Ordering::Relaxed);
        for c in churners {
            c.join().unwrap();
        }
        assert_eq!(kept[499].id, 499);
    });
}

#[derive(Trace)]
struct FirstCaller {
    thread: u64,
    _pad: String,
}

/// Several threads call `heap_profile()` at once as the process's first calls: the one
/// that turns the census on collects to take the first census, and the others must not
/// report an empty profile meanwhile (they collect too). In a child process: the census
/// must be off when the threads start. Each thread's 50 objects stay live until every
/// thread has its profile, so every profile counts all 400. (Without the second barrier a
/// thread that got its profile drops its objects while the others still collect, and later
/// profiles rightly count 50 fewer per finished thread.)
#[test]
fn child_concurrent_first_calls() {
    if !common::child::is_child() {
        return;
    }
    const THREADS: u64 = 8;
    let start = Arc::new(std::sync::Barrier::new(THREADS as usize));
    let threads: Vec<_> = (0..THREADS)
        .map(|thread| {
            let start = start.clone();
            std::thread::spawn(move || {
                let mine: Vec<Gc<FirstCaller>> = (0..50)
                    .map(|_| {
                        Gc::new(FirstCaller {
                            thread,
                            _pad: String::new(),
                        })
                    })
                    .collect();
                start.wait();
                let seen = objects::<FirstCaller>(&gc_core::heap_profile());
                // Every thread's objects stay live until every thread has its profile.
                start.wait();
                assert!(mine.iter().all(|o| o.thread == thread));
                seen
            })
        })
        .collect();
    let seen: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    println!(
        "SEEN={}",
        seen.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
}

#[test]
fn concurrent_first_calls_all_get_a_census() {
    if common::child::is_child() {
        return;
    }
    for _ in 0..3 {
        let run = common::child::run("child_concurrent_first_calls", &[], &[]);
        assert!(run.status.success(), "{:?}\n{}", run.status, run.stderr);
        let seen = run
            .stdout
            .lines()
            .find_map(|l| l.split("SEEN=").nth(1))
            .unwrap_or_else(|| panic!("no SEEN line:\n{}", run.stdout));
        for n in seen.split(',') {
            let n: u64 = n.trim().parse().unwrap();
            assert_eq!(n, 400, "a profile missed live objects: {seen}");
        }
    }
}

/// Twenty types of 16 bytes, half with the handle first and half with it last
/// (`repr(C)`), so a slot read as the wrong type would send the marker to an integer.
macro_rules! sixteen_byte_types {
    ($($handle_first:ident / $handle_last:ident),*) => {
        $(
            #[derive(Trace)]
            #[repr(C)]
            struct $handle_first {
                child: Option<Gc<u64>>,
                n: u64,
            }
            #[derive(Trace)]
            #[repr(C)]
            struct $handle_last {
                n: u64,
                child: Option<Gc<u64>>,
            }
        )*
        /// One object of each type, in this order, with `n` and a child holding `n`.
        fn one_of_each(n: u64) -> Vec<Box<dyn Fn(&[TypeStats]) -> u64>> {
            let mut out: Vec<Box<dyn Fn(&[TypeStats]) -> u64>> = Vec::new();
            $(
                let a = Gc::new($handle_first { child: Some(Gc::new(n)), n });
                out.push(Box::new(move |p| {
                    assert_eq!((**a.child.as_ref().unwrap(), a.n), (n, n));
                    objects::<$handle_first>(p)
                }));
                let b = Gc::new($handle_last { n, child: Some(Gc::new(n)) });
                out.push(Box::new(move |p| {
                    assert_eq!((**b.child.as_ref().unwrap(), b.n), (n, n));
                    objects::<$handle_last>(p)
                }));
            )*
            out
        }
    };
}

sixteen_byte_types!(
    T0 / T1,
    T2 / T3,
    T4 / T5,
    T6 / T7,
    T8 / T9,
    T10 / T11,
    T12 / T13,
    T14 / T15,
    T16 / T17,
    T18 / T19
);

#[test]
fn twenty_types_sharing_spans_each_keep_their_own() {
    // Round-robin allocation puts all twenty types in each span (more than a span's type
    // palette holds); every other round becomes garbage.
    let mut kept = Vec::new();
    for round in 0..300u64 {
        let objs = one_of_each(round);
        if round % 2 == 0 {
            kept.push(objs);
        }
    }
    gc_core::collect();
    gc_core::collect();
    let p = gc_core::heap_profile();
    for objs in &kept {
        for check in objs {
            assert_eq!(check(&p), 150, "live objects of each type");
        }
    }
}
