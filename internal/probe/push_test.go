package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/embedded"
	"github.com/magpie-im/magpie/internal/embedded/embeddedtest"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/push/pushtest"
)

// TestPushProbeOutbox: with no credentials, each message is recorded in
// the outbox once, with the unread count as badge.
func TestPushProbeOutbox(t *testing.T) {
	srv := startServer(t)
	res, err := Run(context.Background(), Config{URL: srv.URL, AppKey: srv.Bootstrap.AppKey,
		AppSecret: srv.Bootstrap.AppSecret, Scenario: ScenarioPush, Timeout: 30 * time.Second})
	if err != nil || !res.OK() {
		t.Fatalf("Run = %v, %v", res, err)
	}
	if !strings.HasPrefix(res.String(), "probe push ok sent=5 pushed=5 duplicates=0 missing=0") {
		t.Fatalf("summary = %q", res)
	}
}

// pushServer starts an embedded server whose app has the FCM mock's
// credential.
func pushServer(t *testing.T, fcm *pushtest.FCM) *embedded.Server {
	t.Helper()
	srv := embeddedtest.Start(t, embedded.Config{Push: push.Endpoints{FCMEndpoint: fcm.URL(), RootCAs: fcm.RootCAs()}})
	if _, err := srv.Push.SetFCM(t.Context(), srv.Bootstrap.AppID, fcm.ServiceAccountJSON()); err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestPushProbeProvider: with credentials, each message reaches the
// provider once, with the unread count as badge.
func TestPushProbeProvider(t *testing.T) {
	fcm := pushtest.NewFCM(t)
	srv := pushServer(t, fcm)
	res, err := Run(context.Background(), Config{URL: srv.URL, AppKey: srv.Bootstrap.AppKey,
		AppSecret: srv.Bootstrap.AppSecret, Scenario: ScenarioPush, Messages: 3, Timeout: 30 * time.Second})
	if err != nil || !res.OK() || res.Received != 3 {
		t.Fatalf("Run = %v, %v", res, err)
	}
	reqs := fcm.Requests()
	if len(reqs) != 3 {
		t.Fatalf("FCM got %d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		data, _ := r.Message["data"].(map[string]any)
		if want := string(rune('1' + i)); data["badge"] != want || data["seq"] != want {
			t.Errorf("request %d: data %v, want badge and seq %s", i, data, want)
		}
	}
}

// TestPushProbeNoticesAFailure: the provider refuses the token; the probe
// fails and says why.
func TestPushProbeNoticesAFailure(t *testing.T) {
	fcm := pushtest.NewFCM(t)
	srv := pushServer(t, fcm)
	fcm.Respond("probe-token", pushtest.Response{Status: 404, Reason: "UNREGISTERED"})
	res, err := Run(context.Background(), Config{URL: srv.URL, AppKey: srv.Bootstrap.AppKey,
		AppSecret: srv.Bootstrap.AppSecret, Scenario: ScenarioPush, Messages: 2, Timeout: 30 * time.Second,
		PushDevice: PushDevice{Platform: "android", Provider: "fcm", Token: "probe-token"}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.OK() || !strings.Contains(res.String(), "token_removed (UNREGISTERED)") {
		t.Fatalf("Run = %v, want a failure naming the removed token", res)
	}
}
