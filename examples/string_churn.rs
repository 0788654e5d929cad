//! Memory the pacer cannot see: a churn of large strings held by small heap objects, the
//! way interpreters store strings (`Gc<String>`: 24 bytes in the collected heap, the buffer
//! in `malloc`). Only one string is alive at a time, so every collection frees all but one.
//!
//! ```sh
//! cargo run --release --example string_churn                  # every kind, each in a child
//! cargo run --release --example string_churn -- --kind gc-string --strings 40000 --kib 50
//! ```
//!
//! Kinds:
//! - `gc-string`: `Gc<String>` with `gc_core::CountingAllocator` counting the buffers, so
//!   the pacer sees them (the fix);
//! - `gc-string-uncounted`: the same program with the allocator's counting switched off
//!   (what every program got before `CountingAllocator`): the pacer sees 24-byte objects,
//!   no cycle runs before gigabytes are allocated;
//! - `gc-str`: `Gc<str>`, the bytes in the collected heap itself;
//! - `string`: a plain `String`, no collector, each freed when replaced (the floor).
//!
//! Prints one line per kind: wall time, peak RSS (`VmHWM`), cycles, external bytes.
//!
//! The global allocator is `CountingAllocator` wrapped in a switch read once from the
//! environment (`STRING_CHURN_UNCOUNTED=1`, set by the parent for the uncounted child), so
//! one binary measures both; the switch is this example's, not the library's.

#[path = "common/mod.rs"]
mod common;

use common::{parse_flags, parse_value, peak_rss_field, usage_error};
use gc_core::{CountingAllocator, Gc};
use std::alloc::{GlobalAlloc, Layout, System};
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

const USAGE: &str = "usage: string_churn [--kind gc-string|gc-string-uncounted|gc-str|string|all] [--strings N] [--kib K]";
const KINDS: [&str; 4] = ["gc-string", "gc-string-uncounted", "gc-str", "string"];

/// `CountingAllocator`, or `System` alone when `STRING_CHURN_UNCOUNTED` is set.
struct Switch;

static COUNTING: CountingAllocator = CountingAllocator::system();
/// 0: not read yet; 1: counting; 2: not counting.
static MODE: AtomicU8 = AtomicU8::new(0);

fn counting() -> bool {
    let mut m = MODE.load(Ordering::Relaxed);
    if m == 0 {
        // `getenv` does not allocate, so it may run inside the allocator.
        // SAFETY: a NUL-terminated name; nothing in this program sets variables.
        let set = unsafe { !libc::getenv(c"STRING_CHURN_UNCOUNTED".as_ptr()).is_null() };
        m = if set { 2 } else { 1 };
        MODE.store(m, Ordering::Relaxed);
    }
    m == 1
}

// SAFETY: both allocators serve from `System`; the switch only decides whether the bytes
// are counted, and it is read once, so an allocation and its free are counted alike.
unsafe impl GlobalAlloc for Switch {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe {
            if counting() {
                COUNTING.alloc(l)
            } else {
                System.alloc(l)
            }
        }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded.
        unsafe {
            if counting() {
                COUNTING.dealloc(p, l)
            } else {
                System.dealloc(p, l)
            }
        }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        // SAFETY: forwarded.
        unsafe {
            if counting() {
                COUNTING.realloc(p, l, n)
            } else {
                System.realloc(p, l, n)
            }
        }
    }
}

#[global_allocator]
static ALLOC: Switch = Switch;

fn churn(kind: &str, strings: usize, bytes: usize) -> String {
    let t = Instant::now();
    let mut checksum = 0u64;
    match kind {
        "gc-string" | "gc-string-uncounted" => {
            let mut keep = Gc::new(String::new());
            for i in 0..strings {
                keep = Gc::new(make(i, bytes));
                checksum += keep.len() as u64;
            }
            checksum += keep.as_bytes()[0] as u64;
        }
        "gc-str" => {
            let mut keep: Gc<str> = Gc::from("");
            for i in 0..strings {
                keep = Gc::from(make(i, bytes).as_str());
                checksum += keep.len() as u64;
            }
            checksum += keep.as_bytes()[0] as u64;
        }
        _ => {
            let mut keep = String::new();
            for i in 0..strings {
                keep = make(i, bytes);
                checksum += keep.len() as u64;
            }
            checksum += keep.as_bytes()[0] as u64;
        }
    }
    let ms = t.elapsed().as_secs_f64() * 1e3;
    let s = gc_core::mem_stats();
    format!(
        "kind={kind} strings={strings} kib={} time_ms={ms:.0} peak_rss_mb={} cycles={} external_total_mb={:.0} checksum={checksum}",
        bytes >> 10,
        peak_rss_field(),
        s.num_gc,
        s.external_total_alloc as f64 / (1 << 20) as f64,
    )
}

fn make(i: usize, bytes: usize) -> String {
    let mut s = String::with_capacity(bytes);
    s.push(char::from(b'a' + (i % 26) as u8));
    s.extend(std::iter::repeat_n('x', bytes - 1));
    s
}

fn main() -> ExitCode {
    let (mut kind, mut strings, mut kib) = ("all".to_string(), 40_000usize, 50usize);
    let parsed = parse_flags(USAGE, |flag, v| {
        match flag {
            "--kind" => {
                kind = parse_value(v, "kind", |k: &String| {
                    k == "all" || KINDS.contains(&k.as_str())
                })?
            }
            "--strings" => strings = parse_value(v, "count", |n: &usize| *n > 0)?,
            "--kib" => kib = parse_value(v, "size", |n: &usize| *n > 0)?,
            _ => return Ok(false),
        }
        Ok(true)
    });
    if let Err(e) = parsed {
        return usage_error("string_churn", USAGE, &e);
    }
    if kind != "all" {
        println!("{}", churn(&kind, strings, kib << 10));
        return ExitCode::SUCCESS;
    }
    // Each kind in its own process: peak RSS and the heap are per process.
    let exe = std::env::current_exe().expect("own path");
    for k in KINDS {
        let mut cmd = Command::new(&exe);
        cmd.args([
            "--kind",
            k,
            "--strings",
            &strings.to_string(),
            "--kib",
            &kib.to_string(),
        ]);
        cmd.env_remove("STRING_CHURN_UNCOUNTED");
        if k == "gc-string-uncounted" {
            cmd.env("STRING_CHURN_UNCOUNTED", "1");
        }
        let out = cmd.output().expect("run a child");
        if !out.status.success() {
            eprintln!(
                "{k}: child failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return ExitCode::FAILURE;
        }
        print!("{}", String::from_utf8_lossy(&out.stdout));
    }
    ExitCode::SUCCESS
}
