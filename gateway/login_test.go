package gateway_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/gateway"
)

// consoleWith calls the management API with extra headers.
func (e *env) consoleWith(method, path, body string, header map[string]string) resp {
	e.t.Helper()
	r, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func basic(email, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(email+":"+password))
}

// consoleLoginAs posts a console login from the given client address (sent as
// X-Forwarded-For; only honoured when the env trusts the test's proxy).
func (e *env) consoleLoginAs(email, password, tenantID, from string) resp {
	e.t.Helper()
	in := map[string]string{"email": email, "password": password}
	if tenantID != "" {
		in["tenant_id"] = tenantID
	}
	b, _ := json.Marshal(in)
	h := map[string]string{}
	if from != "" {
		h["X-Forwarded-For"] = from
	}
	return e.consoleWith("POST", "/manage/v1/sessions", string(b), h)
}

// wantStatus fails the test unless r has the status and error code (code
// empty: a success).
func wantStatus(t *testing.T, what string, r resp, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.code(t) != code) {
		t.Fatalf("%s = %d %s, want %d %s", what, r.status, r.body, status, code)
	}
}

// TestLoginThrottle: after 5 wrong passwords an account is locked out, the
// right password included, with 429 and Retry-After and without a password
// check; the lockout doubles with each further failure; a success clears
// the count.
func TestLoginThrottle(t *testing.T) {
	e := newEnv(t)
	op := e.consoleLogin("op@example.com", e.boot.OperatorPassword)
	e.addMember(op, e.a.TenantID, "owner@acme.test", "owner", "correct horse battery")
	wrong := func(what string) {
		wantStatus(t, what, e.consoleLoginAs("owner@acme.test", "wrong password!!", "", ""), 401, "bad_credentials")
	}
	refused := func(what, retryAfter string) {
		t.Helper()
		before := e.passwordChecks()
		for _, pw := range []string{"wrong password!!", "correct horse battery"} {
			r := e.consoleLoginAs("owner@acme.test", pw, "", "")
			wantStatus(t, what, r, http.StatusTooManyRequests, "rate_limited")
			if got := r.header.Get("Retry-After"); got != retryAfter {
				t.Fatalf("%s: Retry-After = %q, want %q", what, got, retryAfter)
			}
		}
		if n := e.passwordChecks() - before; n != 0 {
			t.Fatalf("%s: %d password checks while locked out, want 0", what, n)
		}
	}
	right := func(what string) {
		t.Helper()
		wantStatus(t, what, e.consoleLoginAs("owner@acme.test", "correct horse battery", "", ""), http.StatusCreated, "")
	}

	for range 5 {
		wrong("wrong password before the lockout")
	}
	refused("after 5 failures", "1")
	e.advance(time.Second)
	right("right password after the lockout")

	for range 5 {
		wrong("wrong password after a success")
	}
	refused("after 5 more failures", "1")
	e.advance(time.Second)
	wrong("6th failure")
	refused("after the 6th failure", "2")
	e.advance(time.Second)
	refused("1 s into a 2 s lockout", "1")
	e.advance(time.Second)
	wrong("7th failure")
	refused("after the 7th failure", "4")
	e.advance(4 * time.Second)
	right("right password after the 4 s lockout")
}

// TestLoginParallelGuesses: a burst of parallel guesses gets no more
// password checks than the threshold; the rest are refused at once.
func TestLoginParallelGuesses(t *testing.T) {
	e := newEnv(t)
	before := e.passwordChecks()
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			r := e.consoleLoginAs("op@example.com", "not the password", "", "")
			mu.Lock()
			got[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	checks := e.passwordChecks() - before
	if got[401]+got[429] != 40 || got[401] > 5 || int64(got[401]) != checks {
		t.Fatalf("40 parallel wrong logins: statuses %v with %d password checks, want at most 5 × 401 (one check each), the rest 429", got, checks)
	}
	wantStatus(t, "right password after the burst", e.consoleLoginAs("op@example.com", e.boot.OperatorPassword, "", ""), 429, "rate_limited")
}

// TestLoginThrottlePerAddress: 20 failures from one client address, over
// any accounts, lock the address out (an IPv6 client by its /64), while
// other addresses, told apart through a trusted proxy's X-Forwarded-For,
// log in.
func TestLoginThrottlePerAddress(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	tests := []struct {
		attacker, same, other string
	}{
		{"203.0.113.7", "203.0.113.7", "198.51.100.1"},
		{"2001:db8:1:2::5", "2001:db8:1:2::99", "2001:db8:1:3::1"},
	}
	for _, tc := range tests {
		t.Run(tc.attacker, func(t *testing.T) {
			for i := range 20 {
				email := string(rune('a'+i)) + "@nowhere.test"
				wantStatus(t, "guess "+email, e.consoleLoginAs(email, "guessed password", "", tc.attacker), 401, "bad_credentials")
			}
			before := e.passwordChecks()
			wantStatus(t, "right password from the locked address", e.consoleLoginAs("op@example.com", e.boot.OperatorPassword, "", tc.same), 429, "rate_limited")
			if n := e.passwordChecks() - before; n != 0 {
				t.Fatalf("%d password checks for a locked-out address, want 0", n)
			}
			wantStatus(t, "login from another address", e.consoleLoginAs("op@example.com", e.boot.OperatorPassword, "", tc.other), 201, "")
		})
	}
}

// TestBasicAuthThrottle: HTTP Basic credentials are throttled like logins.
func TestBasicAuthThrottle(t *testing.T) {
	e := newEnv(t)
	me := func(pw string) resp {
		return e.consoleWith("GET", "/manage/v1/me", "", map[string]string{"Authorization": basic("op@example.com", pw)})
	}
	for range 5 {
		wantStatus(t, "wrong Basic password", me("not the password"), 401, "unauthenticated")
	}
	before := e.passwordChecks()
	r := me(e.boot.OperatorPassword)
	wantStatus(t, "right Basic password while locked out", r, 429, "rate_limited")
	if r.header.Get("Retry-After") != "1" || e.passwordChecks() != before {
		t.Fatalf("locked-out Basic request: Retry-After %q, %d checks, want 1 and none", r.header.Get("Retry-After"), e.passwordChecks()-before)
	}
	e.advance(time.Second)
	wantStatus(t, "right Basic password after the lockout", me(e.boot.OperatorPassword), 200, "")
}

// TestBasicAuthRemembered: Basic credentials checked recently are not
// checked with bcrypt again, until the remembered check expires or the
// member's password changes.
func TestBasicAuthRemembered(t *testing.T) {
	e := newEnv(t)
	op := e.consoleLogin("op@example.com", e.boot.OperatorPassword)
	id := e.addMember(op, e.a.TenantID, "script@acme.test", "admin", "script password 1")
	me := func(pw string) resp {
		return e.consoleWith("GET", "/manage/v1/me", "", map[string]string{"Authorization": basic("script@acme.test", pw)})
	}
	checks := func(what string, want int64, f func()) {
		t.Helper()
		before := e.passwordChecks()
		f()
		if n := e.passwordChecks() - before; n != want {
			t.Fatalf("%s: %d password checks, want %d", what, n, want)
		}
	}
	checks("first Basic request", 1, func() { wantStatus(t, "first", me("script password 1"), 200, "") })
	checks("20 more Basic requests", 0, func() {
		for range 20 {
			wantStatus(t, "again", me("script password 1"), 200, "")
		}
	})
	checks("a wrong password", 1, func() { wantStatus(t, "wrong", me("script password 2"), 401, "unauthenticated") })
	e.advance(61 * time.Second)
	checks("after the remembered check expired", 1, func() { wantStatus(t, "expired", me("script password 1"), 200, "") })

	// A password changed behind the gateway's back (another node) ends the
	// remembered check at once.
	m, err := e.store.GetMember(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	other := e.addMember(op, e.b.TenantID, "donor@acme.test", "viewer", "script password 2")
	donor, _ := e.store.GetMember(t.Context(), other)
	m.PasswordHash = donor.PasswordHash
	if err := e.store.UpdateMember(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	checks("old password after a change", 1, func() { wantStatus(t, "old", me("script password 1"), 401, "unauthenticated") })
	checks("new password", 1, func() { wantStatus(t, "new", me("script password 2"), 200, "") })
}

// TestLoginTenantRequired: when an email and password match accounts in
// several tenants, a login must name the tenant (tenant_id, or the
// X-Magpie-Tenant header with Basic credentials).
func TestLoginTenantRequired(t *testing.T) {
	e := newEnv(t)
	op := e.consoleLogin("op@example.com", e.boot.OperatorPassword)
	inA := e.addMember(op, e.a.TenantID, "ann@example.com", "owner", "shared password!")
	inB := e.addMember(op, e.b.TenantID, "ann@example.com", "viewer", "shared password!")

	r := e.consoleLoginAs("ann@example.com", "shared password!", "", "")
	wantStatus(t, "ambiguous login", r, 400, "tenant_required")
	if f := r.json(t)["error"].(map[string]any)["field"]; f != "tenant_id" {
		t.Fatalf("ambiguous login: field %v, want tenant_id", f)
	}
	for tenantID, member := range map[string]string{e.a.TenantID: inA, e.b.TenantID: inB} {
		r := e.consoleLoginAs("ann@example.com", "shared password!", tenantID, "")
		wantStatus(t, "login to "+tenantID, r, 201, "")
		if _, got := e.meOf(r.json(t)["token"].(string)); got != member {
			t.Errorf("login to %s = member %s, want %s", tenantID, got, member)
		}
	}
	wantStatus(t, "login to a tenant without the account", e.consoleLoginAs("ann@example.com", "shared password!", "tn_other", ""), 401, "bad_credentials")

	auth := basic("ann@example.com", "shared password!")
	r = e.consoleWith("GET", "/manage/v1/me", "", map[string]string{"Authorization": auth})
	wantStatus(t, "ambiguous Basic", r, 400, "tenant_required")
	r = e.consoleWith("GET", "/manage/v1/me", "", map[string]string{"Authorization": auth, "X-Magpie-Tenant": e.b.TenantID})
	wantStatus(t, "Basic with X-Magpie-Tenant", r, 200, "")
	if got := r.json(t)["member"].(map[string]any)["id"]; got != inB {
		t.Fatalf("Basic with X-Magpie-Tenant %s = member %v, want %s", e.b.TenantID, got, inB)
	}
}
