//! The shared grey lists (`gc/grey_list.rs`): threads push buffers onto one list and pop
//! them back while another does the same, through the lock-free stacks of full and spare
//! buffers, with loom choosing every interleaving of their loads and compare-and-swaps.
//! Checks that every item comes back exactly once, so that a popped buffer is never
//! handed to two owners (a lost or doubled item would show it), and, through the buffers'
//! `UnsafeCell`, that a buffer's items are published by its push. Without the heads' tags
//! `loom_grey_list_aba` fails; with a relaxed push, `loom_grey_list_push_pop_race` does.

use super::model;
use super::thread;
use crate::gc::grey_list::GreyList;
use crate::gc::local_queue::LocalQueue;
use crate::sync::Arc;

/// Everything one `pop_into` handed over: the item returned and those left in `local`.
fn take_one(list: &GreyList) -> Vec<usize> {
    let local = LocalQueue::private();
    let mut got: Vec<usize> = list.pop_into(&local).into_iter().collect();
    while let Some(x) = local.pop() {
        got.push(x);
    }
    got
}

#[test]
fn loom_grey_list_push_pop_race() {
    model(|| {
        let list = Arc::new(GreyList::new());
        let other = {
            let list = Arc::clone(&list);
            thread::spawn(move || {
                list.push_items(&[8, 16]);
                take_one(&list)
            })
        };
        list.push_items(&[24]);
        let mut seen = take_one(&list);
        seen.extend(other.join().unwrap());
        // What neither took is still listed.
        while !list.is_empty() {
            seen.extend(take_one(&list));
        }
        seen.sort_unstable();
        assert_eq!(seen, [8, 16, 24], "an item was lost or handed out twice");
    });
}

/// The ABA case: while one thread is between reading the top buffer's link and its
/// compare-and-swap, another pops that buffer and the one below, and pushes buffers back
/// (the spares make it the same top address again). Without the head's tag the stale
/// compare-and-swap would succeed and list a buffer its owner still writes.
#[test]
fn loom_grey_list_aba() {
    model(|| {
        let list = Arc::new(GreyList::new());
        list.push_items(&[8]);
        list.push_items(&[16]);
        let other = {
            let list = Arc::clone(&list);
            thread::spawn(move || take_one(&list))
        };
        let mut seen = take_one(&list);
        seen.extend(take_one(&list));
        list.push_items(&[24]);
        list.push_items(&[32]);
        seen.extend(other.join().unwrap());
        while !list.is_empty() {
            seen.extend(take_one(&list));
        }
        seen.sort_unstable();
        assert_eq!(
            seen,
            [8, 16, 24, 32],
            "an item was lost or handed out twice"
        );
    });
}
