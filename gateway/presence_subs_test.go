package gateway_test

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// discardPresence is a node.PresenceEvents that drops the events (the
// presence webhooks' side).
type discardPresence struct{}

func (discardPresence) UserPresence(string, string, bool, time.Time) {}

func subscribePresence(ids []string, friends bool) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_SubscribePresence{SubscribePresence: &magpiev1.SubscribePresence{
		UserIds: ids, Friends: friends}}}
}

// nextPresence waits for the next UserPresence push.
func (c *wsClient) nextPresence() *magpiev1.UserPresence {
	c.t.Helper()
	return c.push(func(f *magpiev1.Frame) bool { return f.GetUserPresence() != nil }).GetUserPresence()
}

// presenceStates renders a PresencePage's users as "id:online" or
// "id:offline".
func presenceStates(ps []*magpiev1.UserPresence) []string {
	var out []string
	for _, p := range ps {
		state := "offline"
		if p.GetOnline() {
			state = "online"
		}
		out = append(out, p.GetUserId()+":"+state)
	}
	return out
}

// TestPresenceSubscription: a user watches its friends' presence over the
// client protocol and gets a push when one comes online or goes offline
// (with its last seen time, which the store keeps). Strangers, users who
// block it, unknown users and another app's users are refused alike and
// never reported; a friendship that ends stops the pushes; bad input is
// refused.
func TestPresenceSubscription(t *testing.T) {
	const debounce = 50 * time.Millisecond
	e := newEnvConfig(t, envConfig{presence: discardPresence{}, presenceDebounce: debounce},
		func(c *gateway.Config) { c.Node.MaxPresenceWatches = 4 })
	for _, u := range []string{"ann", "bob", "cat", "dan", "eve", "fay"} {
		e.mustCreateUser(e.a, u)
	}
	for _, u := range []string{"ann", "bob", "zed"} {
		e.mustCreateUser(e.b, u)
	}
	call := func(app testApp, method, target, body string, status int) {
		t.Helper()
		if r := e.do(app, req{method: method, target: target, body: body}); r.status != status {
			t.Fatalf("%s %s: %d %s, want %d", method, target, r.status, r.body, status)
		}
	}
	for _, f := range []string{"bob", "cat", "eve", "fay"} {
		call(e.a, "POST", "/v1/users/ann/friends", `{"friend_id":"`+f+`"}`, http.StatusCreated)
	}
	call(e.a, "PUT", "/v1/users/cat/blocks/ann", "", http.StatusOK)
	call(e.b, "POST", "/v1/users/ann/friends", `{"friend_id":"zed"}`, http.StatusCreated)

	ann := e.login(e.a, "ann", "phone")
	eve := e.login(e.a, "eve", "phone") // online before ann watches

	// Bad input changes nothing.
	ann.expectError(ann.request(subscribePresence([]string{"bob", ""}, false)), wire.CodeInvalidArgument)
	ann.expectError(ann.request(subscribePresence([]string{"a", "b", "c", "d", "e"}, false)), wire.CodeInvalidArgument)
	ann.expectError(ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_UnsubscribePresence{UnsubscribePresence: &magpiev1.UnsubscribePresence{
		UserIds: []string{"a", "b", "c", "d", "e"}}}}), wire.CodeInvalidArgument)

	// dan is no friend, cat blocks ann, ghost does not exist, zed is a
	// friend in app B only: all refused alike.
	page := ann.reply(ann.request(subscribePresence([]string{"dan", "ghost", "zed", "bob"}, true))).GetPresencePage()
	if got, want := presenceStates(page.GetUsers()), []string{"bob:offline", "eve:online", "fay:offline"}; !slices.Equal(got, want) {
		t.Errorf("PresencePage users = %q, want %q", got, want)
	}
	if got, want := page.GetRefused(), []string{"cat", "dan", "ghost", "zed"}; !slices.Equal(got, want) {
		t.Errorf("PresencePage refused = %q, want %q", got, want)
	}
	for _, p := range page.GetUsers() {
		if p.GetLastSeenMs() != 0 {
			t.Errorf("%s never went offline, last_seen_ms = %d", p.GetUserId(), p.GetLastSeenMs())
		}
	}

	// App B's bob, the stranger dan and cat, who blocks ann, come online
	// first; app A's bob after them: ann's first push is app A's bob.
	e.login(e.b, "bob", "phone")
	e.login(e.a, "dan", "phone")
	e.login(e.a, "cat", "phone")
	bob := e.login(e.a, "bob", "phone")
	if p := ann.nextPresence(); p.GetUserId() != "bob" || !p.GetOnline() || p.GetLastSeenMs() != 0 {
		t.Fatalf("first presence push = %v, want bob online", p)
	}

	// bob's last session ends: offline after the debounce, with the time
	// the store keeps as his last seen.
	bob.ws.CloseNow()
	p := ann.nextPresence()
	if p.GetUserId() != "bob" || p.GetOnline() || p.GetLastSeenMs() == 0 {
		t.Fatalf("presence push after bob left = %v, want bob offline with a last seen time", p)
	}
	u, err := e.store.App(e.a.ID).GetUser(t.Context(), "bob")
	if err != nil || u.LastSeenAt.UnixMilli() != p.GetLastSeenMs() {
		t.Errorf("stored bob.LastSeenAt = %v, %v, want %d ms", u.LastSeenAt, err, p.GetLastSeenMs())
	}
	if u, err := e.store.App(e.b.ID).GetUser(t.Context(), "bob"); err != nil || !u.LastSeenAt.IsZero() {
		t.Errorf("app B's bob.LastSeenAt = %v, %v, want zero (still online)", u.LastSeenAt, err)
	}
	// A new subscription reads the last seen time.
	page = ann.reply(ann.request(subscribePresence([]string{"bob"}, false))).GetPresencePage()
	if us := page.GetUsers(); len(us) != 1 || us[0].GetOnline() || us[0].GetLastSeenMs() != p.GetLastSeenMs() {
		t.Errorf("PresencePage of bob after he left = %v, want offline, last seen %d", page, p.GetLastSeenMs())
	}

	// The friendship ends: bob's next login is not reported; fay's, after
	// it, is ann's next push.
	call(e.a, "DELETE", "/v1/users/ann/friends/bob", "", http.StatusNoContent)
	e.login(e.a, "bob", "laptop")
	fay := e.login(e.a, "fay", "phone")
	if p := ann.nextPresence(); p.GetUserId() != "fay" || !p.GetOnline() {
		t.Fatalf("presence push after the friendship ended = %v, want fay online", p)
	}

	// Unsubscribed from eve: her going offline is not reported. Once the
	// store has her last seen time her change has been applied, and fay's
	// going offline, after it, is ann's next push.
	ann.reply(ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_UnsubscribePresence{UnsubscribePresence: &magpiev1.UnsubscribePresence{
		UserIds: []string{"eve"}}}}))
	eve.ws.CloseNow()
	waitLastSeen(t, e, "eve")
	fay.ws.CloseNow()
	if p := ann.nextPresence(); p.GetUserId() != "fay" || p.GetOnline() {
		t.Fatalf("presence push after unsubscribing eve = %v, want fay offline", p)
	}
}

// waitLastSeen polls until the store has a last seen time of the user.
func waitLastSeen(t *testing.T, e *env, user string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		u, err := e.store.App(e.a.ID).GetUser(t.Context(), user)
		if err != nil {
			t.Fatal(err)
		}
		if !u.LastSeenAt.IsZero() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no last seen time of %s within 10 s", user)
}
