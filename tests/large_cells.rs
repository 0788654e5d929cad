//! Large cells (a `GcCell` whose contents hold over 1,024 handles, `LARGE`): paced cycles'
//! unroot passes leave one rooted while it is written every few cycles (`gc/dirty.rs`),
//! and mutators' assists leave one that is an edge cell to the background workers
//! (`gc/drain.rs`, `drain`). Checked in child processes under `GODEBUG=gccheckmark=1` (a
//! mark that missed an element aborts the child) and `clobberfree=1` (an element freed
//! while reachable reads as poison), at a low `GOGC` and with paced cycles only (no
//! `collect()` until the end), with one proc (this thread marks mostly through assists)
//! and two:
//! - a hot list (written every round), a warm one (every eighth round) and a cold one
//!   (never written once built) keep every element while this thread allocates, so that
//!   it assists, and rewrites elements; each is built on the stack and moved in by
//!   `Gc::new`, which leaves it rooted as if written then (`gc/move_in.rs`), so the cold
//!   one is unrooted by a pass four cycles later;
//! - the same warm list of an interpreter's values (a derived enum of numbers and handles),
//!   which its next write after an unroot pass roots whole in runs (`Trace::root_into`);
//! - a list never written, moved into the heap without a cell (`Gc<Vec<_>>`), whose scan
//!   an assist stops after a chunk and leaves to the background workers
//!   (`Tracer::list_chunk_done`);
//! - a garbage cycle through a large written cell (the list's elements point back to the
//!   object holding it) is found by paced cycles alone: a kept cell is unrooted once it
//!   has gone unwritten for `KEEP_PASSES` (4) cycles;
//! - `collect()` called again and again on one thread while another writes a hot list and
//!   reads a cold one: every element stays;
//! - a list filled by one write guard held through several paced cycles while another
//!   thread allocates and reads a cold list, then written now and then: every element
//!   stays;
//! - (in this process) `collect()` finds such a cycle at once although the cell was
//!   written just before, and keeps a live one intact: it unroots every cell for its mark,
//!   then roots the large written ones that are still alive again (`gc/reroot.rs`).
//!
//! Run one by hand: `GC_CORE_TEST_CHILD=1 GODEBUG=gccheckmark=1 GOGC=10 cargo test --test
//! large_cells -- --exact child_lists --nocapture`.

mod common;

use common::child::{is_child, run_all};
use gc_core::{mem_stats, Gc, GcCell, Trace};

/// Elements per list: over the 1,024 handles that make a cell large.
const N: usize = 20_000;
/// Rounds of writes and garbage.
const ROUNDS: u64 = 400;

type List = Gc<GcCell<Vec<Gc<u64>>>>;

fn list(first: u64) -> List {
    Gc::new(GcCell::new(
        (0..N as u64).map(|i| Gc::new(first + i)).collect(),
    ))
}

/// Checks that element `i` of `l` holds `i` modulo `N` (writes store `i + k * N`).
fn check(name: &str, l: &List) {
    for (i, g) in l.borrow().iter().enumerate() {
        assert_eq!(**g % N as u64, i as u64, "{name}: element {i}");
    }
}

/// The element round `round` writes or reads: a stride through the list.
fn slot(round: u64) -> usize {
    (round as usize * 7919) % N
}

/// Round `round`'s write of `l`, through `borrow_mut`: a new value `check` accepts.
fn rewrite(l: &List, round: u64) {
    let i = slot(round);
    l.borrow_mut()[i] = Gc::new(i as u64 + round * N as u64);
}

/// Round `round`'s read of a list never written since it was built.
fn read_cold(l: &List, round: u64) {
    let i = slot(round);
    assert_eq!(*l.borrow()[i], i as u64, "cold: element {i}");
}

/// An interpreter's value: every third element of a value list is a number, the others
/// handles.
#[derive(Trace)]
enum Value {
    Num(u64),
    Obj(Gc<u64>),
}

impl Value {
    fn new(n: u64) -> Value {
        if n.is_multiple_of(3) {
            Value::Num(n)
        } else {
            Value::Obj(Gc::new(n))
        }
    }

    fn get(&self) -> u64 {
        match self {
            Value::Num(n) => *n,
            Value::Obj(g) => **g,
        }
    }
}

type ValueList = Gc<GcCell<Vec<Value>>>;

fn value_list() -> ValueList {
    Gc::new(GcCell::new((0..N as u64).map(Value::new).collect()))
}

/// [`check`] for a value list.
fn check_values(l: &ValueList) {
    for (i, v) in l.borrow().iter().enumerate() {
        assert_eq!(v.get() % N as u64, i as u64, "values: element {i}");
    }
}

/// [`rewrite`] for a value list (a handle in every slot it writes).
fn rewrite_values(l: &ValueList, round: u64) {
    let i = slot(round);
    l.borrow_mut()[i] = Value::Obj(Gc::new(i as u64 + round * N as u64));
}

/// [`check`] for a list without a cell.
fn check_frozen(l: &Gc<Vec<Gc<u64>>>) {
    for (i, g) in l.iter().enumerate() {
        assert_eq!(**g, i as u64, "frozen: element {i}");
    }
}

/// Garbage of another shape, so that this thread assists while marking.
fn junk() {
    let v: Vec<Gc<[u64; 4]>> = (0..2_000).map(|k| Gc::new([k; 4])).collect();
    drop(v);
}

#[test]
fn child_lists() {
    if !is_child() {
        return;
    }
    let (hot, warm, cold) = (list(0), list(0), list(0));
    let values = value_list();
    let frozen: Gc<Vec<Gc<u64>>> = Gc::new((0..N as u64).map(Gc::new).collect());
    let cycles0 = mem_stats().num_gc;
    for round in 1..=ROUNDS {
        rewrite(&hot, round);
        if round % 8 == 0 {
            rewrite(&warm, round);
            rewrite_values(&values, round);
        }
        junk();
        if round % 50 == 0 {
            check("hot", &hot);
            check("warm", &warm);
            check("cold", &cold);
            check_values(&values);
            check_frozen(&frozen);
        }
    }
    let cycles = mem_stats().num_gc - cycles0;
    assert!(cycles >= 10, "only {cycles} paced cycles ran");
    gc_core::collect();
    check("hot", &hot);
    check("warm", &warm);
    check("cold", &cold);
    check_values(&values);
    check_frozen(&frozen);
    println!("PROBE_OK cycles={cycles}");
}

/// An element of the table below: points back at the table, closing a cycle through its
/// large cell.
#[derive(Trace)]
struct Row {
    back: GcCell<Option<Gc<Table>>>,
}

#[derive(Trace)]
struct Table {
    rows: GcCell<Vec<Gc<Row>>>,
}

/// A table of `N` rows in a large cell, each row pointing back at the table: a cycle.
fn table_cycle() -> Gc<Table> {
    let rows: Vec<Gc<Row>> = (0..N)
        .map(|_| {
            Gc::new(Row {
                back: GcCell::new(None),
            })
        })
        .collect();
    let table = Gc::new(Table {
        rows: GcCell::new(rows),
    });
    // `Gc::new` left the rows rooted (a large cell, as if written then), and so does this
    // write; the back edges close the cycle.
    for row in table.rows.borrow_mut().iter() {
        *row.back.borrow_mut() = Some(table.clone());
    }
    table
}

#[test]
fn child_cycle() {
    if !is_child() {
        return;
    }
    let table = table_cycle();
    let weak = Gc::downgrade(&table);
    drop(table);
    let start = mem_stats().num_gc;
    // Paced cycles only: the table's cell was written, so the passes keep it rooted (its
    // rows are roots, which reach the table) until it has gone unwritten for
    // `KEEP_PASSES` cycles; the pass after unroots it and the next mark finds the cycle.
    while weak.upgrade().is_some() {
        let ran = mem_stats().num_gc - start;
        assert!(
            ran <= 10,
            "a garbage cycle through a large cell survived {ran} cycles"
        );
        junk();
    }
    println!("PROBE_OK cycles={}", mem_stats().num_gc - start);
}

/// `collect()` on one thread (its forced cycles unroot the lists and root the written ones
/// again after their mark, `gc/reroot.rs`) while another writes a hot list and reads a
/// cold one.
#[test]
fn child_collect_beside_writers() {
    if !is_child() {
        return;
    }
    let (hot, cold) = (list(0), list(0));
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..20 {
                gc_core::collect();
            }
        });
        for round in 1..=ROUNDS {
            rewrite(&hot, round);
            read_cold(&cold, round);
            junk();
        }
    });
    gc_core::collect();
    check("hot", &hot);
    check("cold", &cold);
    println!("PROBE_OK");
}

/// A list filled by one write guard held through several paced cycles (each pass finds
/// it busy; the one after the release counts its last write then and keeps it rooted:
/// `gc/dirty.rs`, `HELD`) while another thread allocates and reads a cold list; then
/// written now and then through more cycles, and checked.
#[test]
fn child_long_guard() {
    if !is_child() {
        return;
    }
    let cold = list(0);
    let filled: List = Gc::new(GcCell::new(Vec::new()));
    let held = std::thread::scope(|s| {
        s.spawn(|| {
            for round in 1..=ROUNDS {
                read_cold(&cold, round);
                junk();
            }
        });
        let cycles0 = mem_stats().num_gc;
        let mut guard = filled.borrow_mut();
        for i in 0..N as u64 {
            guard.push(Gc::new(i));
            if i % 64 == 0 {
                junk();
            }
        }
        mem_stats().num_gc - cycles0
    });
    assert!(
        held >= 5,
        "only {held} paced cycles ran while the guard was held"
    );
    for round in 1..=ROUNDS {
        if round % 8 == 0 {
            rewrite(&filled, round);
        }
        junk();
    }
    gc_core::collect();
    check("filled", &filled);
    check("cold", &cold);
    println!("PROBE_OK held={held}");
}

#[test]
fn large_cells_keep_their_elements_and_their_garbage_cycles_are_found() {
    if is_child() {
        return;
    }
    // One proc makes this thread do most of the marking, through assists.
    let settings: [(&[u8], &[u8]); 4] = [
        (b"gccheckmark=1", b"1"),
        (b"gccheckmark=1", b"2"),
        (b"clobberfree=1", b"1"),
        (b"clobberfree=1", b"2"),
    ];
    let jobs: Vec<Vec<(&str, &[u8])>> = settings
        .iter()
        .map(|&(g, p)| {
            vec![
                ("GODEBUG", g),
                ("GOMAXPROCS", p),
                ("GOGC", b"10".as_slice()),
            ]
        })
        .collect();
    for child in [
        "child_lists",
        "child_cycle",
        "child_collect_beside_writers",
        "child_long_guard",
    ] {
        for (run, (g, p)) in run_all(child, &jobs, &[]).iter().zip(settings) {
            let (g, p) = (String::from_utf8_lossy(g), String::from_utf8_lossy(p));
            run.assert_succeeded(&format!("{child}, GODEBUG={g} GOMAXPROCS={p}"));
        }
    }
}

#[test]
fn collect_finds_a_cycle_through_a_large_cell_written_just_before() {
    if is_child() {
        return;
    }
    let (dead, live) = (table_cycle(), table_cycle());
    let weak = Gc::downgrade(&dead);
    drop(dead);
    gc_core::collect();
    assert!(weak.upgrade().is_none(), "collect() left a garbage cycle");
    // The live table's cell was rooted again after the mark: its rows are intact, and a
    // write and another collection keep them so.
    live.rows.borrow_mut()[0] = Gc::new(Row {
        back: GcCell::new(Some(live.clone())),
    });
    gc_core::collect();
    let rows = live.rows.borrow();
    assert_eq!(rows.len(), N);
    assert!(rows
        .iter()
        .all(|r| Gc::ptr_eq(r.back.borrow().as_ref().unwrap(), &live)));
}
