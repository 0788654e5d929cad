//! `Trace` for arrayvec's types (feature `arrayvec`): `ArrayVec` is a container like `Vec`
//! (its live elements are visited), `ArrayString` a leaf like `String`.

use crate::object::trace::{container_trace, leaf_trace};
use crate::Trace;
use ::arrayvec::{ArrayString, ArrayVec};

container_trace! {
    [T: Trace, const CAP: usize] ArrayVec<T, CAP>, T, |s| s.iter(), |m| m.iter_mut();
}

leaf_trace!(generic [const CAP: usize] ArrayString<CAP>);
