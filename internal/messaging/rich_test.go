package messaging_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
)

// clock is a settable service clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func wantRichCode(t *testing.T, err error, code, call string) {
	t.Helper()
	var me *messaging.Error
	if !errors.As(err, &me) || me.Code != code {
		t.Errorf("%s = %v, want %s", call, err, code)
	}
}

// reactionRouter is a router that records reaction pushes too.
type reactionRouter struct {
	*router
	mu        sync.Mutex
	reactions []string // "user:conv:seq:emoji:count:by:added"
}

func (r *reactionRouter) PushReaction(appID string, users []string, except string, u messaging.ReactionUpdate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range users {
		r.reactions = append(r.reactions, fmt.Sprintf("%s:%s:%d:%s:%d:%s:%v", m, u.ConvID, u.Seq, u.Emoji, u.Count, u.UserID, u.Added))
	}
}

func TestRecallOwnWindow(t *testing.T) {
	clk := &clock{t: time.UnixMilli(1_000_000).UTC()}
	s, r, _, _ := newServiceWith(t, messaging.Config{Now: clk.now}, "alice", "bob")
	ctx := context.Background()
	m1, err := s.Send(ctx, text("alice", "bob", "c1", "one"))
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := s.Send(ctx, text("alice", "bob", "c2", "two"))
	r.take()

	_, err = s.RecallOwn(ctx, "A", "bob", m1.ConvID, m1.Seq, time.Minute)
	wantRichCode(t, err, "forbidden", "RecallOwn(not the sender)")
	_, err = s.RecallOwn(ctx, "A", "carol", m1.ConvID, m1.Seq, time.Minute)
	wantRichCode(t, err, "forbidden", "RecallOwn(not a member)")
	_, err = s.RecallOwn(ctx, "B", "alice", m1.ConvID, m1.Seq, time.Minute)
	wantRichCode(t, err, "forbidden", "RecallOwn(another app)")
	_, err = s.RecallOwn(ctx, "A", "alice", m1.ConvID, 99, time.Minute)
	wantRichCode(t, err, "message_not_found", "RecallOwn(no such seq)")
	_, err = s.RecallOwn(ctx, "A", "alice", m1.ConvID, m1.Seq, 0)
	wantRichCode(t, err, "forbidden", "RecallOwn(disabled)")

	clk.add(30 * time.Second)
	rec, err := s.RecallOwn(ctx, "A", "alice", m1.ConvID, m1.Seq, time.Minute)
	if err != nil || rec.RecalledAt.IsZero() || len(rec.Body) != 0 {
		t.Fatalf("RecallOwn within the window = %+v, %v", rec, err)
	}
	if msgs, _ := r.take(); fmt.Sprint(msgs) != "[alice:p:alice:bob:1 bob:p:alice:bob:1]" {
		t.Errorf("recall pushes = %v", msgs)
	}
	// Recalling again returns the recalled message.
	if again, err := s.RecallOwn(ctx, "A", "alice", m1.ConvID, m1.Seq, time.Minute); err != nil || !again.RecalledAt.Equal(rec.RecalledAt) {
		t.Errorf("RecallOwn again = %+v, %v", again, err)
	}
	clk.add(31 * time.Second)
	_, err = s.RecallOwn(ctx, "A", "alice", m2.ConvID, m2.Seq, time.Minute)
	wantRichCode(t, err, messaging.CodeRecallWindowPassed, "RecallOwn(after the window)")
}

func TestEditWindowAndRules(t *testing.T) {
	clk := &clock{t: time.UnixMilli(1_000_000).UTC()}
	s, r, _, _ := newServiceWith(t, messaging.Config{Now: clk.now, Moderator: moderator{newPolicy(false)}}, "alice", "bob")
	ctx := context.Background()
	m1, _ := s.Send(ctx, text("alice", "bob", "c1", "helo"))
	img := text("alice", "bob", "c2", `{"latitude":1,"longitude":2}`)
	img.Type = "location"
	m2, err := s.Send(ctx, img)
	if err != nil {
		t.Fatal(err)
	}
	m3, _ := s.Send(ctx, text("alice", "bob", "c3", "three"))
	r.take()
	edit := func(user string, seq int64, content string) messaging.EditRequest {
		return messaging.EditRequest{AppID: "A", UserID: user, ConvID: m1.ConvID, Seq: seq, Content: content, MaxBytes: 1024, Window: time.Minute}
	}

	clk.add(10 * time.Second)
	got, err := s.Edit(ctx, edit("alice", m1.Seq, "hello"))
	if err != nil || string(got.Body) != "hello" || !got.EditedAt.Equal(clk.now()) {
		t.Fatalf("Edit = %+v, %v", got, err)
	}
	if msgs, _ := r.take(); fmt.Sprint(msgs) != "[alice:p:alice:bob:1 bob:p:alice:bob:1]" {
		t.Errorf("edit pushes = %v", msgs)
	}
	_, err = s.Edit(ctx, edit("bob", m1.Seq, "mine now"))
	wantRichCode(t, err, "forbidden", "Edit(not the sender)")
	e := edit("alice", m1.Seq, "x")
	e.AppID = "B"
	_, err = s.Edit(ctx, e)
	wantRichCode(t, err, "forbidden", "Edit(another app)")
	_, err = s.Edit(ctx, edit("alice", m2.Seq, `{"latitude":3,"longitude":4}`))
	wantRichCode(t, err, "invalid_message", "Edit(location)")
	_, err = s.Edit(ctx, edit("alice", m1.Seq, ""))
	wantRichCode(t, err, "invalid_message", "Edit(empty)")
	e = edit("alice", m1.Seq, "x")
	e.Window = 0
	_, err = s.Edit(ctx, e)
	wantRichCode(t, err, "forbidden", "Edit(disabled)")
	// The keyword rules apply to the new content.
	_, err = s.Edit(ctx, edit("alice", m1.Seq, "kw-reject"))
	wantRichCode(t, err, messaging.CodeMessageRejected, "Edit(rejected content)")
	if got, err := s.Edit(ctx, edit("alice", m1.Seq, "kw-modify")); err != nil || string(got.Body) != "modified by kw" {
		t.Errorf("Edit(modified content) = %+v, %v", got, err)
	}
	// A recalled message cannot be edited.
	if _, err := s.Recall(ctx, "A", m3.ConvID, m3.Seq); err != nil {
		t.Fatal(err)
	}
	_, err = s.Edit(ctx, edit("alice", m3.Seq, "back"))
	wantRichCode(t, err, messaging.CodeMessageRecalled, "Edit(recalled)")

	clk.add(time.Minute)
	_, err = s.Edit(ctx, edit("alice", m1.Seq, "late"))
	wantRichCode(t, err, messaging.CodeEditWindowPassed, "Edit(after the window)")
	msgs, _, _ := s.Messages(ctx, "A", "bob", messaging.MessageQuery{ConvID: m1.ConvID, From: 1, Limit: 10})
	if string(msgs[0].Body) != "modified by kw" || msgs[0].EditedAt.IsZero() {
		t.Errorf("stored after edits = %+v", msgs[0])
	}
}

func TestReactions(t *testing.T) {
	rr := &reactionRouter{}
	s, r, _, st := newServiceWith(t, messaging.Config{}, "alice", "bob")
	_ = st
	rr.router = r
	// Reactions need a ReactionRouter: build a second service on the same
	// store with one.
	s2 := messaging.New(st, rr, messaging.Config{})
	ctx := context.Background()
	m, err := s.Send(ctx, text("alice", "bob", "c1", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	u, err := s2.React(ctx, "A", "bob", "bob-dev", m.ConvID, m.Seq, "👍", true)
	if err != nil || u.Count != 1 || !u.Added {
		t.Fatalf("React(add) = %+v, %v", u, err)
	}
	if u, err = s2.React(ctx, "A", "bob", "", m.ConvID, m.Seq, "👍", true); err != nil || u.Count != 1 {
		t.Errorf("React(add twice) = %+v, %v", u, err)
	}
	if u, err = s2.React(ctx, "A", "alice", "", m.ConvID, m.Seq, "👍", true); err != nil || u.Count != 2 {
		t.Errorf("React(alice) = %+v, %v", u, err)
	}
	if fmt.Sprint(rr.reactions) != "[alice:p:alice:bob:1:👍:1:bob:true bob:p:alice:bob:1:👍:1:bob:true alice:p:alice:bob:1:👍:2:alice:true bob:p:alice:bob:1:👍:2:alice:true]" {
		t.Errorf("reaction pushes = %v", rr.reactions)
	}
	for _, bad := range []string{"", "a b", "\t", "\xff", string(make([]byte, 33))} {
		_, err := s2.React(ctx, "A", "bob", "", m.ConvID, m.Seq, bad, true)
		wantRichCode(t, err, "invalid_argument", fmt.Sprintf("React(%q)", bad))
	}
	_, err = s2.React(ctx, "A", "carol", "", m.ConvID, m.Seq, "👍", true)
	wantRichCode(t, err, "forbidden", "React(not a member)")
	_, err = s2.React(ctx, "B", "bob", "", m.ConvID, m.Seq, "👍", true)
	wantRichCode(t, err, "forbidden", "React(another app)")
	_, err = s2.React(ctx, "A", "bob", "", m.ConvID, 9, "👍", true)
	wantRichCode(t, err, "message_not_found", "React(no such seq)")

	for i := 1; i < messaging.MaxReactionEmoji; i++ {
		if _, err := s2.React(ctx, "A", "bob", "", m.ConvID, m.Seq, fmt.Sprintf("e%d", i), true); err != nil {
			t.Fatal(err)
		}
	}
	_, err = s2.React(ctx, "A", "alice", "", m.ConvID, m.Seq, "one-too-many", true)
	wantRichCode(t, err, messaging.CodeTooManyReactions, "React(21st emoji)")
	if u, err = s2.React(ctx, "A", "alice", "", m.ConvID, m.Seq, "e3", true); err != nil || u.Count != 2 {
		t.Errorf("React(existing emoji at the limit) = %+v, %v", u, err)
	}
	if u, err = s2.React(ctx, "A", "bob", "", m.ConvID, m.Seq, "👍", false); err != nil || u.Count != 1 || u.Added {
		t.Errorf("React(remove) = %+v, %v", u, err)
	}

	got, err := s2.Reactions(ctx, "A", "alice", m.ConvID, []int64{m.Seq, 5})
	if err != nil || len(got) != 1 || len(got[0].Reactions) != messaging.MaxReactionEmoji {
		t.Fatalf("Reactions = %+v, %v", got, err)
	}
	byEmoji := map[string]messaging.ReactionCount{}
	for _, rc := range got[0].Reactions {
		byEmoji[rc.Emoji] = rc
	}
	if rc := byEmoji["👍"]; rc.Count != 1 || !rc.Reacted {
		t.Errorf("👍 = %+v, want 1 reacted", rc)
	}
	if rc := byEmoji["e3"]; rc.Count != 2 || !rc.Reacted {
		t.Errorf("e3 = %+v", rc)
	}
	if rc := byEmoji["e1"]; rc.Count != 1 || rc.Reacted {
		t.Errorf("e1 = %+v, want not reacted by alice", rc)
	}
	_, err = s2.Reactions(ctx, "A", "carol", m.ConvID, []int64{1})
	wantRichCode(t, err, "forbidden", "Reactions(not a member)")
	_, err = s2.Reactions(ctx, "A", "alice", m.ConvID, nil)
	wantRichCode(t, err, "invalid_argument", "Reactions(no seqs)")
	// A recalled message takes no new reaction.
	if _, err := s.Recall(ctx, "A", m.ConvID, m.Seq); err != nil {
		t.Fatal(err)
	}
	_, err = s2.React(ctx, "A", "alice", "", m.ConvID, m.Seq, "new", true)
	wantRichCode(t, err, messaging.CodeMessageRecalled, "React(recalled)")
}

// TestReactionOrder: a message's emoji come in the order they were first
// put, not by their bytes.
func TestReactionOrder(t *testing.T) {
	clk := &clock{t: time.UnixMilli(1_000_000).UTC()}
	s, _, _, _ := newServiceWith(t, messaging.Config{Now: clk.now}, "alice", "bob")
	ctx := context.Background()
	m, err := s.Send(ctx, text("alice", "bob", "c1", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ user, emoji string }{{"bob", "🎉"}, {"alice", "a"}, {"alice", "🎉"}, {"bob", "👍"}} {
		clk.add(time.Second)
		if _, err := s.React(ctx, "A", r.user, "", m.ConvID, m.Seq, r.emoji, true); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Reactions(ctx, "A", "bob", m.ConvID, []int64{m.Seq})
	if err != nil || len(got) != 1 {
		t.Fatalf("Reactions = %+v, %v", got, err)
	}
	if fmt.Sprint(got[0].Reactions) != "[{🎉 2 true} {a 1 false} {👍 1 true}]" {
		t.Errorf("reactions = %v, want 🎉 a 👍 in the order first put", got[0].Reactions)
	}
}
