// gcbench is the Go peer of examples/gcbench.rs: Hans Boehm's GCBench with the
// same parameters, phases, printed lines and summary line, so that
// examples/go/compare.sh can run both side by side.
//
// Usage:
//
//	gcbench [-max-depth D]
//
// Stretch the heap with a temporary tree of depth max_depth+1, keep a
// long-lived tree of depth 16 (built top-down) and a long-lived array of
// 500000 float64 half filled, then for each depth from 4 to max_depth step 2
// build NumIters(depth) = 2 * TreeSize(stretch) / TreeSize(depth) trees
// top-down (allocate a node, then store freshly allocated children into its
// fields) and the same number bottom-up (children first), timing each.
//
// Nodes are Boehm's: two pointers and two int32 fields, 24 bytes. Unlike our
// Rust version, whose Vec<f64> buffer lives in the Rust global allocator (only
// the Vec header is in the collected heap), Go's 4 MB array is in Go's heap.
//
// The summary line is our format with impl=go:
//
//	impl=go max_depth=.. time_ms=.. top_down_ms=.. bottom_up_ms=.. peak_rss_mb=.. cycles=.. pause_total_ms=.. max_pause_ms=.. peak_heap_mb=.. ok=true
//
// Figures as in binary_trees: cycles = MemStats.NumGC, pauses from
// PauseTotalNs / PauseNs, peak_rss_mb = VmHWM (MiB), peak_heap_mb = largest
// HeapInuse (MiB) seen by runtime.ReadMemStats sampled 16 times per phase.
package main

import (
	"flag"
	"fmt"
	"os"
	"peers/procstat"
	"runtime"
	"time"
)

const (
	minTreeDepth       = 4
	longLivedTreeDepth = 16
	arraySize          = 500_000
)

// Node is Boehm's node: 24 bytes.
type Node struct {
	left, right *Node
	i, j        int32
}

func treeSize(depth int) uint64 { return (uint64(1) << uint(depth+1)) - 1 }

// populate is Boehm's Populate: give node (a leaf) depth levels of children, top-down.
func populate(depth int, node *Node) {
	if depth == 0 {
		return
	}
	node.left = &Node{}
	node.right = &Node{}
	populate(depth-1, node.left)
	populate(depth-1, node.right)
}

// makeTree is Boehm's MakeTree, bottom-up.
func makeTree(depth int) *Node {
	if depth == 0 {
		return &Node{}
	}
	return &Node{left: makeTree(depth - 1), right: makeTree(depth - 1)}
}

// count is the number of nodes (plus the i and j fields, all zero).
func count(n *Node) uint64 {
	c := uint64(1) + uint64(n.i+n.j)
	if n.left != nil {
		c += count(n.left)
	}
	if n.right != nil {
		c += count(n.right)
	}
	return c
}

// sink keeps the compiler from optimising the temporary trees away.
var sink *Node

var (
	peakHeap   uint64
	maxPauseNs uint64
	stats      runtime.MemStats
)

// sample records the largest HeapInuse and recorded pause so far.
func sample() {
	runtime.ReadMemStats(&stats)
	if stats.HeapInuse > peakHeap {
		peakHeap = stats.HeapInuse
	}
	for _, p := range stats.PauseNs {
		if p > maxPauseNs {
			maxPauseNs = p
		}
	}
}

func diagnostics() {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	fmt.Printf(" heap_alloc=%.1f MB heap_inuse=%.1f MB heap_sys=%.1f MB num_gc=%d\n",
		float64(s.HeapAlloc)/1048576, float64(s.HeapInuse)/1048576,
		float64(s.HeapSys)/1048576, s.NumGC)
}

func msSince(t time.Time) float64 { return float64(time.Since(t).Nanoseconds()) / 1e6 }

func timeConstruction(depth, stretchDepth int) (float64, float64) {
	iters := 2 * treeSize(stretchDepth) / treeSize(depth)
	every := iters / 16
	if every < 1 {
		every = 1
	}
	fmt.Printf("Creating %d trees of depth %d\n", iters, depth)
	t := time.Now()
	for i := uint64(0); i < iters; i++ {
		temp := &Node{}
		populate(depth, temp)
		sink = temp
		sink = nil
		if (i+1)%every == 0 {
			sample()
		}
	}
	topDown := msSince(t)
	fmt.Printf("\tTop down construction took %.0f msec\n", topDown)
	t = time.Now()
	for i := uint64(0); i < iters; i++ {
		sink = makeTree(depth)
		sink = nil
		if (i+1)%every == 0 {
			sample()
		}
	}
	bottomUp := msSince(t)
	fmt.Printf("\tBottom up construction took %.0f msec\n", bottomUp)
	return topDown, bottomUp
}

func main() {
	maxDepth := flag.Int("max-depth", 18, "deepest tree built in the timed phases (4..=28)")
	flag.Parse()
	if flag.NArg() > 0 || *maxDepth < minTreeDepth || *maxDepth > 28 {
		fmt.Fprintln(os.Stderr, "gcbench: bad arguments (-max-depth 4..=28)")
		fmt.Fprintln(os.Stderr, "usage: gcbench [-max-depth D]")
		os.Exit(2)
	}
	stretchDepth := *maxDepth + 1
	fmt.Println("Garbage Collector Test (go)")
	fmt.Printf(" Stretching memory with a binary tree of depth %d\n", stretchDepth)
	diagnostics()
	start := time.Now()

	sink = makeTree(stretchDepth)
	sink = nil
	sample()

	fmt.Printf(" Creating a long-lived binary tree of depth %d\n", longLivedTreeDepth)
	longLived := &Node{}
	populate(longLivedTreeDepth, longLived)

	fmt.Printf(" Creating a long-lived array of %d doubles\n", arraySize)
	array := make([]float64, arraySize)
	for i := 1; i < arraySize/2; i++ {
		array[i] = 1.0 / float64(i)
	}
	diagnostics()
	sample()

	var td, bu float64
	for d := minTreeDepth; d <= *maxDepth; d += 2 {
		a, b := timeConstruction(d, stretchDepth)
		td += a
		bu += b
	}

	ok := count(longLived) == treeSize(longLivedTreeDepth) && array[1000] == 1.0/1000.0
	if !ok {
		fmt.Println("Failed")
	}
	total := msSince(start)
	diagnostics()
	fmt.Printf("Completed in %.0f msec\n", total)
	runtime.KeepAlive(longLived)
	runtime.KeepAlive(array)

	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	fmt.Printf("impl=go max_depth=%d time_ms=%.1f top_down_ms=%.1f bottom_up_ms=%.1f peak_rss_mb=%s cycles=%d pause_total_ms=%.3f max_pause_ms=%.3f peak_heap_mb=%.1f ok=%t\n",
		*maxDepth, total, td, bu, procstat.PeakRSSMiB(), s.NumGC,
		float64(s.PauseTotalNs)/1e6, float64(maxPauseNs)/1e6,
		float64(peakHeap)/(1024*1024), ok)
}
