//! `Trace` for the standard library's types, each put through heap objects for real
//! (`common::exercise`): the handles inside stay alive and intact through collections and
//! cell writes, their root counts are exactly what the impl promises (debug builds), a
//! garbage copy releases exactly what it held, and a cycle through the type is freed.
//!
//! - Wrappers (`Range*`, `Bound`, `Wrapping`, `Saturating`, `Reverse`) and `Box<[T]>`
//!   forward to their contents; `RangeInclusive`'s ends follow the "Keys" protocol (no
//!   `&mut` access), also inside a `BinaryHeap<Reverse<_>>`; tuples go up to 12.
//! - `Cow<'static, B>`: only the owned variant is traced; `to_mut` switches through a cell.
//! - `OnceLock`: written through `&self`, its contents always stay counted roots.
//! - Leaves (`NonZero*`, atomics, orderings, addresses, `AtomicCell`, `Box<str>`...) work
//!   in heap objects, and are noscan where the type can say so.
//!
//! The same cases run in children under `GODEBUG=gccheckmark=1` and `clobberfree=1`. Run
//! one by hand: `GC_CORE_TEST_CHILD=1 GODEBUG=clobberfree=1 cargo test --test
//! trace_coverage -- --exact child_every_case --nocapture`.

mod common;

use common::child::{is_child, run};
use common::collect_until;
use common::exercise::{count, exercise, nodes, Inside, Node};
use gc_core::{AtomicCell, Gc, GcCell, Trace};
use std::borrow::Cow;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::num::{Saturating, Wrapping};
use std::ops::{Bound, Range, RangeFrom, RangeInclusive, RangeTo, RangeToInclusive};
use std::sync::OnceLock;

fn one(v: &mut Vec<Gc<Node>>) -> Gc<Node> {
    v.pop().unwrap()
}

fn wrappers() {
    exercise(
        "Range",
        2,
        Inside::Edges,
        |v| v[0].clone()..v[1].clone(),
        |r: &Range<_>| vec![r.start.clone(), r.end.clone()],
    );
    exercise(
        "RangeInclusive",
        2,
        Inside::Edges,
        |v| v[0].clone()..=v[1].clone(),
        |r| vec![r.start().clone(), r.end().clone()],
    );
    exercise(
        "RangeFrom",
        1,
        Inside::Edges,
        |mut v| one(&mut v)..,
        |r: &RangeFrom<_>| vec![r.start.clone()],
    );
    exercise(
        "RangeTo",
        1,
        Inside::Edges,
        |mut v| ..one(&mut v),
        |r: &RangeTo<_>| vec![r.end.clone()],
    );
    exercise(
        "RangeToInclusive",
        1,
        Inside::Edges,
        |mut v| ..=one(&mut v),
        |r: &RangeToInclusive<_>| vec![r.end.clone()],
    );
    let bound = |b: &Bound<Gc<Node>>| match b {
        Bound::Included(g) | Bound::Excluded(g) => vec![g.clone()],
        Bound::Unbounded => vec![],
    };
    exercise(
        "Bound::Included",
        1,
        Inside::Edges,
        |mut v| Bound::Included(one(&mut v)),
        bound,
    );
    exercise(
        "Bound::Excluded",
        1,
        Inside::Edges,
        |mut v| Bound::Excluded(one(&mut v)),
        bound,
    );
    exercise(
        "Wrapping",
        1,
        Inside::Edges,
        |mut v| Wrapping(one(&mut v)),
        |w| vec![w.0.clone()],
    );
    exercise(
        "Saturating",
        1,
        Inside::Edges,
        |mut v| Saturating(one(&mut v)),
        |w| vec![w.0.clone()],
    );
    exercise(
        "Reverse",
        1,
        Inside::Edges,
        |mut v| Reverse(one(&mut v)),
        |w| vec![w.0.clone()],
    );
    // Set elements (keys) inside wrappers: `Reverse` forwards the key methods.
    exercise(
        "BinaryHeap<Reverse<Gc>>",
        5,
        Inside::Edges,
        |v| v.into_iter().map(Reverse).collect::<BinaryHeap<_>>(),
        |h| h.iter().map(|r| r.0.clone()).collect(),
    );
    // A range as a set element: keys inside keys.
    exercise(
        "BinaryHeap<RangeInclusive<Gc>>",
        4,
        Inside::Edges,
        |v| {
            v.chunks(2)
                .map(|c| RangeOrd(c[0].clone()..=c[1].clone()))
                .collect::<BinaryHeap<_>>()
        },
        |h| {
            h.iter()
                .flat_map(|r| [r.0.start().clone(), r.0.end().clone()])
                .collect()
        },
    );
}

/// A `RangeInclusive` ordered by its start, to sit in a `BinaryHeap`.
#[derive(Trace, PartialEq, Eq)]
struct RangeOrd(RangeInclusive<Gc<Node>>);
impl PartialOrd for RangeOrd {
    fn partial_cmp(&self, other: &RangeOrd) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for RangeOrd {
    fn cmp(&self, other: &RangeOrd) -> std::cmp::Ordering {
        self.0.start().cmp(other.0.start())
    }
}

fn boxes_and_tuples() {
    exercise("Box<[Gc]>", 3, Inside::Edges, Vec::into_boxed_slice, |b| {
        b.to_vec()
    });
    exercise(
        "Option<Box<[Gc]>>",
        3,
        Inside::Edges,
        |v| Some(v.into_boxed_slice()),
        |b| b.as_deref().unwrap().to_vec(),
    );
    type Twelve = (
        Gc<Node>,
        u8,
        u16,
        u32,
        u64,
        u128,
        i8,
        i16,
        String,
        char,
        bool,
        Gc<Node>,
    );
    exercise(
        "a 12-tuple",
        2,
        Inside::Edges,
        |v| -> Twelve {
            (
                v[0].clone(),
                1,
                2,
                3,
                4,
                5,
                6,
                7,
                "eight".into(),
                '9',
                true,
                v[1].clone(),
            )
        },
        |t| vec![t.0.clone(), t.11.clone()],
    );
    exercise(
        "a 9-tuple",
        1,
        Inside::Edges,
        |mut v| (1u8, 2u8, 3u8, 4u8, 5u8, 6u8, 7u8, 8u8, one(&mut v)),
        |t| vec![t.8.clone()],
    );
}

fn cows() {
    exercise(
        "Cow::Owned",
        3,
        Inside::Edges,
        Cow::<'static, [Gc<Node>]>::Owned,
        |c| c.to_vec(),
    );

    // A borrowed `&'static` slice: not the `Cow`'s, so not traced, rooted or unrooted (the
    // leaked handles keep their targets alive on their own).
    let leaked: &'static [Gc<Node>] = Box::leak(nodes(2).into_boxed_slice());
    let cell = Gc::new(GcCell::new(Cow::<'static, [Gc<Node>]>::Borrowed(leaked)));
    for _ in 0..2 {
        gc_core::collect();
        assert!(matches!(*cell.borrow(), Cow::Borrowed(_)));
        for g in leaked {
            assert_eq!(count(g).unwrap_or(1), 1, "a borrowed value adds no count");
        }
    }
    // `to_mut` switches to an owned copy (fresh counted handles) through the cell's write
    // guard; the next cycle makes them edges, and a cycle through them is freed.
    let extra = nodes(1).pop().unwrap();
    let extra_weak = Gc::downgrade(&extra);
    cell.borrow_mut().to_mut().push(extra);
    assert!(matches!(*cell.borrow(), Cow::Owned(_)));
    gc_core::collect();
    for g in leaked {
        assert_eq!(count(g).unwrap_or(1), 1, "the owned copies are edges");
    }
    let ids: Vec<u64> = cell.borrow().iter().map(|g| g.id).collect();
    assert_eq!(ids[..2], [leaked[0].id, leaked[1].id]);
    cell.borrow()[2]
        .back
        .set(Some(gc_core::coerce_gc!(cell.clone())));
    let cell_weak = Gc::downgrade(&cell);
    drop(cell);
    collect_until(|| cell_weak.upgrade().is_none() && extra_weak.upgrade().is_none());
    assert!(leaked.iter().all(|g| g.canary == common::mix(g.id)));

    assert!(!<Cow<'static, str>>::needs_trace());
    assert!(!<Cow<'static, [u8]>>::needs_trace());
    assert!(<Cow<'static, [Gc<Node>]>>::needs_trace());
}

/// A slot filled once, through `&self`, after its object is in the heap.
#[derive(Trace)]
struct Lazy {
    slot: OnceLock<Gc<Node>>,
}

fn once_locks() {
    exercise(
        "OnceLock",
        1,
        Inside::Roots,
        |mut v| OnceLock::from(one(&mut v)),
        |l| l.get().cloned().into_iter().collect(),
    );
    exercise("OnceLock<Vec<Gc>>", 3, Inside::Roots, OnceLock::from, |l| {
        l.get().unwrap().clone()
    });

    let lazy = Gc::new(Lazy {
        slot: OnceLock::new(),
    });
    let node = nodes(1).pop().unwrap();
    let (id, weak) = (node.id, Gc::downgrade(&node));
    assert!(lazy.slot.set(node).is_ok());
    for _ in 0..3 {
        drop(nodes(100));
        gc_core::collect();
        let inside = lazy.slot.get().unwrap();
        assert_eq!(inside.id, id);
        assert_eq!(
            count(inside).unwrap_or(1),
            1,
            "a value set through &self stays a root"
        );
    }
    drop(lazy);
    collect_until(|| weak.upgrade().is_none());
}

/// Every leaf type this crate covers, in one heap object.
#[derive(Trace)]
struct Plain {
    nonzero_u: (
        std::num::NonZeroU8,
        std::num::NonZeroU16,
        std::num::NonZeroU32,
        std::num::NonZeroU64,
        std::num::NonZeroU128,
        std::num::NonZeroUsize,
    ),
    nonzero_i: (
        std::num::NonZeroI8,
        std::num::NonZeroI16,
        std::num::NonZeroI32,
        std::num::NonZeroI64,
        std::num::NonZeroI128,
        std::num::NonZeroIsize,
    ),
    atomics: (
        std::sync::atomic::AtomicI8,
        std::sync::atomic::AtomicI16,
        std::sync::atomic::AtomicPtr<u64>,
    ),
    orderings: (std::cmp::Ordering, std::sync::atomic::Ordering),
    addrs: (
        std::net::IpAddr,
        std::net::Ipv4Addr,
        std::net::Ipv6Addr,
        std::net::SocketAddr,
        std::net::SocketAddrV4,
        std::net::SocketAddrV6,
    ),
    numbers: (
        Wrapping<u32>,
        Saturating<u8>,
        Reverse<u16>,
        std::num::FpCategory,
    ),
    ranges: (
        Range<u32>,
        RangeInclusive<char>,
        RangeFrom<u8>,
        std::ops::RangeFull,
        Bound<u64>,
    ),
    text: (
        Cow<'static, str>,
        OnceLock<String>,
        std::path::PathBuf,
        std::ffi::CString,
    ),
    hits: AtomicCell<u64>,
    pinned: std::marker::PhantomPinned,
}

fn plain() -> Plain {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
    let nz = |n: u64| std::num::NonZeroU64::new(n).unwrap();
    Plain {
        nonzero_u: (
            1.try_into().unwrap(),
            2.try_into().unwrap(),
            3.try_into().unwrap(),
            nz(4),
            5.try_into().unwrap(),
            6.try_into().unwrap(),
        ),
        nonzero_i: (
            (-1).try_into().unwrap(),
            (-2).try_into().unwrap(),
            (-3).try_into().unwrap(),
            (-4).try_into().unwrap(),
            (-5).try_into().unwrap(),
            (-6).try_into().unwrap(),
        ),
        atomics: (7.into(), 8.into(), std::ptr::null_mut::<u64>().into()),
        orderings: (
            std::cmp::Ordering::Less,
            std::sync::atomic::Ordering::SeqCst,
        ),
        addrs: (
            Ipv4Addr::LOCALHOST.into(),
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv6Addr::LOCALHOST,
            SocketAddr::from((Ipv4Addr::LOCALHOST, 80)),
            SocketAddrV4::new(Ipv4Addr::BROADCAST, 443),
            SocketAddrV6::new(Ipv6Addr::UNSPECIFIED, 8080, 0, 0),
        ),
        numbers: (
            Wrapping(u32::MAX),
            Saturating(250),
            Reverse(9),
            1.5f64.classify(),
        ),
        ranges: (1..5, 'a'..='z', 3.., .., Bound::Excluded(10)),
        text: (
            Cow::Borrowed("borrowed"),
            OnceLock::from("once".to_string()),
            "/tmp".into(),
            c"c string".into(),
        ),
        hits: AtomicCell::new(0),
        pinned: std::marker::PhantomPinned,
    }
}

fn leaves() {
    assert!(!Plain::needs_trace(), "a struct of leaves is noscan");
    assert!(!Plain::drop_runs_user_code(), "and drops in place");
    let p = Gc::new(plain());
    let counters: Vec<_> = (0..2)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || {
                for _ in 0..500 {
                    p.hits.fetch_add(1);
                    p.atomics
                        .0
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            })
        })
        .collect();
    for c in counters {
        c.join().unwrap();
    }
    for _ in 0..2 {
        drop(nodes(100));
        gc_core::collect();
    }
    assert_eq!(p.hits.load(), 1000);
    assert_eq!(
        p.atomics.0.load(std::sync::atomic::Ordering::Relaxed),
        7 + 1000i16 as i8
    );
    assert_eq!(
        p.nonzero_u.3.get() + p.nonzero_i.5.get().unsigned_abs() as u64,
        10
    );
    assert_eq!(p.addrs.3.port(), 80);
    assert_eq!(p.numbers.0 + Wrapping(1), Wrapping(0));
    assert_eq!(p.ranges.1.clone().count(), 26);
    assert_eq!(
        (&*p.text.0, p.text.1.get().unwrap().as_str()),
        ("borrowed", "once")
    );

    // Unsized leaves through `Box` (always scanned: a `Box<T>` cannot ask an unsized `T`).
    let boxed = Gc::new((
        Box::<str>::from("boxed str"),
        Box::<[u8]>::from(&b"bytes"[..]),
    ));
    gc_core::collect();
    assert_eq!((&*boxed.0, &*boxed.1), ("boxed str", &b"bytes"[..]));
    assert!(<Box<str>>::needs_trace() && !<Box<str>>::drop_runs_user_code());

    let noscan = [
        <(u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8, u8)>::needs_trace(),
        <AtomicCell<(u32, bool)>>::needs_trace(),
        <Range<u64>>::needs_trace(),
        <Bound<String>>::needs_trace(),
        <OnceLock<Vec<u8>>>::needs_trace(),
        <std::sync::atomic::AtomicPtr<Gc<Node>>>::needs_trace(),
        <std::num::NonZeroI128>::needs_trace(),
        <std::thread::ThreadId>::needs_trace(),
    ];
    assert_eq!(noscan, [false; 8]);
    assert!(<(
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        u8,
        Option<Gc<Node>>
    )>::needs_trace());
    assert!(<Reverse<Vec<Gc<Node>>>>::needs_trace());
}

#[test]
fn wrappers_forward_to_their_contents() {
    wrappers();
}

#[test]
fn boxed_slices_and_long_tuples() {
    boxes_and_tuples();
}

#[test]
fn cow_traces_only_its_owned_variant() {
    cows();
}

#[test]
fn once_lock_contents_stay_roots() {
    once_locks();
}

#[test]
fn leaves_work_in_heap_objects_and_are_noscan() {
    leaves();
}

#[test]
fn child_every_case() {
    if !is_child() {
        return;
    }
    wrappers();
    boxes_and_tuples();
    cows();
    once_locks();
    leaves();
    println!("PROBE_OK");
}

#[test]
fn every_case_under_gccheckmark_and_clobberfree() {
    for godebug in ["gccheckmark=1", "clobberfree=1"] {
        run("child_every_case", &[("GODEBUG", godebug.as_bytes())], &[]).assert_ok(godebug);
    }
}
