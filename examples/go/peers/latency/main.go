// latency is the Go peer of examples/latency.rs: the pause/latency probe. A
// large live heap of small objects, then an allocation loop that records how
// long each iteration took, so every stall the collector causes shows up.
//
// Usage (flags take one or two dashes, as Go's flag package allows):
//
//	latency [-live-mib N] [-seconds S] [-threads N] [-replace-every K] [-array-mib N] [-list-mib N]
//
// -live-mib (default 1024) is the target live heap, built as groups of 1024
// slots (a []*Group on the stack holds the only roots); each slot holds a
// complete binary tree of 15 nodes of 24 bytes (two pointers and a uint64).
// The number of groups comes from measuring one group's HeapAlloc growth, as
// our probe measures heap_alloc. -array-mib N (default 0) adds one huge slice
// of pointers to 16-byte leaves, N MiB with them. -list-mib N (default 0) adds
// an interpreter's list the same way, a slice of pointers to leaves, into which
// every slot replacement also stores a fresh leaf at a random index (ours keeps
// it in a GcCell<Vec<_>>, whose buffer is outside its heap; Go's slice is in
// its heap and a store is one pointer write with its barrier). After the
// build, one runtime.GC() starts the loop from a clean heap.
//
// Then each of -threads goroutines (default 1; GOMAXPROCS as the environment
// says) runs the loop for -seconds (default 20, fractions allowed). One
// iteration allocates 16 small objects: normally a short-lived list of 15
// 16-byte Temp nodes plus one 56-byte Wide object pointing into it (Go rounds
// it up to its 64-byte size class), all dropped at once; every
// -replace-every-th iteration (default 64) instead builds a fresh 15-node
// tree and stores it into a random slot (xorshift64*, seeded as ours). After
// each iteration the goroutine reads time.Now() and records the gap since the
// previous iteration in the same log-linear histogram as ours (values below 64
// ns exact, then 32 buckets per power of two; exact maximum). Nothing in the
// measurement allocates in the loop.
//
// Differences from ours that Go imposes: a Group's []*Slot backing array (8
// KiB) is in Go's heap (ours is in the Rust global allocator), and a Slot is
// one 8-byte pointer (ours a GcCell). Go's objects that do not escape would be
// stack allocated, so the loop's objects are published to a package variable.
//
// Output: the detail lines of our probe, then one summary line, our format
// plus alloc_rate_mps (million objects allocated per second in the loop, from
// MemStats.Mallocs):
//
//	latency: live_mib=.. live_heap_mb=.. seconds=.. threads=.. iterations=.. max_gap_us=.. p999_gap_us=.. p99_gap_us=.. p50_gap_us=.. gaps_over_1ms=.. cycles=.. gc_cpu_fraction=.. pause_total_ms=.. max_pause_ms=.. peak_rss_mb=.. heap_sys_mb=.. alloc_rate_mps=..
//
// cycles, pause_total_ms, max_pause_ms (PauseNs, last 256 cycles) cover the
// loop only; gc_cpu_fraction is MemStats.GCCPUFraction (since the program
// started); peak_rss_mb is VmHWM; heap_sys_mb is MemStats.HeapSys at the end
// (Go's HeapSys includes heap memory released to the OS).
package main

import (
	"flag"
	"fmt"
	"math"
	"math/bits"
	"os"
	"peers/procstat"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Node is a long-lived tree node: 24 bytes.
type Node struct {
	left, right *Node
	val         uint64
}

// Slot is one replaceable part of the live set.
type Slot struct {
	tree *Node
}

// Group is a group of slots: a heap object, so the program holds few roots.
type Group struct {
	slots []*Slot
}

// Temp is a short-lived list node: 16 bytes.
type Temp struct {
	next *Temp
	val  uint64
}

// Wide is a short-lived object with a few pointers: 56 bytes.
type Wide struct {
	kids [6]*Temp
	val  uint64
}

const (
	treeDepth  = 3    // 15 nodes per tree
	groupSlots = 1024 // slots per group
	batch      = 16   // objects allocated per iteration
)

func tree(depth int, val *uint64) *Node {
	*val++
	v := *val
	if depth == 0 {
		return &Node{val: v}
	}
	return &Node{left: tree(depth-1, val), right: tree(depth-1, val), val: v}
}

func group(val *uint64) *Group {
	slots := make([]*Slot, groupSlots)
	for i := range slots {
		slots[i] = &Slot{tree: tree(treeDepth, val)}
	}
	return &Group{slots: slots}
}

// Histogram: the same log-linear buckets as ours.
const (
	subBits = 5
	sub     = uint64(1) << subBits
	linear  = 2 * sub
)

type hist struct {
	counts []uint64
	total  uint64
	max    uint64
	// over1ms counts the gaps of 1 ms or more exactly.
	over1ms uint64
}

func newHist() *hist {
	return &hist{counts: make([]uint64, linear+(64-(subBits+1))*sub)}
}

func index(v uint64) uint64 {
	if v < linear {
		return v
	}
	e := uint64(63 - bits.LeadingZeros64(v)) // >= subBits + 1
	mantissa := (v >> (e - subBits)) & (sub - 1)
	return linear + (e-subBits-1)*sub + mantissa
}

// upper is the largest value that falls in bucket i.
func upper(i uint64) uint64 {
	if i < linear {
		return i
	}
	e := (i-linear)/sub + subBits + 1
	mantissa := (i - linear) % sub
	shift := e - subBits
	return ((sub + mantissa + 1) << shift) - 1
}

func (h *hist) record(ns uint64) {
	h.counts[index(ns)]++
	h.total++
	if ns > h.max {
		h.max = ns
	}
	if ns >= 1000000 {
		h.over1ms++
	}
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
	h.over1ms += o.over1ms
}

// quantile is the value at quantile q (upper edge of its bucket, never above the maximum).
func (h *hist) quantile(q float64) uint64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.total)))
	if rank < 1 {
		rank = 1
	}
	if rank > h.total {
		rank = h.total
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			u := upper(uint64(i))
			if u > h.max {
				u = h.max
			}
			return u
		}
	}
	return h.max
}

// rng is xorshift64*, the same generator as ours.
type rng uint64

func (r *rng) next() uint64 {
	x := uint64(*r)
	x ^= x >> 12
	x ^= x << 25
	x ^= x >> 27
	*r = rng(x)
	return x * 0x2545f4914f6cdd1d
}

func (r *rng) below(n int) int { return int(r.next() % uint64(n)) }

const mib = 1024.0 * 1024.0

func heapAlloc() uint64 {
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return s.HeapAlloc
}

// leaf is the 16-byte object a huge array's elements point to.
type leaf [2]uint64

// hugeArray is -array-mib: one slice of pointers, each to its own leaf, mib MiB in all
// (the Rust probe's `Gc<[Gc<[u64; 2]>]>`). Go marks it in 128 KiB oblets.
func hugeArray(mib uint64) []*leaf {
	n := mib << 20 / 24
	a := make([]*leaf, n)
	for i := range a {
		a[i] = &leaf{uint64(i), 0}
	}
	return a
}

// build makes the live set: about liveMiB MiB of heap, using threads goroutines.
func build(liveMiB uint64, threads int) []*Group {
	target := liveMiB * 1024 * 1024
	before := heapAlloc()
	var val uint64
	first := group(&val)
	perGroup := uint64(1) // heap_alloc growth, at least 1, as ours
	if after := heapAlloc(); after > before {
		perGroup = after - before
	}
	groups := int((target + perGroup - 1) / perGroup)
	if groups < 1 {
		groups = 1
	}
	out := make([]*Group, 0, groups)
	out = append(out, first)
	rest := groups - 1
	if threads == 1 {
		for i := 0; i < rest; i++ {
			out = append(out, group(&val))
		}
		return out
	}
	perThread := (rest + threads - 1) / threads
	parts := make([][]*Group, threads)
	var wg sync.WaitGroup
	for t := 0; t < threads; t++ {
		n := rest - t*perThread
		if n > perThread {
			n = perThread
		}
		if n < 0 {
			n = 0
		}
		wg.Add(1)
		go func(t, n int) {
			defer wg.Done()
			val := uint64(t+1) << 40
			part := make([]*Group, 0, n)
			for i := 0; i < n; i++ {
				part = append(part, group(&val))
			}
			parts[t] = part
		}(t, n)
	}
	wg.Wait()
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// result is what one mutator goroutine reports.
type result struct {
	hist         *hist
	iterations   uint64
	replacements uint64
	sink         uint64
}

// escape publishes the loop's objects so the compiler heap-allocates them
// (one slot per goroutine, padded to its own cache line).
type escape struct {
	wide *Wide
	head *Temp
	_    [48]byte
}

var escapes []escape

// mutate is the measured loop: runs until deadline.
func mutate(id int, groups []*Group, list []*leaf, deadline time.Time, replaceEvery uint64, seed uint64) result {
	h := newHist()
	r := rng(seed | 1)
	val := seed << 32
	var iterations, replacements, sink uint64
	untilReplace := replaceEvery
	esc := &escapes[id]
	prev := time.Now()
	for {
		iterations++
		untilReplace--
		if untilReplace == 0 {
			untilReplace = replaceEvery
			// Churn the live set: a fresh tree into a random slot; the old one is garbage.
			g := groups[r.below(len(groups))]
			slot := g.slots[r.below(len(g.slots))]
			slot.tree = tree(treeDepth, &val)
			replacements++
			// And one element of the list, as an interpreter's list[i] = x.
			if len(list) > 0 {
				list[r.below(len(list))] = &leaf{val, 0}
			}
		} else {
			// Short-lived garbage: a 15-node list and one wide object pointing into it.
			var head *Temp
			var kids [6]*Temp
			for k := uint64(0); k < batch-1; k++ {
				head = &Temp{next: head, val: k}
				if k < uint64(len(kids)) {
					kids[k] = head
				}
			}
			wide := &Wide{kids: kids, val: iterations}
			sink += wide.val + head.val
			esc.wide = wide
			esc.head = head
		}
		now := time.Now()
		h.record(uint64(now.Sub(prev).Nanoseconds()))
		prev = now
		if !now.Before(deadline) {
			break
		}
	}
	esc.wide, esc.head = nil, nil
	return result{hist: h, iterations: iterations, replacements: replacements, sink: sink}
}

const usageLine = "usage: latency [--live-mib N] [--seconds S] [--threads N] [--replace-every K] [--array-mib N] [--list-mib N]"

func main() {
	liveMiB := flag.Uint64("live-mib", 1024, "target live heap in MiB")
	seconds := flag.Float64("seconds", 20, "length of the measured loop in seconds (fractions allowed)")
	threads := flag.Int("threads", 1, "mutator goroutines")
	replaceEvery := flag.Uint64("replace-every", 64, "every K-th iteration replaces a slot's tree")
	arrayMiB := flag.Uint64("array-mib", 0, "one huge array of pointers to 16-byte leaves, N MiB with them")
	listMiB := flag.Uint64("list-mib", 0, "a list of pointers to 16-byte leaves, N MiB with them, stored into at each slot replacement")
	flag.Parse()
	if flag.NArg() > 0 || *threads < 1 || *replaceEvery < 1 ||
		math.IsNaN(*seconds) || math.IsInf(*seconds, 0) || *seconds < 0 {
		fmt.Fprintln(os.Stderr, "latency: bad arguments")
		fmt.Fprintln(os.Stderr, usageLine)
		os.Exit(2)
	}

	t0 := time.Now()
	groups := build(*liveMiB, *threads)
	array := hugeArray(*arrayMiB)
	list := hugeArray(*listMiB)
	runtime.GC()
	buildMs := float64(time.Since(t0).Nanoseconds()) / 1e6
	var s0 runtime.MemStats
	runtime.ReadMemStats(&s0)
	slots := len(groups) * groupSlots
	nodes := uint64(slots) * ((1 << (treeDepth + 1)) - 1)
	fmt.Printf("live set: %d groups, %d slots, %d tree nodes; heap_alloc %.1f MiB, heap_sys %.1f MiB after collect; built in %.0f ms (%d cycles)\n",
		len(groups), slots, nodes, float64(s0.HeapAlloc)/mib, float64(s0.HeapSys)/mib, buildMs, s0.NumGC)

	escapes = make([]escape, *threads)
	deadline := time.Now().Add(time.Duration(*seconds * 1e9))
	loopStart := time.Now()
	results := make([]result, *threads)
	var wg sync.WaitGroup
	for t := 0; t < *threads; t++ {
		wg.Add(1)
		go func(t int) {
			defer wg.Done()
			seed := uint64(0x9e3779b97f4a7c15) * uint64(t+1)
			results[t] = mutate(t, groups, list, deadline, *replaceEvery, seed)
		}(t)
	}
	wg.Wait()
	loopSecs := time.Since(loopStart).Seconds()
	var s1 runtime.MemStats
	runtime.ReadMemStats(&s1)

	h := newHist()
	var iterations, replacements, sink uint64
	for _, r := range results {
		h.merge(r.hist)
		iterations += r.iterations
		replacements += r.replacements
		sink += r.sink
	}
	cycles := s1.NumGC - s0.NumGC
	// Cycle n's pause is at (n + 255) % 256; only the last 256 cycles are kept.
	var maxPauseNs uint64
	for n, k := s1.NumGC, 0; n > s0.NumGC && k < 256; n, k = n-1, k+1 {
		if p := s1.PauseNs[(n+255)%256]; p > maxPauseNs {
			maxPauseNs = p
		}
	}
	if cycles > 256 {
		fmt.Fprintf(os.Stderr, "latency: %d cycles in the loop; max_pause_ms covers the last 256\n", cycles)
	}
	pauseTotalNs := s1.PauseTotalNs - s0.PauseTotalNs
	us := func(ns uint64) float64 { return float64(ns) / 1e3 }
	if loopSecs < 1e-9 {
		loopSecs = 1e-9
	}
	objects := s1.Mallocs - s0.Mallocs

	fmt.Printf("loop: %.2f s, %d iterations (%.0f/s), %d slot replacements, %d objects allocated\n",
		loopSecs, iterations, float64(iterations)/loopSecs, replacements, objects)
	fmt.Printf("gaps: p50 %.1f us, p99 %.1f us, p99.9 %.1f us, p99.99 %.1f us, max %.1f us\n",
		us(h.quantile(0.5)), us(h.quantile(0.99)), us(h.quantile(0.999)), us(h.quantile(0.9999)), us(h.max))
	fmt.Printf("gc: %d cycles in the loop, pauses %.3f ms total, %.3f ms max; heap_alloc %.1f MiB, heap_sys %.1f MiB at the end\n",
		cycles, float64(pauseTotalNs)/1e6, float64(maxPauseNs)/1e6, float64(s1.HeapAlloc)/mib, float64(s1.HeapSys)/mib)
	fmt.Printf("latency: live_mib=%d live_heap_mb=%.1f seconds=%s threads=%d iterations=%d "+
		"max_gap_us=%.1f p999_gap_us=%.1f p99_gap_us=%.1f p50_gap_us=%.1f gaps_over_1ms=%d cycles=%d "+
		"gc_cpu_fraction=%.4f pause_total_ms=%.3f max_pause_ms=%.3f peak_rss_mb=%s heap_sys_mb=%.1f alloc_rate_mps=%.2f\n",
		*liveMiB, float64(s0.HeapAlloc)/mib, strconv.FormatFloat(*seconds, 'f', -1, 64), *threads, iterations,
		us(h.max), us(h.quantile(0.999)), us(h.quantile(0.99)), us(h.quantile(0.5)), h.over1ms, cycles,
		s1.GCCPUFraction, float64(pauseTotalNs)/1e6, float64(maxPauseNs)/1e6, procstat.PeakRSSMiB(),
		float64(s1.HeapSys)/mib, float64(objects)/loopSecs/1e6)
	runtime.KeepAlive(groups)
	runtime.KeepAlive(array)
	runtime.KeepAlive(list)
	if sink == 42 {
		fmt.Fprintln(os.Stderr, "") // keeps sink observable
	}
}
