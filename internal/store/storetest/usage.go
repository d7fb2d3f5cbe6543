package storetest

import (
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var usageTests = []test{
	{"AddAndList", testUsageAddAndList},
	{"ConcurrentAdds", testUsageConcurrentAdds},
	{"Sweep", testUsageSweep},
}

func usageDelta(day, node string, c store.UsageCounts, users ...string) store.UsageDelta {
	return store.UsageDelta{Day: day, Node: node, UsageCounts: c, ActiveUsers: users}
}

func listUsage(t *testing.T, a store.AppStore, from, to string) []store.UsageDay {
	t.Helper()
	ds, err := a.ListUsage(t.Context(), from, to)
	if err != nil {
		t.Fatalf("ListUsage(%s, %s): %v", from, to, err)
	}
	return ds
}

func testUsageAddAndList(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	if ds := listUsage(t, a, "2026-01-01", "2026-12-31"); len(ds) != 0 {
		t.Fatalf("ListUsage of a new app = %+v, want none", ds)
	}
	adds := []store.UsageDelta{
		usageDelta("2026-03-01", "n1", store.UsageCounts{Messages: 5, APICalls: 2, PeakConnections: 3}, "u1", "u2"),
		usageDelta("2026-03-01", "n1", store.UsageCounts{Messages: 1, Pushes: 4, WebhookDeliveries: 7, PeakConnections: 2}, "u2", "u3"),
		usageDelta("2026-03-01", "n2", store.UsageCounts{PeakConnections: 10}, "u1"),
		usageDelta("2026-03-01", "n2", store.UsageCounts{PeakConnections: 4}),
		usageDelta("2026-03-02", "n1", store.UsageCounts{Messages: 1}),
		usageDelta("2026-03-03", "n1", store.UsageCounts{}, "u9"), // active users only
		usageDelta("2026-02-28", "n1", store.UsageCounts{Messages: 100}, "u1"),
		usageDelta("2026-03-05", "n1", store.UsageCounts{Messages: 100}, "u1"),
	}
	for _, u := range adds {
		must(t, a.AddUsage(ctx, u), "AddUsage(%+v)", u)
	}
	got := listUsage(t, a, "2026-03-01", "2026-03-04")
	want := []store.UsageDay{
		{Day: "2026-03-01", UsageCounts: store.UsageCounts{Messages: 6, APICalls: 2, Pushes: 4, WebhookDeliveries: 7, PeakConnections: 13}, ActiveUsers: 3},
		{Day: "2026-03-02", UsageCounts: store.UsageCounts{Messages: 1}},
		{Day: "2026-03-03", ActiveUsers: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListUsage(2026-03-01, 2026-03-04) =\n%+v, want\n%+v", got, want)
	}
	if ds := listUsage(t, a, "2026-03-05", "2026-03-05"); len(ds) != 1 || ds[0].Messages != 100 || ds[0].ActiveUsers != 1 {
		t.Errorf("ListUsage(2026-03-05) = %+v, want one day of 100 messages and 1 user", ds)
	}
}

func testUsageConcurrentAdds(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	const writers = 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for i := range writers {
		wg.Go(func() {
			u := usageDelta("2026-04-01", fmt.Sprint("n", i%2), store.UsageCounts{Messages: 1, APICalls: 2, PeakConnections: int64(i + 1)},
				"shared", fmt.Sprint("u", i))
			errs <- a.AddUsage(ctx, u)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err, "AddUsage")
	}
	got := listUsage(t, a, "2026-04-01", "2026-04-01")
	// Node n0 peaked at 7 (i = 6), n1 at 8 (i = 7).
	want := []store.UsageDay{{Day: "2026-04-01", UsageCounts: store.UsageCounts{Messages: writers, APICalls: 2 * writers, PeakConnections: 15}, ActiveUsers: writers + 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ListUsage after %d concurrent adds = %+v, want %+v", writers, got, want)
	}
}

// testTenancyUsage proves that app B neither sees nor changes A's usage.
func testTenancyUsage(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	must(t, a.AddUsage(ctx, usageDelta("2026-05-01", "n1", store.UsageCounts{Messages: 3, PeakConnections: 2}, "u1")), "A.AddUsage")
	if ds := listUsage(t, b, "2026-01-01", "2026-12-31"); len(ds) != 0 {
		t.Errorf("B.ListUsage = %+v, want none", ds)
	}
	must(t, b.AddUsage(ctx, usageDelta("2026-05-01", "n1", store.UsageCounts{Messages: 1, PeakConnections: 9}, "u1", "u2")), "B.AddUsage")
	want := []store.UsageDay{{Day: "2026-05-01", UsageCounts: store.UsageCounts{Messages: 3, PeakConnections: 2}, ActiveUsers: 1}}
	if got := listUsage(t, a, "2026-05-01", "2026-05-01"); !reflect.DeepEqual(got, want) {
		t.Errorf("A.ListUsage after B's adds = %+v, want %+v", got, want)
	}
}

// testUsageSweep checks DeleteUsageBefore: the counters and active users of
// the days before the given day go, in every app; that day and later ones
// stay whole.
func testUsageSweep(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, app := range []string{"A", "B"} {
		a := s.App(app)
		for _, day := range []string{"2025-01-30", "2025-01-31", "2025-02-01", "2025-03-01"} {
			// Two counters, a node's peak and two users: five records a day.
			must(t, a.AddUsage(ctx, usageDelta(day, "n1", store.UsageCounts{Messages: 2, APICalls: 1, PeakConnections: 4}, "u1", "u2")),
				"%s.AddUsage(%s)", app, day)
		}
	}
	n, err := s.DeleteUsageBefore(ctx, "2025-02-01")
	if err != nil || n != 20 {
		t.Fatalf("DeleteUsageBefore(2025-02-01) = %d, %v, want 20 (two days of five records in each app), nil", n, err)
	}
	day := func(d string) store.UsageDay {
		return store.UsageDay{Day: d, UsageCounts: store.UsageCounts{Messages: 2, APICalls: 1, PeakConnections: 4}, ActiveUsers: 2}
	}
	want := []store.UsageDay{day("2025-02-01"), day("2025-03-01")}
	for _, app := range []string{"A", "B"} {
		if got := listUsage(t, s.App(app), "2025-01-01", "2025-12-31"); !reflect.DeepEqual(got, want) {
			t.Errorf("%s.ListUsage after the sweep =\n%+v, want\n%+v", app, got, want)
		}
	}
	if n, err := s.DeleteUsageBefore(ctx, "2025-02-01"); err != nil || n != 0 {
		t.Errorf("DeleteUsageBefore(nothing old) = %d, %v, want 0, nil", n, err)
	}
	// A day's usage added after the sweep counts from zero again, as any
	// new day's does.
	must(t, s.App("A").AddUsage(ctx, usageDelta("2025-01-31", "n1", store.UsageCounts{Messages: 1}, "u3")), "A.AddUsage(2025-01-31) again")
	got := listUsage(t, s.App("A"), "2025-01-31", "2025-01-31")
	if w := []store.UsageDay{{Day: "2025-01-31", UsageCounts: store.UsageCounts{Messages: 1}, ActiveUsers: 1}}; !reflect.DeepEqual(got, w) {
		t.Errorf("A.ListUsage(2025-01-31) after a new add = %+v, want %+v", got, w)
	}
}
