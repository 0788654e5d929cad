// buffer_churn replicates the "buffer churn" experiment from the well-known
// article on recycling memory buffers in Go: a program that needs ~150 MB of
// live buffers (20 buffers of 5-10 MB) ends up holding far more from the OS.
//
// Every tick a []byte of random size in [5,000,000, 10,000,000] bytes is
// obtained (made, or taken from a recycler), touched one byte per 4096 so it
// is resident, appended to a list, and the list is trimmed to the last `keep`
// buffers. The run has three phases: steady (keep 20), burst (keep 60),
// recover (keep 20), so the return of memory after a burst can be measured.
//
// With --recycler=true, buffers come from a channel-based recycler as in the
// article (goroutine-free version): a buffered channel of capacity 20; a
// pooled buffer is reused whatever its size, and a dropped buffer goes back to
// the channel if there is room, otherwise it is left to the GC.
//
// One CSV row per tick goes to stdout (or --csv FILE); a summary goes to
// stderr at the end. GOGC is left at its default and debug.FreeOSMemory is
// never called.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"
)

const (
	minSize    = 5_000_000
	maxSize    = 10_000_000
	touchEvery = 4096
	poolCap    = 20
)

type phase struct {
	name  string
	ticks int
	keep  int
}

type row struct {
	tick         int
	phase        string
	ms           float64
	heapSys      uint64
	heapAlloc    uint64
	heapIdle     uint64
	heapReleased uint64
	rss          uint64
	live         uint64
	numGC        uint32
	nextGC       uint64
	pooled       uint64 // bytes sitting in the recycler (summary only)
}

var pageSize = uint64(os.Getpagesize())

// rssBytes reads the resident set size from /proc/self/statm (second field,
// in pages).
func rssBytes() uint64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	fields := bytes.Fields(data)
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseUint(string(fields[1]), 10, 64)
	if err != nil {
		return 0
	}
	return pages * pageSize
}

func touch(b []byte) {
	for i := 0; i < len(b); i += touchEvery {
		b[i] = 1
	}
}

func main() {
	steady := flag.Int("steady", 300, "ticks of the steady phase (keep 20 buffers)")
	burst := flag.Int("burst", 100, "ticks of the burst phase (keep 60 buffers)")
	recover := flag.Int("recover", 600, "ticks of the recover phase (keep 20 buffers)")
	tickMs := flag.Int("tick-ms", 20, "sleep between ticks, in milliseconds")
	recycler := flag.Bool("recycler", false, "reuse dropped buffers through a channel of capacity 20")
	csvPath := flag.String("csv", "", "write the CSV here instead of stdout")
	seed := flag.Int64("seed", 1, "random seed for buffer sizes")
	flag.Parse()

	var out io.Writer = os.Stdout
	if *csvPath != "" {
		f, err := os.Create(*csvPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "buffer_churn:", err)
			os.Exit(1)
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	defer w.Flush()

	phases := []phase{
		{"steady", *steady, 20},
		{"burst", *burst, 60},
		{"recover", *recover, 20},
	}

	rng := rand.New(rand.NewSource(*seed))
	var pool chan []byte
	if *recycler {
		pool = make(chan []byte, poolCap)
	}

	get := func() []byte {
		size := minSize + rng.Intn(maxSize-minSize+1)
		if pool != nil {
			select {
			case b := <-pool:
				return b // reused whatever its size, as in the article
			default:
			}
		}
		return make([]byte, size)
	}
	drop := func(b []byte) {
		if pool != nil {
			select {
			case pool <- b:
			default: // recycler full: leave it to the GC
			}
		}
	}

	fmt.Fprintln(w, "tick,phase,ms,heap_sys,heap_alloc,heap_idle,heap_released,rss,live,num_gc,next_gc")

	var held [][]byte
	var rows []row
	var ms runtime.MemStats
	start := time.Now()
	tick := 0
	for _, ph := range phases {
		for i := 0; i < ph.ticks; i++ {
			b := get()
			touch(b)
			held = append(held, b)
			if n := len(held) - ph.keep; n > 0 {
				for j := 0; j < n; j++ {
					drop(held[j])
					held[j] = nil
				}
				// Copy the survivors into a fresh slice so the dropped
				// buffers are not kept alive by the old backing array.
				kept := make([][]byte, ph.keep, ph.keep+1)
				copy(kept, held[n:])
				held = kept
			}

			var live uint64
			for _, h := range held {
				live += uint64(len(h))
			}
			var pooled uint64
			if pool != nil {
				// Peek at the recycler's contents without disturbing order
				// beyond a rotation (single goroutine, so this is exact).
				k := len(pool)
				for j := 0; j < k; j++ {
					p := <-pool
					pooled += uint64(len(p))
					pool <- p
				}
			}

			runtime.ReadMemStats(&ms)
			r := row{
				tick:         tick,
				phase:        ph.name,
				ms:           float64(time.Since(start).Microseconds()) / 1000,
				heapSys:      ms.HeapSys,
				heapAlloc:    ms.HeapAlloc,
				heapIdle:     ms.HeapIdle,
				heapReleased: ms.HeapReleased,
				rss:          rssBytes(),
				live:         live,
				numGC:        ms.NumGC,
				nextGC:       ms.NextGC,
				pooled:       pooled,
			}
			rows = append(rows, r)
			fmt.Fprintf(w, "%d,%s,%.1f,%d,%d,%d,%d,%d,%d,%d,%d\n",
				r.tick, r.phase, r.ms, r.heapSys, r.heapAlloc, r.heapIdle,
				r.heapReleased, r.rss, r.live, r.numGC, r.nextGC)
			tick++
			if *tickMs > 0 {
				time.Sleep(time.Duration(*tickMs) * time.Millisecond)
			}
		}
	}
	w.Flush()
	summary(os.Stderr, rows, phases, *recycler)
}

func mb(v uint64) string { return fmt.Sprintf("%.1f", float64(v)/1e6) }

func summary(out io.Writer, rows []row, phases []phase, recycler bool) {
	variant := "plain (make every buffer)"
	if recycler {
		variant = "recycler (channel of capacity 20, reuse any size)"
	}
	fmt.Fprintf(out, "buffer_churn summary: %s, %s, GOMAXPROCS=%d, %d ticks\n",
		variant, runtime.Version(), runtime.GOMAXPROCS(0), len(rows))
	fmt.Fprintln(out, "figures in MB (10^6 bytes); peak = max over the phase's ticks, final = last tick of the phase")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| phase | ticks | peak heap_sys | final heap_sys | peak heap_released | final heap_released | peak rss | final rss | peak live | final live | peak heap_sys / peak live | peak rss / peak live |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|---|---|---|---|---|---|")
	i := 0
	var burstEndMs float64
	burstEnd := -1
	var pooledPeak uint64
	for _, ph := range phases {
		if ph.ticks == 0 {
			continue
		}
		seg := rows[i : i+ph.ticks]
		i += ph.ticks
		var pSys, pRel, pRSS, pLive uint64
		for _, r := range seg {
			pSys = max(pSys, r.heapSys)
			pRel = max(pRel, r.heapReleased)
			pRSS = max(pRSS, r.rss)
			pLive = max(pLive, r.live)
			pooledPeak = max(pooledPeak, r.pooled)
		}
		last := seg[len(seg)-1]
		fmt.Fprintf(out, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.2f |\n",
			ph.name, ph.ticks, mb(pSys), mb(last.heapSys), mb(pRel), mb(last.heapReleased),
			mb(pRSS), mb(last.rss), mb(pLive), mb(last.live),
			float64(pSys)/float64(pLive), float64(pRSS)/float64(pLive))
		if ph.name == "burst" {
			burstEndMs = last.ms
			burstEnd = i - 1
		}
	}
	fmt.Fprintln(out)
	last := rows[len(rows)-1]
	fmt.Fprintf(out, "end of run: num_gc=%d next_gc=%s MB heap_alloc=%s MB heap_idle=%s MB", last.numGC, mb(last.nextGC), mb(last.heapAlloc), mb(last.heapIdle))
	if recycler {
		fmt.Fprintf(out, " pooled=%s MB (peak pooled %s MB; pooled bytes are not counted in live)", mb(last.pooled), mb(pooledPeak))
	}
	fmt.Fprintln(out)

	if burstEnd < 0 {
		fmt.Fprintln(out, "recovery: no burst phase")
		return
	}
	// Earliest tick after the burst from which rss < 1.1 x next_gc holds for
	// the rest of the run.
	first := -1
	for j := len(rows) - 1; j > burstEnd; j-- {
		if float64(rows[j].rss) < 1.1*float64(rows[j].nextGC) {
			first = j
		} else {
			break
		}
	}
	defer steadyRecovery(out, rows, phases, burstEnd, burstEndMs)
	defer goalTicks(out, rows[burstEnd+1:])
	if first < 0 {
		fmt.Fprintf(out, "recovery: rss never falls (and stays) under 1.1 x next_gc after the burst (final rss %s MB, 1.1 x next_gc %s MB)\n",
			mb(last.rss), mb(uint64(1.1*float64(last.nextGC))))
		return
	}
	r := rows[first]
	fmt.Fprintf(out, "recovery: rss < 1.1 x next_gc from tick %d on (%d ticks, %.1f ms after the end of the burst at tick %d); there rss=%s MB, next_gc=%s MB\n",
		first, first-burstEnd, r.ms-burstEndMs, burstEnd, mb(r.rss), mb(r.nextGC))
}

// goalTicks is an extra figure for the ticks after the burst: on how many of
// them rss, and the heap's retained memory (heap_sys - heap_released, what
// the runtime's scavenger steers to ~1.1 x the heap goal), are under
// 1.1 x next_gc, and the median and maximum of rss / next_gc.
func goalTicks(out io.Writer, after []row) {
	if len(after) == 0 {
		return
	}
	var rssUnder, retUnder int
	ratios := make([]float64, 0, len(after))
	for _, r := range after {
		goal := 1.1 * float64(r.nextGC)
		if float64(r.rss) < goal {
			rssUnder++
		}
		if float64(r.heapSys-r.heapReleased) < goal {
			retUnder++
		}
		ratios = append(ratios, float64(r.rss)/float64(r.nextGC))
	}
	sort.Float64s(ratios)
	fmt.Fprintf(out, "extra: after the burst, rss < 1.1 x next_gc on %d of %d ticks, retained (heap_sys - heap_released) < 1.1 x next_gc on %d; rss / next_gc median %.2f, max %.2f\n",
		rssUnder, len(after), retUnder, ratios[len(ratios)/2], ratios[len(ratios)-1])
}

// steadyRecovery is an extra figure beside the heap-goal one: the time from
// the end of the burst until rss first falls under 1.1 x the steady phase's
// peak rss and stays there for the rest of the run.
func steadyRecovery(out io.Writer, rows []row, phases []phase, burstEnd int, burstEndMs float64) {
	if phases[0].name != "steady" || phases[0].ticks == 0 {
		return
	}
	var steadyPeak uint64
	for _, r := range rows[:phases[0].ticks] {
		steadyPeak = max(steadyPeak, r.rss)
	}
	limit := 1.1 * float64(steadyPeak)
	first := -1
	for j := len(rows) - 1; j > burstEnd; j-- {
		if float64(rows[j].rss) < limit {
			first = j
		} else {
			break
		}
	}
	if first < 0 {
		fmt.Fprintf(out, "extra: rss never falls (and stays) under 1.1 x the steady peak rss (%s MB) after the burst; final rss %s MB\n",
			mb(uint64(limit)), mb(rows[len(rows)-1].rss))
		return
	}
	fmt.Fprintf(out, "extra: rss < 1.1 x the steady peak rss (%s MB) from tick %d on (%d ticks, %.1f ms after the end of the burst)\n",
		mb(uint64(limit)), first, first-burstEnd, rows[first].ms-burstEndMs)
}

func max(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
