//! The one way the tests start child processes. A case that needs a process of its own
//! (the environment is read once per process and the knobs are process-wide, or the case
//! aborts or may hang) re-runs the current test binary with [`CHILD`] set and one `child_*`
//! test selected (`--exact`), with exactly the runtime variables it names, under a hang
//! watchdog ([`HANG`]); the parent checks the child's exit status, stdout (`KEY=value`
//! lines) and stderr (warnings, gctrace, fatal-error reports). A `child_*` test must live in
//! the same file as the test that starts it, and does nothing without [`CHILD`]. Used by
//! `tests/bad_env.rs`, `tests/bad_limits.rs`, `tests/gogc_env.rs`,
//! `tests/memory_limit_env.rs`, `tests/scavenger.rs`, `tests/stalltrace.rs` (process-wide
//! settings and figures),
//! `tests/checkmark.rs`, `tests/clobberfree.rs`, `tests/panics.rs` (debug checks and fatal
//! errors that abort the child), `tests/hostile_cells.rs`, `tests/hostile_drops.rs`,
//! `tests/hostile_threads.rs`, `tests/root_overflow.rs`, `tests/zero_sized.rs`; and
//! [`start_closed_stderr`] gives a child a stderr nobody reads (`tests/closed_stderr.rs`).
//! Also the garbage makers those children use.

use super::field;
use gc_core::{mem_stats, Gc, MemStats};
use std::ffi::OsStr;
use std::hint::black_box;
use std::os::fd::FromRawFd;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Duration;

/// Set in a child process; a `child_*` test does nothing without it, the others do nothing
/// with it.
pub const CHILD: &str = "GC_CORE_TEST_CHILD";
/// Every variable the runtime reads; children start with none of them set.
pub const VARS: [&str; 4] = ["GOGC", "GOMEMLIMIT", "GOMAXPROCS", "GODEBUG"];
/// One mebibyte.
pub const MIB: u64 = 1 << 20;
/// `GOGC=100`'s first goal (`HEAP_MINIMUM`).
pub const FIRST_GOAL: u64 = 4 * MIB;
/// A child that has not finished by then is stuck (a deadlock, not slowness: a healthy
/// child takes under a second, a few seconds on a machine saturated by other work). Only a
/// hang detector, never an assertion about speed.
pub const HANG: Duration = Duration::from_secs(120);

/// Whether this process is a child started by [`start`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// What a child process left behind.
pub struct Run {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `gc_core: ` warning lines.
    pub fn warnings(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("gc_core: "))
            .collect()
    }

    /// Fails unless the child exited successfully, printed `PROBE_OK` and did not panic.
    pub fn assert_ok(&self, what: &str) {
        self.assert_succeeded(what);
        assert!(!self.stderr.contains("panicked"), "{what}: {}", self.stderr);
    }

    /// Fails unless the child exited successfully and printed `PROBE_OK` (panics it caught
    /// and reported are allowed).
    pub fn assert_succeeded(&self, what: &str) {
        assert!(
            self.status.success() && self.stdout.contains("PROBE_OK"),
            "{what}: child failed ({}):\n{}\n{}",
            self.status,
            self.stdout,
            self.stderr
        );
    }

    /// The token after `key` on stdout.
    pub fn text(&self, key: &str) -> &str {
        self.stdout
            .lines()
            .find_map(|l| l.split(key).nth(1))
            .and_then(|v| v.split_whitespace().next())
            .unwrap_or_else(|| panic!("{key} missing in child output:\n{}", self.stdout))
    }

    /// The number after `key` on stdout.
    pub fn num(&self, key: &str) -> u64 {
        field(&self.stdout, key)
    }

    /// The signed number after `key` on stdout.
    pub fn signed(&self, key: &str) -> i64 {
        self.text(key).parse().unwrap()
    }

    /// The `N P` figure of every gctrace line (`gc 1 @0.001s 0%: ..., 2 P (forced)`).
    pub fn trace_procs(&self) -> Vec<u64> {
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

    /// How many gcpacertrace lines the child printed.
    pub fn pacer_lines(&self) -> usize {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("pacer: "))
            .count()
    }
}

/// A child process started by [`start`].
pub struct Pending {
    out: std::sync::mpsc::Receiver<std::io::Result<std::process::Output>>,
    pid: u32,
    what: String,
}

/// Runs child test `test` with exactly the given runtime variables (raw bytes, so values
/// may be invalid UTF-8) plus `extra` ordinary variables, and waits for it.
pub fn run(test: &str, vars: &[(&str, &[u8])], extra: &[(&str, &str)]) -> Run {
    start(test, vars, extra).finish()
}

/// Runs many children, a few at a time (each is mostly process start-up and waiting), and
/// returns their results in order.
pub fn run_all(test: &str, jobs: &[Vec<(&str, &[u8])>], extra: &[(&str, &str)]) -> Vec<Run> {
    let mut runs = Vec::new();
    for chunk in jobs.chunks(4) {
        let pending: Vec<Pending> = chunk.iter().map(|v| start(test, v, extra)).collect();
        runs.extend(pending.into_iter().map(Pending::finish));
    }
    runs
}

/// Starts child test `test` (see [`run`]).
pub fn start(test: &str, vars: &[(&str, &[u8])], extra: &[(&str, &str)]) -> Pending {
    spawn(test, vars, extra, Stdio::piped())
}

/// Starts child test `test` like [`start`], but with a stderr nobody reads: a pipe whose read
/// end the parent closes before the child starts, so every write to it fails with `EPIPE`
/// (Rust programs ignore `SIGPIPE`), as under `prog 2>&1 | head -1` once `head` has exited.
/// The run's `stderr` is empty.
pub fn start_closed_stderr(test: &str, vars: &[(&str, &[u8])], extra: &[(&str, &str)]) -> Pending {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors `pipe2` writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(rc, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors were just created and are owned by nothing else.
    let (read_end, write_end) = unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    drop(read_end);
    spawn(test, vars, extra, Stdio::from(write_end))
}

/// Runs the child with the given stderr and a thread that waits for it.
fn spawn(test: &str, vars: &[(&str, &[u8])], extra: &[(&str, &str)], stderr: Stdio) -> Pending {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr);
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
    // The parent's copy of a stderr descriptor goes with `cmd` once the child has it.
    drop(cmd);
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
    pub fn finish(self) -> Run {
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

/// The variables, for a failure message: `GOGC="1e99" GODEBUG="gctrace=1"`.
pub fn show(vars: &[(&str, &[u8])]) -> String {
    vars.iter()
        .map(|(k, v)| format!("{k}={:?}", String::from_utf8_lossy(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// How the warning quotes a value (for the values used here: no quotes, backslashes or
/// control characters; invalid UTF-8 shows as U+FFFD).
pub fn quoted(value: &[u8]) -> String {
    format!("\"{}\"", String::from_utf8_lossy(value))
}

/// The default `GOMAXPROCS` of a child (it inherits our CPU affinity).
pub fn default_procs() -> u64 {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(1024) as u64
}

/// Allocates `bytes` of 64-byte garbage.
pub fn churn(bytes: u64) {
    for i in 0..bytes / 64 {
        black_box(Gc::new([i; 8]));
    }
}

/// Allocates garbage until `done(bytes so far, stats)` or `budget` bytes; returns the bytes
/// allocated. Steps start at 8 KiB and double up to 256 KiB: a heap that collects
/// continuously (a cycle every few KiB) is done after a few small steps.
pub fn churn_until(budget: u64, mut done: impl FnMut(u64, &MemStats) -> bool) -> u64 {
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
pub fn automatic_cycles(s: &MemStats) -> u32 {
    s.num_gc - s.num_forced_gc
}
