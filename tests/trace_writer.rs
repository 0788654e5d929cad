//! `gc_core::set_trace_writer`: diagnostic lines reach a user's writer in Go's format, and a
//! hostile writer (one that errors, panics, blocks forever, or allocates and collects)
//! never stalls the runtime; `reset_trace_writer` goes back to stderr. With the `log`
//! feature, a logger receives the lines. The sink is process-wide, so every case runs in a
//! child process (`tests/common/child.rs`, whose hang watchdog fails a case that
//! deadlocks); `WRITER` selects the hostile behaviour.

mod common;

use common::child::{is_child, run, Run};
use gc_core::{collect, flush_trace_writer, mem_stats, reset_trace_writer, set_trace_writer, Gc};
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TRACES: (&str, &[u8]) = ("GODEBUG", b"gctrace=1,gcpacertrace=1");
const FLUSH: Duration = Duration::from_secs(30);

/// Lines written, shared with the test.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether `l` has the shape of Go's gctrace line.
fn is_gctrace(l: &str) -> bool {
    l.starts_with("gc ")
        && l.contains(" ms clock, ")
        && l.contains(" ms cpu, ")
        && l.contains(" MB goal, 0 MB stacks, 0 MB globals, ")
        && l.split(", ").last().is_some_and(|p| p.contains(" P"))
}

fn gctrace_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| is_gctrace(l)).collect()
}

#[test]
fn child_gctrace_to_writer_then_stderr() {
    if !is_child() {
        return;
    }
    let cap = Capture::default();
    set_trace_writer(cap.clone());
    for _ in 0..3 {
        collect();
    }
    assert!(flush_trace_writer(FLUSH));
    let lines = cap.lines();
    let gc: Vec<_> = lines.iter().filter(|l| is_gctrace(l)).collect();
    assert!(gc.len() >= 3, "{lines:?}");
    assert!(gc.iter().all(|l| l.ends_with(" P (forced)")), "{gc:?}");
    assert!(lines.iter().any(|l| l.starts_with("pacer: ")), "{lines:?}");
    println!("WRITER_GC_LINES={}", gc.len());
    reset_trace_writer();
    let before = cap.lines().len();
    collect();
    assert_eq!(
        cap.lines().len(),
        before,
        "lines after the reset went to the writer"
    );
    println!("PROBE_OK");
}

#[test]
fn gctrace_lines_reach_the_writer_and_stderr_after_reset() {
    if is_child() {
        return;
    }
    let r = run("child_gctrace_to_writer_then_stderr", &[TRACES], &[]);
    r.assert_ok("writer then stderr");
    assert!(r.num("WRITER_GC_LINES=") >= 3);
    // Only the cycle after the reset printed on stderr.
    let on_stderr = gctrace_lines(&r.stderr);
    assert_eq!(on_stderr.len(), 1, "{}", r.stderr);
    assert!(on_stderr[0].ends_with("(forced)"));
}

/// A hostile writer, chosen by `WRITER`.
struct Hostile {
    kind: String,
    writes: Arc<AtomicU64>,
}

impl Write for Hostile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst);
        match self.kind.as_str() {
            "error" => Err(io::Error::other("no space left")),
            "panic" => std::panic::panic_any(n), // a non-string payload
            "block" => loop {
                std::thread::park();
            },
            "alloc" => {
                // User code may allocate and collect (a cycle whose line comes back here:
                // bounded, so the loop ends).
                let g = Gc::new(vec![n; 64]);
                if n < 6 {
                    collect();
                }
                assert_eq!(g[0], n);
                Ok(buf.len())
            }
            k => panic!("unknown WRITER {k}"),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn child_hostile_writer() {
    if !is_child() {
        return;
    }
    let kind = std::env::var("WRITER").unwrap();
    let writes = Arc::new(AtomicU64::new(0));
    set_trace_writer(Hostile {
        kind: kind.clone(),
        writes: writes.clone(),
    });
    let start = mem_stats();
    for round in 0..5u64 {
        collect();
        // Allocation goes on, automatic cycles included.
        for i in 0..100_000u64 {
            std::hint::black_box(Gc::new([i ^ round; 8]));
        }
    }
    let end = mem_stats();
    println!("FORCED={}", end.num_forced_gc - start.num_forced_gc);
    println!(
        "AUTO={}",
        (end.num_gc - start.num_gc) - (end.num_forced_gc - start.num_forced_gc)
    );
    if kind != "block" {
        assert!(
            flush_trace_writer(FLUSH),
            "the writer thread never caught up"
        );
    }
    println!("WRITES={}", writes.load(Ordering::SeqCst));
    // Back to stderr: even with the old writer stuck, the next line is there.
    println!("RESET_AFTER={}", mem_stats().num_gc);
    reset_trace_writer();
    collect();
    println!("PROBE_OK");
}

/// The numbers of the gctrace lines on the child's stderr: after the reset, and at least
/// one (the child's last `collect()`; an automatic cycle may add more).
fn stderr_cycles_after_reset(r: &Run) -> Vec<u64> {
    let after = r.num("RESET_AFTER=");
    let nums: Vec<u64> = gctrace_lines(&r.stderr)
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap().parse().unwrap())
        .collect();
    assert!(!nums.is_empty(), "{}", r.stderr);
    assert!(
        nums.iter().all(|&n| n > after),
        "after {after}: {}",
        r.stderr
    );
    nums
}

fn hostile(kind: &str) -> Run {
    let r = run(
        "child_hostile_writer",
        &[TRACES, ("GOGC", b"25")],
        &[("WRITER", kind)],
    );
    r.assert_succeeded(kind);
    assert!(r.num("FORCED=") >= 5, "{kind}: {}", r.stdout);
    assert!(
        r.num("AUTO=") >= 1,
        "{kind}: allocation stopped cycling: {}",
        r.stdout
    );
    assert!(r.num("WRITES=") >= 1, "{kind}: the writer never ran");
    r
}

#[test]
fn a_writer_that_errors_loses_lines_only() {
    if is_child() {
        return;
    }
    let r = hostile("error");
    assert!(r.num("WRITES=") >= 5, "{}", r.stdout);
    // Nothing of the writer's went to stderr; the post-reset cycle did.
    stderr_cycles_after_reset(&r);
}

#[test]
fn a_writer_that_panics_is_replaced_by_stderr_with_one_warning() {
    if is_child() {
        return;
    }
    let r = hostile("panic");
    assert_eq!(r.num("WRITES="), 1, "dropped after its panic: {}", r.stdout);
    let warnings: Vec<_> = r
        .warnings()
        .into_iter()
        .filter(|l| l.contains("trace writer panicked"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", r.stderr);
    assert!(
        warnings[0].contains("a non-string payload"),
        "{}",
        warnings[0]
    );
    // Every cycle's line went to stderr (the first one after the panic).
    assert!(gctrace_lines(&r.stderr).len() >= 6, "{}", r.stderr);
}

#[test]
fn a_writer_that_blocks_forever_stalls_nothing() {
    if is_child() {
        return;
    }
    let r = hostile("block");
    assert_eq!(r.num("WRITES="), 1, "{}", r.stdout);
    // After the reset, the line is on stderr although the old writer never returned.
    stderr_cycles_after_reset(&r);
}

#[test]
fn a_writer_that_allocates_and_collects_does_not_deadlock() {
    if is_child() {
        return;
    }
    let r = hostile("alloc");
    assert!(r.num("WRITES=") >= 10, "{}", r.stdout);
}

/// Released by the test once it has overrun the queue.
static RELEASE: AtomicU64 = AtomicU64::new(0);

struct Slow(Capture);

impl Write for Slow {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        while RELEASE.load(Ordering::SeqCst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn child_dropped_lines_are_reported() {
    if !is_child() {
        return;
    }
    let cap = Capture::default();
    set_trace_writer(Slow(cap.clone()));
    // Two lines a cycle (gctrace, gcpacertrace): 600 cycles overrun the 1024-line queue.
    for _ in 0..600 {
        collect();
    }
    RELEASE.store(1, Ordering::SeqCst);
    assert!(flush_trace_writer(FLUSH));
    let lines = cap.lines();
    let dropped: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("diagnostic lines dropped"))
        .collect();
    assert_eq!(
        dropped.len(),
        1,
        "{:?}",
        &lines[lines.len().saturating_sub(3)..]
    );
    assert_eq!(lines.last(), dropped.last().copied());
    let n: u64 = dropped[0]
        .strip_prefix("gc_core: ")
        .and_then(|s| s.split_whitespace().next())
        .unwrap()
        .parse()
        .unwrap();
    // Every line is either written or counted (the one in the writer's hands when the queue
    // filled included).
    assert_eq!(
        lines.len() as u64 - 1 + n,
        1200,
        "written {} dropped {n}",
        lines.len() - 1
    );
    println!("PROBE_OK");
}

#[test]
fn lines_dropped_while_the_writer_is_slow_are_counted() {
    if is_child() {
        return;
    }
    run("child_dropped_lines_are_reported", &[TRACES], &[]).assert_ok("dropped lines");
}

#[cfg(feature = "log")]
mod with_log {
    use super::*;

    static RECORDS: Mutex<Vec<(log::Level, String, String)>> = Mutex::new(Vec::new());

    struct TestLogger;

    impl log::Log for TestLogger {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, r: &log::Record<'_>) {
            RECORDS
                .lock()
                .unwrap()
                .push((r.level(), r.target().to_owned(), r.args().to_string()));
        }
        fn flush(&self) {}
    }

    #[test]
    fn child_lines_to_log() {
        if !is_child() {
            return;
        }
        log::set_logger(&TestLogger).unwrap();
        log::set_max_level(log::LevelFilter::Info);
        // The first allocation reads the environment: its warning goes to the logger.
        drop(Gc::new(1u8));
        collect();
        collect();
        assert!(flush_trace_writer(FLUSH));
        let records = RECORDS.lock().unwrap().clone();
        assert!(records.iter().all(|r| r.1 == "gc_core"), "{records:?}");
        let gc: Vec<_> = records.iter().filter(|r| is_gctrace(&r.2)).collect();
        assert!(gc.len() >= 2, "{records:?}");
        assert!(gc.iter().all(|r| r.0 == log::Level::Info));
        let warn: Vec<_> = records.iter().filter(|r| r.2.contains("GOGC")).collect();
        assert_eq!(warn.len(), 1, "{records:?}");
        assert_eq!(warn[0].0, log::Level::Warn);
        println!("PROBE_OK");
    }

    #[test]
    fn lines_go_to_the_log_facade() {
        if is_child() {
            return;
        }
        let r = run(
            "with_log::child_lines_to_log",
            &[("GODEBUG", b"gctrace=1"), ("GOGC", b"12x")],
            &[],
        );
        r.assert_ok("log");
        assert!(gctrace_lines(&r.stderr).is_empty(), "{}", r.stderr);
        assert!(r.warnings().is_empty(), "{}", r.stderr);
    }
}

#[cfg(feature = "tracing")]
mod with_tracing {
    use super::*;
    use std::fmt::Write as _;
    use std::sync::atomic::{AtomicU64, Ordering};
    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    /// Events seen: level, target, fields as `name=value` text.
    static EVENTS: Mutex<Vec<(tracing::Level, String, String)>> = Mutex::new(Vec::new());
    /// Spans opened: name and fields as text.
    static SPANS: Mutex<Vec<String>> = Mutex::new(Vec::new());

    struct Fields(String);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            let _ = write!(self.0, "{}={:?} ", field.name(), value);
        }
    }

    /// A subscriber that records what it is given.
    struct TestSubscriber {
        next: AtomicU64,
    }

    impl Subscriber for TestSubscriber {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attrs: &Attributes<'_>) -> Id {
            let mut f = Fields(format!("{} ", attrs.metadata().name()));
            attrs.record(&mut f);
            SPANS.lock().unwrap().push(f.0);
            Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut f = Fields(String::new());
            event.record(&mut f);
            let m = event.metadata();
            EVENTS
                .lock()
                .unwrap()
                .push((*m.level(), m.target().to_owned(), f.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[test]
    fn child_lines_to_tracing() {
        if !is_child() {
            return;
        }
        tracing::subscriber::set_global_default(TestSubscriber {
            next: AtomicU64::new(0),
        })
        .unwrap();
        // The first allocation reads the environment: its warning becomes an event.
        drop(Gc::new(1u8));
        collect();
        collect();
        assert!(flush_trace_writer(FLUSH));
        let events = EVENTS.lock().unwrap().clone();
        let spans = SPANS.lock().unwrap().clone();
        assert!(events.iter().all(|e| e.1 == "gc_core"), "{events:?}");
        let cycles: Vec<_> = spans.iter().filter(|s| s.starts_with("gc_cycle")).collect();
        assert!(cycles.len() >= 2, "{spans:?}");
        assert!(cycles.iter().all(|s| s.contains("cycle=")), "{spans:?}");
        for phase in ["mark_setup", "concurrent_mark", "mark_termination"] {
            let n = events.iter().filter(|e| e.2.contains(phase)).count();
            assert!(n >= 2, "{phase}: {events:?}");
        }
        let traces: Vec<_> = events
            .iter()
            .filter(|e| e.2.contains("kind=\"gctrace\""))
            .collect();
        assert!(traces.len() >= 2, "{events:?}");
        assert!(traces.iter().all(|e| e.0 == tracing::Level::INFO));
        let warn: Vec<_> = events.iter().filter(|e| e.2.contains("GOGC")).collect();
        assert_eq!(warn.len(), 1, "{events:?}");
        assert_eq!(warn[0].0, tracing::Level::WARN);
        println!("PROBE_OK");
    }

    #[test]
    fn lines_go_to_the_tracing_facade() {
        if is_child() {
            return;
        }
        let r = run(
            "with_tracing::child_lines_to_tracing",
            &[("GODEBUG", b"gctrace=1"), ("GOGC", b"12x")],
            &[],
        );
        r.assert_ok("tracing");
        assert!(gctrace_lines(&r.stderr).is_empty(), "{}", r.stderr);
        assert!(r.warnings().is_empty(), "{}", r.stderr);
    }
}
