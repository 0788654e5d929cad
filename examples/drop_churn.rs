//! Drop throughput: a churn of objects with drop glue, the way an interpreter's values have
//! it (a `String` and a `Vec` that own memory, and optionally a field with a hand-written
//! `Drop`). It measures what moving user `Drop`s out of the collector costs: objects whose
//! glue is only std's are dropped in place while swept; objects with user code in their
//! `Drop` are moved out of the heap and dropped by the dropper thread.
//!
//! ```sh
//! cargo run --release --example drop_churn -- --kind user      # hand-written Drop field
//! cargo run --release --example drop_churn -- --kind std       # String + Vec only
//! cargo run --release --example drop_churn -- --objects 5000000 --live 10000
//! ```
//!
//! Prints one line: wall time, cycles, drops run, objects per second.

use gc_core::{Gc, Trace};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

static DROPS: AtomicU64 = AtomicU64::new(0);

/// A field whose `Drop` is user code (the derive cannot see into it: `#[trace(skip)]`).
struct Tally;
impl Drop for Tally {
    fn drop(&mut self) {
        DROPS.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(Trace)]
struct UserValue {
    name: String,
    items: Vec<u64>,
    #[trace(skip)]
    _tally: Tally,
}

#[derive(Trace)]
struct StdValue {
    name: String,
    items: Vec<u64>,
}

fn arg(args: &[String], flag: &str, default: &str) -> String {
    args.windows(2)
        .find(|w| w[0] == flag)
        .map_or(default.to_string(), |w| w[1].clone())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = arg(&args, "--kind", "user");
    let objects: u64 = arg(&args, "--objects", "3000000")
        .parse()
        .expect("--objects N");
    let live: usize = arg(&args, "--live", "10000").parse().expect("--live N");
    let start = Instant::now();
    match kind.as_str() {
        "user" => {
            let mut window: Vec<Gc<UserValue>> = Vec::with_capacity(live);
            for i in 0..objects {
                let v = Gc::new(UserValue {
                    name: format!("value-{i}"),
                    items: vec![i; 4],
                    _tally: Tally,
                });
                if window.len() < live {
                    window.push(v);
                } else {
                    window[i as usize % live] = v;
                }
            }
            std::hint::black_box(&window);
        }
        "std" => {
            let mut window: Vec<Gc<StdValue>> = Vec::with_capacity(live);
            for i in 0..objects {
                let v = Gc::new(StdValue {
                    name: format!("value-{i}"),
                    items: vec![i; 4],
                });
                if window.len() < live {
                    window.push(v);
                } else {
                    window[i as usize % live] = v;
                }
            }
            std::hint::black_box(&window);
        }
        k => {
            eprintln!("--kind {k}: expected user or std");
            std::process::exit(2);
        }
    }
    let churn = start.elapsed();
    let s = gc_core::mem_stats();
    println!(
        "kind={kind} objects={objects} live={live} time_ms={:.1} cycles={} user_drops_run={} objects_per_s={:.0}",
        churn.as_secs_f64() * 1e3,
        s.num_gc,
        DROPS.load(Ordering::Relaxed),
        objects as f64 / churn.as_secs_f64()
    );
}
