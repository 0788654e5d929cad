//! Untracked garbage for the random-graph engine, so that automatic cycles keep coming
//! (`Params::garbage` picks the kind the modelled mix allocates; the racy mix in `racy.rs`
//! allocates arrays), and garbage threads that only allocate (used by
//! `tests/stoptheworld_differential.rs`, so that cycles they trigger overlap the program).

use super::common::Rng;
use gc_core::{AtomicGc, Gc, GcCell, Trace};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Which untracked garbage the modelled mix allocates.
#[derive(Clone, Copy, Debug)]
pub enum Garbage {
    /// Short chains of `Option<Gc>` links and arrays of a few size classes.
    Chains,
    /// Objects with `AtomicGc` and `GcCell` edges and self cycles, and arrays.
    Cells,
}

/// Untracked garbage with edges.
#[derive(Trace)]
struct Junk {
    next: Option<Gc<Junk>>,
    pad: [u64; 5],
}

/// Untracked garbage with the graph's kinds of edges.
#[derive(Trace)]
struct CellJunk {
    next: AtomicGc<CellJunk>,
    more: GcCell<Vec<Gc<CellJunk>>>,
    pad: [u64; 4],
}

/// `n` objects of garbage of the given kind.
pub fn garbage(kind: Garbage, rng: &mut Rng, n: usize) {
    match kind {
        Garbage::Chains => chain_garbage(rng, n),
        Garbage::Cells => cell_garbage(n),
    }
}

/// Short chains and arrays of a few size classes.
pub fn chain_garbage(rng: &mut Rng, n: usize) {
    let mut chain: Option<Gc<Junk>> = None;
    for i in 0..n {
        match i % 8 {
            0 | 4 => {
                chain = Some(Gc::new(Junk {
                    next: chain.take(),
                    pad: [i as u64; 5],
                }))
            }
            1 => {
                std::hint::black_box(Gc::new([rng.next(); 12]));
            }
            _ => {
                std::hint::black_box(Gc::new([i as u64; 3]));
            }
        }
        if i % 64 == 63 {
            chain = None;
        }
    }
    drop(chain);
}

/// Arrays of two size classes.
pub fn array_garbage(rng: &mut Rng, n: usize) {
    for i in 0..n {
        if i % 16 == 0 {
            std::hint::black_box(Gc::new([rng.next(); 16]));
        } else {
            std::hint::black_box(Gc::new([i as u64; 6]));
        }
    }
}

/// Objects with cells and atomic edges (chained, with self cycles), and arrays.
pub fn cell_garbage(n: usize) {
    let mut prev: Option<Gc<CellJunk>> = None;
    for i in 0..n {
        if i % 8 == 0 {
            let j = Gc::new(CellJunk {
                next: AtomicGc::new(prev.take()),
                more: GcCell::new(Vec::new()),
                pad: [i as u64; 4],
            });
            // A self cycle. `borrow_mut` on a heap cell lists it for the next unroot pass
            // (a global lock), so only sometimes; `set` leaves it an edge cell.
            if i % 64 == 0 {
                j.more.borrow_mut().push(j.clone());
            } else {
                j.more.set(vec![j.clone()]);
            }
            prev = Some(j);
        } else {
            std::hint::black_box(Gc::new([i as u64; 6]));
        }
    }
}

/// Threads that only allocate garbage until stopped.
pub struct GarbageThreads {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<u64>>,
}

impl GarbageThreads {
    pub fn start(n: usize) -> GarbageThreads {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut rounds = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        cell_garbage(300);
                        rounds += 1;
                        // Leave the program's thread a fair share of the CPU (not a wait for
                        // anything: the program does not synchronise with these threads).
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    rounds
                })
            })
            .collect();
        GarbageThreads { stop, threads }
    }

    /// Stops the threads; returns the rounds of garbage they allocated.
    pub fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.threads.into_iter().map(|t| t.join().unwrap()).sum()
    }
}
