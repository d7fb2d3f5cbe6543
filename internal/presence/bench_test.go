package presence_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/presence"
	"github.com/magpie-im/magpie/internal/redisx/redistest"
)

// BenchmarkLookup looks up a batch of users, half of them online with two
// devices, as the fan-out does once per batch of recipients.
func BenchmarkLookup(b *testing.B) {
	impls := []struct {
		name string
		open func(b *testing.B) presence.Presence
	}{
		{"memory", func(*testing.B) presence.Presence { return presence.NewMemory(nil) }},
		{"redis", func(b *testing.B) presence.Presence {
			return presence.NewRedis(redistest.Client(b), redistest.Prefix(b))
		}},
	}
	for _, impl := range impls {
		for _, users := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/users=%d", impl.name, users), func(b *testing.B) {
				p := impl.open(b)
				ctx := b.Context()
				if _, err := p.Refresh(ctx, "n1", time.Hour); err != nil {
					b.Fatal(err)
				}
				ids := make([]string, users)
				for i := range ids {
					ids[i] = fmt.Sprintf("user%d", i)
					for d := range 2 * (i % 2) {
						s := presence.Session{AppID: "A", UserID: ids[i], DeviceID: fmt.Sprint(d),
							SessionID: fmt.Sprintf("s%d-%d", i, d), NodeID: "n1", ConnectedAt: time.Now()}
						if _, err := p.Register(ctx, s, 5, ""); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, err := p.Lookup(ctx, "A", ids); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*users)/b.Elapsed().Seconds(), "users/s")
			})
		}
	}
}

// BenchmarkRegister registers and unregisters a session, as a login and a
// logout do.
func BenchmarkRegister(b *testing.B) {
	for _, impl := range []string{"memory", "redis"} {
		b.Run(impl, func(b *testing.B) {
			var p presence.Presence = presence.NewMemory(nil)
			if impl == "redis" {
				p = presence.NewRedis(redistest.Client(b), redistest.Prefix(b))
			}
			ctx := b.Context()
			if _, err := p.Refresh(ctx, "n1", time.Hour); err != nil {
				b.Fatal(err)
			}
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				i++
				s := presence.Session{AppID: "A", UserID: fmt.Sprintf("user%d", i%1000), DeviceID: "d",
					SessionID: fmt.Sprintf("s%d", i), NodeID: "n1", ConnectedAt: time.Now()}
				if _, err := p.Register(ctx, s, 3, ""); err != nil {
					b.Fatal(err)
				}
				if err := p.Unregister(ctx, s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
