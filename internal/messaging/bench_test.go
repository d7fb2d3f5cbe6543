package messaging_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// BenchmarkSend measures the durable send path: validation, the recipient
// lookup, group commit to SQLite (synchronous=FULL) and fan-out to a
// recording router, with many concurrent senders spread over conversations.
func BenchmarkSend(b *testing.B) {
	for _, senders := range []int{1, 64, 512} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			s, _, _, _ := newService(b)
			var n atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(max(senders/max(1, runtimeProcs()), 1))
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					i := n.Add(1)
					users := [3]string{"alice", "bob", "carol"}
					req := text(users[i%3], users[(i+1)%3], fmt.Sprint("b", i), "benchmark message")
					if _, err := s.Send(ctx, req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
