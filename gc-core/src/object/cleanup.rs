//! Cleanups (Go 1.24's `runtime.AddCleanup`): a closure that runs once, on a runtime
//! thread, after an object has become unreachable; the supported answer to "I need a
//! finalizer".
//!
//! The collector keeps the closure with the object's specials (`crate::gc`'s
//! `specials.rs`) and, at the mark termination that finds the object unmarked, hands it to
//! the dropper, which runs it outside every GC operation: it may block, allocate, panic
//! (reported and swallowed) or call any public function. No shared state of its own. See
//! the collector overview (`crate::design::collector`).

use super::gc::Gc;
use crate::gc;
use std::any::Any;

/// A cleanup attached to an object by [`Gc::add_cleanup`]. Dropping it does not cancel the
/// cleanup (as in Go); [`stop`](Cleanup::stop) does.
///
/// # Examples
///
/// ```
/// use gc_core::Gc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
///
/// let ran = Arc::new(AtomicBool::new(false));
/// let object = Gc::new([0u8; 64]);
/// let flag = ran.clone();
/// let c: gc_core::Cleanup = Gc::add_cleanup(&object, (), move |()| flag.store(true, Ordering::SeqCst));
/// drop(c); // dropping the handle does not cancel the cleanup (as in Go)
/// drop(object);
/// gc_core::collect();
/// assert!(ran.load(Ordering::SeqCst));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cleanup {
    addr: usize,
    id: u64,
}

impl<T: ?Sized + 'static> Gc<T> {
    /// Runs `f(arg)` once, on a runtime thread, after this handle's object has become
    /// unreachable (Go's `runtime.AddCleanup`).
    ///
    /// `arg` must not keep the object alive: a `Gc` to it inside `arg` (or inside anything
    /// `arg` owns) is a root, so the object would never become unreachable and `f` would
    /// never run. Passing the handle itself as `arg` panics. `f` itself must not capture a
    /// handle to the object either. A panic in `f` is reported on stderr and swallowed.
    ///
    /// ```
    /// use gc_core::Gc;
    /// use std::sync::atomic::{AtomicU32, Ordering};
    /// use std::sync::Arc;
    ///
    /// let closed = Arc::new(AtomicU32::new(0));
    /// let file = Gc::new(42u64); // stands for an object owning an OS resource
    /// Gc::add_cleanup(&file, (7, closed.clone()), |(fd, closed): (i32, Arc<AtomicU32>)| {
    ///     assert_eq!(fd, 7); // close(fd)
    ///     closed.fetch_add(1, Ordering::SeqCst);
    /// });
    /// drop(file);
    /// gc_core::collect(); // finds it unreachable; `collect` runs the queued cleanups
    /// assert_eq!(closed.load(Ordering::SeqCst), 1);
    /// ```
    pub fn add_cleanup<A: Send + 'static>(
        this: &Gc<T>,
        arg: A,
        f: impl FnOnce(A) + Send + 'static,
    ) -> Cleanup {
        let addr = Gc::as_ptr(this).cast::<u8>() as usize;
        if let Some(g) = (&arg as &dyn Any).downcast_ref::<Gc<T>>() {
            assert!(
                Gc::as_ptr(g).cast::<u8>() as usize != addr,
                "Gc::add_cleanup: the argument is a handle to the object itself, which would keep it alive for ever"
            );
        }
        // The handle's root keeps the object alive while the cleanup is attached.
        let id = gc::add_cleanup(addr, Box::new(move || f(arg)));
        Cleanup { addr, id }
    }
}

impl Cleanup {
    /// Cancels the cleanup if it has not been queued to run yet (Go's `Cleanup.Stop`);
    /// returns whether it was cancelled. Its closure and argument are dropped here.
    ///
    /// # Examples
    ///
    /// ```
    /// use gc_core::Gc;
    ///
    /// let object = Gc::new(1u64);
    /// let c = Gc::add_cleanup(&object, (), |()| panic!("stopped: never runs"));
    /// assert!(c.stop()); // cancelled before the object died
    /// assert!(!c.stop()); // once only
    /// drop(object);
    /// gc_core::collect();
    /// ```
    pub fn stop(&self) -> bool {
        gc::stop_cleanup(self.addr, self.id)
    }
}
