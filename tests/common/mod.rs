//! Helpers shared by the integration tests: a drop tracker, a seeded generator, the reader
//! for `KEY=value` lines printed by child processes, and (in [`child`]) a runner for child
//! test processes, and (in [`exercise`]) the harness that puts `Trace` impls through heap
//! objects. Not a test crate itself (Cargo only builds `tests/*.rs`).

// Each test uses a subset.
#![allow(dead_code)]

pub mod child;
pub mod exercise;
pub mod units;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// Counts its drops in a shared counter (a `#[trace(skip)]` field of a test object).
pub struct Counted(pub Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Trackers made.
pub static ALLOCATED: AtomicU64 = AtomicU64::new(0);
/// Trackers dropped.
pub static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Drops of a tracker that was already dropped or clobbered.
pub static BAD_DROPS: AtomicU64 = AtomicU64::new(0);

/// A live tracker's state is `ALIVE ^ id`; a dropped one's is `DEAD`.
pub const ALIVE: u64 = 0xA11C_E0F0_0D15_EA5E;
pub const DEAD: u64 = 0xDEAD_DEAD_DEAD_DEAD;

/// Counts allocations and drops of the object holding it; detects a second drop (or a
/// clobbered tracker). Hold it in a `#[trace(skip)]` field.
pub struct Tracker {
    pub id: u64,
    pub state: AtomicU64,
}

impl Tracker {
    pub fn new(id: u64) -> Tracker {
        ALLOCATED.fetch_add(1, Ordering::SeqCst);
        Tracker {
            id,
            state: AtomicU64::new(ALIVE ^ id),
        }
    }

    pub fn state(&self) -> u64 {
        self.state.load(Ordering::SeqCst)
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        let old = self.state.swap(DEAD, Ordering::SeqCst);
        if old != ALIVE ^ self.id {
            // Never panic here: a panicking Drop is only reported, and the count must show.
            BAD_DROPS.fetch_add(1, Ordering::SeqCst);
            eprintln!(
                "BAD DROP: tracker id {} state {old:#x} (dropped twice or clobbered)",
                self.id
            );
        }
        DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

/// splitmix64's finaliser: spreads a seed or an id over all bits.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// xorshift64: reproducible without a dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(mix(seed) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    /// The index of an entry of a `(weight, name, op)` table, drawn by weight.
    pub fn weighted<T>(&mut self, table: &[(usize, &str, T)]) -> usize {
        let mut r = self.below(table.iter().map(|e| e.0).sum());
        let mut i = 0;
        while r >= table[i].0 {
            r -= table[i].0;
            i += 1;
        }
        i
    }
}

/// The number after `key` (e.g. `NUM_GC=`) in a child process's output.
pub fn field(out: &str, key: &str) -> u64 {
    out.lines()
        .find_map(|l| l.split(key).nth(1))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or_else(|| panic!("{key} missing in child output:\n{out}"))
        .parse()
        .unwrap()
}

/// A rooted object whose `Trace` holds the mark worker that traces it, once armed, until
/// released: a test gets a mark that is certainly in progress, with everything reachable
/// only through the gate not yet scanned. One gate per test process.
pub struct Gate<T: 'static> {
    pub inner: gc_core::AtomicGc<T>,
}

static GATE_ARMED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static GATE_ENTERED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static GATE_RELEASED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The next trace of the gate will hold its worker (again, if an earlier one was released).
pub fn arm_gate() {
    GATE_ENTERED.store(false, Ordering::SeqCst);
    GATE_RELEASED.store(false, Ordering::SeqCst);
    GATE_ARMED.store(true, Ordering::SeqCst);
}

/// Waits until a worker is held in the gate (a minute at most, else the test fails).
pub fn wait_for_gate() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !GATE_ENTERED.load(Ordering::SeqCst) {
        assert!(
            std::time::Instant::now() < deadline,
            "no mark worker reached the gate"
        );
        std::thread::yield_now();
    }
}

/// Lets the held worker go on.
pub fn release_gate() {
    GATE_RELEASED.store(true, Ordering::SeqCst);
}

// SAFETY: traces, roots and unroots its one field; the wait is test-only and bounded by the
// test thread releasing it.
unsafe impl<T: gc_core::Trace + 'static> gc_core::Trace for Gate<T> {
    fn needs_trace() -> bool {
        true
    }
    fn trace(&self, tracer: &mut gc_core::Tracer) {
        if GATE_ARMED.swap(false, Ordering::SeqCst) {
            GATE_ENTERED.store(true, Ordering::SeqCst);
            while !GATE_RELEASED.load(Ordering::SeqCst) {
                std::thread::yield_now();
            }
        }
        self.inner.trace(tracer);
    }
    unsafe fn root(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.inner.root() }
    }
    unsafe fn unroot(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.inner.unroot() }
    }
}

/// Untracked live data, so that marking takes a while and races have room.
#[derive(gc_core::Trace)]
pub struct Ballast {
    kids: Vec<gc_core::Gc<Ballast>>,
    pub sum: u64,
}

/// A 4-ary tree of about `n` nodes; each node's `sum` is the sum of its leaves.
pub fn ballast(n: u64) -> gc_core::Gc<Ballast> {
    let mut level: Vec<gc_core::Gc<Ballast>> = (1..=(n * 3 / 4).max(1))
        .map(|sum| {
            gc_core::Gc::new(Ballast {
                kids: Vec::new(),
                sum,
            })
        })
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(4)
            .map(|c| {
                gc_core::Gc::new(Ballast {
                    sum: c.iter().map(|k| k.sum).sum(),
                    kids: c.to_vec(),
                })
            })
            .collect();
    }
    level.pop().unwrap()
}

pub fn check_ballast(b: &gc_core::Gc<Ballast>) -> u64 {
    if b.kids.is_empty() {
        return b.sum;
    }
    let s: u64 = b.kids.iter().map(check_ballast).sum();
    assert_eq!(s, b.sum, "ballast corrupted");
    s
}

/// Waits until `cond` holds, yielding; fails after a minute ("the collector never
/// {what}"): a hang detector, not a speed limit.
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "the collector never {what}"
        );
        std::thread::yield_now();
    }
}

/// Runs `gc_core::collect()` until `done`: what a cycle hands the dropper (a `Drop` of a
/// user type, a cleanup) may still run on a dropper thread when one `collect()` returns (it
/// waits at most 100 ms for a dropper's job). Fails after a minute: a hang detector, not a
/// speed limit.
pub fn collect_until(done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "what the collector should have freed or run never happened"
        );
        gc_core::collect();
        std::thread::yield_now();
    }
}

/// Runs `f` on a new thread and returns its result (or resumes its panic), failing if it
/// takes longer than [`child::HANG`]: a deadlock fails the test instead of hanging it.
pub fn with_watchdog<R: Send + 'static>(what: &str, f: impl FnOnce() -> R + Send + 'static) -> R {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(child::HANG) {
        Ok(Ok(r)) => r,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(e) => panic!(
            "{what}: no result after {:?} ({e}): a deadlock",
            child::HANG
        ),
    }
}
