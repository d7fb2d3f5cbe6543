package cluster_test

import (
	"slices"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store/mongo"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// TestPresenceAcrossGateways: a user on one gateway watches a friend who
// connects to and leaves another; each change reaches the watcher through
// the Redis presence registry and the bus's broadcast, and the friend's
// last seen time is stored. A user who is no friend is refused.
func TestPresenceAcrossGateways(t *testing.T) {
	e := newEnv(t, nil)
	e.deps.Webhooks.PresenceDebounce = 100 * time.Millisecond
	a, b := e.gateway(t), e.gateway(t)
	for _, u := range []string{"ann", "bob", "cat"} {
		e.user(t, a, u)
	}
	st, err := mongo.Open(t.Context(), e.deps.MongoURL, e.deps.MongoDB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.App(e.boot.AppID).AddFriendship(t.Context(), "ann", "bob", time.Now(), 0); err != nil {
		t.Fatal(err)
	}

	ann := e.connect(t, a, "ann", "phone")
	id := ann.nextID()
	ann.write(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_SubscribePresence{SubscribePresence: &magpiev1.SubscribePresence{
		UserIds: []string{"bob", "cat"}}}})
	page := ann.next(func(f *magpiev1.Frame) bool { return f.GetId() == id }).GetPresencePage()
	if us := page.GetUsers(); len(us) != 1 || us[0].GetUserId() != "bob" || us[0].GetOnline() {
		t.Fatalf("PresencePage users = %v, want bob offline", us)
	}
	if !slices.Equal(page.GetRefused(), []string{"cat"}) {
		t.Fatalf("PresencePage refused = %q, want [cat]", page.GetRefused())
	}
	presence := func() *magpiev1.UserPresence {
		t.Helper()
		return ann.next(func(f *magpiev1.Frame) bool { return f.GetUserPresence() != nil }).GetUserPresence()
	}

	e.connect(t, b, "cat", "phone")
	bob := e.connect(t, b, "bob", "phone")
	if p := presence(); p.GetUserId() != "bob" || !p.GetOnline() {
		t.Fatalf("presence push = %v, want bob online", p)
	}
	bob.conn.CloseNow()
	p := presence()
	if p.GetUserId() != "bob" || p.GetOnline() || p.GetLastSeenMs() == 0 {
		t.Fatalf("presence push = %v, want bob offline with a last seen time", p)
	}
	u, err := st.App(e.boot.AppID).GetUser(t.Context(), "bob")
	if err != nil || u.LastSeenAt.UnixMilli() != p.GetLastSeenMs() {
		t.Errorf("stored bob.LastSeenAt = %v, %v, want %d ms", u.LastSeenAt, err, p.GetLastSeenMs())
	}
}
