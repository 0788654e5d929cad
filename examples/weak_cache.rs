//! An interning table whose entries vanish when unused, built from weak references and
//! cleanups, then the figures of issue 13: what weak references and ephemeron entries cost
//! the collector, and `downgrade`/`upgrade` beside `Arc`'s.
//!
//! ```text
//! cargo run --release --example weak_cache                  # --weak N, --ephemerons N
//! ```
//!
//! The table maps names to `Weak<Sym>`; interning a name returns the live symbol if there
//! is one. Each symbol carries a cleanup (`Gc::add_cleanup`) that removes its entry once
//! the symbol is unreachable, so the table never grows past the symbols in use.
//!
//! Figures (one line each, `key=value`): `collect()` wall time and its longest pause with
//! a live heap of small nodes, without and with a weak reference to each of N of them,
//! and with N ephemeron entries (`WeakMap`) whose keys are live; then nanoseconds per
//! `downgrade` and `upgrade` for `Gc` and `Arc`. Weak targets are settled, and ephemerons
//! iterated, inside mark termination's pause: these lines show what that costs.

use gc_core::{mem_stats, Gc, Trace, Weak, WeakMap};
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Trace)]
struct Sym {
    name: String,
}

type Table = Arc<Mutex<HashMap<String, Weak<Sym>>>>;

/// Interns names as `Gc<Sym>`: one live symbol per name.
#[derive(Default)]
struct Interner {
    table: Table,
}

impl Interner {
    fn intern(&self, name: &str) -> Gc<Sym> {
        let mut t = self.table.lock().unwrap();
        if let Some(sym) = t.get(name).and_then(Weak::upgrade) {
            return sym;
        }
        let sym = Gc::new(Sym {
            name: name.to_string(),
        });
        t.insert(name.to_string(), Gc::downgrade(&sym));
        // Once the symbol is unreachable its entry goes, unless the name was interned
        // again meanwhile (then the entry holds the new symbol, which upgrades).
        let table = Arc::downgrade(&self.table);
        Gc::add_cleanup(&sym, name.to_string(), move |name: String| {
            if let Some(table) = table.upgrade() {
                let mut t = table.lock().unwrap();
                if t.get(&name).is_some_and(|w| w.upgrade().is_none()) {
                    t.remove(&name);
                }
            }
        });
        sym
    }

    fn len(&self) -> usize {
        self.table.lock().unwrap().len()
    }
}

#[derive(Trace)]
struct Node {
    id: u64,
    next: Option<Gc<Node>>,
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

/// `collect()` wall time and the pauses it took, in ms (median of 5).
fn time_collect() -> (f64, f64) {
    let mut runs: Vec<(f64, f64)> = (0..5)
        .map(|_| {
            let before = mem_stats().pause_total_ns;
            let t = Instant::now();
            gc_core::collect();
            let wall = t.elapsed().as_secs_f64() * 1e3;
            (wall, (mem_stats().pause_total_ns - before) as f64 / 1e6)
        })
        .collect();
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    runs[2]
}

fn main() {
    let n_weak = arg("--weak", 1_000_000);
    let n_eph = arg("--ephemerons", 100_000);

    // The interning table.
    let interner = Interner::default();
    let kept: Vec<Gc<Sym>> = (0..100_000)
        .map(|i| interner.intern(&format!("sym{i}")))
        .filter(|s| s.name.ends_with('7'))
        .collect();
    let again = interner.intern("sym17");
    assert!(
        Gc::ptr_eq(&again, &kept[1]),
        "a live name interns to its symbol"
    );
    let before = interner.len();
    for _ in 0..5 {
        gc_core::collect();
        if interner.len() == kept.len() {
            break;
        }
    }
    println!(
        "interner: interned=100000 kept={} entries_before={before} entries_after={}",
        kept.len(),
        interner.len()
    );
    assert_eq!(
        interner.len(),
        kept.len(),
        "unused symbols' entries vanished"
    );

    // Mark-time figures.
    let nodes: Vec<Gc<Node>> = (0..n_weak as u64)
        .map(|id| Gc::new(Node { id, next: None }))
        .collect();
    let (base_ms, base_pause) = time_collect();
    let weak: Vec<Weak<Node>> = nodes.iter().map(Gc::downgrade).collect();
    let (weak_ms, weak_pause) = time_collect();
    assert!(weak.iter().all(|w| w.upgrade().is_some()));
    drop(weak);
    let table: WeakMap<Node, Gc<Node>> = WeakMap::new();
    for n in nodes.iter().take(n_eph) {
        table.insert(
            n,
            Gc::new(Node {
                id: n.id,
                next: None,
            }),
        );
    }
    let (eph_ms, eph_pause) = time_collect();
    assert_eq!(table.len(), n_eph.min(nodes.len()));
    println!(
        "mark: live_nodes={} collect_ms={base_ms:.2} pause_ms={base_pause:.3} \
         weak_refs={n_weak} collect_ms={weak_ms:.2} pause_ms={weak_pause:.3} \
         ephemerons={n_eph} collect_ms={eph_ms:.2} pause_ms={eph_pause:.3}",
        nodes.len()
    );
    drop(table);

    // Downgrade and upgrade beside `Arc`'s.
    const N: u32 = 1_000_000;
    let g = Gc::new(Node { id: 1, next: None });
    let a = Arc::new(Node { id: 1, next: None });
    let per = |t: Instant| t.elapsed().as_nanos() as f64 / f64::from(N);
    let t = Instant::now();
    for _ in 0..N {
        black_box(Gc::downgrade(black_box(&g)));
    }
    let gc_down = per(t);
    let w = Gc::downgrade(&g);
    let t = Instant::now();
    for _ in 0..N {
        black_box(black_box(&w).upgrade());
    }
    let gc_up = per(t);
    let t = Instant::now();
    for _ in 0..N {
        black_box(Arc::downgrade(black_box(&a)));
    }
    let arc_down = per(t);
    let aw = Arc::downgrade(&a);
    let t = Instant::now();
    for _ in 0..N {
        black_box(black_box(&aw).upgrade());
    }
    let arc_up = per(t);
    println!(
        "weak_ops: gc_downgrade_ns={gc_down:.1} gc_upgrade_ns={gc_up:.1} \
         arc_downgrade_ns={arc_down:.1} arc_upgrade_ns={arc_up:.1}"
    );
}
