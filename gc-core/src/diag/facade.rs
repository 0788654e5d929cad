//! What a diagnostic line is (its kind, its gctrace figures) and how it goes to the `log`
//! and `tracing` facades (features of the same names, off by default). Runs only on the
//! writer thread (`diag/mod.rs`): loggers and subscribers are user code.
//!
//! With no writer set, the default sink is the facade when it has a consumer: `tracing`
//! when a global default subscriber is set (`tracing::dispatcher::has_been_set`), else
//! `log` when a logger enabled some level (`log::max_level() != Off`), else stderr. What
//! each facade receives is documented on `crate::api::set_trace_writer`. Pure parts
//! (`classify`, `dropped_line`) are table-tested below.

/// What a line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `GODEBUG=gctrace=1`, one line per cycle.
    GcTrace,
    /// `GODEBUG=gcpacertrace=1`.
    PacerTrace,
    /// `GODEBUG=scavtrace=1`.
    ScavTrace,
    /// A warning (bad environment values, user code that panicked, missing threads).
    Warning,
}

impl Kind {
    /// The `kind` field of the facades' events.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::GcTrace => "gctrace",
            Kind::PacerTrace => "gcpacertrace",
            Kind::ScavTrace => "scavtrace",
            Kind::Warning => "warning",
        }
    }
}

/// A gctrace line's figures (Go's names in the line: `gc N`, `A+B+C ms clock`,
/// `H0->H1->H2 MB`, `G MB goal`, `P P`, `(forced)`).
#[derive(Clone, Copy, Debug, Default)]
#[cfg_attr(not(feature = "tracing"), allow(dead_code))]
pub(crate) struct CycleFields {
    pub num: u32,
    pub forced: bool,
    /// Mark setup pause, concurrent mark, mark termination pause (wall ns).
    pub clock_ns: [u64; 3],
    /// Assist, background and idle marking CPU time (ns).
    pub mark_cpu_ns: [u64; 3],
    /// H0, H1, H2 in MB.
    pub heap_mb: [u64; 3],
    pub goal_mb: u64,
    pub procs: usize,
}

/// One line and what it is.
pub(crate) struct Record {
    #[cfg_attr(not(any(feature = "log", feature = "tracing")), allow(dead_code))]
    pub kind: Kind,
    pub text: String,
    /// For gctrace lines: the figures.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    pub cycle: Option<CycleFields>,
}

/// The kind of a line reported through `crate::report`, from its prefix (Go's formats).
pub(crate) fn classify(text: &str) -> Kind {
    if text.starts_with("pacer: ") {
        Kind::PacerTrace
    } else if text.starts_with("scav ") {
        Kind::ScavTrace
    } else if text.starts_with("gc ") {
        Kind::GcTrace
    } else {
        Kind::Warning
    }
}

/// The line that reports dropped lines once the writer caught up.
pub(crate) fn dropped_line(n: u64) -> String {
    format!(
        "{}{n} diagnostic line{} dropped (the trace writer fell behind)",
        crate::env::WARNING_PREFIX,
        if n == 1 { "" } else { "s" }
    )
}

/// A panic payload's message.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a non-string payload")
}

/// Whether a facade has a consumer (then lines go to it rather than stderr). Only reads
/// the facades' atomics: safe inside GC operations.
pub(crate) fn active() -> bool {
    #[cfg(feature = "tracing")]
    if tracing::dispatcher::has_been_set() {
        return true;
    }
    #[cfg(feature = "log")]
    if log::max_level() != log::LevelFilter::Off {
        return true;
    }
    false
}

/// Hands `rec` to the facade that [`active`] found (writer thread only: user code).
pub(crate) fn emit(rec: &Record) {
    #[cfg(feature = "tracing")]
    let done = tracing::dispatcher::has_been_set() && {
        emit_tracing(rec);
        true
    };
    #[cfg(not(feature = "tracing"))]
    let done = false;
    #[cfg(feature = "log")]
    if !done && log::max_level() != log::LevelFilter::Off {
        let level = match rec.kind {
            Kind::Warning => log::Level::Warn,
            _ => log::Level::Info,
        };
        log::log!(target: "gc_core", level, "{}", rec.text);
    }
    let _ = (rec, done);
}

/// `tracing`: a gctrace line becomes a `gc_cycle` span (fields `cycle`, `forced`), entered
/// on the writer thread after the cycle, with one event per phase (`phase`,
/// `duration_ns`) and the line itself as a last event with the heap figures. Other lines
/// are single events with a `kind` field.
#[cfg(feature = "tracing")]
fn emit_tracing(rec: &Record) {
    let Some(c) = rec.cycle.filter(|_| rec.kind == Kind::GcTrace) else {
        match rec.kind {
            Kind::Warning => {
                tracing::warn!(target: "gc_core", kind = rec.kind.name(), "{}", rec.text)
            }
            _ => tracing::info!(target: "gc_core", kind = rec.kind.name(), "{}", rec.text),
        }
        return;
    };
    let span = tracing::info_span!(target: "gc_core", "gc_cycle", cycle = c.num, forced = c.forced);
    let _entered = span.enter();
    let phases = [
        ("mark_setup", true, c.clock_ns[0]),
        ("concurrent_mark", false, c.clock_ns[1]),
        ("mark_termination", true, c.clock_ns[2]),
    ];
    for (phase, stw, ns) in phases {
        tracing::info!(
            target: "gc_core",
            cycle = c.num,
            phase,
            stop_the_world = stw,
            duration_ns = ns,
            "gc phase"
        );
    }
    tracing::info!(
        target: "gc_core",
        kind = "gctrace",
        cycle = c.num,
        forced = c.forced,
        assist_cpu_ns = c.mark_cpu_ns[0],
        background_cpu_ns = c.mark_cpu_ns[1],
        idle_cpu_ns = c.mark_cpu_ns[2],
        heap_start_mb = c.heap_mb[0],
        heap_end_mb = c.heap_mb[1],
        heap_marked_mb = c.heap_mb[2],
        goal_mb = c.goal_mb,
        procs = c.procs,
        "{}",
        rec.text
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classified_by_go_prefixes() {
        let cases = [
            ("gc 3 @0.1s 1%: 0.01+0.2+0.01 ms clock, ...", Kind::GcTrace),
            ("pacer: assist ratio=...", Kind::PacerTrace),
            (
                "scav 12 KiB work (bg), 0 KiB work (eager), ...",
                Kind::ScavTrace,
            ),
            ("gc_core: GOGC=\"12x\" ...; using GOGC=100", Kind::Warning),
            ("fatal error: gc_core: ...", Kind::Warning),
            ("something else", Kind::Warning),
        ];
        for (line, kind) in cases {
            assert_eq!(classify(line), kind, "{line}");
        }
    }

    #[test]
    fn dropped_lines_are_counted_in_one_warning() {
        assert_eq!(
            dropped_line(1),
            "gc_core: 1 diagnostic line dropped (the trace writer fell behind)"
        );
        assert!(dropped_line(7).starts_with("gc_core: 7 diagnostic lines dropped"));
    }

    #[test]
    fn panic_messages_of_any_payload() {
        assert_eq!(panic_message(&"boom"), "boom");
        assert_eq!(panic_message(&String::from("bang")), "bang");
        assert_eq!(panic_message(&42u8), "a non-string payload");
    }
}
