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
//! Run a child by hand: `CLOBBER_CHILD=write GODEBUG=clobberfree=1 cargo test --test
//! clobberfree -- --exact child --nocapture` (or `CLOBBER_CHILD=read`).

use gc_core::{Gc, Trace};
use std::process::Command;

const CHILD: &str = "CLOBBER_CHILD";

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

fn child_write() {
    let (_keep, stale) = free_some();
    // SAFETY: none: this is the bug under test. The slot is still mapped heap memory.
    unsafe { stale[500].write_volatile(0x1234_5678) };
    let mut again = Vec::new();
    for i in 0..100_000 {
        again.push(obj(i));
    }
    println!("NO_REPORT");
}

fn child_read() {
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

#[test]
fn child() {
    match std::env::var(CHILD).as_deref() {
        Ok("write") => child_write(),
        Ok("read") => child_read(),
        _ => {}
    }
}

fn run_child(case: &str) -> (bool, String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child", "--nocapture", "--test-threads=1"])
        .env(CHILD, case)
        .env("GODEBUG", "clobberfree=1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn write_after_free_is_reported_on_reuse() {
    let (ok, stdout, stderr) = run_child("write");
    assert!(!ok, "write after free went unnoticed:\n{stdout}\n{stderr}");
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
    let (ok, stdout, stderr) = run_child("read");
    assert!(ok, "child failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("POISON=0xdededededededede"), "{stdout}");
    assert!(stdout.contains("REUSED_OK"), "{stdout}");
}
