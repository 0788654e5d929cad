//! Where `Gc::new` puts an object (its `Placement`: span class, tiny or large, chosen by the
//! allocator's `sizeclass::placement`) and the descriptor of its type
//! (`crate::descriptor::TypeInfo`), both computed at compile time: the candidates are
//! constants, and `Layout::request` picks one with `T`'s constant-folded `Trace` answers.
//! Pure constants, no shared state. See the collector overview (`crate::design::collector`).

pub(crate) use crate::alloc::sizeclass::{placement, Placement};
use crate::alloc::PAGE_SIZE;
pub(crate) use crate::descriptor::{TypeInfo, PLAIN};
use crate::gc::{Request, Tracer};
use crate::Trace;
use std::marker::PhantomData;

/// Compile-time facts about `T`.
///
/// `Trace::needs_trace` and `Trace::drop_runs_user_code` are functions (so that `Trace`
/// stays dyn-compatible), and a constant cannot call them. So every candidate is a
/// constant: the placement of a scanned and of a noscan `T`, the descriptor with user drop
/// code, with runtime drop glue, and with none to run on garbage, and the six requests
/// they combine into. [`Layout::request`] picks one with the three function results
/// (`garbage_drop_is_noop_at` too); all are `#[inline(always)]` constant expressions, so in an optimised build the choice folds away and `Gc::new` reads one
/// constant request, as when the facts were constants themselves.
pub(crate) struct Layout<T>(PhantomData<T>);

impl<T: Trace> Layout<T> {
    /// The descriptor stored in the span, for given answers of `drop_runs_user_code` and
    /// `garbage_drop_is_noop` (then the sweeper skips `drop` for garbage in a clean slot).
    const fn info(user_drop: bool, garbage_noop: bool) -> TypeInfo {
        TypeInfo {
            trace: trace_erased::<T>,
            trace_range: None,
            drop: if std::mem::needs_drop::<T>() {
                Some(drop_erased::<T>)
            } else {
                None
            },
            skip_clean_garbage: garbage_noop,
            user_drop,
            name: std::any::type_name::<T>,
        }
    }
    const INFO_USER_DROP: TypeInfo = Self::info(true, false);
    const INFO_RUNTIME_DROP: TypeInfo = Self::info(false, false);
    const INFO_NO_GARBAGE_DROP: TypeInfo = Self::info(false, true);
    const INFO_USER_DROP_REF: &'static TypeInfo = &Self::INFO_USER_DROP;
    const INFO_RUNTIME_DROP_REF: &'static TypeInfo = &Self::INFO_RUNTIME_DROP;
    const INFO_NO_GARBAGE_DROP_REF: &'static TypeInfo = &Self::INFO_NO_GARBAGE_DROP;

    /// Where objects of this type go if they are scanned (`noscan` false) or not.
    const fn placement(noscan: bool) -> Placement {
        let align = std::mem::align_of::<T>();
        assert!(
            align <= PAGE_SIZE,
            "gc_core: types aligned above 8 KiB are not supported"
        );
        // Plain: no `Gc` inside and no drop glue.
        let plain = noscan && !std::mem::needs_drop::<T>();
        placement(std::mem::size_of::<T>(), align, plain, noscan)
    }

    /// What `mallocgc` allocates for a `T`, for given answers of `needs_trace`,
    /// `drop_runs_user_code` and `garbage_drop_is_noop` (ignored when the drop runs user
    /// code: such objects go to the dropper whatever it does).
    const fn candidate(needs_trace: bool, user_drop: bool, garbage_noop: bool) -> Request {
        let plain = !needs_trace && !std::mem::needs_drop::<T>();
        Request {
            placement: Self::placement(!needs_trace),
            size: std::mem::size_of::<T>(),
            align: std::mem::align_of::<T>(),
            noscan: !needs_trace,
            info: if plain {
                &PLAIN
            } else if user_drop {
                Self::INFO_USER_DROP_REF
            } else if garbage_noop {
                Self::INFO_NO_GARBAGE_DROP_REF
            } else {
                Self::INFO_RUNTIME_DROP_REF
            },
        }
    }
    const SCAN_USER_DROP: Request = Self::candidate(true, true, false);
    const SCAN_RUNTIME_DROP: Request = Self::candidate(true, false, false);
    const SCAN_NO_GARBAGE_DROP: Request = Self::candidate(true, false, true);
    const NOSCAN_USER_DROP: Request = Self::candidate(false, true, false);
    const NOSCAN_RUNTIME_DROP: Request = Self::candidate(false, false, false);
    const NOSCAN_NO_GARBAGE_DROP: Request = Self::candidate(false, false, true);

    /// What `mallocgc` allocates for a `T`: one of the six constant candidates, chosen by
    /// `T`'s `Trace` answers (constant-folded in optimised builds).
    #[inline(always)]
    pub(crate) fn request() -> &'static Request {
        match (
            T::needs_trace(),
            T::drop_runs_user_code(),
            T::garbage_drop_is_noop_at(0),
        ) {
            (true, true, _) => &Self::SCAN_USER_DROP,
            (true, false, false) => &Self::SCAN_RUNTIME_DROP,
            (true, false, true) => &Self::SCAN_NO_GARBAGE_DROP,
            (false, true, _) => &Self::NOSCAN_USER_DROP,
            (false, false, false) => &Self::NOSCAN_RUNTIME_DROP,
            (false, false, true) => &Self::NOSCAN_NO_GARBAGE_DROP,
        }
    }
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
/// `p` is the address of an initialised `T` that nothing will use again: garbage, in the
/// heap's edge state.
unsafe fn drop_erased<T: Trace>(p: *mut u8) {
    // SAFETY: the sweeper (or the dropper, on the moved copy) calls this once, on the
    // address of an unreachable `T`; its key handles must not touch their counts when
    // dropped ("Keys" in the `Trace` docs).
    unsafe {
        let v = &mut *p.cast::<T>();
        if T::holds_keys_at(0) {
            v.forget_edges();
        }
        std::ptr::drop_in_place(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::sizeclass::{SpanClass, CLASSES};

    #[repr(align(64))]
    struct Aligned64(#[allow(dead_code)] [u8; 64 * 3]);
    // SAFETY: no Gc inside.
    unsafe impl Trace for Aligned64 {
        fn needs_trace() -> bool {
            false
        }
        fn trace(&self, _: &mut Tracer) {}
        unsafe fn root(&mut self) {}
        unsafe fn unroot(&mut self) {}
    }

    /// A type with a hand-written `Drop` and a hand-written `Trace` (default
    /// `drop_runs_user_code`).
    struct Aligned64Drop;
    impl Drop for Aligned64Drop {
        fn drop(&mut self) {}
    }
    // SAFETY: no Gc inside.
    unsafe impl Trace for Aligned64Drop {
        fn needs_trace() -> bool {
            false
        }
        fn trace(&self, _: &mut Tracer) {}
        unsafe fn root(&mut self) {}
        unsafe fn unroot(&mut self) {}
    }

    #[test]
    fn garbage_made_only_of_edges_has_no_drop_to_run() {
        use crate::{Gc, GcCell};
        /// Whether the sweeper runs the drop glue of garbage in a clean slot.
        fn drops<T: Trace>() -> bool {
            let info = Layout::<T>::request().info;
            info.drop.is_some() && !info.skip_clean_garbage
        }
        // Edges in place (cells in edge state included: a rooted cell keeps its slot
        // dirty): dropping them as garbage does nothing, so the sweeper skips it.
        assert!(!drops::<Option<Gc<u8>>>());
        assert!(!drops::<[Option<Gc<u8>>; 3]>());
        assert!(!drops::<(Gc<u8>, u64, Option<Gc<String>>)>());
        assert!(!drops::<GcCell<Option<Gc<u8>>>>());
        assert!(!drops::<(GcCell<Gc<u8>>, [GcCell<Option<Gc<u8>>>; 2])>());
        // A dirty slot's glue runs whatever the type says.
        assert!(Layout::<GcCell<Option<Gc<u8>>>>::request()
            .info
            .drop
            .is_some());
        // Memory of their own (cells outside the slot too), a hand-written drop: they run.
        assert!(drops::<Vec<Gc<u8>>>());
        assert!(drops::<Option<Box<Gc<u8>>>>());
        assert!(drops::<Vec<GcCell<Option<Gc<u8>>>>>());
        assert!(drops::<GcCell<Vec<Gc<u8>>>>());
        assert!(drops::<(Gc<u8>, String)>());
        assert!(Layout::<Aligned64Drop>::request().info.user_drop);
    }

    #[test]
    fn placement_follows_size_traceability_and_alignment() {
        assert_eq!(Layout::<u8>::request().placement, Placement::Tiny);
        assert_eq!(Layout::<u64>::request().placement, Placement::Tiny);
        assert_eq!(
            Layout::<[u64; 2]>::request().placement,
            Placement::Small(SpanClass::new(2, true))
        );
        // String needs Drop: never tiny.
        assert_eq!(
            Layout::<String>::request().placement,
            Placement::Small(SpanClass::new(3, true))
        );
        assert_eq!(
            Layout::<[u8; 40_000]>::request().placement,
            Placement::Large
        );
        // 192 bytes, 64-aligned: class 192 is a multiple of 64, so slots are aligned.
        match Layout::<Aligned64>::request().placement {
            Placement::Small(sc) => assert_eq!(CLASSES[sc.size_class()].size % 64, 0),
            p => panic!("{p:?}"),
        }
        assert!(std::ptr::eq(Layout::<u32>::request().info, &PLAIN));
        assert!(Layout::<String>::request().info.drop.is_some());
        // Only user code is dropped outside the collector (`Trace` obligation 6).
        assert!(!Layout::<String>::request().info.user_drop);
        assert!(
            !Layout::<(Option<crate::Gc<u8>>, Vec<String>)>::request()
                .info
                .user_drop
        );
        assert!(Layout::<Box<Aligned64Drop>>::request().info.user_drop);
    }
}
