//! `heap_profile()`: live objects and bytes per type, as of the last mark whose sweep has
//! completed. The census itself is taken by the sweeps (`crate::alloc::live_types`); this
//! module merges it by type name and sorts it. No lock of the collector is taken and the
//! world is never stopped: one short-held mutex (an `Arc` clone). See the collector
//! overview (`crate::design::collector`) for the cycle.

/// Live objects of one type (one entry of [`heap_profile`](crate::heap_profile)).
///
/// # Examples
///
/// ```
/// let _keep: Vec<_> = (0..5).map(|_| gc_core::Gc::new(String::from("s"))).collect();
/// gc_core::collect();
/// let strings = gc_core::heap_profile()
///     .into_iter()
///     .find(|t| t.type_name == "alloc::string::String")
///     .unwrap();
/// assert_eq!(strings.objects, 5);
/// assert!(strings.bytes >= 5 * 24);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct TypeStats {
    /// `std::any::type_name` of the objects' type (`[T]` for `Gc<[T]>` slices), or one of
    /// the buckets for objects whose type the heap does not record:
    /// [`TypeStats::PLAIN_DATA`] and [`TypeStats::TINY_BLOCKS`] (see [`heap_profile`](crate::heap_profile)).
    pub type_name: &'static str,
    /// Objects of the type marked by the last completed mark.
    pub objects: u64,
    /// Their bytes, counted as the heap does: the size class of each object (the whole
    /// span of a large object), as `MemStats::heap_alloc` counts them.
    pub bytes: u64,
}

impl TypeStats {
    /// Bucket name for objects with no `Gc` inside and no drop glue (numbers, byte arrays,
    /// `[u8]` slices...): they share one descriptor, which names no type.
    ///
    /// # Examples
    ///
    /// ```
    /// let _keep: Vec<_> = (0..10u64).map(|i| gc_core::Gc::new([i; 8])).collect(); // no Gc, no drop
    /// gc_core::collect();
    /// let plain = gc_core::heap_profile()
    ///     .into_iter()
    ///     .find(|t| t.type_name == gc_core::TypeStats::PLAIN_DATA)
    ///     .unwrap();
    /// assert!(plain.objects >= 10);
    /// ```
    pub const PLAIN_DATA: &'static str = "<plain data>";

    /// Bucket name for the 16-byte size class of plain data: the tiny allocator's 16-byte
    /// blocks (each counted as one object, whatever number of values under 16 bytes it
    /// holds) and plain values of 9 to 16 bytes, which the heap cannot tell apart.
    ///
    /// # Examples
    ///
    /// ```
    /// let _keep: Vec<_> = (0..100u8).map(gc_core::Gc::new).collect(); // 1-byte values share blocks
    /// gc_core::collect();
    /// let tiny = gc_core::heap_profile()
    ///     .into_iter()
    ///     .find(|t| t.type_name == gc_core::TypeStats::TINY_BLOCKS)
    ///     .unwrap();
    /// assert!(tiny.objects >= 100 / 16);
    /// ```
    pub const TINY_BLOCKS: &'static str = "<tiny blocks and 16-byte plain data>";
}

/// `crate::heap_profile`.
pub(crate) fn heap_profile() -> Vec<TypeStats> {
    crate::alloc::live_types::enable();
    // No complete census since the census was turned on (by this call, or by a concurrent
    // first call whose collection has not finished yet): a full collection takes one.
    let census = crate::alloc::live_types::snapshot().or_else(|| {
        super::collect();
        crate::alloc::live_types::snapshot()
    });
    let Some(census) = census else {
        return Vec::new();
    };
    let mut out: Vec<TypeStats> = Vec::with_capacity(census.len());
    for &(ty, objects, bytes) in census.iter() {
        let type_name = (ty.name)();
        out.push(TypeStats {
            type_name,
            objects,
            bytes,
        });
    }
    // One type may have several descriptors (module header of `alloc::live_types`): merge.
    out.sort_unstable_by(|a, b| a.type_name.cmp(b.type_name));
    out.dedup_by(|later, kept| {
        if later.type_name == kept.type_name {
            kept.objects += later.objects;
            kept.bytes += later.bytes;
            true
        } else {
            false
        }
    });
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.type_name.cmp(b.type_name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Gc, Trace, Tracer};

    /// Not plain data (a `String` has drop glue), so it has a descriptor with its name.
    struct ProfiledUnitLeaf(#[allow(dead_code)] String);
    // SAFETY: holds no `Gc` (the derive is not usable inside gc-core itself).
    unsafe impl Trace for ProfiledUnitLeaf {
        fn needs_trace() -> bool {
            false
        }
        fn trace(&self, _: &mut Tracer) {}
        unsafe fn root(&mut self) {}
        unsafe fn unroot(&mut self) {}
    }

    #[test]
    fn bucket_names_match_the_descriptors() {
        assert_eq!((crate::descriptor::PLAIN.name)(), TypeStats::PLAIN_DATA);
        assert_eq!(
            (crate::alloc::live_types::TINY_BLOCKS.name)(),
            TypeStats::TINY_BLOCKS
        );
    }

    #[test]
    fn counts_kept_objects_and_is_sorted() {
        let kept: Vec<_> = (0..100)
            .map(|i| Gc::new(ProfiledUnitLeaf(i.to_string())))
            .collect();
        crate::collect();
        let p = heap_profile();
        let name = std::any::type_name::<ProfiledUnitLeaf>();
        let mine = p.iter().find(|t| t.type_name == name).expect("listed");
        // Other unit tests allocate concurrently, but not this type.
        assert_eq!(mine.objects, 100);
        assert_eq!(mine.bytes % 100, 0);
        assert!(p.windows(2).all(|w| w[0].bytes >= w[1].bytes));
        let mut names: Vec<_> = p.iter().map(|t| t.type_name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), p.len(), "one entry per name");
        drop(kept);
        crate::collect();
        assert!(heap_profile().iter().all(|t| t.type_name != name));
    }
}
