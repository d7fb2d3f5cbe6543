package gateway_test

import (
	"context"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/token"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"github.com/magpie-im/magpie/tenant"
)

func ping() *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}}
}

// mint returns a token of app's user signed with secret, issued at iat.
func (e *env) mint(app testApp, secret, user string, ttl time.Duration, iat time.Time) string {
	e.t.Helper()
	tok, _, err := token.Mint(app.Key, secret, user, ttl, iat)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// loginWith logs in with tok and fails unless the login succeeds.
func (e *env) loginWith(tok, device string) *wsClient {
	e.t.Helper()
	c := e.dial(wire.SubprotocolProto)
	if f := c.reply(c.request(loginFrame(tok, device))); f.GetLoginResult() == nil {
		e.t.Fatalf("login of %s: %v", device, f)
	}
	return c
}

// loginRefused logs in with tok and expects the connection closed with code.
func (e *env) loginRefused(tok, device string, code wire.CloseCode) {
	e.t.Helper()
	c := e.dial(wire.SubprotocolProto)
	c.request(loginFrame(tok, device))
	c.expectClose(code)
}

func TestSessionEndsWithItsToken(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	t.Run("expiry on the next frame", func(t *testing.T) {
		c := e.loginWith(e.mint(e.a, e.a.Secret, "alice", 10*time.Second, e.clock()), "d1")
		if f := c.reply(c.request(ping())); f.GetPong() == nil {
			t.Fatalf("ping before expiry: %v", f)
		}
		e.advance(11 * time.Second)
		c.request(ping())
		c.expectClose(wire.CloseReauthenticate)
	})
	t.Run("expiry of an idle session", func(t *testing.T) {
		// The session's timer fires one second after login, with no frame.
		c := e.loginWith(e.mint(e.a, e.a.Secret, "alice", time.Second, e.clock()), "d2")
		c.expectClose(wire.CloseReauthenticate)
	})
}

func TestRevokedSecretEndsItsSessions(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	ctx := context.Background()
	e.advance(time.Second)
	fresh, err := e.tenants.RotateSecret(ctx, e.a.ID)
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := e.tenants.ListSecrets(ctx, e.a.ID)
	if err != nil {
		t.Fatal(err)
	}
	old := e.loginWith(e.mint(e.a, e.a.Secret, "alice", time.Hour, e.clock()), "old")
	kept := e.loginWith(e.mint(e.a, fresh.Plain, "alice", time.Hour, e.clock()), "new")
	op := e.consoleLogin("op@example.com", e.boot.OperatorPassword)
	if r := e.console(op, "DELETE", "/manage/v1/apps/"+e.a.ID+"/secrets/"+secrets[0].ID, ""); r.status != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	old.expectClose(wire.CloseReauthenticate)
	if f := kept.reply(kept.request(ping())); f.GetPong() == nil {
		t.Fatalf("session signed by the remaining secret: %v", f)
	}
	e.loginRefused(e.mint(e.a, e.a.Secret, "alice", time.Hour, e.clock()), "again", wire.CloseBadToken)
}

func TestTokenIssueTimeAndLifetime(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	now := e.clock()
	e.loginRefused(e.mint(e.a, e.a.Secret, "alice", time.Hour, now.Add(2*time.Minute)), "future", wire.CloseBadToken)
	e.loginWith(e.mint(e.a, e.a.Secret, "alice", time.Hour, now.Add(30*time.Second)), "skewed") // within the skew

	st := store.Settings{MaxTokenLifetimeSeconds: 3600}
	if _, err := e.tenants.UpdateApp(context.Background(), e.a.ID, tenant.AppUpdate{Settings: &st}); err != nil {
		t.Fatal(err)
	}
	e.loginRefused(e.mint(e.a, e.a.Secret, "alice", 2*time.Hour, now), "long", wire.CloseBadToken)
	e.loginWith(e.mint(e.a, e.a.Secret, "alice", time.Hour, now), "hour")
	r := e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens", body: `{"ttl_seconds":7200}`})
	if r.status != http.StatusBadRequest || r.code(t) != "validation_failed" {
		t.Fatalf("token beyond the app's maximum: %d %s", r.status, r.body)
	}
	r = e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens"})
	if r.status != http.StatusCreated {
		t.Fatalf("default token under a one-hour maximum: %d %s", r.status, r.body)
	}
	e.loginWith(r.json(t)["token"].(string), "issued")
	for _, bad := range []int64{-1, 59, 2592001} {
		st := store.Settings{MaxTokenLifetimeSeconds: bad}
		if _, err := e.tenants.UpdateApp(context.Background(), e.a.ID, tenant.AppUpdate{Settings: &st}); err == nil {
			t.Errorf("max_token_lifetime_seconds %d accepted", bad)
		}
	}
}

// TestOneUserCannotLockOthersOut: logins are checked (token, user, block)
// and limited per user before they spend the app's login budget.
func TestOneUserCannotLockOthersOut(t *testing.T) {
	e := newEnv(t)
	l := store.Limits{ConnRate: 20}
	if _, err := e.tenants.UpdateApp(context.Background(), e.a.ID, tenant.AppUpdate{Limits: &l}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"mallory", "eve", "alice"} {
		e.mustCreateUser(e.a, u)
	}
	// The clock stands still: no bucket refills during the test.
	flood := func(user string, want func(i int) wire.CloseCode) {
		tok := e.tokenFor(e.a, user)
		for i := range 40 {
			c := e.dial(wire.SubprotocolProto)
			id := c.request(loginFrame(tok, "d"))
			if code := want(i); code != 0 {
				c.expectClose(code)
			} else if f := c.reply(id); f.GetLoginResult() == nil {
				t.Fatalf("%s login %d: %v", user, i, f)
			}
			c.ws.CloseNow()
		}
	}
	// mallory: her first ten logins pass (ten of the app's twenty), the
	// rest are refused by her own budget.
	flood("mallory", func(i int) wire.CloseCode {
		if i < 10 {
			return 0
		}
		return wire.CloseOverload
	})
	// eve is blocked: refused every time (by her own budget after ten),
	// and none of it is charged to the app.
	r := e.do(e.a, req{method: "POST", target: "/v1/users/eve:block"})
	if r.status != http.StatusOK {
		t.Fatalf("block: %d %s", r.status, r.body)
	}
	flood("eve", func(i int) wire.CloseCode {
		if i < 10 {
			return wire.CloseUserBlocked
		}
		return wire.CloseOverload
	})
	for i := range 10 { // the other ten of the app's budget
		e.login(e.a, "alice", "alice-"+string(rune('a'+i)))
	}
}

func TestPerAddressLimits(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.Node.PendingPerAddress = 3
		c.Node.LoginsPerAddress = 2 // burst 4
	})
	e.mustCreateUser(e.a, "alice")
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/v1/connect"
	var waiting []*wsClient
	for range 3 {
		waiting = append(waiting, e.dial(wire.SubprotocolProto))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, res, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{wire.SubprotocolProto}})
	if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth socket waiting to log in: %v, %v; want HTTP 429", res, err)
	}
	// A login frees its slot.
	if f := waiting[0].reply(waiting[0].request(loginFrame(e.tokenFor(e.a, "alice"), "w0"))); f.GetLoginResult() == nil {
		t.Fatalf("login: %v", f)
	}
	// Three bad tokens spend the rest of the address's burst of four
	// attempts; the fifth attempt is refused, valid or not.
	waiting[1].request(loginFrame("not-a-token", "w1"))
	waiting[1].expectClose(wire.CloseBadToken)
	for range 2 {
		c := e.dial(wire.SubprotocolProto)
		c.request(loginFrame("not-a-token", "x"))
		c.expectClose(wire.CloseBadToken)
	}
	c := e.dial(wire.SubprotocolProto)
	c.request(loginFrame(e.tokenFor(e.a, "alice"), "late"))
	c.expectClose(wire.CloseOverload)
}

func TestUnlimitedAddresses(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.Node.UnlimitedAddresses = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		c.Node.PendingPerAddress = 1
		c.Node.LoginsPerAddress = 1
	})
	e.mustCreateUser(e.a, "alice")
	var waiting []*wsClient
	for range 5 {
		waiting = append(waiting, e.dial(wire.SubprotocolProto))
	}
	for i, c := range waiting {
		if f := c.reply(c.request(loginFrame(e.tokenFor(e.a, "alice"), "d"+string(rune('0'+i))))); f.GetLoginResult() == nil {
			t.Fatalf("login %d from an unlimited address: %v", i, f)
		}
	}
}

// TestAllowedOriginsAreValidated: the management API refuses origin
// patterns that are not origins, and a wildcard pattern admits subdomains.
func TestAllowedOriginsAreValidated(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	op := e.consoleLogin("op@example.com", e.boot.OperatorPassword)
	for _, bad := range []string{`"*"`, `""`, `"javascript:alert(1)"`, `"https://example.com/path"`, `"null"`} {
		r := e.console(op, "PATCH", "/manage/v1/apps/"+e.a.ID, `{"settings":{"allowed_origins":[`+bad+`]}}`)
		if r.status != http.StatusBadRequest || r.code(t) != "validation_failed" {
			t.Errorf("allowed_origins [%s]: %d %s, want 400 validation_failed", bad, r.status, r.body)
		}
	}
	r := e.console(op, "PATCH", "/manage/v1/apps/"+e.a.ID, `{"settings":{"allowed_origins":["https://*.example.com"]}}`)
	if r.status != http.StatusOK {
		t.Fatalf("wildcard origin: %d %s", r.status, r.body)
	}
	for origin, want := range map[string]wire.CloseCode{"https://chat.example.com": 0, "https://example.com": wire.CloseProtocolError} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/v1/connect", &websocket.DialOptions{
			Subprotocols: []string{wire.SubprotocolProto}, HTTPHeader: http.Header{"Origin": {origin}}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		codec, _ := wire.CodecFor(wire.SubprotocolProto)
		c := &wsClient{t: t, ws: ws, codec: codec}
		id := c.request(loginFrame(e.tokenFor(e.a, "alice"), "web"))
		if want == 0 {
			if f := c.reply(id); f.GetLoginResult() == nil {
				t.Errorf("origin %s: %v, want a login", origin, f)
			}
		} else {
			c.expectClose(want)
		}
		ws.CloseNow()
	}
}
