package client_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/wire"
)

// nextChat returns the next n messages that are not notices.
func nextChat(t testing.TB, c *client.Client, n int) []client.Message {
	t.Helper()
	var out []client.Message
	for len(out) < n {
		if m := next[client.Message](t, c); m.Type != "notice" {
			out = append(out, m)
		}
	}
	return out
}

func wantErrCode(t *testing.T, err error, code string) {
	t.Helper()
	var e *client.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("error = %v, want code %s", err, code)
	}
}

// TestGroupChat: three members send at once without waiting; every
// member's device sees the same messages, exactly once, in seq order; a
// member offline meanwhile catches up on reconnect; mentions mark the
// mentioned member's conversation; a member who leaves gets nothing after.
func TestGroupChat(t *testing.T) {
	e := startEnv(t, "ann", "bob", "cat", "dan")
	ctx := context.Background()
	ann, bob, cat := e.newClient("ann", "ann-phone", "", nil), e.newClient("bob", "bob-phone", "", nil), e.newClient("cat", "cat-phone", "", nil)
	dan := e.newClient("dan", "dan-phone", "", nil)
	stops := map[*client.Client]func(){}
	for _, c := range []*client.Client{ann, bob, cat, dan} {
		stops[c] = run(t, c)
		next[client.Connected](t, c)
	}
	g, err := ann.CreateGroup(ctx, client.NewGroup{Name: "Crew", MemberIDs: []string{"bob", "cat"}})
	if err != nil || g.OwnerID != "ann" || g.MemberCount != 3 || g.JoinPolicy != client.JoinInvite {
		t.Fatalf("CreateGroup = %+v, %v", g, err)
	}
	_, err = bob.SendToGroup(ctx, g.ID, "text", "@all", client.WithMentionAll())
	wantErrCode(t, err, "forbidden")
	_, err = dan.SendToGroup(ctx, "no-such-group", "text", "hi")
	wantErrCode(t, err, wire.CodeGroupNotFound)
	_, err = dan.SendToGroup(ctx, g.ID, "text", "let me in")
	wantErrCode(t, err, "forbidden")

	const per = 10
	var outs []*client.Outgoing
	for i := range per {
		for _, c := range []*client.Client{ann, bob, cat} {
			var opts []client.SendOption
			if c == cat && i == 0 {
				opts = append(opts, client.WithMentions("bob"))
			}
			o, err := c.SendToGroupAsync(g.ID, "text", fmt.Sprint(i), opts...)
			if err != nil {
				t.Fatal(err)
			}
			outs = append(outs, o)
		}
	}
	for _, o := range outs {
		if _, err := o.Wait(ctx); err != nil {
			t.Fatalf("send %s: %v", o.ClientMsgID(), err)
		}
	}
	var seen [][]line
	for _, c := range []*client.Client{ann, bob, cat} {
		msgs := nextChat(t, c, 3*per)
		for i := 1; i < len(msgs); i++ {
			if msgs[i].Seq <= msgs[i-1].Seq || msgs[i].ConvID != g.ConvID() {
				t.Fatalf("out of order or foreign: %+v after %+v", msgs[i], msgs[i-1])
			}
		}
		seen = append(seen, lines(msgs))
	}
	if !slices.Equal(seen[0], seen[1]) || !slices.Equal(seen[1], seen[2]) {
		t.Fatalf("members disagree:\nann %v\nbob %v\ncat %v", seen[0], seen[1], seen[2])
	}
	convs, err := bob.Conversations(ctx)
	var mention int64 // cat's first message mentioned bob
	for _, l := range seen[1] {
		if l.sender == "cat" && l.content == "0" {
			mention = l.seq
		}
	}
	if err != nil || len(convs) != 1 || convs[0].GroupID != g.ID || convs[0].MentionSeq != mention {
		t.Fatalf("bob's conversations = %+v, %v; want the group with a mention at %d", convs, err, mention)
	}
	reads, err := ann.GroupReads(ctx, g.ID, convs[0].MaxSeq)
	if err != nil || len(reads) != 1 || reads[0].Of != 3 {
		t.Fatalf("GroupReads = %+v, %v", reads, err)
	}

	// cat goes offline; messages sent meanwhile reach its other device,
	// which connects later.
	stops[cat]()
	for i := range 5 {
		if _, err := ann.SendToGroup(ctx, g.ID, "text", fmt.Sprint("late ", i)); err != nil {
			t.Fatal(err)
		}
	}
	tablet := e.newClient("cat", "cat-tablet", "", nil)
	run(t, tablet)
	got := nextChat(t, tablet, 3*per+5)
	if last := got[len(got)-1]; last.Content != "late 4" {
		t.Fatalf("cat's tablet ends with %+v", last)
	}

	// Members: paged, roles as set.
	if _, err := ann.SetGroupRole(ctx, g.ID, "bob", client.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	ms, cursor, err := ann.GroupMembers(ctx, g.ID, "", 2)
	if err != nil || len(ms) != 2 || cursor == "" || ms[1].Role != client.RoleAdmin {
		t.Fatalf("GroupMembers page 1 = %+v, %q, %v", ms, cursor, err)
	}
	rest, cursor, err := ann.GroupMembers(ctx, g.ID, cursor, 2)
	if err != nil || len(rest) != 1 || cursor != "" || rest[0].UserID != "cat" {
		t.Fatalf("GroupMembers page 2 = %+v, %q, %v", rest, cursor, err)
	}

	// bob leaves: nothing after reaches him, and he may not send.
	if err := bob.LeaveGroup(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := ann.SendToGroup(ctx, g.ID, "text", "after bob"); err != nil {
		t.Fatal(err)
	}
	if m := nextChat(t, tablet, 1)[0]; m.Content != "after bob" {
		t.Fatalf("cat got %+v", m)
	}
	_, err = bob.SendToGroup(ctx, g.ID, "text", "still here?")
	wantErrCode(t, err, "forbidden")
	tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	for {
		ev, err := bob.Next(tctx)
		if err != nil {
			break // nothing more for bob
		}
		if m, ok := ev.(client.Message); ok && m.Type != "notice" && m.Seq > seen[1][len(seen[1])-1].seq+5 {
			t.Fatalf("bob got %+v after leaving", m)
		}
	}

	// Dismissal ends the group for everyone.
	if err := ann.DismissGroup(ctx, g.ID); err != nil {
		t.Fatal(err)
	}
	_, err = tablet.SendToGroup(ctx, g.ID, "text", "anyone?")
	wantErrCode(t, err, wire.CodeGroupNotFound)
}

// TestTypingIndicator: a member's typing reaches the other member as a
// Typing event, in a one-to-one chat and a group; a non-member's is
// refused.
func TestTypingIndicator(t *testing.T) {
	e := startEnv(t, "ann", "bob", "cat")
	ctx := context.Background()
	ann, bob, cat := e.newClient("ann", "ann-phone", "", nil), e.newClient("bob", "bob-phone", "", nil), e.newClient("cat", "cat-phone", "", nil)
	for _, c := range []*client.Client{ann, bob, cat} {
		run(t, c)
		next[client.Connected](t, c)
	}
	if _, err := ann.Send(ctx, "bob", "text", "hi"); err != nil {
		t.Fatal(err)
	}
	if err := bob.SetTyping(ctx, "p:ann:bob", true); err != nil {
		t.Fatal(err)
	}
	if ev := next[client.Typing](t, ann); ev.ConvID != "p:ann:bob" || ev.UserID != "bob" || !ev.Typing {
		t.Fatalf("ann saw %+v", ev)
	}
	wantErrCode(t, cat.SetTyping(ctx, "p:ann:bob", true), "forbidden")

	g, err := ann.CreateGroup(ctx, client.NewGroup{MemberIDs: []string{"bob", "cat"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := cat.SetTyping(ctx, g.ConvID(), false); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*client.Client{ann, bob} {
		if ev := next[client.Typing](t, c); ev.ConvID != g.ConvID() || ev.UserID != "cat" || ev.Typing {
			t.Fatalf("saw %+v, want cat stopped typing in the group", ev)
		}
	}
}

// TestConversationPrefs: a pin and a draft follow the user to its other
// devices; clearing the history hides every message so far for the user
// only, on every device, and what comes after is seen as usual.
func TestConversationPrefs(t *testing.T) {
	e := startEnv(t, "ann", "bob")
	ctx := context.Background()
	ann, bob := e.newClient("ann", "ann-phone", "", nil), e.newClient("bob", "bob-phone", "", nil)
	run(t, ann)
	run(t, bob)
	for i := range 3 {
		if _, err := ann.Send(ctx, "bob", "text", fmt.Sprint("old ", i)); err != nil {
			t.Fatal(err)
		}
	}
	nextChat(t, bob, 3)
	yes, draft := true, "reply later"
	cv, err := bob.SetConversation(ctx, "p:ann:bob", client.ConversationPrefs{Pinned: &yes, Draft: &draft})
	if err != nil || cv.PinnedAt.IsZero() || cv.Draft != draft {
		t.Fatalf("SetConversation(pin, draft) = %+v, %v", cv, err)
	}
	cv, err = bob.SetConversation(ctx, "p:ann:bob", client.ConversationPrefs{ClearHistory: true})
	if err != nil || cv.ClearedSeq != 3 || cv.ReadSeq != 3 || cv.LastMessage != nil || cv.PinnedAt.IsZero() {
		t.Fatalf("SetConversation(clear) = %+v, %v", cv, err)
	}
	if msgs, _, err := bob.History(ctx, "p:ann:bob", 0, 50); err != nil || len(msgs) != 0 {
		t.Fatalf("bob's history after the clear = %v, %v", lines(msgs), err)
	}
	if msgs, _, err := ann.History(ctx, "p:ann:bob", 0, 50); err != nil || len(msgs) != 3 {
		t.Fatalf("ann's history = %v, %v; the clear is bob's only", lines(msgs), err)
	}
	_, err = ann.SetConversation(ctx, "p:bob:zed", client.ConversationPrefs{Pinned: &yes})
	wantErrCode(t, err, "conversation_not_found")
	if _, err := ann.Send(ctx, "bob", "text", "new"); err != nil {
		t.Fatal(err)
	}
	// bob's other device sees the pin, the draft and only the new message.
	tablet := e.newClient("bob", "bob-tablet", "", nil)
	run(t, tablet)
	if m := nextChat(t, tablet, 1)[0]; m.Content != "new" || m.Seq != 4 {
		t.Fatalf("the tablet's first message = %+v, want only what came after the clear", m)
	}
	convs, err := tablet.Conversations(ctx)
	if err != nil || len(convs) != 1 || convs[0].Draft != draft || convs[0].PinnedAt.IsZero() || convs[0].ClearedSeq != 3 {
		t.Fatalf("the tablet's conversations = %+v, %v", convs, err)
	}
}
