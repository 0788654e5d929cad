//! `Gc` handles as map keys and set elements (`HashMap<Gc<str>, V>`, `HashSet<Gc<T>>`,
//! `BTreeMap`, `BTreeSet`, `BinaryHeap`) inside heap objects: traced, unrooted with their
//! map, and freed with it (the "Keys" protocol in `Trace`'s docs).
//!
//! - A cycle through set elements is freed (before, a key stayed a counted root and leaked
//!   the cycle).
//! - Root counts follow the map exactly: a key gives its count up when its map joins the
//!   heap, takes it back when the map is written, and a garbage map's keys release nothing
//!   (in an object, in a slice, in a `WeakMap` value). Debug builds only (they read counts).
//! - An interned-symbol interpreter table churns for many cycles against a model, here and
//!   in children under `GODEBUG=gccheckmark=1` and `GODEBUG=clobberfree=1`.
//!
//! Run a child by hand: `GC_CORE_TEST_CHILD=1 GODEBUG=gccheckmark=1 cargo test --test
//! gc_keys -- --exact child_symbol_table --nocapture`.

mod common;

use common::child::{is_child, run};
use common::{collect_until, Rng};
use gc_core::{Gc, GcCell, Trace, Weak};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};

/// The tests here take turns: the count checks read exact root counts between writes, and
/// a cycle started by another test (whose unroot pass turns a written map's keys back into
/// edges) would change them underneath.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// An interpreter's symbol: interned, compared by name.
#[derive(Trace)]
struct Sym {
    name: String,
    /// Symbols this one refers to (a set of `Gc` elements: may form cycles).
    peers: GcCell<HashSet<Gc<Sym>>>,
}

impl PartialEq for Sym {
    fn eq(&self, other: &Sym) -> bool {
        self.name == other.name
    }
}
impl Eq for Sym {}
impl std::hash::Hash for Sym {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.name.hash(h)
    }
}
impl PartialOrd for Sym {
    fn partial_cmp(&self, other: &Sym) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Sym {
    fn cmp(&self, other: &Sym) -> std::cmp::Ordering {
        self.name.cmp(&other.name)
    }
}

fn sym(name: &str) -> Gc<Sym> {
    Gc::new(Sym {
        name: name.to_string(),
        peers: GcCell::new(HashSet::new()),
    })
}

#[test]
fn a_cycle_through_set_elements_is_freed() {
    let _serial = serial();
    let mut weak = Vec::new();
    for round in 0..20 {
        let (a, b, c) = (sym("a"), sym("b"), sym("c"));
        a.peers.borrow_mut().insert(b.clone());
        b.peers.borrow_mut().insert(c.clone());
        c.peers.borrow_mut().insert(a.clone());
        if round % 2 == 0 {
            // Let an unroot pass turn the sets into edges first.
            gc_core::collect();
        }
        assert_eq!(a.peers.borrow().iter().next().unwrap().name, "b");
        weak.extend([&a, &b, &c].map(Gc::downgrade));
    }
    collect_until(|| weak.iter().all(|w: &Weak<Sym>| w.upgrade().is_none()));
}

/// A table of every kind of keyed container, keyed by `Gc`s that nothing else holds.
#[derive(Trace)]
struct Tables {
    by_name: HashMap<Gc<str>, u64>,
    ordered: BTreeMap<Gc<Sym>, Gc<str>>,
    set: BTreeSet<Gc<str>>,
    heap: BinaryHeap<Gc<Sym>>,
}

fn tables(n: u64) -> Tables {
    let mut t = Tables {
        by_name: HashMap::new(),
        ordered: BTreeMap::new(),
        set: BTreeSet::new(),
        heap: BinaryHeap::new(),
    };
    for i in 0..n {
        let name = format!("symbol number {i:04} with a long enough name");
        t.by_name.insert(Gc::from(name.as_str()), i);
        t.ordered.insert(sym(&name), Gc::from(name.as_str()));
        t.set.insert(Gc::from(name.as_str()));
        t.heap.push(sym(&name));
    }
    t
}

fn check_tables(t: &Tables, n: u64) {
    assert_eq!(t.by_name.len() as u64, n);
    for i in 0..n {
        let name = format!("symbol number {i:04} with a long enough name");
        assert_eq!(t.by_name.get(name.as_str()), Some(&i));
        assert!(t.set.contains(name.as_str()));
    }
    for (k, v) in &t.ordered {
        assert_eq!(k.name, **v);
    }
    assert_eq!(
        t.heap.peek().map(|s| s.name.clone()),
        t.ordered.keys().next_back().map(|s| s.name.clone())
    );
}

#[test]
fn keys_held_only_by_heap_maps_stay_alive_and_die_with_them() {
    let _serial = serial();
    let held = Gc::new(GcCell::new(tables(200)));
    let frozen = Gc::new(tables(100));
    for round in 0..6 {
        gc_core::collect();
        check_tables(&held.borrow(), 200);
        check_tables(&frozen, 100);
        if round % 2 == 0 {
            // A write roots the tables again; the next cycle unroots them.
            let mut t = held.borrow_mut();
            let k = t.set.pop_first().unwrap();
            t.set.insert(k);
        }
    }
    // Garbage tables whose keys die in the same cycle, many times over: dropping them must
    // touch no freed key (clobberfree and the count checks in the children catch it).
    let watch: Vec<Weak<Sym>> = frozen.heap.iter().map(Gc::downgrade).collect();
    drop((held, frozen));
    collect_until(|| watch.iter().all(|w| w.upgrade().is_none()));
}

#[cfg(debug_assertions)]
mod counts {
    use super::*;
    use gc_core::__private::root_count_for_test as count;
    use gc_core::WeakMap;

    #[test]
    fn a_key_count_follows_its_map() {
        let _serial = serial();
        let s = sym("a key with a count of its own");
        assert_eq!(count(&s), 1);
        let map: HashMap<Gc<Sym>, u32> = [(s.clone(), 1)].into_iter().collect();
        assert_eq!(count(&s), 2, "a map on the stack holds a counted key");
        let holder = Gc::new(GcCell::new(map));
        assert_eq!(
            count(&s),
            1,
            "the map joined the heap: its key gave its count up"
        );
        holder.borrow_mut().insert(sym("another"), 2);
        assert_eq!(count(&s), 2, "a write rooted the map again");
        gc_core::collect();
        assert_eq!(count(&s), 1, "the unroot pass made the key an edge again");
        let (k, v) = holder.borrow_mut().remove_entry(&s).unwrap();
        assert_eq!(
            (count(&s), v),
            (2, 1),
            "a removed key is an ordinary rooted handle"
        );
        drop(k);
        assert_eq!(count(&s), 1);
        holder.borrow_mut().insert(s.clone(), 3);
        gc_core::collect();
        assert_eq!(count(&s), 1);
        // The holder dies: its garbage map's key releases nothing, so `s` keeps exactly the
        // count of our handle (a double release would show as 0, or underflow).
        let w = Gc::downgrade(&holder);
        drop(holder);
        collect_until(|| w.upgrade().is_none());
        gc_core::collect();
        assert_eq!(count(&s), 1);
    }

    /// Containers as keys: every handle inside a set element or map key is a key handle,
    /// including those in a `Vec`, an `Option` or a map's values, whose element types hold
    /// no keys of their own. A garbage set must clear them all (it once cleared none of
    /// them: dropping the set released counts the keys no longer held).
    #[derive(Trace)]
    struct Nested {
        vecs: BTreeSet<Vec<Gc<Sym>>>,
        options: HashSet<Option<Gc<Sym>>>,
        maps: BTreeSet<BTreeMap<u32, Gc<Sym>>>,
        heap: BinaryHeap<std::cmp::Reverse<Gc<Sym>>>,
    }

    #[test]
    fn garbage_containers_as_keys_release_nothing() {
        let _serial = serial();
        let s = sym("inside containers that are keys");
        let nested = || Nested {
            vecs: [vec![s.clone(), s.clone()]].into_iter().collect(),
            options: [Some(s.clone()), None].into_iter().collect(),
            maps: [[(1, s.clone())].into_iter().collect()]
                .into_iter()
                .collect(),
            heap: [std::cmp::Reverse(s.clone())].into_iter().collect(),
        };
        let frozen = Gc::new(nested());
        let held = Gc::new(GcCell::new(nested()));
        assert_eq!(count(&s), 1, "every key inside gave its count up");
        held.borrow_mut().vecs.insert(vec![]);
        gc_core::collect();
        assert_eq!(count(&s), 1);
        let watch = [Gc::downgrade(&frozen)];
        let watch_held = Gc::downgrade(&held);
        drop((frozen, held));
        collect_until(|| watch[0].upgrade().is_none() && watch_held.upgrade().is_none());
        gc_core::collect();
        assert_eq!(
            count(&s),
            1,
            "a garbage key container released a count it did not hold"
        );
    }

    #[test]
    fn garbage_keys_release_nothing_in_slices_and_weak_map_values() {
        let _serial = serial();
        let s = sym("held by a stack handle");
        let slice: Gc<[HashSet<Gc<Sym>>]> =
            Gc::from(vec![[s.clone()].into_iter().collect::<HashSet<_>>(); 3]);
        assert_eq!(count(&s), 1);
        drop(slice);

        let table: WeakMap<u64, BTreeSet<Gc<Sym>>> = WeakMap::new();
        let key = Gc::new(7u64);
        table.insert(&key, [s.clone()].into_iter().collect());
        assert_eq!(count(&s), 1, "a WeakMap value is an edge");
        let got = table.get(&key).unwrap();
        assert_eq!(count(&s), 2, "a cloned value holds counted keys");
        drop(got);
        drop(key);
        collect_until(|| table.is_empty());
        for _ in 0..3 {
            gc_core::collect();
        }
        assert_eq!(count(&s), 1);
    }
}

/// The interpreter's table: names interned to symbols, symbols to values; a model outside
/// the heap says what must be there.
#[derive(Trace)]
struct Interner {
    names: GcCell<HashMap<Gc<str>, Gc<Sym>>>,
    values: GcCell<BTreeMap<Gc<Sym>, u64>>,
}

/// Churns the table for `rounds` rounds of 50 operations, with a collection every round
/// and garbage tables on the side; checks the table against the model each round.
fn churn_symbol_table(rounds: u64, seed: u64) {
    let interner = Gc::new(Interner {
        names: GcCell::new(HashMap::new()),
        values: GcCell::new(BTreeMap::new()),
    });
    let mut model: BTreeMap<String, u64> = BTreeMap::new();
    let mut rng = Rng::new(seed);
    for round in 0..rounds {
        for _ in 0..50 {
            let name = format!("identifier-{:03}", rng.below(300));
            if rng.chance(70) {
                let value = rng.next();
                let existing = interner.names.borrow().get(name.as_str()).cloned();
                let s = existing.unwrap_or_else(|| {
                    let s = sym(&name);
                    interner
                        .names
                        .borrow_mut()
                        .insert(Gc::from(name.as_str()), s.clone());
                    s
                });
                interner.values.borrow_mut().insert(s, value);
                model.insert(name, value);
            } else if let Some(s) = interner.names.borrow_mut().remove(name.as_str()) {
                interner.values.borrow_mut().remove(&s);
                model.remove(&name);
            }
        }
        // Garbage: a frozen copy of part of the table, dead by the next cycle.
        let snapshot: HashSet<Gc<Sym>> = interner.names.borrow().values().cloned().collect();
        drop(Gc::new(snapshot));
        if round % 3 == 0 {
            // Let some cycles find the cells unwritten (edges).
            gc_core::collect();
        }
        let names = interner.names.borrow();
        let values = interner.values.borrow();
        assert_eq!(names.len(), model.len());
        assert_eq!(values.len(), model.len());
        for (name, v) in &model {
            let s = names.get(name.as_str()).expect("interned name lost");
            assert_eq!(&s.name, name);
            assert_eq!(values.get(s), Some(v));
        }
    }
}

#[test]
fn a_symbol_table_churns_against_its_model() {
    let _serial = serial();
    churn_symbol_table(60, 1);
}

#[test]
fn child_symbol_table() {
    if !is_child() {
        return;
    }
    churn_symbol_table(80, 2);
    keys_held_only_by_heap_maps_stay_alive_and_die_with_them();
    a_cycle_through_set_elements_is_freed();
    println!("PROBE_OK");
}

#[test]
fn the_symbol_table_under_gccheckmark_and_clobberfree() {
    for godebug in ["gccheckmark=1", "clobberfree=1"] {
        run(
            "child_symbol_table",
            &[("GODEBUG", godebug.as_bytes())],
            &[],
        )
        .assert_ok(godebug);
    }
}
