//! The marker's one-entry span cache: the span of the last object a tracer looked up.
//!
//! Every edge the marker follows needs the span of the object it points to (for the mark
//! bit), and every object it scans needs its own (for the type): `locate` walks the arena
//! table for each, three dependent loads. Objects are mostly found near the last one (a
//! node's children allocated with it, a span's objects scanned in turn), so a tracer first
//! compares the address with the slots of the span it found last: binary-trees 18 spent
//! 9-13% less mark CPU with it, the 256 MiB latency probe 0-5% (BENCHMARKS.md, "Issue 15,
//! tenth session").
//!
//! Invariant: no span is freed, or cut again for other pages, while marking (every span
//! was swept before mark setup; sweeping resumes only after mark termination), and a
//! marking tracer lives within one mark phase (one worker assignment, one assist, one
//! ephemeron round). So a span looked up during the tracer's life still describes the
//! same slots until the tracer is dropped. Plain memory of the tracer's thread. Collector
//! overview: `crate::design::collector`, "Concurrent mark".

use crate::alloc::span::{locate, Span, SpanPtr};

/// The slots `[base, base + len)` of the span last looked up.
pub(crate) struct SpanCache {
    base: usize,
    len: usize,
    span: *const Span,
}

impl Default for SpanCache {
    fn default() -> SpanCache {
        // `len` 0: no address is in the cache.
        SpanCache {
            base: 0,
            len: 0,
            span: std::ptr::null(),
        }
    }
}

impl SpanCache {
    /// The span of the heap object containing `addr`, which must be live for the mark.
    #[inline(always)]
    pub(crate) fn span_of(&mut self, addr: usize) -> SpanPtr {
        if addr.wrapping_sub(self.base) < self.len {
            // SAFETY: `span` was found by `locate` for an address in these slots during
            // this mark, and no span is freed or re-cut while marking (module header).
            return unsafe { SpanPtr::from_raw(self.span) };
        }
        let (s, _) = locate(addr);
        self.base = s.base;
        self.len = s.limit() - s.base;
        self.span = s.as_ptr();
        s
    }
}
