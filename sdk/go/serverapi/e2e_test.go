package serverapi_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/magpie-im/magpie/internal/embedded"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/sdk/go/token"
	"github.com/magpie-im/magpie/sdk/go/wire"
	"github.com/magpie-im/magpie/tenant"
)

// waitLimit bounds every wait for the server or a WebSocket client.
const waitLimit = 10 * time.Second

// TestMain checks that no test leaves a goroutine behind: the embedded
// server, the WebSocket clients and the HTTP connections all stop.
func TestMain(m *testing.M) {
	// The WebSocket library of the gateway (nbio) starts two idle pool
	// goroutines when its package is initialised, once per process.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/lesismal/nbio/taskpool.New.func3"))
}

// TestServerAPI drives every method of the SDK against a real embedded
// server. Each subtest works in an app of its own, so they run in parallel.
func TestServerAPI(t *testing.T) {
	s := startServer(t)
	tests := []struct {
		name string
		run  func(*testing.T, *embedded.Server)
	}{
		{"user_lifecycle", testUserLifecycle},
		{"list_pages", testListPages},
		{"import", testImport},
		{"issue_token", testIssueToken},
		{"mint_and_revoke", testMintAndRevoke},
		{"user_exists", testUserExists},
		{"validation", testValidation},
		{"local_errors", testLocalErrors},
		{"idempotency", testIdempotency},
		{"secret_rotation", testSecretRotation},
		{"cross_app", testCrossApp},
		{"rate_limit", testRateLimit},
		{"send_message", testSendMessage},
		{"search_messages", testSearchMessages},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, s)
		})
	}
}

// startServer starts an embedded server on a free port of 127.0.0.1 and
// shuts it down, within waitLimit, when the test ends.
func startServer(t *testing.T) *embedded.Server {
	t.Helper()
	cfg := embedded.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), PasswordCost: 4} // bcrypt.MinCost
	s, err := embedded.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("embedded.Start = %v, want nil", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown = %v, want nil", err)
		}
	})
	return s
}

// app is an app of the test server with a server API client for it.
type app struct {
	id, key, secret string
	api             *serverapi.Client
}

// bootstrapApp returns the demo app the server created on first start.
func bootstrapApp(t *testing.T, s *embedded.Server) app {
	t.Helper()
	b := s.Bootstrap
	return app{id: b.AppID, key: b.AppKey, secret: b.AppSecret, api: newAPI(t, s, b.AppKey, b.AppSecret)}
}

// newApp creates a tenant and an app in it, both called name.
func newApp(t *testing.T, s *embedded.Server, name string) app {
	t.Helper()
	tn, err := s.Tenants.CreateTenant(t.Context(), name)
	if err != nil {
		t.Fatalf("CreateTenant(%q) = %v, want nil", name, err)
	}
	a, sec, err := s.Tenants.CreateApp(t.Context(), tn.ID, name)
	if err != nil {
		t.Fatalf("CreateApp(%q) = %v, want nil", name, err)
	}
	return app{id: a.ID, key: a.Key, secret: sec.Plain, api: newAPI(t, s, a.Key, sec.Plain)}
}

func newAPI(t *testing.T, s *embedded.Server, key, secret string) *serverapi.Client {
	t.Helper()
	api, err := serverapi.New(s.URL, key, secret)
	if err != nil {
		t.Fatalf("serverapi.New(%q) = %v, want nil", s.URL, err)
	}
	return api
}

// createUsers creates users with the given ids and no profile.
func createUsers(t *testing.T, api *serverapi.Client, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := api.CreateUser(t.Context(), serverapi.UserInput{ID: id}); err != nil {
			t.Fatalf("CreateUser(%q) = %v, want nil", id, err)
		}
	}
}

// wantAPIError checks that err, returned by call, is a *serverapi.Error with
// status and code that names its request, and returns it.
func wantAPIError(t *testing.T, call string, err error, status int, code string) *serverapi.Error {
	t.Helper()
	var e *serverapi.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s = %v, want a *serverapi.Error %d %s", call, err, status, code)
	}
	if e.Status != status || e.Code != code || e.RequestID == "" || e.Message == "" {
		t.Fatalf("%s = %+v, want status %d, code %q, a message and a request id", call, *e, status, code)
	}
	return e
}

// sameProfile reports whether a and b agree on everything but the times. A
// nil and an empty metadata map are the same.
func sameProfile(a, b serverapi.User) bool {
	return a.ID == b.ID && a.Name == b.Name && a.AvatarURL == b.AvatarURL &&
		maps.Equal(a.Metadata, b.Metadata) && a.Blocked == b.Blocked
}

// sameUser reports whether a and b are the same user at the same moment.
func sameUser(a, b serverapi.User) bool {
	return sameProfile(a, b) && a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

// checkStored checks that GetUser returns want.
func checkStored(t *testing.T, api *serverapi.Client, want serverapi.User) {
	t.Helper()
	got, err := api.GetUser(t.Context(), want.ID)
	if err != nil || !sameUser(got, want) {
		t.Fatalf("GetUser(%q) = %+v, %v; want %+v", want.ID, got, err, want)
	}
}

// listAll pages through every user of the app, limit at a time, and
// returns their ids in the order listed.
func listAll(t *testing.T, api *serverapi.Client, limit int) []string {
	t.Helper()
	var ids []string
	cursor := ""
	for page := 1; ; page++ {
		users, next, err := api.ListUsers(t.Context(), cursor, limit)
		if err != nil {
			t.Fatalf("ListUsers(%q, %d) = %v, want nil", cursor, limit, err)
		}
		if len(users) > limit || next != "" && len(users) != limit {
			t.Fatalf("ListUsers(%q, %d) page %d = %d users and next %q; want %d users before the last page",
				cursor, limit, page, len(users), next, limit)
		}
		for _, u := range users {
			ids = append(ids, u.ID)
		}
		if next == "" {
			return ids
		}
		if page > 1000 {
			t.Fatalf("ListUsers(%q, %d) still has a next page after %d pages", cursor, limit, page)
		}
		cursor = next
	}
}

func testUserLifecycle(t *testing.T, s *embedded.Server) {
	api := bootstrapApp(t, s).api
	ctx := t.Context()
	in := serverapi.UserInput{ID: "alice", Name: "Alice", AvatarURL: "https://img.example/alice.png",
		Metadata: map[string]string{"plan": "pro", "team": "red"}}
	created, err := api.CreateUser(ctx, in)
	if err != nil {
		t.Fatalf("CreateUser(%q) = %v, want nil", in.ID, err)
	}
	want := serverapi.User{ID: in.ID, Name: in.Name, AvatarURL: in.AvatarURL, Metadata: in.Metadata}
	if !sameProfile(created, want) || created.CreatedAt.IsZero() || !created.UpdatedAt.Equal(created.CreatedAt) {
		t.Fatalf("CreateUser(%q) = %+v, want %+v created and updated at the same time", in.ID, created, want)
	}
	checkStored(t, api, created)

	name, avatar, empty := "Alice Liddell", "https://img.example/alice-2.png", ""
	steps := []struct {
		what string
		upd  serverapi.UserUpdate
		want serverapi.User
	}{
		{"name and metadata", serverapi.UserUpdate{Name: &name, Metadata: map[string]string{"plan": "free"}},
			serverapi.User{ID: "alice", Name: name, AvatarURL: in.AvatarURL, Metadata: map[string]string{"plan": "free"}}},
		{"avatar only", serverapi.UserUpdate{AvatarURL: &avatar},
			serverapi.User{ID: "alice", Name: name, AvatarURL: avatar, Metadata: map[string]string{"plan": "free"}}},
		{"clear everything", serverapi.UserUpdate{Name: &empty, AvatarURL: &empty, Metadata: map[string]string{}},
			serverapi.User{ID: "alice"}},
	}
	prev := created
	for _, st := range steps {
		got, err := api.UpdateUser(ctx, "alice", st.upd)
		if err != nil {
			t.Fatalf("UpdateUser(%q) of %s = %v, want nil", "alice", st.what, err)
		}
		if !sameProfile(got, st.want) || !got.CreatedAt.Equal(created.CreatedAt) || got.UpdatedAt.Before(prev.UpdatedAt) {
			t.Fatalf("UpdateUser(%q) of %s = %+v, want %+v with the creation time kept and the update time advanced",
				"alice", st.what, got, st.want)
		}
		checkStored(t, api, got)
		prev = got
	}

	blocked, err := api.BlockUser(ctx, "alice")
	if err != nil || !blocked.Blocked {
		t.Fatalf("BlockUser(%q) = %+v, %v; want the user blocked", "alice", blocked, err)
	}
	checkStored(t, api, blocked)
	_, err = api.IssueToken(ctx, "alice", 0)
	wantAPIError(t, `IssueToken("alice") of a blocked user`, err, http.StatusForbidden, "user_blocked")
	unblocked, err := api.UnblockUser(ctx, "alice")
	if err != nil || unblocked.Blocked {
		t.Fatalf("UnblockUser(%q) = %+v, %v; want the user not blocked", "alice", unblocked, err)
	}
	checkStored(t, api, unblocked)
	if _, err := api.IssueToken(ctx, "alice", 0); err != nil {
		t.Fatalf("IssueToken(%q) after UnblockUser = %v, want nil", "alice", err)
	}

	if err := api.DeleteUser(ctx, "alice"); err != nil {
		t.Fatalf("DeleteUser(%q) = %v, want nil", "alice", err)
	}
	_, err = api.GetUser(ctx, "alice")
	wantAPIError(t, `GetUser("alice") after DeleteUser`, err, http.StatusNotFound, "user_not_found")
	err = api.DeleteUser(ctx, "alice")
	wantAPIError(t, `DeleteUser("alice") twice`, err, http.StatusNotFound, "user_not_found")
}

func testListPages(t *testing.T, s *embedded.Server) {
	a := newApp(t, s, "list")
	ids := []string{"zoe", "Bob", "alice", "carol@example.com", "dave.smith", "eve-1", "_frank", "0x"}
	createUsers(t, a.api, ids...)
	want := slices.Sorted(slices.Values(ids)) // byte order, as the server sorts

	for _, limit := range []int{1, 3, len(ids), 200} {
		if got := listAll(t, a.api, limit); !slices.Equal(got, want) {
			t.Errorf("ListUsers paging by %d = %q, want each user once, sorted: %q", limit, got, want)
		}
	}
	users, next, err := a.api.ListUsers(t.Context(), "", 0)
	if err != nil || next != "" || len(users) != len(ids) {
		t.Fatalf("ListUsers(\"\", 0) = %d users, next %q, %v; want all %d on the default page", len(users), next, err, len(ids))
	}
	for _, u := range users {
		if u.CreatedAt.IsZero() || u.Blocked {
			t.Errorf("ListUsers(\"\", 0) lists %+v, want a created, unblocked user", u)
		}
	}
}

func testImport(t *testing.T, s *embedded.Server) {
	a := newApp(t, s, "import")
	ctx := t.Context()
	if _, err := a.api.CreateUser(ctx, serverapi.UserInput{ID: "alice", Name: "Alice"}); err != nil {
		t.Fatalf("CreateUser(%q) = %v, want nil", "alice", err)
	}
	bob := serverapi.UserInput{ID: "bob", Name: "Bob", AvatarURL: "https://img.example/bob.png", Metadata: map[string]string{"k": "v"}}
	batch := []serverapi.UserInput{
		{ID: "alice", Name: "Impostor"},
		bob,
		{ID: "bad id"},
		{ID: "carol", AvatarURL: "javascript:x"},
		{ID: "dave"},
		{ID: "dave", Name: "Second Dave"},
	}
	want := []struct {
		status serverapi.ImportStatus
		code   string // of ImportResult.Error; empty for none
	}{
		{serverapi.ImportExists, ""},
		{serverapi.ImportCreated, ""},
		{serverapi.ImportFailed, "validation_failed"},
		{serverapi.ImportFailed, "validation_failed"},
		{serverapi.ImportCreated, ""},
		{serverapi.ImportExists, ""},
	}
	results, err := a.api.ImportUsers(ctx, batch)
	if err != nil || len(results) != len(batch) {
		t.Fatalf("ImportUsers(%d users) = %+v, %v; want %d results", len(batch), results, err, len(batch))
	}
	for i, r := range results {
		w := want[i]
		badErr := r.Error != nil
		if w.code != "" {
			badErr = r.Error == nil || r.Error.Code != w.code || r.Error.Message == ""
		}
		if r.ID != batch[i].ID || r.Status != w.status || badErr {
			t.Errorf("ImportUsers result %d = %+v (error %v), want id %q, status %q, error code %q",
				i, r, r.Error, batch[i].ID, w.status, w.code)
		}
	}

	for _, w := range []serverapi.User{
		{ID: "alice", Name: "Alice"}, // existing users are left untouched
		{ID: bob.ID, Name: bob.Name, AvatarURL: bob.AvatarURL, Metadata: bob.Metadata},
		{ID: "dave"}, // the first of two entries wins
	} {
		if got, err := a.api.GetUser(ctx, w.ID); err != nil || !sameProfile(got, w) {
			t.Errorf("GetUser(%q) after ImportUsers = %+v, %v; want %+v", w.ID, got, err, w)
		}
	}
	_, err = a.api.GetUser(ctx, "carol")
	wantAPIError(t, `GetUser("carol") after its import failed`, err, http.StatusNotFound, "user_not_found")
	if got, want := listAll(t, a.api, 10), []string{"alice", "bob", "dave"}; !slices.Equal(got, want) {
		t.Errorf("ListUsers after ImportUsers = %q, want %q", got, want)
	}

	tooMany := make([]serverapi.UserInput, 101)
	for i := range tooMany {
		tooMany[i].ID = fmt.Sprintf("u%03d", i)
	}
	for _, users := range [][]serverapi.UserInput{nil, tooMany} {
		_, err := a.api.ImportUsers(ctx, users)
		e := wantAPIError(t, fmt.Sprintf("ImportUsers(%d users)", len(users)), err, http.StatusBadRequest, "validation_failed")
		if e.Field != "users" {
			t.Errorf("ImportUsers(%d users) = %v, want field %q", len(users), e, "users")
		}
	}
}

func testIssueToken(t *testing.T, s *embedded.Server) {
	a := newApp(t, s, "issue")
	ctx := t.Context()
	createUsers(t, a.api, "alice")
	// 59.001 s rounds up to 60 s, the shortest lifetime the server issues.
	for _, ttl := range []time.Duration{time.Hour, 59*time.Second + time.Millisecond, 0} {
		before := time.Now().Truncate(time.Second)
		tok, err := a.api.IssueToken(ctx, "alice", ttl)
		if err != nil {
			t.Fatalf("IssueToken(%q, %v) = %v, want nil", "alice", ttl, err)
		}
		claims, err := token.Parse(tok.Token, a.key, []string{a.secret}, time.Now())
		if err != nil {
			t.Fatalf("token.Parse(IssueToken(%q, %v)) = %v, want nil", "alice", ttl, err)
		}
		if claims.UserID != "alice" || claims.AppKey != a.key || !claims.ExpiresAt.Equal(tok.ExpiresAt) ||
			claims.IssuedAt.Before(before) || claims.ID == "" {
			t.Errorf("IssueToken(%q, %v) = %+v with claims %+v, want a token of alice of %s, expiring at ExpiresAt",
				"alice", ttl, tok, claims, a.key)
		}
		life := claims.ExpiresAt.Sub(claims.IssuedAt)
		wantLife := (ttl + time.Second - 1).Truncate(time.Second) // rounded up
		if ttl == 0 && (life <= 0 || life > token.MaxTTL) || ttl != 0 && life != wantLife {
			t.Errorf("IssueToken(%q, %v) lasts %v, want %v (the server's default if 0)", "alice", ttl, life, wantLife)
		}
	}
	_, err := a.api.IssueToken(ctx, "nobody", time.Hour)
	wantAPIError(t, `IssueToken("nobody")`, err, http.StatusNotFound, "user_not_found")
}

// runClient starts a WebSocket client on device that logs in with tok. It
// returns the client and the channel that receives Run's result; the client
// is closed when the test ends.
func runClient(t *testing.T, s *embedded.Server, device, tok string) (*client.Client, <-chan error) {
	t.Helper()
	c, err := client.New(client.Config{
		URL: s.URL, DeviceID: device,
		TokenProvider: func(context.Context) (string, error) { return tok, nil },
	})
	if err != nil {
		t.Fatalf("client.New(%q) = %v, want nil", device, err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	t.Cleanup(func() { c.Close() }) // waits for Run to return
	return c, done
}

// nextEvent returns the next event of type T, skipping others, within
// waitLimit.
func nextEvent[T client.Event](t *testing.T, c *client.Client) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), waitLimit)
	defer cancel()
	for {
		ev, err := c.Next(ctx)
		if err != nil {
			var zero T
			t.Fatalf("Next waiting for a %T = %v", zero, err)
		}
		if v, ok := ev.(T); ok {
			return v
		}
	}
}

// wantRunClosed waits up to waitLimit for Run to return and checks that it
// returned a terminal *client.CloseError with code.
func wantRunClosed(t *testing.T, what string, done <-chan error, code wire.CloseCode) {
	t.Helper()
	timer := time.NewTimer(waitLimit)
	defer timer.Stop()
	select {
	case err := <-done:
		var ce *client.CloseError
		if !errors.As(err, &ce) || ce.Code != code || ce.Temporary() {
			t.Fatalf("Run of %s = %v, want a terminal *client.CloseError %d (%s)", what, err, int(code), code)
		}
	case <-timer.C:
		t.Fatalf("Run of %s did not return within %v, want a terminal close %d (%s)", what, waitLimit, int(code), code)
	}
}

func testMintAndRevoke(t *testing.T, s *embedded.Server) {
	a := newApp(t, s, "revoke")
	ctx := t.Context()
	createUsers(t, a.api, "carol")
	minted, err := a.api.MintToken("carol", time.Hour)
	if err != nil {
		t.Fatalf("MintToken(%q, 1h) = %v, want nil", "carol", err)
	}
	claims, err := token.Parse(minted.Token, a.key, []string{a.secret}, time.Now())
	if err != nil || claims.UserID != "carol" || !claims.ExpiresAt.Equal(minted.ExpiresAt) {
		t.Fatalf("token.Parse(MintToken(%q)) = %+v, %v; want carol's claims expiring at %v", "carol", claims, err, minted.ExpiresAt)
	}

	// The server accepts the locally minted token.
	phone, phoneDone := runClient(t, s, "carol-phone", minted.Token)
	if conn := nextEvent[client.Connected](t, phone); conn.Session.UserID != "carol" {
		t.Fatalf("Connected with MintToken(%q) = %+v, want a session of carol", "carol", conn)
	}

	cutoff, err := a.api.RevokeTokens(ctx, "carol")
	if err != nil || !claims.IssuedAt.Before(cutoff) {
		t.Fatalf("RevokeTokens(%q) = %v, %v; want a cutoff after the token's issue time %v", "carol", cutoff, err, claims.IssuedAt)
	}
	// The live session ends with token_revoked, for good.
	d := nextEvent[client.Disconnected](t, phone)
	var ce *client.CloseError
	if d.WillRetry || !errors.As(d.Err, &ce) || ce.Code != wire.CloseTokenRevoked {
		t.Fatalf("Disconnected after RevokeTokens = %+v, want close %d without retry", d, int(wire.CloseTokenRevoked))
	}
	wantRunClosed(t, "a session whose token was revoked", phoneDone, wire.CloseTokenRevoked)

	// A new connection with the old token is refused at login.
	_, laptopDone := runClient(t, s, "carol-laptop", minted.Token)
	wantRunClosed(t, "a login with a revoked token", laptopDone, wire.CloseTokenRevoked)

	// A token the server issues after the revocation works.
	fresh, err := a.api.IssueToken(ctx, "carol", 0)
	if err != nil {
		t.Fatalf("IssueToken(%q) after RevokeTokens = %v, want nil", "carol", err)
	}
	tablet, _ := runClient(t, s, "carol-tablet", fresh.Token)
	nextEvent[client.Connected](t, tablet)

	_, err = a.api.RevokeTokens(ctx, "nobody")
	wantAPIError(t, `RevokeTokens("nobody")`, err, http.StatusNotFound, "user_not_found")
}

func testUserExists(t *testing.T, s *embedded.Server) {
	a := newApp(t, s, "exists")
	in := serverapi.UserInput{ID: "alice", Name: "Alice"}
	first, err := a.api.CreateUser(t.Context(), in)
	if err != nil {
		t.Fatalf("CreateUser(%q) = %v, want nil", in.ID, err)
	}
	_, err = a.api.CreateUser(t.Context(), serverapi.UserInput{ID: "alice", Name: "Other"})
	e := wantAPIError(t, `CreateUser("alice") twice`, err, http.StatusConflict, "user_exists")
	if e.Retryable() || e.Field != "" {
		t.Errorf("CreateUser(%q) twice = %+v, want not retryable and no field", "alice", *e)
	}
	checkStored(t, a.api, first)
}

// call is one SDK call for a table of calls.
type call struct {
	name string
	do   func(context.Context) error
}

func testValidation(t *testing.T, s *embedded.Server) {
	a := newApp(t, s, "validation")
	api := a.api
	alice, err := api.CreateUser(t.Context(), serverapi.UserInput{ID: "alice"})
	if err != nil {
		t.Fatalf("CreateUser(%q) = %v, want nil", "alice", err)
	}
	create := func(in serverapi.UserInput) func(context.Context) error {
		return func(ctx context.Context) error { _, err := api.CreateUser(ctx, in); return err }
	}
	manyKeys := map[string]string{}
	for i := range 33 {
		manyKeys[fmt.Sprint("k", i)] = "v"
	}
	bad := "javascript:x"
	// The SDK checks none of these; the server rejects each and names the
	// field.
	tests := []struct {
		call
		field string
	}{
		{call{`CreateUser(id "bad id")`, create(serverapi.UserInput{ID: "bad id"})}, "id"},
		{call{`CreateUser(id "")`, create(serverapi.UserInput{Name: "No One"})}, "id"},
		{call{"CreateUser(id of 65 bytes)", create(serverapi.UserInput{ID: strings.Repeat("x", 65)})}, "id"},
		{call{`CreateUser(avatar "javascript:x")`, create(serverapi.UserInput{ID: "frank", AvatarURL: bad})}, "avatar_url"},
		{call{`CreateUser(avatar "https:///x")`, create(serverapi.UserInput{ID: "frank", AvatarURL: "https:///x"})}, "avatar_url"},
		{call{"CreateUser(name of 129 characters)", create(serverapi.UserInput{ID: "frank", Name: strings.Repeat("é", 129)})}, "name"},
		{call{"CreateUser(33 metadata keys)", create(serverapi.UserInput{ID: "frank", Metadata: manyKeys})}, "metadata"},
		{call{"CreateUser(empty metadata key)", create(serverapi.UserInput{ID: "frank", Metadata: map[string]string{"": "v"}})}, "metadata"},
		{call{`UpdateUser("alice", avatar "javascript:x")`, func(ctx context.Context) error {
			_, err := api.UpdateUser(ctx, "alice", serverapi.UserUpdate{AvatarURL: &bad})
			return err
		}}, "avatar_url"},
		{call{`GetUser("bad id")`, func(ctx context.Context) error { _, err := api.GetUser(ctx, "bad id"); return err }}, "id"},
		{call{`BlockUser("bad id")`, func(ctx context.Context) error { _, err := api.BlockUser(ctx, "bad id"); return err }}, "id"},
		{call{`DeleteUser("bad id")`, func(ctx context.Context) error { return api.DeleteUser(ctx, "bad id") }}, "id"},
		{call{`IssueToken("alice", 59s)`, func(ctx context.Context) error {
			_, err := api.IssueToken(ctx, "alice", 59*time.Second)
			return err
		}}, "ttl_seconds"},
		{call{`IssueToken("alice", 31 days)`, func(ctx context.Context) error {
			_, err := api.IssueToken(ctx, "alice", 31*24*time.Hour)
			return err
		}}, "ttl_seconds"},
		{call{"ListUsers(limit 201)", func(ctx context.Context) error { _, _, err := api.ListUsers(ctx, "", 201); return err }}, "limit"},
		{call{`ListUsers(cursor "!")`, func(ctx context.Context) error { _, _, err := api.ListUsers(ctx, "!", 1); return err }}, "cursor"},
	}
	for _, tc := range tests {
		err := tc.do(t.Context())
		e := wantAPIError(t, tc.name, err, http.StatusBadRequest, "validation_failed")
		if e.Field != tc.field || e.Retryable() {
			t.Errorf("%s = %+v, want field %q, not retryable", tc.name, *e, tc.field)
		}
	}
	_, err = api.GetUser(t.Context(), "frank")
	wantAPIError(t, `GetUser("frank") after invalid creates`, err, http.StatusNotFound, "user_not_found")
	checkStored(t, api, alice) // the invalid update changed nothing
}

func testLocalErrors(t *testing.T, s *embedded.Server) {
	api := newApp(t, s, "local").api
	// The SDK refuses these before sending anything.
	tests := []call{
		{`GetUser("")`, func(ctx context.Context) error { _, err := api.GetUser(ctx, ""); return err }},
		{`UpdateUser("")`, func(ctx context.Context) error { _, err := api.UpdateUser(ctx, "", serverapi.UserUpdate{}); return err }},
		{`DeleteUser("")`, func(ctx context.Context) error { return api.DeleteUser(ctx, "") }},
		{`BlockUser("")`, func(ctx context.Context) error { _, err := api.BlockUser(ctx, ""); return err }},
		{`UnblockUser("")`, func(ctx context.Context) error { _, err := api.UnblockUser(ctx, ""); return err }},
		{`IssueToken("")`, func(ctx context.Context) error { _, err := api.IssueToken(ctx, "", 0); return err }},
		{`IssueToken("alice", -1s)`, func(ctx context.Context) error { _, err := api.IssueToken(ctx, "alice", -time.Second); return err }},
		{`RevokeTokens("")`, func(ctx context.Context) error { _, err := api.RevokeTokens(ctx, ""); return err }},
		{"ListUsers(limit -1)", func(ctx context.Context) error { _, _, err := api.ListUsers(ctx, "", -1); return err }},
		{`MintToken("alice", 0)`, func(context.Context) error { _, err := api.MintToken("alice", 0); return err }},
		{`MintToken("alice", 31 days)`, func(context.Context) error { _, err := api.MintToken("alice", 31*24*time.Hour); return err }},
		{`MintToken("bad id", 1h)`, func(context.Context) error { _, err := api.MintToken("bad id", time.Hour); return err }},
	}
	for _, tc := range tests {
		err := tc.do(t.Context())
		var e *serverapi.Error
		if err == nil || errors.As(err, &e) {
			t.Errorf("%s = %v, want a local error, not a server response", tc.name, err)
		}
	}
}

func testIdempotency(t *testing.T, s *embedded.Server) {
	a := newApp(t, s, "idempotency")
	ctx := t.Context()
	in := serverapi.UserInput{ID: "dora", Name: "Dora", Metadata: map[string]string{"source": "signup"}}
	first, err := a.api.CreateUser(ctx, in, serverapi.IdempotencyKey("k1"))
	if err != nil {
		t.Fatalf("CreateUser(%q, key k1) = %v, want nil", in.ID, err)
	}
	second, err := a.api.CreateUser(ctx, in, serverapi.IdempotencyKey("k1"))
	if err != nil || !sameUser(second, first) {
		t.Fatalf("CreateUser(%q, key k1) again = %+v, %v; want %+v, the first call's user", in.ID, second, err, first)
	}
	if got := listAll(t, a.api, 10); !slices.Equal(got, []string{"dora"}) {
		t.Fatalf("ListUsers after two idempotent creates = %q, want one user", got)
	}

	other := in
	other.Name = "Someone Else"
	_, err = a.api.CreateUser(ctx, other, serverapi.IdempotencyKey("k1"))
	wantAPIError(t, "CreateUser(another body, key k1)", err, http.StatusUnprocessableEntity, "idempotency_key_reused")
	_, err = a.api.CreateUser(ctx, in)
	wantAPIError(t, `CreateUser("dora") without a key`, err, http.StatusConflict, "user_exists")
	_, err = a.api.CreateUser(ctx, in, serverapi.IdempotencyKey("k2"))
	wantAPIError(t, `CreateUser("dora", key k2)`, err, http.StatusConflict, "user_exists")
	_, err = a.api.CreateUser(ctx, serverapi.UserInput{ID: "eli"}, serverapi.IdempotencyKey(strings.Repeat("k", 256)))
	if e := wantAPIError(t, "CreateUser(key of 256 bytes)", err, http.StatusBadRequest, "validation_failed"); e.Field != "Idempotency-Key" {
		t.Errorf("CreateUser(key of 256 bytes) = %+v, want field %q", *e, "Idempotency-Key")
	}
	checkStored(t, a.api, first)
}

func testSecretRotation(t *testing.T, s *embedded.Server) {
	a := newApp(t, s, "rotation")
	ctx := t.Context()
	createUsers(t, a.api, "erin")
	oldMinted, err := a.api.MintToken("erin", time.Hour)
	if err != nil {
		t.Fatalf("MintToken(%q) = %v, want nil", "erin", err)
	}

	ns, err := s.Tenants.RotateSecret(ctx, a.id)
	if err != nil {
		t.Fatalf("RotateSecret(%q) = %v, want nil", a.id, err)
	}
	newAPI := newAPI(t, s, a.key, ns.Plain)
	clients := []struct {
		name string
		api  *serverapi.Client
	}{{"old secret", a.api}, {"new secret", newAPI}}
	for _, c := range clients {
		if _, err := c.api.GetUser(ctx, "erin"); err != nil {
			t.Fatalf("GetUser(%q) with the %s during the overlap = %v, want nil", "erin", c.name, err)
		}
	}
	// The server signs the tokens it issues with the newest secret.
	issued, err := a.api.IssueToken(ctx, "erin", 0)
	if err != nil {
		t.Fatalf("IssueToken(%q) = %v, want nil", "erin", err)
	}
	if _, err := token.Parse(issued.Token, a.key, []string{ns.Plain}, time.Now()); err != nil {
		t.Errorf("token.Parse(IssueToken(%q)) with the new secret = %v, want nil", "erin", err)
	}

	secrets, err := s.Tenants.ListSecrets(ctx, a.id)
	if err != nil {
		t.Fatalf("ListSecrets(%q) = %v, want nil", a.id, err)
	}
	var old []string
	for _, sec := range secrets {
		if sec.Active() && sec.ID != ns.ID {
			old = append(old, sec.ID)
		}
	}
	if len(old) != 1 {
		t.Fatalf("ListSecrets(%q) = %+v, want one active secret besides %s", a.id, secrets, ns.ID)
	}
	if err := s.Tenants.RevokeSecret(ctx, a.id, old[0]); err != nil {
		t.Fatalf("RevokeSecret(%q, %q) = %v, want nil", a.id, old[0], err)
	}

	_, err = a.api.GetUser(ctx, "erin")
	if e := wantAPIError(t, `GetUser("erin") with the revoked secret`, err, http.StatusUnauthorized, "bad_signature"); e.Retryable() {
		t.Errorf("GetUser(%q) with the revoked secret = %+v, want not retryable", "erin", *e)
	}
	if _, err := newAPI.GetUser(ctx, "erin"); err != nil {
		t.Fatalf("GetUser(%q) with the new secret after the revocation = %v, want nil", "erin", err)
	}
	// Tokens signed with the revoked secret no longer log in.
	_, done := runClient(t, s, "erin-phone", oldMinted.Token)
	wantRunClosed(t, "a login with a token of a revoked secret", done, wire.CloseBadToken)
}

// userCalls returns every SDK call that acts on the user with id, the
// deletion last.
func userCalls(api *serverapi.Client, id string) []call {
	name := "Renamed"
	q := func(method string) string { return fmt.Sprintf("%s(%q)", method, id) }
	return []call{
		{q("GetUser"), func(ctx context.Context) error { _, err := api.GetUser(ctx, id); return err }},
		{q("UpdateUser"), func(ctx context.Context) error {
			_, err := api.UpdateUser(ctx, id, serverapi.UserUpdate{Name: &name})
			return err
		}},
		{q("BlockUser"), func(ctx context.Context) error { _, err := api.BlockUser(ctx, id); return err }},
		{q("UnblockUser"), func(ctx context.Context) error { _, err := api.UnblockUser(ctx, id); return err }},
		{q("IssueToken"), func(ctx context.Context) error { _, err := api.IssueToken(ctx, id, 0); return err }},
		{q("RevokeTokens"), func(ctx context.Context) error { _, err := api.RevokeTokens(ctx, id); return err }},
		{q("DeleteUser"), func(ctx context.Context) error { return api.DeleteUser(ctx, id) }},
	}
}

func testCrossApp(t *testing.T, s *embedded.Server) {
	appA, appB := newApp(t, s, "app-a"), newApp(t, s, "app-b")
	ctx := t.Context()
	alice, err := appA.api.CreateUser(ctx, serverapi.UserInput{ID: "alice", Name: "Alice of A"})
	if err != nil {
		t.Fatalf("CreateUser(%q) in app A = %v, want nil", "alice", err)
	}
	createUsers(t, appA.api, "bob")

	// Every call on a user that does not exist answers the same: app B
	// cannot even learn that app A has an alice.
	for _, c := range userCalls(appB.api, "alice") {
		wantAPIError(t, c.name+" from app B", c.do(ctx), http.StatusNotFound, "user_not_found")
	}
	for _, c := range userCalls(appA.api, "nobody") {
		wantAPIError(t, c.name+" in app A", c.do(ctx), http.StatusNotFound, "user_not_found")
	}
	if got := listAll(t, appB.api, 10); len(got) != 0 {
		t.Fatalf("ListUsers in app B = %q, want none of app A's users", got)
	}

	// The same ids are free in app B, and using them there leaves app A's
	// users alone.
	if _, err := appB.api.CreateUser(ctx, serverapi.UserInput{ID: "alice", Name: "Alice of B"}); err != nil {
		t.Fatalf("CreateUser(%q) in app B = %v, want nil", "alice", err)
	}
	res, err := appB.api.ImportUsers(ctx, []serverapi.UserInput{{ID: "bob"}})
	if err != nil || len(res) != 1 || res[0].Status != serverapi.ImportCreated {
		t.Fatalf("ImportUsers(%q) in app B = %+v, %v; want created", "bob", res, err)
	}
	if _, err := appB.api.BlockUser(ctx, "alice"); err != nil {
		t.Fatalf("BlockUser(%q) in app B = %v, want nil", "alice", err)
	}
	if err := appB.api.DeleteUser(ctx, "bob"); err != nil {
		t.Fatalf("DeleteUser(%q) in app B = %v, want nil", "bob", err)
	}
	checkStored(t, appA.api, alice)
	if got, want := listAll(t, appA.api, 10), []string{"alice", "bob"}; !slices.Equal(got, want) {
		t.Errorf("ListUsers in app A = %q, want %q", got, want)
	}
	if got, want := listAll(t, appB.api, 10), []string{"alice"}; !slices.Equal(got, want) {
		t.Errorf("ListUsers in app B = %q, want %q", got, want)
	}
}

func testRateLimit(t *testing.T, s *embedded.Server) {
	limited, other := newApp(t, s, "limited"), newApp(t, s, "neighbour")
	ctx := t.Context()
	limits := store.Limits{APIRate: 1, APIBurst: 3}
	if _, err := s.Tenants.UpdateApp(ctx, limited.id, tenant.AppUpdate{Limits: &limits}); err != nil {
		t.Fatalf("UpdateApp(%q, limits %+v) = %v, want nil", limited.id, limits, err)
	}
	// The app's bucket starts full, so the first APIBurst calls pass; at
	// one call a second the bucket then runs dry.
	var limitErr *serverapi.Error
	passed := 0
	for range 1000 {
		_, _, err := limited.api.ListUsers(ctx, "", 1)
		if err == nil {
			passed++
			continue
		}
		limitErr = wantAPIError(t, fmt.Sprintf("ListUsers after %d calls", passed), err, http.StatusTooManyRequests, "rate_limited")
		break
	}
	if limitErr == nil {
		t.Fatalf("ListUsers passed %d times in a row, want rate_limited at %v calls a second", passed, limits.APIRate)
	}
	if passed < limits.APIBurst {
		t.Errorf("ListUsers was rate limited after %d calls, want at least the burst of %d", passed, limits.APIBurst)
	}
	if !limitErr.Retryable() || limitErr.RetryAfter <= 0 || limitErr.RetryAfter > time.Second {
		t.Errorf("rate limited ListUsers = %+v, Retryable() = %v; want retryable after (0, 1s] at one call a second",
			*limitErr, limitErr.Retryable())
	}
	// Another app has a bucket of its own.
	if _, _, err := other.api.ListUsers(ctx, "", 1); err != nil {
		t.Errorf("ListUsers in another app = %v, want nil", err)
	}
}

// testSendMessage sends without push options, which the server has taken
// since before push; the push routes and the push object are tested
// against a fake (push_test.go) until the server has them.
func testSendMessage(t *testing.T, s *embedded.Server) {
	a := newApp(t, s, "messages")
	createUsers(t, a.api, "alice", "bob")
	ctx := t.Context()
	in := serverapi.MessageInput{FromUserID: "alice", ToUserID: "bob", Type: "text", Content: "hi"}
	first, err := a.api.SendMessage(ctx, in, serverapi.IdempotencyKey("send-1"))
	if err != nil {
		t.Fatalf("SendMessage = %v, want nil", err)
	}
	m := first.Message
	if first.Duplicate || m.ConvID != "p:alice:bob" || m.Seq != 1 || m.SenderID != "alice" || m.Content != "hi" || m.ClientMsgID == "" || m.CreatedAt.IsZero() {
		t.Fatalf("SendMessage = %+v, want seq 1 of p:alice:bob from alice", first)
	}
	// The key replays the first response.
	again, err := a.api.SendMessage(ctx, in, serverapi.IdempotencyKey("send-1"))
	if err != nil || again != first {
		t.Fatalf("SendMessage again with the key = %+v, %v; want the first response %+v", again, err, first)
	}
	// The same client message id is a duplicate.
	in.ClientMsgID = m.ClientMsgID
	dup, err := a.api.SendMessage(ctx, in)
	if err != nil || !dup.Duplicate || dup.Message.Seq != 1 {
		t.Fatalf("SendMessage with the first's client message id = %+v, %v; want seq 1, a duplicate", dup, err)
	}
	_, err = a.api.SendMessage(ctx, serverapi.MessageInput{FromUserID: "alice", ToUserID: "nobody", Type: "text", Content: "hi"})
	wantAPIError(t, "SendMessage to nobody", err, http.StatusNotFound, "user_not_found")
}

func testSearchMessages(t *testing.T, s *embedded.Server) {
	a := newApp(t, s, "search")
	createUsers(t, a.api, "alice", "bob", "carol")
	ctx := t.Context()
	for i, text := range []string{"Invoice #1 attached", "the invoice is late", "发票已经寄出", "hello"} {
		if _, err := a.api.SendMessage(ctx, serverapi.MessageInput{FromUserID: "alice", ToUserID: "bob", Type: "text",
			Content: text, ClientMsgID: fmt.Sprintf("s%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.api.SendMessage(ctx, serverapi.MessageInput{FromUserID: "carol", ToUserID: "bob", Type: "text", Content: "invoice from carol"}); err != nil {
		t.Fatal(err)
	}
	var got []string
	opts := serverapi.SearchOptions{Limit: 1, ConvID: "p:alice:bob", Types: []string{"text"}, From: time.Unix(0, 0)}
	for range 5 {
		page, err := a.api.SearchMessages(ctx, "bob", "invoice", opts)
		if err != nil {
			t.Fatalf("SearchMessages = %v", err)
		}
		for _, m := range page.Messages {
			got = append(got, m.Content)
		}
		if opts.Cursor = page.NextCursor; opts.Cursor == "" {
			break
		}
	}
	if strings.Join(got, "|") != "the invoice is late|Invoice #1 attached" {
		t.Errorf("pages = %q", got)
	}
	page, err := a.api.SearchMessages(ctx, "bob", "发票", serverapi.SearchOptions{})
	if err != nil || len(page.Messages) != 1 || page.NextCursor != "" {
		t.Errorf("SearchMessages(发票) = %+v, %v", page, err)
	}
	page, err = a.api.SearchMessages(ctx, "alice", "invoice", serverapi.SearchOptions{})
	if err != nil || len(page.Messages) != 2 {
		t.Errorf("alice's SearchMessages(invoice) = %+v, %v, want her two", page, err)
	}
	_, err = a.api.SearchMessages(ctx, "alice", "invoice", serverapi.SearchOptions{ConvID: "p:bob:carol"})
	wantAPIError(t, "SearchMessages in another's conversation", err, http.StatusForbidden, "forbidden")
	_, err = a.api.SearchMessages(ctx, "alice", "-", serverapi.SearchOptions{})
	wantAPIError(t, "SearchMessages(-)", err, http.StatusBadRequest, "validation_failed")
	_, err = a.api.SearchMessages(ctx, "nobody", "invoice", serverapi.SearchOptions{})
	wantAPIError(t, "SearchMessages as nobody", err, http.StatusNotFound, "user_not_found")
}
