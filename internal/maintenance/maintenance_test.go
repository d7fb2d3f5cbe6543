package maintenance

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
)

// countingStore counts the usage sweeps it is asked for.
type countingStore struct {
	store.Store
	usageSweeps []string
}

func (c *countingStore) DeleteUsageBefore(ctx context.Context, day string) (int64, error) {
	c.usageSweeps = append(c.usageSweeps, day)
	return c.Store.DeleteUsageBefore(ctx, day)
}

func TestUsageCutoff(t *testing.T) {
	now := time.Date(2026, 3, 10, 23, 59, 0, 0, time.FixedZone("east", 5*3600)) // 18:59 UTC
	for _, tc := range []struct {
		days int
		want string
	}{{0, "2025-02-03"}, {400, "2025-02-03"}, {31, "2026-02-07"}, {365, "2025-03-10"}} {
		if got := (Config{UsageRetentionDays: tc.days}).UsageCutoff(now); got != tc.want {
			t.Errorf("Config{UsageRetentionDays: %d}.UsageCutoff(%v) = %s, want %s", tc.days, now, got, tc.want)
		}
	}
	for _, days := range []int{-1, 1, 30} {
		if err := (Config{UsageRetentionDays: days}).Validate(); err == nil {
			t.Errorf("Config{UsageRetentionDays: %d}.Validate() = nil, want an error", days)
		}
	}
	if err := Run(t.Context(), nil, Config{UsageRetentionDays: 7}); err == nil {
		t.Error("Run with a 7-day usage retention = nil, want the configuration's error")
	}
}

// TestSweepUsage checks that the sweep deletes the usage older than the
// retention, in every app, once a UTC day.
func TestSweepUsage(t *testing.T) {
	ctx := t.Context()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "magpie.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for _, app := range []string{"A", "B"} {
		for _, day := range []string{"2026-01-31", "2026-02-01", "2026-03-03"} {
			d := store.UsageDelta{Day: day, Node: "n", UsageCounts: store.UsageCounts{Messages: 1}, ActiveUsers: []string{"k"}}
			if err := st.App(app).AddUsage(ctx, d); err != nil {
				t.Fatalf("%s.AddUsage(%s): %v", app, day, err)
			}
		}
	}
	now := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	cs := &countingStore{Store: st}
	s := sweeper{st: cs, cfg: Config{UsageRetentionDays: 31}, log: slogDiscard(), now: func() time.Time { return now }}
	s.Sweep(ctx)
	s.Sweep(ctx) // the same day: no second usage sweep
	now = now.Add(24 * time.Hour)
	s.Sweep(ctx)
	if want := []string{"2026-01-31", "2026-02-01"}; len(cs.usageSweeps) != 2 || cs.usageSweeps[0] != want[0] || cs.usageSweeps[1] != want[1] {
		t.Errorf("usage sweeps = %q, want %q (one a day)", cs.usageSweeps, want)
	}
	for _, app := range []string{"A", "B"} {
		days, err := st.App(app).ListUsage(ctx, "2026-01-01", "2026-12-31")
		if err != nil {
			t.Fatal(err)
		}
		if len(days) != 2 || days[0].Day != "2026-02-01" || days[1].Day != "2026-03-03" {
			t.Errorf("%s usage after the sweeps = %+v, want the days 2026-02-01 and 2026-03-03", app, days)
		}
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }
