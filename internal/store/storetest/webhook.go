package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

var webhookTests = []test{
	{"CreateGetList", testWebhookCreateGetList},
	{"Update", testWebhookUpdate},
	{"EnableClearsFailures", testWebhookEnableClearsFailures},
	{"Delete", testWebhookDelete},
	{"Limit", testWebhookLimit},
	{"LimitConcurrent", testWebhookLimitConcurrent},
	{"RecordResult", testWebhookRecordResult},
	{"RecordResultConcurrent", testWebhookRecordResultConcurrent},
	{"Events", testWebhookEvents},
	{"Attempts", testWebhookAttempts},
	{"AttemptsPaging", testWebhookAttemptsPaging},
	{"KeywordRules", testKeywordRules},
	{"Sweep", testWebhookSweep},
}

// newWebhook returns an enabled endpoint of kind with every field set.
func newWebhook(id, kind string, sec int64) store.Webhook {
	return store.Webhook{
		ID: id, Kind: kind, URL: "https://hooks.example/" + id, Description: "endpoint " + id,
		Events:  []string{"message.created", "user.deleted"},
		Enabled: true,
		Secrets: []store.WebhookSecret{
			{ID: "s2", Sealed: []byte("sealed-2"), Hint: "ab12", CreatedAt: at(sec)},
			{ID: "s1", Sealed: []byte("sealed-1"), Hint: "cd34", CreatedAt: at(sec - 5), ExpiresAt: at(sec + 3600)},
		},
		Timeout: 1500 * time.Millisecond, FailOpen: true, ServerAPI: true,
		CreatedAt: at(sec), UpdatedAt: at(sec), Version: 1,
	}
}

func normWebhook(x store.Webhook) store.Webhook {
	x.FailingSince = normTime(x.FailingSince)
	x.CreatedAt, x.UpdatedAt = normTime(x.CreatedAt), normTime(x.UpdatedAt)
	x.Events = nilIfEmpty(x.Events)
	x.Secrets = nilIfEmpty(slices.Clone(x.Secrets))
	for i, s := range x.Secrets {
		s.Sealed = nilIfEmpty(s.Sealed)
		s.CreatedAt, s.ExpiresAt = normTime(s.CreatedAt), normTime(s.ExpiresAt)
		x.Secrets[i] = s
	}
	return x
}

func normWebhookEvent(x store.WebhookEvent) store.WebhookEvent {
	x.CreatedAt = normTime(x.CreatedAt)
	x.Payload = nilIfEmpty(x.Payload)
	return x
}

func normAttempt(x store.WebhookAttempt) store.WebhookAttempt {
	x.At = normTime(x.At)
	return x
}

func normKeywordRules(x store.KeywordRules) store.KeywordRules {
	x.UpdatedAt = normTime(x.UpdatedAt)
	x.Rules = nilIfEmpty(x.Rules)
	return x
}

func createWebhooks(t *testing.T, a store.AppStore, ws ...store.Webhook) {
	t.Helper()
	for _, w := range ws {
		must(t, a.CreateWebhook(t.Context(), w, 0), "CreateWebhook(%s)", w.ID)
	}
}

// checkWebhook fails unless GetWebhook(want.ID) returns want.
func checkWebhook(t *testing.T, a store.AppStore, want store.Webhook) {
	t.Helper()
	got, err := a.GetWebhook(t.Context(), want.ID)
	if err != nil || !same(got, want, normWebhook) {
		t.Errorf("GetWebhook(%s) = %+v, %v, want %+v", want.ID, got, err, want)
	}
}

func webhookIDs(ws []store.Webhook) []string {
	return ids(ws, func(w store.Webhook) string { return w.ID })
}

func attemptIDs(as []store.WebhookAttempt) []string {
	return ids(as, func(x store.WebhookAttempt) string { return x.ID })
}

func listWebhooks(t *testing.T, a store.AppStore) []store.Webhook {
	t.Helper()
	ws, err := a.ListWebhooks(t.Context())
	must(t, err, "ListWebhooks")
	return ws
}

func listAttempts(t *testing.T, a store.AppStore, q store.WebhookAttemptQuery) []store.WebhookAttempt {
	t.Helper()
	as, err := a.ListWebhookAttempts(t.Context(), q)
	must(t, err, "ListWebhookAttempts(%+v)", q)
	return as
}

func attempt(id, webhookID, eventID string, n int, sec int64) store.WebhookAttempt {
	return store.WebhookAttempt{
		ID: id, WebhookID: webhookID, EventID: eventID, EventType: "message.created", Attempt: n,
		Outcome: store.AttemptFailed, Status: 503, Error: "status 503", Response: "busy",
		Latency: 250 * time.Millisecond, At: at(sec),
	}
}

func testWebhookCreateGetList(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	if ws := listWebhooks(t, a); len(ws) != 0 {
		t.Errorf("ListWebhooks(empty app) = %q, want none", webhookIDs(ws))
	}
	// Created at Version 1 and without failures, whatever the record says.
	w := newWebhook("w2", store.WebhookEvents, 10)
	w.Version, w.Failures, w.FailingSince = 7, 3, at(5)
	must(t, a.CreateWebhook(ctx, w, 0), "CreateWebhook(w2)")
	want := w
	want.Version, want.Failures, want.FailingSince = 1, 0, time.Time{}
	checkWebhook(t, a, want)

	// A bare endpoint round-trips too.
	bare := store.Webhook{ID: "w1", Kind: store.WebhookPreSend, URL: "https://x.example", CreatedAt: at(11), UpdatedAt: at(11)}
	must(t, a.CreateWebhook(ctx, bare, 0), "CreateWebhook(w1)")
	bare.Version = 1
	checkWebhook(t, a, bare)
	createWebhooks(t, a, newWebhook("w3", store.WebhookRouting, 12))

	wantErr(t, a.CreateWebhook(ctx, newWebhook("w2", store.WebhookEvents, 20), 0), store.ErrConflict, "CreateWebhook(w2 again)")
	checkWebhook(t, a, want)
	_, err := a.GetWebhook(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetWebhook(nope)")

	ws := listWebhooks(t, a)
	if got := webhookIDs(ws); !slices.Equal(got, []string{"w1", "w2", "w3"}) {
		t.Errorf("ListWebhooks = %q, want [w1 w2 w3]", got)
	}
	if len(ws) == 3 && !same(ws[1], want, normWebhook) {
		t.Errorf("ListWebhooks()[1] = %+v, want %+v", ws[1], want)
	}
}

func testWebhookUpdate(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	w := newWebhook("w1", store.WebhookPreSend, 10)
	createWebhooks(t, a, w)
	_, err := a.RecordWebhookResult(ctx, "w1", false, at(15))
	must(t, err, "RecordWebhookResult(w1, failure)")

	// Every mutable field changes; id, kind, creation time and failure
	// state stay whatever the record says.
	u := store.Webhook{
		ID: "w1", Kind: store.WebhookRouting, URL: "https://new.example/hook", Description: "renamed",
		Events: []string{"conversation.created"}, Enabled: true, DisabledReason: "",
		Secrets:   []store.WebhookSecret{{ID: "s3", Sealed: []byte("sealed-3"), Hint: "ef56", CreatedAt: at(20)}},
		Timeout:   3 * time.Second,
		CreatedAt: at(99), UpdatedAt: at(20), Failures: 9, FailingSince: at(1), Version: 1,
	}
	must(t, a.UpdateWebhook(ctx, u), "UpdateWebhook(w1, version 1)")
	want := u
	want.Kind, want.CreatedAt, want.Failures, want.FailingSince, want.Version = store.WebhookPreSend, at(10), 1, at(15), 2
	checkWebhook(t, a, want)

	// A stale version is a conflict and changes nothing.
	stale := u
	stale.URL = "https://stale.example"
	wantErr(t, a.UpdateWebhook(ctx, stale), store.ErrConflict, "UpdateWebhook(w1, stale version 1)")
	checkWebhook(t, a, want)
	// Emptying the lists works.
	u2 := want
	u2.Events, u2.Secrets, u2.UpdatedAt = nil, nil, at(30)
	must(t, a.UpdateWebhook(ctx, u2), "UpdateWebhook(w1, version 2)")
	u2.Version = 3
	checkWebhook(t, a, u2)

	missing := newWebhook("nope", store.WebhookEvents, 10)
	wantErr(t, a.UpdateWebhook(ctx, missing), store.ErrNotFound, "UpdateWebhook(nope)")
}

// testWebhookEnableClearsFailures: disabling keeps the failure state,
// enabling a disabled endpoint clears it, an update of an enabled one
// keeps it.
func testWebhookEnableClearsFailures(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	w := newWebhook("w1", store.WebhookEvents, 10)
	createWebhooks(t, a, w)
	for _, sec := range []int64{20, 21} {
		_, err := a.RecordWebhookResult(ctx, "w1", false, at(sec))
		must(t, err, "RecordWebhookResult(w1, failure at %d)", sec)
	}
	w.Description = "still enabled"
	must(t, a.UpdateWebhook(ctx, w), "UpdateWebhook(w1, enabled)")
	w.Version, w.Failures, w.FailingSince = 2, 2, at(20)
	checkWebhook(t, a, w)

	w.Enabled, w.DisabledReason = false, "failing since 20"
	must(t, a.UpdateWebhook(ctx, w), "UpdateWebhook(w1, disable)")
	w.Version = 3
	checkWebhook(t, a, w)
	got, err := a.RecordWebhookResult(ctx, "w1", false, at(30))
	if err != nil || got.Failures != 3 || !got.FailingSince.Equal(at(20)) {
		t.Errorf("RecordWebhookResult(disabled w1, failure) = %d failures since %v, %v; want 3 since %v", got.Failures, got.FailingSince, err, at(20))
	}

	w.Enabled, w.DisabledReason = true, ""
	must(t, a.UpdateWebhook(ctx, w), "UpdateWebhook(w1, enable)")
	w.Version, w.Failures, w.FailingSince = 4, 0, time.Time{}
	checkWebhook(t, a, w)
}

func testWebhookDelete(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createWebhooks(t, a, newWebhook("w1", store.WebhookEvents, 10), newWebhook("w2", store.WebhookEvents, 11))
	ev := store.WebhookEvent{ID: "ev1", Type: "message.created", Payload: []byte(`{"n":1}`), CreatedAt: at(12)}
	must(t, a.PutWebhookEvent(ctx, ev), "PutWebhookEvent(ev1)")
	must(t, a.AddWebhookAttempts(ctx, []store.WebhookAttempt{
		attempt("a1", "w1", "ev1", 1, 13), attempt("a2", "w2", "ev1", 1, 13), attempt("a3", "w1", "ev1", 2, 14),
	}), "AddWebhookAttempts")

	must(t, a.DeleteWebhook(ctx, "w1"), "DeleteWebhook(w1)")
	_, err := a.GetWebhook(ctx, "w1")
	wantErr(t, err, store.ErrNotFound, "GetWebhook(w1) after delete")
	wantErr(t, a.DeleteWebhook(ctx, "w1"), store.ErrNotFound, "DeleteWebhook(w1) again")
	wantErr(t, a.DeleteWebhook(ctx, "nope"), store.ErrNotFound, "DeleteWebhook(nope)")
	if got := webhookIDs(listWebhooks(t, a)); !slices.Equal(got, []string{"w2"}) {
		t.Errorf("ListWebhooks after delete = %q, want [w2]", got)
	}
	// The events stay (other endpoints share them), and so do the other
	// endpoint's attempts.
	if got, err := a.GetWebhookEvent(ctx, "ev1"); err != nil || !same(got, ev, normWebhookEvent) {
		t.Errorf("GetWebhookEvent(ev1) after delete = %+v, %v, want %+v", got, err, ev)
	}
	if got := attemptIDs(listAttempts(t, a, store.WebhookAttemptQuery{WebhookID: "w2", Limit: 10})); !slices.Equal(got, []string{"a2"}) {
		t.Errorf("w2's attempts after deleting w1 = %q, want [a2]", got)
	}
	// A new endpoint under the deleted id starts without attempts.
	createWebhooks(t, a, newWebhook("w1", store.WebhookEvents, 20))
	if got := listAttempts(t, a, store.WebhookAttemptQuery{WebhookID: "w1", Limit: 10}); len(got) != 0 {
		t.Errorf("attempts of the re-created w1 = %q, want none", attemptIDs(got))
	}
}

// testWebhookLimit checks the per-kind limit: per kind, not counting
// failed creations, freed by deletion; a taken id is a conflict even at
// the limit.
func testWebhookLimit(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	create := func(id, kind string, limit int) error {
		return a.CreateWebhook(ctx, newWebhook(id, kind, 10), limit)
	}
	must(t, create("e1", store.WebhookEvents, 2), "CreateWebhook(e1, limit 2)")
	must(t, create("e2", store.WebhookEvents, 2), "CreateWebhook(e2, limit 2)")
	wantErr(t, create("e3", store.WebhookEvents, 2), store.ErrLimit, "CreateWebhook(e3, limit 2)")
	wantErr(t, create("e2", store.WebhookEvents, 2), store.ErrConflict, "CreateWebhook(e2 again, limit 2)")
	// Other kinds count separately.
	must(t, create("p1", store.WebhookPreSend, 1), "CreateWebhook(p1, limit 1)")
	wantErr(t, create("p2", store.WebhookPreSend, 1), store.ErrLimit, "CreateWebhook(p2, limit 1)")
	must(t, create("r1", store.WebhookRouting, 1), "CreateWebhook(r1, limit 1)")
	// 0 means no limit.
	must(t, create("e3", store.WebhookEvents, 0), "CreateWebhook(e3, no limit)")
	wantErr(t, create("e4", store.WebhookEvents, 3), store.ErrLimit, "CreateWebhook(e4, limit 3)")
	// A deletion frees a place, once.
	must(t, a.DeleteWebhook(ctx, "e1"), "DeleteWebhook(e1)")
	must(t, create("e4", store.WebhookEvents, 3), "CreateWebhook(e4, limit 3, after a delete)")
	wantErr(t, create("e5", store.WebhookEvents, 3), store.ErrLimit, "CreateWebhook(e5, limit 3)")
	if got := webhookIDs(listWebhooks(t, a)); !slices.Equal(got, []string{"e2", "e3", "e4", "p1", "r1"}) {
		t.Errorf("ListWebhooks = %q, want [e2 e3 e4 p1 r1]", got)
	}
	// Another app has its own count.
	must(t, s.App("B").CreateWebhook(ctx, newWebhook("e1", store.WebhookEvents, 10), 1), "B.CreateWebhook(e1, limit 1)")
}

// createAtLimit has workers create distinct endpoints of one kind at once
// under a limit, through the given handles, and checks that exactly limit
// of them were created.
func createAtLimit(t *testing.T, apps []store.AppStore, workers, limit int) {
	var mu sync.Mutex
	created := 0
	var wg sync.WaitGroup
	for w := range workers {
		a := apps[w%len(apps)]
		wg.Go(func() {
			id := fmt.Sprintf("w%02d", w)
			err := a.CreateWebhook(t.Context(), newWebhook(id, store.WebhookEvents, 10), limit)
			switch {
			case err == nil:
				mu.Lock()
				created++
				mu.Unlock()
			case !errors.Is(err, store.ErrLimit):
				t.Errorf("CreateWebhook(%s, limit %d) = %v, want nil or ErrLimit", id, limit, err)
			}
		})
	}
	wg.Wait()
	if created != limit {
		t.Errorf("%d of %d concurrent creations at limit %d succeeded, want %d", created, workers, limit, limit)
	}
	if got := listWebhooks(t, apps[0]); len(got) != limit {
		t.Errorf("ListWebhooks after concurrent creations = %q, want %d endpoints", webhookIDs(got), limit)
	}
}

func testWebhookLimitConcurrent(t *testing.T, s store.Store) {
	createAtLimit(t, []store.AppStore{s.App("A")}, 12, 3)
}

func testTwoHandlesWebhookLimit(t *testing.T, s1, s2 store.Store) {
	createAtLimit(t, []store.AppStore{s1.App("A"), s2.App("A")}, 12, 3)
}

func testWebhookRecordResult(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	w := newWebhook("w1", store.WebhookEvents, 10)
	createWebhooks(t, a, w)
	for _, step := range []struct {
		ok       bool
		sec      int64
		failures int
		since    time.Time
	}{
		{false, 20, 1, at(20)},
		{false, 25, 2, at(20)},
		{true, 30, 0, time.Time{}},
		{true, 31, 0, time.Time{}},
		{false, 40, 1, at(40)},
	} {
		got, err := a.RecordWebhookResult(ctx, "w1", step.ok, at(step.sec))
		want := w
		want.Failures, want.FailingSince = step.failures, step.since // Version stays 1
		if err != nil || !same(got, want, normWebhook) {
			t.Errorf("RecordWebhookResult(w1, %v, %d) = %+v, %v, want %+v", step.ok, step.sec, got, err, want)
		}
		checkWebhook(t, a, want)
	}
	for _, ok := range []bool{true, false} {
		_, err := a.RecordWebhookResult(ctx, "nope", ok, at(50))
		wantErr(t, err, store.ErrNotFound, "RecordWebhookResult(nope, %v)", ok)
	}
}

// testWebhookRecordResultConcurrent records many failures of one endpoint
// at once: every one is counted, each call sees its own count, and the
// failing time is that of one of them.
func testWebhookRecordResultConcurrent(t *testing.T, s store.Store) {
	const workers, perWorker = 8, 10
	a, ctx := s.App("A"), t.Context()
	createWebhooks(t, a, newWebhook("w1", store.WebhookEvents, 10))
	seen := make([][]int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				got, err := a.RecordWebhookResult(ctx, "w1", false, at(int64(100+w*perWorker+i)))
				if err != nil {
					t.Errorf("worker %d: RecordWebhookResult: %v", w, err)
					return
				}
				seen[w] = append(seen[w], got.Failures)
			}
		})
	}
	wg.Wait()
	var all []int
	for _, counts := range seen {
		all = append(all, counts...)
	}
	slices.Sort(all)
	const total = workers * perWorker
	want := make([]int, total)
	for i := range want {
		want[i] = i + 1
	}
	if !slices.Equal(all, want) {
		t.Errorf("failure counts returned = %v, want 1..%d each once", all, total)
	}
	got, err := a.GetWebhook(ctx, "w1")
	since := got.FailingSince
	if err != nil || got.Failures != total || got.Version != 1 ||
		since.Before(at(100)) || !since.Before(at(100+total)) {
		t.Errorf("GetWebhook(w1) = %d failures since %v, version %d, %v; want %d since one of them, version 1",
			got.Failures, since, got.Version, err, total)
	}
}

func testWebhookEvents(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	ev := store.WebhookEvent{ID: "ev1", Type: "message.created", Payload: []byte(`{"seq":1}`), CreatedAt: at(10)}
	must(t, a.PutWebhookEvent(ctx, ev), "PutWebhookEvent(ev1)")
	if got, err := a.GetWebhookEvent(ctx, "ev1"); err != nil || !same(got, ev, normWebhookEvent) {
		t.Errorf("GetWebhookEvent(ev1) = %+v, %v, want %+v", got, err, ev)
	}
	// Stored twice, the first stays.
	again := store.WebhookEvent{ID: "ev1", Type: "user.deleted", Payload: []byte(`{"seq":2}`), CreatedAt: at(20)}
	must(t, a.PutWebhookEvent(ctx, again), "PutWebhookEvent(ev1 again)")
	if got, err := a.GetWebhookEvent(ctx, "ev1"); err != nil || !same(got, ev, normWebhookEvent) {
		t.Errorf("GetWebhookEvent(ev1) after a second put = %+v, %v, want the first %+v", got, err, ev)
	}
	_, err := a.GetWebhookEvent(ctx, "nope")
	wantErr(t, err, store.ErrNotFound, "GetWebhookEvent(nope)")
}

func testWebhookAttempts(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createWebhooks(t, a, newWebhook("w1", store.WebhookEvents, 10), newWebhook("w2", store.WebhookEvents, 10))
	first := attempt("a01", "w1", "ev1", 1, 11)
	ok := store.WebhookAttempt{
		ID: "a03", WebhookID: "w1", EventID: "ev1", EventType: "message.created", Attempt: 2,
		Outcome: store.AttemptSucceeded, Status: 200, Latency: 12 * time.Millisecond, At: at(13),
	}
	must(t, a.AddWebhookAttempts(ctx, []store.WebhookAttempt{
		first, attempt("a02", "w1", "ev2", 1, 12), ok, attempt("a04", "w2", "ev1", 1, 13),
		attempt("a05", "gone", "ev1", 1, 14), // no such endpoint: skipped
	}), "AddWebhookAttempts")
	// Added twice, an attempt is stored once, as first added.
	dup := first
	dup.Outcome, dup.Status = store.AttemptDead, 500
	must(t, a.AddWebhookAttempts(ctx, []store.WebhookAttempt{dup, attempt("a06", "w1", "ev2", 2, 15)}),
		"AddWebhookAttempts(a01 again, a06)")
	must(t, a.AddWebhookAttempts(ctx, nil), "AddWebhookAttempts(none)")

	got := listAttempts(t, a, store.WebhookAttemptQuery{WebhookID: "w1", Limit: 10})
	want := []store.WebhookAttempt{attempt("a06", "w1", "ev2", 2, 15), ok, attempt("a02", "w1", "ev2", 1, 12), first}
	if !sameAll(got, want, normAttempt) {
		t.Errorf("ListWebhookAttempts(w1) = %+v, want %+v", got, want)
	}
	for _, tc := range []struct {
		q    store.WebhookAttemptQuery
		want []string
	}{
		{store.WebhookAttemptQuery{WebhookID: "w1", Limit: 2}, []string{"a06", "a03"}},
		{store.WebhookAttemptQuery{WebhookID: "w1", Before: "a03", Limit: 10}, []string{"a02", "a01"}},
		{store.WebhookAttemptQuery{WebhookID: "w1", Before: "a01", Limit: 10}, nil},
		{store.WebhookAttemptQuery{WebhookID: "w1", EventID: "ev1", Limit: 10}, []string{"a03", "a01"}},
		{store.WebhookAttemptQuery{WebhookID: "w1", EventID: "ev2", Before: "a06", Limit: 10}, []string{"a02"}},
		{store.WebhookAttemptQuery{WebhookID: "w1", EventID: "ev9", Limit: 10}, nil},
		{store.WebhookAttemptQuery{WebhookID: "w1", Limit: 0}, nil},
		{store.WebhookAttemptQuery{WebhookID: "w2", Limit: 10}, []string{"a04"}},
		{store.WebhookAttemptQuery{WebhookID: "gone", Limit: 10}, nil},
	} {
		if got := attemptIDs(listAttempts(t, a, tc.q)); !slices.Equal(nilIfEmpty(got), tc.want) {
			t.Errorf("ListWebhookAttempts(%+v) = %q, want %q", tc.q, got, tc.want)
		}
	}
}

// testWebhookAttemptsPaging walks an endpoint's attempts newest first with
// the Before cursor, at several page sizes.
func testWebhookAttemptsPaging(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	createWebhooks(t, a, newWebhook("w1", store.WebhookEvents, 10), newWebhook("w2", store.WebhookEvents, 10))
	var as []store.WebhookAttempt
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("a%02d", i)
		as = append(as, attempt(id, "w1", "ev1", 1, int64(20+i)), attempt(id+"-w2", "w2", "ev1", 1, int64(20+i)))
		want = append([]string{id}, want...)
	}
	must(t, a.AddWebhookAttempts(ctx, as), "AddWebhookAttempts")
	for _, limit := range []int{1, 2, 3, 7, 8} {
		var got []string
		before := ""
		for range 20 {
			page := attemptIDs(listAttempts(t, a, store.WebhookAttemptQuery{WebhookID: "w1", Before: before, Limit: limit}))
			if len(page) > limit {
				t.Fatalf("page of %d has %d attempts", limit, len(page))
			}
			got = append(got, page...)
			if len(page) < limit {
				break
			}
			before = page[len(page)-1]
		}
		if !slices.Equal(got, want) {
			t.Errorf("attempts of w1 in pages of %d = %q, want %q", limit, got, want)
		}
	}
}

func testKeywordRules(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	check := func(want store.KeywordRules) {
		t.Helper()
		got, err := a.GetKeywordRules(ctx)
		if err != nil || !same(got, want, normKeywordRules) {
			t.Errorf("GetKeywordRules = %+v, %v, want %+v", got, err, want)
		}
	}
	check(store.KeywordRules{})
	r1 := store.KeywordRules{Rules: []store.KeywordRule{{Word: "spam", Action: "block"}, {Word: "darn", Action: "mask"}}, UpdatedAt: at(10)}
	// Version 1 when none is stored yet is a conflict.
	stale := r1
	stale.Version = 1
	wantErr(t, a.PutKeywordRules(ctx, stale), store.ErrConflict, "PutKeywordRules(version 1, none stored)")
	check(store.KeywordRules{})

	must(t, a.PutKeywordRules(ctx, r1), "PutKeywordRules(version 0)")
	r1.Version = 1
	check(r1)
	wantErr(t, a.PutKeywordRules(ctx, store.KeywordRules{UpdatedAt: at(11)}), store.ErrConflict, "PutKeywordRules(version 0 again)")
	check(r1)

	r2 := store.KeywordRules{Rules: []store.KeywordRule{{Word: "heck", Action: "mask"}}, UpdatedAt: at(20), Version: 1}
	must(t, a.PutKeywordRules(ctx, r2), "PutKeywordRules(version 1)")
	r2.Version = 2
	check(r2)
	wantErr(t, a.PutKeywordRules(ctx, store.KeywordRules{UpdatedAt: at(21), Version: 1}), store.ErrConflict, "PutKeywordRules(stale version 1)")
	check(r2)
	// Emptying the rules is a write like any other.
	must(t, a.PutKeywordRules(ctx, store.KeywordRules{UpdatedAt: at(30), Version: 2}), "PutKeywordRules(none, version 2)")
	check(store.KeywordRules{UpdatedAt: at(30), Version: 3})
}

// testWebhookSweep checks DeleteWebhookLogBefore: events created before
// the given time and attempts made before it go, in every app; the others,
// and the endpoints, stay.
func testWebhookSweep(t *testing.T, s store.Store) {
	ctx := t.Context()
	for _, app := range []string{"A", "B"} {
		a := s.App(app)
		createWebhooks(t, a, newWebhook("w1", store.WebhookEvents, 1))
		for _, ev := range []struct {
			id  string
			sec int64
		}{{"old", 10}, {"edge", 100}, {"new", 500}} {
			must(t, a.PutWebhookEvent(ctx, store.WebhookEvent{ID: ev.id, Type: "t", CreatedAt: at(ev.sec)}), "%s.PutWebhookEvent(%s)", app, ev.id)
		}
		must(t, a.AddWebhookAttempts(ctx, []store.WebhookAttempt{
			attempt("a1", "w1", "old", 1, 50), attempt("a2", "w1", "old", 2, 100), attempt("a3", "w1", "edge", 1, 600),
		}), "%s.AddWebhookAttempts", app)
	}
	n, err := s.DeleteWebhookLogBefore(ctx, at(100))
	if err != nil || n != 4 {
		t.Fatalf("DeleteWebhookLogBefore = %d, %v, want 4 (one event and one attempt in each app), nil", n, err)
	}
	for _, app := range []string{"A", "B"} {
		a := s.App(app)
		_, err := a.GetWebhookEvent(ctx, "old")
		wantErr(t, err, store.ErrNotFound, "%s.GetWebhookEvent(old) after the sweep", app)
		for _, id := range []string{"edge", "new"} {
			if _, err := a.GetWebhookEvent(ctx, id); err != nil {
				t.Errorf("%s.GetWebhookEvent(%s) after the sweep: %v", app, id, err)
			}
		}
		got := attemptIDs(listAttempts(t, a, store.WebhookAttemptQuery{WebhookID: "w1", Limit: 10}))
		if !slices.Equal(got, []string{"a3", "a2"}) {
			t.Errorf("%s attempts after the sweep = %q, want [a3 a2]", app, got)
		}
		if _, err := a.GetWebhook(ctx, "w1"); err != nil {
			t.Errorf("%s.GetWebhook(w1) after the sweep: %v", app, err)
		}
	}
	if n, err := s.DeleteWebhookLogBefore(ctx, at(0)); err != nil || n != 0 {
		t.Errorf("DeleteWebhookLogBefore(nothing old) = %d, %v, want 0, nil", n, err)
	}
}

// testTenancyWebhooks proves that app B neither sees nor changes app A's
// endpoints, events, attempts and keyword rules under the same ids, and
// that B's limit counts B's endpoints only.
func testTenancyWebhooks(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	wa := newWebhook("w1", store.WebhookEvents, 10)
	must(t, a.CreateWebhook(ctx, wa, 1), "A.CreateWebhook(w1)")
	ev := store.WebhookEvent{ID: "ev1", Type: "message.created", Payload: []byte("A"), CreatedAt: at(11)}
	must(t, a.PutWebhookEvent(ctx, ev), "A.PutWebhookEvent(ev1)")
	must(t, a.AddWebhookAttempts(ctx, []store.WebhookAttempt{attempt("a1", "w1", "ev1", 1, 12)}), "A.AddWebhookAttempts")
	rules := store.KeywordRules{Rules: []store.KeywordRule{{Word: "spam", Action: "block"}}, UpdatedAt: at(13)}
	must(t, a.PutKeywordRules(ctx, rules), "A.PutKeywordRules")
	rules.Version = 1

	_, err := b.GetWebhook(ctx, "w1")
	wantErr(t, err, store.ErrNotFound, "B.GetWebhook(w1)")
	if ws := listWebhooks(t, b); len(ws) != 0 {
		t.Errorf("B.ListWebhooks = %q, want none", webhookIDs(ws))
	}
	wantErr(t, b.UpdateWebhook(ctx, wa), store.ErrNotFound, "B.UpdateWebhook(w1)")
	_, err = b.RecordWebhookResult(ctx, "w1", false, at(20))
	wantErr(t, err, store.ErrNotFound, "B.RecordWebhookResult(w1)")
	wantErr(t, b.DeleteWebhook(ctx, "w1"), store.ErrNotFound, "B.DeleteWebhook(w1)")
	_, err = b.GetWebhookEvent(ctx, "ev1")
	wantErr(t, err, store.ErrNotFound, "B.GetWebhookEvent(ev1)")
	// B has no w1: its attempts are skipped.
	must(t, b.AddWebhookAttempts(ctx, []store.WebhookAttempt{attempt("a2", "w1", "ev1", 1, 21)}), "B.AddWebhookAttempts")
	if got := listAttempts(t, b, store.WebhookAttemptQuery{WebhookID: "w1", Limit: 10}); len(got) != 0 {
		t.Errorf("B.ListWebhookAttempts(w1) = %q, want none", attemptIDs(got))
	}
	if got, err := b.GetKeywordRules(ctx); err != nil || !same(got, store.KeywordRules{}, normKeywordRules) {
		t.Errorf("B.GetKeywordRules = %+v, %v, want none", got, err)
	}
	wantErr(t, b.PutKeywordRules(ctx, store.KeywordRules{Version: 1, UpdatedAt: at(22)}), store.ErrConflict, "B.PutKeywordRules(version 1)")

	// B's own records under the same ids, at B's own limit.
	wb := newWebhook("w1", store.WebhookEvents, 30)
	wb.URL = "https://b.example"
	must(t, b.CreateWebhook(ctx, wb, 1), "B.CreateWebhook(w1, limit 1)")
	must(t, b.PutWebhookEvent(ctx, store.WebhookEvent{ID: "ev1", Type: "user.deleted", Payload: []byte("B"), CreatedAt: at(31)}), "B.PutWebhookEvent(ev1)")
	must(t, b.AddWebhookAttempts(ctx, []store.WebhookAttempt{attempt("a1", "w1", "ev1", 3, 32)}), "B.AddWebhookAttempts")
	_, err = b.RecordWebhookResult(ctx, "w1", false, at(33))
	must(t, err, "B.RecordWebhookResult(w1)")
	must(t, b.UpdateWebhook(ctx, wb), "B.UpdateWebhook(w1)")
	must(t, b.PutKeywordRules(ctx, store.KeywordRules{UpdatedAt: at(34)}), "B.PutKeywordRules")
	must(t, b.DeleteWebhook(ctx, "w1"), "B.DeleteWebhook(w1)")

	wa.Version = 1
	checkWebhook(t, a, wa)
	if got, err := a.GetWebhookEvent(ctx, "ev1"); err != nil || !same(got, ev, normWebhookEvent) {
		t.Errorf("A.GetWebhookEvent(ev1) = %+v, %v, want %+v", got, err, ev)
	}
	want := []store.WebhookAttempt{attempt("a1", "w1", "ev1", 1, 12)}
	if got := listAttempts(t, a, store.WebhookAttemptQuery{WebhookID: "w1", Limit: 10}); !sameAll(got, want, normAttempt) {
		t.Errorf("A.ListWebhookAttempts(w1) = %+v, want %+v", got, want)
	}
	if got, err := a.GetKeywordRules(ctx); err != nil || !same(got, rules, normKeywordRules) {
		t.Errorf("A.GetKeywordRules = %+v, %v, want %+v", got, err, rules)
	}
	wantErr(t, a.CreateWebhook(ctx, newWebhook("w2", store.WebhookEvents, 40), 1), store.ErrLimit, "A.CreateWebhook(w2, limit 1)")
}
