//! The runtime's own threads under hostile settings (issue 11): each case runs in a child
//! process (`tests/common/child.rs`, which kills a hung child), so a regression fails
//! instead of hanging.
//!
//! - No thread can be started at all (`RUST_MIN_STACK` far beyond the address space): the
//!   GC controller, the sweeper, the scavenger and the mark workers each warn once, cycles
//!   run on the allocating thread and mark inline, and objects stay correct.
//! - `GOMAXPROCS=1024` on a small machine: clamped to 4 per core with one warning, and no
//!   more mark threads than cores ever exist.
//! - Mark threads switch between dedicated, fractional and idle assignments, also where
//!   the OS refuses to raise a lowered priority again (the child drops root if it has it):
//!   after a forced cycle every mark thread runs at normal priority.
//!
//! Run a child by hand: `GC_CORE_TEST_CHILD=1 RUST_MIN_STACK=70368744177664
//! target/debug/deps/hostile_threads-<hash> --exact child_no_threads --nocapture
//! --test-threads=1`.

mod common;

use common::child::{automatic_cycles, churn_until, is_child, run, MIB};
use gc_core::{collect, mem_stats, Gc, Trace};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

/// A `RUST_MIN_STACK` no thread with the default stack size can get (64 TiB: the mapping
/// fails with `EAGAIN`/`ENOMEM`).
const HUGE_STACK: &str = "70368744177664";

/// Set: `child_switching_modes` keeps root if it has it (else it drops it).
const KEEP_ROOT: &str = "HOSTILE_THREADS_KEEP_ROOT";

/// Stack for the child's own helper threads (explicit, so `RUST_MIN_STACK` does not apply).
const HELPER_STACK: usize = 256 << 10;

#[derive(Trace)]
struct Node {
    next: Option<Gc<Node>>,
    value: u64,
}

/// A list of `n` nodes holding `0..n` (head holds `n - 1`).
fn list(n: u64) -> Gc<Node> {
    let mut head = Gc::new(Node {
        next: None,
        value: 0,
    });
    for value in 1..n {
        head = Gc::new(Node {
            next: Some(head),
            value,
        });
    }
    head
}

/// Checks that the list still holds `n - 1, n - 2, ..., 0`.
fn check_list(head: &Gc<Node>, n: u64) {
    let mut want = n;
    let mut cur = Some(head.clone());
    while let Some(node) = cur {
        want -= 1;
        assert_eq!(node.value, want, "list node corrupted");
        cur = node.next.clone();
    }
    assert_eq!(want, 0, "list cut short");
}

/// The names of this process's threads.
fn thread_names() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim_end().to_string())
        .collect()
}

fn mark_threads() -> usize {
    thread_names()
        .iter()
        .filter(|n| n.starts_with("gc-mark"))
        .count()
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// ---------------------------------------------------------------------------------------
// Defect 10: no thread can be started.

static NO_THREAD_DROPS: AtomicU64 = AtomicU64::new(0);

/// A field with a hand-written `Drop`: its objects go to the dropper, which then has no
/// thread either.
struct CountsDrop;
impl Drop for CountsDrop {
    fn drop(&mut self) {
        NO_THREAD_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct WithDrop {
    #[trace(skip)]
    _c: CountsDrop,
    _v: u64,
}

#[test]
fn child_no_threads() {
    if !is_child() {
        return;
    }
    // The premise: this process cannot start a thread with the default stack size.
    assert!(std::thread::Builder::new().spawn(|| ()).is_err());
    const N: u64 = 10_000;
    let head = list(N);
    for v in 0..1_000 {
        std::hint::black_box(Gc::new(WithDrop {
            _c: CountsDrop,
            _v: v,
        }));
    }
    let spent = churn_until(512 * MIB, |_, s| automatic_cycles(s) >= 3);
    let auto = automatic_cycles(&mem_stats());
    check_list(&head, N);
    for _ in 0..3 {
        collect();
        check_list(&head, N);
    }
    // Their drops ran on this thread (after allocations, and in collect()).
    assert_eq!(NO_THREAD_DROPS.load(Ordering::SeqCst), 1_000);
    let s = mem_stats();
    println!(
        "AUTO_GC={auto} NUM_GC={} GARBAGE_MIB={}",
        s.num_gc,
        spent >> 20
    );
    assert!(auto >= 3, "automatic cycles: {auto}");
    assert!(s.num_forced_gc >= 3 && s.num_gc >= auto + 3);
    // Every cycle freed its garbage: what is left is the list and partly used spans.
    assert!(
        s.heap_alloc < 8 * MIB,
        "heap_alloc {} after collect",
        s.heap_alloc
    );
    let runtime: Vec<String> = thread_names()
        .into_iter()
        .filter(|n| n.starts_with("gc-"))
        .collect();
    assert!(runtime.is_empty(), "threads started after all: {runtime:?}");
    println!("PROBE_OK");
}

#[test]
fn without_threads_cycles_run_on_the_allocating_thread_and_mark_inline() {
    if is_child() {
        return;
    }
    let r = run(
        "child_no_threads",
        &[("GODEBUG", b"gctrace=1")],
        &[("RUST_MIN_STACK", HUGE_STACK)],
    );
    r.assert_ok("RUST_MIN_STACK=64TiB");
    let w = r.warnings();
    for needle in [
        "cannot start a mark worker thread",
        "cannot start the gc-controller thread",
        "cannot start the gc-sweeper thread",
        "cannot start a dropper thread",
    ] {
        let n = w.iter().filter(|l| l.contains(needle)).count();
        assert_eq!(n, 1, "one warning with {needle:?}:\n{}", r.stderr);
    }
    assert!(
        w.iter()
            .any(|l| l.contains("marking on the thread running the cycle")),
        "{w:?}"
    );
    // gctrace saw the automatic and the forced cycles.
    assert!(
        r.trace_procs().len() as u64 >= r.num("NUM_GC="),
        "{}",
        r.stderr
    );
}

// ---------------------------------------------------------------------------------------
// Defect 11: GOMAXPROCS=1024.

#[test]
fn child_many_procs() {
    if !is_child() {
        return;
    }
    let live: Vec<Gc<[u64; 8]>> = (0..1000).map(|i| Gc::new([i; 8])).collect();
    let head = list(1000);
    // Count mark threads all along, from a thread of our own.
    let stop = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (stop, most) = (stop.clone(), most.clone());
        std::thread::Builder::new()
            .stack_size(HELPER_STACK)
            .spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    most.fetch_max(mark_threads(), Ordering::Relaxed);
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
            })
            .unwrap()
    };
    for _ in 0..10 {
        churn_until(2 * MIB, |_, _| false);
        collect();
        most.fetch_max(mark_threads(), Ordering::Relaxed);
    }
    churn_until(64 * MIB, |_, s| automatic_cycles(s) >= 2);
    stop.store(true, Ordering::Relaxed);
    sampler.join().unwrap();
    assert!(live.iter().enumerate().all(|(i, g)| **g == [i as u64; 8]));
    check_list(&head, 1000);
    let most = most.load(Ordering::Relaxed);
    println!("MARK_THREADS={most}");
    assert!(most >= 1, "no mark thread seen");
    assert!(most <= cores(), "{most} mark threads on {} cores", cores());
    println!("PROBE_OK");
}

#[test]
fn absurd_gomaxprocs_is_clamped_and_mark_threads_never_outnumber_cores() {
    if is_child() {
        return;
    }
    let clamped = (4 * cores()).min(1024);
    let r = run(
        "child_many_procs",
        &[("GOMAXPROCS", b"1024"), ("GODEBUG", b"gctrace=1")],
        &[],
    );
    r.assert_ok("GOMAXPROCS=1024");
    let w = r.warnings();
    if clamped < 1024 {
        assert_eq!(w.len(), 1, "one warning:\n{}", r.stderr);
        assert!(w[0].starts_with("gc_core: GOMAXPROCS=\"1024\""), "{}", w[0]);
        assert!(
            w[0].ends_with(&format!("; using GOMAXPROCS={clamped}")),
            "{}",
            w[0]
        );
    } else {
        assert!(w.is_empty(), "{w:?}");
    }
    let procs = r.trace_procs();
    assert!(procs.len() >= 10, "gctrace lines:\n{}", r.stderr);
    assert!(procs.iter().all(|&p| p == clamped as u64), "{procs:?}");
    assert!(r.num("MARK_THREADS=") <= cores() as u64);
}

// ---------------------------------------------------------------------------------------
// Mark threads changing modes.

/// The mark threads' priorities once each has taken the last round's assignment, or after
/// 10 s. A round ends without waiting for its workers to leave (`gc/workers.rs`), so a
/// thread still leaving an earlier round (an idle worker waiting for a core) takes its
/// assignment, and sets its priority for it, after `collect()` returned.
fn settled_priorities() -> Vec<(String, i64, u64)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let prios = mark_thread_priorities();
        let normal = prios
            .iter()
            .all(|&(_, nice, policy)| nice == 0 && policy == 0);
        if normal || std::time::Instant::now() >= deadline {
            return prios;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// A thread's nice value and scheduling policy (`/proc/self/task/<tid>/stat` fields 19 and
/// 41), by name.
fn mark_thread_priorities() -> Vec<(String, i64, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let Ok(comm) = std::fs::read_to_string(e.path().join("comm")) else {
            continue;
        };
        if !comm.starts_with("gc-mark") {
            continue;
        }
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap();
        // Fields after the parenthesised name start at field 3.
        let rest: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        out.push((
            comm.trim_end().to_string(),
            rest[19 - 3].parse().unwrap(),
            rest[41 - 3].parse().unwrap(),
        ));
    }
    out
}

#[test]
fn child_switching_modes() {
    if !is_child() {
        return;
    }
    let keep_root = std::env::var_os(KEEP_ROOT).is_some();
    // SAFETY: plain syscalls; no thread of the runtime exists yet, and glibc applies the
    // uid change to every thread of the process.
    let privileged = unsafe { libc::geteuid() } == 0;
    let dropped = !keep_root
        && privileged
        // SAFETY: as above.
        && unsafe {
            libc::setresuid(65534, 65534, 65534) == 0 && {
                // Keep /proc/self readable after the credential change.
                libc::prctl(libc::PR_SET_DUMPABLE, 1);
                true
            }
        };
    println!("DROPPED_ROOT={}", u8::from(dropped));
    let head = list(10_000);
    for round in 0..4 {
        // Automatic cycles: a fractional worker (nice +10) and idle ones (SCHED_IDLE) on
        // small machines ...
        let before = automatic_cycles(&mem_stats());
        churn_until(256 * MIB, |_, s| automatic_cycles(s) >= before + 2);
        // ... then a forced one: every mark thread it uses is dedicated, at normal
        // priority again (raised, or replaced by a fresh thread where raising is refused).
        collect();
        let prios = settled_priorities();
        println!("ROUND={round} PRIORITIES={prios:?}");
        assert!(!prios.is_empty() && prios.len() <= cores(), "{prios:?}");
        assert!(
            prios
                .iter()
                .all(|&(_, nice, policy)| nice == 0 && policy == 0),
            "a mark thread kept a lowered priority after a forced cycle: {prios:?}"
        );
        if keep_root && privileged {
            // Raising works: the same threads serve every round.
            let first: Vec<String> = (0..cores()).map(|i| format!("gc-mark-{i}")).collect();
            assert!(prios.iter().all(|(n, ..)| first.contains(n)), "{prios:?}");
        }
        check_list(&head, 10_000);
    }
    println!("PROBE_OK");
}

#[test]
fn mark_threads_get_normal_priority_back_for_dedicated_work() {
    if is_child() {
        return;
    }
    for extra in [&[][..], &[(KEEP_ROOT, "1")][..]] {
        let r = run("child_switching_modes", &[], extra);
        r.assert_ok(&format!("switching modes {extra:?}"));
        assert!(r.warnings().is_empty(), "{}", r.stderr);
    }
}
