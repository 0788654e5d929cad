//! A picture of the heap: [`heap_snapshot`] returns every page of the heap's address
//! space with its state, every in-use span's class and occupancy, and the history of the
//! last cycles (phase times, the two pauses, the mark CPU split, heap sizes), as plain
//! data, so a program can draw its own pictures or check its own figures.
//!
//! Go has no single call for this: its heap is shown by `runtime/metrics`, `MemStats`, the
//! execution tracer and `GODEBUG=gctrace=1`. The names here are Go's where Go has them (a
//! *span class* is Go's `spanClass`, *released* pages are Go's `HeapReleased`, the pauses
//! are Go's "STW sweep termination" and "STW mark termination"); where this runtime
//! differs, the item's docs say so. `examples/heap_picture.rs` draws both pictures.
//!
//! Layering: the allocator walks its pages and spans (`alloc/snapshot.rs`), the collector
//! stops GC operations around the walk and adds its cycle records (`gc/snapshot.rs`,
//! `gc/history.rs`); this module only shapes the result.

use crate::alloc::snapshot::RunState;
use crate::alloc::{ARENA_SIZE, PAGE_SIZE};

/// A snapshot of the heap: its address space page by page, and the recent cycles.
///
/// `spans` covers every page of every arena exactly once, in address order, so the page
/// totals add up: `pages_in_use + pages_free + pages_released + pages_reserved` is the
/// arenas' pages, and `heap_inuse()`, `heap_idle()`, `heap_released()` and `heap_sys()`
/// are [`MemStats`](crate::MemStats)' figures of the same names, at the moment the
/// snapshot was taken.
///
/// # Examples
///
/// ```
/// use gc_core::debug::{heap_snapshot, PageState};
/// use gc_core::Gc;
///
/// let keep: Vec<Gc<[u64; 4]>> = (0..1000).map(|i| Gc::new([i; 4])).collect();
/// let snap = heap_snapshot();
/// let pages: usize = snap.spans.iter().map(|s| s.pages).sum();
/// assert_eq!(pages, snap.arenas.iter().map(|a| a.pages).sum::<usize>());
/// assert_eq!(snap.heap_inuse(), (snap.pages_in_use * snap.page_size) as u64);
/// // `[u64; 4]` holds no `Gc`: its 32-byte slots are in noscan spans.
/// assert!(snap.spans.iter().any(|s| matches!(
///     &s.state,
///     PageState::InUse(c) if c.object_size == 32 && c.noscan
/// )));
/// # drop(keep);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct HeapSnapshot {
    /// Bytes per page (8 KiB, Go's `_PageSize`).
    pub page_size: usize,
    /// The arenas, ascending by address.
    pub arenas: Vec<Arena>,
    /// Every page of every arena, as runs of one state, ascending by address. A free,
    /// released or reserved run never crosses an arena boundary; an in-use span (a large
    /// object over 64 MiB) may.
    pub spans: Vec<SpanInfo>,
    /// Pages in in-use spans (Go's `HeapInuse` / page size).
    pub pages_in_use: usize,
    /// Free pages still backed by memory (Go's `HeapIdle - HeapReleased`, in pages).
    pub pages_free: usize,
    /// Free pages given back to the OS, or never touched since the heap grew over them
    /// (Go's `HeapReleased` / page size; Go also counts fresh memory as released).
    pub pages_released: usize,
    /// Pages of arena address space reserved but not yet handed to the heap (no Go
    /// counterpart in `MemStats`: Go's arenas are likewise reserved whole and mapped as
    /// the heap grows). Neither in `heap_sys()` nor in any memory figure.
    pub pages_reserved: usize,
    /// When the page map was read, in nanoseconds since the runtime started (the origin
    /// of every time in [`CycleRecord`], and of gctrace's `@Ts`).
    pub taken_ns: u64,
    /// Cycles completed when the snapshot was taken (`MemStats::num_gc`).
    pub num_gc: u32,
    /// The heap goal of the next cycle (`MemStats::next_gc`).
    pub next_gc: u64,
    /// `GOMAXPROCS` (the CPUs the pauses' CPU time is counted on).
    pub gomaxprocs: usize,
    /// The last cycles, oldest first: all of them up to [`RETAINED_CYCLES`], then the
    /// most recent ones.
    pub cycles: Vec<CycleRecord>,
}

/// How many cycles [`HeapSnapshot::cycles`] keeps at most (as many as
/// `MemStats::pause_ns` holds).
///
/// # Examples
///
/// ```
/// for _ in 0..3 {
///     gc_core::collect();
/// }
/// let snap = gc_core::debug::heap_snapshot();
/// assert!(snap.cycles.len() >= 3 && snap.cycles.len() <= gc_core::debug::RETAINED_CYCLES);
/// ```
pub const RETAINED_CYCLES: usize = crate::gc::RETAINED_CYCLES;

impl HeapSnapshot {
    /// Bytes in in-use spans (`MemStats::heap_inuse`).
    ///
    /// # Examples
    ///
    /// ```
    /// let _keep = gc_core::Gc::new([0u64; 64]);
    /// let snap = gc_core::debug::heap_snapshot();
    /// assert!(snap.heap_inuse() >= snap.page_size as u64); // at least the span holding `_keep`
    /// ```
    pub fn heap_inuse(&self) -> u64 {
        (self.pages_in_use * self.page_size) as u64
    }

    /// Bytes in free pages, released or not (`MemStats::heap_idle`).
    ///
    /// # Examples
    ///
    /// ```
    /// let snap = gc_core::debug::heap_snapshot();
    /// assert!(snap.heap_idle() >= snap.heap_released());
    /// ```
    pub fn heap_idle(&self) -> u64 {
        ((self.pages_free + self.pages_released) * self.page_size) as u64
    }

    /// Bytes in free pages given back to the OS (`MemStats::heap_released`).
    ///
    /// # Examples
    ///
    /// ```
    /// drop((0..1000u64).map(|i| gc_core::Gc::new([i; 64])).collect::<Vec<_>>());
    /// gc_core::free_os_memory();
    /// assert!(gc_core::debug::heap_snapshot().heap_released() > 0);
    /// ```
    pub fn heap_released(&self) -> u64 {
        (self.pages_released * self.page_size) as u64
    }

    /// Heap memory obtained from the OS: `heap_inuse + heap_idle` (`MemStats::heap_sys`).
    ///
    /// # Examples
    ///
    /// ```
    /// let snap = gc_core::debug::heap_snapshot();
    /// assert_eq!(snap.heap_sys(), snap.heap_inuse() + snap.heap_idle());
    /// ```
    pub fn heap_sys(&self) -> u64 {
        self.heap_inuse() + self.heap_idle()
    }

    /// Allocated objects in all in-use spans (a tiny block counts once, however many
    /// tiny objects share it; unswept spans still count their dead objects), or `None` if
    /// the snapshot could not read the counts (see [`heap_snapshot`]).
    ///
    /// # Examples
    ///
    /// ```
    /// let _keep: Vec<_> = (0..100u64).map(|i| gc_core::Gc::new([i; 8])).collect();
    /// let snap = gc_core::debug::heap_snapshot();
    /// assert!(snap.objects().unwrap() >= 100);
    /// ```
    pub fn objects(&self) -> Option<u64> {
        self.in_use()
            .map(|(_, c)| c.allocated.map(|n| n as u64))
            .sum()
    }

    /// Bytes of allocated slots in all in-use spans (as [`objects`](Self::objects)).
    ///
    /// # Examples
    ///
    /// ```
    /// let _keep: Vec<_> = (0..100u64).map(|i| gc_core::Gc::new([i; 8])).collect();
    /// let snap = gc_core::debug::heap_snapshot();
    /// assert!(snap.allocated_bytes().unwrap() >= 100 * 64);
    /// ```
    pub fn allocated_bytes(&self) -> Option<u64> {
        self.in_use()
            .map(|(_, c)| c.allocated.map(|n| (n * c.object_size) as u64))
            .sum()
    }

    /// The in-use spans with their class.
    ///
    /// # Examples
    ///
    /// ```
    /// let _keep = gc_core::Gc::new(String::from("scanned? no: a String holds no Gc"));
    /// let snap = gc_core::debug::heap_snapshot();
    /// let noscan_spans = snap.in_use().filter(|(_, class)| class.noscan).count();
    /// assert!(noscan_spans >= 1);
    /// ```
    pub fn in_use(&self) -> impl Iterator<Item = (&SpanInfo, &InUseSpan)> {
        self.spans.iter().filter_map(|s| match &s.state {
            PageState::InUse(c) => Some((s, c)),
            _ => None,
        })
    }
}

/// A 64 MiB arena (Go's `heapArena`): reserved from the OS whole, handed to the heap in
/// 4 MiB steps as it grows.
///
/// # Examples
///
/// ```
/// let _keep = gc_core::Gc::new(1u64);
/// let snap = gc_core::debug::heap_snapshot();
/// let arena = snap.arenas[0];
/// assert_eq!(arena.pages * snap.page_size, arena.size);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arena {
    /// First address.
    pub base: usize,
    /// Bytes (64 MiB).
    pub size: usize,
    /// Pages (`size / page_size`).
    pub pages: usize,
}

/// A run of pages in one state: an in-use span, or a run of free, released or reserved
/// pages.
///
/// # Examples
///
/// ```
/// let _keep = gc_core::Gc::new(1u64);
/// let snap = gc_core::debug::heap_snapshot();
/// // The runs cover every arena page exactly once, in address order.
/// let pages: usize = snap.spans.iter().map(|s| s.pages).sum();
/// assert_eq!(pages, snap.arenas.iter().map(|a| a.pages).sum::<usize>());
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SpanInfo {
    /// Address of the first page.
    pub base: usize,
    /// Index in [`HeapSnapshot::arenas`] of the arena holding the first page.
    pub arena: usize,
    /// Index of the first page within that arena (0 to `pages per arena - 1`).
    pub first_page: usize,
    /// Pages in the run.
    pub pages: usize,
    /// What the pages hold.
    pub state: PageState,
}

/// The state of a run of pages (Go's `mSpanInUse`, `mSpanManual` aside, and the page
/// allocator's free and scavenged bits).
///
/// # Examples
///
/// ```
/// use gc_core::debug::{heap_snapshot, PageState};
///
/// let snap = heap_snapshot();
/// let free_pages: usize = snap
///     .spans
///     .iter()
///     .filter(|s| matches!(s.state, PageState::Free | PageState::Released))
///     .map(|s| s.pages)
///     .sum();
/// assert_eq!(free_pages, snap.pages_free + snap.pages_released);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PageState {
    /// A span holding objects of one span class.
    InUse(InUseSpan),
    /// Free pages still backed by memory (counted in `heap_idle`).
    Free,
    /// Free pages the OS has no memory behind: given back by the scavenger (or
    /// [`free_os_memory`](crate::free_os_memory)), or never touched since the heap grew
    /// over them (`heap_released`).
    Released,
    /// Arena address space not yet part of the heap.
    Reserved,
}

/// An in-use span's class and occupancy.
///
/// # Examples
///
/// ```
/// let _keep: Vec<_> = (0..10u64).map(|i| gc_core::Gc::new([i; 4])).collect();
/// let snap = gc_core::debug::heap_snapshot();
/// let (_, class) = snap.in_use().find(|(_, c)| c.object_size == 32).unwrap();
/// assert_eq!(class.span_class, class.size_class << 1 | class.noscan as usize);
/// assert!(class.allocated.unwrap() >= 10 && class.capacity >= 10);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InUseSpan {
    /// Go's size class: 1-67 for small objects, 0 for a span holding one large object
    /// (over 32 KiB). `MemStats::by_size` is indexed by it.
    pub size_class: usize,
    /// Go's span class: `size_class << 1 | noscan`.
    pub span_class: usize,
    /// The span's objects hold no `Gc` (`Trace::needs_trace` is false), so marking does
    /// not scan them.
    pub noscan: bool,
    /// Bytes per object slot (a large object's span: its whole size, whole pages).
    pub object_size: usize,
    /// Object slots in the span (Go's `nelems`; 1 for a large object).
    pub capacity: usize,
    /// Allocated slots (Go's `allocCount`); `None` if the snapshot could not read it (see
    /// [`heap_snapshot`]). Tiny objects share 16-byte slots, which count once.
    pub allocated: Option<usize>,
    /// Not swept since the last mark: `allocated` still counts the objects that mark
    /// found unreachable (Go's `sweepgen` = heap's - 2).
    pub unswept: bool,
    /// Held by a thread's allocation cache (Go's `sweepgen` = heap's + 3).
    pub cached: bool,
}

impl InUseSpan {
    /// `allocated / capacity`, from 0 to 1.
    ///
    /// # Examples
    ///
    /// ```
    /// let _keep: Vec<_> = (0..10u64).map(|i| gc_core::Gc::new([i; 4])).collect();
    /// let snap = gc_core::debug::heap_snapshot();
    /// for (_, class) in snap.in_use() {
    ///     let o = class.occupancy().unwrap();
    ///     assert!((0.0..=1.0).contains(&o));
    /// }
    /// ```
    pub fn occupancy(&self) -> Option<f64> {
        self.allocated
            .map(|n| n as f64 / self.capacity.max(1) as f64)
    }
}

/// One finished cycle (gctrace's line, in numbers).
///
/// Times (`*_start_ns`, `start_ns`, `end_ns`) are nanoseconds since the runtime started,
/// like [`HeapSnapshot::taken_ns`]; durations (`*_ns` otherwise) are nanoseconds. A cycle
/// runs: sweep termination (here concurrent; in Go inside the first pause), the first
/// pause, concurrent mark, the final pause, then (after `end_ns`) concurrent sweep until
/// the next cycle's `start_ns` (Go's `_GCoff`).
///
/// # Examples
///
/// ```
/// gc_core::collect();
/// let snap = gc_core::debug::heap_snapshot();
/// let c = snap.cycles.last().expect("collect() ran a cycle");
/// assert!(c.forced);
/// assert!(c.start_ns <= c.stw_sweep_termination_start_ns);
/// assert!(c.stw_sweep_termination_start_ns <= c.mark_start_ns);
/// assert!(c.mark_start_ns <= c.stw_mark_termination_start_ns);
/// assert!(c.stw_mark_termination_start_ns <= c.end_ns);
/// assert!(c.end_ns <= snap.taken_ns);
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CycleRecord {
    /// The cycle's number, from 1 (gctrace's `gc N`; `MemStats::num_gc` after it).
    pub num_gc: u32,
    /// Started by [`collect`](crate::collect) (or `free_os_memory`), not by the pacer.
    pub forced: bool,
    /// `GOMAXPROCS` during the cycle.
    pub gomaxprocs: usize,
    /// The cycle began (Go's `gcStart`): sweep termination, the previous cycle's sweep
    /// finished.
    pub start_ns: u64,
    /// Sweep termination and the pass that turns written cells back into edges: concurrent
    /// here, from `start_ns` (Go does it inside the first pause).
    pub sweep_termination_ns: u64,
    /// The first pause began (Go's "STW sweep termination"; here mark setup only).
    pub stw_sweep_termination_start_ns: u64,
    /// The first pause (gctrace's first clock figure).
    pub stw_sweep_termination_ns: u64,
    /// Concurrent mark began.
    pub mark_start_ns: u64,
    /// Concurrent mark, wall time (gctrace's second clock figure); includes the short
    /// pauses of termination attempts that found more to mark.
    pub mark_ns: u64,
    /// The final pause began (Go's "STW mark termination").
    pub stw_mark_termination_start_ns: u64,
    /// The final pause (gctrace's third clock figure).
    pub stw_mark_termination_ns: u64,
    /// The world resumed: sweeping begins (Go's `_GCoff`).
    pub end_ns: u64,
    /// Every pause of the cycle, failed termination attempts included (this cycle's
    /// `MemStats::pause_ns` entry).
    pub pause_ns: u64,
    /// End of the last pause, Unix nanoseconds (this cycle's `MemStats::pause_end`).
    pub pause_end: u64,
    /// Mark-assist time: allocating threads scanning, their waits for credit excluded
    /// (gctrace's cpu `b`).
    pub mark_assist_cpu_ns: u64,
    /// Background mark workers' CPU time, dedicated and fractional (gctrace's `c`; thread
    /// CPU time, which a preempted worker does not accrue).
    pub mark_background_cpu_ns: u64,
    /// Idle mark workers' CPU time (gctrace's `d`).
    pub mark_idle_cpu_ns: u64,
    /// The collector's CPU time for the cycle: sweep termination, mark workers, assists,
    /// and both pauses times `gomaxprocs` (what `MemStats::gc_cpu_fraction` adds up).
    pub gc_cpu_ns: u64,
    /// Live heap when marking began (gctrace's first heap figure; with
    /// [`CountingAllocator`](crate::CountingAllocator), external bytes included, as the
    /// pacer counts).
    pub heap_live_start: u64,
    /// Live heap when marking ended (gctrace's second heap figure).
    pub heap_live_end: u64,
    /// Bytes marked: the heap that survived (gctrace's third heap figure).
    pub heap_marked: u64,
    /// The heap goal this cycle aimed for (gctrace's `MB goal`).
    pub heap_goal: u64,
    /// The goal the cycle set for the next one (`MemStats::next_gc` after it).
    pub next_gc: u64,
    /// Heap bytes released to the OS when the world resumed (`MemStats::heap_released`).
    pub heap_released: u64,
    /// Heap bytes obtained from the OS when the world resumed (`MemStats::heap_sys`).
    pub heap_sys: u64,
}

/// Takes a [`HeapSnapshot`]: the heap's pages and spans, and the recent cycles.
///
/// Briefly stops GC operations, as [`mem_stats`](crate::mem_stats) does (allocations and
/// sweeps wait; threads running user code do not), for a walk over every span that runs no
/// user code. Its cost grows with the number of spans: about 0.4 ms for 8,000 in-use spans
/// (64 MiB in use; `examples/heap_picture.rs` prints the figure). It does not flush thread
/// caches, so it leaves the heap as it was.
///
/// Safe to call from anywhere user code runs (a `Drop`, a `Pool`'s `make`). Called from
/// inside the collector (a `Trace` impl run by a mark assist) it cannot stop operations,
/// since one of them is the caller's: it then returns the same pages and spans, with every
/// [`InUseSpan::allocated`] `None`.
///
/// # Examples
///
/// ```
/// use gc_core::debug::{heap_snapshot, PageState};
///
/// let big = gc_core::Gc::new([0u8; 100_000]); // a large object: its own span
/// let snap = heap_snapshot();
/// let large = snap
///     .in_use()
///     .filter(|(_, c)| c.size_class == 0)
///     .count();
/// assert!(large >= 1);
/// for s in &snap.spans {
///     if let PageState::InUse(c) = &s.state {
///         assert!(c.allocated.unwrap() <= c.capacity);
///     }
/// }
/// println!(
///     "{} arenas, {} MiB in use, {} MiB released, {} cycles",
///     snap.arenas.len(),
///     snap.heap_inuse() >> 20,
///     snap.heap_released() >> 20,
///     snap.num_gc,
/// );
/// # drop(big);
/// ```
pub fn heap_snapshot() -> HeapSnapshot {
    let parts = crate::gc::heap_snapshot();
    let arenas: Vec<Arena> = parts
        .map
        .arenas
        .iter()
        .map(|&base| Arena {
            base,
            size: ARENA_SIZE,
            pages: ARENA_SIZE / PAGE_SIZE,
        })
        .collect();
    let (mut in_use, mut free, mut released, mut reserved) = (0, 0, 0, 0);
    let spans = parts
        .map
        .runs
        .iter()
        .map(|r| {
            let arena = arenas
                .partition_point(|a| a.base <= r.base)
                .saturating_sub(1);
            let state = match r.state {
                RunState::InUse(f) => {
                    in_use += r.npages;
                    PageState::InUse(InUseSpan {
                        size_class: f.size_class,
                        span_class: f.size_class << 1 | f.noscan as usize,
                        noscan: f.noscan,
                        object_size: f.elemsize,
                        capacity: f.nelems,
                        allocated: f.allocated,
                        unswept: f.unswept,
                        cached: f.cached,
                    })
                }
                RunState::Free => {
                    free += r.npages;
                    PageState::Free
                }
                RunState::Released => {
                    released += r.npages;
                    PageState::Released
                }
                RunState::Reserved => {
                    reserved += r.npages;
                    PageState::Reserved
                }
            };
            SpanInfo {
                base: r.base,
                arena,
                first_page: arenas
                    .get(arena)
                    .map_or(0, |a| r.base.saturating_sub(a.base) / PAGE_SIZE),
                pages: r.npages,
                state,
            }
        })
        .collect();
    let cycles = parts
        .cycles
        .iter()
        .map(|r| CycleRecord {
            num_gc: sat32(r.num_gc),
            forced: r.forced,
            gomaxprocs: r.procs,
            start_ns: r.start,
            sweep_termination_ns: r.prepare_ns,
            stw_sweep_termination_start_ns: r.setup_start,
            stw_sweep_termination_ns: r.setup_ns,
            mark_start_ns: r.mark_start,
            mark_ns: r.mark_ns,
            stw_mark_termination_start_ns: r.term_start,
            stw_mark_termination_ns: r.term_ns,
            end_ns: r.end,
            pause_ns: r.pause_ns,
            pause_end: r.pause_end_unix,
            mark_assist_cpu_ns: r.assist_ns,
            mark_background_cpu_ns: r.background_ns,
            mark_idle_cpu_ns: r.idle_ns,
            gc_cpu_ns: r.gc_cpu_ns,
            heap_live_start: r.live_start,
            heap_live_end: r.live_end,
            heap_marked: r.marked,
            heap_goal: r.goal,
            next_gc: r.next_goal,
            heap_released: r.released,
            heap_sys: r.heap_sys,
        })
        .collect();
    HeapSnapshot {
        page_size: PAGE_SIZE,
        arenas,
        spans,
        pages_in_use: in_use,
        pages_free: free,
        pages_released: released,
        pages_reserved: reserved,
        taken_ns: parts.taken_ns,
        num_gc: sat32(parts.num_gc),
        next_gc: parts.next_gc,
        gomaxprocs: parts.gomaxprocs,
        cycles,
    }
}

fn sat32(n: u64) -> u32 {
    n.min(u32::MAX as u64) as u32
}
