//! Environment configuration, read once at start: `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS` and
//! `GODEBUG`, with Go's syntax and defaults.
//!
//! Everything here is a pure parser except [`Config::load`], the one function that reads the
//! process environment and prints warnings. The collector (overview: `crate::design::collector`) calls it
//! once when the heap is created and hands the [`Config`] to the pacer and the debug checks.
//!
//! Invariants:
//! - No input makes a parser panic, whatever its length, bytes or range.
//! - A malformed value never stops the program (Go aborts on a malformed `GOMEMLIMIT`): the
//!   default stays in place and exactly one warning line names the variable, the bad value
//!   (quoted, escaped, cut at 64 characters) and the value used instead.
//! - An unset variable and one set to blanks are the same thing, as in Go (`GOGC= cmd`).
//!
//! Where the syntax differs from Go's runtime, on purpose:
//! - surrounding blanks are trimmed, and `off` is accepted in any case (Go: exactly `off`);
//! - Go silently ignores a malformed `GOGC`, `GOMAXPROCS` or `GODEBUG` value; here each one
//!   also prints a warning;
//! - a `GOMEMLIMIT` must have a digit (Go reads `-KiB` as 0);
//! - `GOMAXPROCS` is capped at [`MAX_GOMAXPROCS`] (Go's cap before Go 1.10); a value above
//!   it is malformed (warning, the core count is used);
//! - a valid `GOMAXPROCS` above [`PROCS_PER_CORE`] per available core (Go takes it as is)
//!   is clamped to that many, with one warning: the collector plans its workers, CPU
//!   budget and pauses' cost per proc, and `GOMAXPROCS=1024` on 2 cores only multiplied
//!   them. Values up to the clamp are taken without a word, above the core count too.

/// `GOGC` when the variable is unset or malformed.
pub(crate) const DEFAULT_GOGC: i32 = 100;

/// `GOMEMLIMIT=off`: Go's `math.MaxInt64`, "no limit".
pub(crate) const NO_MEMORY_LIMIT: i64 = i64::MAX;

/// Largest accepted `GOMAXPROCS` (Go's `_MaxGomaxprocs` before Go 1.10); the core count used
/// by default is capped at it too.
pub(crate) const MAX_GOMAXPROCS: usize = 1024;

/// A valid `GOMAXPROCS` may be at most this many per available core (at least this many
/// in all); above that it is clamped, with a warning.
pub(crate) const PROCS_PER_CORE: usize = 4;

/// Every warning line starts with this, so users can tell whose warning it is (the
/// runtime's other warnings use it too).
pub(crate) const WARNING_PREFIX: &str = "gc_core: ";

/// Warnings show at most this many characters of a bad value.
const MAX_SHOWN_CHARS: usize = 64;

/// Examples shown in a `GOMEMLIMIT` warning.
const BYTE_COUNT_EXAMPLES: &str = "(examples: 512MiB, 4GiB, off)";

/// The collector's configuration, built once from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Config {
    /// `GOGC`: heap growth allowed over the live heap before the next cycle, or off.
    pub gogc: Gogc,
    /// `GOMEMLIMIT` in bytes; [`NO_MEMORY_LIMIT`] (`i64::MAX`) means no limit.
    pub memory_limit: i64,
    /// `GOMAXPROCS`: processors the collector plans its workers for (at least 1, at most
    /// [`most_procs`] of the available cores).
    pub gomaxprocs: usize,
    /// `GODEBUG` settings the collector knows.
    pub debug: DebugFlags,
}

/// The `GOGC` setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gogc {
    /// Grow the heap by this percentage of the live heap between cycles (0 = collect
    /// continuously). The parser never produces a negative value.
    Percent(i32),
    /// `GOGC=off` or a negative value: only `collect()` and the memory limit start cycles.
    Off,
}

/// The `GODEBUG` keys the collector knows; any other key is ignored, as in Go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct DebugFlags {
    /// `gctrace=N`: print one line per cycle when N > 0.
    pub gctrace: u32,
    /// `gccheckmark=1`: re-mark with the world stopped and abort on any missed object.
    pub gccheckmark: bool,
    /// `gcstoptheworld=1|2`: 1 marks with mutators stopped; 2 also sweeps with them stopped.
    pub gcstoptheworld: u8,
    /// `clobberfree=1`: fill freed objects with a poison pattern.
    pub clobberfree: bool,
    /// `allocblack=1` (ours): allocate every object black while marking, as Go does,
    /// instead of letting young garbage die in the cycle it was made in on heaps with a
    /// goal of 128 MiB and more (`gc/young.rs`). Wins over `allocwhite`.
    pub allocblack: bool,
    /// `allocwhite=1` (ours): let young garbage die in its cycle on every heap, small
    /// ones too (`gc/young.rs`).
    pub allocwhite: bool,
    /// `scavtrace=1`: print one line per scavenger cycle.
    pub scavtrace: bool,
    /// `gcpacertrace=1`: print the pacer's state at the start and end of each cycle.
    pub gcpacertrace: bool,
    /// `stalltrace=1` (ours, not Go's): print each stretch of 1 ms or more that a mutator
    /// spent held up in the runtime, with its cause (`gc/stalls.rs`).
    pub stalltrace: bool,
    /// `stallthreshold=N` (ours): with `stalltrace=1`, report stretches of N microseconds
    /// or more instead of 1 ms (0, the default: 1 ms).
    pub stallthreshold: u32,
}

impl Default for Gogc {
    fn default() -> Gogc {
        Gogc::Percent(DEFAULT_GOGC)
    }
}

impl Gogc {
    /// The percentage as the pacer takes it: `None` when off (or negative).
    pub(crate) fn percent(self) -> Option<u32> {
        match self {
            Gogc::Percent(p) => u32::try_from(p).ok(),
            Gogc::Off => None,
        }
    }
}

impl std::fmt::Display for Gogc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Gogc::Percent(p) => write!(f, "{p}"),
            Gogc::Off => f.write_str("off"),
        }
    }
}

impl Config {
    /// The configuration with no variable set: `GOGC=100`, no memory limit, one proc per
    /// available core (at least 1, at most [`MAX_GOMAXPROCS`]), no debug flags.
    pub(crate) fn defaults(available_cores: usize) -> Config {
        Config {
            gogc: Gogc::default(),
            memory_limit: NO_MEMORY_LIMIT,
            gomaxprocs: available_cores.clamp(1, MAX_GOMAXPROCS),
            debug: DebugFlags::default(),
        }
    }

    /// Pure: builds the config from a variable lookup; returns the warnings to print, one
    /// line each, in the order `GOGC`, `GOMEMLIMIT`, `GOMAXPROCS`, `GODEBUG`.
    pub(crate) fn from_lookup(
        get: impl Fn(&str) -> Option<String>,
        available_cores: usize,
    ) -> (Config, Vec<String>) {
        let mut config = Config::defaults(available_cores);
        let mut warnings = Vec::new();
        // Go reads an empty variable as an unset one; blanks are treated the same way.
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());

        if let Some(v) = get("GOGC") {
            match parse_gogc(&v) {
                Ok(gogc) => config.gogc = gogc,
                Err(e) => warnings.push(format!(
                    "{WARNING_PREFIX}GOGC={e}; using GOGC={}",
                    config.gogc
                )),
            }
        }
        if let Some(v) = get("GOMEMLIMIT") {
            match parse_memory_limit(&v) {
                Ok(limit) => config.memory_limit = limit,
                Err(e) => warnings.push(format!(
                    "{WARNING_PREFIX}GOMEMLIMIT={e}; using GOMEMLIMIT=off"
                )),
            }
        }
        if let Some(v) = get("GOMAXPROCS") {
            let most = most_procs(available_cores);
            match parse_gomaxprocs(&v) {
                Ok(procs) if procs > most => {
                    warnings.push(format!(
                        "{WARNING_PREFIX}GOMAXPROCS={} is more than {PROCS_PER_CORE} per \
                         available core ({available_cores}); using GOMAXPROCS={most}",
                        quote(&v)
                    ));
                    config.gomaxprocs = most;
                }
                Ok(procs) => config.gomaxprocs = procs,
                Err(e) => warnings.push(format!(
                    "{WARNING_PREFIX}GOMAXPROCS={e}; using GOMAXPROCS={}",
                    config.gomaxprocs
                )),
            }
        }
        if let Some(v) = get("GODEBUG") {
            let (debug, more) = parse_godebug(&v);
            config.debug = debug;
            warnings.extend(more);
        }
        (config, warnings)
    }

    /// Reads the process environment once, prints each warning on stderr as one line.
    ///
    /// A value that is not valid UTF-8 is read lossily (so it gets a warning rather than
    /// being skipped); a failing stderr is ignored rather than turned into a panic.
    pub(crate) fn load() -> Config {
        let cores = crate::sync::available_cores();
        let lookup = |name: &str| std::env::var_os(name).map(|v| v.to_string_lossy().into_owned());
        let (config, warnings) = Config::from_lookup(lookup, cores);
        for warning in &warnings {
            crate::report(format_args!("{warning}"));
        }
        config
    }
}

/// Parses `GOGC`: `off` (any case) or a decimal integer with an optional sign; a negative
/// value means off, as in Go. The error text starts with the quoted value and explains.
pub(crate) fn parse_gogc(s: &str) -> Result<Gogc, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("off") {
        return Ok(Gogc::Off);
    }
    // Go reads GOGC with strconv.ParseInt(s, 10, 32): an optional '+' or '-', then digits.
    match parse_decimal(t, true) {
        Ok((true, n)) if n > 0 => Ok(Gogc::Off),
        Ok((_, n)) => match i32::try_from(n) {
            Ok(p) => Ok(Gogc::Percent(p)),
            Err(_) => Err(too_large(s, i32::MAX as u64, "")),
        },
        Err(Decimal::Overflow) if !t.starts_with('-') => Err(too_large(s, i32::MAX as u64, "")),
        Err(Decimal::Overflow) => Ok(Gogc::Off),
        Err(Decimal::Syntax) => Err(format!(
            "{} is not an integer percentage or \"off\"",
            quote(s)
        )),
    }
}

/// Parses `GOMEMLIMIT` with Go's syntax `^[0-9]+(([KMGT]i)?B)?$` (suffixes are case
/// sensitive: `KiB`, not `kib` or `KB`), or `off` (any case) for [`NO_MEMORY_LIMIT`].
/// Empty, fractional, signed-positive, negative and overflowing values are errors; `-0` is 0,
/// as in Go.
pub(crate) fn parse_memory_limit(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t.eq_ignore_ascii_case("off") {
        return Ok(NO_MEMORY_LIMIT);
    }
    let (digits, unit) = split_byte_suffix(t);
    // Go's runtime atoi64: an optional '-', then digits; no '+'.
    match parse_decimal(digits, false) {
        Ok((true, n)) if n > 0 => Err(format!(
            "{} is a negative byte count {BYTE_COUNT_EXAMPLES}",
            quote(s)
        )),
        Ok((_, n)) => n
            .checked_mul(unit)
            .and_then(|bytes| i64::try_from(bytes).ok())
            .ok_or_else(|| too_large(s, i64::MAX as u64, " bytes")),
        Err(Decimal::Overflow) => Err(too_large(s, i64::MAX as u64, " bytes")),
        Err(Decimal::Syntax) => Err(format!(
            "{} is not a byte count {BYTE_COUNT_EXAMPLES}",
            quote(s)
        )),
    }
}

/// The largest `GOMAXPROCS` taken as is with `available_cores` cores: [`PROCS_PER_CORE`] per
/// core (at least that many in all).
pub(crate) fn most_procs(available_cores: usize) -> usize {
    (PROCS_PER_CORE * available_cores.max(1)).min(MAX_GOMAXPROCS)
}

/// Parses `GOMAXPROCS`: a positive decimal integer, at most [`MAX_GOMAXPROCS`] (the clamp to
/// the machine, [`most_procs`], is applied by [`Config::from_lookup`]).
pub(crate) fn parse_gomaxprocs(s: &str) -> Result<usize, String> {
    // Go's runtime atoi32: an optional '-', then digits; Go ignores values <= 0.
    match parse_decimal(s.trim(), false) {
        Ok((false, n)) if n > 0 => match usize::try_from(n) {
            Ok(procs) if procs <= MAX_GOMAXPROCS => Ok(procs),
            _ => Err(too_large(s, MAX_GOMAXPROCS as u64, "")),
        },
        Err(Decimal::Overflow) if !s.trim().starts_with('-') => {
            Err(too_large(s, MAX_GOMAXPROCS as u64, ""))
        }
        _ => Err(format!("{} is not a positive integer", quote(s))),
    }
}

/// Parses `GODEBUG`, a comma list of `key=value`. Later entries override earlier ones (as in
/// Go at start-up); unknown keys are ignored silently (Go ignores them); a malformed value for
/// a known key gives one warning line and leaves the earlier (or default) value in place.
pub(crate) fn parse_godebug(s: &str) -> (DebugFlags, Vec<String>) {
    let mut flags = DebugFlags::default();
    let mut warnings = Vec::new();
    for field in s.split(',').map(str::trim).filter(|f| !f.is_empty()) {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (field, None),
        };
        let Some(setting) = DebugKey::from_name(key) else {
            continue;
        };
        let problem = match value {
            None => Some(format!(
                "{} has no value (expected {key}=<n>)",
                quote(field)
            )),
            Some(v) => setting
                .set(&mut flags, v)
                .err()
                .map(|expected| format!("{key}={} is not {expected}", quote(v))),
        };
        if let Some(problem) = problem {
            warnings.push(format!(
                "{WARNING_PREFIX}GODEBUG {problem}; using {key}={}",
                setting.get(&flags)
            ));
        }
    }
    (flags, warnings)
}

/// The `GODEBUG` keys the collector understands.
#[derive(Clone, Copy)]
enum DebugKey {
    Gctrace,
    Gccheckmark,
    Gcstoptheworld,
    Clobberfree,
    Scavtrace,
    Gcpacertrace,
    Stalltrace,
    Stallthreshold,
    Allocblack,
    Allocwhite,
}

impl DebugKey {
    fn from_name(name: &str) -> Option<DebugKey> {
        Some(match name {
            "gctrace" => DebugKey::Gctrace,
            "gccheckmark" => DebugKey::Gccheckmark,
            "gcstoptheworld" => DebugKey::Gcstoptheworld,
            "clobberfree" => DebugKey::Clobberfree,
            "scavtrace" => DebugKey::Scavtrace,
            "gcpacertrace" => DebugKey::Gcpacertrace,
            "stalltrace" => DebugKey::Stalltrace,
            "stallthreshold" => DebugKey::Stallthreshold,
            "allocblack" => DebugKey::Allocblack,
            "allocwhite" => DebugKey::Allocwhite,
            _ => return None,
        })
    }

    /// The current value, as `GODEBUG` would spell it.
    fn get(self, flags: &DebugFlags) -> u32 {
        match self {
            DebugKey::Gctrace => flags.gctrace,
            DebugKey::Gcstoptheworld => u32::from(flags.gcstoptheworld),
            DebugKey::Gccheckmark => u32::from(flags.gccheckmark),
            DebugKey::Clobberfree => u32::from(flags.clobberfree),
            DebugKey::Scavtrace => u32::from(flags.scavtrace),
            DebugKey::Gcpacertrace => u32::from(flags.gcpacertrace),
            DebugKey::Stalltrace => u32::from(flags.stalltrace),
            DebugKey::Stallthreshold => flags.stallthreshold,
            DebugKey::Allocblack => u32::from(flags.allocblack),
            DebugKey::Allocwhite => u32::from(flags.allocwhite),
        }
    }

    /// Sets the flag from `value`, or says what was expected. Go's values are integers and a
    /// switch is on when the integer is above 0.
    fn set(self, flags: &mut DebugFlags, value: &str) -> Result<(), &'static str> {
        let n = match parse_decimal(value, false) {
            Ok((false, n)) | Ok((true, n @ 0)) => u32::try_from(n).ok(),
            _ => None,
        };
        let switch = |slot: &mut bool| {
            *slot = n.ok_or("a non-negative integer (0 = off, 1 = on)")? > 0;
            Ok(())
        };
        match self {
            DebugKey::Gctrace => {
                flags.gctrace = n.ok_or("a non-negative integer")?;
                Ok(())
            }
            DebugKey::Gcstoptheworld => {
                flags.gcstoptheworld = n
                    .filter(|&n| n <= 2)
                    .and_then(|n| u8::try_from(n).ok())
                    .ok_or("0, 1 or 2")?;
                Ok(())
            }
            DebugKey::Gccheckmark => switch(&mut flags.gccheckmark),
            DebugKey::Clobberfree => switch(&mut flags.clobberfree),
            DebugKey::Scavtrace => switch(&mut flags.scavtrace),
            DebugKey::Gcpacertrace => switch(&mut flags.gcpacertrace),
            DebugKey::Stalltrace => switch(&mut flags.stalltrace),
            DebugKey::Stallthreshold => {
                flags.stallthreshold = n.ok_or("a non-negative integer (microseconds)")?;
                Ok(())
            }
            DebugKey::Allocblack => switch(&mut flags.allocblack),
            DebugKey::Allocwhite => switch(&mut flags.allocwhite),
        }
    }
}

/// Why a decimal did not parse.
#[derive(Debug, PartialEq, Eq)]
enum Decimal {
    /// Not `[+-]?[0-9]+`.
    Syntax,
    /// Digits beyond `u64::MAX`.
    Overflow,
}

/// Parses `[-]?[0-9]+` (and a leading `+` if `plus` is allowed) into (negative, magnitude).
/// Only ASCII digits count: no blanks, underscores, radix prefixes, exponents or fractions.
fn parse_decimal(s: &str, plus: bool) -> Result<(bool, u64), Decimal> {
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') if plus => (false, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Decimal::Syntax);
    }
    let mut n: u64 = 0;
    for b in digits.bytes() {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(b - b'0')))
            .ok_or(Decimal::Overflow)?;
    }
    Ok((negative, n))
}

/// Splits Go's byte-count suffix (`B`, `KiB`, `MiB`, `GiB`, `TiB`) off `s`, returning the
/// rest and the unit in bytes. Without a suffix the unit is 1.
fn split_byte_suffix(s: &str) -> (&str, u64) {
    const UNITS: [(&str, u64); 4] = [
        ("KiB", 1 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("TiB", 1 << 40),
    ];
    for (suffix, unit) in UNITS {
        if let Some(rest) = s.strip_suffix(suffix) {
            return (rest, unit);
        }
    }
    (s.strip_suffix('B').unwrap_or(s), 1)
}

/// "`<value>` is more than `<max>`": the overflow error of all three numeric parsers.
fn too_large(s: &str, max: u64, unit: &str) -> String {
    format!(
        "{} is more than the largest allowed value, {max}{unit}",
        quote(s)
    )
}

/// Quotes a value for a one-line warning: escapes quotes, backslashes, control characters,
/// line and paragraph separators and invisible or bidirectional formatting characters, and
/// cuts values longer than [`MAX_SHOWN_CHARS`] characters.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for (i, c) in s.chars().enumerate() {
        if i == MAX_SHOWN_CHARS {
            out.push('…');
            break;
        }
        // Zero-width, bidirectional-override and byte-order-mark characters.
        let invisible = matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}')
            || matches!(c, '\u{2060}'..='\u{206F}' | '\u{FEFF}');
        match c {
            '"' | '\\' => out.extend(c.escape_default()),
            '\n' | '\r' | '\t' => out.extend(c.escape_default()),
            _ if c.is_control() || (c.is_whitespace() && c != ' ') || invisible => {
                out.extend(c.escape_unicode())
            }
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[path = "env_tests.rs"]
mod tests;
