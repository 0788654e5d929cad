//! Model-free walks over the engine's graph (`node.rs`), every node checked with
//! `check_node` and every `GcCell` edge against the id it expects: the racy mix
//! (`racy.rs`, `racy_run.rs`: its walks and the final full walk) and
//! `tests/concurrent_mutation.rs` (its moved-handles workload) use them. The walks checked
//! against the model are in `checkpoint.rs`.

use super::node::{check_edge, check_node, Node};
use gc_core::Gc;
use std::collections::HashSet;

/// All out-edges of `n` (as rooted handles), checked.
pub fn neighbours(n: &Gc<Node>) -> Result<Vec<Gc<Node>>, String> {
    let mut out: Vec<Gc<Node>> = Vec::new();
    for e in n.kids.borrow().iter() {
        check_edge(e)?;
        out.push(e.to.clone());
    }
    if let Some(e) = n.slot.borrow().as_ref() {
        check_edge(e)?;
        out.push(e.to.clone());
    }
    for a in [&n.left, &n.right] {
        if let Some(x) = a.load() {
            check_node(&x, None)?;
            out.push(x);
        }
    }
    Ok(out)
}

/// Checks `n` and what its `GcCell` edges hold, by reference only: cloning a handle roots
/// it, and rooting while a mark runs shades the object, which would hide a missing barrier.
/// (`AtomicGc` has no such read: its targets are checked through `load`.) Returns how many
/// cell edges it checked.
pub fn verify_in_place(n: &Gc<Node>, expect: Option<u64>) -> Result<usize, String> {
    check_node(n, expect)?;
    let mut count = 0;
    for e in n.kids.borrow().iter() {
        check_edge(e)?;
        count += 1;
    }
    if let Some(e) = n.slot.borrow().as_ref() {
        check_edge(e)?;
        count += 1;
    }
    Ok(count)
}

/// Depth-first walk from `starts`, checking every node; at most `limit` nodes. Returns the
/// nodes seen (each once).
pub fn walk_all(starts: Vec<Gc<Node>>, limit: usize) -> Result<Vec<Gc<Node>>, String> {
    let mut seen = HashSet::new();
    let mut stack = starts;
    let mut out = Vec::new();
    while let Some(n) = stack.pop() {
        if out.len() >= limit {
            break;
        }
        if !seen.insert(Gc::as_ptr(&n) as usize) {
            continue;
        }
        check_node(&n, None)?;
        stack.extend(neighbours(&n)?);
        out.push(n);
    }
    Ok(out)
}

/// [`walk_all`] from one node.
pub fn walk(start: &Gc<Node>, limit: usize) -> Result<Vec<Gc<Node>>, String> {
    walk_all(vec![start.clone()], limit)
}
