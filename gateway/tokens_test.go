package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/token"
)

func TestIssueAndRevokeTokens(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	r := e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens", body: `{"ttl_seconds":3600}`})
	if r.status != http.StatusCreated {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	tok := r.json(t)["token"].(string)
	claims, err := token.Parse(tok, e.a.Key, []string{e.a.Secret}, e.clock())
	if err != nil {
		t.Fatalf("Parse(issued token) = %v", err)
	}
	if claims.UserID != "alice" || claims.AppKey != e.a.Key || !claims.ExpiresAt.Equal(e.clock().Add(time.Hour)) {
		t.Fatalf("claims = %+v", claims)
	}
	if _, err := token.Parse(tok, e.b.Key, []string{e.b.Secret}, e.clock()); err == nil {
		t.Fatal("app A's token verified for app B")
	}
	// Default TTL and empty body.
	if r := e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens"}); r.status != http.StatusCreated {
		t.Fatalf("issue with no body: %d %s", r.status, r.body)
	}

	e.advance(1500 * time.Millisecond)
	r = e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens:revoke"})
	if r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	u, err := e.store.App(e.a.ID).GetUser(context.Background(), "alice")
	if err != nil {
		t.Fatal(err)
	}
	if !claims.IssuedAt.Before(u.TokensValidAfter) {
		t.Fatalf("token issued at %v is not before the revocation %v", claims.IssuedAt, u.TokensValidAfter)
	}
	// A token issued after the revocation, within the same second, is not
	// covered by it.
	r = e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens"})
	fresh, err := token.Parse(r.json(t)["token"].(string), e.a.Key, []string{e.a.Secret}, e.clock().Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if fresh.IssuedAt.Before(u.TokensValidAfter) {
		t.Fatalf("token issued after revoke has iat %v before %v", fresh.IssuedAt, u.TokensValidAfter)
	}
	if r := e.do(e.a, req{method: "POST", target: "/v1/users/nobody/tokens"}); r.status != http.StatusNotFound {
		t.Fatalf("token for unknown user: %d %s", r.status, r.body)
	}
}

func TestIdempotentCreate(t *testing.T) {
	e := newEnv(t)
	h := map[string]string{"Idempotency-Key": "create-alice-1"}
	first := e.do(e.a, req{method: "POST", target: "/v1/users", body: `{"id":"alice"}`, header: h})
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	again := e.do(e.a, req{method: "POST", target: "/v1/users", body: `{"id":"alice"}`, header: h})
	if again.status != http.StatusCreated || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %s (replayed=%q), want the first response", again.status, again.body, again.header.Get("Idempotent-Replayed"))
	}
	other := e.do(e.a, req{method: "POST", target: "/v1/users", body: `{"id":"bob"}`, header: h})
	if other.status != http.StatusUnprocessableEntity || other.code(t) != "idempotency_key_reused" {
		t.Fatalf("reused key: %d %s", other.status, other.body)
	}
	if n := e.userCount(e.a); n != 1 {
		t.Fatalf("users = %d, want 1", n)
	}
	// Keys are per app: app B's identical key is independent.
	if r := e.do(e.b, req{method: "POST", target: "/v1/users", body: `{"id":"alice"}`, header: h}); r.status != http.StatusCreated || r.header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("app B same key: %d %s", r.status, r.body)
	}
}

func TestRateLimitPerApp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	lim := appLimits(2, 5)
	if _, err := e.tenants.UpdateApp(ctx, e.a.ID, lim); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		r := e.do(e.a, req{method: "GET", target: "/v1/users"})
		if r.status != http.StatusOK {
			t.Fatalf("request %d within burst: %d %s", i, r.status, r.body)
		}
		if got := r.header.Get("RateLimit-Limit"); got != "5" {
			t.Fatalf("RateLimit-Limit = %q, want 5", got)
		}
		if got, want := r.header.Get("RateLimit-Remaining"), []string{"4", "3", "2", "1", "0"}[i]; got != want {
			t.Fatalf("request %d RateLimit-Remaining = %q, want %s", i, got, want)
		}
	}
	r := e.do(e.a, req{method: "GET", target: "/v1/users"})
	if r.status != http.StatusTooManyRequests || r.code(t) != "rate_limited" {
		t.Fatalf("over the limit: %d %s, want 429", r.status, r.body)
	}
	if r.header.Get("Retry-After") != "1" || r.header.Get("RateLimit-Remaining") != "0" || r.header.Get("RateLimit-Reset") != "3" {
		t.Fatalf("429 headers: Retry-After %q Remaining %q Reset %q", r.header.Get("Retry-After"),
			r.header.Get("RateLimit-Remaining"), r.header.Get("RateLimit-Reset"))
	}
	// App B is not slowed by app A's burst.
	for i := range 10 {
		if r := e.do(e.b, req{method: "GET", target: "/v1/users"}); r.status != http.StatusOK {
			t.Fatalf("app B request %d: %d", i, r.status)
		}
	}
	// Tokens refill with time.
	e.advance(time.Second)
	if r := e.do(e.a, req{method: "GET", target: "/v1/users"}); r.status != http.StatusOK {
		t.Fatalf("after refill: %d %s", r.status, r.body)
	}
}

func TestIdempotentTokenIsSealedAtRest(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	h := map[string]string{"Idempotency-Key": "token-1"}
	t1 := e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens", header: h})
	e.advance(time.Minute)
	t2 := e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens", header: h})
	if t1.status != http.StatusCreated || string(t1.body) != string(t2.body) || t2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("token replay: %d %s then %s", t1.status, t1.body, t2.body)
	}
	rec, err := e.store.App(e.a.ID).GetIdempotency(context.Background(), "token-1")
	if err != nil {
		t.Fatal(err)
	}
	tok := t1.json(t)["token"].(string)
	if strings.Contains(string(rec.Body), tok) || strings.Contains(string(rec.Body), "token") {
		t.Fatal("the stored response holds the token in the clear")
	}
}

// TestIdempotentTokenReplayRechecksTheUser: a replayed token request for a
// user blocked (or deleted) since is refused, not answered with the token.
func TestIdempotentTokenReplayRechecksTheUser(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	issue := func(user, key string) resp {
		return e.do(e.a, req{method: "POST", target: "/v1/users/" + user + "/tokens", header: map[string]string{"Idempotency-Key": key}})
	}
	if r := issue("alice", "k-alice"); r.status != http.StatusCreated {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	if r := issue("bob", "k-bob"); r.status != http.StatusCreated {
		t.Fatalf("issue: %d %s", r.status, r.body)
	}
	if r := e.do(e.a, req{method: "POST", target: "/v1/users/alice:block"}); r.status != http.StatusOK {
		t.Fatalf("block: %d %s", r.status, r.body)
	}
	if r := issue("alice", "k-alice"); r.status != http.StatusForbidden || r.code(t) != "user_blocked" {
		t.Fatalf("replay for a blocked user: %d %s, want 403 user_blocked", r.status, r.body)
	}
	if r := e.do(e.a, req{method: "DELETE", target: "/v1/users/bob"}); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := issue("bob", "k-bob"); r.status != http.StatusNotFound {
		t.Fatalf("replay for a deleted user: %d %s, want 404", r.status, r.body)
	}
}
