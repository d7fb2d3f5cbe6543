package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/telemetry"
)

// TestNilMetricsRecordNothing: a nil *Metrics is a valid no-op.
func TestNilMetricsRecordNothing(t *testing.T) {
	var m *telemetry.Metrics
	m.CountConnections(func() int { return 1 })
	m.Login("ok")
	m.FramesIn(1)
	m.FramesOut(1, 1)
	m.MessagesAccepted(1)
	m.MessageDelivered()
	m.MessageStoredOffline()
	m.DeliveryLatency(time.Second)
	m.APIRequest("/v1/users", 200, time.Millisecond)
	m.RateLimited(telemetry.LimitAPI)
	m.Queue("offline")
	m.BusJob("offline", telemetry.JobDeadLetter)
	m.OfflineNotificationDropped()
	m.Ready("store", true)
	m.PushProviders("apns")
	m.PushSend("apns", telemetry.PushSent, time.Millisecond, time.Second)
	m.PushNotification(telemetry.NotifQueued)
	m.PushFailure("apns", "BadDeviceToken", true)
	m.StoreOp("GetUser", time.Millisecond, false)
	m.BusPublish("offline", true)
	m.BusJobLag("offline", time.Second)
	m.CountQueueDepth(func(context.Context) map[string]int64 { return nil })
	m.SyncRequest(telemetry.SyncMessages, 3)
	m.ModerationVerdict(telemetry.ModerationKeyword, telemetry.VerdictReject)
	m.PresendHook(telemetry.VerdictAllow, time.Millisecond)
	m.SupportOutboxDrained(telemetry.SupportEvent, 1)
	m.SupportOutboxDrainFailed(telemetry.SupportNotice)
	m.SupportOutboxOldest(telemetry.SupportEvent, time.Second)
	m.SupportSweep(1, true)
	if err := m.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestAdminEndpoints: /readyz reports each dependency and sets
// magpie_ready; pprof is served only when asked for.
func TestAdminEndpoints(t *testing.T) {
	m, err := telemetry.New(telemetry.Config{Mode: telemetry.ModeWorker})
	if err != nil {
		t.Fatal(err)
	}
	down := func(context.Context) error { return io.ErrUnexpectedEOF }
	for _, pprof := range []bool{false, true} {
		srv := httptest.NewServer(telemetry.AdminHandler(telemetry.AdminConfig{Metrics: m, Pprof: pprof, Ready: []telemetry.Check{
			{Name: "store", Check: func(context.Context) error { return nil }}, {Name: "bus", Check: down}}}))
		get := func(path string) (int, string) {
			res, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(b)
		}
		if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, `"bus":"unavailable"`) || !strings.Contains(body, `"store":"ok"`) {
			t.Errorf("GET /readyz = %d %s", code, body)
		}
		_, metrics := get("/metrics")
		for _, want := range []string{`magpie_ready{dependency="bus"} 0`, `magpie_ready{dependency="store"} 1`, `magpie_build_info{mode="worker",version="dev"} 1`} {
			if !strings.Contains(metrics, want) {
				t.Errorf("/metrics lacks %q:\n%s", want, metrics)
			}
		}
		if code, _ := get("/debug/pprof/"); (code == http.StatusOK) != pprof {
			t.Errorf("pprof %v: GET /debug/pprof/ = %d", pprof, code)
		}
		srv.Close()
	}
}

// BenchmarkRecord measures the cost of the recordings on the hot paths.
func BenchmarkRecord(b *testing.B) {
	m, err := telemetry.New(telemetry.Config{Mode: telemetry.ModeEmbedded})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("frame", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.FramesIn(1)
		}
	})
	b.Run("latency", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.DeliveryLatency(3 * time.Millisecond)
		}
	})
	b.Run("api_request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.APIRequest("/v1/users/:id", 200, time.Millisecond)
		}
	})
}

// TestPushFailureReasons: the reason label keeps a provider's reason code
// and folds anything else, so that its values stay few.
func TestPushFailureReasons(t *testing.T) {
	m := newTestMetrics(t, telemetry.ModeWorker)
	m.PushFailure("apns", "BadDeviceToken", true)
	m.PushFailure("fcm", "dial tcp 10.0.0.1:443: connection refused", false)
	m.PushFailure("fcm", "a long description: with spaces", true)
	wantSeries(t, m,
		`magpie_push_failures_total{provider="apns",reason="BadDeviceToken"} 1`,
		`magpie_push_failures_total{provider="fcm",reason="network"} 1`,
		`magpie_push_failures_total{provider="fcm",reason="other"} 1`,
	)
}

func TestModerationMetrics(t *testing.T) {
	m := newTestMetrics(t, telemetry.ModeGateway)
	m.ModerationVerdict(telemetry.ModerationKeyword, telemetry.VerdictReject)
	m.ModerationVerdict(telemetry.ModerationHook, telemetry.VerdictModify)
	m.ModerationVerdict(telemetry.ModerationHook, telemetry.VerdictModify)
	m.PresendHook(telemetry.VerdictDrop, 30*time.Millisecond)
	wantSeries(t, m,
		`magpie_moderation_verdicts_total{action="reject",stage="keyword"} 1`,
		`magpie_moderation_verdicts_total{action="modify",stage="hook"} 2`,
		`magpie_presend_hook_seconds_count{outcome="drop"} 1`,
		`magpie_presend_hook_seconds_bucket{outcome="drop",le="0.05"} 1`,
	)
}

func TestSupportMetrics(t *testing.T) {
	m := newTestMetrics(t, telemetry.ModeWorker)
	m.SupportOutboxDrained(telemetry.SupportEvent, 3)
	m.SupportOutboxDrained(telemetry.SupportNotice, 0)
	m.SupportOutboxDrainFailed(telemetry.SupportNotice)
	m.SupportOutboxOldest(telemetry.SupportEvent, 90*time.Second)
	m.SupportSweep(2, false)
	m.SupportSweep(0, true)
	wantSeries(t, m,
		`magpie_support_outbox_drained_total{kind="event"} 3`,
		`magpie_support_outbox_drained_total{kind="notice"} 0`,
		`magpie_support_outbox_drain_errors_total{kind="event"} 0`,
		`magpie_support_outbox_drain_errors_total{kind="notice"} 1`,
		`magpie_support_outbox_oldest_pending_seconds{kind="event"} 90`,
		`magpie_support_outbox_oldest_pending_seconds{kind="notice"} 0`,
		`magpie_support_sweep_routed_total 2`,
		`magpie_support_sweep_errors_total 1`,
	)
}

// TestAPIRequestLabels: requests are counted by route and status, each
// pair on its own series, however often a pair repeats (its attribute
// options are built once and kept).
func TestAPIRequestLabels(t *testing.T) {
	m := newTestMetrics(t, telemetry.ModeWorker)
	for range 3 {
		m.APIRequest("/v1/users/:id", 200, time.Millisecond)
	}
	m.APIRequest("/v1/users/:id", 404, time.Millisecond)
	m.APIRequest("/v1/connect", 101, time.Millisecond)
	wantSeries(t, m,
		`magpie_api_requests_total{route="/v1/users/:id",status="200"} 3`,
		`magpie_api_requests_total{route="/v1/users/:id",status="404"} 1`,
		`magpie_api_requests_total{route="/v1/connect",status="101"} 1`,
		`magpie_api_request_duration_seconds_count{route="/v1/users/:id"} 4`,
		`magpie_api_request_duration_seconds_count{route="/v1/connect"} 1`,
	)
}

// newTestMetrics returns metrics of mode, shut down when the test ends.
func newTestMetrics(t *testing.T, mode string) *telemetry.Metrics {
	t.Helper()
	m, err := telemetry.New(telemetry.Config{Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	return m
}

// wantSeries fails the test unless m's /metrics holds each line.
func wantSeries(t *testing.T, m *telemetry.Metrics, lines ...string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	for _, want := range lines {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}
