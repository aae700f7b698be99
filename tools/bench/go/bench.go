// Copyright 2026 The Picos for C++ Authors.
//
// tools/bench/go/bench.go — the suite's third peer: the workloads of picos_bench
// (tools/bench/picos_bench.cc) written against Go's runtime (goroutines, channels, sync,
// the netpoller), standard library only, printing the same result lines with impl=go:
//
//	bench=<name> impl=go threads=<workers> value=<number> unit=<unit>
//
// The workers are GOMAXPROCS: 1 and 2, as picos_bench's multififo rows (plus every
// --workers=N above 2); --threads= narrows them. Same flags as the C++ runners
// (tools/bench/bench_util.cc: --quick, the sizes, --warmup, --reps, --only, --skip,
// --threads, --impl, --workers; --boost_launch is accepted and ignored; the thread
// scheduler's --thread_* sizes are accepted and unused), same sizes, --quick scaling, timed
// regions, checks (a wrong result prints value=FAILED and makes the exit status 1) and
// repetition policy (--warmup untimed runs, then the best of --reps). A full GC runs before
// every run, outside the timed region (the C++ runners start each run with no garbage).
// The mapping (picos_bench's workload: the Go construct):
//   - yield: 2 goroutines, each runtime.Gosched() n times (1 worker only, as picos_bench);
//   - spawn_join: n empty goroutines (`go f()`), the last one closes a channel;
//   - skynet: 10 goroutines per node, each sends its sum on the node's channel (capacity 10);
//   - mutex: sync.Mutex, {Lock; counter++; runtime.Gosched(); Unlock} (yields inside, as the
//     C++ one);
//   - chan_pingpong: two unbuffered channels (Picos' Channel(0) is a rendezvous);
//   - chan_throughput: a channel of capacity 64 (as Picos' Channel(64)), 1 producer that
//     closes it, 1 consumer ranging over it;
//   - fib: a goroutine for fib(n-1) when n >= 20, its result on a channel of capacity 1;
//   - timers (cancel_after 1 hour + complete): context.WithTimeout(Background, 1 hour) then
//     its cancel func, checking ctx.Err() == context.Canceled. A context is the closest thing
//     Go has to a computation with a deadline: like cancel_after it makes the cancelable
//     object and its timer, and cancel stops the timer (time.AfterFunc + Stop would time a
//     bare timer only: about 0.4x the figure on the 2-core VM);
//   - timers_fire: n goroutines, each time.Sleep(1 ms);
//   - echo: net.Listen on 127.0.0.1 and one goroutine per accepted connection echoing until
//     end of file; --echo_clients client goroutines (net.Dial, TCP_NODELAY on both ends),
//     each --echo_rounds round trips of 64 bytes, every byte compared; timed from every
//     connection established and accepted to every client done; round trips per second;
//   - close_idle: AF_UNIX socketpairs made net.Conns (net.FileConn, so the netpoller owns
//     them), a goroutine blocked in Read on each; timed from the first Close to every reader
//     woken with net.ErrClosed (EBADF in the C++ one);
//   - rss_parked: n goroutines blocked on one channel; (RSS once all are parked - RSS before
//     the first `go`) / n in KiB, RSS from /proc/self/statm as bench_util.h's rss_kib; runs
//     only when --only names it, once, no warm-up (tools/bench.sh gives it a fresh process
//     per worker count).
//
// Not here: trigger and trigger_2fibers (Picos' one-shot Trigger — create, signal, await —
// has no Go counterpart: a goroutine parks only inside the runtime's own primitives, and a
// channel hand-off is what chan_pingpong already measures).
//
// Built and run by tools/bench.sh (go build, Debian's golang-go 1.19); by hand:
//
//	cd tools/bench/go && go build -o /tmp/picos-go-bench . && /tmp/picos-go-bench --quick
package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const impl = "go"

// ---- flags (tools/bench/bench_util.cc's, parsed the way Abseil does) ---------------------

// A filter flag (--only, --threads, --impl): absent means everything; each occurrence narrows
// it to the intersection with what came before.
type filter[T comparable] struct {
	set     bool
	allowed map[T]bool
}

func (f *filter[T]) narrow(v map[T]bool) {
	if !f.set {
		f.allowed, f.set = v, true
		return
	}
	both := map[T]bool{}
	for x := range v {
		if f.allowed[x] {
			both[x] = true
		}
	}
	f.allowed = both
}

func (f *filter[T]) wants(x T) bool { return !f.set || f.allowed[x] }
func (f *filter[T]) names(x T) bool { return f.set && f.allowed[x] }

type sizes struct {
	yieldN, spawnN, skynetLeaves, mutexFibers, mutexOps, pingpongN, throughputN, fibN   int64
	timersN, timersFireN, triggerN, echoClients, echoRounds, rssFibers, closeIdleN      int64
	threadSpawnN, threadTimersFireN, threadMutexOps, threadPingpongN, threadThroughputN int64
	threadTrigger2FibersN, threadRssFibers, threadCloseIdleN                            int64
	warmup, reps                                                                        int64
	only, impl                                                                          filter[string]
	threads                                                                             filter[int]
	skip                                                                                map[string]bool
	workers                                                                             map[int]bool
}

// Workloads that run only when --only names them (bench_util.h's opt_in).
func optIn(name string) bool { return name == "rss_parked" }

func (s *sizes) wants(name string) bool {
	if s.skip[name] {
		return false
	}
	if optIn(name) {
		return s.only.names(name)
	}
	return s.only.wants(name)
}

// A size flag: where it goes (the field holds the default) and what --quick makes of the
// default: divided by quickDiv or, where quickValue >= 0, that value.
type sizeFlag struct {
	name       string
	field      *int64
	quickDiv   int64
	quickValue int64
}

func defaultSizes() *sizes {
	return &sizes{
		yieldN: 1000000, spawnN: 1000000, skynetLeaves: 1000000, mutexFibers: 100,
		mutexOps: 10000, pingpongN: 1000000, throughputN: 10000000, fibN: 30,
		timersN: 1000000, timersFireN: 100000, triggerN: 1000000, echoClients: 100,
		echoRounds: 10000, rssFibers: 100000, closeIdleN: 10000,
		threadSpawnN: 10000, threadTimersFireN: 10000, threadMutexOps: 1000,
		threadPingpongN: 20000, threadThroughputN: 1000000, threadTrigger2FibersN: 20000,
		threadRssFibers: 10000, threadCloseIdleN: 1000,
		warmup: 1, reps: 3,
		skip: map[string]bool{}, workers: map[int]bool{},
	}
}

func (s *sizes) sizeFlags() []sizeFlag {
	return []sizeFlag{
		{"yield_n", &s.yieldN, 10, -1},
		{"spawn_n", &s.spawnN, 10, -1},
		{"skynet_leaves", &s.skynetLeaves, 100, -1},
		{"mutex_fibers", &s.mutexFibers, 1, -1},
		{"mutex_ops", &s.mutexOps, 100, -1},
		{"pingpong_n", &s.pingpongN, 10, -1},
		{"throughput_n", &s.throughputN, 100, -1},
		{"fib_n", &s.fibN, 1, 25},
		{"timers_n", &s.timersN, 10, -1},
		{"timers_fire_n", &s.timersFireN, 10, -1},
		{"trigger_n", &s.triggerN, 10, -1},
		{"echo_clients", &s.echoClients, 1, -1},
		{"echo_rounds", &s.echoRounds, 100, -1},
		{"rss_fibers", &s.rssFibers, 10, -1},
		{"close_idle_n", &s.closeIdleN, 10, -1},
		{"thread_spawn_n", &s.threadSpawnN, 10, -1},
		{"thread_timers_fire_n", &s.threadTimersFireN, 10, -1},
		{"thread_mutex_ops", &s.threadMutexOps, 10, -1},
		{"thread_pingpong_n", &s.threadPingpongN, 10, -1},
		{"thread_throughput_n", &s.threadThroughputN, 10, -1},
		{"thread_trigger_2fibers_n", &s.threadTrigger2FibersN, 10, -1},
		{"thread_rss_fibers", &s.threadRssFibers, 10, -1},
		{"thread_close_idle_n", &s.threadCloseIdleN, 10, -1},
		{"warmup", &s.warmup, 1, -1},
		{"reps", &s.reps, 1, -1},
	}
}

func fail(why string) {
	fmt.Fprintf(os.Stderr, "%s: %s (--help lists the flags)\n", os.Args[0], why)
	os.Exit(2)
}

func split(v string) map[string]bool {
	out := map[string]bool{}
	for _, x := range strings.Split(v, ",") {
		if x != "" {
			out[x] = true
		}
	}
	return out
}

// Comma-separated counts, each at least min; anything else is a usage error.
func splitInts(v string, min int) map[int]bool {
	out := map[int]bool{}
	for x := range split(v) {
		n, err := strconv.Atoi(x)
		if err != nil || n < min {
			fail("--threads and --workers take comma-separated counts")
		}
		out[n] = true
	}
	return out
}

func parseInt64(name, v string) int64 {
	t := strings.TrimSpace(v)
	base := 10
	neg := strings.HasPrefix(t, "-")
	u := strings.TrimPrefix(strings.TrimPrefix(t, "-"), "+")
	if strings.HasPrefix(u, "0x") || strings.HasPrefix(u, "0X") {
		base, u = 16, u[2:]
	}
	n, err := strconv.ParseInt(u, base, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ERROR: Illegal value '%s' specified for flag '%s'\n", v, name)
		os.Exit(1)
	}
	if neg {
		n = -n
	}
	return n
}

func usage() {
	fmt.Printf("%s: one result line per (workload, workers):\n"+
		"  bench=<name> impl=go threads=<GOMAXPROCS> value=<number> unit=<unit>\n"+
		"Flags (as the C++ runners', tools/bench/bench_util.cc): --quick, --warmup=N, --reps=N,\n"+
		"--only=w1,w2, --skip=w1,w2, --threads=1,2, --impl=go, --workers=4,8, --boost_launch=\n"+
		"(ignored), and the sizes:", os.Args[0])
	for _, f := range defaultSizes().sizeFlags() {
		if f.name != "warmup" && f.name != "reps" {
			fmt.Printf(" --%s", f.name)
		}
	}
	fmt.Println()
}

// Parses args as Abseil parses the C++ runners' command line: -name or --name, the value
// after '=' or in the next argument, --quick / --quick=false / --noquick; repeated filters
// intersect, --skip and --workers accumulate; --quick shrinks every size not given.
func parse(args []string) *sizes {
	s := defaultSizes()
	flags := map[string]*int64{}
	for _, f := range s.sizeFlags() {
		flags[f.name] = f.field
	}
	given := map[string]int64{}
	quick := false
	launch := "dispatch"
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if i+1 < len(args) {
				fail("unexpected argument '" + args[i+1] + "'")
			}
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			fail("unexpected argument '" + a + "'")
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		value, hasValue := "", false
		if eq := strings.IndexByte(name, '='); eq >= 0 {
			name, value, hasValue = name[:eq], name[eq+1:], true
		}
		switch name {
		case "help", "helpfull", "helpshort":
			usage()
			os.Exit(1)
		case "quick", "noquick":
			b := name == "quick"
			if hasValue {
				if name == "noquick" {
					fail("--noquick takes no value")
				}
				switch strings.ToLower(value) {
				case "true", "t", "yes", "y", "1":
					b = true
				case "false", "f", "no", "n", "0":
					b = false
				default:
					fmt.Fprintf(os.Stderr, "ERROR: Illegal value '%s' specified for flag 'quick'\n", value)
					os.Exit(1)
				}
			}
			quick = b
			continue
		}
		_, isSize := flags[name]
		switch name {
		case "only", "skip", "threads", "impl", "workers", "boost_launch":
		default:
			if !isSize {
				fmt.Fprintf(os.Stderr, "ERROR: Unknown command line flag '%s'\n", name)
				os.Exit(1)
			}
		}
		if !hasValue {
			if i+1 >= len(args) {
				fmt.Fprintf(os.Stderr, "ERROR: Missing the value for the flag '%s'\n", name)
				os.Exit(1)
			}
			i++
			value = args[i]
		}
		switch name {
		case "only":
			s.only.narrow(split(value))
		case "skip":
			for w := range split(value) {
				s.skip[w] = true
			}
		case "threads":
			s.threads.narrow(splitInts(value, 0))
		case "impl":
			s.impl.narrow(split(value))
		case "workers":
			for n := range splitInts(value, 1) {
				s.workers[n] = true
			}
		case "boost_launch":
			launch = value
		default:
			given[name] = parseInt64(name, value)
		}
	}
	if launch != "dispatch" && launch != "post" {
		fail("--boost_launch must be dispatch or post, got '" + launch + "'")
	}
	for _, f := range s.sizeFlags() {
		if v, ok := given[f.name]; ok {
			if v < 0 {
				fail("sizes, --warmup and --reps must not be negative")
			}
			*f.field = v
		} else if quick {
			if f.quickValue >= 0 {
				*f.field = f.quickValue
			} else {
				*f.field /= f.quickDiv
			}
		}
	}
	atLeast1 := func(p *int64) {
		if *p < 1 {
			*p = 1
		}
	}
	for _, p := range []*int64{&s.reps, &s.echoClients, &s.echoRounds, &s.rssFibers,
		&s.threadRssFibers, &s.closeIdleN, &s.threadCloseIdleN} {
		atLeast1(p)
	}
	leaves := s.skynetLeaves
	for leaves > 1 && leaves%10 == 0 {
		leaves /= 10
	}
	if leaves != 1 {
		fail("--skynet_leaves must be a power of 10")
	}
	return s
}

// ---- reporting (bench_util.h's report and report_fresh) ------------------------------

var (
	failures    int
	processUsed bool
)

// One run after a full GC; a panic is a failed run with its message, not a crash of the suite.
func runOnce(name string, threads int, once func() float64) (v float64) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "bench=%s impl=%s threads=%d: %v\n", name, impl, threads, r)
			v = -1
		}
	}()
	runtime.GC()
	return once()
}

// Runs once warmup + reps times (each returns its figure in unit) and prints the best (the
// lowest, or the highest when higherIsBetter). A figure < 0 means the run's check failed:
// the line says value=FAILED and the exit status becomes 1.
func report(s *sizes, name string, threads int, unit string, once func() float64,
	higherIsBetter bool) {
	processUsed = true
	failed := func() {
		fmt.Printf("bench=%s impl=%s threads=%d value=FAILED unit=%s\n", name, impl, threads, unit)
		failures++
	}
	for i := int64(0); i < s.warmup; i++ {
		if runOnce(name, threads, once) < 0 {
			failed()
			return
		}
	}
	best := 0.0
	for i := int64(0); i < s.reps; i++ {
		v := runOnce(name, threads, once)
		if v < 0 {
			failed()
			return
		}
		if i == 0 || (higherIsBetter && v > best) || (!higherIsBetter && v < best) {
			best = v
		}
	}
	// Whole numbers from 100 up, 3 significant digits below (printf's %.0f and %.3g).
	format := "bench=%s impl=%s threads=%d value=%.3g unit=%s\n"
	if best >= 100 {
		format = "bench=%s impl=%s threads=%d value=%.0f unit=%s\n"
	}
	fmt.Printf(format, name, impl, threads, best, unit)
}

// One measurement, no warm-up: for rss_parked, whose figure is what a fresh process gains.
func reportFresh(s *sizes, name string, threads int, unit string, once func() float64) {
	if processUsed {
		fmt.Fprintf(os.Stderr, "warning: %s (%s, %d workers) is not the first measurement in "+
			"this process: freed heap and goroutine stacks are reused, so the figure is too low. "+
			"Run one process per worker count: --only=%s --impl=%s --threads=%d (tools/bench.sh "+
			"does)\n", name, impl, threads, name, impl, threads)
	}
	one := *s
	one.warmup, one.reps = 0, 1
	report(&one, name, threads, unit, once, false)
}

// The process's resident set in KiB (/proc/self/statm's second field), or -1 if unreadable.
func rssKiB() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return -1
	}
	pages, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return -1
	}
	return float64(pages) * float64(os.Getpagesize()) / 1024
}

func nsOf(d time.Duration) float64 { return float64(d.Nanoseconds()) }

// ---- the workloads -------------------------------------------------------------------

// The gated workloads' timing: once every goroutine started so far has arrived (each then
// waits on gate), times from closing gate until timed returns.
func openGateTimed(arrived *sync.WaitGroup, gate chan struct{}, timed func()) time.Duration {
	arrived.Wait()
	runtime.Gosched()
	t0 := time.Now()
	close(gate)
	timed()
	return time.Since(t0)
}

// The one-goroutine workloads' timing: op called n times, timed from the first call to the
// last; ns per call, or -1 unless every call returned true.
func nsPerCall(n int64, op func() bool) float64 {
	var ok int64
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		if op() {
			ok++
		}
	}
	d := time.Since(t0)
	if ok != n {
		return -1
	}
	return nsOf(d) / float64(n)
}

// Runs body on k goroutines that wait at a gate; the timed region is from opening the gate
// until all k have returned.
func gatedGroup(k int64, body func()) time.Duration {
	var arrived, done sync.WaitGroup
	gate := make(chan struct{})
	arrived.Add(int(k))
	done.Add(int(k))
	for j := int64(0); j < k; j++ {
		go func() {
			defer done.Done()
			arrived.Done()
			<-gate
			body()
		}()
	}
	return openGateTimed(&arrived, gate, done.Wait)
}

// yield: 2 goroutines, each yields n times; gate -> both done; ns per yield.
func yieldOnce(n int64) float64 {
	d := gatedGroup(2, func() {
		for i := int64(0); i < n; i++ {
			runtime.Gosched()
		}
	})
	return nsOf(d) / float64(2*n)
}

// Starts n goroutines that each run body and waits until all have finished; the timed
// region is the `go` loop and the wait. Returns the ns, or -1.
func spawnAllNs(n int64, body func()) float64 {
	var left atomic.Int64
	left.Store(n)
	done := make(chan struct{})
	if n == 0 {
		close(done)
	}
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go func() {
			body()
			if left.Add(-1) == 0 {
				close(done)
			}
		}()
	}
	<-done
	d := time.Since(t0)
	if left.Load() != 0 {
		return -1
	}
	return nsOf(d)
}

// spawn_join: n empty goroutines; ns per goroutine.
func spawnJoinOnce(n int64) float64 {
	ns := spawnAllNs(n, func() {})
	if ns < 0 {
		return -1
	}
	return ns / float64(n)
}

func skynet(num, size int64) int64 {
	if size == 1 {
		return num
	}
	child := size / 10
	c := make(chan int64, 10)
	for i := int64(0); i < 10; i++ {
		go func(sub int64) { c <- skynet(sub, child) }(num + i*child)
	}
	var sum int64
	for i := 0; i < 10; i++ {
		sum += <-c
	}
	return sum
}

// skynet: the whole tree; ms.
func skynetOnce(leaves int64) float64 {
	t0 := time.Now()
	sum := skynet(0, leaves)
	d := time.Since(t0)
	if sum != leaves*(leaves-1)/2 {
		return -1
	}
	return nsOf(d) / 1e6
}

// mutex: fibers goroutines x ops x {Lock; counter++; Gosched; Unlock}; gate -> all done;
// ns/op.
func mutexOnce(fibers, ops int64) float64 {
	var m sync.Mutex
	var counter int64
	d := gatedGroup(fibers, func() {
		for i := int64(0); i < ops; i++ {
			m.Lock()
			counter++
			runtime.Gosched()
			m.Unlock()
		}
	})
	if counter != fibers*ops {
		return -1
	}
	return nsOf(d) / float64(fibers*ops)
}

// Runs `timed` and `other` on two goroutines that wait at a gate; the timed region is from
// opening the gate until `timed` returns. Returns once both have.
func gatedPair(timed, other func()) time.Duration {
	var arrived sync.WaitGroup
	gate := make(chan struct{})
	timedDone, otherDone := make(chan struct{}), make(chan struct{})
	arrived.Add(2)
	start := func(f func(), done chan struct{}) {
		go func() {
			defer close(done)
			arrived.Done()
			<-gate
			f()
		}()
	}
	start(timed, timedDone)
	start(other, otherDone)
	d := openGateTimed(&arrived, gate, func() { <-timedDone })
	<-otherDone
	return d
}

// chan_pingpong: 2 goroutines, n round trips over two unbuffered channels; gate -> done.
func pingpongOnce(n int64) float64 {
	ping, pong := make(chan int64), make(chan int64)
	last := int64(-1)
	d := gatedPair(func() {
		for i := int64(0); i < n; i++ {
			ping <- i
			last = <-pong
		}
	}, func() {
		for i := int64(0); i < n; i++ {
			pong <- <-ping + 1
		}
	})
	if last != n {
		return -1
	}
	return nsOf(d) / float64(n)
}

// chan_throughput: capacity 64, 1 producer, 1 consumer, n ints; gate -> consumer done.
func throughputOnce(n int64) float64 {
	ch := make(chan int32, 64)
	var sum int64
	d := gatedPair(func() {
		for v := range ch {
			sum += int64(v)
		}
	}, func() {
		for i := int64(0); i < n; i++ {
			ch <- int32(i)
		}
		close(ch)
	})
	if sum != n*(n-1)/2 {
		return -1
	}
	return nsOf(d) / float64(n)
}

// fib below this size runs inline (bench_util.h's kFibSpawnMin).
const fibSpawnMin = 20

func fibSeq(n int64) int64 {
	if n < 2 {
		return n
	}
	return fibSeq(n-1) + fibSeq(n-2)
}

func fib(n int64) int64 {
	if n < fibSpawnMin {
		return fibSeq(n)
	}
	c := make(chan int64, 1)
	go func() { c <- fib(n - 1) }()
	b := fib(n - 2)
	return b + <-c
}

func fibExpected(n int64) int64 {
	a, b := int64(0), int64(1)
	for i := int64(0); i < n; i++ {
		a, b = b, a+b
	}
	return a
}

// fib: fib(n), a goroutine for fib(n-1) when n >= 20, fib(n-2) inline; whole; ms.
func fibOnce(n int64) float64 {
	t0 := time.Now()
	r := fib(n)
	d := time.Since(t0)
	if r != fibExpected(n) {
		return -1
	}
	return nsOf(d) / 1e6
}

// timers: n x {a context with a 1-hour timeout; cancel it, which stops the timer}; the
// timeout must not be what ended it.
func timersOnce(n int64) float64 {
	return nsPerCall(n, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		cancel()
		return ctx.Err() == context.Canceled
	})
}

// timers_fire: n goroutines each sleep 1 ms; spawn -> the last wakes; ms.
func timersFireOnce(n int64) float64 {
	ns := spawnAllNs(n, func() { time.Sleep(time.Millisecond) })
	if ns < 0 {
		return -1
	}
	return ns / 1e6
}

// ---- echo ------------------------------------------------------------------------------

const echoMessage = 64

// Raises the soft RLIMIT_NOFILE to the hard limit (Go 1.19's os package does it too).
func raiseFdLimit() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) == nil && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
}

func noDelay(c net.Conn) {
	if t, ok := c.(*net.TCPConn); ok {
		_ = t.SetNoDelay(true)
	}
}

// The first error of a run, kept for stderr; safe from any goroutine.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// echo: the server (one goroutine per connection) and clients client goroutines, each doing
// rounds round trips of 64 bytes; every echoed byte is compared with what was sent. Timed:
// every connection established and accepted (clients wait on a gate) -> every client done;
// round trips per second. Then the listener closes and every handler must end.
func echoOnce(clients, rounds int64) float64 {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo: %v\n", err)
		return -1
	}
	var connected, clientsDone, handlers sync.WaitGroup
	connected.Add(int(clients))
	var accepted atomic.Int64
	allAccepted := make(chan struct{})
	var errs firstError
	serverDone := make(chan struct{})
	go func() {
		defer close(serverDone)
		for {
			c, err := ln.Accept()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					errs.set(fmt.Errorf("accept: %w", err))
				}
				return
			}
			handlers.Add(1)
			go func(c net.Conn) {
				defer handlers.Done()
				defer c.Close()
				noDelay(c)
				if accepted.Add(1) == clients {
					close(allAccepted)
				}
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, werr := c.Write(buf[:n]); werr != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}(c)
		}
	}()
	gate := make(chan struct{})
	var good atomic.Int64
	addr := ln.Addr().String()
	for c := int64(0); c < clients; c++ {
		clientsDone.Add(1)
		go func(c int64) {
			defer clientsDone.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				errs.set(fmt.Errorf("client %d: %w", c, err))
				connected.Done()
				return
			}
			connected.Done()
			defer conn.Close()
			noDelay(conn)
			<-gate
			out, in := make([]byte, echoMessage), make([]byte, echoMessage)
			var g int64
			for k := int64(0); k < rounds; k++ {
				for i := range out {
					out[i] = byte(c*131 + k*7 + int64(i))
				}
				if _, err := conn.Write(out); err != nil {
					errs.set(fmt.Errorf("client %d, round %d: %w", c, k, err))
					return
				}
				got, err := io.ReadFull(conn, in)
				if err != nil || !bytes.Equal(in, out) {
					errs.set(fmt.Errorf("client %d, round %d: echo mismatch (%d of 64 bytes back)",
						c, k, got))
					return
				}
				g++
			}
			good.Add(g)
		}(c)
	}
	connected.Wait()
	// Every connection accepted, unless the server or a client gave up.
	ready := false
	if errs.get() == nil {
		select {
		case <-allAccepted:
			ready = true
		case <-serverDone:
		}
	}
	var d time.Duration
	if ready {
		t0 := time.Now()
		close(gate)
		clientsDone.Wait()
		d = time.Since(t0)
	} else {
		close(gate)
		clientsDone.Wait()
	}
	ln.Close()
	<-serverDone
	handlers.Wait()
	if err := errs.get(); err != nil {
		fmt.Fprintf(os.Stderr, "echo: %v\n", err)
		return -1
	}
	total := clients * rounds
	if !ready || good.Load() != total {
		return -1
	}
	return float64(total) / d.Seconds()
}

// ---- close_idle --------------------------------------------------------------------------

// How many socketpairs (two descriptors each) RLIMIT_NOFILE leaves room for, up to want; 64
// descriptors are kept for everything else.
func pairsAllowed(want int64) int64 {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil || rl.Cur == ^uint64(0) {
		return want
	}
	room := (int64(rl.Cur) - 64) / 2
	if room < want {
		if room < 1 {
			return 1
		}
		return room
	}
	return want
}

// close_idle: n idle connections (AF_UNIX socketpairs, one end a net.Conn on the netpoller),
// each with a goroutine blocked in Read on it; then Close on every such end, one after the
// other. Timed: the first Close -> every reader has woken (each must get net.ErrClosed); ms.
func closeIdleOnce(n int64) float64 {
	readers := make([]net.Conn, 0, n)
	others := make([]int, 0, n)
	defer func() {
		for _, c := range readers {
			if c != nil {
				c.Close()
			}
		}
		for _, fd := range others {
			syscall.Close(fd)
		}
	}()
	for i := int64(0); i < n; i++ {
		fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			fmt.Fprintf(os.Stderr, "close_idle: socketpair: %v\n", err)
			return -1
		}
		others = append(others, fds[1])
		f := os.NewFile(uintptr(fds[0]), "socketpair")
		c, err := net.FileConn(f) // a duplicate, non-blocking, on the netpoller
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "close_idle: %v\n", err)
			return -1
		}
		readers = append(readers, c)
	}
	var blocked, woken sync.WaitGroup
	var closed atomic.Int64
	for _, c := range readers {
		blocked.Add(1)
		woken.Add(1)
		go func(c net.Conn) {
			defer woken.Done()
			blocked.Done()
			var b [1]byte
			if _, err := c.Read(b[:]); errors.Is(err, net.ErrClosed) {
				closed.Add(1)
			}
		}(c)
	}
	blocked.Wait()
	time.Sleep(10 * time.Millisecond) // the last readers reach their Read and park
	t0 := time.Now()
	for i, c := range readers {
		c.Close()
		readers[i] = nil
	}
	woken.Wait()
	d := time.Since(t0)
	if closed.Load() != n {
		return -1
	}
	return nsOf(d) / 1e6
}

// ---- rss_parked --------------------------------------------------------------------------

// rss_parked: n goroutines, each blocked on one shared channel. Resident KiB per parked
// goroutine: (RSS once all are parked - RSS just before the first `go`) / n. Then the gate
// opens; every goroutine must finish.
func rssParkedOnce(n int64) float64 {
	gate, done := make(chan struct{}), make(chan struct{})
	var arrived sync.WaitGroup
	var left atomic.Int64
	left.Store(n)
	arrived.Add(int(n))
	before := rssKiB()
	for i := int64(0); i < n; i++ {
		go func() {
			arrived.Done()
			<-gate
			if left.Add(-1) == 0 {
				close(done)
			}
		}()
	}
	arrived.Wait()
	// The last goroutine counted itself but may not be parked on gate yet: let it get there.
	for i := 0; i < 10; i++ {
		runtime.Gosched()
	}
	parked := rssKiB()
	close(gate)
	<-done
	if before < 0 || parked < 0 || left.Load() != 0 {
		return -1
	}
	return (parked - before) / float64(n)
}

func main() {
	s := parse(os.Args[1:])
	raiseFdLimit()
	if !s.impl.wants(impl) {
		return
	}
	widths := []int{1, 2}
	for n := range s.workers {
		if n > 2 {
			widths = append(widths, n)
		}
	}
	sort.Ints(widths)
	for _, w := range widths {
		if !s.threads.wants(w) {
			continue
		}
		runtime.GOMAXPROCS(w)
		line := func(name, unit string, once func() float64, higherIsBetter bool) {
			if s.wants(name) {
				report(s, name, w, unit, once, higherIsBetter)
			}
		}
		// yield is a one-worker workload, as in picos_bench.
		if w == 1 {
			line("yield", "ns/yield", func() float64 { return yieldOnce(s.yieldN) }, false)
		}
		line("spawn_join", "ns/fiber", func() float64 { return spawnJoinOnce(s.spawnN) }, false)
		line("skynet", "ms", func() float64 { return skynetOnce(s.skynetLeaves) }, false)
		line("mutex", "ns/op", func() float64 { return mutexOnce(s.mutexFibers, s.mutexOps) }, false)
		line("chan_pingpong", "ns/roundtrip", func() float64 { return pingpongOnce(s.pingpongN) },
			false)
		line("chan_throughput", "ns/msg", func() float64 { return throughputOnce(s.throughputN) },
			false)
		line("fib", "ms", func() float64 { return fibOnce(s.fibN) }, false)
		line("timers", "ns/timer", func() float64 { return timersOnce(s.timersN) }, false)
		line("timers_fire", "ms", func() float64 { return timersFireOnce(s.timersFireN) }, false)
		line("echo", "msg/s", func() float64 { return echoOnce(s.echoClients, s.echoRounds) }, true)
		if s.wants("close_idle") {
			n := pairsAllowed(s.closeIdleN)
			// The unit names the count when RLIMIT_NOFILE forced a smaller one.
			unit := "ms"
			if n != s.closeIdleN {
				unit = fmt.Sprintf("ms_for_%d_conns", n)
				fmt.Fprintf(os.Stderr, "close_idle: RLIMIT_NOFILE allows %d connections, not %d (go)\n",
					n, s.closeIdleN)
			}
			line("close_idle", unit, func() float64 { return closeIdleOnce(n) }, false)
		}
		if s.wants("rss_parked") {
			reportFresh(s, "rss_parked", w, "KiB/fiber",
				func() float64 { return rssParkedOnce(s.rssFibers) })
		}
	}
	if failures != 0 {
		os.Exit(1)
	}
}
