package client_test

import (
	"context"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/sdk/go/wire"
)

// nextRoomMessage returns the next RoomMessage event.
func nextRoomMessage(t *testing.T, c *client.Client) client.RoomMessage {
	t.Helper()
	return next[client.RoomMessage](t, c)
}

// waitMembers polls the server API until the room has n members.
func (e *env) waitMembers(t *testing.T, room string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := e.api.GetRoom(context.Background(), room)
		if err != nil {
			t.Fatal(err)
		}
		if r.MemberCount == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("room %s has %d members, want %d", room, r.MemberCount, n)
		}
		time.Sleep(10 * time.Millisecond) // poll interval, not synchronisation
	}
}

// TestRoomChat: two clients join a room, get its history and each other's
// messages as events; after a server restart they join it again by
// themselves; destroying the room tells them it closed.
func TestRoomChat(t *testing.T) {
	e := startEnv(t, "ann", "bob")
	ctx := context.Background()
	if _, err := e.api.CreateRoom(ctx, serverapi.RoomInput{ID: "live", OwnerID: "ann"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.api.SendRoomMessage(ctx, "live", serverapi.RoomMessageInput{Content: "welcome"}); err != nil {
		t.Fatal(err)
	}
	ann, bob := e.newClient("ann", "ann-phone", "", nil), e.newClient("bob", "bob-phone", "", nil)
	for _, c := range []*client.Client{ann, bob} {
		run(t, c)
		next[client.Connected](t, c)
	}
	j, err := ann.JoinRoom(ctx, "live", 0)
	if err != nil || j.Room.OwnerID != "ann" || j.Room.MemberCount != 1 || len(j.Messages) != 1 || j.Messages[0].Content != "welcome" || !j.Messages[0].Priority {
		t.Fatalf("JoinRoom = %+v, %v", j, err)
	}
	if _, err := bob.JoinRoom(ctx, "live", 0); err != nil {
		t.Fatal(err)
	}
	_, err = bob.JoinRoom(ctx, "nope", 0)
	wantErrCode(t, err, wire.CodeRoomNotFound)
	_, err = bob.SendToRoom(ctx, "nope", "text", "x")
	wantErrCode(t, err, wire.CodeRoomNotFound)

	a, err := bob.SendToRoom(ctx, "live", "text", "hi all")
	if err != nil || a.Seq != 2 {
		t.Fatalf("SendToRoom = %+v, %v", a, err)
	}
	if m := nextRoomMessage(t, ann); m.Content != "hi all" || m.SenderID != "bob" || m.Seq != 2 || m.Priority {
		t.Errorf("ann got %+v", m)
	}
	if m := nextRoomMessage(t, bob); m.Content != "hi all" { // a member gets its own messages too
		t.Errorf("bob got %+v", m)
	}

	// A restart ends every connection: the clients join again by themselves.
	e.restart(func() {})
	e.waitMembers(t, "live", 2)
	if _, err := e.api.SendRoomMessage(ctx, "live", serverapi.RoomMessageInput{SenderID: "ann", Content: "we are back"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{ann, bob} {
		if m := nextRoomMessage(t, c); m.Content != "we are back" || !m.Priority {
			t.Errorf("after the restart: %+v", m)
		}
	}

	if err := e.api.DestroyRoom(ctx, "live"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{ann, bob} {
		if l := next[client.RoomLeft](t, c); l.RoomID != "live" || l.Reason != client.RoomClosed {
			t.Errorf("RoomLeft = %+v", l)
		}
	}
}

// TestRoomBanSurvivesRestart: a banned user's client leaves the room told
// it was banned, and its joins fail with room_banned, also after a server
// restart, until the ban is lifted; the other member is joined again by
// itself after the restart.
func TestRoomBanSurvivesRestart(t *testing.T) {
	e := startEnv(t, "ann", "bob")
	ctx := context.Background()
	if _, err := e.api.CreateRoom(ctx, serverapi.RoomInput{ID: "live"}); err != nil {
		t.Fatal(err)
	}
	ann, bob := e.newClient("ann", "ann-phone", "", nil), e.newClient("bob", "bob-phone", "", nil)
	for _, c := range []*client.Client{ann, bob} {
		run(t, c)
		next[client.Connected](t, c)
		if _, err := c.JoinRoom(ctx, "live", 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.api.BanRoomUser(ctx, "live", "bob", "spam"); err != nil {
		t.Fatal(err)
	}
	if l := next[client.RoomLeft](t, bob); l.RoomID != "live" || l.Reason != client.RoomBanned {
		t.Errorf("RoomLeft = %+v, want banned", l)
	}
	_, err := bob.JoinRoom(ctx, "live", 0)
	wantErrCode(t, err, wire.CodeRoomBanned)

	e.restart(func() {})
	next[client.Connected](t, bob)
	e.waitMembers(t, "live", 1) // ann, joined again by her client
	_, err = bob.JoinRoom(ctx, "live", 0)
	wantErrCode(t, err, wire.CodeRoomBanned)
	if bans, _, err := e.api.ListRoomBans(ctx, "live", "", 0); err != nil || len(bans) != 1 || bans[0].Reason != "spam" {
		t.Errorf("bans after the restart = %+v, %v", bans, err)
	}

	if err := e.api.UnbanRoomUser(ctx, "live", "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.JoinRoom(ctx, "live", 0); err != nil {
		t.Fatalf("JoinRoom after the unban = %v", err)
	}
	if _, err := bob.SendToRoom(ctx, "live", "text", "back"); err != nil {
		t.Fatal(err)
	}
	if m := nextRoomMessage(t, ann); m.Content != "back" || m.SenderID != "bob" {
		t.Errorf("ann got %+v", m)
	}
}
