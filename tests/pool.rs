//! `Pool<T>`: reuse, `try_get`, ageing over collection cycles (Go's victim cache), a stress
//! test with collections running, and dropping a pool.
//!
//! Every test holds `SERIAL`: the ageing checks count cycles exactly, and the tests of one
//! file run in parallel threads of one process, where another test's `collect()` would age
//! this test's pools too. Nothing here allocates enough in the GC heap to start a cycle of
//! its own, and `cycles()` checks that assumption where a count matters.

use gc_core::Pool;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn cycles() -> u32 {
    gc_core::mem_stats().num_gc
}

/// A value with an identity that counts its drops.
struct Token {
    id: usize,
    drops: Arc<AtomicUsize>,
}

impl Drop for Token {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

/// A pool of tokens numbered from 0 in order of `make`, with its make and drop counters.
fn token_pool() -> (Pool<Token>, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let makes = Arc::new(AtomicUsize::new(0));
    let drops = Arc::new(AtomicUsize::new(0));
    let (m, d) = (makes.clone(), drops.clone());
    let pool = Pool::new(move || Token {
        id: m.fetch_add(1, Ordering::SeqCst),
        drops: d.clone(),
    });
    (pool, makes, drops)
}

#[test]
fn get_reuses_what_was_put_and_makes_only_when_empty() {
    let _s = serial();
    let (pool, makes, drops) = token_pool();
    assert!(pool.is_empty());
    assert!(pool.try_get().is_none(), "try_get never makes");
    assert_eq!(makes.load(Ordering::SeqCst), 0);

    let a = pool.get();
    let b = pool.get();
    assert_eq!((a.id, b.id), (0, 1));
    assert_eq!(makes.load(Ordering::SeqCst), 2);
    pool.put(a);
    pool.put(b);
    assert_eq!(pool.len(), 2);
    assert_eq!(format!("{pool:?}"), "Pool { len: 2, .. }");

    let mut ids = [pool.get().id, pool.get().id]; // dropped at once: counted below
    ids.sort();
    assert_eq!(ids, [0, 1], "the same two values came back");
    assert_eq!(
        makes.load(Ordering::SeqCst),
        2,
        "no make while values were pooled"
    );
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    assert!(pool.try_get().is_none());
    assert_eq!(pool.get().id, 2, "empty again: made");

    // Heap buffers keep their allocation.
    let bufs = Pool::new(|| Vec::<u8>::with_capacity(1024));
    let mut v = bufs.get();
    v.extend_from_slice(b"abc");
    let ptr = v.as_ptr();
    v.clear();
    bufs.put(v);
    let w = bufs.get();
    assert_eq!(w.as_ptr(), ptr);
    assert!(w.is_empty() && w.capacity() >= 1024);
}

#[test]
fn unused_values_survive_one_cycle_and_go_at_the_second() {
    let _s = serial();
    let (pool, _makes, drops) = token_pool();
    let held: Vec<Token> = (0..3).map(|_| pool.get()).collect();
    for t in held {
        pool.put(t);
    }
    let before = cycles();
    gc_core::collect();
    assert_eq!(cycles(), before + 1, "no other cycle ran");
    assert_eq!(pool.len(), 3, "moved to the victim list, not dropped");
    assert_eq!(drops.load(Ordering::SeqCst), 0);

    gc_core::collect();
    assert!(pool.is_empty(), "victims drop at the next cycle");
    assert_eq!(drops.load(Ordering::SeqCst), 3, "and their Drop ran");
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 3, "exactly once");
}

#[test]
fn a_value_taken_from_the_victim_list_is_reused_and_ages_afresh() {
    let _s = serial();
    let (pool, makes, drops) = token_pool();
    let t = pool.get();
    pool.put(t);
    let before = cycles();
    gc_core::collect();
    assert_eq!(cycles(), before + 1, "no other cycle ran");
    let t = pool.get();
    assert_eq!(t.id, 0, "the victim was reused");
    assert_eq!(makes.load(Ordering::SeqCst), 1);

    // Put back, it is primary again: one more cycle keeps it, as before.
    pool.put(t);
    gc_core::collect();
    assert_eq!(cycles(), before + 2, "no other cycle ran");
    assert_eq!(pool.len(), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    assert_eq!(pool.try_get().map(|t| t.id), Some(0));
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "dropped by the test, not the pool"
    );

    // Primary values are taken before victims.
    let (old, new) = (pool.get(), pool.get()); // made: ids 1 and 2
    pool.put(old);
    gc_core::collect(); // old: victim
    pool.put(new); // new: primary
    assert_eq!(pool.get().id, 2);
    assert_eq!(pool.get().id, 1);
}

#[test]
fn dropping_a_pool_drops_its_values_and_unregisters_it() {
    let _s = serial();
    let (pool, _makes, drops) = token_pool();
    let held: Vec<Token> = (0..5).map(|_| pool.get()).collect();
    for t in held {
        pool.put(t);
    }
    gc_core::collect(); // some in the victim list, some in the primary
    pool.put(pool.get());
    drop(pool);
    assert_eq!(drops.load(Ordering::SeqCst), 5, "all dropped with the pool");

    // The collector no longer visits it, and other pools still age.
    let (other, _, other_drops) = token_pool();
    other.put(other.get());
    let before = cycles();
    gc_core::collect();
    gc_core::collect();
    assert!(cycles() >= before + 2);
    assert_eq!(other_drops.load(Ordering::SeqCst), 1);
    assert_eq!(drops.load(Ordering::SeqCst), 5);
}

/// A pooled value whose `Drop` uses pools and calls `collect()`: ageing must drop it
/// outside the pool locks, and `collect()` on the cycle's thread must return at once.
struct Reentrant(Arc<Pool<u32>>, Arc<AtomicUsize>);

impl Drop for Reentrant {
    fn drop(&mut self) {
        gc_core::collect();
        self.0.put(7);
        let _ = self.0.len();
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_drop_run_by_ageing_may_use_pools_and_collect() {
    let _s = serial();
    let side = Arc::new(Pool::new(|| 0u32));
    let dropped = Arc::new(AtomicUsize::new(0));
    let (s, d) = (side.clone(), dropped.clone());
    let pool = Pool::new(move || Reentrant(s.clone(), d.clone()));
    let (a, b) = (pool.get(), pool.get());
    pool.put(a);
    pool.put(b);
    gc_core::collect();
    gc_core::collect();
    assert_eq!(dropped.load(Ordering::SeqCst), 2);
    assert!(pool.is_empty());
    assert_eq!(side.try_get(), Some(7), "the Drop's put landed");
}

#[test]
fn threads_share_a_pool_while_cycles_run_and_no_value_is_lost_or_duplicated() {
    let _s = serial();
    const THREADS: usize = 4;
    const ROUNDS: usize = 20_000;
    const MAX_TOKENS: usize = 1 << 20;
    // held[id]: some thread owns token `id` now; dropped[id]: its Drop ran.
    let held: Arc<Vec<AtomicBool>> =
        Arc::new((0..MAX_TOKENS).map(|_| AtomicBool::new(false)).collect());
    let dropped: Arc<Vec<AtomicBool>> =
        Arc::new((0..MAX_TOKENS).map(|_| AtomicBool::new(false)).collect());
    let makes = Arc::new(AtomicUsize::new(0));
    // Counted as well as flagged: a panic in a Drop run by ageing is caught and reported
    // on the collector's thread, so a second drop shows up here.
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    let drops = &DROPS;

    struct Checked {
        id: usize,
        dropped: Arc<Vec<AtomicBool>>,
    }
    impl Drop for Checked {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
            assert!(
                !self.dropped[self.id].swap(true, Ordering::SeqCst),
                "token {} dropped twice",
                self.id
            );
        }
    }

    let pool = {
        let (m, d) = (makes.clone(), dropped.clone());
        Arc::new(Pool::new(move || Checked {
            id: m.fetch_add(1, Ordering::SeqCst),
            dropped: d.clone(),
        }))
    };
    // The workers go on until the collector has run CYCLES cycles, so the cycles overlap
    // their gets and puts.
    const CYCLES: usize = 10;
    let done = Arc::new(AtomicBool::new(false));
    let cycles_run = Arc::new(AtomicUsize::new(0));
    let collector = {
        let (done, cycles_run) = (done.clone(), cycles_run.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                gc_core::collect();
                cycles_run.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|w| {
            let (pool, held) = (pool.clone(), held.clone());
            let (cycles_run, makes) = (cycles_run.clone(), makes.clone());
            std::thread::spawn(move || {
                let mut mine: Vec<Checked> = Vec::new();
                let mut x = w as u64 * 0x9e37_79b9 + 1;
                for round in 0.. {
                    let enough = round >= ROUNDS && cycles_run.load(Ordering::SeqCst) >= CYCLES;
                    // On a very slow machine, stop before the ids run out instead.
                    if enough || makes.load(Ordering::SeqCst) >= MAX_TOKENS - THREADS {
                        break;
                    }
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    if mine.len() < 8 && (x & 3 != 0 || mine.is_empty()) {
                        let t = if x & 7 == 0 {
                            pool.try_get()
                        } else {
                            Some(pool.get())
                        };
                        if let Some(t) = t {
                            assert!(
                                !held[t.id].swap(true, Ordering::SeqCst),
                                "token {} handed out twice",
                                t.id
                            );
                            mine.push(t);
                        }
                    } else {
                        let t = mine.swap_remove(x as usize % mine.len());
                        assert!(held[t.id].swap(false, Ordering::SeqCst));
                        if x & 255 == 0 {
                            drop(t); // the program may keep or drop what it took
                        } else {
                            pool.put(t);
                        }
                    }
                }
                for t in mine {
                    assert!(held[t.id].swap(false, Ordering::SeqCst));
                    pool.put(t);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    done.store(true, Ordering::SeqCst);
    collector.join().unwrap();

    let made = makes.load(Ordering::SeqCst);
    assert!(made <= MAX_TOKENS);
    let alive_before_drop = (0..made)
        .filter(|&i| !dropped[i].load(Ordering::SeqCst))
        .count();
    assert_eq!(
        pool.len(),
        alive_before_drop,
        "every value not dropped is in the pool"
    );
    drop(Arc::into_inner(pool).expect("the only handle"));
    for (i, d) in dropped.iter().enumerate() {
        assert_eq!(
            d.load(Ordering::SeqCst),
            i < made,
            "token {i}: lost, or never made"
        );
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        made,
        "each token dropped exactly once"
    );
}
