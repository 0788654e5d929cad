//! Ephemeron tables (`WeakMap`): a value lives exactly as long as its key is reachable from
//! elsewhere, even when the value refers to its own key or to the next entry's key, and
//! dead entries vanish in the cycle that finds their key dead.

mod common;

use common::collect_until;

use gc_core::{Gc, GcCell, Trace, WeakMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// Counts drops of the value objects.
struct Counted(Arc<AtomicUsize>);
impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Trace)]
struct Key {
    id: u64,
    label: String,
}

fn key(id: u64) -> Gc<Key> {
    Gc::new(Key {
        id,
        label: format!("key {id}"),
    })
}

#[derive(Trace)]
struct Meta {
    text: String,
    /// A handle to some key (its own, or another entry's).
    points_to: GcCell<Option<Gc<Key>>>,
    #[trace(skip)]
    _drops: Option<Counted>,
}

fn meta(text: &str, drops: &Arc<AtomicUsize>) -> Gc<Meta> {
    Gc::new(Meta {
        text: text.to_string(),
        points_to: GcCell::new(None),
        _drops: Some(Counted(drops.clone())),
    })
}

#[test]
fn insert_get_remove() {
    let drops = Arc::new(AtomicUsize::new(0));
    let m: WeakMap<Key, Gc<Meta>> = WeakMap::new();
    let (a, b) = (key(1), key(2));
    m.insert(&a, meta("a", &drops));
    m.insert(&b, meta("b", &drops));
    assert_eq!(m.len(), 2);
    assert_eq!(m.get(&a).map(|v| v.text.clone()).as_deref(), Some("a"));
    assert!(m.contains_key(&b));
    m.insert(&a, meta("a2", &drops));
    assert_eq!(m.get(&a).map(|v| v.text.clone()).as_deref(), Some("a2"));
    assert!(m.remove(&b));
    assert!(!m.remove(&b));
    assert!(m.get(&b).is_none());
    assert_eq!(m.len(), 1);
    collect_until(|| drops.load(Ordering::SeqCst) >= 2);
    gc_core::collect();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        2,
        "the replaced and the removed value are garbage"
    );
    assert_eq!(m.get(&a).map(|v| v.text.clone()).as_deref(), Some("a2"));
}

#[test]
fn a_value_lives_while_its_key_does_and_dies_with_it() {
    let drops = Arc::new(AtomicUsize::new(0));
    let m: WeakMap<Key, Gc<Meta>> = WeakMap::new();
    let k = key(3);
    m.insert(&k, meta("three", &drops));
    for _ in 0..3 {
        gc_core::collect();
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "a live key keeps its value"
    );
    assert_eq!(m.get(&k).unwrap().text, "three");
    drop(k);
    gc_core::collect();
    assert_eq!(
        m.len(),
        0,
        "the dead key's entry is gone in the cycle that found it"
    );
    collect_until(|| drops.load(Ordering::SeqCst) >= 1);
    assert_eq!(drops.load(Ordering::SeqCst), 1, "its value was freed");
}

#[test]
fn a_value_that_refers_to_its_own_key_does_not_keep_it() {
    let drops = Arc::new(AtomicUsize::new(0));
    let m: WeakMap<Key, Gc<Meta>> = WeakMap::new();
    let k = key(4);
    let v = meta("self", &drops);
    *v.points_to.borrow_mut() = Some(k.clone());
    m.insert(&k, v);
    gc_core::collect();
    assert_eq!(m.len(), 1);
    drop(k);
    gc_core::collect();
    assert_eq!(m.len(), 0, "the value's edge to its key is not a root");
    collect_until(|| drops.load(Ordering::SeqCst) >= 1);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

/// Entry i's value points to key i+1: only key 0 is held. Marking reaches key i+1 only
/// after tracing value i, one fixed-point round per link.
#[test]
fn a_chain_of_ephemerons_needs_several_rounds() {
    const N: usize = 6;
    let drops = Arc::new(AtomicUsize::new(0));
    let m: WeakMap<Key, Gc<Meta>> = WeakMap::new();
    let keys: Vec<Gc<Key>> = (0..N as u64).map(|i| key(100 + i)).collect();
    for i in 0..N {
        let v = meta(&format!("v{i}"), &drops);
        if i + 1 < N {
            *v.points_to.borrow_mut() = Some(keys[i + 1].clone());
        }
        m.insert(&keys[i], v);
    }
    let weak_last = Gc::downgrade(&keys[N - 1]);
    let head = keys[0].clone();
    drop(keys);
    gc_core::collect();
    assert_eq!(m.len(), N, "every link is reachable from the head key");
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    let last = weak_last
        .upgrade()
        .expect("the last key is alive through the chain");
    assert_eq!(last.label, format!("key {}", 100 + N - 1));
    drop(last);
    drop(head);
    gc_core::collect();
    assert_eq!(m.len(), 0, "the whole chain dies with its head");
    collect_until(|| drops.load(Ordering::SeqCst) >= N);
    assert_eq!(drops.load(Ordering::SeqCst), N);
}

/// A table inside a heap object works, and dies with it.
#[derive(Trace)]
struct Holder {
    table: WeakMap<Key, Gc<Meta>>,
}

#[test]
fn a_table_inside_the_heap() {
    let drops = Arc::new(AtomicUsize::new(0));
    let h = Gc::new(Holder {
        table: WeakMap::new(),
    });
    let k = key(7);
    h.table.insert(&k, meta("in heap", &drops));
    gc_core::collect();
    assert_eq!(h.table.get(&k).unwrap().text, "in heap");
    drop(h);
    collect_until(|| drops.load(Ordering::SeqCst) >= 1);
    gc_core::collect();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "the table's value died with the table"
    );
}

/// Threads insert, read and remove entries of one shared table while another collects;
/// values read back always belong to their key.
#[test]
fn entries_from_several_threads() {
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let drops = Arc::new(AtomicUsize::new(0));
        let m: Arc<WeakMap<Key, Gc<Meta>>> = Arc::new(WeakMap::new());
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let collector = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    gc_core::collect();
                }
            })
        };
        let workers: Vec<_> = (0..4u64)
            .map(|t| {
                let (m, drops) = (m.clone(), drops.clone());
                std::thread::spawn(move || {
                    let mut kept = Vec::new();
                    for i in 0..1500u64 {
                        let k = key(t << 32 | i);
                        m.insert(&k, meta(&format!("{}", k.id), &drops));
                        if i % 4 == 0 {
                            kept.push(k);
                        } else if i % 4 == 1 {
                            assert!(m.remove(&k));
                        }
                        if let Some(k) = kept.last() {
                            let v = m.get(k).expect("a kept key keeps its entry");
                            assert_eq!(v.text, format!("{}", k.id));
                        }
                    }
                    kept
                })
            })
            .collect();
        let kept: Vec<Gc<Key>> = workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect();
        stop.store(true, Ordering::SeqCst);
        collector.join().unwrap();
        gc_core::collect();
        assert_eq!(m.len(), kept.len(), "exactly the kept keys' entries remain");
        for k in &kept {
            assert_eq!(m.get(k).unwrap().text, format!("{}", k.id));
        }
        let dead = 4 * 1500 - kept.len();
        collect_until(|| drops.load(Ordering::SeqCst) >= dead);
        assert_eq!(drops.load(Ordering::SeqCst), dead);
        done_tx.send(()).unwrap();
    });
    done_rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the WeakMap stress test hung or panicked");
}
