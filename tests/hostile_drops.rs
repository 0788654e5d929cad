//! User code never runs inside a GC operation: `Drop`s that panic with panicking payloads,
//! call the runtime's public functions, allocate large buffers, run in thread-local
//! destructors or block on a user lock, and a stress test mixing all of them on 8 threads
//! with collections running. Each was a hang, an abort or a stack overflow when the sweeper
//! ran `Drop` inside its GC operation (issue 11, defects 3-7).
//!
//! Every case runs in a child process (`tests/common/child.rs`), so a regression that hangs
//! is killed by the watchdog and reported instead of hanging the suite. Run one by hand:
//!
//! ```sh
//! GC_CORE_TEST_CHILD=1 target/debug/deps/hostile_drops-<hash> \
//!     --exact child_blocking_drop --nocapture --test-threads=1
//! ```

mod common;

use common::child::{churn, is_child, run};
use common::mix;
use gc_core::{collect, free_os_memory, mem_stats, Gc, Pool, Trace};
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// Fails the child (the parent reports it) unless `done()` holds within a minute: the
/// drops run on dropper threads, so their effects are waited for, never assumed.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{what}: not done after 60 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The payload of the panics below: its own `Drop` panics too.
struct Bomb;
impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("boom: a panic payload's Drop");
    }
}

/// Keeps the child's stderr readable: the deliberate panics print nothing, any other panic
/// prints as usual.
fn quiet_deliberate_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let deliberate = p.is::<Bomb>()
            || p.downcast_ref::<&str>()
                .is_some_and(|s| s.starts_with("boom"))
            || p.downcast_ref::<String>()
                .is_some_and(|s| s.starts_with("boom"));
        if !deliberate {
            default(info);
        }
    }));
}

// ---------------------------------------------------------------------------------------
// Defect 3: a Drop that panics with a payload whose own Drop panics.

static GRENADE_DROPS: AtomicU64 = AtomicU64::new(0);

/// Panics in `Drop` with a [`Bomb`] payload.
struct Pin;
impl Drop for Pin {
    fn drop(&mut self) {
        GRENADE_DROPS.fetch_add(1, Ordering::SeqCst);
        std::panic::panic_any(Bomb);
    }
}

#[derive(Trace)]
struct Grenade {
    #[trace(skip)]
    _pin: Pin,
    value: u64,
}

#[test]
fn panicking_panic_payloads_are_contained() {
    if is_child() {
        return;
    }
    let r = run("child_panicking_payloads", &[], &[]);
    r.assert_succeeded("panicking payloads");
    assert!(
        r.stderr.contains("panicked (a non-string payload)"),
        "the panics are reported:\n{}",
        r.stderr
    );
}

#[test]
fn child_panicking_payloads() {
    if !is_child() {
        return;
    }
    quiet_deliberate_panics();
    const ROUNDS: u64 = 20;
    const PER_ROUND: u64 = 5_000;
    let keep = Gc::new(Grenade {
        _pin: Pin,
        value: 7,
    });
    let forced = mem_stats().num_forced_gc;
    for round in 0..ROUNDS {
        for i in 0..PER_ROUND {
            black_box(Gc::new(Grenade {
                _pin: Pin,
                value: round * PER_ROUND + i,
            }));
        }
        collect();
    }
    // Every collect() ran a cycle (none became a no-op), and every grenade went off once.
    assert_eq!(mem_stats().num_forced_gc - forced, ROUNDS as u32);
    wait_for("grenade drops", || {
        GRENADE_DROPS.load(Ordering::SeqCst) == ROUNDS * PER_ROUND
    });
    assert_eq!(keep.value, 7);
    // Swept spans were reused: the heap holds the live grenade, not 100,000 dead ones.
    assert!(mem_stats().heap_objects < 10_000);

    // The same payloads through Pool ageing (which aborted the next cycle).
    let pool = Pool::new(|| Pin);
    let values: Vec<Pin> = (0..100).map(|_| pool.get()).collect();
    for v in values {
        pool.put(v);
    }
    let before = GRENADE_DROPS.load(Ordering::SeqCst);
    for _ in 0..3 {
        collect();
    }
    wait_for("pool drops", || {
        GRENADE_DROPS.load(Ordering::SeqCst) == before + 100
    });
    assert!(pool.is_empty());
    let forced = mem_stats().num_forced_gc;
    collect();
    assert_eq!(
        mem_stats().num_forced_gc,
        forced + 1,
        "collect() still collects"
    );
    println!("PROBE_OK");
}

// ---------------------------------------------------------------------------------------
// Defect 4: public calls from a Drop (mem_stats and free_os_memory deadlocked).

static CALLER_DROPS: AtomicU64 = AtomicU64::new(0);

/// Calls a public function of the runtime from `Drop`.
struct CallsRuntime(u64);
impl Drop for CallsRuntime {
    fn drop(&mut self) {
        match self.0 % 4 {
            0 => assert!(mem_stats().num_gc > 0),
            1 => collect(),
            2 => free_os_memory(),
            _ => drop(Gc::new([self.0; 4])),
        }
        CALLER_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Caller {
    #[trace(skip)]
    _c: CallsRuntime,
}

#[test]
fn drops_may_call_every_public_function() {
    if is_child() {
        return;
    }
    run("child_public_calls", &[], &[]).assert_succeeded("public calls from Drop");
}

#[test]
fn child_public_calls() {
    if !is_child() {
        return;
    }
    const N: u64 = 400;
    // Another thread allocates all along (it hung in the next stop before).
    let stop = Arc::new(AtomicBool::new(false));
    let allocs = Arc::new(AtomicU64::new(0));
    let churner = {
        let (stop, allocs) = (stop.clone(), allocs.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                churn(64 << 10);
                allocs.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    for i in 0..N {
        black_box(Gc::new(Caller {
            _c: CallsRuntime(i),
        }));
    }
    collect();
    wait_for("drops calling the runtime", || {
        CALLER_DROPS.load(Ordering::SeqCst) == N
    });
    let seen = allocs.load(Ordering::Relaxed);
    wait_for("the other thread allocates", || {
        allocs.load(Ordering::Relaxed) > seen
    });
    stop.store(true, Ordering::Relaxed);
    churner.join().unwrap();
    println!("PROBE_OK");
    // process::exit hung too.
    std::process::exit(0);
}

// ---------------------------------------------------------------------------------------
// Defect 5: a Drop that allocates a large buffer recursed through the sweeper until its
// stack overflowed.

static BUFFER_DROPS: AtomicU64 = AtomicU64::new(0);

struct AllocatesLarge(u64);
impl Drop for AllocatesLarge {
    fn drop(&mut self) {
        let b = Gc::<[u8]>::new_zeroed_slice_with(40 << 10, |b| b[0] = self.0 as u8);
        assert_eq!(b[0], self.0 as u8);
        BUFFER_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

/// 4 KiB, so that 20,000 of them fill 10,000 spans: each unswept span was one more level
/// of recursion when the sweeper ran their `Drop`.
#[derive(Trace)]
struct Buffered {
    #[trace(skip)]
    _a: AllocatesLarge,
    _payload: [u64; 500],
}

#[test]
fn drops_may_allocate_large_buffers() {
    if is_child() {
        return;
    }
    // GOGC=off: all 10,000 spans are garbage in one cycle.
    run("child_large_allocating_drops", &[("GOGC", b"off")], &[])
        .assert_succeeded("large allocations in Drop");
}

#[test]
fn child_large_allocating_drops() {
    if !is_child() {
        return;
    }
    const N: u64 = 20_000;
    for i in 0..N {
        black_box(Gc::new(Buffered {
            _a: AllocatesLarge(i),
            _payload: [i; 500],
        }));
    }
    collect();
    wait_for("drops allocating 40 KiB", || {
        BUFFER_DROPS.load(Ordering::SeqCst) == N
    });
    collect();
    println!("PROBE_OK");
}

// ---------------------------------------------------------------------------------------
// Defect 6: a thread-local destructor that allocates after the runtime's exit guard ran
// (through the shared fallback state), while collections run.

static EXIT_ALLOCS: AtomicU64 = AtomicU64::new(0);

/// Allocates large and small objects from a thread-local destructor.
struct AllocateAtExit;
impl Drop for AllocateAtExit {
    fn drop(&mut self) {
        for i in 0..50u64 {
            let big = Gc::<[u8]>::new_zeroed_slice(40 << 10);
            let small = Gc::new(Buffered {
                _a: AllocatesLarge(i),
                _payload: [i; 500],
            });
            black_box((big, small));
        }
        EXIT_ALLOCS.fetch_add(1, Ordering::SeqCst);
    }
}

std::thread_local! {
    static AT_EXIT: AllocateAtExit = const { AllocateAtExit };
}

#[test]
fn thread_local_destructors_may_allocate() {
    if is_child() {
        return;
    }
    let r = run("child_thread_exit", &[("GOGC", b"5")], &[]);
    r.assert_succeeded("allocation in thread-local destructors");
}

#[test]
fn child_thread_exit() {
    if !is_child() {
        return;
    }
    const THREADS: u64 = 16;
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            std::thread::spawn(move || {
                // Registered before the runtime's own exit guard, so destroyed after it.
                AT_EXIT.with(|_| {});
                for i in 0..1_000 {
                    black_box(Gc::new(Buffered {
                        _a: AllocatesLarge(t * 1_000 + i),
                        _payload: [i; 500],
                    }));
                }
            })
        })
        .collect();
    // Collections keep running meanwhile.
    for _ in 0..20 {
        churn(1 << 20);
    }
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(EXIT_ALLOCS.load(Ordering::SeqCst), THREADS);
    collect();
    println!("PROBE_OK");
}

// ---------------------------------------------------------------------------------------
// Defect 7: a Drop that waits on a user mutex held by a parked thread kept its GC
// operation open, and every allocating thread stopped.

static LOCK: Mutex<()> = Mutex::new(());
static BLOCKED_DROPS: AtomicU64 = AtomicU64::new(0);
static COUNTED_DROPS: AtomicU64 = AtomicU64::new(0);

struct WaitsForLock;
impl Drop for WaitsForLock {
    fn drop(&mut self) {
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        BLOCKED_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

struct Counted;
impl Drop for Counted {
    fn drop(&mut self) {
        COUNTED_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Blocker {
    #[trace(skip)]
    _w: WaitsForLock,
    id: u64,
}

#[derive(Trace)]
struct Plain {
    #[trace(skip)]
    _c: Counted,
    id: u64,
}

#[test]
fn a_blocking_drop_stalls_nobody_else() {
    if is_child() {
        return;
    }
    run("child_blocking_drop", &[], &[]).assert_succeeded("blocking Drop");
}

#[test]
fn child_blocking_drop() {
    if !is_child() {
        return;
    }
    const BLOCKERS: u64 = 1_000;
    const COUNTED: u64 = 10_000;
    // A thread takes the lock and parks until told to let go.
    let (locked_tx, locked) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let holder = std::thread::spawn(move || {
        let g = LOCK.lock().unwrap();
        locked_tx.send(()).unwrap();
        release_rx.recv().unwrap();
        drop(g);
    });
    locked.recv().unwrap();
    for id in 0..BLOCKERS {
        black_box(Gc::new(Blocker {
            _w: WaitsForLock,
            id,
        }));
    }
    // Automatic cycles free the blockers; their drops block a dropper thread. This thread
    // must keep allocating through more cycles, and mem_stats() must keep returning.
    let start = mem_stats().num_gc;
    wait_for("automatic cycles while a Drop blocks", || {
        churn(1 << 20);
        mem_stats().num_gc >= start + 5
    });
    assert_eq!(BLOCKED_DROPS.load(Ordering::SeqCst), 0);
    // Other drops still run: the stuck dropper is replaced for the next jobs.
    for id in 0..COUNTED {
        black_box(Gc::new(Plain { _c: Counted, id }));
    }
    wait_for("drops behind a blocked one", || {
        churn(1 << 20);
        COUNTED_DROPS.load(Ordering::SeqCst) == COUNTED
    });
    release.send(()).unwrap();
    holder.join().unwrap();
    wait_for("the blocked drops", || {
        BLOCKED_DROPS.load(Ordering::SeqCst) == BLOCKERS
    });
    collect();
    println!("PROBE_OK");
}

// ---------------------------------------------------------------------------------------
// Stress: 8 threads whose garbage's Drops block, sleep, allocate large buffers, panic with
// panicking payloads and call mem_stats / collect / free_os_memory, with collections
// running; canaries check that live objects stay intact, and cycles keep completing.

static CHAOS_MADE: AtomicU64 = AtomicU64::new(0);
static CHAOS_DROPS: AtomicU64 = AtomicU64::new(0);
static SHARED: Mutex<u64> = Mutex::new(0);

/// What a chaos object's `Drop` does.
struct Act(u64);
impl Drop for Act {
    fn drop(&mut self) {
        CHAOS_DROPS.fetch_add(1, Ordering::SeqCst);
        match self.0 % 1000 {
            0..=9 => std::thread::sleep(Duration::from_micros(500)),
            10..=29 => {
                let mut g = SHARED.lock().unwrap_or_else(|e| e.into_inner());
                *g += 1;
                std::thread::sleep(Duration::from_micros(50));
            }
            30..=49 => drop(Gc::<[u8]>::new_zeroed_slice(64 << 10)),
            50..=69 => std::panic::panic_any(Bomb),
            70..=74 => panic!("boom: a plain panic"),
            75..=84 => assert!(mem_stats().heap_alloc > 0),
            85 => collect(),
            86 => free_os_memory(),
            _ => drop(Gc::new([self.0; 2])),
        }
    }
}

#[derive(Trace)]
struct Chaos {
    #[trace(skip)]
    _act: Act,
    canary: Option<Gc<Canary>>,
}

/// A live object whose contents are checked: `check == mix(id)`.
#[derive(Trace)]
struct Canary {
    id: u64,
    check: u64,
    next: Option<Gc<Canary>>,
}

fn canary(id: u64, next: Option<Gc<Canary>>) -> Gc<Canary> {
    Gc::new(Canary {
        id,
        check: mix(id),
        next,
    })
}

fn check(c: &Gc<Canary>) {
    let mut cur = Some(c.clone());
    while let Some(n) = cur {
        assert_eq!(n.check, mix(n.id), "canary {} corrupted", n.id);
        cur = n.next.clone();
    }
}

#[test]
fn stress_hostile_drops_on_eight_threads() {
    if is_child() {
        return;
    }
    let r = run("child_stress", &[], &[]);
    r.assert_succeeded("hostile drops stress");
    assert!(r.stdout.contains("CYCLES="), "{}", r.stdout);
}

#[test]
fn child_stress() {
    if !is_child() {
        return;
    }
    quiet_deliberate_panics();
    const THREADS: u64 = 8;
    const ITERS: u64 = 20_000;
    let start = mem_stats().num_gc;
    let progress: Arc<Vec<AtomicU64>> = Arc::new((0..THREADS).map(|_| AtomicU64::new(0)).collect());
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let progress = progress.clone();
            std::thread::spawn(move || {
                let mut live: Vec<Gc<Canary>> =
                    (0..64).map(|i| canary(t << 32 | i, None)).collect();
                for i in 0..ITERS {
                    let id = t << 32 | (64 + i);
                    let r = mix(id);
                    let slot = (r % 64) as usize;
                    // Replace a canary (the old one becomes garbage unless still linked).
                    live[slot] = canary(id, Some(live[(slot + 1) % 64].clone()));
                    CHAOS_MADE.fetch_add(1, Ordering::SeqCst);
                    black_box(Gc::new(Chaos {
                        _act: Act(r >> 8),
                        canary: Some(live[slot].clone()),
                    }));
                    if i % 500 == 0 {
                        live.iter().for_each(check);
                        match i % 3000 {
                            0 => collect(),
                            _ => assert!(mem_stats().num_gc > 0),
                        }
                    }
                    progress[t as usize].store(i, Ordering::Relaxed);
                }
                live.iter().for_each(check);
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let cycles = mem_stats().num_gc - start;
    assert!(cycles >= 10, "only {cycles} cycles completed");
    collect();
    wait_for("every chaos drop", || {
        CHAOS_DROPS.load(Ordering::SeqCst) == CHAOS_MADE.load(Ordering::SeqCst)
    });
    println!("CYCLES={cycles}");
    println!("PROBE_OK");
}
