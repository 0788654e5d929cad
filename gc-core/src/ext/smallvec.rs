//! `Trace` for smallvec's `SmallVec` (feature `smallvec`): a container like `Vec`, whether
//! its elements sit inline or on the heap.

use crate::object::trace::container_trace;
use crate::Trace;
use ::smallvec::{Array, SmallVec};

container_trace! {
    [A: Array<Item = T>, T: Trace] SmallVec<A>, T, |s| s.iter(), |m| m.iter_mut();
}
