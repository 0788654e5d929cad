//! `Arc` parity: `From<T>`, `.into()`, `Default`, `From<Box<T>>`, `into_raw`/`from_raw`
//! (the root count travels with the raw pointer) and `{:p}`.

mod common;

use gc_core::{Gc, GcCell, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::Counted;

#[derive(Trace)]
struct Node {
    next: GcCell<Option<Gc<Node>>>,
    value: u64,
    #[trace(skip)]
    _c: Option<Counted>,
}

fn node(value: u64) -> Node {
    Node {
        next: GcCell::new(None),
        value,
        _c: None,
    }
}

#[test]
fn from_and_into_allocate_like_new() {
    let a: Gc<Node> = Gc::from(node(1));
    let b: Gc<Node> = node(2).into();
    *a.next.borrow_mut() = Some(b.clone());
    gc_core::collect();
    assert_eq!(a.next.borrow().as_ref().unwrap().value, 2);
    assert_eq!((a.value, b.value), (1, 2));
    // The slice and string conversions still pick their own impls.
    let s: Gc<str> = Gc::from("text");
    let v: Gc<[u64]> = Gc::from(vec![1, 2]);
    let bs: Gc<[u8]> = Gc::from(vec![1u8].into_boxed_slice());
    assert_eq!((&*s, &*v, &*bs), ("text", &[1u64, 2][..], &[1u8][..]));
}

#[test]
fn default_and_from_box() {
    let d: Gc<Vec<u8>> = Gc::default();
    assert!(d.is_empty());
    let n: Gc<u64> = Default::default();
    assert_eq!(*n, 0);
    let empty: Gc<str> = Gc::default();
    assert_eq!(&*empty, "");
    let b: Gc<Node> = Gc::from(Box::new(node(9)));
    gc_core::collect();
    assert_eq!(b.value, 9);
}

#[test]
fn a_raw_pointer_alone_keeps_the_object_alive() {
    let drops = Arc::new(AtomicUsize::new(0));
    let g = Gc::new(Node {
        next: GcCell::new(Some(Gc::new(node(7)))),
        value: 3,
        _c: Some(Counted(drops.clone())),
    });
    let addr = Gc::as_ptr(&g);
    let raw: *const Node = Gc::into_raw(g);
    assert_eq!(raw, addr);
    // Only the raw pointer refers to the object now; churn so a freed slot would be reused.
    for _ in 0..3 {
        gc_core::collect();
        for i in 0..10_000 {
            drop(Gc::new(node(i)));
        }
    }
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "freed while a raw pointer held it"
    );
    // SAFETY: the object is alive (its root count travels with `raw`).
    assert_eq!(unsafe { (*raw).value }, 3);
    // SAFETY: `raw` came from `Gc::into_raw` and is given back once.
    let g = unsafe { Gc::from_raw(raw) };
    assert_eq!(g.value, 3);
    assert_eq!(
        g.next.borrow().as_ref().unwrap().value,
        7,
        "its edges were traced"
    );
    drop(g);
    gc_core::collect();
    assert_eq!(
        drops.load(Ordering::SeqCst),
        1,
        "from_raw's handle released the count"
    );
}

#[test]
fn raw_round_trip_of_an_unsized_handle() {
    let s: Gc<str> = Gc::from("unsized");
    let raw: *const str = Gc::into_raw(s);
    gc_core::collect();
    // SAFETY: from `Gc::<str>::into_raw`, given back once.
    let s = unsafe { Gc::from_raw(raw) };
    assert_eq!(&*s, "unsized");
}

#[test]
fn pointer_formatting_is_the_object_address() {
    let g = Gc::new(node(5));
    assert_eq!(format!("{g:p}"), format!("{:p}", Gc::as_ptr(&g)));
    let h = g.clone();
    assert_eq!(format!("{h:p}"), format!("{g:p}"));
    let s: Gc<str> = Gc::from("p");
    assert_eq!(format!("{s:p}"), format!("{:p}", Gc::as_ptr(&s)));
}

#[test]
fn boxed_slices_strings_and_zero_sized_values_move_in() {
    let drops = Arc::new(AtomicUsize::new(0));
    let target = Gc::new(node(5));
    let handles: Box<[Gc<Node>]> = vec![target.clone(), target.clone()].into_boxed_slice();
    let s: Gc<[Gc<Node>]> = Gc::from(handles);
    // The two handles moved into the heap became edges of the slice object.
    #[cfg(debug_assertions)]
    assert_eq!(gc_core::__private::root_count_for_test(&target), 1);
    drop(target);
    gc_core::collect();
    assert_eq!((s.len(), s[0].value, s[1].value), (2, 5, 5));
    let counted: Box<[Node]> = vec![Node {
        _c: Some(Counted(drops.clone())),
        ..node(1)
    }]
    .into_boxed_slice();
    let c: Gc<[Node]> = Gc::from(counted);
    let t: Gc<str> = Gc::from(Box::<str>::from("boxed"));
    let empty: Gc<[u8]> = Gc::from(Vec::<u8>::new().into_boxed_slice());
    let unit: Gc<()> = Gc::from(Box::new(()));
    gc_core::collect();
    assert_eq!((&*t, empty.len(), *unit, c[0].value), ("boxed", 0, (), 1));
    assert_eq!(drops.load(Ordering::SeqCst), 0);
    drop(c);
    gc_core::collect();
    assert_eq!(drops.load(Ordering::SeqCst), 1, "elements dropped once");
}
