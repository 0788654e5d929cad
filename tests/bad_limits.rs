//! Bad values and absurd sizes: the public setters (`set_gc_percent`, `set_memory_limit`)
//! with negative, zero and huge values; zero-sized objects, a 64 MiB + 8 KiB object (more
//! than an arena) and page-aligned objects; running out of memory under `RLIMIT_AS`; a
//! `GOMEMLIMIT` below the live heap; cell borrow misuse; and an ignored test for the missing
//! scavenger.
//!
//! The promises under test: a bad setter value is taken as documented, without a warning;
//! running out of memory is a clear fatal error ("out of memory"), never a crash; a limit
//! below the live heap makes the collector work harder but the program keeps going, with its
//! objects intact and the GC's CPU share bounded.
//!
//! The knobs are process-wide and the environment is read once per process, so the cases
//! that set them (and the out-of-memory case, which caps the address space) run in a child
//! process (`tests/common/child.rs`) that re-runs this test binary with `GC_CORE_TEST_CHILD`
//! set and one `child_*` test selected; the parent checks its exit status, stdout
//! (`KEY=value` lines) and stderr. To reproduce a child case by hand:
//!
//! ```sh
//! cargo test --test bad_limits --no-run   # prints the binary's path
//! GC_CORE_TEST_CHILD=1 GOMEMLIMIT=16MiB target/debug/deps/bad_limits-<hash> \
//!     --exact child_limit_below_live --nocapture --test-threads=1
//! GC_CORE_TEST_CHILD=1 GOGC=off BAD_LIMITS_OOM=large target/debug/deps/bad_limits-<hash> \
//!     --exact child_out_of_memory --nocapture --test-threads=1
//! GC_CORE_TEST_CHILD=1 target/debug/deps/bad_limits-<hash> \
//!     --exact child_setters --nocapture --test-threads=1
//! ```
//!
//! Without `GC_CORE_TEST_CHILD` the `child_*` tests return at once.

mod common;

use common::child::{churn, churn_until, is_child, run, run_all, show, Run, FIRST_GOAL, MIB};
use common::units::{AlignedUnit, DropUnit, Unit, UNIT_DROPS};
use gc_core::{
    mem_stats, set_gc_percent, set_memory_limit, BorrowError, BorrowMutError, Gc, GcCell, Trace,
};
use std::os::unix::process::ExitStatusExt;
use std::sync::atomic::Ordering;

/// Which allocation the out-of-memory child makes (`large` or `small`).
const OOM_KIND: &str = "BAD_LIMITS_OOM";

// ---------------------------------------------------------------------------------------
// The public setters with bad values

#[test]
fn child_setters() {
    if !is_child() {
        return;
    }
    let live: Vec<Gc<[u64; 8]>> = (0..1000).map(|i| Gc::new([i; 8])).collect();
    let cycles = || mem_stats().num_gc;

    // set_gc_percent: any negative is off; a huge value saturates the goal, never overflows.
    assert_eq!(set_gc_percent(-1), 100);
    assert_eq!(mem_stats().next_gc, u64::MAX, "off and no limit: no goal");
    assert_eq!(set_gc_percent(i32::MIN), -1);
    let before = cycles();
    churn(8 * MIB);
    assert_eq!(cycles(), before, "GOGC off: no automatic cycle");
    assert_eq!(set_gc_percent(i32::MAX), -1);
    assert!(mem_stats().next_gc >= FIRST_GOAL * i32::MAX as u64 / 100);
    let before = cycles();
    churn(8 * MIB);
    assert_eq!(cycles(), before, "a huge GOGC: no automatic cycle");
    assert_eq!(set_gc_percent(0), i32::MAX);
    let before = cycles();
    churn_until(64 * MIB, |_, s| s.num_gc > before);
    assert!(cycles() > before, "GOGC=0 collects continuously");
    assert_eq!(set_gc_percent(100), 0);

    // set_memory_limit: any negative only reads; 0 pins the goal to the marked heap;
    // i64::MAX is no limit.
    assert_eq!(set_memory_limit(-1), i64::MAX);
    assert_eq!(set_memory_limit(i64::MIN), i64::MAX);
    assert_eq!(
        set_memory_limit(-1),
        i64::MAX,
        "a negative limit changed nothing"
    );
    assert_eq!(set_memory_limit(0), i64::MAX);
    assert!(
        mem_stats().next_gc < FIRST_GOAL,
        "limit 0: goal at the marked heap"
    );
    let before = cycles();
    churn_until(64 * MIB, |_, s| s.num_gc > before);
    assert!(cycles() > before, "limit 0 collects continuously");
    assert_eq!(set_memory_limit(i64::MAX - 1), 0);
    assert_eq!(set_memory_limit(i64::MAX), i64::MAX - 1);
    gc_core::collect();
    assert_eq!(mem_stats().next_gc, FIRST_GOAL, "back to GOGC=100's goal");
    assert!(live.iter().enumerate().all(|(i, g)| **g == [i as u64; 8]));
    println!("PROBE_OK");
}

#[test]
fn setters_take_bad_values_as_documented() {
    if is_child() {
        return;
    }
    let r = run("child_setters", &[], &[]);
    r.assert_ok("setters");
    assert!(r.warnings().is_empty(), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------
// Absurd allocation sizes

/// 64 MiB + 8 KiB: more than one 64 MiB arena.
const BIG_WORDS: usize = (64 << 20) / 8 + 1024;

#[test]
fn child_large_object() {
    if !is_child() {
        return;
    }
    // Gc::new takes its value by value, so the value passes through the stack: give the
    // thread room for a few copies (reserved lazily).
    std::thread::Builder::new()
        .stack_size(4 * BIG_WORDS * 8)
        .spawn(|| {
            let bytes = (BIG_WORDS * 8) as u64;
            let before = mem_stats();
            let make = |tag: u64| {
                let mut a = [0u64; BIG_WORDS];
                a[0] = tag;
                a[BIG_WORDS / 2] = tag + 1;
                a[BIG_WORDS - 1] = tag + 2;
                Gc::new(a)
            };
            let big = make(7);
            let s = mem_stats();
            assert!(s.heap_alloc >= before.heap_alloc + bytes, "{s:?}");
            assert_eq!(s.by_size[0].mallocs, before.by_size[0].mallocs + 1);
            gc_core::collect();
            assert_eq!((big[0], big[BIG_WORDS / 2], big[BIG_WORDS - 1]), (7, 8, 9));
            assert!(big.iter().step_by(4093).skip(1).all(|&w| w == 0));
            let sys = mem_stats().heap_sys;
            drop(big);
            gc_core::collect();
            let s = mem_stats();
            assert!(s.heap_alloc < before.heap_alloc + MIB, "freed: {s:?}");
            assert_eq!(s.by_size[0].frees, before.by_size[0].frees + 1);
            // The freed pages are reused, not mapped again.
            let again = make(70);
            assert_eq!(again[BIG_WORDS - 1], 72);
            assert!(
                mem_stats().heap_sys <= sys,
                "the heap grew for a reused size"
            );
        })
        .unwrap()
        .join()
        .unwrap();
    println!("PROBE_OK");
}

#[test]
fn an_object_larger_than_an_arena_works() {
    if is_child() {
        return;
    }
    run("child_large_object", &[], &[]).assert_ok("64 MiB object");
}

/// A zero-sized object allocated when the thread's tiny block is exactly full used to get
/// the address one past the block, i.e. the *next* block's: its handle then counted roots on
/// whatever object was put there, so dropping it freed that object while it was still in use.
#[test]
fn zero_sized_objects_never_alias_a_neighbour() {
    // A fresh thread: a fresh tiny block, so the offsets below are exact.
    std::thread::spawn(|| {
        for fill in 1..=16usize {
            // Fill `fill` bytes of a block, then a zero-sized object, then a neighbour.
            let bytes: Vec<Gc<u8>> = (0..fill).map(|i| Gc::new(i as u8)).collect();
            let units = (Gc::new(()), Gc::new(Unit), Gc::new(AlignedUnit));
            let huge: Gc<[(); usize::MAX]> = Gc::new([(); usize::MAX]);
            let neighbour = Gc::new([0xAB_u8; 8]);
            assert_eq!(*units.1, Unit);
            assert_eq!(*units.2, AlignedUnit);
            assert_eq!(huge.len(), usize::MAX);
            assert_eq!(Gc::as_ptr(&units.2) as usize % 8, 0);
            drop((units, huge));
            gc_core::collect();
            // Reuse every free tiny slot: a wrongly freed neighbour would be overwritten.
            let others: Vec<Gc<[u8; 8]>> = (0..2000).map(|_| Gc::new([0x11; 8])).collect();
            assert_eq!(*neighbour, [0xAB; 8], "fill {fill}");
            assert!(bytes.iter().enumerate().all(|(i, b)| **b == i as u8));
            assert!(others.iter().all(|o| **o == [0x11; 8]));
            drop(neighbour); // would underflow the wrong slot's root count
        }
    })
    .join()
    .unwrap();

    let before = UNIT_DROPS.load(Ordering::SeqCst);
    let units: Vec<Gc<DropUnit>> = (0..100).map(|_| Gc::new(DropUnit)).collect();
    gc_core::collect();
    assert_eq!(
        UNIT_DROPS.load(Ordering::SeqCst),
        before,
        "all still rooted"
    );
    drop(units);
    gc_core::collect();
    assert_eq!(UNIT_DROPS.load(Ordering::SeqCst), before + 100);
}

#[test]
fn page_aligned_objects() {
    #[derive(Trace)]
    #[repr(align(8192))]
    struct Page {
        v: [u64; 16],
    }
    let pages: Vec<Gc<Page>> = (0..8u64).map(|i| Gc::new(Page { v: [i; 16] })).collect();
    gc_core::collect();
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(Gc::as_ptr(p) as usize % 8192, 0);
        assert_eq!(p.v, [i as u64; 16]);
    }
}

/// Holds objects of the kind `BAD_LIMITS_OOM` names until the address space (capped with
/// `RLIMIT_AS` a little above what the process already uses) runs out.
#[test]
fn child_out_of_memory() {
    if !is_child() {
        return;
    }
    let large = match std::env::var(OOM_KIND).as_deref() {
        Ok("large") => true,
        Ok("small") => false,
        other => panic!("{OOM_KIND}={other:?}"),
    };
    // Start the collector's threads and reserve the handles' vector before the cap.
    let _warm = Gc::new(0u64);
    gc_core::collect();
    let mut held_large: Vec<Gc<[u64; 32768]>> = Vec::with_capacity(4096);
    let mut held_small: Vec<Gc<[u64; 64]>> = Vec::with_capacity(1 << 21);
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    // Less than a fresh 64 MiB arena's mapping needs (it maps 128 MiB to align it), and
    // plenty for everything else the process maps meanwhile.
    let cap = pages * page + 100 * MIB;
    let limit = libc::rlimit {
        rlim_cur: cap as libc::rlim_t,
        rlim_max: cap as libc::rlim_t,
    };
    // SAFETY: a valid rlimit for this process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
    println!("CAPPED_AT_MIB={}", cap / MIB);
    // At most 1 GiB: far beyond the cap, so reaching the end means the cap did not work.
    for i in 0..4096u64 {
        if large {
            held_large.push(Gc::new([i; 32768])); // 256 KiB
        } else {
            for j in 0..512u64 {
                held_small.push(Gc::new([i ^ j; 64])); // 512 B, 256 KiB per round
            }
        }
        println!("HELD_KIB={}", (i + 1) * 256);
    }
    println!("NEVER_RAN_OUT");
}

#[test]
fn running_out_of_memory_is_a_clear_fatal_error() {
    if is_child() {
        return;
    }
    for (kind, gogc) in [("large", "off"), ("small", "off"), ("large", "100")] {
        let r = run(
            "child_out_of_memory",
            &[("GOGC", gogc.as_bytes())],
            &[(OOM_KIND, kind)],
        );
        let what = format!("{kind} objects, GOGC={gogc}");
        assert!(
            !r.stdout.contains("NEVER_RAN_OUT"),
            "{what}: the cap had no effect"
        );
        assert!(r.num("CAPPED_AT_MIB=") > 0, "{what}: {}", r.stderr);
        assert!(
            r.num("HELD_KIB=") > 0,
            "{what}: nothing allocated under the cap"
        );
        assert!(!r.status.success(), "{what}: {}", r.stdout);
        assert!(
            !matches!(r.status.signal(), Some(libc::SIGSEGV | libc::SIGBUS)),
            "{what}: crashed with {}\n{}",
            r.status,
            r.stderr
        );
        assert!(
            r.stderr
                .contains("fatal error: gc_core: out of memory allocating"),
            "{what}: {}\n{}",
            r.status,
            r.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// GOMEMLIMIT below the live heap

/// Just under 8 KiB (size class 8192); a linked list of them is the live set, traced each
/// cycle.
#[derive(Trace)]
struct Chunk {
    data: [u64; CHUNK_WORDS],
    next: Option<Gc<Chunk>>,
}

const CHUNK_WORDS: usize = 1022;

/// 64 MiB live under a 16 MiB limit: cycles run back to back, but the program keeps going,
/// its objects stay intact and the GC's CPU share stays bounded; once the live set goes, the
/// heap returns under the limit.
#[test]
fn child_limit_below_live() {
    if !is_child() {
        return;
    }
    const CHUNKS: u64 = 64 * 1024 / 8;
    let limit = set_memory_limit(-1) as u64;
    assert_eq!(limit, 16 * MIB);
    let mut head: Option<Gc<Chunk>> = None;
    for i in 0..CHUNKS {
        head = Some(Gc::new(Chunk {
            data: [i; CHUNK_WORDS],
            next: head.take(),
        }));
    }
    let built = mem_stats();
    println!("LIVE_MIB={}", built.heap_alloc / MIB);
    println!("CYCLES_WHILE_BUILDING={}", built.num_gc);

    // At least 8 MiB of garbage, and until three more cycles have completed.
    let mut max_heap_alloc = 0;
    let spent = churn_until(256 * MIB, |spent, s| {
        max_heap_alloc = max_heap_alloc.max(s.heap_alloc);
        spent >= 8 * MIB && s.num_gc >= built.num_gc + 3
    });
    let churned = mem_stats();
    println!("CYCLES_WHILE_CHURNING={}", churned.num_gc - built.num_gc);
    println!("GARBAGE_MIB={}", spent / MIB);
    println!("MAX_HEAP_ALLOC_MIB={}", max_heap_alloc / MIB);
    println!(
        "GC_CPU_PERMILLE={}",
        (churned.gc_cpu_fraction * 1000.0) as u64
    );

    // Every object is intact.
    let mut n = CHUNKS;
    let mut cur = head.clone();
    while let Some(c) = cur {
        n -= 1;
        assert!(c.data.iter().all(|&w| w == n), "chunk {n} corrupted");
        cur = c.next.clone();
    }
    assert_eq!(n, 0, "chunks lost");

    // The live set goes: automatic cycles (two: one may have started before the drop)
    // bring the heap back under the limit.
    drop(head);
    let dropped = mem_stats().num_gc;
    let spent = churn_until(64 * MIB, |_, s| {
        s.num_gc >= dropped + 2 && s.heap_alloc < limit
    });
    let s = mem_stats();
    println!("CYCLES_AFTER_DROP={}", s.num_gc - dropped);
    println!("GARBAGE_AFTER_DROP_KIB={}", spent >> 10);
    println!("HEAP_ALLOC_AFTER_DROP={}", s.heap_alloc);
    println!("HEAP_SYS_AFTER_DROP_MIB={}", s.heap_sys / MIB);
    gc_core::collect();
    let s = mem_stats();
    println!("HEAP_ALLOC_COLLECTED={}", s.heap_alloc);
    // The program goes on allocating: the allocator releases the free pages that keep the
    // process over the limit (eager scavenging), and with next to nothing live the goal is
    // GOGC's 4 MiB minimum again (GOGC=100) or the limit minus its headroom (GOGC=off).
    let spent = churn_until(16 * MIB, |_, s| s.next_gc >= FIRST_GOAL);
    let s = mem_stats();
    println!("GARBAGE_TO_RECOVER_KIB={}", spent >> 10);
    println!("NEXT_GC_AFTER_RECOVERY={}", s.next_gc);
    println!(
        "RETAINED_AFTER_RECOVERY_MIB={}",
        (s.heap_sys - s.heap_released) / MIB
    );
    println!("PROBE_OK");
}

/// Runs the child with `GOMEMLIMIT=16MiB`, under `GOGC=100` and `GOGC=off` in parallel.
fn run_limit_below_live() -> Vec<(String, Run)> {
    let jobs: Vec<Vec<(&str, &[u8])>> = vec![
        vec![("GOMEMLIMIT", b"16MiB")],
        vec![("GOMEMLIMIT", b"16MiB"), ("GOGC", b"off")],
    ];
    let runs = run_all("child_limit_below_live", &jobs, &[]);
    jobs.iter()
        .zip(runs)
        .map(|(vars, r)| {
            let what = show(vars);
            r.assert_ok(&what);
            (what, r)
        })
        .collect()
}

#[test]
fn memory_limit_below_the_live_heap_degrades_gracefully() {
    if is_child() {
        return;
    }
    for (what, r) in run_limit_below_live() {
        assert!(r.warnings().is_empty(), "{what}: {}", r.stderr);
        assert!(r.num("LIVE_MIB=") >= 64, "{what}");
        // The limit is exceeded throughout: cycles keep completing (within the garbage
        // budget), and every object survived them.
        assert!(r.num("CYCLES_WHILE_CHURNING=") >= 3, "{what}: {}", r.stdout);
        // Cumulative GC CPU since start; the limiter aims at 50% (Go's), a healthy run
        // shows 40-50%.
        let cpu = r.num("GC_CPU_PERMILLE=");
        assert!(cpu < 900, "{what}: GC took {cpu}‰ of the CPU");
        // After the live set is dropped, automatic cycles bring the heap under the limit.
        assert!(r.num("CYCLES_AFTER_DROP=") >= 2, "{what}: {}", r.stdout);
        assert!(
            r.num("HEAP_ALLOC_AFTER_DROP=") < 16 * MIB,
            "{what}: {}",
            r.stdout
        );
        assert!(r.num("HEAP_ALLOC_COLLECTED=") < MIB, "{what}: {}", r.stdout);
    }
}

/// Once the heap has been mapped past `GOMEMLIMIT`, its free pages must go back to the OS
/// after the live set goes, or the memory-limit goal stays pinned at the (now tiny) marked
/// heap and the program collects continuously for the rest of its life. The allocator
/// releases the overage as soon as it allocates (Go's eager scavenging), within a few KiB
/// of garbage, and the retained heap falls under the limit.
#[test]
fn after_the_live_set_goes_the_goal_recovers() {
    if is_child() {
        return;
    }
    for (what, r) in run_limit_below_live() {
        let goal = r.num("NEXT_GC_AFTER_RECOVERY=");
        assert!(
            goal >= FIRST_GOAL,
            "{what}: goal {goal} with ~0 live and heap_sys {} MiB",
            r.num("HEAP_SYS_AFTER_DROP_MIB=")
        );
        assert!(
            r.num("RETAINED_AFTER_RECOVERY_MIB=") < 16,
            "{what}: {}",
            r.stdout
        );
        assert!(
            r.num("GARBAGE_TO_RECOVER_KIB=") <= 256,
            "{what}: {}",
            r.stdout
        );
    }
}

// ---------------------------------------------------------------------------------------
// Cell borrow misuse (the blocking `borrow`/`borrow_mut` panic on the same thread, see
// `tests/cell_borrows.rs`; the `try_` forms report it)

#[derive(Trace)]
struct Holder {
    cell: GcCell<Vec<Gc<u64>>>,
}

#[test]
fn try_borrows_report_conflicts_instead_of_blocking() {
    let h = Gc::new(Holder {
        cell: GcCell::new(vec![Gc::new(1)]),
    });
    {
        let r = h.cell.borrow();
        let e: BorrowMutError = h.cell.try_borrow_mut().expect_err("shared-borrowed");
        assert_eq!(e.to_string(), "GcCell already borrowed");
        let e: &dyn std::error::Error = &e;
        assert!(e.source().is_none());
        let r2 = h.cell.try_borrow().expect("shared borrows stack");
        assert_eq!(*r[0], *r2[0]);
    }
    {
        let mut w = h.cell.try_borrow_mut().expect("free again");
        let e: BorrowError = h.cell.try_borrow().expect_err("mutably borrowed");
        assert_eq!(e.to_string(), "GcCell already mutably borrowed");
        assert!(h.cell.try_borrow_mut().is_err());
        w.push(Gc::new(2));
        // A collection while this thread holds the write guard neither waits for it nor
        // loses what the guard is writing.
        gc_core::collect();
        w.push(Gc::new(3));
    }
    gc_core::collect();
    let values: Vec<u64> = h.cell.borrow().iter().map(|g| **g).collect();
    assert_eq!(values, [1, 2, 3]);
    // Another thread sees the conflict too.
    let w = h.cell.borrow_mut();
    let h2 = h.clone();
    let seen = std::thread::spawn(move || {
        (
            h2.cell.try_borrow().is_err(),
            h2.cell.try_borrow_mut().is_err(),
        )
    })
    .join()
    .unwrap();
    assert_eq!(seen, (true, true));
    drop(w);
}
