//! The mark-setup handshake vs a mutator allocating inside a GC operation: the collector
//! stops GC operations, resets every thread cache's assist credit, sets `MARKING`, resumes,
//! and scans roots and drains; the mutator allocates an object (allocate-black while
//! marking), initialises it and publishes its first root, all inside one operation.
//! Checks that `MARKING` never changes inside an operation, that the collector touches a
//! thread's cache only while that thread is outside operations (loom checks the cache's
//! `UnsafeCell`), that a marker never reads a half-built object (its payload is a loom
//! `UnsafeCell`, so an unordered read is reported), and that the new object ends marked.

use super::fixture::{drain_all, ModelSpan, Pad};
use super::model;
use super::thread;
use crate::alloc::heap::HEAP;
use crate::gc::mark::{self, Tracer};
use crate::gc::roots::{self, MARKING};
use crate::gc::{cycle, phase::Phase, world};
use crate::sync::{Arc, AtomicUsize, Ordering, UnsafeCell};
use crate::Trace;

/// An object whose payload is written after allocation, as a constructor's would be.
struct Built {
    payload: UnsafeCell<u64>,
    traces: Arc<AtomicUsize>,
    _pad: Pad,
}

// SAFETY: holds no `Gc`; `needs_trace` makes its span scannable.
unsafe impl Trace for Built {
    fn needs_trace() -> bool {
        true
    }
    fn trace(&self, _: &mut Tracer) {
        // SAFETY: a read; loom reports it if it races the constructor's write.
        let v = self.payload.with(|p| unsafe { *p });
        assert_eq!(v, 42, "the marker read a half-built object");
        self.traces.fetch_add(1, Ordering::SeqCst);
    }
    unsafe fn root(&mut self) {}
    unsafe fn unroot(&mut self) {}
}

#[test]
fn loom_mark_setup_vs_allocation() {
    model(|| {
        let span = std::sync::Arc::new(ModelSpan::new::<Built>(HEAP.sweepgen()));
        let traces = Arc::new(AtomicUsize::new(0));
        let mutator = thread::spawn({
            let span = span.clone();
            let traces = traces.clone();
            move || {
                world::with_op(|op| {
                    let marking = MARKING.load(Ordering::Relaxed);
                    // The mutator's cache owns the span.
                    let (idx, addr) = span.alloc(Built {
                        payload: UnsafeCell::new(0),
                        traces,
                        _pad: [0; 1000],
                    });
                    // SAFETY: the object is ours until its root is published below.
                    let obj = unsafe { span.get::<Built>(addr) };
                    // SAFETY: as above: no one else can reach the object yet.
                    obj.payload.with_mut(|p| unsafe { *p = 42 });
                    if roots::marking() {
                        roots::allocate_black(op.cache(), &span, idx);
                    }
                    roots::set_new_root(&span, idx);
                    assert_eq!(
                        marking,
                        MARKING.load(Ordering::Relaxed),
                        "MARKING changed inside a GC operation"
                    );
                    idx
                })
            }
        });

        cycle::set_phase(Phase::Mark);
        {
            let stopped = world::stop();
            stopped.reset_assist_credit();
            mark::start();
        }
        mark::queue_root_jobs(&[span.ptr()]);
        drain_all();

        let idx = mutator.join().unwrap();
        assert!(span.is_marked(idx), "a new object was left white");
        assert!(traces.load(Ordering::SeqCst) <= 1);
    });
}
