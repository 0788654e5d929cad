//! Tests of `GcCell`'s rooting protocol (a child of `cell.rs`): its header, `replace`
//! and the small cell's first write, busy cells, the passes that keep large cells rooted
//! (in a child process: they count the cycles they run), and the marker's `LARGE`.

use super::*;
use crate::Gc;

/// The header (lock word, flags, owner's reads, owner) is one 8-byte word before the
/// value: a cell of a handle is two words, and `GcCell::new` writes the header in one
/// store.
#[test]
#[cfg(not(gc_loom))] // loom's atomics are larger
fn the_header_is_one_word_before_the_value() {
    use std::mem::{offset_of, size_of};
    assert_eq!(size_of::<GcCell<Option<Gc<u64>>>>(), 16);
    assert_eq!(offset_of!(GcCell<Option<Gc<u64>>>, value), 8);
    assert_eq!(size_of::<GcCell<u64>>(), 16);
    assert_eq!(size_of::<GcCell<u32>>(), 12);
    // The pad's cost: 4 bytes where `T` is aligned to 2 or less.
    assert_eq!(size_of::<GcCell<u8>>(), 12);
    let c = GcCell::new(7u64);
    // SAFETY: the first 8 bytes are the header's initialised fields.
    let header = unsafe { std::ptr::read((&c as *const GcCell<u64>).cast::<[u8; 8]>()) };
    assert_eq!(
        header,
        [0, 0, 0, 0, ROOTED, 0, 0, 0],
        "lock 0, flags, no reads, no owner"
    );
}

#[test]
fn replace_on_a_heap_cell_keeps_it_an_edge_cell() {
    let holder: Gc<GcCell<Option<Gc<u64>>>> = Gc::new(GcCell::new(None));
    assert_eq!(
        holder.lock.flags.load(Ordering::Relaxed) & (ROOTED | ON_LIST),
        0
    );
    for i in 0..1000u64 {
        let old = holder.replace(Some(Gc::new(i)));
        if i > 0 {
            assert_eq!(*old.expect("previous value"), i - 1);
        }
    }
    // Never rooted, never listed: nothing for the next cycle's unroot pass.
    assert_eq!(
        holder.lock.flags.load(Ordering::Relaxed) & (ROOTED | ON_LIST),
        0
    );
    crate::collect();
    assert_eq!(**holder.borrow().as_ref().unwrap(), 999);
    holder.set(None);
    assert!(holder.borrow().is_none());
}

#[test]
fn a_small_cells_first_write_in_a_cycle_leaves_it_an_edge_cell_later_ones_rooted() {
    let small: Gc<GcCell<Option<Gc<u64>>>> = Gc::new(GcCell::new(None));
    type Pair = (Gc<u64>, Option<Gc<u64>>);
    let pair: Gc<GcCell<Pair>> = Gc::new(GcCell::new((Gc::new(1), None)));
    let list: Gc<GcCell<Vec<Gc<u64>>>> = Gc::new(GcCell::new(Vec::new()));
    let rooted = |f: &AtomicU8| f.load(Ordering::Relaxed) & ROOTED != 0;
    for cycle in 0..3u64 {
        // The cycle's first write through a guard: inline handles are edges again as
        // soon as the guard goes; a `Vec` stays rooted until the unroot pass.
        *small.borrow_mut() = Some(Gc::new(cycle));
        list.borrow_mut().push(Gc::new(cycle));
        {
            // `try_borrow_mut`, `map_split`: released when both halves are gone.
            let g = pair.try_borrow_mut().expect("free");
            let (mut a, mut b) = GcCellRefMut::map_split(g, |p| (&mut p.0, &mut p.1));
            *a = Gc::new(500 + cycle);
            *b = None;
            drop(a);
            assert!(rooted(&pair.lock.flags), "b still holds the guard");
        }
        assert!(
            !rooted(&small.lock.flags) && !rooted(&pair.lock.flags),
            "cycle {cycle}"
        );
        assert!(rooted(&list.lock.flags));
        // Later writes in the same cycle leave the contents rooted: O(1) each.
        for i in 0..10u64 {
            *small.borrow_mut() = Some(Gc::new(i));
        }
        assert!(rooted(&small.lock.flags));
        // The pass unroots what is rooted and starts a new write epoch: the next
        // write is the first again (the loop's top checks it).
        let epoch = crate::gc::write_epoch();
        crate::collect();
        assert_ne!(crate::gc::write_epoch(), epoch);
        for f in [&small.lock.flags, &pair.lock.flags, &list.lock.flags] {
            assert_eq!(f.load(Ordering::Relaxed) & ROOTED, 0);
        }
    }
    let (x, y) = (Gc::new(7u64), Gc::new(8u64));
    small.swap(&GcCell::new(Some(x)));
    *small.borrow_mut() = Some(y);
    crate::collect();
    assert_eq!(**small.borrow().as_ref().unwrap(), 8);
    assert_eq!(*pair.borrow().0, 502);
    assert_eq!(list.borrow().iter().map(|g| **g).sum::<u64>(), 3);
}

#[test]
fn a_cell_held_during_a_cycle_stays_dirty_until_a_later_one() {
    // A `Vec`: its write guard leaves it rooted (small inline values are edges again at
    // the guard's release, above).
    let holder: Gc<GcCell<Vec<Gc<u64>>>> = Gc::new(GcCell::new(Vec::new()));
    let flags = || holder.lock.flags.load(Ordering::Relaxed);
    assert_eq!(flags() & (ROOTED | HEAP_OWNED), HEAP_OWNED);
    let mut w = holder.borrow_mut();
    w.push(Gc::new(7));
    assert_ne!(flags() & ROOTED, 0, "the write rooted the contents");
    // The unroot pass finds the cell held: it stays rooted, its slot stays dirty.
    crate::collect();
    assert_ne!(flags() & ROOTED, 0, "unrooted under a writer");
    drop(w);
    // No write since: only the dirty bit the busy pass kept brings the cell back.
    crate::collect();
    assert_eq!(
        flags() & (ROOTED | ON_LIST),
        0,
        "the busy cell was forgotten"
    );
    assert_eq!(*holder.borrow()[0], 7);
}

/// A paced cycle's unroot pass leaves rooted the large cells written in the last
/// `KEEP_PASSES` cycles: a list written now and then is rooted once, not once per cycle
/// (O(contents) each time); one not written for that long goes back to edges; a small
/// cell is unrooted at every pass; a forced cycle keeps none. Other tests in this
/// process run cycles and change `GOGC`, so the scenario runs alone in a child process
/// of this test binary.
#[test]
#[cfg(not(gc_loom))]
fn a_paced_pass_keeps_large_cells_written_recently_rooted() {
    const NAME: &str =
        "object::cell::tests::a_paced_pass_keeps_large_cells_written_recently_rooted";
    const CHILD: &str = "GC_CORE_CELL_TEST_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let mut ran = 0;
        let outcome = paced_pass_scenario(&mut ran);
        crate::gc::wait_for_cycle_for_test();
        assert_eq!(
            crate::mem_stats().num_gc,
            ran,
            "a cycle the scenario did not run"
        );
        return outcome.unwrap();
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--test-threads=1", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .expect("the test binary runs");
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the child failed:\n{text}");
    assert!(text.contains("1 passed"), "the child ran no test:\n{text}");
}

/// The scenario of the test above; `ran` counts the cycles it ran.
#[cfg(not(gc_loom))]
fn paced_pass_scenario(ran: &mut u32) -> Result<(), String> {
    fn paced_cycle(ran: &mut u32) {
        *ran += 1;
        crate::gc::paced_cycle_for_test();
    }
    let n = LARGE_HANDLES as u64;
    let visits = crate::object::gc::tests::visits;
    let new_list = |len: u64| -> (Gc<GcCell<Vec<Gc<u64>>>>, u64) {
        let items = GcCell::new((0..len).map(Gc::new).collect());
        let v = visits();
        let list = Gc::new(items);
        (list, visits() - v)
    };
    // Moved in whole by `Gc::new`: a large list stays rooted, as if written now (the
    // move-in walk makes none of its handles edges), a small one does not.
    let ((list, list_walked), (small, small_walked)) = (new_list(n), new_list(10));
    // So does a list of lists (its hint multiplies the lengths).
    let nested: Vec<Vec<Gc<u64>>> = (0..32)
        .map(|_| (0..n / 32).map(Gc::new).collect())
        .collect();
    let v = visits();
    let nested = Gc::new(GcCell::new(nested));
    let nested_walked = visits() - v;
    let (born, _) = new_list(n);
    // Rooted small by its first write, then grown large by that guard: the pass finds
    // it large and keeps it, so its next write roots nothing.
    let (grown, _) = new_list(0);
    grown.borrow_mut().extend((0..n).map(Gc::new));
    let rooted = |c: &GcCell<_>| c.lock.flags.load(Ordering::Relaxed) & ROOTED != 0;
    let check = |ok: bool, what: String| if ok { Ok(()) } else { Err(what) };
    check(
        rooted(&list)
            && rooted(&born)
            && nested.lock.flags.load(Ordering::Relaxed) & ROOTED != 0
            && !rooted(&small),
        "Gc::new kept the wrong cells rooted".into(),
    )?;
    check(
        list_walked == 0 && nested_walked == 0 && small_walked == 10,
        format!(
            "the move-in walks visited {list_walked}, {nested_walked} and {small_walked} handles"
        ),
    )?;
    // `born` is never written: kept through `KEEP_PASSES` passes after its birth's
    // epoch, then back to edges.
    let mut born_passes = 0;
    let mut born_check = || {
        born_passes += 1;
        let kept = born_passes <= crate::gc::KEEP_PASSES;
        check(
            rooted(&born) == kept,
            format!("pass {born_passes} after its move-in: rooted is not {kept}"),
        )
    };
    let v0 = visits();
    list.borrow_mut().push(Gc::new(n));
    let walked = visits() - v0;
    check(
        walked == 0,
        format!("the first write rooted the contents again ({walked} handles)"),
    )?;
    for cycle in 0..3 {
        small.borrow_mut().push(Gc::new(cycle));
        paced_cycle(ran);
        born_check()?;
        if cycle == 0 {
            check(rooted(&grown), "a list grown large was unrooted".into())?;
            let v = visits();
            grown.borrow_mut().push(Gc::new(n));
            check(
                visits() == v,
                "the write after the pass rooted a grown list".into(),
            )?;
        }
        check(
            rooted(&list),
            format!("cycle {cycle}: a large written cell was unrooted"),
        )?;
        check(
            !rooted(&small),
            format!("cycle {cycle}: a small cell was kept"),
        )?;
        let v = visits();
        list.borrow_mut().push(Gc::new(cycle));
        check(
            visits() == v,
            format!("cycle {cycle}: a write rooted the contents again"),
        )?;
    }
    // Kept through `KEEP_PASSES` passes after the epoch of its last write, then back to
    // edges.
    for pass in 0..crate::gc::KEEP_PASSES {
        paced_cycle(ran);
        born_check()?;
        check(
            rooted(&list),
            format!("pass {pass} after the last write: unrooted"),
        )?;
    }
    paced_cycle(ran);
    born_check()?;
    check(
        !rooted(&list),
        "not written for KEEP_PASSES cycles, still rooted".into(),
    )?;
    // A forced cycle unroots every cell for its mark (to find every garbage cycle),
    // then roots the large ones written recently again before `collect()` returns
    // (`gc/reroot.rs`), so that their next write roots nothing.
    list.borrow_mut().push(Gc::new(7));
    check(rooted(&list), "a write did not root the contents".into())?;
    let (v, len) = (visits(), n + 5);
    *ran += 1;
    crate::collect();
    let walked = visits() - v;
    check(
        walked == 2 * len,
        format!("collect() walked {walked} handles, not {len} unrooted and rooted again"),
    )?;
    check(
        rooted(&list),
        "collect() left a large written cell unrooted".into(),
    )?;
    let v = visits();
    list.borrow_mut()[0] = Gc::new(0);
    check(
        visits() == v,
        "the write after collect() rooted the contents".into(),
    )?;
    // So is one rooted small and grown large since: its mark tells it large.
    let (grown_now, _) = new_list(0);
    grown_now.borrow_mut().extend((0..n).map(Gc::new));
    *ran += 1;
    crate::collect();
    check(
        rooted(&grown_now),
        "collect() left a list grown large unrooted".into(),
    )?;
    // Filled by one guard held through more passes than `KEEP_PASSES` (its guard
    // recorded the epoch it was taken in): the pass after the release counts its last
    // write as made then, finds it large and keeps it, so its next write roots nothing;
    // and `collect()` roots it again (its mark sees it written recently).
    for forced in [false, true] {
        let (filled, _) = new_list(0);
        {
            let mut guard = filled.borrow_mut();
            for pass in 0..=crate::gc::KEEP_PASSES as u64 {
                guard.extend((0..n / 4).map(|i| Gc::new(pass * n + i)));
                paced_cycle(ran);
            }
        }
        if forced {
            *ran += 1;
            crate::collect();
        } else {
            paced_cycle(ran);
        }
        check(
            rooted(&filled),
            format!("a list filled under one guard held through the passes was unrooted (collect: {forced})"),
        )?;
        let v = visits();
        filled.borrow_mut()[0] = Gc::new(1);
        check(
            visits() == v,
            format!("the write after the long guard rooted the list (collect: {forced})"),
        )?;
    }
    let sum: u64 = list.borrow().iter().map(|g| **g).sum();
    check(
        list.borrow().len() as u64 == n + 5,
        "lost an element".into(),
    )?;
    check(
        sum == n * (n - 1) / 2 + n + 3 + 7,
        "an element changed".into(),
    )?;
    let small_len = small.borrow().len();
    check(small_len == 13, "lost a small element".into())?;
    let born_sum: u64 = born.borrow().iter().map(|g| **g).sum();
    check(
        born_sum == n * (n - 1) / 2,
        "an element of born changed".into(),
    )
}

/// The marker's trace of an edge cell sets `LARGE` from the edges it gave (assists
/// leave such cells to the background workers), and clears it once they are fewer.
#[test]
fn the_marker_tells_large_edge_cells() {
    let n = LARGE_HANDLES as u64;
    let vec_of = |len: u64| (0..len).map(Gc::new).collect::<Vec<Gc<u64>>>();
    // Large edge cells: filled by `replace` (`Gc::new` would keep the contents rooted).
    let edge_cell = |len: u64| -> Gc<GcCell<Vec<Gc<u64>>>> {
        let c = Gc::new(GcCell::new(Vec::new()));
        drop(c.replace(vec_of(len)));
        c
    };
    let (big, small) = (edge_cell(n), edge_cell(n - 1));
    let flags = |c: &GcCell<_>| c.lock.flags.load(Ordering::Relaxed);
    // (Another test's cycle may have traced them already.)
    assert_eq!(flags(&big) & ROOTED, 0, "filled by replace: edge cells");
    crate::collect();
    assert_eq!(flags(&big) & (LARGE | ROOTED), LARGE);
    assert_eq!(flags(&small) & (LARGE | ROOTED), 0);
    // `replace` keeps an edge cell an edge cell.
    drop(big.replace(vec_of(3)));
    crate::collect();
    assert_eq!(
        flags(&big) & (LARGE | ROOTED),
        0,
        "still large with 3 handles"
    );
    assert_eq!(big.borrow().iter().map(|g| **g).sum::<u64>(), 3);
    assert_eq!(small.borrow().len() as u64, n - 1);
}

#[test]
fn a_small_cells_guard_held_through_a_cycle_keeps_both_values() {
    let holder: Gc<GcCell<Option<Gc<u64>>>> = Gc::new(GcCell::new(Some(Gc::new(1))));
    let flags = || holder.lock.flags.load(Ordering::Relaxed);
    crate::collect();
    let mut w = holder.borrow_mut();
    let old = w.replace(Gc::new(2));
    // The epoch's first write: rooted while held, recorded nowhere until the marker
    // meets it rooted and dirties its slot.
    assert_eq!(flags() & (ROOTED | HEAP_OWNED), ROOTED | HEAP_OWNED);
    crate::collect();
    assert_ne!(flags() & ROOTED, 0, "unrooted under a writer");
    drop(w);
    assert_eq!(flags() & ROOTED, 0, "the release made it an edge cell");
    crate::collect();
    crate::collect();
    assert_eq!(**holder.borrow().as_ref().unwrap(), 2);
    assert_eq!(*old.unwrap(), 1);
}

#[test]
fn replace_on_a_stack_cell_keeps_handles_rooted() {
    let cell = GcCell::new(Some(Gc::new(1u64)));
    let old = cell.replace(Some(Gc::new(2)));
    crate::collect();
    assert_eq!(*old.unwrap(), 1);
    assert_eq!(**cell.borrow().as_ref().unwrap(), 2);
}

/// Telling a large cell (`holds_large`: `LARGE_HANDLES` handles or more) counts only up to
/// that many: a container stops between elements once the count is reached
/// (`Trace::trace_counting`), so a list of millions costs a thousand edges. The answer is
/// the full count's: handles late in a long list still make it large, and a long list
/// with one handle too few is not.
#[test]
fn a_large_cell_is_told_without_counting_all_of_it() {
    type Values = Vec<Option<Gc<u64>>>;
    let n = LARGE_HANDLES;
    let large = |v: &Values| GcCell::<Values>::holds_large(v);
    // Numbers (`None`) first, the handles last.
    let late: Values = (0..4 * n)
        .map(|i| (i >= 3 * n).then(|| Gc::new(i as u64)))
        .collect();
    assert!(large(&late));
    // One handle in four, one short of the threshold.
    let sparse: Values = (0..4 * n)
        .map(|i| (i % 4 == 0 && i < 4 * (n - 1)).then(|| Gc::new(i as u64)))
        .collect();
    assert!(!large(&sparse));
    let enough = n as u64;
    let count = |walk: &dyn Fn(&mut Tracer)| crate::gc::count_edges(enough, walk);
    // The count stops where it is reached, in a list, a list of lists and a map; `trace`
    // gives every edge.
    let big: Vec<Gc<u64>> = (0..10 * enough).map(Gc::new).collect();
    assert_eq!(count(&|t| big.trace_counting(t)), enough);
    assert_eq!(count(&|t| big.trace(t)), 10 * enough);
    let nested: Vec<Vec<Gc<u64>>> = (0..10).map(|_| (0..300).map(Gc::new).collect()).collect();
    assert_eq!(count(&|t| nested.trace_counting(t)), enough);
    let map: std::collections::BTreeMap<u64, Gc<u64>> =
        (0..2 * enough).map(|i| (i, Gc::new(i))).collect();
    assert_eq!(count(&|t| map.trace_counting(t)), enough);
    // Boxed, as an interpreter may keep a list.
    let boxed = Box::new(big);
    assert_eq!(count(&|t| boxed.trace_counting(t)), enough);
}

/// The marker's scan of a list in chunks (`Trace::trace_chunk`) gives every edge once:
/// each chunk but the last fills `CHUNK_EDGES`, the resume index is the next element's, a
/// list that ends with a full chunk needs no further call, and an index past the end (the
/// contents replaced by a shorter list between two chunks) traces nothing.
#[test]
#[cfg(not(gc_loom))]
fn a_list_is_traced_in_chunks_that_cover_it_once() {
    use std::collections::VecDeque;
    let chunk = crate::gc::CHUNK_EDGES;
    // The resume points and the edges traced in all, for `value` scanned from 0.
    fn chunks<T: Trace>(value: &T) -> (Vec<usize>, u64) {
        let mut resumes = Vec::new();
        let edges = crate::gc::count_edges(u64::MAX, |t| {
            let mut from = 0;
            while let Some(next) = value.trace_chunk(t, from) {
                assert!(next > from, "no progress");
                resumes.push(next);
                from = next;
            }
        });
        (resumes, edges)
    }
    let c = chunk as usize;
    let list: Vec<Gc<u64>> = (0..10_000).map(Gc::new).collect();
    assert_eq!(chunks(&list), (vec![c, 2 * c], 10_000));
    let exact: Vec<Gc<u64>> = (0..chunk).map(Gc::new).collect();
    assert_eq!(chunks(&exact), (vec![], chunk), "a full last chunk");
    let mut deque: VecDeque<Option<Gc<u64>>> = (0..10_000u64)
        .map(|i| (i % 2 == 0).then(|| Gc::new(i)))
        .collect();
    deque.rotate_left(3_000);
    // Edges at the even positions: the chunk fills at position 2c - 2.
    assert_eq!(
        chunks(&deque),
        (vec![2 * c - 1], 5_000),
        "gaps give no edges"
    );
    // A list of lists resumes at the outer list's element after the one that filled it.
    let nested: Vec<Vec<Gc<u64>>> = (0..40).map(|_| (0..300).map(Gc::new).collect()).collect();
    let per = c.div_ceil(300);
    assert_eq!(chunks(&nested), (vec![per, 2 * per], 12_000));
    let boxed: Box<Vec<Gc<u64>>> = Box::new(list);
    assert_eq!(chunks(&boxed).1, 10_000);
    let (none, edges) = {
        let mut next = None;
        let edges = crate::gc::count_edges(u64::MAX, |t| next = exact.trace_chunk(t, 20_000));
        (next, edges)
    };
    assert_eq!((none, edges), (None, 0), "an index past the end");
    // A type that does not resume traces everything at once.
    let one = Gc::new(5u64);
    assert_eq!(chunks(&one), (vec![], 1));
}
