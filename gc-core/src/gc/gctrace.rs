//! `GODEBUG=gctrace=1`: one line per cycle on stderr in Go's format:
//!
//! `gc N @Ts P%: A+B+C ms clock, a+b/c/d+e ms cpu, H0->H1->H2 MB, G MB goal, 0 MB stacks, 0 MB globals, N P (forced)`
//!
//! A is the mark setup pause, B the concurrent mark, C the mark termination pause; in the
//! cpu figures a and e are those pauses times `GOMAXPROCS`, b the assists' time, c the
//! background workers' and d the idle workers'. See the collector overview (`crate::design::collector`).
//!
//! Where the figures differ from Go's: Go's worker times are wall time on its procs, which
//! the program's own threads never take from them; ours are OS threads beside the mutators
//! that the OS may preempt mid-drain (an idle worker at `SCHED_IDLE` priority whenever
//! anything else wants its core), so c and d are the CPU time the workers spent draining
//! (`CLOCK_THREAD_CPUTIME_ID`), the closest to what Go's figures mean. Wall time would
//! overstate it: on the 256 MiB latency probe on 2 cores it read 600-700 ms per cycle while
//! the mark threads' CPU time was about 370 ms. b is wall time spent scanning, as Go's
//! (waits for credit excluded).

use super::cycle::CycleTimes;
use super::stats::cycles;

/// Go's `fmtNSAsMS`: whole milliseconds from 10 ms up, otherwise two significant digits
/// with at most three decimal places.
pub(crate) fn fmt_ms(ns: u64) -> String {
    if ns >= 10_000_000 {
        return (ns / 1_000_000).to_string();
    }
    let mut x = ns / 1_000;
    if x == 0 {
        return "0".to_string();
    }
    let mut dec = 3;
    while x >= 100 {
        x /= 10;
        dec -= 1;
    }
    let digits = format!("{:0>width$}", x, width = dec + 1);
    let (int, frac) = digits.split_at(digits.len() - dec);
    if dec == 0 {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    }
}

/// Formats the gctrace line (pure, for tests).
#[allow(clippy::too_many_arguments)]
pub(crate) fn format_line(
    num: u32,
    since_start_s: f64,
    gc_percent_cpu: f64,
    clock_ns: [u64; 3],
    cpu_ns: [u64; 5],
    heap_mb: [u64; 3],
    goal_mb: u64,
    procs: usize,
    forced: bool,
) -> String {
    format!(
        "gc {num} @{since_start_s:.3}s {:.0}%: {}+{}+{} ms clock, {}+{}/{}/{}+{} ms cpu, {}->{}->{} MB, {goal_mb} MB goal, 0 MB stacks, 0 MB globals, {procs} P{}",
        gc_percent_cpu,
        fmt_ms(clock_ns[0]),
        fmt_ms(clock_ns[1]),
        fmt_ms(clock_ns[2]),
        fmt_ms(cpu_ns[0]),
        fmt_ms(cpu_ns[1]),
        fmt_ms(cpu_ns[2]),
        fmt_ms(cpu_ns[3]),
        fmt_ms(cpu_ns[4]),
        heap_mb[0],
        heap_mb[1],
        heap_mb[2],
        if forced { " (forced)" } else { "" },
    )
}

/// Prints the line for a finished cycle. `heap` is Go's H0->H1->H2: the live heap when
/// marking started, when it ended, and the marked heap; `goal` the goal the cycle aimed for.
pub(crate) fn print_cycle(forced: bool, heap: [u64; 3], goal: u64, t: &CycleTimes, procs: usize) {
    let cy = cycles();
    let elapsed = cy.start.map_or(0.0, |s| s.elapsed().as_secs_f64());
    let pct = if elapsed > 0.0 {
        100.0 * cy.gc_cpu_ns as f64 / (elapsed * 1e9 * procs as f64)
    } else {
        0.0
    };
    // Go's cpu triple: pauses count every proc; assists / background / idle marking.
    let p = procs as u64;
    let line = format_line(
        cy.num_gc,
        elapsed,
        pct,
        [t.setup_ns, t.mark_ns, t.term_ns],
        [
            t.setup_ns * p,
            t.assist_ns,
            t.worker_ns,
            t.idle_ns,
            t.term_ns * p,
        ],
        [heap[0] >> 20, heap[1] >> 20, heap[2] >> 20],
        goal >> 20,
        procs,
        forced,
    );
    crate::diag::report_cycle(
        line,
        crate::diag::CycleFields {
            num: cy.num_gc,
            forced,
            clock_ns: [t.setup_ns, t.mark_ns, t.term_ns],
            mark_cpu_ns: [t.assist_ns, t.worker_ns, t.idle_ns],
            heap_mb: [heap[0] >> 20, heap[1] >> 20, heap[2] >> 20],
            goal_mb: goal >> 20,
            procs,
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_matches_go_format() {
        let l = format_line(
            1,
            0.012,
            2.0,
            [21_000, 540_000, 3_000],
            [170_000, 320_000, 410_000, 0, 25_000],
            [4, 4, 1],
            4,
            8,
            false,
        );
        assert_eq!(
            l,
            "gc 1 @0.012s 2%: 0.021+0.54+0.003 ms clock, 0.17+0.32/0.41/0+0.025 ms cpu, 4->4->1 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 8 P"
        );
        let forced = format_line(7, 1.5, 0.0, [0; 3], [0; 5], [10, 11, 3], 8, 2, true);
        assert!(forced.ends_with("2 P (forced)"));
        assert!(forced.starts_with("gc 7 @1.500s 0%: 0+0+0 ms clock"));
    }

    #[test]
    fn times_use_two_significant_digits_then_whole_ms() {
        assert_eq!(fmt_ms(12_400_000), "12");
        assert_eq!(fmt_ms(1_234_000), "1.2");
        assert_eq!(fmt_ms(540_000), "0.54");
        assert_eq!(fmt_ms(21_000), "0.021");
        assert_eq!(fmt_ms(3_000), "0.003");
        assert_eq!(fmt_ms(999), "0");
        assert_eq!(fmt_ms(9_999_999), "9.9");
    }
}
