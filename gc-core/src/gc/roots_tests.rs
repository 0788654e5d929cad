//! Tests of the root counters (a child of `roots.rs`): bulk rooting, runs of roots and
//! of edges, spilled counts, and the counter words' batches.

use super::*;
use crate::sync::{Arc, AtomicU64};
#[cfg(debug_assertions)]
use crate::{Gc, Trace};

/// The tests' objects: small, one counter each (tiny ones share theirs).
#[cfg(debug_assertions)]
type Obj = Gc<[u64; 3]>;

/// The count on `g`'s counter itself, what the thread's root cache still holds aside.
#[cfg(debug_assertions)]
fn raw_count(g: &Obj) -> u64 {
    let (s, i) = locate(Gc::as_ptr(g) as usize);
    count(s.root_count(i))
}

/// A bulk rooting (a cold list's first write) counts each handle once, through
/// entries pushed out of the root cache into its pending words; objects held by many
/// handles of the list spill past four bits; and the walk leaves the thread's flag as
/// it found it, a panic included.
#[test]
#[cfg(debug_assertions)]
fn rooting_a_list_counts_every_handle_once() {
    let addr = |g: &Obj| Gc::as_ptr(g) as usize;
    let together: Vec<Obj> = (0..3_000).map(|i| Gc::new([i; 3])).collect();
    let shared: Vec<Obj> = (0..20).map(|i| Gc::new([i; 3])).collect();
    let mut list: Vec<Obj> = together.to_vec();
    list.extend((0..2_000).map(|i| shared[i % 20].clone()));
    // The list's handles become edges, as an unroot pass leaves a cold list's (the
    // objects stay alive through `together` and `shared`).
    // SAFETY: every handle in `list` is rooted; none is dropped before `root` below.
    unsafe { list.unroot() };
    assert!(together
        .iter()
        .chain(&shared)
        .all(|g| root_count_for_test(addr(g)) == 1));
    // SAFETY: every handle in `list` is an edge.
    bulk_rooting(|| unsafe { list.root() });
    let bulk = || super::super::world::with_root_cache(|rc| rc.bulk);
    assert_eq!(bulk(), Some(false), "the walk left the flag set");
    // Ten handles to ten shared objects dropped.
    list.truncate(list.len() - 10);
    for g in &together {
        assert_eq!(root_count_for_test(addr(g)), 2);
    }
    for (i, g) in shared.iter().enumerate() {
        let dropped = (1990..2000).any(|k| k % 20 == i);
        assert_eq!(
            root_count_for_test(addr(g)),
            if dropped { 100 } else { 101 }
        );
    }
    drop(list);
    assert!(together
        .iter()
        .chain(&shared)
        .all(|g| root_count_for_test(addr(g)) == 1));
    let panicked = std::panic::catch_unwind(|| bulk_rooting(|| panic!("in the walk")));
    assert!(panicked.is_err());
    assert_eq!(bulk(), Some(false), "a panicking walk left the flag set");
}

/// `f` inside a GC operation, which keeps stops out: the runs in `f` cannot find the
/// world stopping and go handle by handle (through this thread's cache, where counts
/// wait), so the counters can be read exactly before `f` returns, whatever stops the
/// other tests make meanwhile.
#[cfg(debug_assertions)]
fn without_stops<R>(f: impl FnOnce() -> R) -> R {
    super::super::world::with_op(|_| f())
}

/// A run of handles rooted outside a bulk walk (`Trace::root` of a `Vec<Gc<_>>`, of a
/// `Vec<Option<Gc<_>>>` or of a list of tuples holding handles, `root_run`) leaves
/// nothing pending: every counter holds its count when the root returns, without a
/// drain; handles already rooted are left alone and not counted twice; the thread's
/// count of rooted edges grows by the handles it rooted.
#[test]
#[cfg(debug_assertions)]
fn a_run_outside_a_walk_applies_its_counts_when_it_ends() {
    /// Makes every handle in `list` an edge, then roots them again in runs: when `root`
    /// returns, each object holds its own count plus the list's `per_object`, and the
    /// thread counted that many rooted handles per object.
    fn edges_rooted_again<L: Trace>(list: &mut L, objects: &[Obj], per_object: u64) {
        // SAFETY: every handle in `list` is rooted; none is dropped before `root` below.
        unsafe { list.unroot() };
        flush_root_cache();
        assert!(objects.iter().all(|g| raw_count(g) == 1));
        let before = crate::object::gc::rooted_handles();
        let exact = without_stops(|| {
            // SAFETY: every handle in `list` is an edge.
            unsafe { list.root() };
            objects.iter().all(|g| raw_count(g) == 1 + per_object)
        });
        assert_eq!(
            crate::object::gc::rooted_handles().wrapping_sub(before),
            per_object as usize * objects.len()
        );
        assert!(
            exact,
            "a count of the run was still pending when it returned"
        );
    }
    let objects: Vec<Obj> = (0..3_000).map(|i| Gc::new([i; 3])).collect();
    flush_root_cache();
    let mut list: Vec<Obj> = objects.to_vec();
    // SAFETY: every handle in `list` is rooted; none is dropped before `root` below.
    unsafe { list[..2_500].unroot() };
    flush_root_cache();
    assert!(objects[..2_500].iter().all(|g| raw_count(g) == 1));
    assert!(objects[2_500..].iter().all(|g| raw_count(g) == 2));
    let before = crate::object::gc::rooted_handles();
    let exact = without_stops(|| {
        // SAFETY: the first 2,500 handles are edges, the rest roots, as `root` allows.
        unsafe { list.root() };
        objects.iter().all(|g| raw_count(g) == 2)
    });
    assert_eq!(
        crate::object::gc::rooted_handles().wrapping_sub(before),
        2_500,
        "rooted edges counted"
    );
    assert!(
        exact,
        "a count of the run was still pending when it returned"
    );
    drop(list);
    let all_back_to_one = || {
        objects
            .iter()
            .all(|g| root_count_for_test(Gc::as_ptr(g) as usize) == 1)
    };
    assert!(all_back_to_one());

    // The same for a list of `Option<Gc<_>>` with gaps (`Option`'s `root_into`).
    let mut slots: Vec<Option<Obj>> = objects
        .iter()
        .flat_map(|g| [Some(g.clone()), None])
        .collect();
    edges_rooted_again(&mut slots, &objects, 1);
    drop(slots);
    assert!(all_back_to_one());

    // The same for a list of values that hold a handle beside other data (tuples, as a
    // derived `Value` enum: `Trace::root_into`), two handles to each object.
    let mut pairs: Vec<(Obj, u32, Option<Obj>)> = objects
        .iter()
        .map(|g| (g.clone(), 7, Some(g.clone())))
        .collect();
    edges_rooted_again(&mut pairs, &objects, 2);
    drop(pairs);
    assert!(all_back_to_one());
}

/// A run of handles rooted inside a bulk walk keeps its counts in the pending words
/// until the walk ends; a stop in between (mark setup's, say) must apply them before
/// the root scan reads the counters, though the thread took no entry of its table
/// since the last drain. (It did not: the drain skipped an idle table's pending words
/// too, the counts of up to a chunk of 256 handles were missing at that stop's root
/// scan and debt settlement, and `tests/large_cells.rs` aborted now and then with
/// "root count underflow" under load.)
#[test]
#[cfg(debug_assertions)]
fn a_stop_inside_a_bulk_walk_applies_a_runs_pending_counts() {
    let objects: Vec<Obj> = (0..1_000).map(|i| Gc::new([i; 3])).collect();
    let mut list: Vec<Obj> = objects.to_vec();
    // SAFETY: every handle in `list` is rooted; it is rooted again before its drop.
    unsafe { list.unroot() };
    flush_root_cache(); // the table is idle from here on
    assert!(objects.iter().all(|g| raw_count(g) == 1));
    bulk_rooting(|| {
        // SAFETY: every handle in `list` is an edge.
        unsafe { list.root() };
        drop(super::super::world::stop());
        assert!(
            objects.iter().all(|g| raw_count(g) == 2),
            "a stop left a run's counts pending"
        );
    });
    drop(list);
    flush_root_cache();
    assert!(objects.iter().all(|g| raw_count(g) == 1));
}

/// A run of handles made edges (`Trace::unroot` of a long list, `unroot_run`) gives
/// back every count before it returns, without a drain: a root still pending in the
/// thread's table is taken back there, the others by counter word, and a counter
/// whose count spilled past four bits gives its counts back from the spill table.
#[test]
#[cfg(debug_assertions)]
fn a_run_of_edges_gives_back_its_counts_before_it_ends() {
    let objects: Vec<Obj> = (0..3_000).map(|i| Gc::new([i; 3])).collect();
    let shared = Gc::new([7u64; 3]);
    let mut list: Vec<Obj> = objects.to_vec();
    list.extend((0..40).map(|_| shared.clone()));
    flush_root_cache();
    assert!(objects.iter().all(|g| raw_count(g) == 2));
    assert_eq!(root_count_for_test(Gc::as_ptr(&shared) as usize), 41);
    // A hundred more roots, still pending in this thread's table.
    list.extend(objects[..100].iter().cloned());
    let exact = without_stops(|| {
        // SAFETY: every handle in `list` is rooted; it is rooted again before its drop.
        unsafe { list.unroot() };
        objects.iter().all(|g| raw_count(g) == 1)
            && root_count_for_test(Gc::as_ptr(&shared) as usize) == 1
    });
    assert!(
        exact,
        "a count of the run was still pending when it returned"
    );
    flush_root_cache();
    assert!(objects.iter().all(|g| raw_count(g) == 1));
    // SAFETY: every handle in `list` is an edge.
    unsafe { list.root() };
    drop(list);
    flush_root_cache();
    assert!(objects.iter().all(|g| raw_count(g) == 1));
    assert_eq!(root_count_for_test(Gc::as_ptr(&shared) as usize), 1);
}

#[test]
fn counts_past_four_bits_spill_and_come_back() {
    // The counter shares its word with a neighbour that holds a count throughout.
    let word = AtomicU64::new(0);
    let c = RootCounter::new(&word, 5);
    let neighbour = RootCounter::new(&word, 6);
    inc(neighbour, Ordering::SeqCst);
    for n in 1..=1000u64 {
        inc(c, Ordering::SeqCst);
        assert_eq!(count(c), n);
    }
    assert_eq!(c.load(Ordering::SeqCst), spill::SPILLED);
    for n in (0..1000u64).rev() {
        dec(c);
        assert_eq!(count(c), n);
    }
    assert_eq!(c.load(Ordering::SeqCst), 0);
    assert!(
        !spill::spill_table(c.key()).lock().contains_key(&c.key()),
        "a spill entry outlived its count"
    );
    assert_eq!(count(neighbour), 1);
}

#[test]
fn threads_crossing_the_spill_boundary_lose_no_count() {
    // Every thread holds more than a counter's worth of counts at its peak, so together
    // they cross INLINE_MAX in both directions many times, while other threads move
    // the neighbouring counters of the same word.
    let word = Arc::new(AtomicU64::new(0));
    RootCounter::new(&word, 0).set_from_zero(1, Ordering::SeqCst);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let word = word.clone();
            crate::sync::thread::spawn(move || {
                // Threads 0 and 1 share counter 0; 2 and 3 each move a neighbour.
                let c = RootCounter::new(&word, t.max(1) - 1);
                for _ in 0..200 {
                    for _ in 0..20 {
                        inc(c, Ordering::SeqCst);
                    }
                    for _ in 0..20 {
                        dec(c);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(count(RootCounter::new(&word, 0)), 1);
    assert_eq!(
        word.load(Ordering::SeqCst),
        1,
        "the neighbours came back to 0"
    );
}
