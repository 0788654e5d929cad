//! Tests of the environment settings (a child of `env.rs`): `GOGC`, `GOMEMLIMIT`,
//! `GOMAXPROCS` and `GODEBUG` parsing by table, defaults, and the warnings for bad
//! values.

use super::*;
use std::collections::HashMap;

const MIB: i64 = 1 << 20;

/// Inputs that must never panic any parser; each must also be rejected or accepted
/// consistently (checked per parser below).
const NASTY: &[&str] = &[
    "",
    " ",
    "\t\n",
    "-",
    "+",
    "--1",
    "+-1",
    "- 1",
    "-0",
    "+0",
    "00",
    "1e9",
    "0x10",
    "0b1",
    "100%",
    "1_000",
    "1.5",
    ".5",
    "5.",
    "9223372036854775807",
    "9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "-9223372036854775808",
    "99999999999999999999999999999999999999",
    "１００",
    "½",
    "٣",
    "off ",
    "OFF",
    "oFf",
    "offf",
    "of",
    "B",
    "iB",
    "KiB",
    "-KiB",
    "5iB",
    "5KB",
    "5kiB",
    "5 MiB",
    "5MiB ",
    "5MiBB",
    "MiB5",
    "\u{0}",
    "1\u{0}",
    "\u{202E}1",
    "1\u{2028}",
    "🦀",
    "é",
    "\u{FEFF}1",
    "gctrace",
    "=",
    ",",
    ",,,",
    "gctrace=",
    "=1",
    "gctrace==1",
    "gctrace=1=1",
];

#[test]
fn gogc_table() {
    let ok: &[(&str, Gogc)] = &[
        ("100", Gogc::Percent(100)),
        ("0", Gogc::Percent(0)),
        ("-0", Gogc::Percent(0)),
        ("+200", Gogc::Percent(200)),
        (" 50 ", Gogc::Percent(50)),
        ("007", Gogc::Percent(7)),
        ("2147483647", Gogc::Percent(i32::MAX)),
        ("off", Gogc::Off),
        ("OFF", Gogc::Off),
        (" Off\t", Gogc::Off),
        ("-1", Gogc::Off),
        ("-100", Gogc::Off),
        ("-99999999999999999999999", Gogc::Off),
    ];
    for (input, want) in ok {
        assert_eq!(parse_gogc(input), Ok(*want), "GOGC={input:?}");
    }
    let bad = [
        "",
        " ",
        "12x",
        "1e9",
        "0x10",
        "100%",
        "1_000",
        "1.5",
        "--1",
        "+-1",
        "- 1",
        "of",
        "offf",
        "１００",
        "½",
        "\u{0}",
        "2147483648",
        "9223372036854775808",
    ];
    for input in bad {
        assert!(
            parse_gogc(input).is_err(),
            "GOGC={input:?} should be rejected"
        );
    }
    assert_eq!(
        parse_gogc("2147483648").unwrap_err(),
        "\"2147483648\" is more than the largest allowed value, 2147483647"
    );
    assert_eq!(Gogc::Percent(50).percent(), Some(50));
    assert_eq!(Gogc::Percent(-5).percent(), None);
    assert_eq!(Gogc::Off.percent(), None);
}

#[test]
fn memory_limit_table() {
    let ok: &[(&str, i64)] = &[
        ("0", 0),
        ("-0", 0),
        ("1", 1),
        ("4096", 4096),
        ("512B", 512),
        ("1KiB", 1024),
        ("512MiB", 512 * MIB),
        ("4GiB", 4 << 30),
        ("2TiB", 2 << 40),
        (" 64MiB\n", 64 * MIB),
        ("9223372036854775807", i64::MAX),
        ("9223372036854775807B", i64::MAX),
        ("8388607TiB", (8_388_607_i64) << 40),
        ("off", NO_MEMORY_LIMIT),
        ("OFF", NO_MEMORY_LIMIT),
    ];
    for (input, want) in ok {
        assert_eq!(parse_memory_limit(input), Ok(*want), "GOMEMLIMIT={input:?}");
    }
    let bad = [
        "",
        " ",
        "B",
        "KiB",
        "-KiB",
        "iB",
        "5iB",
        "5KB",
        "5kiB",
        "5kib",
        "5GB",
        "5 GB",
        "5 MiB",
        "5MiBB",
        "MiB5",
        "1.5GiB",
        "1e9",
        "0x10",
        "+5",
        "-5",
        "-5MiB",
        "100%",
        "9223372036854775808",
        "8388608TiB",
        "18446744073709551616KiB",
        "１MiB",
        "🦀",
    ];
    for input in bad {
        assert!(
            parse_memory_limit(input).is_err(),
            "GOMEMLIMIT={input:?} should be rejected"
        );
    }
    assert_eq!(
        parse_memory_limit("-5MiB").unwrap_err(),
        "\"-5MiB\" is a negative byte count (examples: 512MiB, 4GiB, off)"
    );
    assert_eq!(
        parse_memory_limit("9223372036854775808").unwrap_err(),
        "\"9223372036854775808\" is more than the largest allowed value, \
         9223372036854775807 bytes"
    );
}

#[test]
fn gomaxprocs_table() {
    for (input, want) in [
        ("1", 1),
        ("8", 8),
        (" 16 ", 16),
        ("0004", 4),
        ("1024", 1024),
    ] {
        assert_eq!(parse_gomaxprocs(input), Ok(want), "GOMAXPROCS={input:?}");
    }
    for input in [
        "",
        "0",
        "-0",
        "-1",
        "+4",
        "4.0",
        "four",
        "1e3",
        "0x10",
        "1025",
        "9223372036854775808",
        "-99999999999999999999",
        "４",
    ] {
        assert!(
            parse_gomaxprocs(input).is_err(),
            "GOMAXPROCS={input:?} should be rejected"
        );
    }
    assert_eq!(
        parse_gomaxprocs("0").unwrap_err(),
        "\"0\" is not a positive integer"
    );
    assert_eq!(
        parse_gomaxprocs("1025").unwrap_err(),
        "\"1025\" is more than the largest allowed value, 1024"
    );
}

#[test]
fn godebug_table() {
    let all = DebugFlags {
        gctrace: 2,
        gccheckmark: true,
        gcstoptheworld: 2,
        clobberfree: true,
        scavtrace: true,
        gcpacertrace: true,
        stalltrace: true,
        stallthreshold: 250,
        allocblack: true,
        allocwhite: true,
    };
    let cases: &[(&str, DebugFlags, usize)] = &[
        ("", DebugFlags::default(), 0),
        (
            "gctrace=1",
            DebugFlags {
                gctrace: 1,
                ..DebugFlags::default()
            },
            0,
        ),
        (
            "gctrace=2,gccheckmark=1,gcstoptheworld=2,clobberfree=1,scavtrace=1,gcpacertrace=1,stalltrace=1,stallthreshold=250,allocblack=1,allocwhite=1",
            all,
            0,
        ),
        // Blanks around fields, keys and values; empty fields.
        (
            " gctrace = 1 ,, ",
            DebugFlags {
                gctrace: 1,
                ..DebugFlags::default()
            },
            0,
        ),
        // Later entries win.
        ("gctrace=1,gctrace=0", DebugFlags::default(), 0),
        // Unknown keys (and unknown keys without '=') are ignored silently.
        (
            "madvdontneed=1,invalidptr=0,foo,=,=1,,",
            DebugFlags::default(),
            0,
        ),
        // A non-zero integer switches a flag on, as in Go.
        (
            "gccheckmark=7",
            DebugFlags {
                gccheckmark: true,
                ..DebugFlags::default()
            },
            0,
        ),
        ("gccheckmark=-0", DebugFlags::default(), 0),
        // Malformed values warn and keep the earlier value.
        (
            "gctrace=1,gctrace=x",
            DebugFlags {
                gctrace: 1,
                ..DebugFlags::default()
            },
            1,
        ),
        ("gctrace=-1", DebugFlags::default(), 1),
        ("gctrace=4294967296", DebugFlags::default(), 1),
        ("gcstoptheworld=3", DebugFlags::default(), 1),
        ("gccheckmark=yes,clobberfree=true", DebugFlags::default(), 2),
        ("gctrace", DebugFlags::default(), 1),
        ("gctrace=", DebugFlags::default(), 1),
        ("gctrace==1", DebugFlags::default(), 1),
        ("GCTRACE=1", DebugFlags::default(), 0),
    ];
    for (input, want, n_warnings) in cases {
        let (flags, warnings) = parse_godebug(input);
        assert_eq!(flags, *want, "GODEBUG={input:?}");
        assert_eq!(
            warnings.len(),
            *n_warnings,
            "GODEBUG={input:?}: {warnings:?}"
        );
    }
    let (_, w) = parse_godebug("gctrace=1,gctrace=x");
    assert_eq!(
        w,
        ["gc_core: GODEBUG gctrace=\"x\" is not a non-negative integer; using gctrace=1"]
    );
    let (_, w) = parse_godebug("gcstoptheworld=3");
    assert_eq!(
        w,
        ["gc_core: GODEBUG gcstoptheworld=\"3\" is not 0, 1 or 2; using gcstoptheworld=0"]
    );
    let (_, w) = parse_godebug("scavtrace");
    assert_eq!(
        w,
        [
            "gc_core: GODEBUG \"scavtrace\" has no value (expected scavtrace=<n>); \
          using scavtrace=0"
        ]
    );
}

fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

#[test]
fn config_defaults_and_valid_values() {
    let (config, warnings) = Config::from_lookup(lookup(&[]), 8);
    assert_eq!(config, Config::defaults(8));
    assert_eq!(config.gogc, Gogc::Percent(100));
    assert_eq!(config.memory_limit, i64::MAX);
    assert_eq!(config.gomaxprocs, 8);
    assert!(warnings.is_empty());
    // No core count known, or an absurd one.
    assert_eq!(Config::defaults(0).gomaxprocs, 1);
    assert_eq!(Config::defaults(100_000).gomaxprocs, MAX_GOMAXPROCS);

    let (config, warnings) = Config::from_lookup(
        lookup(&[
            ("GOGC", "200"),
            ("GOMEMLIMIT", "4GiB"),
            ("GOMAXPROCS", "3"),
            ("GODEBUG", "gctrace=1,gcstoptheworld=1"),
        ]),
        8,
    );
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(config.gogc, Gogc::Percent(200));
    assert_eq!(config.memory_limit, 4 << 30);
    assert_eq!(config.gomaxprocs, 3);
    assert_eq!(config.debug.gctrace, 1);
    assert_eq!(config.debug.gcstoptheworld, 1);
}

#[test]
fn empty_values_are_unset_values() {
    let vars = [
        ("GOGC", ""),
        ("GOMEMLIMIT", " "),
        ("GOMAXPROCS", "\t"),
        ("GODEBUG", ""),
    ];
    let (config, warnings) = Config::from_lookup(lookup(&vars), 4);
    assert_eq!(config, Config::defaults(4));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[test]
fn gomaxprocs_is_clamped_to_four_per_core() {
    // (value, cores, procs used, warns)
    let cases: &[(&str, usize, usize, bool)] = &[
        // Above the core count but sane: taken as is (Go's meaning).
        ("3", 2, 3, false),
        ("8", 2, 8, false),
        ("4", 1, 4, false),
        ("4", 0, 4, false),
        ("1024", 256, 1024, false),
        // Absurd for the machine: clamped to 4 per core (at least 4).
        ("9", 2, 8, true),
        ("1024", 2, 8, true),
        (" 1024 ", 2, 8, true),
        ("5", 1, 4, true),
        ("5", 0, 4, true),
        ("1024", 255, 1020, true),
        // Out of range or malformed: the core count, as before (one warning).
        ("1025", 2, 2, true),
        ("1025", 1000, 1000, true),
        ("0", 2, 2, true),
    ];
    for &(value, cores, want, warns) in cases {
        let (config, warnings) = Config::from_lookup(lookup(&[("GOMAXPROCS", value)]), cores);
        let what = format!("GOMAXPROCS={value:?} on {cores} cores");
        assert_eq!(config.gomaxprocs, want, "{what}");
        assert_eq!(warnings.len(), usize::from(warns), "{what}: {warnings:?}");
        assert!(config.gomaxprocs <= most_procs(cores), "{what}");
    }
    let (_, warnings) = Config::from_lookup(lookup(&[("GOMAXPROCS", "1024")]), 2);
    assert_eq!(
        warnings,
        [
            "gc_core: GOMAXPROCS=\"1024\" is more than 4 per available core (2); \
          using GOMAXPROCS=8"
        ]
    );
    assert_eq!(most_procs(0), 4);
    assert_eq!(most_procs(2), 8);
    assert_eq!(most_procs(100_000), MAX_GOMAXPROCS);
}

#[test]
fn warnings_name_variable_value_and_fallback() {
    let (config, warnings) = Config::from_lookup(
        lookup(&[
            ("GOGC", "12x"),
            ("GOMEMLIMIT", "5 GB"),
            ("GOMAXPROCS", "0"),
            ("GODEBUG", "gctrace=on"),
        ]),
        6,
    );
    assert_eq!(config, Config::defaults(6));
    assert_eq!(
        warnings,
        [
            "gc_core: GOGC=\"12x\" is not an integer percentage or \"off\"; using GOGC=100",
            "gc_core: GOMEMLIMIT=\"5 GB\" is not a byte count (examples: 512MiB, 4GiB, \
             off); using GOMEMLIMIT=off",
            "gc_core: GOMAXPROCS=\"0\" is not a positive integer; using GOMAXPROCS=6",
            "gc_core: GODEBUG gctrace=\"on\" is not a non-negative integer; using gctrace=0",
        ]
    );
}

#[test]
fn warnings_stay_on_one_line_and_short() {
    let long = "9".repeat(10_000);
    let values = [
        "1\n2",
        "1\r2",
        "a\u{2028}b",
        "\u{202E}001",
        "1\u{85}2",
        "\"",
        "\\",
        &long,
    ];
    for v in values {
        let (_, warnings) = Config::from_lookup(lookup(&[("GOGC", v)]), 1);
        assert_eq!(warnings.len(), 1, "GOGC={v:?}");
        let w = &warnings[0];
        assert!(
            !w.contains(['\n', '\r', '\u{2028}', '\u{85}', '\u{202E}']),
            "{w:?}"
        );
        assert!(w.chars().count() < 200, "{w:?}");
        assert!(w.starts_with("gc_core: GOGC=\""), "{w:?}");
    }
    assert_eq!(quote("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    assert_eq!(quote(&"x".repeat(65)), format!("\"{}…\"", "x".repeat(64)));
}

/// Runs every parser over the nasty inputs, over each of them with a suffix and prefix,
/// and over a few thousand pseudo-random strings from a hostile alphabet: nothing panics,
/// every rejection becomes exactly one warning, every acceptance none.
#[test]
fn no_input_panics() {
    let mut inputs: Vec<String> = NASTY.iter().map(|s| s.to_string()).collect();
    for s in NASTY {
        for affix in ["MiB", "B", "0", "-", "=1", ","] {
            inputs.push(format!("{s}{affix}"));
            inputs.push(format!("{affix}{s}"));
        }
    }
    let alphabet: Vec<char> = "0123456789-+ ,=.xeBKMGTi\u{0}é🦀\n_offOFFgctrace"
        .chars()
        .collect();
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..3000 {
        let mut s = String::new();
        // xorshift64: deterministic, no dependency.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        for k in 0..(state % 24) {
            let pick = (state.rotate_left(k as u32 * 5) % alphabet.len() as u64) as usize;
            s.push(alphabet[pick]);
        }
        inputs.push(s);
    }
    for s in &inputs {
        let _ = parse_godebug(s);
        for var in ["GOGC", "GOMEMLIMIT", "GOMAXPROCS"] {
            let (config, warnings) = Config::from_lookup(lookup(&[(var, s)]), 4);
            let accepted = match var {
                "GOGC" => parse_gogc(s).is_ok(),
                "GOMEMLIMIT" => parse_memory_limit(s).is_ok(),
                _ => parse_gomaxprocs(s).is_ok(),
            };
            let clamped = var == "GOMAXPROCS" && parse_gomaxprocs(s).is_ok_and(|p| p > 16);
            let expect = usize::from((!accepted || clamped) && !s.trim().is_empty());
            assert_eq!(warnings.len(), expect, "{var}={s:?}: {warnings:?}");
            if clamped {
                assert_eq!(config.gomaxprocs, most_procs(4), "{var}={s:?}");
            } else if expect == 1 {
                assert_eq!(config, Config::defaults(4), "{var}={s:?}");
                assert!(warnings[0].starts_with(&format!("gc_core: {var}=")));
                assert!(!warnings[0].contains('\n'));
            }
            assert!(config.gomaxprocs >= 1 && config.memory_limit >= 0);
        }
    }
}
