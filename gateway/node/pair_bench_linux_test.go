package node

import (
	"syscall"
	"testing"
)

// BenchmarkLoopbackPair measures what a login by headers writes: a 101
// response and, a moment later, the LoginResult frame, written apart,
// with the socket corked (TCP_CORK) in between, or in one write, with a
// reader draining the other end. cpu-ns/op is the process's CPU (writer
// and reader, user and system) per pair. The cork saves about 1.5 µs: its
// two setsockopt calls cost most of what the second segment did, so it
// was not kept (docs/benchmarks.md, "One segment for the 101 and the
// LoginResult, tried"); one write, what a login by headers now does
// (Upgrader.DeferResponse), saves about 6 µs.
func BenchmarkLoopbackPair(b *testing.B) {
	for _, how := range []string{"apart", "corked", "one-write"} {
		corked := how == "corked"
		b.Run(how, func(b *testing.B) {
			fd, stop := loopbackSocket(b)
			defer stop()
			response, frame := make([]byte, 160), make([]byte, 90)
			both := append(append([]byte{}, response...), frame...)
			write := func(p []byte) {
				if _, err := syscall.Write(fd, p); err != nil && err != syscall.EAGAIN {
					b.Fatal(err)
				}
			}
			before := cpuNanos(b)
			b.ResetTimer()
			for b.Loop() {
				if corked {
					if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_CORK, 1); err != nil {
						b.Fatal(err)
					}
				}
				if how == "one-write" {
					write(both)
				} else {
					write(response)
					write(frame)
				}
				if corked {
					if err := syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_CORK, 0); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(cpuNanos(b)-before)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuNanos returns the process's CPU time so far, user and system.
func cpuNanos(b *testing.B) int64 {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
