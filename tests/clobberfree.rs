//! `GODEBUG=clobberfree=1`: freed objects are filled with `0xde`, and allocation checks
//! that a free slot still holds the pattern, so a write after free is reported.
//!
//! The child process frees an object, writes through a stale raw pointer to it (what a
//! buggy `unsafe` user would do), then allocates objects of the same size until the slot is
//! reused: the allocation must abort with a report naming the slot and the bad byte. A
//! second child frees objects and reads them through stale pointers without writing: it
//! sees the pattern, and allocation goes on without a report. Each case runs in a child
//! process (the environment is read once per process; the first case aborts).
//!
//! The children start through `tests/common/child.rs`. Run one by hand:
//! `GC_CORE_TEST_CHILD=1 GODEBUG=clobberfree=1 cargo test --test clobberfree -- --exact
//! child_write --nocapture` (or `child_read`).

mod common;

use common::child::{is_child, run, Run};
use gc_core::{Gc, Trace};

/// 48 bytes, with a destructor, so it is a small object (not tiny) of its own class.
#[derive(Trace)]
struct Obj {
    words: [u64; 5],
    #[trace(skip)]
    _guard: Guard,
}

struct Guard;
impl Drop for Guard {
    fn drop(&mut self) {}
}

fn obj(v: u64) -> Gc<Obj> {
    Gc::new(Obj {
        words: [v; 5],
        _guard: Guard,
    })
}

/// Frees 1000 objects (keeping their neighbours alive) and returns stale pointers to them.
fn free_some() -> (Vec<Gc<Obj>>, Vec<*mut u64>) {
    let all: Vec<Gc<Obj>> = (0..2000).map(obj).collect();
    let mut keep = Vec::new();
    let mut stale = Vec::new();
    for (i, g) in all.into_iter().enumerate() {
        if i % 2 == 0 {
            keep.push(g);
        } else {
            stale.push(g.words.as_ptr() as *mut u64);
        }
    }
    gc_core::collect();
    gc_core::collect(); // the first cycle's sweep is finished by the second
    (keep, stale)
}

#[test]
fn child_write() {
    if !is_child() {
        return;
    }
    let (_keep, stale) = free_some();
    // SAFETY: none: this is the bug under test. The slot is still mapped heap memory.
    unsafe { stale[500].write_volatile(0x1234_5678) };
    let mut again = Vec::new();
    for i in 0..100_000 {
        again.push(obj(i));
    }
    println!("NO_REPORT");
}

#[test]
fn child_read() {
    if !is_child() {
        return;
    }
    let (_keep, stale) = free_some();
    // SAFETY: reads of freed but mapped heap memory, to observe the poison.
    let seen = unsafe { stale[10].read_volatile() };
    println!("POISON={seen:#x}");
    let again: Vec<Gc<Obj>> = (0..100_000).map(obj).collect();
    assert!(again
        .iter()
        .enumerate()
        .all(|(i, g)| g.words[4] == i as u64));
    println!("REUSED_OK");
}

/// Runs child test `test` with `GODEBUG=clobberfree=1`.
fn run_child(test: &str) -> Run {
    run(test, &[("GODEBUG", b"clobberfree=1")], &[])
}

#[test]
fn write_after_free_is_reported_on_reuse() {
    if is_child() {
        return;
    }
    let Run {
        status,
        stdout,
        stderr,
    } = run_child("child_write");
    assert!(
        !status.success(),
        "write after free went unnoticed:\n{stdout}\n{stderr}"
    );
    assert!(!stdout.contains("NO_REPORT"));
    assert!(
        stderr.contains("clobberfree: write after free")
            && stderr.contains("expected 0xde")
            && stderr.contains("is 0x78"),
        "no or wrong report:\n{stderr}"
    );
}

#[test]
fn freed_objects_read_as_poison_and_slots_are_reused() {
    if is_child() {
        return;
    }
    let Run {
        status,
        stdout,
        stderr,
    } = run_child("child_read");
    assert!(status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("POISON=0xdededededededede"), "{stdout}");
    assert!(stdout.contains("REUSED_OK"), "{stdout}");
}
