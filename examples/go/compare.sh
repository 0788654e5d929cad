#!/usr/bin/env bash
# Runs our examples and their Go 1.19 peers side by side (issue 15) and prints
# one Markdown table of medians per workload. See examples/go/README.md.
#
# usage: examples/go/compare.sh [--quick] [--runs N] [--depth D] [--threads N]
#            [--gcbench-depth D] [--live-mib N] [--seconds S] [--array-mib N]
#            [--list-mib N] [--only LIST] [--keep DIR]
#
# Workloads (--only takes a comma-separated subset, default all):
#   bt       binary_trees D, sequential: ours --impl gc, ours --impl box, go -threads 1
#   bt-par   binary_trees D, parallel: ours --impl gc --threads N (default 2), go -goroutines
#   gcbench  gcbench --max-depth D: ours gc, ours box, go, ours gc-set and gc-atomic
#            (children in AtomicGc fields: the faster idiom, its own row)
#   latency  latency --live-mib N --seconds S: ours (gc), go, and the machine's floor
#            (latency --floor: a loop that only reads the clock, other cores busy);
#            --array-mib N adds one huge array of pointers to the live set of both
#            (marked in 128 KiB oblets by both runtimes); --list-mib N an
#            interpreter's list of pointers stored into at each slot replacement
#            (ours: a GcCell<Vec<_>> written through borrow_mut; Go: a slice)
#
# Every implementation of a workload runs --runs times (default 3), alternating
# (gc, box, go, gc, box, go, ...), each run under /usr/bin/time -f "%e %M".
# Defaults: depth 18, gcbench depth 18, latency 256 MiB for 5 s (about two
# minutes in all on 2 cores). The big-heap latency case:
#   examples/go/compare.sh --only latency --live-mib 1024 --seconds 5
# --quick: tiny sizes, one run each (a smoke test, well under 20 s once built).
# --keep DIR keeps every run's stdout, stderr and /usr/bin/time output in DIR.
#
# Environment: GO (default /usr/lib/go-1.19/bin/go, else go on PATH),
# CARGO_TARGET_DIR (where cargo puts our examples), GOGC/GOMAXPROCS/GOMEMLIMIT
# pass through to the Go programs as usual (the header shows them).
set -euo pipefail

usage() {
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0" >&2
    exit 2
}

quick=0 runs="" depth="" threads="" gc_depth="" live_mib="" seconds="" array_mib=0 list_mib=0 only="bt,bt-par,gcbench,latency" keep=""
while [ $# -gt 0 ]; do
    case "$1" in
    --quick) quick=1 ;;
    --runs) runs=${2:?}; shift ;;
    --depth) depth=${2:?}; shift ;;
    --threads) threads=${2:?}; shift ;;
    --gcbench-depth) gc_depth=${2:?}; shift ;;
    --live-mib) live_mib=${2:?}; shift ;;
    --seconds) seconds=${2:?}; shift ;;
    --array-mib) array_mib=${2:?}; shift ;;
    --list-mib) list_mib=${2:?}; shift ;;
    --only) only=${2:?}; shift ;;
    --keep) keep=${2:?}; shift ;;
    -h | --help) usage ;;
    *) echo "compare.sh: unknown argument $1" >&2; usage ;;
    esac
    shift
done
if [ "$quick" = 1 ]; then
    : "${runs:=1}" "${depth:=14}" "${gc_depth:=12}" "${live_mib:=32}" "${seconds:=1}"
fi
: "${runs:=3}" "${depth:=18}" "${threads:=2}" "${gc_depth:=18}" "${live_mib:=256}" "${seconds:=5}"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
if [ -z "${GO:-}" ]; then
    if [ -x /usr/lib/go-1.19/bin/go ]; then GO=/usr/lib/go-1.19/bin/go; else GO=go; fi
fi
target=${CARGO_TARGET_DIR:-$root/target}
ours=$target/release/examples

if [ -n "$keep" ]; then
    mkdir -p "$keep"
    work=$(cd "$keep" && pwd)
else
    work=$(mktemp -d "${TMPDIR:-/tmp}/gc-compare.XXXXXX")
    trap 'rm -rf "$work"' EXIT
fi

# ---- build ----
echo "building our examples (cargo build --release) and the Go peers ($GO build) ..." >&2
(cd "$root" && cargo build --quiet --release --example binary_trees --example gcbench --example latency)
for p in binary_trees gcbench latency; do
    (cd "$root/examples/go/peers/$p" && "$GO" build -o "$work/go_$p" .)
done

# ---- running ----

# The summary line's key=value fields, one per line, plus alloc_rate_mps from
# our latency probe's "loop:" line when the summary has none.
fields() {
    awk '
        /^impl=/ || /^latency:/ || /^floor:/ { line = $0 }
        /^loop:/ { secs = $2; objs = $(NF - 2) }
        END {
            n = split(line, f, " ")
            for (i = 1; i <= n; i++) if (f[i] ~ /=/) { print f[i]; if (f[i] ~ /^alloc_rate_mps=/) have = 1 }
            if (!have && secs > 0) printf "alloc_rate_mps=%.2f\n", objs / secs / 1e6
        }' "$1"
}

# run_one WORKLOAD IMPL RUN COMMAND...: one run under /usr/bin/time; appends
# its figures (one line of key=value) to $work/WORKLOAD.IMPL.rec.
run_one() {
    local w=$1 impl=$2 i=$3
    shift 3
    local base=$work/$w.$impl.$i
    if ! /usr/bin/time -f "%e %M" -o "$base.time" "$@" >"$base.out" 2>"$base.err"; then
        echo "compare.sh: $w/$impl run $i failed: $*" >&2
        tail -n 20 "$base.err" "$base.time" >&2
        exit 1
    fi
    local wall kb
    read -r wall kb < <(tail -n 1 "$base.time")
    {
        printf 'wall_s=%s time_rss_mib=%.1f ' "$wall" "$(awk -v k="$kb" 'BEGIN { print k / 1024 }')"
        fields "$base.out" | tr '\n' ' '
        echo
    } >>"$work/$w.$impl.rec"
    echo "  $w $impl run $i: wall ${wall} s" >&2
}

# med FILE KEY FORMAT: the median of KEY over the runs in FILE ("-" if none).
med() {
    awk -v key="$2" '{
            for (i = 1; i <= NF; i++) {
                split($i, kv, "=")
                if (kv[1] == key && kv[2] != "-" && kv[2] != "") print kv[2]
            }
        }' "$1" | sort -g | awk -v fmt="$3" '
        { a[NR] = $1 }
        END {
            if (NR == 0) { print "-"; exit }
            m = NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
            printf fmt "\n", m
        }'
}

# same_lines WORKLOAD FILTER IMPL...: checks that every run printed the same
# lines (those matching FILTER) as the first implementation's first run.
same_lines() {
    local w=$1 filter=$2 ref=""
    shift 2
    local impl f
    for impl in "$@"; do
        for f in "$work/$w.$impl".*.out; do
            if [ -z "$ref" ]; then ref=$f; continue; fi
            if ! diff <(grep -E "$filter" "$ref") <(grep -E "$filter" "$f") >/dev/null; then
                echo "**check lines differ**: $(basename "$ref") vs $(basename "$f"):"
                echo '```'
                diff <(grep -E "$filter" "$ref") <(grep -E "$filter" "$f") || true
                echo '```'
                return
            fi
        done
    done
    echo "Check lines (\`$filter\`) identical in all runs of: $*."
}

# all_ok WORKLOAD: every run's summary says ok=true.
all_ok() {
    local bad
    bad=$(grep -L ' ok=true$' "$work/$1".*.out || true)
    if [ -n "$bad" ]; then
        echo "**not ok=true**: $(echo "$bad" | xargs -n1 basename | tr '\n' ' ')"
    else
        echo "ok=true in every run."
    fi
}

# workload NAME TITLE COLUMNS -- IMPL 'COMMAND' IMPL 'COMMAND' ...
# COLUMNS: comma-separated key:format pairs from the summary line.
workload() {
    local w=$1 title=$2 cols=$3
    shift 4
    local -a impls=() cmds=()
    while [ $# -gt 0 ]; do
        impls+=("$1") cmds+=("$2")
        shift 2
    done
    echo "== $title" >&2
    rm -f "$work/$w".*.rec
    local i k
    for ((i = 1; i <= runs; i++)); do
        for k in "${!impls[@]}"; do
            # shellcheck disable=SC2086 # the command is split into words on purpose
            run_one "$w" "${impls[$k]}" "$i" ${cmds[$k]}
        done
    done

    local -a keys=() fmts=()
    local c
    IFS=, read -ra c <<<"wall_s:%.2f,time_rss_mib:%.1f,$cols"
    for k in "${c[@]}"; do
        keys+=("${k%%:*}") fmts+=("${k#*:}")
    done
    echo
    echo "### $title"
    echo
    echo "Medians of $runs run(s). wall_s and time_rss_mib: /usr/bin/time (%e, %M); the rest: the program's summary line."
    echo
    local head="| impl |" sep="|---|" row
    for k in "${keys[@]}"; do head+=" $k |" sep+="---:|"; done
    echo "$head"
    echo "$sep"
    for k in "${!impls[@]}"; do
        row="| ${impls[$k]} \`${cmds[$k]##*/}\` |"
        for c in "${!keys[@]}"; do
            row+=" $(med "$work/$w.${impls[$k]}.rec" "${keys[$c]}" "${fmts[$c]}") |"
        done
        echo "$row"
    done
    echo
}

# ---- header ----
echo "## gc-core vs Go: side-by-side runs"
echo
echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "- $("$GO" version); $(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- GOGC=${GOGC:-unset} GOMAXPROCS=${GOMAXPROCS:-unset} GOMEMLIMIT=${GOMEMLIMIT:-unset} GODEBUG=${GODEBUG:-unset}"
echo "- runs per implementation: $runs (alternating)$([ "$quick" = 1 ] && echo '; --quick sizes')"

bt=$ours/binary_trees gb=$ours/gcbench lat=$ours/latency
common_cols="time_ms:%.1f,peak_rss_mb:%.1f,cycles:%.0f,pause_total_ms:%.3f,max_pause_ms:%.3f,peak_heap_mb:%.1f"
lat_cols="peak_rss_mb:%.1f,cycles:%.0f,max_pause_ms:%.3f,max_gap_us:%.1f,gaps_over_1ms:%.0f,p999_gap_us:%.1f,p99_gap_us:%.1f,alloc_rate_mps:%.2f,heap_sys_mb:%.1f"
check_re='check:'

for w in ${only//,/ }; do
    case "$w" in
    bt)
        workload bt "binary_trees $depth, sequential" "$common_cols" -- \
            gc "$bt $depth --impl gc --threads 1" \
            box "$bt $depth --impl box --threads 1" \
            go "$work/go_binary_trees -threads 1 $depth"
        same_lines bt "$check_re" gc box go
        ;;
    bt-par)
        workload bt-par "binary_trees $depth, parallel (ours --threads $threads, Go one goroutine per depth)" \
            "$common_cols" -- \
            gc "$bt $depth --impl gc --threads $threads" \
            go "$work/go_binary_trees -goroutines $depth"
        same_lines bt-par "$check_re" gc go
        ;;
    gcbench)
        workload gcbench "gcbench --max-depth $gc_depth" \
            "$common_cols,top_down_ms:%.1f,bottom_up_ms:%.1f" -- \
            gc "$gb --impl gc --max-depth $gc_depth" \
            box "$gb --impl box --max-depth $gc_depth" \
            go "$work/go_gcbench -max-depth $gc_depth" \
            gc-set "$gb --impl gc-set --max-depth $gc_depth" \
            gc-atomic "$gb --impl gc-atomic --max-depth $gc_depth"
        same_lines gcbench '^Creating|^ Creating|^ Stretching|^Failed' gc box go gc-set gc-atomic
        all_ok gcbench
        ;;
    latency)
        lat_args="--live-mib $live_mib --seconds $seconds --array-mib $array_mib --list-mib $list_mib"
        workload latency "latency $lat_args" \
            "live_heap_mb:%.1f,iterations:%.0f,$lat_cols" -- \
            gc "$lat $lat_args" \
            go "$work/go_latency $lat_args" \
            floor "$lat --floor --seconds $seconds"
        echo "alloc_rate_mps: million objects allocated per second in the loop (ours: from its \`loop:\` line, Go: its summary)."
        echo "floor: the machine's own gaps, a loop that only reads the clock while a spinning thread keeps every other core busy (\`latency --floor\`): what the operating system and the host take from a thread that never blocks while the other cores are busy, as they are while a collector marks."
        echo
        ;;
    *)
        echo "compare.sh: unknown workload $w (bt, bt-par, gcbench, latency)" >&2
        exit 2
        ;;
    esac
done
