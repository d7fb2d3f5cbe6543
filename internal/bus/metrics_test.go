package bus_test

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// newMetrics returns real instruments, shut down when the test ends.
func newMetrics(t *testing.T) *telemetry.Metrics {
	t.Helper()
	m, err := telemetry.New(telemetry.Config{Mode: telemetry.ModeWorker})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	return m
}

// scrape returns m's exposition.
func scrape(t *testing.T, m *telemetry.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d", rec.Code)
	}
	return rec.Body.String()
}

// sample returns the value of the series (name and labels as exposed, such
// as `magpie_bus_job_lag_seconds_count{queue="q"}`) in m's exposition, and
// whether it is there.
func sample(t *testing.T, m *telemetry.Metrics, series string) (float64, bool) {
	t.Helper()
	for _, line := range strings.Split(scrape(t, m), "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("series %s: %v", line, err)
			}
			return v, true
		}
	}
	return 0, false
}

func TestLocalMetrics(t *testing.T) {
	m := newMetrics(t)
	testMetrics(t, openLocal(t, filepath.Join(t.TempDir(), "bus.db"), bus.LocalConfig{Metrics: m}), m)
}

func TestRabbitMQMetrics(t *testing.T) {
	m := newMetrics(t)
	testMetrics(t, newRabbitEnv(t).open(t, bus.RabbitMQConfig{Metrics: m}), m)
}

// testMetrics publishes two jobs, one of which fails its first attempt, and
// checks the publishes and the lag of the three attempts recorded into m:
// the retry's lag counts from the original publication. A publish the bus
// refuses counts as an error.
func testMetrics(t *testing.T, b bus.Bus, m *telemetry.Metrics) {
	ctx := t.Context()
	const queue, backoff = "metered", 200 * time.Millisecond
	for _, id := range []string{"plain", "retried"} {
		if err := b.Publish(ctx, queue, bus.Job{ID: id}); err != nil {
			t.Fatalf("Publish(%s) = %v", id, err)
		}
	}
	var mu sync.Mutex
	attempts := map[string]int{}
	done := make(chan struct{})
	c, err := b.Consume(ctx, queue, func(_ context.Context, j bus.Job) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[j.ID]++
		if j.ID == "retried" && j.Attempt == 1 {
			return errors.New("once more")
		}
		if attempts["plain"] >= 1 && attempts["retried"] >= 2 && attempts["done"] == 0 {
			attempts["done"] = 1
			close(done)
		}
		return nil
	}, bus.ConsumeOptions{MinBackoff: backoff, MaxBackoff: backoff})
	if err != nil {
		t.Fatalf("Consume() = %v", err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("timed out waiting for the jobs")
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Consumer.Close() = %v", err)
	}

	if n, _ := sample(t, m, `magpie_bus_publishes_total{queue="metered",result="ok"}`); n != 2 {
		t.Errorf("publishes ok = %v, want 2", n)
	}
	if n, _ := sample(t, m, `magpie_bus_job_lag_seconds_count{queue="metered"}`); n != 3 {
		t.Errorf("lag observations = %v, want 3 (one per attempt)", n)
	}
	if sum, _ := sample(t, m, `magpie_bus_job_lag_seconds_sum{queue="metered"}`); sum < backoff.Seconds() {
		t.Errorf("lag sum = %vs, want at least the retry's backoff %v (the retry counts from the publication)", sum, backoff)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := b.Publish(ctx, queue, bus.Job{}); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("Publish() after Close = %v, want ErrClosed", err)
	}
	if n, _ := sample(t, m, `magpie_bus_publishes_total{queue="metered",result="error"}`); n != 1 {
		t.Errorf("publishes error = %v, want 1", n)
	}
}

// TestLocalLagAfterRestart checks that a job's publication time survives a
// restart: the lag of a job published before it counts from its publish.
func TestLocalLagAfterRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bus.db")
	b := openLocal(t, path, bus.LocalConfig{})
	if err := b.Publish(t.Context(), "q", bus.Job{ID: "old"}); err != nil {
		t.Fatalf("Publish() = %v", err)
	}
	published := time.Now()
	if err := b.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	m := newMetrics(t)
	b = openLocal(t, path, bus.LocalConfig{Metrics: m})
	done := make(chan bus.Job, 1)
	consuming := time.Now()
	c, err := b.Consume(t.Context(), "q", func(_ context.Context, j bus.Job) error { done <- j; return nil }, bus.ConsumeOptions{})
	if err != nil {
		t.Fatalf("Consume() = %v", err)
	}
	defer c.Close()
	var j bus.Job
	select {
	case j = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the job published before the restart was not consumed")
	}
	if len(j.Headers) != 0 {
		t.Errorf("handler got headers %v, want none (the bus's are not the job's)", j.Headers)
	}
	if n, _ := sample(t, m, `magpie_bus_job_lag_seconds_count{queue="q"}`); n != 1 {
		t.Fatalf("lag observations = %v, want 1", n)
	}
	if sum, _ := sample(t, m, `magpie_bus_job_lag_seconds_sum{queue="q"}`); sum < consuming.Sub(published).Seconds() {
		t.Errorf("lag = %vs, want at least %v (from the publish, before the restart)", sum, consuming.Sub(published))
	}
}

// TestQueueDepths checks the function the processes give
// telemetry.Metrics.CountQueueDepth: each queue's depth, and none when the
// bus cannot say.
func TestQueueDepths(t *testing.T) {
	m := newMetrics(t)
	b := openLocal(t, filepath.Join(t.TempDir(), "bus.db"), bus.LocalConfig{})
	for range 2 {
		if err := b.Publish(t.Context(), "offline", bus.Job{}); err != nil {
			t.Fatalf("Publish() = %v", err)
		}
	}
	depths := bus.QueueDepths(b, time.Second, nil, "offline", "push")
	if got := depths(t.Context()); !maps.Equal(got, map[string]int64{"offline": 2, "push": 0}) {
		t.Errorf("depths = %v, want offline 2, push 0", got)
	}
	m.CountQueueDepth(depths)
	if n, ok := sample(t, m, `magpie_bus_queue_depth{queue="offline"}`); n != 2 || !ok {
		t.Errorf("magpie_bus_queue_depth{queue=offline} = %v (exposed %v), want 2", n, ok)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if got := depths(t.Context()); len(got) != 0 {
		t.Errorf("depths of a closed bus = %v, want none", got)
	}
}
