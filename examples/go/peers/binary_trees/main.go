// binary_trees is the Go peer of examples/binary_trees.rs: the Benchmarks Game
// binary-trees workload, with the same trees, check sums, printed lines and
// summary line, so that examples/go/compare.sh can run both side by side.
//
// Usage (flags may come before or after the depth):
//
//	binary_trees [-threads N | -goroutines] [depth]
//
// depth defaults to 18. -threads 1 (the default) is the same sequential
// algorithm as our `--threads 1`; -threads N > 1 splits the iterations of each
// depth across N goroutines as our `--threads N` does. -goroutines is the style
// of the fastest Go entries: one goroutine per depth, all depths at once
// (GOMAXPROCS as the environment says).
//
// Output: the standard lines (stretch tree, iterations/check per depth, long
// lived tree), then one summary line in our format:
//
//	impl=go depth=18 time_ms=.. peak_rss_mb=.. cycles=.. pause_total_ms=.. max_pause_ms=.. peak_heap_mb=.. threads=1
//
// peak_rss_mb is VmHWM from /proc/self/status (MiB); cycles is
// MemStats.NumGC, pause_total_ms is MemStats.PauseTotalNs, max_pause_ms the
// largest MemStats.PauseNs entry seen at any sample; peak_heap_mb is the
// largest MemStats.HeapInuse (MiB) seen by sampling runtime.ReadMemStats at
// most ~32 times per depth (per worker), after the stretch tree, after each
// depth and after the long-lived check, as our example samples mem_stats().
// ReadMemStats stops the world briefly, as our mem_stats() stops allocation.
// In -goroutines mode the summary says threads=GOMAXPROCS mode=goroutines.
package main

import (
	"flag"
	"fmt"
	"os"
	"peers/procstat"
	"runtime"
	"strconv"
	"sync"
	"time"
)

const minDepth = 4

// Node has two pointers: 16 bytes, the same payload as our Gc/Box/Arc nodes.
type Node struct {
	left, right *Node
}

// bottomUp builds a complete tree of depth levels below the root.
func bottomUp(depth int) *Node {
	if depth == 0 {
		return &Node{}
	}
	return &Node{bottomUp(depth - 1), bottomUp(depth - 1)}
}

// check counts the nodes.
func check(n *Node) uint64 {
	if n.left != nil && n.right != nil {
		return 1 + check(n.left) + check(n.right)
	}
	return 1
}

// Peaks recorded by sample (several goroutines may sample at once).
var (
	peakMu      sync.Mutex
	peakHeap    uint64
	maxPauseNs  uint64
	memStatsBuf runtime.MemStats
)

// sample records the largest HeapInuse and recorded pause so far. PauseNs
// keeps the last 256 cycles, so the maximum is exact as long as fewer than
// 256 cycles pass between two samples.
func sample() {
	peakMu.Lock()
	defer peakMu.Unlock()
	runtime.ReadMemStats(&memStatsBuf)
	if memStatsBuf.HeapInuse > peakHeap {
		peakHeap = memStatsBuf.HeapInuse
	}
	for _, p := range memStatsBuf.PauseNs {
		if p > maxPauseNs {
			maxPauseNs = p
		}
	}
}

// iterate builds and checks n trees of depth, sampling every n/32 trees.
func iterate(n uint64, depth int) uint64 {
	every := n / 32
	if every < 1 {
		every = 1
	}
	var sum uint64
	for i := uint64(0); i < n; i++ {
		sum += check(bottomUp(depth))
		if (i+1)%every == 0 {
			sample()
		}
	}
	return sum
}

func usage(msg string) {
	fmt.Fprintf(os.Stderr, "binary_trees: %s\n", msg)
	fmt.Fprintln(os.Stderr, "usage: binary_trees [-threads N | -goroutines] [depth]")
	os.Exit(2)
}

func main() {
	threads := flag.Int("threads", 1, "split each depth's iterations across N goroutines")
	perDepth := flag.Bool("goroutines", false, "one goroutine per depth (the fastest Go entries' style)")
	flag.Parse()
	depth := 18
	if flag.NArg() > 0 {
		d, err := strconv.Atoi(flag.Arg(0))
		if err != nil || d < 0 || d > 40 {
			usage(fmt.Sprintf("bad depth %q", flag.Arg(0)))
		}
		depth = d
		// Flags after the depth, as our example accepts them.
		if err := flag.CommandLine.Parse(flag.Args()[1:]); err != nil || flag.NArg() > 0 {
			usage("unexpected arguments after the depth")
		}
	}
	if *threads < 1 {
		usage(fmt.Sprintf("bad thread count %d", *threads))
	}
	if *perDepth && *threads != 1 {
		usage("-goroutines and -threads N are alternatives")
	}

	maxDepth := depth
	if maxDepth < minDepth+2 {
		maxDepth = minDepth + 2
	}
	stretchDepth := maxDepth + 1
	start := time.Now()

	fmt.Printf("stretch tree of depth %d\t check: %d\n", stretchDepth, check(bottomUp(stretchDepth)))
	sample()

	long := bottomUp(maxDepth)

	if *perDepth {
		// One goroutine per depth; the lines are printed in depth order afterwards.
		var depths []int
		for d := minDepth; d <= maxDepth; d += 2 {
			depths = append(depths, d)
		}
		iters := make([]uint64, len(depths))
		checks := make([]uint64, len(depths))
		var wg sync.WaitGroup
		for k, d := range depths {
			wg.Add(1)
			go func(k, d int) {
				defer wg.Done()
				iters[k] = uint64(1) << uint(maxDepth-d+minDepth)
				checks[k] = iterate(iters[k], d)
			}(k, d)
		}
		wg.Wait()
		for k, d := range depths {
			fmt.Printf("%d\t trees of depth %d\t check: %d\n", iters[k], d, checks[k])
		}
		sample()
	} else {
		for d := minDepth; d <= maxDepth; d += 2 {
			iterations := uint64(1) << uint(maxDepth-d+minDepth)
			var sum uint64
			if *threads == 1 {
				sum = iterate(iterations, d)
			} else {
				t := uint64(*threads)
				perThread := (iterations + t - 1) / t
				sums := make([]uint64, t)
				var wg sync.WaitGroup
				for w := uint64(0); w < t; w++ {
					lo, hi := w*perThread, (w+1)*perThread
					if lo > iterations {
						lo = iterations
					}
					if hi > iterations {
						hi = iterations
					}
					wg.Add(1)
					go func(w, n uint64) {
						defer wg.Done()
						sums[w] = iterate(n, d)
					}(w, hi-lo)
				}
				wg.Wait()
				for _, s := range sums {
					sum += s
				}
			}
			fmt.Printf("%d\t trees of depth %d\t check: %d\n", iterations, d, sum)
			sample()
		}
	}

	fmt.Printf("long lived tree of depth %d\t check: %d\n", maxDepth, check(long))
	sample()
	elapsed := time.Since(start)
	runtime.KeepAlive(long)

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	threadsField := strconv.Itoa(*threads)
	if *perDepth {
		threadsField = fmt.Sprintf("%d mode=goroutines", runtime.GOMAXPROCS(0))
	}
	peakMu.Lock()
	fmt.Printf("impl=go depth=%d time_ms=%.1f peak_rss_mb=%s cycles=%d pause_total_ms=%.3f max_pause_ms=%.3f peak_heap_mb=%.1f threads=%s\n",
		depth, float64(elapsed.Nanoseconds())/1e6, procstat.PeakRSSMiB(), ms.NumGC,
		float64(ms.PauseTotalNs)/1e6, float64(maxPauseNs)/1e6,
		float64(peakHeap)/(1024*1024), threadsField)
	peakMu.Unlock()
}
