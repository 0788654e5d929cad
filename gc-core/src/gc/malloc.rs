//! The allocation path (Go's `mallocgc`): one function that takes a new object through
//! every step, in order. `Gc::new` and the slice constructors call it (through
//! `crate::gc::mallocgc`) inside a GC operation, and nothing else of the allocator.
//!
//! 1. **Size class**: the caller's [`Placement`], chosen at compile time for a sized type
//!    (`alloc::sizeclass::placement`: tiny, a span class with its noscan bit, or large).
//! 2. **Cache fast path**: the next free slot of the thread's cached span (`ctz` of its
//!    `alloc_cache`), or room in the tiny block (`MCache::alloc_small`, `alloc_tiny`).
//! 3. **Refill**: the cached span is full: another from the central list, swept by this
//!    thread if needed, or a fresh one from the page heap (`MCache::alloc_small_slow`).
//! 4. **Large objects** take their own span, after Go's page reclaimer sweeps about as
//!    many pages as they need (`sweep::reclaim`, `cache::alloc_large`).
//! 5. **The value** is written (`init`) while no marker can see the slot.
//! 6. **Allocate-black and publication**: the slot's type is recorded, the object is marked
//!    if a mark is running (invariant I1) unless it is a small object allocated young and
//!    white before the mark's young scan (`young.rs`), and its first root count is
//!    published, which is what makes it visible to the collector (`roots.rs`).
//! 7. **Assist charge**: bytes a refill or large span added to `heap_live` while marking
//!    are charged to the thread's mark assist (`assist.rs`), after the thread's own
//!    shade buffer is handed to the workers (`shade.rs`).
//! 8. **Trigger check**: past the pacer's trigger (or after the heap grew), the thread asks
//!    for a cycle, started when its operation ends (`world::with_op`, `cycle::triggered`).
//!    The heap here includes the external memory (`alloc/external.rs`), whose growth past
//!    the trigger the counting allocator flags for the next allocation to see.
//!
//! Steps 7 and 8 run only after a slow path (the slot's `charged` bytes), like Go's. Under
//! `GODEBUG=stalltrace=1` the slow paths of steps 2-4, step 5 after them, and step 7 are
//! timed (`stalls.rs`); the fast path is not. No shared state of its own. See the
//! collector overview (`crate::design::collector`).

use super::stalls::{self, Cause};
use super::world::Op;
use super::{assist, roots, sweep};
use crate::alloc::cache::{alloc_large, Slot};
use crate::alloc::external;
use crate::alloc::heap::HEAP;
use crate::alloc::sizeclass::Placement;
use crate::alloc::{clobber, PAGE_SIZE};
use crate::descriptor::TypeInfo;
use crate::sync::Ordering;

/// What to allocate: everything `mallocgc` needs to know about the new object.
#[derive(Clone, Copy)]
pub(crate) struct Request {
    /// Step 1's choice, for `size`, `align` and `noscan`.
    pub placement: Placement,
    /// Bytes the object occupies.
    pub size: usize,
    /// Its alignment (at most a page).
    pub align: usize,
    /// No `Gc` inside: a span the marker never scans.
    pub noscan: bool,
    /// The descriptor recorded for the slot.
    pub info: &'static TypeInfo,
}

/// A new object, published with one root count that the caller now owns.
pub(crate) struct New {
    /// Its address.
    pub addr: usize,
    /// Whether it is young and white (`young.rs`): the caller makes the handles of its
    /// value edges (inside the allocating operation) with [`roots::unroot_new`].
    pub white: bool,
    /// Whether its memory may hold old bytes (false only for a large object on fresh or
    /// released pages, which come zero-filled; `clobberfree` poisons those too).
    pub needzero: bool,
}

/// Allocates an object as `req` describes, initialises it with `init(addr)`, and publishes
/// it (module header, steps 1-8).
///
/// # Safety
///
/// `req.placement` was computed by `sizeclass::placement` for `req.size`, `req.align` and
/// `req.noscan`; `init` initialises the object as far as `req.info` reads it (its trace
/// function; its drop function once unreachable), or writes nothing `info` reads.
#[inline(always)]
pub(crate) unsafe fn mallocgc(op: &mut Op<'_>, req: &Request, init: impl FnOnce(usize)) -> New {
    // Steps 2-4.
    let slot = match req.placement {
        Placement::Tiny => op.cache().alloc_tiny(req.size, req.align),
        Placement::Small(sc) => op.cache().alloc_small(sc),
        Placement::Large => large(req),
    };
    if clobber::on() {
        check_clobbered(req, &slot);
    }
    // Step 5. After a slow path the slot is in a fresh span, maybe on pages the OS has not
    // backed yet: time the faults too.
    let t0 = if slot.charged != 0 {
        refilled(&slot)
    } else {
        None
    };
    init(slot.addr);
    if t0.is_some() {
        stalls::end(t0, Cause::Init, None);
    }
    // Step 6. A tiny block's type was recorded when the block was cut (its span may belong
    // to another cache by now); everything else records it here.
    if !matches!(req.placement, Placement::Tiny) {
        // SAFETY: the slot is this operation's new object, in a span this thread owns
        // (its cache's, or a large span no one else knows yet).
        unsafe { slot.span.set_type(slot.idx, req.info) };
    }
    // The first root: pending in this thread's root cache if it has one (a tiny object's
    // count goes to its block's counter when it is applied), else on the counter, below.
    let cached = roots::cache_new_root(slot.addr);
    // While marking: black before the root count is published (the only way a marker can
    // find the slot), so the marker never queues it; or, before the mark's young scan, a
    // small object with a pending root is young and white (`young.rs`).
    let white = roots::marking() && roots::colour_new(op.cache(), &slot, &req.placement, cached);
    if !cached {
        if let Placement::Tiny = req.placement {
            // Other objects in the same tiny block may be rooted concurrently.
            roots::add_new_root(&slot.span, slot.idx);
        } else {
            // A free slot's counter is zero and no one else knows the slot yet.
            roots::set_new_root(&slot.span, slot.idx);
        }
    }
    // Steps 7-8 (also when the external memory grew past the trigger, which only the
    // counting allocator sees).
    if slot.charged != 0 || external::due() {
        charged(op, slot.charged);
    }
    New {
        addr: slot.addr,
        white,
        needzero: match req.placement {
            Placement::Large => slot.span.needzero || clobber::on(),
            _ => true,
        },
    }
}

/// Under `stalltrace`, after a slow path: records the refill's time and starts timing the
/// value's first write (`None` when the tracer is off).
#[cold]
#[inline(never)]
fn refilled(slot: &Slot) -> Option<crate::alloc::os::Stopwatch> {
    if !stalls::on() {
        return None;
    }
    stalls::record_ns(Cause::Alloc, slot.slow.wall_ns(), slot.slow.cpu_ns());
    stalls::start()
}

/// Step 4: a large object's page reclaim and span (timed under `stalltrace`).
#[cold]
#[inline(never)]
fn large(req: &Request) -> Slot {
    let t0 = stalls::start();
    sweep::reclaim(req.size.div_ceil(PAGE_SIZE));
    let slot = alloc_large(req.size, req.noscan);
    stalls::end(t0, Cause::Large, None);
    slot
}

/// Steps 7 and 8 for an allocation that added `bytes` to `heap_live`.
#[cold]
#[inline(never)]
fn charged(op: &mut Op<'_>, bytes: u64) {
    if roots::MARKING.load(Ordering::Relaxed) {
        // The thread's own grey objects go where the workers (and this thread's assist)
        // can take them, about once per span it allocates (`shade.rs`).
        super::world::with_root_cache(|rc| rc.shades.flush());
        let t0 = stalls::start();
        let scanning = assist::charge(op, bytes);
        stalls::end(t0, Cause::Assist, Some(scanning));
    }
    if HEAP.live_total() >= HEAP.trigger.load(Ordering::Relaxed)
        || HEAP.grew.load(Ordering::Relaxed)
    {
        op.want_gc();
    }
}

/// `GODEBUG=clobberfree=1`: nothing wrote to the slot while it was free.
#[cold]
fn check_clobbered(req: &Request, slot: &Slot) {
    let len = match req.placement {
        Placement::Tiny | Placement::Large => req.size,
        Placement::Small(_) => slot.span.elemsize,
    };
    // SAFETY: the slot was free until this allocation took it, and is `len` bytes long.
    unsafe { clobber::check_free(slot.addr, len) };
}
