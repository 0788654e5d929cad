//! `Trace` for the bytes crate's buffers (feature `bytes`): `Bytes` and `BytesMut` hold no
//! `Gc`, so both are leaves, never scanned.
//!
//! `Bytes::from_owner` keeps an arbitrary owner alive and drops it with the last `Bytes`
//! that shares it: that drop is user code (obligation 6 of `Trace`), so an object holding a
//! `Bytes` is dropped outside the collector, like one with a hand-written `Drop`.
//! `BytesMut` only ever owns a `Vec<u8>` (alone or shared): dropped in place.

use crate::object::trace::leaf_trace;
use ::bytes::{Bytes, BytesMut};

leaf_trace!(generic [] Bytes, drop true);
leaf_trace!(BytesMut);
