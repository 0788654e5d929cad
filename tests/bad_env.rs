//! Malformed environment variables: every variable the runtime reads (`GOGC`, `GOMEMLIMIT`,
//! `GOMAXPROCS`, each `GODEBUG` key it knows, unknown keys) set to garbage, empty, negative,
//! overflowing, wrongly suffixed or non-UTF-8 values, one at a time and all at once; and the
//! odd but valid values that must be taken without a word.
//!
//! The promise under test (see `gc-core/src/env.rs`): a malformed value never stops the
//! program; it prints exactly one `gc_core: ` warning line naming the variable, the value and
//! the value used instead, and the documented default applies.
//!
//! The environment is read once per process, so each case runs in a child process
//! (`tests/common/child.rs`) that re-runs this test binary with `GC_CORE_TEST_CHILD` set and
//! `child_probe` selected; the parent checks its exit status, stdout (`KEY=value` lines) and
//! stderr. To reproduce a child case by hand:
//!
//! ```sh
//! cargo test --test bad_env --no-run   # prints the binary's path
//! GC_CORE_TEST_CHILD=1 GOGC=1e99 target/debug/deps/bad_env-<hash> \
//!     --exact child_probe --nocapture --test-threads=1
//! GC_CORE_TEST_CHILD=1 GODEBUG=gctrace=x BAD_ENV_CHURN_KIB=1024 \
//!     target/debug/deps/bad_env-<hash> --exact child_probe --nocapture --test-threads=1
//! ```
//!
//! (A non-UTF-8 value needs the shell's `$'\xff'` quoting.) Without `GC_CORE_TEST_CHILD`
//! `child_probe` returns at once.

mod common;

use common::child::{
    automatic_cycles, churn_until, default_procs, is_child, quoted, run, run_all, show, Run,
    FIRST_GOAL, MIB,
};
use gc_core::{mem_stats, set_gc_percent, set_memory_limit, Gc};

/// How much garbage the probe may allocate while waiting for an automatic cycle, in KiB
/// (default 6144).
const CHURN_KIB: &str = "BAD_ENV_CHURN_KIB";
/// Budget when a cycle is expected: cycles start on the collector's thread, so how much is
/// allocated before one completes depends on scheduling; a garbage budget (not a clock)
/// bounds the wait, and a healthy run stops soon after the goal.
const EXPECT_CYCLE: &str = "131072";
/// Budget when no automatic cycle may run: past `GOGC=100`'s first goal (4 MiB).
const EXPECT_NONE: &str = "6144";

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
    let spent = churn_until(kib << 10, |_, s| automatic_cycles(s) > 0);
    println!("AUTO_GC={}", automatic_cycles(&mem_stats()));
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
