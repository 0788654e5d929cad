//! The shared grey lists (Go's `work.full` and `work.empty` lists of `workbuf`s): grey
//! items that one drainer hands to the others travel in fixed buffers of `BUF_ITEMS`
//! items, on lock-free stacks. `WORK.injector` and `WORK.large` (`mark.rs`) are lists.
//!
//! Why not crossbeam-deque's `Injector` (used until the twentieth session): it allocates a
//! block per 63 items in the pushing thread and frees it in whichever thread reads the
//! block's last item, so an allocating thread's mark assist freed blocks other threads had
//! allocated, and allocated blocks other threads freed: with glibc each such `free` takes
//! the owning thread's `malloc` arena lock, and a holder preempted on a two-core machine
//! left the assist asleep on the lock's futex for a millisecond (the 1 GiB latency probe's
//! remaining stalls, `perf` of its context switches: 423 of 711 sleeps in 6 s). Here a
//! buffer is allocated once and recycled through the spare stack; nothing is freed while
//! anyone drains, and no operation waits for another thread.
//!
//! Invariants: a buffer is owned by exactly one party at a time: a stack, or the thread
//! that popped or made it (which alone reads and writes its items). Buffers are freed only
//! by [`trim`] (after a mark, with no drainer running) and by a stack's `Drop`, so a
//! thread that read a stale head may still read that buffer's `next` link. ABA (a head
//! popped and pushed back between a pop's load and its compare-and-swap) is caught by a
//! 22-bit tag packed beside the pointer, as in Go's `lfstack`: a thread would have to stall
//! between two instructions while 4 million other pushes and pops of that one stack ran.
//!
//! Shared fields: each stack's head, and each buffer's `next` link (atomics); a buffer's
//! items and length are plain memory, handed over by the stacks' release/acquire
//! compare-and-swaps. The buffers count in the runtime's metadata (`MemStats::sys`). See
//! the collector overview (`crate::design::collector`).

use super::local_queue::LocalQueue;
use crate::alloc::heap::note_metadata;
use crate::sync::{AtomicU64, AtomicUsize, Ordering, UnsafeCell};
use std::mem::size_of;

/// Items per buffer: with the header, a buffer is 2 KiB, as Go's `workbuf`.
pub(crate) const BUF_ITEMS: usize = 254;

/// Spare buffers kept over a mark's end (512 KiB); the rest are freed by [`trim`].
const KEEP_SPARE: usize = 256;

/// A buffer of grey items (Go's `workbuf`). Aligned so that a stack head has room for its
/// tag in the pointer's low bits.
#[repr(C, align(64))]
struct Buf {
    /// The buffer below this one on its stack (an address; 0 at the bottom). Atomic: a
    /// popper holding a stale head reads it while the buffer's new owner may write it.
    next: AtomicUsize,
    /// Read and written only by the buffer's owner.
    contents: UnsafeCell<Contents>,
}

struct Contents {
    len: usize,
    items: [usize; BUF_ITEMS],
}

/// Low bits of a buffer's address that its alignment leaves zero.
const ALIGN_BITS: u32 = 6;
/// User-space addresses fit in 48 bits (as the arena table assumes, `arena.rs`).
const ADDRESS_BITS: u32 = 48;
/// Bits of a stack head left for the tag.
const TAG_BITS: u32 = 64 - (ADDRESS_BITS - ALIGN_BITS);
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;

fn pack(buf: usize, tag: u64) -> u64 {
    ((buf as u64) >> ALIGN_BITS << TAG_BITS) | (tag & TAG_MASK)
}

fn unpack(head: u64) -> usize {
    ((head >> TAG_BITS) << ALIGN_BITS) as usize
}

/// A lock-free stack of buffers (Treiber's, with a tag against ABA).
struct Stack {
    head: AtomicU64,
}

impl Stack {
    crate::sync::const_fn! {
        fn new() -> Stack {
            Stack { head: AtomicU64::new(0) }
        }
    }

    /// Pushes `buf`, which the caller owns: from here the stack does.
    fn push(&self, buf: *mut Buf) {
        let mut head = self.head.load(Ordering::Relaxed);
        loop {
            // SAFETY: the caller owns `buf` (no other thread writes its link).
            unsafe { (*buf).next.store(unpack(head), Ordering::Relaxed) };
            let new = pack(buf as usize, (head & TAG_MASK) + 1);
            // Release: publishes the buffer's items and link to the popper's acquire.
            // SeqCst: the termination checks read `is_empty` in one order with the
            // workers' busy counts (`mark.rs`), as they read crossbeam's queues before.
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Pops a buffer, which the caller then owns.
    fn pop(&self) -> Option<*mut Buf> {
        let mut head = self.head.load(Ordering::SeqCst);
        loop {
            let top = unpack(head) as *mut Buf;
            if top.is_null() {
                return None;
            }
            // SAFETY: buffers are never freed while anyone may pop (module header): `top`
            // is valid even if another thread popped it since our load; its link may then
            // be stale, and the tag makes the compare-and-swap below fail.
            let next = unsafe { (*top).next.load(Ordering::Relaxed) };
            let new = pack(next, (head & TAG_MASK) + 1);
            match self
                .head
                .compare_exchange_weak(head, new, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Some(top),
                Err(now) => head = now,
            }
        }
    }

    fn is_empty(&self) -> bool {
        unpack(self.head.load(Ordering::SeqCst)) == 0
    }
}

impl Drop for Stack {
    /// Frees what is left (under loom, where globals are dropped after each execution).
    fn drop(&mut self) {
        while let Some(buf) = self.pop() {
            // SAFETY: `&mut self`: no one else can reach the stack, so we own `buf`, made
            // by `Box::into_raw` in `spare`.
            drop(unsafe { Box::from_raw(buf) });
        }
    }
}

crate::sync::global! {
    /// Empty buffers, shared by every list (Go's `work.empty`).
    static SPARES: Stack = Stack::new();
}
crate::sync::global! {
    /// How many buffers `SPARES` holds, about (for [`trim`]).
    static SPARE_COUNT: AtomicUsize = AtomicUsize::new(0);
}

/// An empty buffer, owned by the caller: a spare, or a new one (a `malloc` of 2 KiB, only
/// while a mark needs more buffers than any before it since the last trim).
fn spare() -> *mut Buf {
    if let Some(buf) = SPARES.pop() {
        SPARE_COUNT.fetch_sub(1, Ordering::Relaxed);
        return buf;
    }
    let buf = Box::into_raw(Box::new(Buf {
        next: AtomicUsize::new(0),
        contents: UnsafeCell::new(Contents {
            len: 0,
            items: [0; BUF_ITEMS],
        }),
    }));
    if buf as u64 >> ADDRESS_BITS != 0 {
        crate::fatal("a grey buffer was allocated above the 48-bit address space");
    }
    note_metadata(size_of::<Buf>(), false);
    buf
}

/// Returns an emptied buffer to the spares.
fn give_back(buf: *mut Buf) {
    SPARES.push(buf);
    SPARE_COUNT.fetch_add(1, Ordering::Relaxed);
}

/// Frees spare buffers beyond `KEEP_SPARE`. Only when no thread can be draining (after
/// mark termination, before the next mark setup): a popper may otherwise still read a
/// freed buffer's link.
pub(crate) fn trim() {
    while SPARE_COUNT.load(Ordering::Relaxed) > KEEP_SPARE {
        let Some(buf) = SPARES.pop() else { break };
        SPARE_COUNT.fetch_sub(1, Ordering::Relaxed);
        // SAFETY: popped, so ours; made by `Box::into_raw` in `spare`; no thread drains
        // (the caller's contract), so none holds a stale pointer to it.
        drop(unsafe { Box::from_raw(buf) });
        note_metadata(size_of::<Buf>(), true);
    }
}

/// A shared list of grey items.
pub(crate) struct GreyList {
    full: Stack,
}

impl GreyList {
    crate::sync::const_fn! {
        pub(crate) fn new() -> GreyList {
            GreyList { full: Stack::new() }
        }
    }

    /// Whether the list holds no item (a buffer on it is never empty).
    pub(crate) fn is_empty(&self) -> bool {
        self.full.is_empty()
    }

    /// Adds `items`, in buffers of at most `BUF_ITEMS`.
    pub(crate) fn push_items(&self, items: &[usize]) {
        for chunk in items.chunks(BUF_ITEMS) {
            let buf = spare();
            // SAFETY: `spare` handed us the buffer (valid: buffers are freed only by `trim`
            // and `Drop`) and no other thread touches its contents until the push below.
            unsafe {
                (*buf).contents.with_mut(|c| {
                    let c = &mut *c;
                    c.items[..chunk.len()].copy_from_slice(chunk);
                    c.len = chunk.len();
                });
            }
            self.full.push(buf);
        }
    }

    /// Takes one buffer: returns its last item and pushes the others onto `local`.
    pub(crate) fn pop_into(&self, local: &LocalQueue) -> Option<usize> {
        let buf = self.full.pop()?;
        // SAFETY: popped, so ours until `give_back`; its contents were written before the
        // push that published it, which our pop's acquire saw.
        let last = unsafe {
            (*buf).contents.with(|c| {
                let c = &*c;
                let items = &c.items[..c.len];
                let (last, rest) = items.split_last().expect("a listed buffer is never empty");
                local.push_all(rest);
                *last
            })
        };
        give_back(buf);
        Some(last)
    }
}

#[cfg(all(test, not(gc_loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_head_keeps_the_pointer_and_its_tag_apart() {
        let addr = 0x7fff_ffff_ffc0usize; // the highest 64-byte-aligned user address
        for tag in [0u64, 1, TAG_MASK - 1, TAG_MASK] {
            let h = pack(addr, tag);
            assert_eq!(unpack(h), addr);
            assert_eq!(h & TAG_MASK, tag);
        }
        assert_eq!(
            pack(addr, TAG_MASK + 1) & TAG_MASK,
            0,
            "the tag wraps in its bits"
        );
        assert_eq!(unpack(pack(0, 5)), 0);
        assert_eq!(TAG_BITS, 22);
        assert_eq!(std::mem::size_of::<Buf>(), 2048);
        assert_eq!(std::mem::align_of::<Buf>(), 1 << ALIGN_BITS);
    }

    /// A stack of the test's own buffers (the global spares are the running collector's,
    /// which `trim` may free after any cycle of another test).
    #[test]
    fn a_stack_hands_back_what_it_was_given_last_first() {
        let stack = Stack::new();
        assert!(stack.is_empty());
        let bufs: Vec<*mut Buf> = (0..3)
            .map(|i| {
                Box::into_raw(Box::new(Buf {
                    next: AtomicUsize::new(0),
                    contents: UnsafeCell::new(Contents {
                        len: i,
                        items: [0; BUF_ITEMS],
                    }),
                }))
            })
            .collect();
        for &b in &bufs {
            stack.push(b);
        }
        assert!(!stack.is_empty());
        for &b in bufs.iter().rev() {
            assert_eq!(stack.pop(), Some(b));
        }
        assert_eq!(stack.pop(), None);
        assert!(stack.is_empty());
        for b in bufs {
            // SAFETY: made by `Box::into_raw` above and popped back: ours alone.
            drop(unsafe { Box::from_raw(b) });
        }
    }
}
