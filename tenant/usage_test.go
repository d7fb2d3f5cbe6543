package tenant_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
	"github.com/magpie-im/magpie/tenant"
)

func openUsageStore(t *testing.T) store.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "u.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// clock is a settable clock for the collector.
type clock struct{ ns atomic.Int64 }

func (c *clock) now() time.Time                { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)               { c.ns.Store(t.UnixNano()) }
func newClock(t time.Time) *clock              { c := &clock{}; c.set(t); return c }
func day(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 12, 0, 0, 0, time.UTC) }

func usageOf(t *testing.T, st store.Store, app, from, to string) []store.UsageDay {
	t.Helper()
	ds, err := st.App(app).ListUsage(t.Context(), from, to)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestUsageFlushAggregates(t *testing.T) {
	st := openUsageStore(t)
	clk := newClock(day(2026, 3, 1))
	counted := &countingStore{Store: st}
	u := tenant.NewUsage(counted, tenant.UsageConfig{Node: "n1", Now: clk.now})
	for range 1000 {
		u.MessagesStored("A", 1)
		u.UserActive("A", "alice")
	}
	u.UserActive("A", "bob")
	u.APICall("A")
	u.APICall("A")
	u.PushSent("A")
	u.WebhookDelivered("A")
	u.ConnOpened("A", "carol")
	u.ConnOpened("A", "alice")
	u.ConnClosed("A")
	u.ConnOpened("A", "alice")
	u.MessagesStored("B", 5)
	if err := u.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := counted.adds.Load(); n != 2 {
		t.Errorf("Flush made %d AddUsage calls, want 2 (one per app and day)", n)
	}
	want := []store.UsageDay{{Day: "2026-03-01", UsageCounts: store.UsageCounts{Messages: 1000, APICalls: 2, Pushes: 1, WebhookDeliveries: 1, PeakConnections: 2}, ActiveUsers: 3}}
	if got := usageOf(t, st, "A", "2026-03-01", "2026-03-01"); !reflect.DeepEqual(got, want) {
		t.Errorf("usage of A = %+v, want %+v", got, want)
	}
	if got := usageOf(t, st, "B", "2026-03-01", "2026-03-01"); len(got) != 1 || got[0].Messages != 5 || got[0].ActiveUsers != 0 {
		t.Errorf("usage of B = %+v, want 5 messages", got)
	}

	// The next day: counts go to it; the 2 connections still open make
	// its peak at least 2; the users seen again count again.
	clk.set(day(2026, 3, 2))
	u.MessagesStored("A", 1)
	u.UserActive("A", "alice")
	if err := u.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := usageOf(t, st, "A", "2026-03-01", "2026-03-02")
	if len(got) != 2 || got[0].Messages != 1000 || got[1].Messages != 1 || got[1].PeakConnections != 2 || got[1].ActiveUsers != 1 {
		t.Errorf("usage of A over two days = %+v", got)
	}
	// Nothing new: a flush writes only the open connections' peak.
	if err := u.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got2 := usageOf(t, st, "A", "2026-03-01", "2026-03-02"); !reflect.DeepEqual(got, got2) {
		t.Errorf("an empty flush changed the usage: %+v, want %+v", got2, got)
	}
}

func TestUsageFlushFailureKeepsCounts(t *testing.T) {
	st := openUsageStore(t)
	clk := newClock(day(2026, 3, 1))
	failing := &countingStore{Store: st, fail: true}
	u := tenant.NewUsage(failing, tenant.UsageConfig{Now: clk.now})
	u.MessagesStored("A", 3)
	u.UserActive("A", "alice")
	if err := u.Flush(t.Context()); err == nil {
		t.Fatal("Flush with a failing store = nil, want its error")
	}
	u.MessagesStored("A", 2)
	u.UserActive("A", "bob")
	failing.fail = false
	if err := u.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := usageOf(t, st, "A", "2026-03-01", "2026-03-01")
	if len(got) != 1 || got[0].Messages != 5 || got[0].ActiveUsers != 2 {
		t.Errorf("usage after a failed then a good flush = %+v, want 5 messages and 2 users", got)
	}
}

// TestUsageConcurrent counts from many goroutines while flushing: the sums
// are exact (run with -race).
func TestUsageConcurrent(t *testing.T) {
	st := openUsageStore(t)
	u := tenant.NewUsage(st, tenant.UsageConfig{Now: newClock(day(2026, 3, 1)).now})
	const workers, each = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				u.MessagesStored("A", 1)
				u.APICall("A")
				u.UserActive("A", string(rune('a'+w)))
				if i%100 == 0 {
					if err := u.Flush(t.Context()); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := u.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := usageOf(t, st, "A", "2026-03-01", "2026-03-01")
	if len(got) != 1 || got[0].Messages != workers*each || got[0].APICalls != workers*each || got[0].ActiveUsers != workers {
		t.Errorf("usage = %+v, want %d messages and API calls, %d users", got, workers*each, workers)
	}
}

// TestUsageRunFlushesAtShutdown: what was counted before Run's context
// ends is stored when Run returns.
func TestUsageRunFlushesAtShutdown(t *testing.T) {
	st := openUsageStore(t)
	u := tenant.NewUsage(st, tenant.UsageConfig{FlushInterval: time.Hour, Now: newClock(day(2026, 3, 1)).now})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- u.Run(ctx) }()
	u.MessagesStored("A", 7)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := usageOf(t, st, "A", "2026-03-01", "2026-03-01"); len(got) != 1 || got[0].Messages != 7 {
		t.Errorf("usage after Run returned = %+v, want 7 messages", got)
	}
}

func TestUsageNil(t *testing.T) {
	var u *tenant.Usage
	u.MessagesStored("A", 1)
	u.ConnOpened("A", "x")
	u.ConnClosed("A")
	if err := u.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// countingStore counts AddUsage calls, and fails them while fail is set.
type countingStore struct {
	store.Store
	adds atomic.Int64
	fail bool
}

func (c *countingStore) App(id string) store.AppStore { return countingApp{c.Store.App(id), c} }

type countingApp struct {
	store.AppStore
	c *countingStore
}

func (a countingApp) AddUsage(ctx context.Context, u store.UsageDelta) error {
	a.c.adds.Add(1)
	if a.c.fail {
		return errors.New("store down")
	}
	return a.AppStore.AddUsage(ctx, u)
}

// BenchmarkUsage measures the counting calls of the hot paths (a stored
// message and its sender, a server API call), from parallel goroutines.
func BenchmarkUsage(b *testing.B) {
	u := tenant.NewUsage(nil, tenant.UsageConfig{})
	users := []string{"alice", "bob", "carol", "dave"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			u.MessagesStored("A", 1)
			u.UserActive("A", users[i%len(users)])
			i++
		}
	})
}
