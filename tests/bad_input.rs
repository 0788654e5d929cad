//! Bad input: malformed values for every environment variable the runtime reads (`GOGC`,
//! `GOMEMLIMIT`, `GOMAXPROCS`, each `GODEBUG` key it knows, unknown keys), bad values for the
//! public setters, absurd allocation sizes (zero-sized types, a 64 MiB object, running out
//! of memory), a `GOMEMLIMIT` below the live heap, and cell borrow misuse.
//!
//! The promise under test (see `gc-core/src/env.rs`): a malformed value never stops the
//! program; it prints exactly one `gc_core: ` warning line naming the variable, the value and
//! the value used instead, and the documented default applies. Running out of memory is a
//! clear fatal error ("out of memory"), never a crash.
//!
//! The environment is read once per process and the knobs are process-wide, so each such
//! case runs in a child process that re-runs this test binary with `GC_CORE_BAD_INPUT_CHILD`
//! set and one `child_*` test selected; the parent checks its exit status, stdout (`KEY=value`
//! lines) and stderr. To reproduce a child case by hand:
//!
//! ```sh
//! cargo test --test bad_input --no-run   # prints the binary's path
//! GC_CORE_BAD_INPUT_CHILD=1 GOGC=1e99 target/debug/deps/bad_input-<hash> \
//!     --exact child_probe --nocapture --test-threads=1
//! GC_CORE_BAD_INPUT_CHILD=1 GOMEMLIMIT=16MiB target/debug/deps/bad_input-<hash> \
//!     --exact child_limit_below_live --nocapture --test-threads=1
//! GC_CORE_BAD_INPUT_CHILD=1 GOGC=off BAD_INPUT_OOM=large target/debug/deps/bad_input-<hash> \
//!     --exact child_out_of_memory --nocapture --test-threads=1
//! ```
//!
//! (A non-UTF-8 value needs the shell's `$'\xff'` quoting.) Without `GC_CORE_BAD_INPUT_CHILD`
//! the `child_*` tests return at once.

mod common;

use common::field;
use gc_core::{
    mem_stats, set_gc_percent, set_memory_limit, BorrowError, Gc, GcCell, MemStats, Trace,
};
use std::ffi::OsStr;
use std::hint::black_box;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const CHILD: &str = "GC_CORE_BAD_INPUT_CHILD";
/// How much garbage the probe may allocate while waiting for an automatic cycle, in KiB
/// (default 6144).
const CHURN_KIB: &str = "BAD_INPUT_CHURN_KIB";
/// Budget when a cycle is expected: cycles start on the collector's thread, so how much is
/// allocated before one completes depends on scheduling; a garbage budget (not a clock)
/// bounds the wait, and a healthy run stops soon after the goal.
const EXPECT_CYCLE: &str = "131072";
/// Budget when no automatic cycle may run: past `GOGC=100`'s first goal (4 MiB).
const EXPECT_NONE: &str = "6144";
/// Which allocation the out-of-memory child makes (`large` or `small`).
const OOM_KIND: &str = "BAD_INPUT_OOM";
/// Every variable the runtime reads; children start with none of them set.
const VARS: [&str; 4] = ["GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG"];
const MIB: u64 = 1 << 20;
/// `GOGC=100`'s first goal (`HEAP_MINIMUM`).
const FIRST_GOAL: u64 = 4 * MIB;
/// A child that has not finished by then is stuck (a deadlock, not slowness: a healthy
/// child takes under a second, a few seconds on a machine saturated by other work). Only a
/// hang detector, never an assertion about speed.
const HANG: Duration = Duration::from_secs(120);

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// What a child process left behind.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    /// The `gc_core: ` warning lines.
    fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("gc_core: "))
            .collect()
    }

    fn assert_ok(&self, what: &str) {
        assert!(
            self.status.success() && self.stdout.contains("PROBE_OK"),
            "{what}: child failed ({}):\n{}\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{what}: {}", self.stderr);
    }

    /// The token after `key` on stdout.
    fn text(&self, key: &str) -> &str {
        self.stdout
            .lines()
            .find_map(|l| l.split(key).nth(1))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or_else(|| panic!("{key} missing in child output:\n{}", self.stdout))
    }

    fn num(&self, key: &str) -> u64 {
        field(&self.stdout, key)
    }

    fn signed(&self, key: &str) -> i64 {
        self.text(key).parse().unwrap()
    }

    /// The `N P` figure of every gctrace line (`gc 1 @0.001s 0%: ..., 2 P (forced)`).
    fn trace_procs(&self) -> Vec<u64> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("gc ") && l.contains(" MB goal, "))
            .map(|l| {
                let last = l.rsplit(", ").next().unwrap();
                assert!(last.contains(" P"), "{l}");
                last.split_whitespace().next().unwrap().parse().unwrap()
            })
            .collect()
    }

    fn pacer_lines(&self) -> usize {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("pacer: "))
            .count()
    }
}

/// A child process started by [`start`].
struct Pending {
    out: std::sync::mpsc::Receiver<std::io::Result<std::process::Output>>,
    pid: u32,
    what: String,
}

/// Runs child test `test` with exactly the given runtime variables (raw bytes, so values
/// may be invalid UTF-8) plus `extra` ordinary variables, and waits for it.
fn run(test: &str, vars: &[(&str, &[u8])], extra: &[(&str, &str)]) -> Run {
    start(test, vars, extra).finish()
}

/// Runs many children, a few at a time (each is mostly process start-up and waiting), and
/// returns their results in order.
fn run_all(test: &str, jobs: &[Vec<(&str, &[u8])>], extra: &[(&str, &str)]) -> Vec<Run> {
    let mut runs = Vec::new();
    for chunk in jobs.chunks(4) {
        let pending: Vec<Pending> = chunk.iter().map(|v| start(test, v, extra)).collect();
        runs.extend(pending.into_iter().map(Pending::finish));
    }
    runs
}

/// Starts child test `test` (see [`run`]).
fn start(test: &str, vars: &[(&str, &[u8])], extra: &[(&str, &str)]) -> Pending {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for v in VARS {
        cmd.env_remove(v);
    }
    for (k, v) in vars {
        cmd.env(k, OsStr::from_bytes(v));
    }
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let pid = child.id();
    let (tx, out) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    Pending {
        out,
        pid,
        what: format!("child {test} with {}", show(vars)),
    }
}

impl Pending {
    /// Waits for the child; kills it and fails if it hangs.
    fn finish(self) -> Run {
        let out = match self.out.recv_timeout(HANG) {
            Ok(out) => out.unwrap(),
            Err(_) => {
                // SAFETY: our own child, not yet reaped (its waiter is still blocked).
                unsafe { libc::kill(self.pid as libc::pid_t, libc::SIGKILL) };
                panic!("{} hung (deadlock?)", self.what);
            }
        };
        Run {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

fn show(vars: &[(&str, &[u8])]) -> String {
    vars.iter()
        .map(|(k, v)| format!("{k}={:?}", String::from_utf8_lossy(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How the warning quotes a value (for the values used here: no quotes, backslashes or
/// control characters; invalid UTF-8 shows as U+FFFD).
fn quoted(value: &[u8]) -> String {
    format!("\"{}\"", String::from_utf8_lossy(value))
}

/// The default `GOMAXPROCS` of a child (it inherits our CPU affinity).
fn default_procs() -> u64 {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(1024) as u64
}

/// Allocates `bytes` of 64-byte garbage.
fn churn(bytes: u64) {
    for i in 0..bytes / 64 {
        black_box(Gc::new([i; 8]));
    }
}

/// Allocates garbage until `done(bytes so far, stats)` or `budget` bytes; returns the bytes
/// allocated. Steps start at 8 KiB and double up to 256 KiB: a heap that collects
/// continuously (a cycle every few KiB) is done after a few small steps.
fn churn_until(budget: u64, mut done: impl FnMut(u64, &MemStats) -> bool) -> u64 {
    let mut step = 8 << 10;
    let mut spent = 0;
    while spent < budget {
        churn(step);
        spent += step;
        if done(spent, &mem_stats()) {
            break;
        }
        step = (step * 2).min(256 << 10);
    }
    spent
}

/// Cycles started by the heap's growth rather than by `collect()`.
fn automatic(s: &MemStats) -> u32 {
    s.num_gc - s.num_forced_gc
}

// ---------------------------------------------------------------------------------------
// The probe: what the runtime made of its environment, and that it works.

/// Reports the first goal, the limit, `GOGC` and the cycles some garbage caused, and
/// checks that a live set survives the churn and a forced collection frees the rest.
#[test]
fn child_probe() {
    if !is_child() {
        return;
    }
    let live: Vec<Gc<[u64; 8]>> = (0..1000).map(|i| Gc::new([i; 8])).collect();
    println!("FIRST_GOAL={}", mem_stats().next_gc);
    println!("LIMIT={}", set_memory_limit(-1));
    let kib: u64 = std::env::var(CHURN_KIB).map_or(6 << 10, |v| v.parse().unwrap());
    let spent = churn_until(kib << 10, |_, s| automatic(s) > 0);
    println!("AUTO_GC={}", automatic(&mem_stats()));
    println!("GARBAGE_KIB={}", spent >> 10);
    gc_core::collect();
    let s = mem_stats();
    assert!(s.num_gc >= 1 && s.num_forced_gc >= 1);
    assert!(live.iter().enumerate().all(|(i, g)| **g == [i as u64; 8]));
    // Only the live set (64 KB) and the churn's partly used spans are left.
    assert!(
        s.heap_alloc < 2 * MIB,
        "heap_alloc {} after collect",
        s.heap_alloc
    );
    println!("GOGC={}", set_gc_percent(100));
    println!("PROBE_OK");
}

/// Runs the probe once per case `(value, warns, garbage budget in KiB)` with `var=value`
/// (plus `extra_vars`); checks each child worked and warned exactly once, or never.
fn probes(
    var: &'static str,
    cases: &[(&'static [u8], bool, &'static str)],
    extra_vars: &[(&'static str, &'static [u8])],
) -> Vec<Run> {
    let jobs: Vec<Vec<(&str, &[u8])>> = cases
        .iter()
        .map(|&(value, _, budget)| {
            let mut vars = vec![(var, value)];
            vars.extend_from_slice(extra_vars);
            vars.push((CHURN_KIB, budget.as_bytes()));
            vars
        })
        .collect();
    let runs = run_all("child_probe", &jobs, &[]);
    for ((&(value, warns, _), r), vars) in cases.iter().zip(&runs).zip(&jobs) {
        let what = show(vars);
        r.assert_ok(&what);
        let w = r.warnings();
        if warns {
            assert_eq!(w.len(), 1, "{what}: exactly one warning:\n{}", r.stderr);
            let prefix = format!("gc_core: {var}={}", quoted(value));
            assert!(w[0].starts_with(&prefix), "{what}: {}", w[0]);
        } else {
            assert!(w.is_empty(), "{what}: no warning expected:\n{}", r.stderr);
        }
    }
    runs
}

// ---------------------------------------------------------------------------------------
// GOGC

/// `GOGC` as the probe reads it back (`set_gc_percent`'s old value): -1 is off.
const OFF: i64 = -1;

#[test]
fn malformed_gogc_warns_once_and_uses_100() {
    if is_child() {
        return;
    }
    let values: &[&[u8]] = &[
        b"garbage",
        b"1e99",
        b"1.5",
        b"0x64",
        b"100%",
        b"1_000",
        b"--1",
        b"+-5",
        b"o ff",
        b"offf",
        "\u{663}".as_bytes(),          // an Arabic-Indic digit 3
        "\u{FF11}\u{FF10}".as_bytes(), // fullwidth "10"
        b"2147483648",                 // i32::MAX + 1
        b"99999999999999999999999",    // beyond u64
        b"\xff\xfe",                   // not UTF-8
        b"1\xff",                      // not UTF-8 after a digit
    ];
    let cases: Vec<_> = values.iter().map(|&v| (v, true, EXPECT_CYCLE)).collect();
    for (&v, r) in values.iter().zip(probes("GOGC", &cases, &[])) {
        let w = r.warnings()[0];
        assert!(w.ends_with("; using GOGC=100"), "{w}");
        if v.starts_with(b"2147") || v.starts_with(b"9999") {
            assert!(
                w.contains("more than the largest allowed value, 2147483647"),
                "{w}"
            );
        }
        assert_eq!(r.num("FIRST_GOAL="), FIRST_GOAL, "{w}");
        assert_eq!(r.signed("GOGC="), 100, "{w}");
        assert!(
            r.num("AUTO_GC=") > 0,
            "GOGC=100 collects automatically: {w}"
        );
    }
}

/// Values Go accepts (and so do we, silently): blanks mean unset, negatives mean off, a huge
/// percentage is taken as it is.
#[test]
fn odd_but_valid_gogc_values_are_taken_without_warning() {
    if is_child() {
        return;
    }
    let cases: &[(&[u8], i64)] = &[
        (b"", 100),
        (b"   ", 100),
        (b" 200 ", 200),
        (b"+50", 50),
        (b"OFF", OFF),
        (b"-1", OFF),
        (b"-2147483649", OFF),
        (b"-99999999999999999999999", OFF),
        (b"0", 0),
        (b"2147483647", i32::MAX as i64),
    ];
    let jobs: Vec<_> = cases
        .iter()
        .map(|&(v, gogc)| {
            let cycles = gogc != OFF && gogc <= 1000;
            (v, false, if cycles { EXPECT_CYCLE } else { EXPECT_NONE })
        })
        .collect();
    for (&(v, gogc), r) in cases.iter().zip(probes("GOGC", &jobs, &[])) {
        let what = format!("GOGC={:?}", String::from_utf8_lossy(v));
        assert_eq!(r.signed("GOGC="), gogc, "{what}");
        let goal = r.num("FIRST_GOAL=");
        let cycles = r.num("AUTO_GC=");
        match gogc {
            OFF => {
                assert_eq!(goal, u64::MAX, "{what}");
                assert_eq!(cycles, 0, "{what}");
            }
            0 => {
                // Goal at the marked heap (plus the sweep distance while sweeping).
                assert!(goal < FIRST_GOAL, "{what}: {goal}");
                assert!(cycles > 0, "{what}");
            }
            p if p > 1000 => {
                // The goal saturates far above anything allocated: no cycle, no overflow.
                assert_eq!(goal, FIRST_GOAL * p as u64 / 100, "{what}");
                assert_eq!(cycles, 0, "{what}");
            }
            p => {
                assert_eq!(goal, FIRST_GOAL * p as u64 / 100, "{what}");
                assert!(cycles > 0, "{what}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// GOMEMLIMIT

#[test]
fn malformed_gomemlimit_warns_once_and_means_no_limit() {
    if is_child() {
        return;
    }
    let values: &[&[u8]] = &[
        b"garbage",
        b"99999999999999999999GiB", // digits beyond u64
        b"9999999999TiB",           // fits u64, bytes beyond i64
        b"9223372036854775808",     // i64::MAX + 1
        b"-1",
        b"-5MiB",
        b"+5MiB",
        b"5GB",
        b"5KB",
        b"5kib",
        b"5mib",
        b"5EiB",
        b"5MiBB",
        b"5 MiB",
        b"1.5GiB",
        b"MiB",
        b"1e9",
        b"0x100",
        b"64\xffMiB", // not UTF-8
    ];
    let cases: Vec<_> = values.iter().map(|&v| (v, true, EXPECT_CYCLE)).collect();
    for r in probes("GOMEMLIMIT", &cases, &[]) {
        let w = r.warnings()[0];
        assert!(w.ends_with("; using GOMEMLIMIT=off"), "{w}");
        assert!(
            w.contains("(examples: 512MiB, 4GiB, off)")
                || w.contains("is more than the largest allowed value, 9223372036854775807 bytes"),
            "the warning says what is wrong: {w}"
        );
        assert_eq!(r.signed("LIMIT="), i64::MAX, "{w}");
        assert_eq!(r.num("FIRST_GOAL="), FIRST_GOAL, "{w}");
        assert!(r.num("AUTO_GC=") > 0, "{w}");
    }
}

#[test]
fn odd_but_valid_gomemlimit_values_are_taken_without_warning() {
    if is_child() {
        return;
    }
    let cases: &[(&[u8], i64)] = &[
        (b"", i64::MAX),
        (b" ", i64::MAX),
        (b"Off", i64::MAX),
        (b"9223372036854775807", i64::MAX),
        (b"8388607TiB", 8_388_607 << 40),
        (b"1TiB", 1 << 40),
        (b" 64MiB ", 64 << 20),
        (b"-0", 0),
    ];
    let jobs: Vec<_> = cases
        .iter()
        .map(|&(v, _)| (v, false, EXPECT_CYCLE))
        .collect();
    for (&(v, limit), r) in cases.iter().zip(probes("GOMEMLIMIT", &jobs, &[])) {
        let what = format!("GOMEMLIMIT={:?}", String::from_utf8_lossy(v));
        assert_eq!(r.signed("LIMIT="), limit, "{what}");
        let goal = r.num("FIRST_GOAL=");
        if limit == 0 {
            // A zero limit: the goal is the (empty) marked heap; collect continuously.
            assert!(goal < FIRST_GOAL, "{what}: goal {goal}");
        } else {
            assert_eq!(goal, FIRST_GOAL, "{what}");
        }
        assert!(r.num("AUTO_GC=") > 0, "{what}");
    }
}

// ---------------------------------------------------------------------------------------
// GOMAXPROCS (observed through gctrace's "N P")

#[test]
fn malformed_gomaxprocs_warns_once_and_uses_the_core_count() {
    if is_child() {
        return;
    }
    let cores = default_procs();
    let values: &[&[u8]] = &[
        b"0",
        b"-0",
        b"-1",
        b"-99999999999999999999",
        b"abc",
        b"1025",
        b"99999999999999999999",
        b"1.5",
        b"1e3",
        b"0x4",
        b"+2", // Go's atoi32 takes no '+'
        b"2 4",
        b"\xff", // not UTF-8
    ];
    let cases: Vec<_> = values.iter().map(|&v| (v, true, "1024")).collect();
    for r in probes("GOMAXPROCS", &cases, &[("GODEBUG", b"gctrace=1")]) {
        let w = r.warnings()[0];
        assert!(w.ends_with(&format!("; using GOMAXPROCS={cores}")), "{w}");
        let procs = r.trace_procs();
        assert!(!procs.is_empty(), "gctrace printed nothing:\n{}", r.stderr);
        assert!(procs.iter().all(|&p| p == cores), "{w}: {procs:?}");
    }
}

#[test]
fn odd_but_valid_gomaxprocs_values_are_taken_without_warning() {
    if is_child() {
        return;
    }
    let cases: [(&[u8], u64); 3] = [(b"", default_procs()), (b" 1 ", 1), (b"3", 3)];
    let jobs: Vec<_> = cases.iter().map(|&(v, _)| (v, false, "1024")).collect();
    let runs = probes("GOMAXPROCS", &jobs, &[("GODEBUG", b"gctrace=1")]);
    for (&(_, procs), r) in cases.iter().zip(runs) {
        let seen = r.trace_procs();
        assert!(
            !seen.is_empty() && seen.iter().all(|&p| p == procs),
            "{seen:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// GODEBUG

/// One `GODEBUG` case: the value, the warnings it must print (a substring naming the bad
/// setting, and the setting used instead), and whether gctrace and gcpacertrace end up on.
struct Godebug {
    value: &'static [u8],
    warnings: &'static [(&'static str, &'static str)],
    gctrace: bool,
    pacertrace: bool,
}

const fn case(
    value: &'static [u8],
    warnings: &'static [(&'static str, &'static str)],
    gctrace: bool,
) -> Godebug {
    Godebug {
        value,
        warnings,
        gctrace,
        pacertrace: false,
    }
}

const GODEBUG_CASES: &[Godebug] = &[
    // gctrace: not a non-negative integer that fits u32.
    case(b"gctrace=x", &[("gctrace=\"x\"", "gctrace=0")], false),
    case(b"gctrace=on", &[("gctrace=\"on\"", "gctrace=0")], false),
    case(b"gctrace=-1", &[("gctrace=\"-1\"", "gctrace=0")], false),
    case(b"gctrace=1.0", &[("gctrace=\"1.0\"", "gctrace=0")], false),
    case(
        b"gctrace=4294967296",
        &[("gctrace=\"4294967296\"", "gctrace=0")],
        false,
    ),
    case(
        b"gctrace=99999999999999999999999",
        &[("gctrace=\"99999999999999999999999\"", "gctrace=0")],
        false,
    ),
    case(b"gctrace=", &[("gctrace=\"\"", "gctrace=0")], false),
    case(b"gctrace==1", &[("gctrace=\"=1\"", "gctrace=0")], false),
    case(
        b"gctrace",
        &[("\"gctrace\" has no value", "gctrace=0")],
        false,
    ),
    case(
        b"gctrace=\xff",
        &[("gctrace=\"\u{FFFD}\"", "gctrace=0")],
        false,
    ),
    // A bad later value keeps the earlier good one.
    case(
        b"gctrace=1,gctrace=x",
        &[("gctrace=\"x\"", "gctrace=1")],
        true,
    ),
    // The other keys the runtime knows.
    case(
        b"gcstoptheworld=3",
        &[("gcstoptheworld=\"3\" is not 0, 1 or 2", "gcstoptheworld=0")],
        false,
    ),
    case(
        b"gcstoptheworld=-1",
        &[("gcstoptheworld=\"-1\"", "gcstoptheworld=0")],
        false,
    ),
    case(
        b"gcstoptheworld=yes",
        &[("gcstoptheworld=\"yes\"", "gcstoptheworld=0")],
        false,
    ),
    case(
        b"gccheckmark=on",
        &[("gccheckmark=\"on\"", "gccheckmark=0")],
        false,
    ),
    case(
        b"gccheckmark=-1",
        &[("gccheckmark=\"-1\"", "gccheckmark=0")],
        false,
    ),
    case(
        b"clobberfree=true",
        &[("clobberfree=\"true\"", "clobberfree=0")],
        false,
    ),
    case(
        b"clobberfree",
        &[("\"clobberfree\" has no value", "clobberfree=0")],
        false,
    ),
    case(
        b"scavtrace=1e3",
        &[("scavtrace=\"1e3\"", "scavtrace=0")],
        false,
    ),
    case(
        b"gcpacertrace=on",
        &[("gcpacertrace=\"on\"", "gcpacertrace=0")],
        false,
    ),
    // One warning per bad setting, in order; unknown keys in between stay silent.
    case(
        b"gctrace=x,nosuchkey=1,clobberfree=y",
        &[
            ("gctrace=\"x\"", "gctrace=0"),
            ("clobberfree=\"y\"", "clobberfree=0"),
        ],
        false,
    ),
    // Unknown keys and shapeless fields are ignored silently, as in Go.
    case(b"nosuchkey=1", &[], false),
    case(b"GCTRACE=1", &[], false),
    case(b"gctrace:1", &[], false),
    case(b"\xff=1", &[], false),
    case(b",,,", &[], false),
    case(b"=", &[], false),
    case(b"=1", &[], false),
    case(b"garbage", &[], false),
    // Sanity: the switches are observable, so "off" above means something.
    case(b"gctrace=1", &[], true),
    Godebug {
        value: b"gcpacertrace=1",
        warnings: &[],
        gctrace: false,
        pacertrace: true,
    },
    Godebug {
        value: b"gctrace=2,gcpacertrace=1,gcstoptheworld=2,gccheckmark=1,clobberfree=1,scavtrace=1",
        warnings: &[],
        gctrace: true,
        pacertrace: true,
    },
];

#[test]
fn malformed_godebug_settings_warn_once_each_and_keep_their_defaults() {
    if is_child() {
        return;
    }
    let jobs: Vec<Vec<(&str, &[u8])>> = GODEBUG_CASES
        .iter()
        .map(|c| vec![("GODEBUG", c.value)])
        .collect();
    let runs = run_all("child_probe", &jobs, &[(CHURN_KIB, "1024")]);
    for ((c, r), vars) in GODEBUG_CASES.iter().zip(runs).zip(&jobs) {
        let what = show(vars);
        r.assert_ok(&what);
        let w = r.warnings();
        assert_eq!(w.len(), c.warnings.len(), "{what}:\n{}", r.stderr);
        for (line, (bad, used)) in w.iter().zip(c.warnings) {
            assert!(line.starts_with("gc_core: GODEBUG "), "{what}: {line}");
            assert!(line.contains(bad), "{what}: {line} lacks {bad}");
            assert!(line.ends_with(&format!("; using {used}")), "{what}: {line}");
        }
        assert_eq!(
            !r.trace_procs().is_empty(),
            c.gctrace,
            "{what}:\n{}",
            r.stderr
        );
        assert_eq!(r.pacer_lines() > 0, c.pacertrace, "{what}:\n{}", r.stderr);
        // The knobs outside GODEBUG keep their defaults.
        assert_eq!(r.num("FIRST_GOAL="), FIRST_GOAL, "{what}");
        assert_eq!(r.signed("GOGC="), 100, "{what}");
    }
}

#[test]
fn every_variable_malformed_at_once_gives_four_warnings_in_order() {
    if is_child() {
        return;
    }
    let vars: [(&str, &[u8]); 4] = [
        ("GOGC", b"\xff"),
        ("GOMEMLIMIT", b"-1"),
        ("GOMAXPROCS", b"0"),
        ("GODEBUG", b"gctrace=x"),
    ];
    let r = run("child_probe", &vars, &[(CHURN_KIB, EXPECT_CYCLE)]);
    r.assert_ok(&show(&vars));
    let w = r.warnings();
    assert_eq!(w.len(), 4, "{}", r.stderr);
    for (line, name) in w
        .iter()
        .zip(["GOGC=", "GOMEMLIMIT=", "GOMAXPROCS=", "GODEBUG "])
    {
        assert!(line.starts_with(&format!("gc_core: {name}")), "{line}");
    }
    assert_eq!(r.signed("LIMIT="), i64::MAX);
    assert_eq!(r.num("FIRST_GOAL="), FIRST_GOAL);
    assert_eq!(r.signed("GOGC="), 100);
    assert!(r.num("AUTO_GC=") > 0);
    assert!(r.trace_procs().is_empty());
}

// ---------------------------------------------------------------------------------------
// The public setters with bad values

#[test]
fn child_setters() {
    if !is_child() {
        return;
    }
    let live: Vec<Gc<[u64; 8]>> = (0..1000).map(|i| Gc::new([i; 8])).collect();
    let cycles = || mem_stats().num_gc;

    // set_gc_percent: any negative is off; a huge value saturates the goal, never overflows.
    assert_eq!(set_gc_percent(-1), 100);
    assert_eq!(mem_stats().next_gc, u64::MAX, "off and no limit: no goal");
    assert_eq!(set_gc_percent(i32::MIN), -1);
    let before = cycles();
    churn(8 * MIB);
    assert_eq!(cycles(), before, "GOGC off: no automatic cycle");
    assert_eq!(set_gc_percent(i32::MAX), -1);
    assert!(mem_stats().next_gc >= FIRST_GOAL * i32::MAX as u64 / 100);
    let before = cycles();
    churn(8 * MIB);
    assert_eq!(cycles(), before, "a huge GOGC: no automatic cycle");
    assert_eq!(set_gc_percent(0), i32::MAX);
    let before = cycles();
    churn_until(64 * MIB, |_, s| s.num_gc > before);
    assert!(cycles() > before, "GOGC=0 collects continuously");
    assert_eq!(set_gc_percent(100), 0);

    // set_memory_limit: any negative only reads; 0 pins the goal to the marked heap;
    // i64::MAX is no limit.
    assert_eq!(set_memory_limit(-1), i64::MAX);
    assert_eq!(set_memory_limit(i64::MIN), i64::MAX);
    assert_eq!(
        set_memory_limit(-1),
        i64::MAX,
        "a negative limit changed nothing"
    );
    assert_eq!(set_memory_limit(0), i64::MAX);
    assert!(
        mem_stats().next_gc < FIRST_GOAL,
        "limit 0: goal at the marked heap"
    );
    let before = cycles();
    churn_until(64 * MIB, |_, s| s.num_gc > before);
    assert!(cycles() > before, "limit 0 collects continuously");
    assert_eq!(set_memory_limit(i64::MAX - 1), 0);
    assert_eq!(set_memory_limit(i64::MAX), i64::MAX - 1);
    gc_core::collect();
    assert_eq!(mem_stats().next_gc, FIRST_GOAL, "back to GOGC=100's goal");
    assert!(live.iter().enumerate().all(|(i, g)| **g == [i as u64; 8]));
    println!("PROBE_OK");
}

#[test]
fn setters_take_bad_values_as_documented() {
    if is_child() {
        return;
    }
    let r = run("child_setters", &[], &[]);
    r.assert_ok("setters");
    assert!(r.warnings().is_empty(), "{}", r.stderr);
}

// ---------------------------------------------------------------------------------------
// Absurd allocation sizes

/// 64 MiB + 8 KiB: more than one 64 MiB arena.
const BIG_WORDS: usize = (64 << 20) / 8 + 1024;

#[test]
fn child_large_object() {
    if !is_child() {
        return;
    }
    // Gc::new takes its value by value, so the value passes through the stack: give the
    // thread room for a few copies (reserved lazily).
    std::thread::Builder::new()
        .stack_size(4 * BIG_WORDS * 8)
        .spawn(|| {
            let bytes = (BIG_WORDS * 8) as u64;
            let before = mem_stats();
            let make = |tag: u64| {
                let mut a = [0u64; BIG_WORDS];
                a[0] = tag;
                a[BIG_WORDS / 2] = tag + 1;
                a[BIG_WORDS - 1] = tag + 2;
                Gc::new(a)
            };
            let big = make(7);
            let s = mem_stats();
            assert!(s.heap_alloc >= before.heap_alloc + bytes, "{s:?}");
            assert_eq!(s.by_size[0].mallocs, before.by_size[0].mallocs + 1);
            gc_core::collect();
            assert_eq!((big[0], big[BIG_WORDS / 2], big[BIG_WORDS - 1]), (7, 8, 9));
            assert!(big.iter().step_by(4093).skip(1).all(|&w| w == 0));
            let sys = mem_stats().heap_sys;
            drop(big);
            gc_core::collect();
            let s = mem_stats();
            assert!(s.heap_alloc < before.heap_alloc + MIB, "freed: {s:?}");
            assert_eq!(s.by_size[0].frees, before.by_size[0].frees + 1);
            // The freed pages are reused, not mapped again.
            let again = make(70);
            assert_eq!(again[BIG_WORDS - 1], 72);
            assert!(
                mem_stats().heap_sys <= sys,
                "the heap grew for a reused size"
            );
        })
        .unwrap()
        .join()
        .unwrap();
    println!("PROBE_OK");
}

#[test]
fn an_object_larger_than_an_arena_works() {
    if is_child() {
        return;
    }
    run("child_large_object", &[], &[]).assert_ok("64 MiB object");
}

#[derive(Trace, PartialEq, Debug)]
struct Unit;

#[repr(align(8))]
#[derive(Trace, PartialEq, Debug)]
struct AlignedUnit;

static UNIT_DROPS: AtomicU64 = AtomicU64::new(0);

/// A zero-sized type with drop glue: it takes a small-object slot, not the tiny allocator.
#[derive(Trace)]
#[trace(unsafe_drop)]
struct DropUnit;

impl Drop for DropUnit {
    fn drop(&mut self) {
        UNIT_DROPS.fetch_add(1, Ordering::SeqCst);
    }
}

/// A zero-sized object allocated when the thread's tiny block is exactly full used to get
/// the address one past the block, i.e. the *next* block's: its handle then counted roots on
/// whatever object was put there, so dropping it freed that object while it was still in use.
#[test]
fn zero_sized_objects_never_alias_a_neighbour() {
    // A fresh thread: a fresh tiny block, so the offsets below are exact.
    std::thread::spawn(|| {
        for fill in 1..=16usize {
            // Fill `fill` bytes of a block, then a zero-sized object, then a neighbour.
            let bytes: Vec<Gc<u8>> = (0..fill).map(|i| Gc::new(i as u8)).collect();
            let units = (Gc::new(()), Gc::new(Unit), Gc::new(AlignedUnit));
            let huge: Gc<[(); usize::MAX]> = Gc::new([(); usize::MAX]);
            let neighbour = Gc::new([0xAB_u8; 8]);
            assert_eq!(*units.1, Unit);
            assert_eq!(*units.2, AlignedUnit);
            assert_eq!(huge.len(), usize::MAX);
            assert_eq!(Gc::as_ptr(&units.2) as usize % 8, 0);
            drop((units, huge));
            gc_core::collect();
            // Reuse every free tiny slot: a wrongly freed neighbour would be overwritten.
            let others: Vec<Gc<[u8; 8]>> = (0..2000).map(|_| Gc::new([0x11; 8])).collect();
            assert_eq!(*neighbour, [0xAB; 8], "fill {fill}");
            assert!(bytes.iter().enumerate().all(|(i, b)| **b == i as u8));
            assert!(others.iter().all(|o| **o == [0x11; 8]));
            drop(neighbour); // would underflow the wrong slot's root count
        }
    })
    .join()
    .unwrap();

    let before = UNIT_DROPS.load(Ordering::SeqCst);
    let units: Vec<Gc<DropUnit>> = (0..100).map(|_| Gc::new(DropUnit)).collect();
    gc_core::collect();
    assert_eq!(
        UNIT_DROPS.load(Ordering::SeqCst),
        before,
        "all still rooted"
    );
    drop(units);
    gc_core::collect();
    assert_eq!(UNIT_DROPS.load(Ordering::SeqCst), before + 100);
}

#[test]
fn page_aligned_objects() {
    #[derive(Trace)]
    #[repr(align(8192))]
    struct Page {
        v: [u64; 16],
    }
    let pages: Vec<Gc<Page>> = (0..8u64).map(|i| Gc::new(Page { v: [i; 16] })).collect();
    gc_core::collect();
    for (i, p) in pages.iter().enumerate() {
        assert_eq!(Gc::as_ptr(p) as usize % 8192, 0);
        assert_eq!(p.v, [i as u64; 16]);
    }
}

/// Holds objects of the kind `BAD_INPUT_OOM` names until the address space (capped with
/// `RLIMIT_AS` a little above what the process already uses) runs out.
#[test]
fn child_out_of_memory() {
    if !is_child() {
        return;
    }
    let large = match std::env::var(OOM_KIND).as_deref() {
        Ok("large") => true,
        Ok("small") => false,
        other => panic!("{OOM_KIND}={other:?}"),
    };
    // Start the collector's threads and reserve the handles' vector before the cap.
    let _warm = Gc::new(0u64);
    gc_core::collect();
    let mut held_large: Vec<Gc<[u64; 32768]>> = Vec::with_capacity(4096);
    let mut held_small: Vec<Gc<[u64; 64]>> = Vec::with_capacity(1 << 21);
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().next().unwrap().parse().unwrap();
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64;
    // Less than a fresh 64 MiB arena's mapping needs (it maps 128 MiB to align it), and
    // plenty for everything else the process maps meanwhile.
    let cap = pages * page + 100 * MIB;
    let limit = libc::rlimit {
        rlim_cur: cap as libc::rlim_t,
        rlim_max: cap as libc::rlim_t,
    };
    // SAFETY: a valid rlimit for this process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &limit) }, 0);
    println!("CAPPED_AT_MIB={}", cap / MIB);
    // At most 1 GiB: far beyond the cap, so reaching the end means the cap did not work.
    for i in 0..4096u64 {
        if large {
            held_large.push(Gc::new([i; 32768])); // 256 KiB
        } else {
            for j in 0..512u64 {
                held_small.push(Gc::new([i ^ j; 64])); // 512 B, 256 KiB per round
            }
        }
        println!("HELD_KIB={}", (i + 1) * 256);
    }
    println!("NEVER_RAN_OUT");
}

#[test]
fn running_out_of_memory_is_a_clear_fatal_error() {
    if is_child() {
        return;
    }
    for (kind, gogc) in [("large", "off"), ("small", "off"), ("large", "100")] {
        let r = run(
            "child_out_of_memory",
            &[("GOGC", gogc.as_bytes())],
            &[(OOM_KIND, kind)],
        );
        let what = format!("{kind} objects, GOGC={gogc}");
        assert!(
            !r.stdout.contains("NEVER_RAN_OUT"),
            "{what}: the cap had no effect"
        );
        assert!(r.num("CAPPED_AT_MIB=") > 0, "{what}: {}", r.stderr);
        assert!(
            r.num("HELD_KIB=") > 0,
            "{what}: nothing allocated under the cap"
        );
        assert!(!r.status.success(), "{what}: {}", r.stdout);
        assert!(
            !matches!(r.status.signal(), Some(libc::SIGSEGV | libc::SIGBUS)),
            "{what}: crashed with {}\n{}",
            r.status,
            r.stderr
        );
        assert!(
            r.stderr
                .contains("fatal error: gc_core: out of memory allocating"),
            "{what}: {}\n{}",
            r.status,
            r.stderr
        );
    }
}

// ---------------------------------------------------------------------------------------
// GOMEMLIMIT below the live heap

/// Just under 8 KiB (size class 8192); a linked list of them is the live set, traced each
/// cycle.
#[derive(Trace)]
struct Chunk {
    data: [u64; CHUNK_WORDS],
    next: Option<Gc<Chunk>>,
}

const CHUNK_WORDS: usize = 1022;

/// 64 MiB live under a 16 MiB limit: cycles run back to back, but the program keeps going,
/// its objects stay intact and the GC's CPU share stays bounded; once the live set goes, the
/// heap returns under the limit.
#[test]
fn child_limit_below_live() {
    if !is_child() {
        return;
    }
    const CHUNKS: u64 = 64 * 1024 / 8;
    let limit = set_memory_limit(-1) as u64;
    assert_eq!(limit, 16 * MIB);
    let mut head: Option<Gc<Chunk>> = None;
    for i in 0..CHUNKS {
        head = Some(Gc::new(Chunk {
            data: [i; CHUNK_WORDS],
            next: head.take(),
        }));
    }
    let built = mem_stats();
    println!("LIVE_MIB={}", built.heap_alloc / MIB);
    println!("CYCLES_WHILE_BUILDING={}", built.num_gc);

    // At least 8 MiB of garbage, and until three more cycles have completed.
    let mut max_heap_alloc = 0;
    let spent = churn_until(256 * MIB, |spent, s| {
        max_heap_alloc = max_heap_alloc.max(s.heap_alloc);
        spent >= 8 * MIB && s.num_gc >= built.num_gc + 3
    });
    let churned = mem_stats();
    println!("CYCLES_WHILE_CHURNING={}", churned.num_gc - built.num_gc);
    println!("GARBAGE_MIB={}", spent / MIB);
    println!("MAX_HEAP_ALLOC_MIB={}", max_heap_alloc / MIB);
    println!(
        "GC_CPU_PERMILLE={}",
        (churned.gc_cpu_fraction * 1000.0) as u64
    );

    // Every object is intact.
    let mut n = CHUNKS;
    let mut cur = head.clone();
    while let Some(c) = cur {
        n -= 1;
        assert!(c.data.iter().all(|&w| w == n), "chunk {n} corrupted");
        cur = c.next.clone();
    }
    assert_eq!(n, 0, "chunks lost");

    // The live set goes: automatic cycles (two: one may have started before the drop)
    // bring the heap back under the limit.
    drop(head);
    let dropped = mem_stats().num_gc;
    let spent = churn_until(64 * MIB, |_, s| {
        s.num_gc >= dropped + 2 && s.heap_alloc < limit
    });
    let s = mem_stats();
    println!("CYCLES_AFTER_DROP={}", s.num_gc - dropped);
    println!("GARBAGE_AFTER_DROP_KIB={}", spent >> 10);
    println!("HEAP_ALLOC_AFTER_DROP={}", s.heap_alloc);
    println!("HEAP_SYS_AFTER_DROP_MIB={}", s.heap_sys / MIB);
    gc_core::collect();
    let s = mem_stats();
    println!("HEAP_ALLOC_COLLECTED={}", s.heap_alloc);
    // With next to nothing live, the goal could be GOGC's 4 MiB minimum again (GOGC=100)
    // or the limit minus its headroom (GOGC=off).
    println!("NEXT_GC_AFTER_RECOVERY={}", s.next_gc);
    println!("PROBE_OK");
}

/// Runs the child with `GOMEMLIMIT=16MiB`, under `GOGC=100` and `GOGC=off` in parallel.
fn run_limit_below_live() -> Vec<(String, Run)> {
    let jobs: Vec<Vec<(&str, &[u8])>> = vec![
        vec![("GOMEMLIMIT", b"16MiB")],
        vec![("GOMEMLIMIT", b"16MiB"), ("GOGC", b"off")],
    ];
    let runs = run_all("child_limit_below_live", &jobs, &[]);
    jobs.iter()
        .zip(runs)
        .map(|(vars, r)| {
            let what = show(vars);
            r.assert_ok(&what);
            (what, r)
        })
        .collect()
}

#[test]
fn memory_limit_below_the_live_heap_degrades_gracefully() {
    if is_child() {
        return;
    }
    for (what, r) in run_limit_below_live() {
        assert!(r.warnings().is_empty(), "{what}: {}", r.stderr);
        assert!(r.num("LIVE_MIB=") >= 64, "{what}");
        // The limit is exceeded throughout: cycles keep completing (within the garbage
        // budget), and every object survived them.
        assert!(r.num("CYCLES_WHILE_CHURNING=") >= 3, "{what}: {}", r.stdout);
        // Cumulative GC CPU since start; the limiter aims at 50% (Go's), a healthy run
        // shows 40-50%.
        let cpu = r.num("GC_CPU_PERMILLE=");
        assert!(cpu < 900, "{what}: GC took {cpu}‰ of the CPU");
        // After the live set is dropped, automatic cycles bring the heap under the limit.
        assert!(r.num("CYCLES_AFTER_DROP=") >= 2, "{what}: {}", r.stdout);
        assert!(
            r.num("HEAP_ALLOC_AFTER_DROP=") < 16 * MIB,
            "{what}: {}",
            r.stdout
        );
        assert!(r.num("HEAP_ALLOC_COLLECTED=") < MIB, "{what}: {}", r.stdout);
    }
}

/// Known gap (no scavenger yet, see README "Not yet done"): once the heap has been mapped
/// past `GOMEMLIMIT`, free pages are never returned, so the mapped memory stays over the
/// limit, the memory-limit goal stays pinned at the (now tiny) marked heap, and the program
/// collects continuously for the rest of its life (about one cycle per few KiB allocated,
/// GC CPU held at the limiter's 50%). Go returns the pages (its allocator scavenges when
/// over the limit) and goes back to a normal goal. Run with `--ignored`.
#[test]
#[ignore = "no scavenger: after exceeding GOMEMLIMIT once the heap collects continuously"]
fn after_the_live_set_goes_the_goal_recovers() {
    if is_child() {
        return;
    }
    for (what, r) in run_limit_below_live() {
        let goal = r.num("NEXT_GC_AFTER_RECOVERY=");
        assert!(
            goal >= FIRST_GOAL,
            "{what}: goal {goal} with ~0 live and heap_sys {} MiB",
            r.num("HEAP_SYS_AFTER_DROP_MIB=")
        );
    }
}

// ---------------------------------------------------------------------------------------
// Cell borrow misuse (the blocking `borrow`/`borrow_mut` would wait for ever on the same
// thread; the `try_` forms report it)

#[derive(Trace)]
struct Holder {
    cell: GcCell<Vec<Gc<u64>>>,
}

#[test]
fn try_borrows_report_conflicts_instead_of_blocking() {
    let h = Gc::new(Holder {
        cell: GcCell::new(vec![Gc::new(1)]),
    });
    {
        let r = h.cell.borrow();
        let e: BorrowError = h.cell.try_borrow_mut().expect_err("shared-borrowed");
        assert_eq!(e.to_string(), "GcCell is already borrowed incompatibly");
        let e: &dyn std::error::Error = &e;
        assert!(e.source().is_none());
        let r2 = h.cell.try_borrow().expect("shared borrows stack");
        assert_eq!(*r[0], *r2[0]);
    }
    {
        let mut w = h.cell.try_borrow_mut().expect("free again");
        assert!(h.cell.try_borrow().is_err());
        assert!(h.cell.try_borrow_mut().is_err());
        w.push(Gc::new(2));
        // A collection while this thread holds the write guard neither waits for it nor
        // loses what the guard is writing.
        gc_core::collect();
        w.push(Gc::new(3));
    }
    gc_core::collect();
    let values: Vec<u64> = h.cell.borrow().iter().map(|g| **g).collect();
    assert_eq!(values, [1, 2, 3]);
    // Another thread sees the conflict too.
    let w = h.cell.borrow_mut();
    let h2 = h.clone();
    let seen = std::thread::spawn(move || {
        (
            h2.cell.try_borrow().is_err(),
            h2.cell.try_borrow_mut().is_err(),
        )
    })
    .join()
    .unwrap();
    assert_eq!(seen, (true, true));
    drop(w);
}
