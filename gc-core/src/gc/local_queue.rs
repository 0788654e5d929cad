//! A drainer's local grey queue (`mark.rs`, module header): where its tracer's buffer
//! overflows and what the shared lists' buffers are unpacked into. LIFO either way.
//!
//! - A background worker's is a crossbeam-deque `Worker`: the other workers steal from it,
//!   and the coordinator empties it when the round settles (`workers.rs`).
//! - An assist's is private: a vector its thread keeps from one assist to the next
//!   (`assist.rs`), which grows to the largest assist's need and never shrinks, so an
//!   allocating thread neither allocates nor frees here in the steady state, and never
//!   pins crossbeam's epoch (whose collection ran other threads' deferred `free`s of
//!   deque buffers on the mutator, behind their `malloc` arena locks). Nobody steals from
//!   it: an assist hands everything left to the shared list before it returns.
//!
//! Shared fields: a worker's deque is crossbeam's; a private queue is one thread's (a
//! `RefCell`, never borrowed across a call out). See the collector overview
//! (`crate::design::collector`).

use crossbeam_deque::{Steal, Stealer, Worker};
use std::cell::RefCell;

/// A drainer's local grey queue.
pub(crate) enum LocalQueue {
    /// A background worker's, which others steal from.
    Shared(Worker<usize>),
    /// An assist's, its thread's alone.
    Private(RefCell<Vec<usize>>),
}

impl LocalQueue {
    /// A background worker's queue.
    pub(crate) fn shared() -> LocalQueue {
        LocalQueue::Shared(Worker::new_lifo())
    }

    /// An assist's queue.
    pub(crate) fn private() -> LocalQueue {
        LocalQueue::Private(RefCell::new(Vec::new()))
    }

    /// Pushes every item of `items`, in order (the last is popped first).
    pub(crate) fn push_all(&self, items: &[usize]) {
        match self {
            LocalQueue::Shared(w) => items.iter().for_each(|&item| w.push(item)),
            LocalQueue::Private(v) => v.borrow_mut().extend_from_slice(items),
        }
    }

    #[inline]
    pub(crate) fn pop(&self) -> Option<usize> {
        match self {
            LocalQueue::Shared(w) => w.pop(),
            LocalQueue::Private(v) => v.borrow_mut().pop(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            LocalQueue::Shared(w) => w.len(),
            LocalQueue::Private(v) => v.borrow().len(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Gives back a private queue's memory beyond `max` items (an assist that met a wide
    /// object may have grown it far beyond what the next needs).
    pub(crate) fn shrink_to(&self, max: usize) {
        if let LocalQueue::Private(v) = self {
            v.borrow_mut().shrink_to(max);
        }
    }

    /// A handle other workers steal through. Only a worker's queue has one.
    pub(crate) fn stealer(&self) -> Stealer<usize> {
        match self {
            LocalQueue::Shared(w) => w.stealer(),
            LocalQueue::Private(_) => unreachable!("an assist's queue is not stolen from"),
        }
    }

    /// Steals a batch from another worker's queue into this one, returning one item.
    pub(crate) fn steal_batch_and_pop(&self, from: &Stealer<usize>) -> Steal<usize> {
        match self {
            LocalQueue::Shared(w) => from.steal_batch_and_pop(w),
            LocalQueue::Private(_) => from.steal(),
        }
    }

    /// Pops up to `out.len()` items into `out`; returns how many.
    pub(crate) fn pop_into(&self, out: &mut [usize]) -> usize {
        let mut n = 0;
        while n < out.len() {
            let Some(item) = self.pop() else { break };
            out[n] = item;
            n += 1;
        }
        n
    }
}
