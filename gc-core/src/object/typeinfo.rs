//! Where `Gc::new` puts an object (its `Placement`: span class, tiny or large, chosen by the
//! allocator's `sizeclass::placement`) and the descriptor of its type
//! (`crate::descriptor::TypeInfo`), both computed at compile time: one static descriptor
//! per type. Pure constants, no shared state. See the collector overview in `crate::gc`.

pub(crate) use crate::alloc::sizeclass::{placement, Placement};
use crate::alloc::PAGE_SIZE;
pub(crate) use crate::descriptor::{TypeInfo, PLAIN};
use crate::gc::{Request, Tracer};
use crate::Trace;
use std::marker::PhantomData;

/// Compile-time facts about `T`.
pub(crate) struct Layout<T>(PhantomData<T>);

impl<T: Trace> Layout<T> {
    /// The descriptor stored in the span.
    pub(crate) const INFO: TypeInfo = TypeInfo {
        trace: trace_erased::<T>,
        drop: if std::mem::needs_drop::<T>() {
            Some(drop_erased::<T>)
        } else {
            None
        },
        user_drop: T::DROP_RUNS_USER_CODE,
        name: std::any::type_name::<T>,
    };

    /// True if the type neither holds a `Gc` nor needs dropping.
    pub(crate) const PLAIN: bool = !T::NEEDS_TRACE && !std::mem::needs_drop::<T>();

    /// Where objects of this type go.
    pub(crate) const PLACEMENT: Placement = {
        let align = std::mem::align_of::<T>();
        assert!(
            align <= PAGE_SIZE,
            "gc_core: types aligned above 8 KiB are not supported"
        );
        placement(
            std::mem::size_of::<T>(),
            align,
            Self::PLAIN,
            !T::NEEDS_TRACE,
        )
    };

    /// What `mallocgc` allocates for a `T`.
    pub(crate) const REQUEST: Request = Request {
        placement: Self::PLACEMENT,
        size: std::mem::size_of::<T>(),
        align: std::mem::align_of::<T>(),
        noscan: !T::NEEDS_TRACE,
        info: if Self::PLAIN { &PLAIN } else { Self::INFO_REF },
    };

    const INFO_REF: &'static TypeInfo = &Self::INFO;
}

/// # Safety
///
/// `p` is the address of a live, initialised `T`.
unsafe fn trace_erased<T: Trace>(p: *const u8, t: &mut Tracer) {
    // SAFETY: the collector calls this only with the address of a live `T` (the descriptor
    // was recorded for this slot when the `T` was written).
    unsafe { (*p.cast::<T>()).trace(t) }
}

/// # Safety
///
/// `p` is the address of an initialised `T` that nothing will use again.
unsafe fn drop_erased<T>(p: *mut u8) {
    // SAFETY: the sweeper calls this once, on the address of an unreachable `T`.
    unsafe { std::ptr::drop_in_place(p.cast::<T>()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::sizeclass::{SpanClass, CLASSES};

    #[repr(align(64))]
    struct Aligned64(#[allow(dead_code)] [u8; 64 * 3]);
    // SAFETY: no Gc inside.
    unsafe impl Trace for Aligned64 {
        const NEEDS_TRACE: bool = false;
        fn trace(&self, _: &mut Tracer) {}
        unsafe fn root(&mut self) {}
        unsafe fn unroot(&mut self) {}
    }

    /// A type with a hand-written `Drop` and a hand-written `Trace` (default
    /// `DROP_RUNS_USER_CODE`).
    struct Aligned64Drop;
    impl Drop for Aligned64Drop {
        fn drop(&mut self) {}
    }
    // SAFETY: no Gc inside.
    unsafe impl Trace for Aligned64Drop {
        const NEEDS_TRACE: bool = false;
        fn trace(&self, _: &mut Tracer) {}
        unsafe fn root(&mut self) {}
        unsafe fn unroot(&mut self) {}
    }

    #[test]
    fn placement_follows_size_traceability_and_alignment() {
        assert_eq!(Layout::<u8>::PLACEMENT, Placement::Tiny);
        assert_eq!(Layout::<u64>::PLACEMENT, Placement::Tiny);
        assert_eq!(
            Layout::<[u64; 2]>::PLACEMENT,
            Placement::Small(SpanClass::new(2, true))
        );
        // String needs Drop: never tiny.
        assert_eq!(
            Layout::<String>::PLACEMENT,
            Placement::Small(SpanClass::new(3, true))
        );
        assert_eq!(Layout::<[u8; 40_000]>::PLACEMENT, Placement::Large);
        // 192 bytes, 64-aligned: class 192 is a multiple of 64, so slots are aligned.
        match Layout::<Aligned64>::PLACEMENT {
            Placement::Small(sc) => assert_eq!(CLASSES[sc.size_class()].size % 64, 0),
            p => panic!("{p:?}"),
        }
        assert!(std::ptr::eq(Layout::<u32>::REQUEST.info, &PLAIN));
        assert!(Layout::<String>::REQUEST.info.drop.is_some());
        // Only user code is dropped outside the collector (`Trace` obligation 6).
        assert!(!Layout::<String>::REQUEST.info.user_drop);
        assert!(
            !Layout::<(Option<crate::Gc<u8>>, Vec<String>)>::REQUEST
                .info
                .user_drop
        );
        assert!(Layout::<Box<Aligned64Drop>>::REQUEST.info.user_drop);
    }
}
