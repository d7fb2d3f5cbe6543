// Command tracestates reads a Go execution trace (a server's
// /debug/pprof/trace) and tells where one goroutine's time went: how long
// it ran, waited for work, sat in system calls, and was runnable but not
// running (waiting for a P, Go's right to run on a core), with the
// runnable waits split by what came before them, and the system calls by
// their stack. docs/benchmarks.md uses it on the SQLite writer's goroutine:
//
//	curl -o w.trace 'http://127.0.0.1:9091/debug/pprof/trace?seconds=3'
//	cd tools/tracestates && go run . -match writeLoop ../../w.trace
//
// The goroutine is the first whose stack, at any of its state changes,
// holds a function whose name contains -match.
//
// With -waits 10ms it looks at every goroutine instead: their runnable
// waits by the function each started with, and, over the waits of 10 ms
// or more, how many Ps were held and how many of those ran a goroutine
// rather than sat in a system call (docs/benchmarks.md, "The event loop's
// P"):
//
//	go run . -waits 10ms ../../w.trace
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

func main() {
	match := flag.String("match", "writeLoop", "part of a function name on the goroutine's stack")
	top := flag.Int("top", 8, "system call stacks, runnable causes and functions to list")
	long := flag.Duration("waits", 0, "instead: every goroutine's runnable waits, and what held the Ps during those this long or longer")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: tracestates [-match name | -waits duration] [-top n] TRACE")
		os.Exit(2)
	}
	var err error
	if *long > 0 {
		err = waits(flag.Arg(0), *long, *top)
	} else {
		err = run(flag.Arg(0), *match, *top)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tracestates:", err)
		os.Exit(1)
	}
}

// change is one state change of the goroutine.
type change struct {
	from, to trace.GoState
	at       trace.Time
	stack    string
}

func run(path, match string, top int) error {
	g := trace.NoGoroutine
	var changes []change
	err := eachEvent(path, func(ev trace.Event) {
		if ev.Kind() != trace.EventStateTransition {
			return
		}
		st := ev.StateTransition()
		if st.Resource.Kind != trace.ResourceGoroutine {
			return
		}
		id := st.Resource.Goroutine()
		stack := frames(st.Stack)
		if g == trace.NoGoroutine && strings.Contains(stack, match) {
			g = id
		}
		if id == g {
			from, to := st.Goroutine()
			changes = append(changes, change{from: from, to: to, at: ev.Time(), stack: stack})
		}
	})
	if err != nil {
		return err
	}
	if g == trace.NoGoroutine {
		return fmt.Errorf("no goroutine's stack holds %q", match)
	}
	report(os.Stdout, g, changes, top)
	return nil
}

// frames joins a stack's function names, innermost first, without their
// package paths.
func frames(s trace.Stack) string {
	var b strings.Builder
	for fr := range s.Frames() {
		if b.Len() > 0 {
			b.WriteString(" < ")
		}
		b.WriteString(short(fr.Func))
	}
	return b.String()
}

// short is a function's name without its package path.
func short(fn string) string {
	if i := strings.LastIndex(fn, "/"); i >= 0 {
		return fn[i+1:]
	}
	return fn
}

// eachEvent calls f with every event of the trace at path, in order.
func eachEvent(path string, f func(trace.Event)) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	r, err := trace.NewReader(file)
	if err != nil {
		return err
	}
	for {
		ev, err := r.ReadEvent()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		f(ev)
	}
}

func report(w io.Writer, g trace.GoID, cs []change, top int) {
	if len(cs) < 2 {
		fmt.Fprintf(w, "goroutine %d: %d state changes, nothing to measure\n", g, len(cs))
		return
	}
	span := dur(cs[len(cs)-1].at - cs[0].at)
	in := map[trace.GoState]time.Duration{}
	runnableAfter := map[string]time.Duration{} // by the state before
	runnableN := map[string]int{}
	sys := map[string]time.Duration{} // by the stack that entered it
	sysN := map[string]int{}
	sysThen := map[string]time.Duration{} // runnable right after it
	for i := 0; i+1 < len(cs); i++ {
		d := dur(cs[i+1].at - cs[i].at)
		in[cs[i].to] += d
		switch cs[i].to {
		case trace.GoRunnable:
			k := cs[i].from.String()
			if cs[i].from == trace.GoRunning { // preempted
				k = "Running (preempted or yielded)"
			}
			runnableAfter[k] += d
			runnableN[k]++
		case trace.GoSyscall:
			k := cut(cs[i].stack, 160)
			sys[k] += d
			sysN[k]++
			if i+2 < len(cs) && cs[i+1].to == trace.GoRunnable {
				sysThen[k] += dur(cs[i+2].at - cs[i+1].at)
			}
		}
	}
	fmt.Fprintf(w, "goroutine %d over %v (%d state changes)\n", g, span.Round(time.Millisecond), len(cs))
	for _, s := range []trace.GoState{trace.GoRunning, trace.GoRunnable, trace.GoSyscall, trace.GoWaiting} {
		fmt.Fprintf(w, "  %-9s %10v  %5.1f%%\n", s, in[s].Round(100*time.Microsecond), 100*in[s].Seconds()/span.Seconds())
	}
	fmt.Fprintln(w, "runnable, by the state before:")
	for _, k := range sorted(runnableAfter, top) {
		fmt.Fprintf(w, "  %10v  %6d times  %8v each  after %s\n", runnableAfter[k].Round(100*time.Microsecond), runnableN[k],
			(runnableAfter[k] / time.Duration(runnableN[k])).Round(time.Microsecond), k)
	}
	fmt.Fprintln(w, "system calls, by stack (time in them; runnable right after):")
	for _, k := range sorted(sys, top) {
		fmt.Fprintf(w, "  %10v  %6d calls  then runnable %10v  %s\n", sys[k].Round(100*time.Microsecond), sysN[k],
			sysThen[k].Round(100*time.Microsecond), k)
	}
}

func dur(t trace.Time) time.Duration { return time.Duration(t) }

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// sorted returns m's keys, largest value first, at most n of them.
func sorted(m map[string]time.Duration, n int) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return m[ks[i]] > m[ks[j]] })
	return ks[:min(n, len(ks))]
}
