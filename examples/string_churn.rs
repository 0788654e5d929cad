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
//! one binary measures both (`common/switch_alloc.rs`).

#[path = "common/mod.rs"]
mod common;

use common::switch_alloc::Switch;
use common::{parse_flags, parse_value, peak_rss_field, usage_error};
use gc_core::Gc;
use std::process::{Command, ExitCode};
use std::time::Instant;

const USAGE: &str = "usage: string_churn [--kind gc-string|gc-string-uncounted|gc-str|string|all] [--strings N] [--kib K]";
const KINDS: [&str; 4] = ["gc-string", "gc-string-uncounted", "gc-str", "string"];

/// `CountingAllocator`, or `System` alone when `STRING_CHURN_UNCOUNTED` is set.
#[global_allocator]
static ALLOC: Switch = Switch::new(c"STRING_CHURN_UNCOUNTED", false);

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
