//! Unit tests of `cell_lock.rs`: the word's protocol, leaked guards, the collector's hold,
//! and the bias (counted owner reads, revocation by readers and writers, the collector).

use super::*;
use crate::gc;
use std::sync::Arc;

#[test]
fn readers_share_writers_exclude() {
    let l = CellLock::new(0);
    let r1 = l.try_read().unwrap();
    let r2 = l.try_read().unwrap();
    assert!(l.try_write().is_none());
    l.read_unlock(r1);
    l.read_unlock(r2);
    let w = l.try_write().unwrap();
    assert!(l.try_read().is_none());
    assert!(l.try_write().is_none());
    l.write_unlock(w);
    let r = l.try_read().unwrap();
    l.read_unlock(r);
}

#[test]
fn blocked_threads_wake_and_counter_is_exact() {
    struct Shared {
        lock: CellLock,
        value: std::cell::UnsafeCell<u64>,
    }
    // SAFETY: `value` is only touched under `lock`.
    unsafe impl Sync for Shared {}
    let s = Arc::new(Shared {
        lock: CellLock::new(0),
        value: std::cell::UnsafeCell::new(0),
    });
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || {
                for i in 0..20_000 {
                    if i % 4 == 0 {
                        let r = s.lock.read();
                        // SAFETY: read lock held.
                        let _ = unsafe { *s.value.get() };
                        s.lock.read_unlock(r);
                    } else {
                        let w = s.lock.write();
                        // SAFETY: write lock held.
                        unsafe { *s.value.get() += 1 };
                        s.lock.write_unlock(w);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    // SAFETY: all threads joined.
    assert_eq!(unsafe { *s.value.get() }, 4 * 15_000);
}

#[test]
#[cfg(debug_assertions)] // the reader hook exists in debug builds only
fn users_stop_at_the_reader_cap_the_marker_does_not() {
    let mut l = CellLock::new(0);
    l.add_readers_for_test(USER_READERS - 1);
    let last = l.try_read().expect("the last user reader below the cap");
    assert!(l.try_read().is_none(), "a user reader past the cap");
    let err = std::panic::catch_unwind(|| l.read()).expect_err("read past the cap");
    let msg = err
        .downcast_ref::<String>()
        .expect("a formatted panic message");
    assert!(msg.contains("GcCell reader count overflow"), "{msg}");
    for _ in 0..1000 {
        assert!(
            l.try_read_marker(),
            "the marker reads whatever users leaked"
        );
    }
    for _ in 0..1000 {
        l.read_unlock_marker();
    }
    assert_eq!(l.state.load(Ordering::Relaxed), USER_READERS);
    assert!(l.try_write().is_none());
    l.read_unlock(last);
    l.reset();
    let r = l.try_read().unwrap();
    l.read_unlock(r);
}

fn panic_message(f: impl FnOnce()) -> String {
    let err =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).expect_err("expected a panic");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Makes a free `l`'s reads go on the word, as on a cell whose bias was revoked (until the
/// next reset).
fn on_the_word(l: &CellLock) {
    l.state.store(REVOKED, Ordering::Relaxed);
}

#[test]
fn own_conflicts_panic_and_reset_or_drop_forgets_leaked_records() {
    let mut l = CellLock::new(0);
    on_the_word(&l);
    let key = l.key();
    l.read(); // a leaked read guard
    assert!(cell_held::holds_read(key));
    assert!(panic_message(|| {
        l.write();
    })
    .contains("already borrowed"));
    let r = l.read(); // reads share
    l.read_unlock(r);
    l.reset();
    assert!(!cell_held::holds_read(key), "reset forgets the record");
    on_the_word(&l);
    l.write(); // a leaked write guard
    assert!(panic_message(|| {
        l.read();
    })
    .contains("already mutably borrowed"));
    assert!(panic_message(|| {
        l.write();
    })
    .contains("already borrowed"));
    assert!(
        !cell_held::holds_read(key),
        "the failed read left no record"
    );
    l.reset();
    // The collector's hold is nobody's: no panic here (a user write would wait until
    // it is released).
    let hold = l.try_hold_collector().unwrap();
    l.check_not_held_here();
    assert!(l.try_read().is_none() && l.try_write().is_none());
    assert!(l.try_hold_collector().is_none());
    l.release_collector(hold);
    let key = {
        // Dropped in place (`drop(l)` would move it first: records are by address).
        let l = CellLock::new(0);
        on_the_word(&l);
        l.read(); // leaked, then the lock goes
        l.key()
    };
    assert!(!cell_held::holds_read(key), "drop forgets the record");
}

#[test]
fn reset_forgets_a_leaked_writer() {
    let mut l = CellLock::new(0);
    l.write();
    assert!(l.try_read().is_none() && !l.try_read_marker() && l.try_write().is_none());
    l.reset();
    assert!(l.try_read_marker());
    l.read_unlock_marker();
    let w = l.write();
    l.write_unlock(w);
}

#[test]
fn users_wait_behind_the_collectors_hold_without_losing_a_write_or_a_wakeup() {
    struct Shared {
        lock: CellLock,
        value: std::cell::UnsafeCell<u64>,
        collector_done: std::sync::atomic::AtomicBool,
    }
    // SAFETY: `value` is only touched under `lock`.
    unsafe impl Sync for Shared {}
    let s = Arc::new(Shared {
        lock: CellLock::new(0),
        value: std::cell::UnsafeCell::new(0),
        collector_done: std::sync::atomic::AtomicBool::new(false),
    });
    let (done, finished) = std::sync::mpsc::channel();
    let spawn = |f: Box<dyn FnOnce(&Shared) + Send>| {
        let (s, done) = (s.clone(), done.clone());
        std::thread::spawn(move || {
            f(&s);
            done.send(()).unwrap();
        })
    };
    // The collector takes the cell whenever it is free (and checks, in this debug
    // build, that nobody wrote the word while it held it).
    let mut threads = vec![spawn(Box::new(|s: &Shared| {
        let mut held = 0u32;
        // Until the users are done, and at least once: on a loaded machine this
        // thread may first run after the users finished (then the cell is free).
        while held == 0 || !s.collector_done.load(std::sync::atomic::Ordering::Relaxed) {
            if let Some(hold) = s.lock.try_hold_collector() {
                // SAFETY: the collector's hold excludes every user.
                let _ = unsafe { *s.value.get() };
                s.lock.release_collector(hold);
                held += 1;
            }
        }
    }))];
    for _ in 0..2 {
        threads.push(spawn(Box::new(|s: &Shared| {
            for _ in 0..20_000 {
                let w = s.lock.write();
                // SAFETY: write lock held.
                unsafe { *s.value.get() += 1 };
                s.lock.write_unlock(w);
            }
        })));
    }
    threads.push(spawn(Box::new(|s: &Shared| {
        for _ in 0..20_000 {
            let r = s.lock.read();
            // SAFETY: read lock held.
            let _ = unsafe { *s.value.get() };
            s.lock.read_unlock(r);
        }
    })));
    // Watchdog: a user thread that parked behind the collector and lost its wake-up
    // would never finish.
    for _ in 0..3 {
        finished
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("a user thread hung behind the collector's hold");
    }
    s.collector_done
        .store(true, std::sync::atomic::Ordering::Relaxed);
    for t in threads {
        t.join().expect("no thread panicked");
    }
    // SAFETY: all threads joined.
    assert_eq!(unsafe { *s.value.get() }, 40_000);
}

#[test]
fn try_read_succeeds_while_a_writer_waits_behind_a_reader() {
    let l = Arc::new(CellLock::new(0));
    let parked = l.read(); // a reader parked "in user code"
    let w = {
        let l = l.clone();
        std::thread::spawn(move || {
            let w = l.write();
            l.write_unlock(w);
        })
    };
    // Whatever the writer is doing, a marker-style try_read must get in.
    for _ in 0..1000 {
        let r = l.try_read().unwrap();
        l.read_unlock(r);
    }
    l.read_unlock(parked);
    w.join().unwrap();
}

/// A lock biased to the calling thread, as its first read leaves a cell.
fn biased_here() -> CellLock {
    let l = CellLock::new(0);
    let r = l.read();
    assert!(r.counted, "the first read biases the cell");
    l.read_unlock(r);
    let token = cell_held::token();
    assert_ne!(token, 0);
    assert_eq!(l.state.load(Ordering::Relaxed), BIASED | token);
    l
}

/// Runs `body` until a run overlaps no suspension of biases but the `own` ones it begins
/// itself (a collection's unroot pass, from another test of this process, makes owners
/// read on the word meanwhile), and fails if that run fails.
fn undisturbed(own: u64, body: impl Fn()) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        let before = gc::bias_suspensions();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&body));
        if before.0 == 0 && gc::bias_suspensions() == (0, before.1 + own) {
            if let Err(e) = run {
                std::panic::resume_unwind(e);
            }
            return;
        }
        std::thread::yield_now();
    }
    panic!("biases stayed suspended for 60 s");
}

#[test]
fn the_owner_reads_without_touching_the_word_and_writes_keeping_its_bias() {
    undisturbed(0, || {
        let l = biased_here();
        let word = l.state.load(Ordering::Relaxed);
        let (a, b) = (l.read(), l.try_read().unwrap());
        assert!(a.counted && b.counted);
        assert_eq!(l.reads.load(Ordering::Relaxed), 2);
        assert_eq!(
            l.state.load(Ordering::Relaxed),
            word,
            "no reader on the word"
        );
        assert!(
            !cell_held::holds_read(l.key()),
            "counted reads need no record"
        );
        // Its own counted read stops its write, as a `RefCell`'s would.
        assert!(l.try_write().is_none());
        assert!(panic_message(|| {
            l.write();
        })
        .contains("already borrowed"));
        assert_eq!(
            l.state.load(Ordering::Relaxed),
            word,
            "the failed writes gave it back"
        );
        l.read_unlock(a);
        l.read_unlock(b);
        let w = l.write();
        assert!(l.try_read().is_none());
        assert!(panic_message(|| {
            l.read();
        })
        .contains("already mutably borrowed"));
        l.write_unlock(w);
        assert_eq!(
            l.state.load(Ordering::Relaxed),
            word,
            "the write kept the bias"
        );
        // 255 counted reads, then the word's (the bias goes: the count is a byte).
        let reads: Vec<_> = (0..300).map(|_| l.read()).collect();
        assert_eq!(reads.iter().filter(|r| r.counted).count(), 255);
        assert_eq!(l.state.load(Ordering::Relaxed), DRAIN | REVOKED | 45);
        for r in reads {
            l.read_unlock(r);
        }
        assert_eq!(l.state.load(Ordering::Relaxed), DRAIN | REVOKED);
        let w = l.write();
        l.write_unlock(w);
        assert_eq!(
            l.state.load(Ordering::Relaxed),
            REVOKED,
            "the first write cleared DRAIN"
        );
        let r = l.read();
        assert!(!r.counted, "never biased again before a reset");
        l.read_unlock(r);
    });
}

#[test]
fn another_thread_revokes_the_bias_and_its_writer_waits_for_the_owners_reads() {
    undisturbed(0, || {
        let l = Arc::new(biased_here());
        let outer = l.read();
        assert!(outer.counted);
        // A foreign reader shares with the owner's counted reads, on the word.
        std::thread::scope(|s| {
            s.spawn(|| {
                let r = l.read();
                assert!(!r.counted);
                assert_eq!(l.state.load(Ordering::Relaxed), DRAIN | REVOKED | 1);
                l.read_unlock(r);
            });
        });
        assert_eq!(l.state.load(Ordering::Relaxed), DRAIN | REVOKED);
        let (started, seen) = std::sync::mpsc::channel();
        let (wrote, done) = std::sync::mpsc::channel();
        let writer = {
            let l = l.clone();
            std::thread::spawn(move || {
                started.send(()).unwrap();
                let w = l.write();
                wrote.send(()).unwrap();
                l.write_unlock(w);
            })
        };
        seen.recv().unwrap();
        // Whatever the writer does meanwhile, the owner's nested reads get in: it never
        // waits holding the word.
        for _ in 0..1000 {
            let r = l.read();
            l.read_unlock(r);
            assert!(done.try_recv().is_err(), "a write while the owner reads");
        }
        l.read_unlock(outer);
        done.recv_timeout(std::time::Duration::from_secs(60))
            .expect("the writer was not woken by the owner's last release");
        writer.join().unwrap();
        assert_eq!(l.state.load(Ordering::Relaxed), REVOKED, "revoked for good");
        assert_eq!(l.reads.load(Ordering::Relaxed), 0);
    });
}

#[test]
fn a_foreign_writer_revokes_an_idle_bias_at_once() {
    undisturbed(0, || {
        let l = biased_here();
        std::thread::scope(|s| {
            s.spawn(|| {
                let w = l.try_write().expect("no owner read counted");
                l.write_unlock(w);
            });
        });
        assert_eq!(l.state.load(Ordering::Relaxed), REVOKED);
        let r = l.read();
        assert!(!r.counted, "the owner reads on the word from now on");
        l.read_unlock(r);
    });
}

#[test]
fn the_marker_holds_a_biased_cell_beside_the_owners_reads_the_unroot_pass_does_not() {
    undisturbed(1, || {
        let l = biased_here();
        let word = l.state.load(Ordering::Relaxed);
        let r = l.read();
        assert!(r.counted);
        let hold = l.try_hold_collector().expect("reading beside a reader");
        assert!(l.try_read().is_none() && l.try_write().is_none());
        l.release_collector(hold);
        assert_eq!(l.state.load(Ordering::Relaxed), word, "the bias is back");
        let r = {
            let _suspended = gc::suspend_biases();
            assert!(
                l.try_hold_collector_exclusive().is_none(),
                "the owner reads"
            );
            assert_eq!(l.state.load(Ordering::Relaxed), word);
            l.read_unlock(r);
            let hold = l
                .try_hold_collector_exclusive()
                .expect("no owner read left");
            l.release_collector(hold);
            let r = l.read();
            assert!(!r.counted, "no counted read while biases are suspended");
            r
        };
        assert_eq!(
            l.state.load(Ordering::Relaxed),
            DRAIN | REVOKED | 1,
            "the owner revoked it"
        );
        l.read_unlock(r);
    });
}
