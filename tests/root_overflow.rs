//! Leaked handles never wrap a root counter (issue 11, defect 1).
//!
//! Tiny objects share their 16-byte block's one `u32` root counter, and a new tiny object's
//! first root used to be an unchecked `fetch_add`: 2^32 - 1 `mem::forget(Gc::new(()))` in
//! the block of a live `Gc<u64>` wrapped the counter to 0 and the `u64` was freed while in
//! use. Every path that adds a root now aborts with "more than 2^31 Gc handles to one
//! object" once the count reaches `MAX_ROOTS`, like `Arc` on a refcount overflow.
//!
//! Leaking 2^31 handles for real takes minutes, so the debug-only hook
//! `__private::raise_root_count_for_test` raises the live object's count to just below
//! `MAX_ROOTS` (as if handles had been leaked), and a child process (`tests/common/child.rs`:
//! the abort must not take the test binary with it) leaks a few more through each path: a
//! new tiny object in the same block, a clone, a clone on a thread that never allocated,
//! an `AtomicGc` load. The parent checks that the child aborted with the message and never
//! went on. A root taken by a thread that allocated waits in its root cache
//! (`gc/root_cache.rs`) until the next stop of GC operations applies it, so those paths
//! abort there: in `collect`, before the child reads `x` again. A thread that never
//! allocated counts at once, and aborts at the leak that reaches `MAX_ROOTS`. By hand:
//!
//! ```sh
//! GC_CORE_TEST_CHILD=1 ROOT_OVERFLOW_PATH=new_tiny target/debug/deps/root_overflow-<hash> \
//!     --exact child_leak_roots --nocapture --test-threads=1
//! ```

#![cfg(debug_assertions)] // the test hooks exist in debug builds only

mod common;

use common::child::{is_child, run};
use gc_core::__private::{raise_root_count_for_test, MAX_ROOTS};
use gc_core::{AtomicGc, Gc};
use std::os::unix::process::ExitStatusExt;

/// Which path the child leaks roots through.
const PATH: &str = "ROOT_OVERFLOW_PATH";
/// Handles the child leaks after raising the count to `MAX_ROOTS - HEADROOM`: as many
/// zero-sized objects as fit in the block after the `u64` and the probe (one byte each).
const LEAKS: u32 = 7;
/// The raised count's distance below `MAX_ROOTS`: the third leak must abort.
const HEADROOM: u32 = 2;

#[test]
fn child_leak_roots() {
    if !is_child() {
        return;
    }
    let path = std::env::var(PATH).unwrap();
    // A fresh thread has a fresh tiny block: `x` starts it, and the zero-sized objects
    // below (one byte each) land in the rest of it.
    std::thread::spawn(move || {
        let x = Gc::new(0x5EED_u64);
        let probe = Gc::new(());
        let block = |p: usize| p / 16;
        assert_eq!(
            block(Gc::as_ptr(&x) as usize),
            block(Gc::as_ptr(&probe) as usize),
            "the probe must share the u64's tiny block"
        );
        let slot = AtomicGc::new(Some(x.clone()));
        let before = raise_root_count_for_test(&x, MAX_ROOTS - HEADROOM);
        assert_eq!(before, 3, "x, its clone in the slot, the probe");
        for i in 0..LEAKS {
            println!("LEAKING={i}");
            match path.as_str() {
                "new_tiny" => {
                    let unit = Gc::new(());
                    assert_eq!(
                        block(Gc::as_ptr(&unit) as usize),
                        block(Gc::as_ptr(&x) as usize)
                    );
                    std::mem::forget(unit);
                }
                "clone" => std::mem::forget(x.clone()),
                // A thread that never allocated has no root cache: counted at once.
                "clone_uncached" => {
                    let x = x.clone();
                    std::thread::scope(|s| {
                        s.spawn(|| std::mem::forget(x.clone()));
                    });
                }
                "atomic_load" => std::mem::forget(slot.load()),
                other => panic!("unknown {PATH} {other}"),
            }
        }
        // Only reached with every leaked count still pending in the root cache, or if the
        // count went past MAX_ROOTS (on its way to wrapping).
        println!("CONTINUED");
        gc_core::collect();
        println!("X={}", *x);
        drop(probe);
    })
    .join()
    .unwrap();
}

#[test]
fn leaked_roots_abort_instead_of_wrapping() {
    if is_child() {
        return;
    }
    for path in ["new_tiny", "clone", "clone_uncached", "atomic_load"] {
        let r = run("child_leak_roots", &[], &[(PATH, path)]);
        let what = format!("{path}: {}\n{}\n{}", r.status, r.stdout, r.stderr);
        // Roots taken by a thread with a root cache wait there until the next stop (inside
        // `collect`); a thread without one counts at once.
        let deferred = path != "clone_uncached";
        let went_on = if deferred { "X=" } else { "CONTINUED" };
        assert!(
            !r.stdout.contains(went_on),
            "went on past MAX_ROOTS: {what}"
        );
        assert_eq!(r.status.signal(), Some(libc::SIGABRT), "{what}");
        assert!(
            r.stderr.contains(
                "fatal error: gc_core: more than 2^31 Gc handles to one object: \
                 handles are being leaked"
            ),
            "{what}"
        );
        // The counts MAX_ROOTS - 2 and MAX_ROOTS - 1 are fine; taking one at MAX_ROOTS
        // aborts; a deferred root, when it is counted (at the stop, or earlier when another
        // address pushes it out of its cache entry).
        let last = r
            .stdout
            .lines()
            .rfind(|l| l.starts_with("LEAKING="))
            .and_then(|l| l["LEAKING=".len()..].parse::<u32>().ok());
        if deferred {
            assert!(last.is_some_and(|i| i >= 2), "{what}");
        } else {
            assert_eq!(last, Some(2), "{what}");
        }
    }
}
