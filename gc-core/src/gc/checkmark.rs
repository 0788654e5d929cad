//! `GODEBUG=gccheckmark=1`: after each mark, with GC operations stopped and before
//! anything is swept, re-mark everything reachable from the roots into a separate bitmap
//! (the *checkmarks*) and abort with a report if the concurrent mark missed an object: one
//! the walk reaches that has no mark bit. Go's `gccheckmark` does the same with the world
//! stopped (as it behaved before Go 1.23).
//!
//! The walk runs on the collector's thread, depth first, with a [`Tracer`] in checking mode
//! (its edges go to [`Checker::edge`] instead of the mark queues). Mutators that allocate
//! are held (allocation is a GC operation), but threads may still move handles between
//! objects they can reach. That cannot produce a false report: every object reachable at
//! any moment after mark termination was reachable at termination or reached from such an
//! object, so it is marked if the mark was right; it only means the walk may miss objects
//! moved meanwhile. Checkmarks live in a map from span to bit vector, built for the walk
//! and dropped after it: nothing is added to spans for a debug mode. See the collector
//! overview
//! (`crate::design::collector`).

use super::mark::Tracer;
use super::roots::locate;
use crate::alloc::heap::HEAP;
use std::collections::HashMap;

/// Who pointed at the object being checked.
#[derive(Clone, Copy)]
enum Referrer {
    Root,
    Object(usize),
}

/// The walk's state, owned by the checking [`Tracer`].
#[derive(Default)]
pub(crate) struct Checker {
    /// Span base -> one bit per slot.
    bits: HashMap<usize, Box<[u64]>>,
    /// Reached objects still to scan.
    stack: Vec<usize>,
    referrer: Option<Referrer>,
    /// Objects reached.
    reached: u64,
}

impl Checker {
    /// The edge to `addr`, reported by the object being scanned (or a root).
    pub(crate) fn edge(&mut self, addr: usize) {
        let (s, idx) = locate(addr);
        let bits = self
            .bits
            .entry(s.base)
            .or_insert_with(|| vec![0; s.nelems.div_ceil(64)].into_boxed_slice());
        let (w, b) = (idx / 64, 1u64 << (idx % 64));
        if bits[w] & b != 0 {
            return;
        }
        bits[w] |= b;
        self.reached += 1;
        if !s.is_marked(idx) {
            missed(s.slot_addr(idx), self.referrer.unwrap_or(Referrer::Root));
        }
        if !s.spanclass.noscan() {
            self.stack.push(s.slot_addr(idx));
        }
    }
}

/// Re-marks from the roots and aborts if the mark missed a reachable object. Returns the
/// number of objects reached. The caller holds GC operations stopped, after a successful
/// `mark::try_finish` and before the caches are flushed and anything is swept.
pub(crate) fn verify() -> u64 {
    let mut tracer = Tracer::checking(Checker::default());
    // SAFETY: GC operations are stopped and nothing is swept during the walk, so no span
    // is freed (the caller's contract).
    unsafe {
        HEAP.for_each_span_chunked(|spans| {
            for s in spans {
                tracer.checker().referrer = Some(Referrer::Root);
                s.for_each_root(|idx| tracer.edge(s.slot_addr(idx)));
                drain(&mut tracer);
            }
        })
    };
    tracer.checker().reached
}

/// Scans everything reached so far, depth first.
fn drain(tracer: &mut Tracer) {
    while let Some(addr) = tracer.checker().stack.pop() {
        tracer.checker().referrer = Some(Referrer::Object(addr));
        let (s, idx) = locate(addr);
        // SAFETY: `addr` is a marked (checked above), allocated object: its type was
        // recorded before its allocation ended, and nothing is swept during the walk.
        let ty = unsafe { s.type_of(idx) };
        // SAFETY: `ty` is the descriptor recorded for this very object.
        unsafe { (ty.trace)(addr as *const u8, tracer) };
    }
}

/// Describes the object at `addr`: its type and size class.
fn describe(addr: usize) -> String {
    let (s, idx) = locate(addr);
    // SAFETY: the object is allocated (it was reached, or is scanning); types are statics.
    let ty = unsafe { s.type_of(idx) };
    format!(
        "object {addr:#x} of type `{}` ({} bytes, span {:#x})",
        (ty.name)(),
        s.elemsize,
        s.base
    )
}

#[cold]
fn missed(addr: usize, by: Referrer) -> ! {
    let referrer = match by {
        Referrer::Root => "a root (a Gc handle outside the heap)".to_string(),
        Referrer::Object(from) => describe(from),
    };
    crate::fatal(&format!(
        "gccheckmark: the mark missed a reachable object: {}, referenced by {referrer}. \
         It would have been freed while reachable: a barrier or root scan is broken.",
        describe(addr)
    ))
}
