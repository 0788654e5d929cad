//! The global heap: the page heap, the central lists, the in-use spans, the spare span
//! metadata blocks, the allocation counters the pacer and `mem_stats` read, and the
//! metadata figure the layers above add their own bookkeeping to (`note_metadata`).
//!
//! There is one heap per process, like Go's `mheap_`, because the public API
//! (`gc_core::collect()`, `Gc::new`) is global. The in-use spans are found by walking the
//! arena table's pages (`Pages::spans_from`), so making or freeing a span adds or removes
//! no registry entry (a registry `BTreeMap`'s updates and node allocations in the heap lock
//! had been a quarter of `new_span`'s time). Synchronisation: `pages` (the heap lock)
//! protects the page heap and the arena table's page slots; `spares` has its own lock,
//! taken inside the heap lock or alone, never around it; each central list has its own
//! lock; counters are atomics. These locks are held for microseconds and taken
//! `lock_spinning` (a thread that finds one held waits for it rather than sleeping). See
//! the allocator overview (`crate::design::allocator`).

use super::central::Central;
use super::pageheap::{release_taken, PageHeap};
use super::sizeclass::{SpanClass, NUM_SIZE_CLASSES, NUM_SPAN_CLASSES};
use super::span::{meta_bytes, OwnedSpan, Shape, SpanPtr, SpareBlocks};
use super::{arena, PAGE_SIZE};
use crate::sync::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Mutex, MutexGuard, Ordering};

/// `trigger` and `goal` before the pacer publishes its own (Go's first goal, 4 MiB).
const INITIAL_GOAL: u64 = 4 << 20;

crate::sync::global! {
    /// Bytes of metadata the layers above keep for the heap (the collector's grey
    /// buffers), reported through [`note_metadata`].
    static OTHER_METADATA: AtomicUsize = AtomicUsize::new(0);
}

/// Adds `bytes` (removes, if `freed`) to the runtime's metadata figure: for memory an upper
/// layer allocates on the heap's behalf, so that `sys` and the memory limit see it.
pub(crate) fn note_metadata(bytes: usize, freed: bool) {
    if freed {
        OTHER_METADATA.fetch_sub(bytes, Ordering::Relaxed);
    } else {
        OTHER_METADATA.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// See [`Heap::memory`].
pub(crate) struct HeapMemory {
    pub(crate) sys: u64,
    pub(crate) inuse: u64,
    /// Free bytes given back to the OS (part of `sys - inuse`).
    pub(crate) released: u64,
    pub(crate) metadata: u64,
}

/// Pages and the in-use spans, under the heap lock.
pub(crate) struct Pages {
    pub(crate) heap: PageHeap,
    /// In-use spans (the spans themselves are found through the arena table:
    /// [`Pages::spans_from`]).
    pub(crate) span_count: usize,
    /// Bytes of the in-use spans' metadata blocks (`span/block.rs`).
    pub(crate) span_meta_bytes: usize,
}

impl Pages {
    /// Visits the in-use spans from address `from` on, in address order, calling `f` on
    /// each until it returns `false`; then returns the address to resume from (`None` when
    /// every span was visited). A walk of the arena table's pages, reservation by
    /// reservation: the lock held by `&self` keeps every span found in use.
    pub(crate) fn spans_from(&self, from: usize, f: impl FnMut(SpanPtr) -> bool) -> Option<usize> {
        // SAFETY: the heap lock held by `&self` keeps every span found in use.
        unsafe { spans_in_reservations(self.heap.address_space().0, from, f) }
    }

    /// See [`Heap::memory`]; `spare` is the bytes of spare metadata blocks.
    fn memory(&self, spare: usize) -> HeapMemory {
        HeapMemory {
            sys: self.heap.mapped_bytes as u64,
            inuse: (self.heap.inuse_pages * PAGE_SIZE) as u64,
            released: (self.heap.released.pages() * PAGE_SIZE) as u64,
            metadata: (self.span_meta_bytes
                + super::span::type_table_bytes()
                + OTHER_METADATA.load(Ordering::Relaxed)
                + spare
                + self.heap.arenas * super::PAGES_PER_ARENA * std::mem::size_of::<usize>())
                as u64,
        }
    }
}

/// Visits the in-use spans of the heap reservations `reservations` from address `from`
/// on, in address order, calling `f` on each until it returns `false`; then returns the
/// address to resume from (`None` when every span was visited). A walk of the arena
/// table's pages, reservation by reservation (`arena::spans_in`).
///
/// # Safety
///
/// Every span found stays in use during the walk: the caller holds the heap lock, or no
/// span can be freed meanwhile.
unsafe fn spans_in_reservations(
    reservations: &[(usize, usize)],
    from: usize,
    mut f: impl FnMut(SpanPtr) -> bool,
) -> Option<usize> {
    for &(base, bytes) in reservations {
        if base + bytes <= from {
            continue;
        }
        let stopped = arena::spans_in(from.max(base), base + bytes, |s| {
            // SAFETY: an in-use span, kept so during the walk (the contract).
            f(unsafe { SpanPtr::from_raw(s) })
        });
        if stopped.is_some() {
            return stopped;
        }
    }
    None
}

/// Spare metadata blocks are kept up to this many bytes whatever the heap's size.
const SPARE_MIN: usize = 64 << 10;

/// The most spare metadata to keep (`SpareBlocks`): that of the spans the heap will cut
/// again before it reaches its goal, at the in-use spans' average metadata per byte, or
/// `SPARE_MIN`. A heap that swings between its marked size and its goal every cycle (half
/// its spans freed by each sweep and cut again before the next mark) keeps them all: when
/// only an eighth of the in-use metadata was kept, the sweeper freed the rest into
/// `malloc`'s bins each cycle, and the next span's `malloc` spent up to 2.3 ms sorting
/// them (BENCHMARKS.md). As the goal falls, so does the cap.
fn spare_cap(meta_in_use: usize, inuse_bytes: usize, goal: u64) -> usize {
    let room = usize::try_from(goal)
        .unwrap_or(usize::MAX)
        .saturating_sub(inuse_bytes);
    let cap = if inuse_bytes == 0 {
        0
    } else {
        usize::try_from(meta_in_use as u128 * room as u128 / inuse_bytes as u128)
            .unwrap_or(usize::MAX)
    };
    cap.max(SPARE_MIN)
}

/// Allocation counters (Go's `heapStats` / `consistentHeapStats`, simplified: small-object
/// mallocs are counted when a cache gives a span back, so they are exact once every cache
/// has been flushed, as `mem_stats` and `collect` do).
pub(crate) struct Counters {
    pub(crate) small_mallocs: [AtomicU64; NUM_SIZE_CLASSES],
    /// Small-object frees, added by every sweep: sharded by thread, so that the background
    /// sweeper and the threads sweeping on refill do not share one cache line per class
    /// (read with [`Counters::small_frees`]).
    small_frees: [FreeShard; FREE_SHARDS],
    pub(crate) large_mallocs: AtomicU64,
    pub(crate) large_frees: AtomicU64,
    pub(crate) large_alloc_bytes: AtomicU64,
    pub(crate) large_free_bytes: AtomicU64,
    pub(crate) tiny_allocs: AtomicU64,
}

/// Shards of the small-object free counters.
const FREE_SHARDS: usize = 4;

/// One shard of the free counters, on cache lines of its own.
#[repr(align(128))]
struct FreeShard([AtomicU64; NUM_SIZE_CLASSES]);

impl Counters {
    /// Counts `n` objects of size class `class` freed by a sweep.
    #[inline]
    pub(crate) fn count_small_frees(&self, class: usize, n: u64) {
        let shard = crate::sync::untracked::shard(FREE_SHARDS);
        self.small_frees[shard].0[class].fetch_add(n, Ordering::Relaxed);
    }

    /// Small objects of size class `class` freed so far.
    pub(crate) fn small_frees(&self, class: usize) -> u64 {
        self.small_frees
            .iter()
            .map(|s| s.0[class].load(Ordering::Relaxed))
            .sum()
    }
}

/// The heap.
pub(crate) struct Heap {
    pages: Mutex<Pages>,
    /// Metadata blocks of freed spans, for the next spans of the same slot count
    /// (`SpareBlocks`). Its lock may be taken inside the heap lock, never the other way.
    spares: Mutex<SpareBlocks>,
    pub(crate) centrals: [Central; NUM_SPAN_CLASSES],
    /// Go's `mheap_.sweepgen`: +2 at every mark termination (span state table in `span.rs`).
    sweepgen: AtomicU32,
    /// Bytes the pacer counts as live: marked at the last cycle plus everything allocated
    /// since, counting a cached span as fully allocated (Go's `heapLive`).
    pub(crate) heap_live: AtomicU64,
    /// `heap_live` value that starts the next cycle (copied from the pacer).
    pub(crate) trigger: AtomicU64,
    /// The pacer's heap goal (copied like `trigger`): allocation past it with no mark
    /// running yet waits for the mark to start.
    pub(crate) goal: AtomicU64,
    pub(crate) counters: Counters,
    /// Spans of this cycle not yet claimed by a sweeper (a hint to skip scanning the sets).
    pub(crate) sweep_unclaimed: AtomicUsize,
    /// Go's `sweepClass`: span classes below this index hold no unswept span for the rest
    /// of the cycle (no span joins an unswept set between mark terminations), so sweepers
    /// looking for work start here. Only moves forward within a cycle; reset to 0 with
    /// `sweep_unclaimed` at mark termination.
    pub(crate) sweep_class: AtomicUsize,
    /// Spans of this cycle not yet completely swept (sweep termination waits for 0).
    pub(crate) sweep_pending: AtomicUsize,
    /// Set when the heap grew, or the allocation path released pages, since the pacer last
    /// saw its memory figures (the memory-limit goal depends on them;
    /// the collector refreshes it when the allocating thread leaves its operation).
    pub(crate) grew: AtomicBool,
    /// Bytes allocated black (during marking) by caches since the last mark termination,
    /// added when a cache is flushed; the collector reads and resets it.
    pub(crate) allocated_black: AtomicU64,
}

crate::sync::global! {
    /// The process's heap.
    pub(crate) static HEAP: Heap = Heap {
        pages: Mutex::new(Pages {
            heap: PageHeap::new(),
            span_count: 0,
            span_meta_bytes: 0,
        }),
        spares: Mutex::new(SpareBlocks::new()),
        centrals: crate::sync::array![Central::new(); NUM_SPAN_CLASSES],
        sweepgen: AtomicU32::new(4),
        heap_live: AtomicU64::new(0),
        // Placeholders: the pacer publishes its own values at start-up, before any
        // allocation.
        trigger: AtomicU64::new(INITIAL_GOAL),
        goal: AtomicU64::new(INITIAL_GOAL),
        counters: Counters {
            small_mallocs: crate::sync::array![AtomicU64::new(0); NUM_SIZE_CLASSES],
            small_frees: crate::sync::array![
                FreeShard(crate::sync::array![AtomicU64::new(0); NUM_SIZE_CLASSES]);
                FREE_SHARDS
            ],
            large_mallocs: AtomicU64::new(0),
            large_frees: AtomicU64::new(0),
            large_alloc_bytes: AtomicU64::new(0),
            large_free_bytes: AtomicU64::new(0),
            tiny_allocs: AtomicU64::new(0),
        },
        sweep_unclaimed: AtomicUsize::new(0),
        sweep_class: AtomicUsize::new(0),
        sweep_pending: AtomicUsize::new(0),
        grew: AtomicBool::new(false),
        allocated_black: AtomicU64::new(0),
    };
}

impl Heap {
    /// `heap_live` plus the external memory (`external.rs`): what the pacer's trigger and
    /// goal are compared with.
    #[inline]
    pub(crate) fn live_total(&self) -> u64 {
        self.heap_live
            .load(Ordering::Relaxed)
            .saturating_add(super::external::live())
    }

    #[inline]
    pub(crate) fn sweepgen(&self) -> u32 {
        // Acquire pairs with the Release half of `advance_sweepgen`'s fetch_add: a reader of
        // the new value sees what mark termination did before it (caches flushed into the
        // sets, `sweep_unclaimed`, `sweep_class` and `sweep_pending` reset). Readers inside
        // GC operations get this from the stop handshake as well.
        self.sweepgen.load(Ordering::Acquire)
    }

    /// Mark termination's `sweepgen += 2`. Called with the world stopped.
    pub(crate) fn advance_sweepgen(&self) -> u32 {
        // The Release half pairs with the Acquire load in `sweepgen`. The Acquire half pairs
        // with nothing: this is the only writer, one mark termination at a time, so Release
        // would do.
        self.sweepgen.fetch_add(2, Ordering::AcqRel) + 2
    }

    pub(crate) fn lock_pages(&self) -> MutexGuard<'_, Pages> {
        self.pages.lock_spinning()
    }

    /// Memory figures: `heap_sys`, `heap_inuse`, and the runtime's metadata bytes (spans,
    /// their side tables, the arena page tables).
    pub(crate) fn memory(&self) -> HeapMemory {
        self.lock_pages().memory(self.spare_bytes())
    }

    fn spare_bytes(&self) -> usize {
        self.spares.lock_spinning().bytes()
    }

    /// Gives up to `max_bytes` of free pages back to the OS, highest addresses first, in
    /// batches of 64 pages (512 KiB): a batch is taken out of the free runs under the heap
    /// lock, released without it, and put back under it, so a thread that needs a span
    /// never waits for a release. With `skip_dense`, pages in nearly full chunks stay
    /// (see `PageHeap::take_unreleased`). Returns the bytes released.
    pub(crate) fn scavenge(&self, max_bytes: usize, skip_dense: bool) -> usize {
        const BATCH: usize = 64;
        let mut done = 0;
        // At most one range per page of a batch: no growth in the heap lock.
        let mut taken = Vec::with_capacity(BATCH);
        while done < max_bytes {
            let want = BATCH.min((max_bytes - done).div_ceil(PAGE_SIZE));
            taken.clear();
            let n = self
                .lock_pages()
                .heap
                .take_unreleased(want, skip_dense, &mut taken);
            // SAFETY: just taken out of the free runs, not yet put back. Released without
            // the heap lock, as Go does: no thread allocates them meanwhile.
            let released = unsafe { release_taken(&taken) };
            self.lock_pages().heap.put_released(&taken, released);
            done += taken[..released].iter().map(|r| r.1).sum::<usize>() * PAGE_SIZE;
            if released < taken.len() || n < want {
                break;
            }
        }
        done
    }

    /// Cuts a fresh span for span class `sc` (small objects) from the page heap.
    pub(crate) fn alloc_span(&self, sc: SpanClass) -> Option<SpanPtr> {
        self.new_span(Shape::small(sc))
    }

    /// A span holding one large object of `size` bytes (span class 0).
    pub(crate) fn alloc_large_span(&self, size: usize, noscan: bool) -> Option<SpanPtr> {
        let npages = size.checked_next_multiple_of(PAGE_SIZE)? / PAGE_SIZE;
        let s = self.new_span(Shape {
            npages,
            spanclass: SpanClass::new(0, noscan),
            elemsize: npages * PAGE_SIZE,
            nelems: 1,
            div_mul: 0,
        })?;
        let c = &self.counters;
        c.large_mallocs.fetch_add(1, Ordering::Relaxed);
        c.large_alloc_bytes
            .fetch_add((npages * PAGE_SIZE) as u64, Ordering::Relaxed);
        Some(s)
    }

    fn new_span(&self, shape: Shape) -> Option<SpanPtr> {
        let (npages, nelems) = (shape.npages, shape.nelems);
        // The span's metadata block: a spare one, or one from the global allocator; both
        // before taking the heap lock, which every thread that needs a span waits for. The
        // spares' bytes are read in the same hold, for the memory figures below.
        let (spare, spare_bytes) = {
            let mut spares = self.spares.lock_spinning();
            (spares.take(nelems), spares.bytes())
        };
        let mut span = match spare {
            Some(b) => b.reuse(shape, self.sweepgen()),
            None => OwnedSpan::new(shape, self.sweepgen()),
        };
        let mut p = self.lock_pages();
        let (mapped, released) = (p.heap.mapped_bytes, p.heap.released.pages());
        let (base, needzero) = p.heap.alloc(npages)?;
        span.place(base, needzero);
        // In use until `free_span`.
        let s = span.into_ptr();
        arena::set_span(base, npages, s.as_ptr());
        p.span_count += 1;
        p.span_meta_bytes += meta_bytes(nelems);
        // Eager scavenging (Go's `allocSpan` and `grow`): growing the heap past the
        // scavenger's goal, or any span while the memory held is over the memory limit,
        // releases pages elsewhere at once instead of waiting for the background pass.
        let grown = p.heap.mapped_bytes - mapped;
        // Released pages the span took (growth adds its fresh pages as released first).
        let paged_in = (released + grown / PAGE_SIZE - p.heap.released.pages()) * PAGE_SIZE;
        // Capped by what there is to release: past the limit with every free page released
        // already, there is nothing to look for.
        let unreleased = (p.heap.free_pages() - p.heap.released.pages()) * PAGE_SIZE;
        let hooks = super::hooks::hooks();
        let eager = (hooks.eager_bytes)(&p.memory(spare_bytes), grown as u64, paged_in as u64)
            .min(unreleased as u64);
        drop(p);
        if grown > 0 || eager > 0 {
            // The memory-limit goal depends on the mapped, released and free memory.
            self.grew.store(true, Ordering::Relaxed);
        }
        if eager > 0 {
            (hooks.note_eager)(self.scavenge(eager as usize, false));
        }
        if super::clobber::on() {
            // SAFETY: the span's pages are new to it and hold no object yet.
            unsafe { super::clobber::poison(base, npages * PAGE_SIZE) };
        }
        Some(s)
    }

    /// Returns an empty span's pages and drops its metadata.
    ///
    /// # Safety
    ///
    /// The caller owns the span, it holds no live object, and no set or cache refers to it.
    pub(crate) unsafe fn free_span(&self, s: SpanPtr) {
        if s.spanclass.size_class() == 0 {
            let c = &self.counters;
            c.large_frees.fetch_add(1, Ordering::Relaxed);
            c.large_free_bytes
                .fetch_add((s.npages * PAGE_SIZE) as u64, Ordering::Relaxed);
        }
        let mut p = self.lock_pages();
        arena::set_span(s.base, s.npages, std::ptr::null());
        p.span_count -= 1;
        p.span_meta_bytes -= meta_bytes(s.nelems);
        p.heap.free(s.base, s.npages);
        let cap = spare_cap(
            p.span_meta_bytes,
            p.heap.inuse_pages * PAGE_SIZE,
            self.goal.load(Ordering::Relaxed),
        );
        drop(p);
        // SAFETY: made by `into_ptr` in `new_span`; the caller guarantees no other
        // reference remains.
        let span = unsafe { OwnedSpan::from_ptr(s) };
        let unkept = self.spares.lock_spinning().put(span, cap);
        // Freed outside the spares' lock.
        drop(unkept);
    }

    /// Calls `f` on every in-use span, `CHUNK` spans at a time, walking the arena table
    /// without the heap lock (held only to copy the list of reservations). Spans made
    /// meanwhile may or may not be visited. Walking under the heap lock, one hold per
    /// chunk, the walk took the lock back at once after each chunk, so a thread that needed
    /// a span was woken and beaten to it again and again: 4-7 ms waits on a 257 MB heap of
    /// 16-byte objects (BENCHMARKS.md, twenty-fourth session).
    ///
    /// # Safety
    ///
    /// No span is freed until the call returns (the mark phase, whose spans were all swept
    /// before it began, or a stop of GC operations), so every span the arena table points
    /// at stays in use.
    pub(crate) unsafe fn for_each_span_chunked(&self, mut f: impl FnMut(&[SpanPtr])) {
        const CHUNK: usize = 1024;
        let reservations = self.lock_pages().heap.address_space().0.to_vec();
        let mut from = 0usize;
        let mut chunk = Vec::with_capacity(CHUNK);
        loop {
            chunk.clear();
            // SAFETY: no span is freed meanwhile (the contract).
            let next = unsafe {
                spans_in_reservations(&reservations, from, |s| {
                    chunk.push(s);
                    chunk.len() < CHUNK
                })
            };
            if !chunk.is_empty() {
                f(&chunk);
            }
            match next {
                Some(n) => from = n,
                None => return,
            }
        }
    }

    /// Number of in-use spans.
    pub(crate) fn span_count(&self) -> usize {
        self.lock_pages().span_count
    }
}

#[cfg(test)]
mod tests {
    use super::{spare_cap, Pages, SPARE_MIN};
    use crate::alloc::pageheap::PageHeap;
    use crate::alloc::sizeclass::SpanClass;
    use crate::alloc::span::{OwnedSpan, Shape, SpanPtr};
    use crate::alloc::{arena, ARENA_SIZE, PAGE_SIZE};

    #[test]
    fn the_span_walk_visits_every_span_once_in_address_order_across_reservations() {
        arena::init();
        let mut p = Pages {
            heap: PageHeap::new(),
            span_count: 0,
            span_meta_bytes: 0,
        };
        // Small spans, a span larger than an arena (a reservation of its own), more small
        // ones, and a freed page between two spans.
        let mut made: Vec<SpanPtr> = Vec::new();
        for npages in [1, 1, 1, 1, ARENA_SIZE / PAGE_SIZE + 3, 1, 1] {
            let (base, _) = p.heap.alloc(npages).unwrap();
            let shape = if npages == 1 {
                Shape::small(SpanClass::new(2, false))
            } else {
                Shape {
                    npages,
                    spanclass: SpanClass::new(0, false),
                    elemsize: npages * PAGE_SIZE,
                    nelems: 1,
                    div_mul: 0,
                }
            };
            let mut span = OwnedSpan::new(shape, 4);
            span.place(base, false);
            let s = span.into_ptr();
            arena::set_span(base, npages, s.as_ptr());
            made.push(s);
        }
        let gone = made.remove(2);
        arena::set_span(gone.base, 1, std::ptr::null());
        p.heap.free(gone.base, 1);
        // SAFETY: made by `into_ptr` above; nothing refers to it any more.
        drop(unsafe { OwnedSpan::from_ptr(gone) });
        let mut want: Vec<usize> = made.iter().map(|s| s.base).collect();
        want.sort_unstable();
        assert!(p.heap.address_space().0.len() >= 2, "one reservation only");

        let mut all = Vec::new();
        assert_eq!(
            p.spans_from(0, |s| {
                all.push(s.base);
                true
            }),
            None
        );
        assert_eq!(all, want);
        // Two at a time, resuming where each walk stopped: the same spans, once each.
        let (mut from, mut chunked) = (0, Vec::new());
        loop {
            let mut chunk = Vec::new();
            let next = p.spans_from(from, |s| {
                chunk.push(s.base);
                chunk.len() < 2
            });
            chunked.extend(chunk);
            match next {
                Some(n) => from = n,
                None => break,
            }
        }
        assert_eq!(chunked, want);

        for s in made {
            arena::set_span(s.base, s.npages, std::ptr::null());
            // SAFETY: as above.
            drop(unsafe { OwnedSpan::from_ptr(s) });
        }
    }

    #[test]
    fn spare_metadata_covers_the_spans_the_heap_will_cut_before_its_goal() {
        const MIB: usize = 1 << 20;
        // Metadata per in-use byte: 1/16 here (256 KiB for 4 MiB of spans).
        let meta = 256 << 10;
        let inuse = 4 * MIB;
        // Room for 4 MiB more spans before the goal: their metadata, 256 KiB.
        assert_eq!(spare_cap(meta, inuse, 8 * MIB as u64), 256 << 10);
        // Twice the room, twice the blocks.
        assert_eq!(spare_cap(meta, inuse, 12 * MIB as u64), 512 << 10);
        // At or past the goal, or an empty heap: the floor.
        assert_eq!(spare_cap(meta, inuse, 4 * MIB as u64), SPARE_MIN);
        assert_eq!(spare_cap(meta, inuse, MIB as u64), SPARE_MIN);
        assert_eq!(spare_cap(0, 0, 8 * MIB as u64), SPARE_MIN);
        // No overflow at the extremes.
        assert_eq!(spare_cap(usize::MAX, 1, u64::MAX), usize::MAX);
    }
}
