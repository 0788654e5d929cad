//! The marker's scan of a large list in a `GcCell` lets the cell's readers in: past its
//! first chunk of edges (`Trace::trace_chunk`) it reads the list under a shared read lock,
//! and lets go of the lock between two chunks, so that a reader (or a writer) waits for
//! one chunk at most instead of the whole list (8-9 ms for 2.8 million handles).
//!
//! The test: a list of 10,000 elements in an edge cell (filled by `replace`, which keeps it
//! one), directly or in a field of a derived struct or enum variant beside other fields,
//! one of them a gate past the first chunk. Each time a marker traces the gate, it
//! asks a reader thread to borrow the cell and read an element, and waits (at most 20 s)
//! for the answer. A scan that held the cell alone for the whole list would keep the
//! reader out until the gate gave up: the test then fails instead of hanging.

use gc_core::{Gc, GcCell, Trace, Tracer};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Requests made by the gate, and the reader's answers to them.
static ASKED: AtomicU64 = AtomicU64::new(0);
static ANSWERED: AtomicU64 = AtomicU64::new(0);
/// Set when the gate gave up waiting for the reader.
static SHUT_OUT: AtomicBool = AtomicBool::new(false);

/// A list element: a handle, and whether it is the gate.
struct Element {
    value: Gc<u64>,
    gate: bool,
}

// SAFETY: traces, roots and unroots its one `Gc` field; the gate's wait is a side effect
// that reads nothing of the heap.
unsafe impl Trace for Element {
    fn needs_trace() -> bool {
        true
    }
    fn trace(&self, tracer: &mut Tracer) {
        self.value.trace(tracer);
        if self.gate {
            let asked = ASKED.fetch_add(1, Ordering::SeqCst) + 1;
            let deadline = Instant::now() + Duration::from_secs(20);
            while ANSWERED.load(Ordering::SeqCst) < asked {
                if Instant::now() > deadline {
                    SHUT_OUT.store(true, Ordering::SeqCst);
                    // Answer ourselves, so that the reader does not owe this one.
                    ANSWERED.fetch_max(asked, Ordering::SeqCst);
                    return;
                }
                std::thread::yield_now();
            }
        }
    }
    unsafe fn root(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.value.root() }
    }
    unsafe fn unroot(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.value.unroot() }
    }
}

const LEN: u64 = 10_000;
/// Past the first chunk (4,096 edges) and the second.
const GATE: u64 = 9_000;

/// A list in a field of a derived struct, after a handle.
#[derive(Trace)]
struct Table {
    name: Gc<u64>,
    rows: Vec<Element>,
    width: u32,
}

/// A list in a variant of a derived enum, after a handle.
#[derive(Trace)]
enum Value {
    #[allow(dead_code)]
    Nil,
    Table(Gc<u64>, Vec<Element>),
}

#[test]
fn a_large_lists_readers_get_in_while_the_marker_scans_it() {
    readers_get_in(|rows| rows, |list| list);
}

#[test]
fn a_list_in_a_derived_types_field_lets_readers_in_too() {
    readers_get_in(
        |rows| Table {
            name: Gc::new(1),
            rows,
            width: 2,
        },
        |t| &t.rows,
    );
    readers_get_in(
        |rows| Value::Table(Gc::new(1), rows),
        |v| match v {
            Value::Table(_, rows) => rows,
            Value::Nil => unreachable!(),
        },
    );
}

/// The test, on a cell that holds `wrap(list)`, whose list `rows` reads back.
fn readers_get_in<T: Trace + Send + Sync + 'static>(
    wrap: impl Fn(Vec<Element>) -> T,
    rows: fn(&T) -> &Vec<Element>,
) {
    // One scenario at a time: they share the gate's counters.
    static ONE: Mutex<()> = Mutex::new(());
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    SHUT_OUT.store(false, Ordering::SeqCst);
    let list: Gc<GcCell<T>> = Gc::new(GcCell::new(wrap(Vec::new())));
    let items = (0..LEN)
        .map(|i| Element {
            value: Gc::new(i),
            gate: i == GATE,
        })
        .collect();
    drop(list.replace(wrap(items)));
    let asked_before = ASKED.load(Ordering::SeqCst);
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (list, done) = (list.clone(), done.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !done.load(Ordering::SeqCst) {
                let asked = ASKED.load(Ordering::SeqCst);
                if ANSWERED.load(Ordering::SeqCst) < asked {
                    assert_eq!(*rows(&list.borrow())[7].value, 7);
                    reads += 1;
                    ANSWERED.fetch_max(asked, Ordering::SeqCst);
                }
                std::thread::yield_now();
            }
            reads
        })
    };
    for _ in 0..3 {
        gc_core::collect();
    }
    done.store(true, Ordering::SeqCst);
    let reads = reader.join().expect("the reader panicked");
    assert!(
        !SHUT_OUT.load(Ordering::SeqCst),
        "the marker held the list's lock for the whole list: the reader could not borrow it"
    );
    assert!(reads >= 1, "no marker traced the gate");
    assert!(ASKED.load(Ordering::SeqCst) > asked_before);
    // Every element is still there, and the cell is still an edge cell's list.
    let sum: u64 = rows(&list.borrow()).iter().map(|e| *e.value).sum();
    assert_eq!(sum, LEN * (LEN - 1) / 2);
}
