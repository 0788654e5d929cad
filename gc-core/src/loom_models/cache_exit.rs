//! Thread-cache flush at thread exit vs the collector's stopped-world flush: a thread that
//! cached a span and allocated black exits (its exit guard flushes its cache and leaves the
//! registry) while the collector stops GC operations and flushes every registered cache
//! (mark termination). Checks that the span goes back to its central list exactly once,
//! that the thread's black-allocation bytes are counted exactly once, and (loom) that the
//! two flushes never touch the cache concurrently.

use super::fixture::{ModelSpan, Probe};
use super::model;
use super::thread;
use crate::alloc::heap::HEAP;
use crate::gc::world;
use crate::sync::Ordering;

#[test]
fn loom_cache_flush_at_exit_vs_stop() {
    model(|| {
        let sg = HEAP.sweepgen();
        let span = ModelSpan::new::<Probe>(sg);
        let s = span.ptr();
        HEAP.heap_live.store(1 << 20, Ordering::Relaxed);
        let t = thread::spawn(move || {
            world::with_op(|op| {
                // A refill gave this thread's cache the span (Go's `cacheSpan`).
                s.sweepgen.store(sg + 3, Ordering::Release);
                let cache = op.cache();
                cache.spans[s.spanclass.index()] = Some(s);
                cache.black_bytes += 16;
            });
            // Thread exit: the exit guard flushes the cache.
        });
        {
            let stopped = world::stop();
            stopped.flush_all_caches();
        }
        t.join().unwrap();
        super::wait_for_thread_exits();

        assert_eq!(HEAP.allocated_black.load(Ordering::Relaxed), 16);
        assert_eq!(s.sweepgen.load(Ordering::Acquire), sg);
        assert_eq!(
            HEAP.centrals[s.spanclass.index()].swept_len(sg),
            1,
            "the cached span was lost or returned twice"
        );
    });
}
