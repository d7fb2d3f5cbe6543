package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"golang.org/x/exp/trace"
)

// interval is one goroutine's or one P's stay in a state.
type interval struct {
	id       int64 // a goroutine's or a P's
	from, to trace.Time
}

func (iv interval) len() time.Duration { return time.Duration(iv.to - iv.from) }

// overlap is how much of iv falls inside w.
func (iv interval) overlap(w interval) time.Duration {
	a, b := max(iv.from, w.from), min(iv.to, w.to)
	if b <= a {
		return 0
	}
	return time.Duration(b - a)
}

// waits reports, for every goroutine of the trace, its runnable waits
// (ready to run, without a P) by the function it was started with; then,
// over the waits of at least long, how many Ps were held and how many of
// them ran a goroutine rather than sat in a system call. A P stays with a
// goroutine that enters a system call until the runtime takes it back, so
// the difference is what blocked calls kept from the waiting goroutines.
func waits(path string, long time.Duration, top int) error {
	role := map[int64]string{}
	since := map[int64]trace.Time{}
	psince := map[trace.ProcID]trace.Time{}
	var running, runnable, syscalls, held []interval
	var first, last trace.Time
	err := eachEvent(path, func(ev trace.Event) {
		if first == 0 {
			first = ev.Time()
		}
		last = ev.Time()
		if ev.Kind() != trace.EventStateTransition {
			return
		}
		st := ev.StateTransition()
		switch st.Resource.Kind {
		case trace.ResourceProc:
			p := st.Resource.Proc()
			from, _ := st.Proc()
			if t, ok := psince[p]; ok && from == trace.ProcRunning {
				held = append(held, interval{int64(p), t, ev.Time()})
			}
			psince[p] = ev.Time()
		case trace.ResourceGoroutine:
			g := int64(st.Resource.Goroutine())
			if fn := startFunc(st.Stack); fn != "" && (role[g] == "" || strings.HasPrefix(role[g], "runtime.")) {
				role[g] = fn
			}
			from, _ := st.Goroutine()
			if t, ok := since[g]; ok {
				iv := interval{g, t, ev.Time()}
				switch from {
				case trace.GoRunning:
					running = append(running, iv)
				case trace.GoRunnable:
					runnable = append(runnable, iv)
				case trace.GoSyscall:
					syscalls = append(syscalls, iv)
				}
			}
			since[g] = ev.Time()
		}
	})
	if err != nil {
		return err
	}
	span := time.Duration(last - first)
	w := os.Stdout
	fmt.Fprintf(w, "trace of %v\n", span.Round(time.Millisecond))

	type stat struct {
		n, over     int
		sum, maxLen time.Duration
	}
	by := map[string]*stat{}
	var windows []interval
	var inWindows time.Duration
	for _, iv := range runnable {
		s := by[role[iv.id]]
		if s == nil {
			s = &stat{}
			by[role[iv.id]] = s
		}
		s.n++
		s.sum += iv.len()
		s.maxLen = max(s.maxLen, iv.len())
		if iv.len() >= long {
			s.over++
			windows = append(windows, iv)
			inWindows += iv.len()
		}
	}
	sums := map[string]time.Duration{}
	for k, s := range by {
		sums[k] = s.sum
	}
	fmt.Fprintf(w, "runnable waits, by the function the goroutines started with:\n  %10s %7s %8s %6s  %s\n", "in all", "waits", "longest", ">="+long.String(), "function")
	for _, k := range sorted(sums, top) {
		s := by[k]
		fmt.Fprintf(w, "  %10v %7d %8v %6d  %s\n", s.sum.Round(time.Millisecond), s.n, s.maxLen.Round(100*time.Microsecond), s.over, k)
	}
	var busy time.Duration
	for _, iv := range held {
		busy += iv.len()
	}
	fmt.Fprintf(w, "Ps held over the trace: %.2f on average\n", busy.Seconds()/span.Seconds())
	if len(windows) == 0 {
		return nil
	}
	// Over the long waits: Ps held, and what the goroutines were doing.
	sort.Slice(held, func(i, j int) bool { return held[i].from < held[j].from })
	share := func(ivs []interval) (total time.Duration, byRole map[string]time.Duration) {
		byRole = map[string]time.Duration{}
		for _, win := range windows {
			for _, iv := range ivs {
				if d := iv.overlap(win); d > 0 {
					total += d
					byRole[role[iv.id]] += d
				}
			}
		}
		return total, byRole
	}
	heldIn, _ := share(held)
	runIn, runBy := share(running)
	sysIn, sysBy := share(syscalls)
	per := func(d time.Duration) float64 { return d.Seconds() / inWindows.Seconds() }
	fmt.Fprintf(w, "over the %d waits of %v or more (%v in all): Ps held %.2f, goroutines running %.2f\n",
		len(windows), long, inWindows.Round(time.Millisecond), per(heldIn), per(runIn))
	fmt.Fprintln(w, "  running:")
	for _, k := range sorted(runBy, top) {
		fmt.Fprintf(w, "    %.2f  %s\n", per(runBy[k]), k)
	}
	fmt.Fprintf(w, "  in system calls (%.2f; a call holds its P until the runtime takes it back, or blocks without it):\n", per(sysIn))
	for _, k := range sorted(sysBy, top) {
		fmt.Fprintf(w, "    %.2f  %s\n", per(sysBy[k]), k)
	}
	return nil
}

// startFunc is the outermost function of a stack: the one its goroutine
// started with, without its package path.
func startFunc(s trace.Stack) string {
	var fn string
	for fr := range s.Frames() {
		fn = fr.Func
	}
	return short(fn)
}
