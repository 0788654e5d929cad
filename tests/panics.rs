//! A panic inside a GC operation (here: a hand-written `Trace::unroot`, of a value or of a
//! slice's elements) unwinds out of the operation, so later collections do not wait for it
//! for ever, and leaves nothing the sweep cannot read. A panic inside a `Trace`
//! while marking is a fatal error instead: that case runs in a child process
//! (`tests/common/child.rs`).

mod common;

use common::child::{is_child, run};
use gc_core::{Gc, Trace, Tracer};

struct Explodes;

// SAFETY: holds no Gc; `unroot` panicking is what the test is about.
unsafe impl Trace for Explodes {
    fn trace(&self, _: &mut Tracer) {}
    unsafe fn root(&mut self) {}
    unsafe fn unroot(&mut self) {
        panic!("unroot exploded");
    }
}

#[test]
fn panic_inside_an_operation_does_not_wedge_the_collector() {
    let r = std::thread::spawn(|| Gc::new(Explodes)).join();
    assert!(r.is_err(), "the panic reached the caller");
    let r = std::panic::catch_unwind(|| Gc::new(Explodes));
    assert!(r.is_err());
    // Both threads (the dead one and this one) must be out of their operations.
    let before = gc_core::mem_stats().num_gc;
    gc_core::collect();
    let kept = Gc::new(5u64);
    gc_core::collect();
    assert_eq!(*kept, 5);
    assert_eq!(gc_core::mem_stats().num_gc, before + 2);
}

/// Panics when traced.
struct BadTrace(#[allow(dead_code)] Option<Gc<u64>>);

// SAFETY: deliberately broken `trace` (it panics); root/unroot are correct.
unsafe impl Trace for BadTrace {
    fn trace(&self, _: &mut Tracer) {
        panic!("broken trace impl");
    }
    unsafe fn root(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.0.root() }
    }
    unsafe fn unroot(&mut self) {
        // SAFETY: forwarded.
        unsafe { self.0.unroot() }
    }
}

#[test]
fn child_marks_a_panicking_trace() {
    if !is_child() {
        return;
    }
    let _root = Gc::new(BadTrace(Some(Gc::new(1))));
    gc_core::collect();
    println!("UNREACHABLE: collect returned");
}

#[test]
fn a_panic_while_marking_is_a_clear_fatal_error() {
    if is_child() {
        return;
    }
    let out = run("child_marks_a_panicking_trace", &[], &[]);
    let stderr = &out.stderr;
    assert!(!out.status.success(), "the child must abort");
    assert!(
        stderr.contains("fatal error: gc_core: a Trace implementation panicked while marking: broken trace impl"),
        "{stderr}"
    );
    assert!(!out.stdout.contains("UNREACHABLE"));
}

#[test]
fn child_slice_unroot_panics() {
    if !is_child() {
        return;
    }
    // The elements' unroot runs after the object is published (its type recorded), so
    // the panic leaks a whole object rather than leaving a slot the sweep cannot read.
    let r = std::panic::catch_unwind(|| Gc::<[Explodes]>::from(vec![Explodes, Explodes]));
    assert!(r.is_err(), "the panic reached the caller");
    for _ in 0..3 {
        gc_core::collect();
    }
    let kept = Gc::new(7u64);
    gc_core::collect();
    assert_eq!(*kept, 7);
    println!("PROBE_OK");
}

/// In a child process of its own: it leaks an object on purpose, and its collections must
/// not run beside the cycle count above.
#[test]
fn panic_in_a_slice_elements_unroot_leaves_a_sweepable_heap() {
    if is_child() {
        return;
    }
    run("child_slice_unroot_panics", &[], &[]).assert_succeeded("slice unroot panics");
}
