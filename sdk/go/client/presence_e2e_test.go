package client_test

import (
	"context"
	"slices"
	"testing"

	"github.com/magpie-im/magpie/sdk/go/client"
)

// TestPresence: ann watches her friend bob: his going offline arrives as a
// Presence event with his last seen time; a user who is no friend is
// refused; after a server restart the client watches bob again by itself
// and hands out his state, the last seen time kept by the server.
func TestPresence(t *testing.T) {
	e := startEnv(t, "ann", "bob", "cat")
	ctx := context.Background()
	ann, bob := e.newClient("ann", "ann-phone", "", nil), e.newClient("bob", "bob-phone", "", nil)
	run(t, ann)
	next[client.Connected](t, ann)
	stopBob := run(t, bob)
	next[client.Connected](t, bob)
	if _, err := ann.SendFriendRequest(ctx, "bob", ""); err != nil {
		t.Fatal(err)
	}
	if err := bob.AcceptFriendRequest(ctx, "ann"); err != nil {
		t.Fatal(err)
	}

	ps, refused, err := ann.SubscribePresence(ctx, []string{"bob", "cat"}, false)
	if err != nil || len(ps) != 1 || ps[0].UserID != "bob" || !ps[0].Online || !ps[0].LastSeen.IsZero() {
		t.Fatalf("SubscribePresence = %+v, %q, %v, want bob online", ps, refused, err)
	}
	if !slices.Equal(refused, []string{"cat"}) {
		t.Errorf("refused = %q, want [cat]", refused)
	}

	stopBob()
	p := next[client.Presence](t, ann)
	if p.UserID != "bob" || p.Online || p.LastSeen.IsZero() {
		t.Fatalf("Presence after bob left = %+v, want bob offline with a last seen time", p)
	}

	e.restart(func() {})
	again := next[client.Presence](t, ann)
	if again.UserID != "bob" || again.Online || !again.LastSeen.Equal(p.LastSeen) {
		t.Fatalf("Presence after a restart = %+v, want bob offline, last seen %v", again, p.LastSeen)
	}

	if err := ann.UnsubscribePresence(ctx, nil, true); err != nil {
		t.Fatalf("UnsubscribePresence: %v", err)
	}
	if _, _, err := ann.SubscribePresence(ctx, []string{""}, false); err == nil {
		t.Error("SubscribePresence of an empty id succeeded")
	}
}
