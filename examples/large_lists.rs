//! What a big list in a `GcCell` costs the thread that writes it: an interpreter's list of
//! millions of values, built and then stored into, in the ways interpreters build them.
//! A cell whose contents are edges (not counted roots) must count every handle in it
//! before a write guard hands out `&mut` (O(contents)); a large cell written every few
//! cycles is kept rooted instead (the collector overview, "Cells"). Each scenario times
//! the store that comes after it, `list.borrow_mut()[0] = Gc::new(..)`:
//!
//! - `moved_in`: the list built in a `Vec`, then `Gc::new(GcCell::new(items))` (also timed);
//! - `nested`: the same with a list of 1,000 lists (also timed);
//! - `one_guard`: an empty list filled by one write guard held while the pushes run cycles;
//! - `appended`: one push per write guard, each a few pushes apart, while cycles run;
//! - `after_collect`: written, then `gc_core::collect()` (also timed);
//! - `cold`: written, then not written for six cycles: the pass made its contents edges
//!   again, and this store counts them all (the stall that remains).
//!
//! `one_guard` and `appended` are followed by two paced cycles (garbage allocated
//! elsewhere) before the store, so that the unroot pass has run since the list was written.
//!
//! ```text
//! cargo run --release --example large_lists -- [--handles N] [--rounds R] [--only SCENARIO]
//! ```
//!
//! Output: one line per scenario with the medians over the rounds, then a summary line
//! `large_lists: handles=.. <scenario>_store_ms=.. ..`.

mod common;

use gc_core::{Gc, GcCell};
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "usage: large_lists [--handles N] [--rounds R] [--only SCENARIO]";

type List = Gc<GcCell<Vec<Gc<u64>>>>;

fn cycles() -> u32 {
    gc_core::mem_stats().num_gc
}

/// Allocates garbage until `n` more cycles have ended.
fn run_cycles(n: u32) {
    let end = cycles() + n;
    while cycles() < end {
        for _ in 0..10_000 {
            black_box(Gc::new([0u64; 4]));
        }
    }
}

fn millis(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn items(n: usize) -> Vec<Gc<u64>> {
    (0..n as u64).map(Gc::new).collect()
}

/// One round of a scenario: (the store's time, the time of the step before it if timed).
fn round(scenario: &str, n: usize) -> (f64, Option<f64>) {
    let mut before = None;
    let list: List = match scenario {
        "moved_in" => {
            let items = GcCell::new(items(n));
            let t = Instant::now();
            let list = Gc::new(items);
            before = Some(millis(t));
            list
        }
        "nested" => {
            let inner = n / 1000;
            let lists: Vec<Vec<Gc<u64>>> = (0..1000).map(|_| items(inner)).collect();
            let t = Instant::now();
            let list = Gc::new(GcCell::new(lists));
            before = Some(millis(t));
            let t = Instant::now();
            list.borrow_mut()[0][0] = Gc::new(1);
            return (millis(t), before);
        }
        "one_guard" => {
            let list: List = Gc::new(GcCell::new(Vec::new()));
            {
                let mut guard = list.borrow_mut();
                for i in 0..n as u64 {
                    guard.push(Gc::new(i));
                }
            }
            run_cycles(2);
            list
        }
        "appended" => {
            let list: List = Gc::new(GcCell::new(Vec::new()));
            for i in 0..n as u64 {
                list.borrow_mut().push(Gc::new(i));
                if i % 8 == 0 {
                    black_box(Gc::new([i; 4]));
                }
            }
            run_cycles(2);
            list
        }
        "after_collect" => {
            let list = Gc::new(GcCell::new(items(n)));
            list.borrow_mut()[1] = Gc::new(1);
            let t = Instant::now();
            gc_core::collect();
            before = Some(millis(t));
            list
        }
        "cold" => {
            let list: List = Gc::new(GcCell::new(items(n)));
            list.borrow_mut()[1] = Gc::new(1);
            run_cycles(6);
            list
        }
        _ => unreachable!(),
    };
    let t = Instant::now();
    list.borrow_mut()[0] = Gc::new(7);
    (millis(t), before)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> ExitCode {
    let (mut n, mut rounds, mut only) = (2_800_000usize, 5usize, None::<String>);
    if let Err(e) = common::parse_flags(USAGE, |flag, v| {
        match flag {
            "--handles" => n = common::parse_value(v, "count", |&n| n >= 1000)?,
            "--rounds" => rounds = common::parse_value(v, "count", |&n| n >= 1)?,
            "--only" => only = Some(v.to_string()),
            _ => return Ok(false),
        }
        Ok(true)
    }) {
        return common::usage_error("large_lists", USAGE, &e);
    }
    let scenarios = [
        ("moved_in", "Gc::new"),
        ("nested", "Gc::new"),
        ("one_guard", ""),
        ("appended", ""),
        ("after_collect", "collect()"),
        ("cold", ""),
    ];
    if let Some(o) = &only {
        if !scenarios.iter().any(|(s, _)| s == o) {
            let names: Vec<&str> = scenarios.iter().map(|(s, _)| *s).collect();
            let e = format!("unknown scenario {o:?} (one of {})", names.join(", "));
            return common::usage_error("large_lists", USAGE, &e);
        }
    }
    let mut summary = format!("large_lists: handles={n}");
    for (scenario, step) in scenarios {
        if only.as_deref().is_some_and(|o| o != scenario) {
            continue;
        }
        let (mut stores, mut steps) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (store, before) = round(scenario, n);
            stores.push(store);
            steps.extend(before);
            // Each round's list is garbage now: collected before the next round.
            gc_core::collect();
        }
        let store = median(stores);
        let mut line = format!("{scenario:>14}: store {store:8.3} ms");
        if !steps.is_empty() {
            line += &format!(", {step} {:8.3} ms", median(steps));
        }
        println!("{line}");
        summary += &format!(" {scenario}_store_ms={store:.3}");
    }
    println!("{summary} peak_rss_mb={}", common::peak_rss_field());
    ExitCode::SUCCESS
}
