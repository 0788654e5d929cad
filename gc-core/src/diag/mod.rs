//! Where the runtime's diagnostic lines go (gctrace, gcpacertrace, scavtrace, warnings):
//! stderr by default, a user's writer after [`set_trace_writer`](crate::set_trace_writer), or with the `log` /
//! `tracing` features the facade (`facade.rs`).
//!
//! A user's writer, a logger and a subscriber are user code: they may block, panic,
//! allocate from the GC heap, call `collect()`. Lines are reported from inside GC
//! operations (gctrace from mark termination), so reporting never calls them: it only
//! enqueues the line on a bounded queue (full: the line is dropped and counted), and the
//! writer thread (`gc-trace-writer`, started by the first line that needs it) hands lines
//! to the sink, outside every runtime lock. Nothing in the runtime waits for that thread;
//! only [`flush_trace_writer`](crate::flush_trace_writer), called by the user, does (bounded by its timeout).
//!
//! Stderr is not user code: with no writer set and no facade consumer, `report` writes the
//! line synchronously, as before (a gctrace line is written before the cycle returns, also
//! just before the process exits; a closed stderr loses the line and nothing else).
//! `fatal` always writes to stderr synchronously, since the process aborts next.
//!
//! Invariants: the queue lock is a leaf (nothing is called under it but `VecDeque`
//! operations); the writer thread owns the current sink, and learns of a new one through a
//! `Switch` item in the queue, so lines reach the sink that was current when they were
//! reported. A writer thread stuck in user code for more than [`STUCK`] when a new sink is
//! set is abandoned (it exits when it returns) and another started. Shared state: the queue,
//! under `QUEUE`; `MODE` and `BUSY_SINCE` are atomics read without the lock. Pure helpers
//! live in `facade.rs` (classification, the facades) and are table-tested there.

mod facade;

pub(crate) use facade::CycleFields;
use facade::{Kind, Record};

use crate::sync::{AtomicU64, AtomicU8, Condvar, Mutex, Ordering};
use std::collections::VecDeque;
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// Lines that may wait for the writer thread; more are dropped and counted.
pub(crate) const QUEUE_CAP: usize = 1024;

/// How long the writer thread may be in user code before a new sink replaces it.
const STUCK: Duration = Duration::from_millis(100);

/// `MODE`: no writer set (stderr, or the facade when one is installed).
const DEFAULT: u8 = 0;
/// `MODE`: a user's writer is set.
const USER: u8 = 1;

/// Where the writer thread sends lines.
enum Sink {
    /// The facade if it has a consumer, else stderr.
    Default,
    /// The user's writer.
    User(Box<dyn Write + Send>),
}

enum Item {
    Line(Record),
    /// From now on, lines go to this sink; `u64` is its generation (`Queue::gen`).
    Switch(Sink, u64),
}

struct Queue {
    items: VecDeque<Item>,
    /// `Line` items in `items` (`Switch` items are never dropped).
    lines: usize,
    /// Lines dropped since the last "dropped" report.
    dropped: u64,
    /// The current writer thread has taken an item and not finished it.
    in_flight: bool,
    /// Sinks set so far (the generation of the newest).
    gen: u64,
    /// The current writer thread's number (0: none started yet).
    thread: u64,
}

crate::sync::global! {
    static QUEUE: Mutex<Queue> = Mutex::new(Queue {
        items: VecDeque::new(),
        lines: 0,
        dropped: 0,
        in_flight: false,
        gen: 0,
        thread: 0,
    });
}
crate::sync::global! {
    /// The writer thread waits here for items.
    static WORK: Condvar = Condvar::new();
}
crate::sync::global! {
    /// `flush_trace_writer` waits here for the queue to drain.
    static DRAINED: Condvar = Condvar::new();
}
crate::sync::global! {
    /// `DEFAULT` or `USER`: whether `report` may write stderr itself.
    static MODE: AtomicU8 = AtomicU8::new(DEFAULT);
}
crate::sync::global! {
    /// Milliseconds since `epoch()` (plus one) at which the writer thread entered user
    /// code; 0 while it is not in user code.
    static BUSY_SINCE: AtomicU64 = AtomicU64::new(0);
}

crate::sync::thread_local! {
    /// Set on writer threads: `flush_trace_writer` there would wait for itself.
    static ON_WRITER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn now_ms() -> u64 {
    static EPOCH: crate::sync::OnceLock<Instant> = crate::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

/// `crate::report`: one diagnostic line. Never blocks on user code; safe inside GC
/// operations and under runtime locks.
pub(crate) fn report(line: std::fmt::Arguments<'_>) {
    let text = line.to_string();
    let kind = facade::classify(&text);
    submit(Record {
        kind,
        text,
        cycle: None,
    });
}

/// A gctrace line, with its figures for the `tracing` facade's fields.
pub(crate) fn report_cycle(text: String, fields: CycleFields) {
    submit(Record {
        kind: Kind::GcTrace,
        text,
        cycle: Some(fields),
    });
}

/// `crate::fatal`'s line: stderr, synchronously, whatever the sink (the process aborts
/// next, so a queued line would be lost).
pub(crate) fn report_fatal(line: std::fmt::Arguments<'_>) {
    write_stderr(&line.to_string());
}

fn submit(rec: Record) {
    if MODE.load(Ordering::Acquire) == DEFAULT && !facade::active() {
        write_stderr(&rec.text);
        return;
    }
    {
        let mut q = QUEUE.lock();
        if q.lines >= QUEUE_CAP {
            q.dropped = q.dropped.saturating_add(1);
            return;
        }
        q.lines += 1;
        q.items.push_back(Item::Line(rec));
        if q.thread != 0 {
            WORK.notify_one();
            return;
        }
    }
    // The first line that needs the thread (a facade found installed) starts it.
    if !start_thread(false) {
        drain_to_stderr();
    }
}

/// Writes one line on stderr, ignoring errors (a closed stderr loses the line and nothing
/// else; `eprintln!` would panic on `EPIPE`).
fn write_stderr(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err
        .write_all(text.as_bytes())
        .and_then(|()| err.write_all(b"\n"));
}

/// Starts a writer thread unless one runs (or, with `replace`, even then: the old one is
/// abandoned). Returns false if it could not be started (one warning on stderr).
fn start_thread(replace: bool) -> bool {
    let id = {
        let mut q = QUEUE.lock();
        if q.thread != 0 && !replace {
            return true;
        }
        if replace {
            // The lines queued for the stuck thread's sink (those before the first
            // `Switch`) will never reach it: they count as dropped.
            let stale = q
                .items
                .iter()
                .take_while(|i| matches!(i, Item::Line(_)))
                .count();
            q.items.drain(..stale);
            q.lines -= stale;
            q.dropped = q.dropped.saturating_add(stale as u64);
        }
        q.thread += 1;
        // The abandoned thread's item no longer counts (it is not coming back soon).
        q.in_flight = false;
        q.thread
    };
    BUSY_SINCE.store(0, Ordering::Relaxed);
    let spawned = crate::sync::thread::Builder::new()
        .name("gc-trace-writer".into())
        .spawn(move || writer_thread(id));
    match spawned {
        Ok(_) => true,
        Err(e) => {
            QUEUE.lock().thread = 0;
            MODE.store(DEFAULT, Ordering::Release);
            write_stderr(&format!(
                "{}cannot start the trace writer thread ({e}); diagnostics go to stderr",
                crate::env::WARNING_PREFIX
            ));
            false
        }
    }
}

/// Without a writer thread: the queued lines go to stderr, here.
fn drain_to_stderr() {
    let items = {
        let mut q = QUEUE.lock();
        q.lines = 0;
        std::mem::take(&mut q.items)
    };
    for item in items {
        match item {
            Item::Line(rec) => write_stderr(&rec.text),
            Item::Switch(sink, _) => guarded_drop(sink),
        }
    }
}

/// The writer thread: takes items one at a time and hands them to the sink, outside the
/// queue lock; exits when another thread has replaced it.
fn writer_thread(id: u64) {
    ON_WRITER.with(|c| c.set(true));
    let mut sink = Sink::Default;
    let mut sink_gen = 0;
    loop {
        let item = {
            let mut q = QUEUE.lock();
            loop {
                if q.thread != id {
                    return;
                }
                if let Some(item) = q.items.pop_front() {
                    if matches!(item, Item::Line(_)) {
                        q.lines -= 1;
                    }
                    q.in_flight = true;
                    break item;
                }
                if q.dropped > 0 {
                    // Caught up after dropping lines: say so, once.
                    let n = std::mem::take(&mut q.dropped);
                    q.in_flight = true;
                    break Item::Line(Record {
                        kind: Kind::Warning,
                        text: facade::dropped_line(n),
                        cycle: None,
                    });
                }
                DRAINED.notify_all();
                q = WORK.wait(q);
            }
        };
        BUSY_SINCE.store(now_ms(), Ordering::Relaxed);
        match item {
            Item::Switch(new, gen) => {
                let old = std::mem::replace(&mut sink, new);
                sink_gen = gen;
                // The old writer's `Drop` is user code too.
                guarded_drop(old);
            }
            Item::Line(rec) => write_to(&mut sink, sink_gen, &rec),
        }
        BUSY_SINCE.store(0, Ordering::Relaxed);
        let mut q = QUEUE.lock();
        if q.thread == id {
            q.in_flight = false;
        }
    }
}

/// Hands `rec` to the sink. A panicking writer is dropped and replaced by the default sink
/// (stderr), with one warning; its errors lose the line.
fn write_to(sink: &mut Sink, sink_gen: u64, rec: &Record) {
    let panicked = match sink {
        Sink::Default => {
            if facade::active() {
                match catch_unwind(AssertUnwindSafe(|| facade::emit(rec))) {
                    Ok(()) => return,
                    Err(payload) => {
                        let msg = facade::panic_message(&*payload).to_string();
                        guarded_drop(payload);
                        write_stderr(&format!(
                            "{}the log/tracing consumer panicked ({msg}); this line follows on stderr",
                            crate::env::WARNING_PREFIX
                        ));
                    }
                }
            }
            write_stderr(&rec.text);
            return;
        }
        Sink::User(w) => match catch_unwind(AssertUnwindSafe(|| {
            w.write_all(rec.text.as_bytes())?;
            w.write_all(b"\n")?;
            w.flush()
        })) {
            Ok(_) => return,
            Err(payload) => payload,
        },
    };
    let msg = facade::panic_message(&*panicked).to_string();
    guarded_drop(panicked);
    guarded_drop(std::mem::replace(sink, Sink::Default));
    {
        // Back to the default for new lines too, unless a newer sink was set meanwhile.
        let q = QUEUE.lock();
        if q.gen == sink_gen {
            MODE.store(DEFAULT, Ordering::Release);
        }
    }
    write_stderr(&format!(
        "{}the trace writer panicked ({msg}); diagnostics go to stderr from now on",
        crate::env::WARNING_PREFIX
    ));
    write_to(sink, sink_gen, rec);
}

/// Drops user values (a writer, a panic payload) with their `Drop` guarded: a panic there
/// leaks the payload instead of unwinding into the writer thread.
fn guarded_drop<T>(v: T) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(v))) {
        std::mem::forget(again);
    }
}

/// `crate::api::set_trace_writer` / `reset_trace_writer`.
pub(crate) fn set_sink(writer: Option<Box<dyn Write + Send>>) {
    let user = writer.is_some();
    let sink = writer.map_or(Sink::Default, Sink::User);
    let thread_running = {
        let mut q = QUEUE.lock();
        q.gen += 1;
        let gen = q.gen;
        q.items.push_back(Item::Switch(sink, gen));
        MODE.store(if user { USER } else { DEFAULT }, Ordering::Release);
        WORK.notify_one();
        q.thread != 0
    };
    let busy = BUSY_SINCE.load(Ordering::Relaxed);
    let stuck = busy != 0 && now_ms().saturating_sub(busy) > STUCK.as_millis() as u64;
    if (!thread_running || stuck) && !start_thread(stuck) {
        drain_to_stderr();
    }
}

/// `crate::api::flush_trace_writer`.
pub(crate) fn flush(timeout: Duration) -> bool {
    if ON_WRITER.with(|c| c.get()) {
        return false;
    }
    let deadline = Instant::now() + timeout;
    let mut q = QUEUE.lock();
    loop {
        if q.items.is_empty() && q.dropped == 0 && !q.in_flight {
            return true;
        }
        if q.thread == 0 {
            return false;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        q = DRAINED.wait_timeout(q, deadline - now);
    }
}
