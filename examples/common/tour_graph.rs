//! The tour's friendship graph (`examples/tour.rs`), shared with `examples/heap_profile.rs`
//! so that both look at the same heap: people in communities of 64 with random friendships
//! inside (cycles), published in a shared directory, following celebrities across threads.

use gc_core::{Gc, GcCell, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};

/// People whose `Drop` has run (they were unreachable and swept).
pub static FORGOTTEN: AtomicUsize = AtomicUsize::new(0);

/// Counts drops; skipped by the tracer (it holds no `Gc`).
pub struct Farewell;
impl Drop for Farewell {
    fn drop(&mut self) {
        FORGOTTEN.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Trace)]
pub struct Person {
    pub id: u64,
    pub name: String,
    pub friends: GcCell<Vec<Gc<Person>>>,
    #[trace(skip)]
    pub _farewell: Farewell,
}

/// The shared directory every thread adds to.
pub type Directory = Gc<GcCell<Vec<Gc<Person>>>>;

pub const THREADS: u64 = 4;
pub const PEOPLE_PER_THREAD: u64 = 100_000;

/// A tiny xorshift generator, so the demo needs no dependency.
pub fn next(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// People live in communities of 64 with random friendships inside (cycles); each
/// community's first member is published in the shared directory. Cross-thread
/// friendships go only to the first 100 people published ("celebrities"), so a community
/// stays reachable exactly as long as its directory entry does.
pub fn build(directory: Directory, celebrities: Directory, thread: u64) -> u64 {
    let mut seed = 0x9E37_79B9_7F4A_7C15 ^ (thread + 1);
    let mut links = 0;
    let mut community: Vec<Gc<Person>> = Vec::new();
    for i in 0..PEOPLE_PER_THREAD {
        let p = Gc::new(Person {
            id: thread * PEOPLE_PER_THREAD + i,
            name: format!("person-{thread}-{i}"),
            friends: GcCell::new(Vec::new()),
            _farewell: Farewell,
        });
        if community.len() == 64 {
            community.clear();
        }
        if community.is_empty() {
            directory.borrow_mut().push(p.clone());
            let mut c = celebrities.borrow_mut();
            if c.len() < 100 {
                c.push(p.clone());
            }
        }
        // Two friendships inside the community, both ways.
        for _ in 0..2 {
            if !community.is_empty() {
                let f = &community[next(&mut seed) as usize % community.len()];
                p.friends.borrow_mut().push(f.clone());
                f.friends.borrow_mut().push(p.clone());
                links += 2;
            }
        }
        // One follow of a celebrity, possibly on another thread.
        let celebrity = {
            let c = celebrities.borrow();
            c[next(&mut seed) as usize % c.len()].clone()
        };
        p.friends.borrow_mut().push(celebrity);
        links += 1;
        community.push(p);
    }
    links
}

/// Builds the graph: `THREADS` threads each run [`build`] on one shared directory and one
/// shared celebrity list. Returns the directory, the celebrities and the links made.
pub fn build_in_threads() -> (Directory, Directory, u64) {
    let directory: Directory = Gc::new(GcCell::new(Vec::new()));
    let celebrities: Directory = Gc::new(GcCell::new(Vec::new()));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (d, c) = (directory.clone(), celebrities.clone());
            std::thread::spawn(move || build(d, c, t))
        })
        .collect();
    let links = workers.into_iter().map(|w| w.join().unwrap()).sum();
    (directory, celebrities, links)
}
