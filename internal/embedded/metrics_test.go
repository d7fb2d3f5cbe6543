package embedded_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/magpie-im/magpie/internal/embedded"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/tenant"
)

// TestMetricsUnderTraffic drives real traffic through an embedded server
// (two WebSocket users chatting, messages to an offline user, server API
// calls among them a 404 and a 429) and checks the series its admin
// listener exposes.
func TestMetricsUnderTraffic(t *testing.T) {
	const online, offline = 5, 3
	s, err := embedded.Start(t.Context(), embedded.Config{Addr: "127.0.0.1:0", AdminAddr: "127.0.0.1:0",
		DataDir: t.TempDir(), PasswordCost: 4, Version: "v-test"})
	if err != nil {
		t.Fatalf("embedded.Start = %v", err)
	}
	defer stop(t, s)
	key, secret := s.Bootstrap.AppKey, s.Bootstrap.AppSecret
	// Six server API calls pass (a 404 among them); the seventh is
	// refused with 429.
	if _, err := s.Tenants.UpdateApp(t.Context(), s.Bootstrap.AppID, tenant.AppUpdate{
		Limits: &store.Limits{APIRate: 0.001, APIBurst: 6}}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"alice", "bob", "carol"} {
		if code, out := sign(t, key, secret, "POST", "/v1/users", `{"id":"`+id+`"}`).send(t, s.URL); code != http.StatusCreated {
			t.Fatalf("create %s: %d %v", id, code, out)
		}
	}
	apiCalls := []struct {
		path string
		want int
	}{{"/v1/users/alice", 200}, {"/v1/users/bob", 200}, {"/v1/users/nobody", 404}, {"/v1/users/carol", 429}}
	for _, c := range apiCalls {
		if code, out := sign(t, key, secret, "GET", c.path, "").send(t, s.URL); code != c.want {
			t.Fatalf("GET %s = %d %v, want %d", c.path, code, out, c.want)
		}
	}

	// Console logins with a wrong password: the sixth is throttled (429).
	for i := range 6 {
		res, err := http.Post(s.URL+"/manage/v1/sessions", "application/json",
			strings.NewReader(`{"email":"operator@magpie.local","password":"wrong password"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if want := map[bool]int{true: http.StatusTooManyRequests, false: http.StatusUnauthorized}[i == 5]; res.StatusCode != want {
			t.Fatalf("console login %d = %d, want %d", i+1, res.StatusCode, want)
		}
	}

	api, err := serverapi.New(s.URL, key, secret)
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := connect(t, s.URL, api, "alice"), connect(t, s.URL, api, "bob")
	for i := range online {
		if _, err := alice.Send(t.Context(), "bob", "text", fmt.Sprintf("hi %d", i)); err != nil {
			t.Fatalf("send to bob: %v", err)
		}
	}
	for i := range offline {
		if _, err := alice.Send(t.Context(), "carol", "text", fmt.Sprintf("later %d", i)); err != nil {
			t.Fatalf("send to carol: %v", err)
		}
	}
	for got := 0; got < online; {
		ev, err := bob.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if m, ok := ev.(client.Message); ok && !m.Own {
			got++
		}
	}
	if res, err := http.Get(s.AdminURL + "/readyz"); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /readyz = %v, %v", res, err)
	} else {
		res.Body.Close()
	}

	// Bob's acks, the offline jobs and the receipts are asynchronous:
	// scrape until they show.
	var mf map[string]*dto.MetricFamily
	settled := func() bool {
		mf = scrape(t, s.AdminURL)
		return value(mf, "magpie_delivery_latency_seconds", nil) > 0 &&
			value(mf, "magpie_messages_stored_offline_total", nil) >= offline &&
			value(mf, "magpie_bus_jobs_total", map[string]string{"queue": "offline", "outcome": "ok"}) >= offline &&
			value(mf, "magpie_push_notifications_total", map[string]string{"outcome": "outbox"}) >= offline &&
			value(mf, "magpie_connections", nil) == 2
	}
	for deadline := time.Now().Add(10 * time.Second); !settled(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("metrics did not settle: %v", mf)
		}
	}

	for _, c := range []struct {
		name    string
		labels  map[string]string
		want    float64
		atLeast bool
	}{
		{"magpie_build_info", map[string]string{"version": "v-test", "mode": "embedded"}, 1, false},
		{"magpie_connections", nil, 2, false},
		{"magpie_logins_total", map[string]string{"result": "ok"}, 2, true},
		{"magpie_frames_in_total", nil, online + offline, true},
		{"magpie_frames_out_total", nil, online, true},
		{"magpie_messages_accepted_total", nil, online + offline, false},
		{"magpie_messages_delivered_total", nil, 1, true},
		{"magpie_messages_stored_offline_total", nil, offline, true},
		{"magpie_delivery_latency_seconds", nil, 1, true},
		{"magpie_api_requests_total", map[string]string{"route": "/v1/users", "status": "201"}, 3, false},
		{"magpie_api_requests_total", map[string]string{"route": "/v1/users/:id", "status": "200"}, 2, false},
		{"magpie_api_requests_total", map[string]string{"route": "/v1/users/:id", "status": "404"}, 1, false},
		{"magpie_api_requests_total", map[string]string{"route": "/v1/users/:id", "status": "429"}, 1, false},
		{"magpie_api_request_duration_seconds", map[string]string{"route": "/v1/users/:id"}, 4, false},
		// The upgrades skip the router and count as what they are.
		{"magpie_api_requests_total", map[string]string{"route": "/v1/connect", "status": "101"}, 2, true},
		{"magpie_rate_limited_total", map[string]string{"kind": "api"}, 1, false},
		{"magpie_rate_limited_total", map[string]string{"kind": "login"}, 0, false},
		{"magpie_rate_limited_total", map[string]string{"kind": "send"}, 0, true},
		{"magpie_rate_limited_total", map[string]string{"kind": "console"}, 1, false},
		{"magpie_sync_requests_total", map[string]string{"kind": "conversations"}, 2, true},
		{"magpie_sync_items_total", map[string]string{"kind": "conversations"}, 1, true},
		{"magpie_bus_jobs_total", map[string]string{"queue": "offline", "outcome": "ok"}, offline, true},
		{"magpie_bus_jobs_total", map[string]string{"queue": "offline", "outcome": "dead_letter"}, 0, false},
		{"magpie_bus_dead_letters_total", map[string]string{"queue": "offline"}, 0, false},
		{"magpie_offline_notifications_dropped_total", nil, 0, false},
		{"magpie_search_queue", nil, 0, true}, // present; 0 unless an absorb was pressed
		{"magpie_ready", map[string]string{"dependency": "store"}, 1, false},
		// No push credentials in embedded mode by default: the outbox.
		{"magpie_push_notifications_total", map[string]string{"outcome": "outbox"}, offline, false},
		{"magpie_push_sends_total", map[string]string{"provider": "apns", "outcome": "sent"}, 0, false},
	} {
		got := value(mf, c.name, c.labels)
		if got < 0 || (!c.atLeast && got != c.want) || got < c.want {
			t.Errorf("%s%v = %v, want %s%v", c.name, c.labels, got, map[bool]string{true: ">= "}[c.atLeast], c.want)
		}
	}
	for name, f := range mf {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "otel_scope_name" || l.GetName() == "app_id" || l.GetName() == "user_id" {
					t.Errorf("%s has label %s", name, l.GetName())
				}
			}
		}
	}
	if _, ok := mf["target_info"]; ok {
		t.Error("target_info is exposed")
	}
	alice.Close()
	bob.Close()
}

// connect starts an SDK client for user and waits for its login.
func connect(t *testing.T, base string, api *serverapi.Client, user string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{URL: base, DeviceID: user + "-phone",
		TokenProvider: func(context.Context) (string, error) {
			tok, err := api.MintToken(user, time.Hour)
			return tok.Token, err
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; c.Close() })
	for {
		ev, err := c.Next(t.Context())
		if err != nil {
			t.Fatalf("%s: %v", user, err)
		}
		if _, ok := ev.(client.Connected); ok {
			return c
		}
	}
}

// scrape reads the admin listener's /metrics.
func scrape(t *testing.T, adminURL string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %s", res.Status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mf, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mf
}

// value returns the value of the series of family name whose labels
// include labels (a histogram's sample count), or -1 if there is none.
func value(mf map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	f, ok := mf[name]
	if !ok {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}
