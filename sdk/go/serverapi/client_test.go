package serverapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/signing"
	"github.com/magpie-im/magpie/sdk/go/token"
)

const (
	testAppKey = "mak_test"
	testSecret = "msk_2f9c1e7a5b3d4c6e8f0a1b2c3d4e5f60"
)

var testNow = time.Unix(1767225600, 0)

// received is one request as the fake server saw it.
type received struct {
	method, uri string
	header      http.Header
	body        []byte
}

// fake is a server API stand-in that verifies every request's signature the
// way the real server does, records it, and answers with handler.
type fake struct {
	t       *testing.T
	handler http.HandlerFunc

	mu     sync.Mutex // guards the following fields
	last   received
	nonces map[string]bool
}

// newFake starts a fake answering with handler and returns it with a client
// for it whose clock reads testNow.
func newFake(t *testing.T, handler http.HandlerFunc) (*fake, *Client) {
	t.Helper()
	f := &fake{t: t, handler: handler, nonces: make(map[string]bool)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, testAppKey, testSecret, WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return f, c
}

func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		f.t.Errorf("read request body: %v", err)
	}
	f.mu.Lock()
	f.last = received{method: r.Method, uri: r.RequestURI, header: r.Header.Clone(), body: body}
	err = f.verify(r, body)
	f.mu.Unlock()
	if err != nil {
		f.t.Errorf("%s %s: %v", r.Method, r.RequestURI, err)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.handler(w, r)
}

// verify checks r's signature headers, recomputing the string to sign from
// the request as received. f.mu must be held.
func (f *fake) verify(r *http.Request, body []byte) error {
	if got := r.Header.Get(signing.HeaderAppKey); got != testAppKey {
		return errors.New("app key " + got)
	}
	ts := r.Header.Get(signing.HeaderTimestamp)
	if err := signing.CheckTimestamp(ts, testNow); err != nil {
		return err
	}
	if ts != "1767225600" {
		return errors.New("timestamp " + ts + " not from the injected clock")
	}
	nonce := r.Header.Get(signing.HeaderNonce)
	if !signing.ValidNonce(nonce) || f.nonces[nonce] {
		return errors.New("invalid or repeated nonce " + nonce)
	}
	f.nonces[nonce] = true
	path, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	query, err := signing.CanonicalQuery(rawQuery)
	if err != nil {
		return err
	}
	sts := signing.StringToSign(r.Method, path, query, ts, nonce, body)
	if !signing.Verify(testSecret, sts, r.Header.Get(signing.HeaderSignature)) {
		return errors.New("bad signature for " + strings.ReplaceAll(sts, "\n", `\n`))
	}
	return nil
}

func (f *fake) lastRequest() received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last
}

// reply returns a handler answering status with body as JSON.
func reply(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		return false
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("bad JSON in test: %s", b)
	}
	return reflect.DeepEqual(va, vb)
}

func ptr[T any](v T) *T { return &v }

const aliceJSON = `{"id":"alice","name":"Alice","avatar_url":"https://img.example/a.png",
	"metadata":{"plan":"pro"},"blocked":false,"created_at":"2026-01-01T00:00:00Z",
	"updated_at":"2026-01-02T00:00:00Z","some_future_field":{"x":1}}`

func alice(t *testing.T) User {
	return User{
		ID: "alice", Name: "Alice", AvatarURL: "https://img.example/a.png",
		Metadata:  map[string]string{"plan": "pro"},
		CreatedAt: mustTime(t, "2026-01-01T00:00:00Z"),
		UpdatedAt: mustTime(t, "2026-01-02T00:00:00Z"),
	}
}

// listResult holds ListUsers' results for comparison.
type listResult struct {
	Users []User
	Next  string
}

func TestMethods(t *testing.T) {
	ctx := context.Background()
	blocked := alice(t)
	blocked.Blocked = true
	runMethodCases(t, []methodCase{
		{
			name: "CreateUser",
			call: func(c *Client) (any, error) {
				return c.CreateUser(ctx, UserInput{ID: "alice", Name: "Alice", Metadata: map[string]string{"plan": "pro"}})
			},
			method: "POST", uri: "/v1/users",
			wantBody: `{"id":"alice","name":"Alice","metadata":{"plan":"pro"}}`,
			status:   201, resp: `{"user":` + aliceJSON + `}`, want: alice(t),
		},
		{
			name:   "CreateUser omits empty fields",
			call:   func(c *Client) (any, error) { return c.CreateUser(ctx, UserInput{ID: "bob"}) },
			method: "POST", uri: "/v1/users", wantBody: `{"id":"bob"}`,
			status: 201, resp: `{"user":{"id":"bob"}}`, want: User{ID: "bob"},
		},
		{
			name: "ImportUsers",
			call: func(c *Client) (any, error) {
				return c.ImportUsers(ctx, []UserInput{{ID: "a"}, {ID: "b", Name: "B"}, {ID: "c"}})
			},
			method: "POST", uri: "/v1/users:import",
			wantBody: `{"users":[{"id":"a"},{"id":"b","name":"B"},{"id":"c"}]}`,
			status:   200,
			resp: `{"results":[{"id":"a","status":"created"},{"id":"b","status":"exists"},
				{"id":"c","status":"error","error":{"code":"invalid_argument","message":"bad"}}]}`,
			want: []ImportResult{
				{ID: "a", Status: ImportCreated},
				{ID: "b", Status: ImportExists},
				{ID: "c", Status: ImportFailed, Error: &ImportError{Code: "invalid_argument", Message: "bad"}},
			},
		},
		{
			name:   "ImportUsers nil sends an empty list",
			call:   func(c *Client) (any, error) { return c.ImportUsers(ctx, nil) },
			method: "POST", uri: "/v1/users:import", wantBody: `{"users":[]}`,
			status: 200, resp: `{"results":[]}`, want: []ImportResult{},
		},
		{
			name:   "GetUser",
			call:   func(c *Client) (any, error) { return c.GetUser(ctx, "alice") },
			method: "GET", uri: "/v1/users/alice",
			status: 200, resp: `{"user":` + aliceJSON + `}`, want: alice(t),
		},
		{
			name:   "GetUser keeps @ as sent",
			call:   func(c *Client) (any, error) { return c.GetUser(ctx, "alice@example.com") },
			method: "GET", uri: "/v1/users/alice@example.com",
			status: 200, resp: `{"user":{"id":"alice@example.com"}}`, want: User{ID: "alice@example.com"},
		},
		{
			name:   "GetUser escapes slash and space",
			call:   func(c *Client) (any, error) { return c.GetUser(ctx, "a/b c?") },
			method: "GET", uri: "/v1/users/a%2Fb%20c%3F",
			status: 200, resp: `{"user":{"id":"a/b c?"}}`, want: User{ID: "a/b c?"},
		},
		{
			name: "UpdateUser",
			call: func(c *Client) (any, error) {
				return c.UpdateUser(ctx, "alice", UserUpdate{Name: ptr("Alice"), Metadata: map[string]string{}})
			},
			method: "PATCH", uri: "/v1/users/alice", wantBody: `{"name":"Alice","metadata":{}}`,
			status: 200, resp: `{"user":` + aliceJSON + `}`, want: alice(t),
		},
		{
			name: "UpdateUser clears avatar",
			call: func(c *Client) (any, error) {
				return c.UpdateUser(ctx, "alice", UserUpdate{AvatarURL: ptr("")})
			},
			method: "PATCH", uri: "/v1/users/alice", wantBody: `{"avatar_url":""}`,
			status: 200, resp: `{"user":{"id":"alice"}}`, want: User{ID: "alice"},
		},
		{
			name:   "DeleteUser",
			call:   func(c *Client) (any, error) { return nil, c.DeleteUser(ctx, "alice") },
			method: "DELETE", uri: "/v1/users/alice",
			status: 204, want: nil,
		},
		{
			name:   "DeleteUser with erasure",
			call:   func(c *Client) (any, error) { return nil, c.DeleteUser(ctx, "alice", EraseMessages()) },
			method: "DELETE", uri: "/v1/users/alice?erase_messages=true",
			status: 204, want: nil,
		},
		{
			name: "ListUsers first page",
			call: func(c *Client) (any, error) {
				users, next, err := c.ListUsers(ctx, "", 0)
				return listResult{users, next}, err
			},
			method: "GET", uri: "/v1/users",
			status: 200, resp: `{"users":[` + aliceJSON + `],"next_cursor":"YWJj=="}`,
			want: listResult{[]User{alice(t)}, "YWJj=="},
		},
		{
			name: "ListUsers next page",
			call: func(c *Client) (any, error) {
				users, next, err := c.ListUsers(ctx, "YWJj==", 20)
				return listResult{users, next}, err
			},
			method: "GET", uri: "/v1/users?cursor=YWJj%3D%3D&limit=20",
			status: 200, resp: `{"users":[],"next_cursor":""}`,
			want: listResult{[]User{}, ""},
		},
		{
			name:   "BlockUser",
			call:   func(c *Client) (any, error) { return c.BlockUser(ctx, "alice") },
			method: "POST", uri: "/v1/users/alice:block",
			status: 200, resp: `{"user":` + strings.Replace(aliceJSON, `"blocked":false`, `"blocked":true`, 1) + `}`,
			want: blocked,
		},
		{
			name:   "UnblockUser",
			call:   func(c *Client) (any, error) { return c.UnblockUser(ctx, "alice") },
			method: "POST", uri: "/v1/users/alice:unblock",
			status: 200, resp: `{"user":` + aliceJSON + `}`, want: alice(t),
		},
		{
			name:   "IssueToken",
			call:   func(c *Client) (any, error) { return c.IssueToken(ctx, "alice", time.Hour) },
			method: "POST", uri: "/v1/users/alice/tokens", wantBody: `{"ttl_seconds":3600}`,
			status: 201, resp: `{"token":"t.o.k","expires_at":"2026-01-01T01:00:00Z"}`,
			want: Token{Token: "t.o.k", ExpiresAt: mustTime(t, "2026-01-01T01:00:00Z")},
		},
		{
			name:   "IssueToken rounds ttl up",
			call:   func(c *Client) (any, error) { return c.IssueToken(ctx, "alice", 1500*time.Millisecond) },
			method: "POST", uri: "/v1/users/alice/tokens", wantBody: `{"ttl_seconds":2}`,
			status: 201, resp: `{"token":"t","expires_at":"2026-01-01T00:00:02Z"}`,
			want: Token{Token: "t", ExpiresAt: mustTime(t, "2026-01-01T00:00:02Z")},
		},
		{
			name:   "IssueToken default ttl",
			call:   func(c *Client) (any, error) { return c.IssueToken(ctx, "alice@example.com", 0) },
			method: "POST", uri: "/v1/users/alice@example.com/tokens", wantBody: `{}`,
			status: 201, resp: `{"token":"t","expires_at":"2026-01-01T01:00:00Z"}`,
			want: Token{Token: "t", ExpiresAt: mustTime(t, "2026-01-01T01:00:00Z")},
		},
		{
			name:   "RevokeTokens",
			call:   func(c *Client) (any, error) { return c.RevokeTokens(ctx, "alice") },
			method: "POST", uri: "/v1/users/alice/tokens:revoke",
			status: 200, resp: `{"revoked_before":"2026-01-01T00:00:00Z"}`,
			want: mustTime(t, "2026-01-01T00:00:00Z"),
		},
	})
}

// methodCase is a call and the request and response it makes.
type methodCase struct {
	name     string
	call     func(c *Client) (any, error)
	method   string
	uri      string // request target as received
	wantBody string // expected JSON body; empty for none
	status   int
	resp     string
	want     any
}

// runMethodCases runs each case against a fake answering its status and
// response, and checks the result and the request.
func runMethodCases(t *testing.T, tests []methodCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFake(t, reply(tt.status, tt.resp))
			got, err := tt.call(c)
			if err != nil {
				t.Fatalf("call error: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("result = %+v, want %+v", got, tt.want)
			}
			req := f.lastRequest()
			if req.method != tt.method || req.uri != tt.uri {
				t.Errorf("request = %s %s, want %s %s", req.method, req.uri, tt.method, tt.uri)
			}
			if tt.wantBody == "" {
				if len(req.body) != 0 || req.header.Get("Content-Type") != "" {
					t.Errorf("request body = %q (Content-Type %q), want none", req.body, req.header.Get("Content-Type"))
				}
				return
			}
			if !jsonEqual(t, req.body, []byte(tt.wantBody)) {
				t.Errorf("request body = %s, want %s", req.body, tt.wantBody)
			}
			if ct := req.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    Error
		retry   bool
	}{
		{
			name: "not found with field",
			handler: reply(404, `{"error":{"code":"not_found","message":"no such user",
				"request_id":"req_1","field":"id","extra":true}}`),
			want: Error{Status: 404, Code: "not_found", Message: "no such user", RequestID: "req_1", Field: "id"},
		},
		{
			name: "rate limited",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "7")
				reply(429, `{"error":{"code":"rate_limited","message":"slow down","request_id":"req_2"}}`)(w, r)
			},
			want:  Error{Status: 429, Code: "rate_limited", Message: "slow down", RequestID: "req_2", RetryAfter: 7 * time.Second},
			retry: true,
		},
		{
			name: "unavailable, not JSON, Retry-After date",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", testNow.Add(30*time.Second).UTC().Format(http.TimeFormat))
				w.Header().Set("X-Request-Id", "req_3")
				w.WriteHeader(503)
				io.WriteString(w, "upstream down")
			},
			want:  Error{Status: 503, Message: "Service Unavailable", RequestID: "req_3", RetryAfter: 30 * time.Second},
			retry: true,
		},
		{
			name: "bad Retry-After ignored",
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "soon")
				reply(500, `{"error":{"code":"internal","message":"oops"}}`)(w, r)
			},
			want:  Error{Status: 500, Code: "internal", Message: "oops"},
			retry: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := newFake(t, tt.handler)
			_, err := c.GetUser(ctx, "alice")
			var apiErr *Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("GetUser error = %v (%T), want *Error", err, err)
			}
			if *apiErr != tt.want {
				t.Errorf("GetUser error = %+v, want %+v", *apiErr, tt.want)
			}
			if apiErr.Retryable() != tt.retry {
				t.Errorf("Retryable() = %v, want %v", apiErr.Retryable(), tt.retry)
			}
			if msg := apiErr.Error(); !strings.Contains(msg, tt.want.Code) || !strings.Contains(msg, tt.want.RequestID) {
				t.Errorf("Error() = %q, want code %q and request id %q in it", msg, tt.want.Code, tt.want.RequestID)
			}
		})
	}
}

func TestIdempotencyKey(t *testing.T) {
	f, c := newFake(t, reply(201, `{"user":{"id":"alice"}}`))
	ctx := context.Background()
	if _, err := c.CreateUser(ctx, UserInput{ID: "alice"}, IdempotencyKey("signup-alice-1")); err != nil {
		t.Fatal(err)
	}
	if got := f.lastRequest().header.Get("Idempotency-Key"); got != "signup-alice-1" {
		t.Errorf("Idempotency-Key = %q, want %q", got, "signup-alice-1")
	}
	if _, err := c.CreateUser(ctx, UserInput{ID: "alice"}); err != nil {
		t.Fatal(err)
	}
	if got, ok := f.lastRequest().header["Idempotency-Key"]; ok {
		t.Errorf("Idempotency-Key = %q without the option, want absent", got)
	}
}

// TestBasePathPrefix checks that a base URL's path is kept and signed.
func TestBasePathPrefix(t *testing.T) {
	f := &fake{t: t, handler: reply(200, `{"user":{"id":"alice"}}`), nonces: make(map[string]bool)}
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := New(srv.URL+"/magpie/", testAppKey, testSecret, WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUser(context.Background(), "alice"); err != nil {
		t.Fatal(err)
	}
	if got := f.lastRequest().uri; got != "/magpie/v1/users/alice" {
		t.Errorf("request target = %q, want /magpie/v1/users/alice", got)
	}
}

// TestLocalErrors checks arguments rejected before any request.
func TestLocalErrors(t *testing.T) {
	_, c := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.RequestURI)
	})
	ctx := context.Background()
	calls := map[string]func() error{
		"GetUser empty id":      func() error { _, err := c.GetUser(ctx, ""); return err },
		"DeleteUser empty id":   func() error { return c.DeleteUser(ctx, "") },
		"BlockUser empty id":    func() error { _, err := c.BlockUser(ctx, ""); return err },
		"IssueToken empty id":   func() error { _, err := c.IssueToken(ctx, "", time.Hour); return err },
		"IssueToken negative":   func() error { _, err := c.IssueToken(ctx, "alice", -time.Second); return err },
		"RevokeTokens empty id": func() error { _, err := c.RevokeTokens(ctx, ""); return err },
		"ListUsers negative":    func() error { _, _, err := c.ListUsers(ctx, "", -1); return err },
		"MintToken bad user":    func() error { _, err := c.MintToken("a b", time.Hour); return err },
		"MintToken zero ttl":    func() error { _, err := c.MintToken("alice", 0); return err },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s = nil, want error", name)
		}
	}
}

func TestTransportErrors(t *testing.T) {
	_, c := newFake(t, reply(200, `{"user":`))
	if _, err := c.GetUser(context.Background(), "alice"); err == nil || errors.As(err, new(*Error)) {
		t.Errorf("GetUser(truncated JSON) = %v, want a decode error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.GetUser(ctx, "alice"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetUser(canceled ctx) = %v, want context.Canceled", err)
	}
}

func TestMintToken(t *testing.T) {
	c, err := New("https://api.magpie.example", testAppKey, testSecret, WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.MintToken("alice@example.com", time.Hour)
	if err != nil {
		t.Fatalf("MintToken: %v", err)
	}
	if want := testNow.Add(time.Hour); !tok.ExpiresAt.Equal(want) {
		t.Errorf("MintToken expiry = %v, want %v", tok.ExpiresAt, want)
	}
	claims, err := token.Parse(tok.Token, testAppKey, []string{testSecret}, testNow)
	if err != nil {
		t.Fatalf("token.Parse(minted) = %v", err)
	}
	if claims.UserID != "alice@example.com" || !claims.IssuedAt.Equal(testNow) {
		t.Errorf("claims = %+v, want user alice@example.com issued at %v", claims, testNow)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name, base, key, secret string
		ok                      bool
	}{
		{"https", "https://api.magpie.example", "k", "s", true},
		{"with prefix", "http://127.0.0.1:8080/magpie/", "k", "s", true},
		{"no scheme", "api.magpie.example", "k", "s", false},
		{"ftp", "ftp://api.magpie.example", "k", "s", false},
		{"no host", "https:///v1", "k", "s", false},
		{"query", "https://api.magpie.example?x=1", "k", "s", false},
		{"bad url", "https://[::1", "k", "s", false},
		{"no key", "https://api.magpie.example", "", "s", false},
		{"no secret", "https://api.magpie.example", "k", "", false},
	}
	for _, tt := range tests {
		_, err := New(tt.base, tt.key, tt.secret)
		if (err == nil) != tt.ok {
			t.Errorf("New(%q, %q, %q) [%s] = %v, want ok=%v", tt.base, tt.key, tt.secret, tt.name, err, tt.ok)
		}
	}
}
