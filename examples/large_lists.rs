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
//!   again, and this store counts them all (the stall that remains);
//! - `frozen`: the list built in a `Vec`, then `Gc::new(items)` without a cell (an
//!   immutable list: every handle made an edge, in runs); timed, and no store follows.
//! - `read_in_mark`: an edge cell's list (filled by `replace`) read by this thread and
//!   then, again and again, by another while this one runs `collect()` (timed): instead of
//!   a store, the other thread's longest `borrow()`. The marker scans the list a chunk at
//!   a time and lets readers in past the first (`Trace::trace_chunk`); before, they waited
//!   for the whole scan.
//! - `read_in_unroot`: a list written, then read again and again by another thread through
//!   six cycles, in which the unroot pass makes its contents edges again (a chunk at a
//!   time, letting readers in between two); the other thread's longest `borrow()`.
//! - `table_moved_in`, `table_read_in_mark`, `table_read_in_unroot`: `moved_in`,
//!   `read_in_mark` and `read_in_unroot` with the list in
//!   a field of a derived struct (`Table { name, rows, width }`) inside the cell: the
//!   derive counts, scans and unroots a list in a field as a list directly in a cell.
//!
//! `--elements values` makes the list an interpreter's `Vec<Value>` (an enum whose variants
//! hold a handle or a number; one element in eight a number) instead of a `Vec<Gc<u64>>`.
//!
//! `one_guard` and `appended` are followed by two paced cycles (garbage allocated
//! elsewhere) before the store, so that the unroot pass has run since the list was written.
//!
//! ```text
//! cargo run --release --example large_lists -- [--handles N] [--rounds R] [--only SCENARIO]
//!     [--elements handles|values]
//! ```
//!
//! Output: one line per scenario with the medians over the rounds, then a summary line
//! `large_lists: handles=.. <scenario>_store_ms=.. read_in_mark_read_ms=.. ..`.

mod common;

use gc_core::{Gc, GcCell, Trace};
use std::hint::black_box;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

const USAGE: &str = "usage: large_lists [--handles N] [--rounds R] [--only SCENARIO] \
                     [--elements handles|values]";

type List<E> = Gc<GcCell<Vec<E>>>;

/// What a list holds: handles, or an interpreter's values.
trait Element: Trace + Send + Sync + Sized + 'static {
    fn new(i: u64) -> Self;
}

impl Element for Gc<u64> {
    fn new(i: u64) -> Self {
        Gc::new(i)
    }
}

/// An interpreter's value, the way `examples/interp` writes it: a number inline, anything
/// else behind a handle.
#[derive(Trace)]
#[allow(dead_code)] // the fields are only traced
enum Value {
    Nil,
    Num(f64),
    Obj(Gc<u64>),
}

impl Element for Value {
    fn new(i: u64) -> Self {
        if i % 8 == 7 {
            Value::Num(i as f64)
        } else {
            Value::Obj(Gc::new(i))
        }
    }
}

/// A list in a field of a derived struct, beside a handle and a number: an interpreter's
/// list object with its class and a count, say.
#[derive(Trace)]
struct Table<E: Element> {
    name: Gc<u64>,
    rows: Vec<E>,
    width: u32,
}

impl<E: Element> Table<E> {
    fn new(rows: Vec<E>) -> Self {
        Table {
            name: Gc::new(0),
            rows,
            width: 2,
        }
    }
}

/// `read_in_mark`: `cell` read by this thread, then again and again by another while this
/// one runs `work` (`collect()`, say): (the other thread's longest `borrow()`, the work's
/// time).
fn read_during<T: Trace + Send + Sync + 'static, E: 'static>(
    cell: Gc<GcCell<T>>,
    element: fn(&T, usize) -> &E,
    work: impl FnOnce(),
) -> (f64, f64) {
    // Read here first, then by the reader: a list two threads read (the cell's bias to
    // its first reader revoked).
    black_box(element(&cell.borrow(), 0));
    let done = Arc::new(AtomicBool::new(false));
    let reader = std::thread::spawn({
        let done = done.clone();
        move || {
            let mut longest = 0f64;
            let mut i = 0;
            while !done.load(Ordering::Relaxed) {
                let t = Instant::now();
                black_box(element(&cell.borrow(), i));
                longest = longest.max(millis(t));
                i += 7919;
            }
            longest
        }
    });
    let t = Instant::now();
    work();
    let took = millis(t);
    done.store(true, Ordering::Relaxed);
    (reader.join().expect("the reader panicked"), took)
}

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

fn items<E: Element>(n: usize) -> Vec<E> {
    (0..n as u64).map(E::new).collect()
}

/// One round of a scenario: (the store's time, the time of the step before it if timed).
fn round<E: Element>(scenario: &str, n: usize) -> (f64, Option<f64>) {
    let mut before = None;
    let list: List<E> = match scenario {
        "moved_in" => {
            let items = GcCell::new(items(n));
            let t = Instant::now();
            let list = Gc::new(items);
            before = Some(millis(t));
            list
        }
        "nested" => {
            let inner = n / 1000;
            let lists: Vec<Vec<E>> = (0..1000).map(|_| items(inner)).collect();
            let t = Instant::now();
            let list = Gc::new(GcCell::new(lists));
            before = Some(millis(t));
            let t = Instant::now();
            list.borrow_mut()[0][0] = E::new(1);
            return (millis(t), before);
        }
        "one_guard" => {
            let list: List<E> = Gc::new(GcCell::new(Vec::new()));
            {
                let mut guard = list.borrow_mut();
                for i in 0..n as u64 {
                    guard.push(E::new(i));
                }
            }
            run_cycles(2);
            list
        }
        "appended" => {
            let list: List<E> = Gc::new(GcCell::new(Vec::new()));
            for i in 0..n as u64 {
                list.borrow_mut().push(E::new(i));
                if i % 8 == 0 {
                    black_box(Gc::new([i; 4]));
                }
            }
            run_cycles(2);
            list
        }
        "after_collect" => {
            let list = Gc::new(GcCell::new(items(n)));
            list.borrow_mut()[1] = E::new(1);
            let t = Instant::now();
            gc_core::collect();
            before = Some(millis(t));
            list
        }
        "frozen" => {
            let items: Vec<E> = items(n);
            let t = Instant::now();
            let list = Gc::new(items);
            before = Some(millis(t));
            drop(list);
            return (f64::NAN, before);
        }
        "read_in_mark" => {
            // Filled by `replace`, which keeps a heap cell an edge cell: the mark scans it.
            let list: List<E> = Gc::new(GcCell::new(Vec::new()));
            drop(list.replace(items(n)));
            let (read, collect) =
                read_during(list, |l: &Vec<E>, i| &l[i % l.len()], gc_core::collect);
            return (read, Some(collect));
        }
        "table_moved_in" => {
            let table = GcCell::new(Table::new(items(n)));
            let t = Instant::now();
            let table = Gc::new(table);
            before = Some(millis(t));
            let t = Instant::now();
            table.borrow_mut().rows[0] = E::new(7);
            return (millis(t), before);
        }
        "table_read_in_mark" => {
            let table = Gc::new(GcCell::new(Table::new(Vec::new())));
            drop(table.replace(Table::new(items(n))));
            let (read, collect) = read_during(
                table,
                |t: &Table<E>, i| &t.rows[i % t.rows.len()],
                gc_core::collect,
            );
            return (read, Some(collect));
        }
        "read_in_unroot" => {
            // Written (rooted), then read by another thread through the cycles in which
            // the unroot pass makes it an edge cell again.
            let list: List<E> = Gc::new(GcCell::new(items(n)));
            list.borrow_mut()[1] = E::new(1);
            let (read, _) = read_during(list, |l: &Vec<E>, i| &l[i % l.len()], || run_cycles(6));
            return (read, None);
        }
        "table_read_in_unroot" => {
            let table = Gc::new(GcCell::new(Table::new(items(n))));
            table.borrow_mut().rows[1] = E::new(1);
            let (read, _) = read_during(
                table,
                |t: &Table<E>, i| &t.rows[i % t.rows.len()],
                || run_cycles(6),
            );
            return (read, None);
        }
        "cold" => {
            let list: List<E> = Gc::new(GcCell::new(items(n)));
            list.borrow_mut()[1] = E::new(1);
            run_cycles(6);
            list
        }
        _ => unreachable!(),
    };
    let t = Instant::now();
    list.borrow_mut()[0] = E::new(7);
    (millis(t), before)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> ExitCode {
    let (mut n, mut rounds, mut only) = (2_800_000usize, 5usize, None::<String>);
    let mut values = false;
    if let Err(e) = common::parse_flags(USAGE, |flag, v| {
        match flag {
            "--handles" => n = common::parse_value(v, "count", |&n| n >= 1000)?,
            "--rounds" => rounds = common::parse_value(v, "count", |&n| n >= 1)?,
            "--only" => only = Some(v.to_string()),
            "--elements" => {
                values = match v {
                    "handles" => false,
                    "values" => true,
                    _ => return Err(format!("--elements: {v:?} is not handles or values")),
                }
            }
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
        ("frozen", "Gc::new"),
        ("read_in_mark", "collect()"),
        ("table_moved_in", "Gc::new"),
        ("table_read_in_mark", "collect()"),
        ("read_in_unroot", ""),
        ("table_read_in_unroot", ""),
    ];
    if let Some(o) = &only {
        if !scenarios.iter().any(|(s, _)| s == o) {
            let names: Vec<&str> = scenarios.iter().map(|(s, _)| *s).collect();
            let e = format!("unknown scenario {o:?} (one of {})", names.join(", "));
            return common::usage_error("large_lists", USAGE, &e);
        }
    }
    let elements = if values { "values" } else { "handles" };
    let mut summary = format!("large_lists: handles={n} elements={elements}");
    for (scenario, step) in scenarios {
        if only.as_deref().is_some_and(|o| o != scenario) {
            continue;
        }
        let (mut stores, mut steps) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            let (store, before) = if values {
                round::<Value>(scenario, n)
            } else {
                round::<Gc<u64>>(scenario, n)
            };
            stores.push(store);
            steps.extend(before);
            // Each round's list is garbage now: collected before the next round.
            gc_core::collect();
        }
        let store = median(stores);
        let mut parts = Vec::new();
        // What the first figure times: the store after the scenario, or, for
        // `read_in_mark`, another thread's longest read during the collection.
        let what = if scenario.contains("read_in_") {
            "read"
        } else {
            "store"
        };
        if !store.is_nan() {
            parts.push(format!("{what} {store:8.3} ms"));
            summary += &format!(" {scenario}_{what}_ms={store:.3}");
        }
        if !steps.is_empty() {
            let step_ms = median(steps);
            parts.push(format!("{step} {step_ms:8.3} ms"));
            if store.is_nan() {
                summary += &format!(" {scenario}_ms={step_ms:.3}");
            }
        }
        println!("{scenario:>14}: {}", parts.join(", "));
    }
    println!("{summary} peak_rss_mb={}", common::peak_rss_field());
    ExitCode::SUCCESS
}
