package observe_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/observe"
	"github.com/magpie-im/magpie/internal/store/sqlite"
	"github.com/magpie-im/magpie/internal/store/storetest"
	"github.com/magpie-im/magpie/internal/telemetry"
)

const (
	opDuration = "magpie_store_operation_duration_seconds"
	opErrors   = "magpie_store_errors_total"
)

func newMetrics(t testing.TB) *telemetry.Metrics {
	t.Helper()
	m, err := telemetry.New(telemetry.Config{Mode: telemetry.ModeEmbedded})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	return m
}

// openSQLite opens a SQLite store at path, closed with t.Cleanup.
func openSQLite(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestConformance runs the whole store contract through the wrapper: it
// forwards every method faithfully, errors included.
func TestConformance(t *testing.T) {
	m := newMetrics(t)
	var mu sync.Mutex
	paths := map[store.Store]string{} // wrapped store → its database
	storetest.Run(t, storetest.Opener{
		Open: func(t *testing.T) store.Store {
			path := filepath.Join(t.TempDir(), "magpie.db")
			w := observe.Wrap(openSQLite(t, path), m)
			mu.Lock()
			defer mu.Unlock()
			paths[w] = path
			return w
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			mu.Lock()
			path, ok := paths[s]
			mu.Unlock()
			if !ok {
				t.Fatalf("Reopen(%T): not a store Open returned", s)
			}
			return observe.Wrap(openSQLite(t, path), m)
		},
	})
	// The suite went through the wrapper.
	if n := value(scrape(t, m), opDuration, map[string]string{"op": "AppendMessages"}); n < 1 {
		t.Errorf("%s{op=AppendMessages} = %v after the suite, want >= 1", opDuration, n)
	}
}

// methods returns the names of the observed methods of the store
// contract: all but Ping, Close, App and AppID.
func methods() (operator, app []string) {
	skip := map[string]bool{"Ping": true, "Close": true, "App": true, "AppID": true}
	names := func(typ reflect.Type) []string {
		var out []string
		for m := range typ.Methods() {
			if !skip[m.Name] {
				out = append(out, m.Name)
			}
		}
		return out
	}
	return names(reflect.TypeFor[store.Store]()), names(reflect.TypeFor[store.AppStore]())
}

// call calls method name of v with ctx and zero values for the other
// arguments.
func call(ctx context.Context, v reflect.Value, name string) {
	f := v.MethodByName(name)
	args := make([]reflect.Value, f.Type().NumIn())
	for i := range args {
		if in := f.Type().In(i); in == reflect.TypeFor[context.Context]() {
			args[i] = reflect.ValueOf(ctx)
		} else {
			args[i] = reflect.Zero(in)
		}
	}
	if f.Type().IsVariadic() {
		f.CallSlice(args) // the last argument, a zero slice, is the variadic one
		return
	}
	f.Call(args)
}

// TestEveryMethodIsObserved calls every method of both contracts once and
// checks that each records one operation and one span under its own name.
func TestEveryMethodIsObserved(t *testing.T) {
	exp, restore := telemetry.InstallSpanRecorder(telemetry.ModeEmbedded)
	defer restore()
	m := newMetrics(t)
	s := observe.Wrap(openSQLite(t, filepath.Join(t.TempDir(), "magpie.db")), m)
	operator, app := methods()
	if len(operator)+len(app) < 60 {
		t.Fatalf("found %d + %d methods, want the whole contract", len(operator), len(app))
	}
	ctx, parent := telemetry.StartSpan(t.Context(), "caller")
	defer parent.End()
	for _, name := range operator {
		call(ctx, reflect.ValueOf(s), name)
	}
	for _, name := range app {
		call(ctx, reflect.ValueOf(s.App("A")), name)
	}

	mf := scrape(t, m)
	spans := map[string]int{}
	for _, sp := range exp.GetSpans() {
		spans[sp.Name]++
	}
	for _, name := range append(operator, app...) {
		if n := value(mf, opDuration, map[string]string{"op": name}); n != 1 {
			t.Errorf("%s{op=%q} = %v, want 1", opDuration, name, n)
		}
		if n := spans["store "+name]; n != 1 {
			t.Errorf("spans named %q: %d, want 1", "store "+name, n)
		}
	}
	if n := len(mf[opDuration].GetMetric()); n != len(operator)+len(app) {
		t.Errorf("%s has %d series, want %d", opDuration, n, len(operator)+len(app))
	}
}

// fakeStore is an engine whose GetUser returns err; its other methods are
// not called.
type fakeStore struct {
	store.Store
	err error
}

func (f *fakeStore) App(appID string) store.AppStore { return &fakeApp{id: appID, err: f.err} }

type fakeApp struct {
	store.AppStore
	id  string
	err error
}

func (f *fakeApp) AppID() string { return f.id }

func (f *fakeApp) GetUser(_ context.Context, id string) (store.User, error) {
	if f.err != nil {
		return store.User{}, f.err
	}
	return store.User{ID: id}, nil
}

// TestFailures checks which errors count as failures: not the contract's
// answers, nor the caller's cancellation.
func TestFailures(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		err    error
		failed bool
	}{
		{"ok", context.Background(), nil, false},
		{"not found", context.Background(), fmt.Errorf("get user u1: %w", store.ErrNotFound), false},
		{"conflict", context.Background(), store.ErrConflict, false},
		{"limit", context.Background(), store.ErrLimit, false},
		{"canceled", context.Background(), fmt.Errorf("query: %w", context.Canceled), false},
		{"driver error after cancel", cancelled, errors.New("sqlite: interrupted"), false},
		{"deadline", context.Background(), context.DeadlineExceeded, true},
		{"disk", context.Background(), errors.New("disk I/O error"), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMetrics(t)
			a := observe.Wrap(&fakeStore{err: tc.err}, m).App("A")
			if _, err := a.GetUser(tc.ctx, "u1"); !errors.Is(err, tc.err) {
				t.Fatalf("GetUser = %v, want %v", err, tc.err)
			}
			mf := scrape(t, m)
			op := map[string]string{"op": "GetUser"}
			if n := value(mf, opDuration, op); n != 1 {
				t.Errorf("%s{op=GetUser} = %v, want 1", opDuration, n)
			}
			want := -1.0 // no series
			if tc.failed {
				want = 1
			}
			if n := value(mf, opErrors, op); n != want {
				t.Errorf("%s{op=GetUser} = %v, want %v", opErrors, n, want)
			}
		})
	}
}

// TestSeries checks the exposition of a few operations on a real store.
func TestSeries(t *testing.T) {
	m := newMetrics(t)
	s := observe.Wrap(openSQLite(t, filepath.Join(t.TempDir(), "magpie.db")), m)
	ctx := t.Context()
	a := s.App("A")
	if err := a.CreateUser(ctx, store.User{ID: "u1"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"u1", "u1", "nobody"} {
		_, _ = a.GetUser(ctx, id)
	}
	if err := a.CreateUser(ctx, store.User{ID: "u1"}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("CreateUser(u1) again = %v, want ErrConflict", err)
	}
	if _, err := s.GetApp(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetApp(nope) = %v, want ErrNotFound", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}

	mf := scrape(t, m)
	for _, c := range []struct {
		name, op string
		want     float64
	}{
		{opDuration, "GetUser", 3},
		{opDuration, "CreateUser", 2},
		{opDuration, "GetApp", 1},
		{opDuration, "Ping", -1}, // passed through
		{opErrors, "GetUser", -1},
		{opErrors, "CreateUser", -1},
		{opErrors, "GetApp", -1},
	} {
		if got := value(mf, c.name, map[string]string{"op": c.op}); got != c.want {
			t.Errorf("%s{op=%q} = %v, want %v", c.name, c.op, got, c.want)
		}
	}
}

// TestSpans checks a span's name, kind, attributes and status.
func TestSpans(t *testing.T) {
	exp, restore := telemetry.InstallSpanRecorder(telemetry.ModeEmbedded)
	defer restore()
	m := newMetrics(t)
	s := observe.Wrap(openSQLite(t, filepath.Join(t.TempDir(), "magpie.db")), m)
	// Outside any span, a call gets none.
	if _, err := s.GetMeta(t.Context(), "outside"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetMeta(outside) = %v, want ErrNotFound", err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("a call outside any span made %d spans, want none", n)
	}
	ctx, parent := telemetry.StartSpan(t.Context(), "caller")
	defer parent.End()
	a := s.App("A")
	if err := a.CreateUser(ctx, store.User{ID: "u1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.GetUser(ctx, "u1"); err != nil {
		t.Fatal(err)
	}
	drafts := []store.Draft{{ConvID: "c1", Members: []string{"u1"}, SenderID: "u1", Type: "text", Body: []byte("1")},
		{ConvID: "c1", Members: []string{"u1"}, SenderID: "u1", Type: "text", Body: []byte("2")}}
	if _, err := a.AppendMessages(ctx, drafts); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMeta(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetMeta(nope) = %v, want ErrNotFound", err)
	}
	if _, err := observe.Wrap(&fakeStore{err: errors.New("disk I/O error")}, m).App("B").GetUser(ctx, "u1"); err == nil {
		t.Fatal("GetUser on the failing store = nil error")
	}

	spans := exp.GetSpans()
	for _, c := range []struct {
		name   string
		nth    int // of the spans of that name
		attrs  map[attribute.Key]attribute.Value
		status codes.Code
	}{
		{"store GetUser", 0, map[attribute.Key]attribute.Value{
			"db.operation.name": attribute.StringValue("GetUser"), "magpie.app_id": attribute.StringValue("A"),
		}, codes.Unset},
		{"store AppendMessages", 0, map[attribute.Key]attribute.Value{
			"db.operation.name": attribute.StringValue("AppendMessages"), "magpie.app_id": attribute.StringValue("A"),
			"db.operation.batch.size": attribute.IntValue(2),
		}, codes.Unset},
		{"store GetMeta", 0, map[attribute.Key]attribute.Value{
			"db.operation.name": attribute.StringValue("GetMeta"),
		}, codes.Unset}, // not found is an answer
		{"store GetUser", 1, map[attribute.Key]attribute.Value{
			"db.operation.name": attribute.StringValue("GetUser"), "magpie.app_id": attribute.StringValue("B"),
		}, codes.Error},
	} {
		sp := nth(spans, c.name, c.nth)
		if sp == nil {
			t.Errorf("no span %q #%d; spans: %v", c.name, c.nth, spans)
			continue
		}
		if sp.SpanKind != trace.SpanKindClient {
			t.Errorf("%s kind = %v, want client", c.name, sp.SpanKind)
		}
		attrs := attribute.NewSet(sp.Attributes...)
		if attrs.Len() != len(c.attrs) {
			t.Errorf("%s attributes = %v, want %v", c.name, sp.Attributes, c.attrs)
		}
		for k, v := range c.attrs {
			if got, ok := attrs.Value(k); !ok || got != v {
				t.Errorf("%s %s = %v, want %v", c.name, k, got.String(), v.String())
			}
		}
		if sp.Status.Code != c.status {
			t.Errorf("%s status = %v, want %v", c.name, sp.Status.Code, c.status)
		}
	}
}

// TestNoSpanWhenTracingOff checks that the engine receives the caller's
// context as it is while tracing is off.
func TestNoSpanWhenTracingOff(t *testing.T) {
	if telemetry.TracingOn() {
		t.Fatal("tracing is on in this process: a test left its span recorder installed")
	}
	var got context.Context
	st := &ctxStore{fakeStore: fakeStore{}, seen: &got}
	ctx := context.WithValue(t.Context(), ctxKey{}, "caller")
	if _, err := observe.Wrap(st, nil).GetMeta(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if got != ctx {
		t.Errorf("the engine got context %v, want the caller's", got)
	}
}

type ctxKey struct{}

// ctxStore remembers the context of GetMeta.
type ctxStore struct {
	fakeStore
	seen *context.Context
}

func (s *ctxStore) GetMeta(ctx context.Context, _ string) (string, error) {
	*s.seen = ctx
	return "", nil
}

func nth(spans tracetest.SpanStubs, name string, n int) *tracetest.SpanStub {
	for i := range spans {
		if spans[i].Name == name {
			if n == 0 {
				return &spans[i]
			}
			n--
		}
	}
	return nil
}

// scrape returns m's exposition.
func scrape(t *testing.T, m *telemetry.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	p := expfmt.NewTextParser(model.LegacyValidation)
	mf, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mf
}

// value returns the value of the series of family name with these labels
// (a histogram's sample count), or -1 if there is none.
func value(mf map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
next:
	for _, m := range mf[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		if m.Histogram != nil {
			return float64(m.GetHistogram().GetSampleCount())
		}
		return m.GetCounter().GetValue()
	}
	return -1
}

// BenchmarkWrapGetUser measures what the wrapper adds to a call (tracing
// off) on an engine that does nothing.
func BenchmarkWrapGetUser(b *testing.B) {
	m := newMetrics(b)
	for _, bc := range []struct {
		name string
		st   store.Store
	}{
		{"store=bare", &fakeStore{}},
		{"store=wrapped/metrics=nil", observe.Wrap(&fakeStore{}, nil)},
		{"store=wrapped/metrics=on", observe.Wrap(&fakeStore{}, m)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			a := bc.st.App("A")
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := a.GetUser(ctx, "u1"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
