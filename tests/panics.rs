//! A panic inside a GC operation (here: a hand-written `Trace::unroot`) unwinds out of the
//! operation, so later collections do not wait for it for ever.

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
