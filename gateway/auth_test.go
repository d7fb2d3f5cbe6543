package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/tenant"
)

func TestSignedRequestAccepted(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	r := e.do(e.a, req{method: "GET", target: "/v1/users/alice"})
	if r.status != http.StatusOK {
		t.Fatalf("GET signed = %d %s, want 200", r.status, r.body)
	}
	// The query takes part in the signature: parameters in any order verify.
	r = e.do(e.a, req{method: "GET", target: "/v1/users?limit=5&cursor="})
	if r.status != http.StatusOK {
		t.Fatalf("GET with query = %d %s, want 200", r.status, r.body)
	}
}

func TestSignatureRejections(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	tests := []struct {
		name string
		r    req
		want string
	}{
		{"unsigned", req{unsigned: true}, "missing_credentials"},
		{"unknown key", req{key: "mk_nope"}, "unknown_app_key"},
		{"wrong secret", req{secret: "msk_wrong"}, "bad_signature"},
		{"other app's secret", req{secret: e.b.Secret}, "bad_signature"},
		{"timestamp too old", req{ts: e.clock().Add(-301 * time.Second)}, "timestamp_out_of_window"},
		{"timestamp too new", req{ts: e.clock().Add(301 * time.Second)}, "timestamp_out_of_window"},
		{"short nonce", req{header: map[string]string{"X-Magpie-Nonce": "short"}}, "invalid_nonce"},
		{"nonce with bad chars", req{header: map[string]string{"X-Magpie-Nonce": "nonce-with-bang!!!!"}}, "invalid_nonce"},
		{"tampered signature", req{header: map[string]string{"X-Magpie-Signature": "00"}}, "bad_signature"},
		{"signature for another path", req{header: map[string]string{"X-Magpie-Timestamp": "x"}}, "timestamp_out_of_window"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.method, r.target = "GET", "/v1/users/alice"
			got := e.do(e.a, r)
			if got.status != http.StatusUnauthorized || got.code(t) != tt.want {
				t.Fatalf("status %d body %s, want 401 %s", got.status, got.body, tt.want)
			}
		})
	}
	// Within the window on both sides is fine.
	for _, skew := range []time.Duration{-299 * time.Second, 299 * time.Second} {
		if r := e.do(e.a, req{method: "GET", target: "/v1/users/alice", ts: e.clock().Add(skew)}); r.status != http.StatusOK {
			t.Fatalf("skew %v: %d %s, want 200", skew, r.status, r.body)
		}
	}
}

func TestBodyIsSigned(t *testing.T) {
	e := newEnv(t)
	// Sign one body, send another: the body hash must not match.
	r := e.do(e.a, req{method: "POST", target: "/v1/users", body: `{"id":"alice"}`,
		signBody: `{"id":"mallory"}`})
	if r.status != http.StatusUnauthorized || r.code(t) != "bad_signature" {
		t.Fatalf("tampered body: %d %s", r.status, r.body)
	}
	if n := e.userCount(e.a); n != 0 {
		t.Fatalf("users after rejected request = %d, want 0", n)
	}
}

func TestReplayedNonceRejected(t *testing.T) {
	e := newEnv(t)
	r := e.do(e.a, req{method: "POST", target: "/v1/users", body: `{"id":"alice"}`, nonce: "replay-nonce-0001"})
	if r.status != http.StatusCreated {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	r = e.do(e.a, req{method: "POST", target: "/v1/users", body: `{"id":"alice"}`, nonce: "replay-nonce-0001"})
	if r.status != http.StatusUnauthorized || r.code(t) != "nonce_replayed" {
		t.Fatalf("replay: %d %s, want 401 nonce_replayed", r.status, r.body)
	}
	// Still remembered near the end of the window.
	e.advance(290 * time.Second)
	r = e.do(e.a, req{method: "GET", target: "/v1/users/alice", nonce: "replay-nonce-0001", ts: e.clock().Add(-290 * time.Second)})
	if r.status != http.StatusUnauthorized || r.code(t) != "nonce_replayed" {
		t.Fatalf("late replay: %d %s, want 401 nonce_replayed", r.status, r.body)
	}
	// Another app may use the same nonce string.
	if r := e.do(e.b, req{method: "GET", target: "/v1/users", nonce: "replay-nonce-0001"}); r.status != http.StatusOK {
		t.Fatalf("same nonce, other app: %d %s", r.status, r.body)
	}
}

func TestSecretRotationOverlap(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	old := e.a
	e.advance(time.Second)
	sec, err := e.tenants.RotateSecret(ctx, e.a.ID)
	if err != nil {
		t.Fatal(err)
	}
	fresh := e.a
	fresh.Secret = sec.Plain
	for name, app := range map[string]testApp{"old": old, "new": fresh} {
		if r := e.do(app, req{method: "GET", target: "/v1/users"}); r.status != http.StatusOK {
			t.Fatalf("%s secret during overlap: %d %s", name, r.status, r.body)
		}
	}
	if _, err := e.tenants.RotateSecret(ctx, e.a.ID); err == nil {
		t.Fatal("third active secret allowed")
	}
	secrets, err := e.tenants.ListSecrets(ctx, e.a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(secrets) != 2 || secrets[1].ID != sec.ID {
		t.Fatalf("ListSecrets = %+v, want the old then the new secret", secrets)
	}
	if err := e.tenants.RevokeSecret(ctx, e.a.ID, secrets[0].ID); err != nil {
		t.Fatal(err)
	}
	if r := e.do(old, req{method: "GET", target: "/v1/users"}); r.status != http.StatusUnauthorized || r.code(t) != "bad_signature" {
		t.Fatalf("revoked secret: %d %s, want 401 bad_signature", r.status, r.body)
	}
	if r := e.do(fresh, req{method: "GET", target: "/v1/users"}); r.status != http.StatusOK {
		t.Fatalf("new secret after revoke: %d %s", r.status, r.body)
	}
	if err := e.tenants.RevokeSecret(ctx, e.a.ID, secrets[1].ID); err == nil {
		t.Fatal("revoking the last active secret was allowed")
	}
}

func TestDisabledAppRejected(t *testing.T) {
	e := newEnv(t)
	disabled := true
	if _, err := e.tenants.UpdateApp(context.Background(), e.a.ID, tenant.AppUpdate{Disabled: &disabled}); err != nil {
		t.Fatal(err)
	}
	if r := e.do(e.a, req{method: "GET", target: "/v1/users"}); r.status != http.StatusForbidden || r.code(t) != "app_disabled" {
		t.Fatalf("disabled app: %d %s", r.status, r.body)
	}
}

// TestReplaysDoNotSpendTheRateLimit: the nonce is checked (and spent)
// before the rate limit, so replaying a captured request neither drains
// the app's budget nor runs once the budget refills.
func TestReplaysDoNotSpendTheRateLimit(t *testing.T) {
	e := newEnv(t)
	l := store.Limits{APIRate: 1, APIBurst: 5}
	if _, err := e.tenants.UpdateApp(context.Background(), e.a.ID, tenant.AppUpdate{Limits: &l}); err != nil {
		t.Fatal(err)
	}
	captured := req{method: "POST", target: "/v1/users", body: `{"id":"alice"}`, nonce: "captured-nonce-0001"}
	if r := e.do(e.a, captured); r.status != http.StatusCreated {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	for i := range 100 {
		if r := e.do(e.a, captured); r.status != http.StatusUnauthorized || r.code(t) != "nonce_replayed" {
			t.Fatalf("replay %d: %d %s, want 401 nonce_replayed", i, r.status, r.body)
		}
	}
	for i := range 4 { // the rest of the burst is intact
		if r := e.do(e.a, req{method: "GET", target: "/v1/users"}); r.status != http.StatusOK {
			t.Fatalf("legitimate request %d after the replays: %d %s", i, r.status, r.body)
		}
	}
}

// TestRefusedRequestCannotBeReplayed: a request answered 429 has spent its
// nonce; sent again byte for byte once the budget refills, it is refused.
func TestRefusedRequestCannotBeReplayed(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	l := store.Limits{APIRate: 1, APIBurst: 1}
	if _, err := e.tenants.UpdateApp(context.Background(), e.a.ID, tenant.AppUpdate{Limits: &l}); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Second) // the bucket refills from the requests above
	if r := e.do(e.a, req{method: "GET", target: "/v1/users"}); r.status != http.StatusOK {
		t.Fatalf("first: %d %s", r.status, r.body)
	}
	send := req{method: "POST", target: "/v1/messages", nonce: "refused-nonce-0001",
		body: `{"from_user_id":"alice","to_user_id":"bob","client_msg_id":"m1","type":"text","content":"hi"}`}
	if r := e.do(e.a, send); r.status != http.StatusTooManyRequests {
		t.Fatalf("over the limit: %d %s, want 429", r.status, r.body)
	}
	e.advance(2 * time.Second)
	if r := e.do(e.a, send); r.status != http.StatusUnauthorized || r.code(t) != "nonce_replayed" {
		t.Fatalf("replay of the refused request: %d %s, want 401 nonce_replayed", r.status, r.body)
	}
	if msgs, err := e.store.App(e.a.ID).ListMessages(context.Background(), "p:alice:bob", store.Range{From: 1, Limit: 10}); err != nil || len(msgs) != 0 {
		t.Fatalf("messages stored = %d, %v, want none", len(msgs), err)
	}
}
