package bus_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/magpie-im/magpie/internal/bus"
)

// BenchmarkLocal measures jobs published by N concurrent publishers and
// consumed through the embedded bus; group commit lets concurrent
// publishes share a transaction.
func BenchmarkLocal(b *testing.B) {
	for _, publishers := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("publishers=%d", publishers), func(b *testing.B) {
			l, err := bus.OpenLocal(b.Context(), filepath.Join(b.TempDir(), "bus.db"), bus.LocalConfig{})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			var handled atomic.Int64
			done := make(chan struct{})
			c, err := l.Consume(b.Context(), "work", func(context.Context, bus.Job) error {
				if handled.Add(1) == int64(b.N) {
					close(done)
				}
				return nil
			}, bus.ConsumeOptions{Concurrency: 8})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			body := make([]byte, 256)
			b.ReportAllocs()
			b.ResetTimer()
			var wg sync.WaitGroup
			for p := range publishers {
				n := b.N / publishers
				if p < b.N%publishers {
					n++
				}
				wg.Go(func() {
					for range n {
						if err := l.Publish(b.Context(), "work", bus.Job{AppID: "app", Type: "bench", Body: body}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			<-done
		})
	}
}
