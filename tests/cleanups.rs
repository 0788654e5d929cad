//! Cleanups (`Gc::add_cleanup`, Go's `runtime.AddCleanup`): each runs exactly once, only
//! after its object became unreachable, never after `stop`, outside the collector (so it may
//! allocate and call `collect`), and a panicking one does not stop the others.

mod common;

use common::collect_until;

use gc_core::{Gc, GcCell, Trace};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

#[derive(Trace)]
struct Resource {
    fd: i32,
    name: String,
    next: GcCell<Option<Gc<Resource>>>,
}

fn resource(fd: i32) -> Gc<Resource> {
    Gc::new(Resource {
        fd,
        name: format!("fd {fd}"),
        next: GcCell::new(None),
    })
}

#[test]
fn runs_once_after_the_object_is_unreachable_and_never_before() {
    let closed = Arc::new(Mutex::new(Vec::new()));
    let r = resource(3);
    let log = closed.clone();
    Gc::add_cleanup(&r, r.fd, move |fd| log.lock().unwrap().push(fd));
    for _ in 0..3 {
        gc_core::collect();
    }
    assert!(closed.lock().unwrap().is_empty(), "ran while reachable");
    assert_eq!(r.name, "fd 3");
    drop(r);
    collect_until(|| !closed.lock().unwrap().is_empty());
    for _ in 0..3 {
        gc_core::collect();
    }
    assert_eq!(*closed.lock().unwrap(), vec![3], "exactly once");
}

#[test]
fn a_cycle_runs_both_cleanups() {
    let ran = Arc::new(AtomicUsize::new(0));
    let (a, b) = (resource(10), resource(11));
    *a.next.borrow_mut() = Some(b.clone());
    *b.next.borrow_mut() = Some(a.clone());
    for g in [&a, &b] {
        let ran = ran.clone();
        Gc::add_cleanup(g, (), move |()| {
            ran.fetch_add(1, Ordering::SeqCst);
        });
    }
    drop(a);
    gc_core::collect();
    assert_eq!(
        ran.load(Ordering::SeqCst),
        0,
        "the cycle is still held by b"
    );
    drop(b);
    collect_until(|| ran.load(Ordering::SeqCst) == 2);
    assert_eq!(ran.load(Ordering::SeqCst), 2);
}

#[test]
fn stop_cancels() {
    let ran = Arc::new(AtomicUsize::new(0));
    let r = resource(4);
    let c = {
        let ran = ran.clone();
        Gc::add_cleanup(&r, (), move |()| {
            ran.fetch_add(1, Ordering::SeqCst);
        })
    };
    let kept = {
        let ran = ran.clone();
        Gc::add_cleanup(&r, (), move |()| {
            ran.fetch_add(100, Ordering::SeqCst);
        })
    };
    assert!(c.stop());
    assert!(!c.stop(), "a second stop finds nothing");
    drop(r);
    collect_until(|| ran.load(Ordering::SeqCst) != 0);
    assert_eq!(
        ran.load(Ordering::SeqCst),
        100,
        "only the other cleanup ran"
    );
    assert!(!kept.stop(), "a cleanup that ran cannot be stopped");
}

#[test]
fn a_cleanup_may_allocate_and_collect() {
    let (tx, rx) = mpsc::channel();
    let r = resource(5);
    Gc::add_cleanup(&r, tx, |tx| {
        let fresh = resource(6);
        gc_core::collect();
        tx.send(fresh.name.clone()).unwrap();
    });
    drop(r);
    gc_core::collect();
    let got = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the cleanup ran (a hang detector, not a speed limit)");
    assert_eq!(got, "fd 6");
}

#[test]
fn a_panicking_cleanup_does_not_stop_the_others() {
    let ran = Arc::new(AtomicUsize::new(0));
    let r = resource(7);
    Gc::add_cleanup(&r, (), |()| panic!("cleanup panics on purpose"));
    let counter = ran.clone();
    Gc::add_cleanup(&r, (), move |()| {
        counter.fetch_add(1, Ordering::SeqCst);
    });
    drop(r);
    collect_until(|| ran.load(Ordering::SeqCst) == 1);
    assert_eq!(ran.load(Ordering::SeqCst), 1);
    gc_core::collect();
}

#[test]
#[should_panic(expected = "the argument is a handle to the object itself")]
fn the_object_itself_as_the_argument_is_refused() {
    let r = resource(8);
    Gc::add_cleanup(&r, r.clone(), |_| {});
}
