package probe

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

// TestGroupProbePasses: 12 members, 3 of them sending 10 messages each at
// once: every member gets all 30, once, in order. The probe leaves neither
// its group nor its users behind.
func TestGroupProbePasses(t *testing.T) {
	srv := startServer(t)
	var conv atomic.Value
	res, err := Run(context.Background(), Config{URL: srv.URL, AppKey: srv.Bootstrap.AppKey, AppSecret: srv.Bootstrap.AppSecret,
		Scenario: ScenarioGroup, Members: 12, Senders: 3, Messages: 10, Timeout: 30 * time.Second,
		drop: func(_ string, m client.Message) bool { conv.Store(m.ConvID); return false }})
	if err != nil || !res.OK() {
		t.Fatalf("Run = %v, %v", res, err)
	}
	if res.Sent != 30 || res.Received != 12*30 || res.P99 <= 0 || res.Duration <= 0 {
		t.Fatalf("result = %v", res)
	}
	if !strings.HasPrefix(res.String(), "probe group ok members=12 senders=3 sent=30 deliveries=360 duplicates=0 reordered=0 missing=0 ") {
		t.Fatalf("summary = %q", res)
	}
	api, err := serverapi.New(srv.URL, srv.Bootstrap.AppKey, srv.Bootstrap.AppSecret)
	if err != nil {
		t.Fatal(err)
	}
	users, _, err := api.ListUsers(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if strings.HasPrefix(u.ID, "probe-") {
			t.Errorf("probe user %s left behind", u.ID)
		}
	}
	gid, ok := strings.CutPrefix(conv.Load().(string), "g:")
	if !ok || !strings.HasSuffix(gid, "-group") {
		t.Fatalf("messages of conversation %v, want the probe's group", conv.Load())
	}
	groups := &signedAPI{base: srv.URL, key: srv.Bootstrap.AppKey, secret: srv.Bootstrap.AppSecret, http: http.DefaultClient}
	var ae *serverapi.Error
	if err := groups.do(context.Background(), http.MethodGet, "/v1/groups/"+gid, nil, nil); !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Errorf("GET the probe's group after the run = %v, want 404 (dismissed)", err)
	}
}

// TestGroupProbeNoticesALostMessage: one member loses one message; the
// probe fails and names it.
func TestGroupProbeNoticesALostMessage(t *testing.T) {
	srv := startServer(t)
	var dropped atomic.Int32
	res, err := Run(context.Background(), Config{URL: srv.URL, AppKey: srv.Bootstrap.AppKey, AppSecret: srv.Bootstrap.AppSecret,
		Scenario: ScenarioGroup, Members: 4, Senders: 2, Messages: 5, Timeout: 30 * time.Second,
		drop: func(user string, m client.Message) bool {
			// Lose the third message m0003 gets from m0001.
			return strings.HasSuffix(user, "-m0003") && strings.HasSuffix(m.Content, "-m0001 group 2") && dropped.Add(1) == 1
		}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.OK() || res.Missing != 1 || res.Received != 4*10-1 || !strings.HasPrefix(res.String(), "probe group FAILED") ||
		!strings.Contains(res.String(), "-m0003 never received seq") {
		t.Fatalf("result with a lost message = %v, want FAILED with missing=1", res)
	}
}

// TestGroupProbeBadCredentials: a wrong secret stops the probe before it
// starts, with the server's reason.
func TestGroupProbeBadCredentials(t *testing.T) {
	srv := startServer(t)
	_, err := Run(context.Background(), Config{URL: srv.URL, AppKey: srv.Bootstrap.AppKey, AppSecret: "msk_wrong",
		Scenario: ScenarioGroup, Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "bad_signature") {
		t.Fatalf("Run with a wrong secret = %v, want a bad_signature error", err)
	}
}

func TestGroupProbeBounds(t *testing.T) {
	for _, c := range []Config{{Members: 2}, {Members: MaxGroupMembers + 1}, {Members: 3, Senders: 4}} {
		c.URL, c.AppKey, c.AppSecret, c.Scenario = "http://127.0.0.1:1", "k", "s", ScenarioGroup
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("Run(members %d, senders %d) succeeded", c.Members, c.Senders)
		}
	}
}
