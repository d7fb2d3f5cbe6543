package webhook_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	sdk "github.com/magpie-im/magpie/sdk/go/webhook"
	"github.com/magpie-im/magpie/webhook"
)

// TestGroupEvents: a group's notices become group.* events (with the
// member who acted, the users, the role or mute, and the notice's seq), its
// first message conversation.created of kind group; a group message is a
// message.created naming its group and mentions, never its member list.
func TestGroupEvents(t *testing.T) {
	e := newEnv(t)
	e.endpoint(t, "A", "/all")
	e.worker(t, webhook.WorkerConfig{})
	em := e.emitter(t)

	notice := func(seq int64, body string) store.Message {
		return store.Message{ConvID: "g:crew", Seq: seq, Type: "notice", Body: []byte(body), CreatedAt: t0, ClientMsgID: "n"}
	}
	muted := t0.Add(time.Hour)
	em.MessageStored("A", notice(1, `{"event":"group.created","by":"ann","user_ids":["ann","bob"]}`), []string{"ann", "bob"})
	em.MessageStored("A", notice(2, `{"event":"members.added","by":"ann","user_ids":["cat"]}`), []string{"ann", "bob", "cat"})
	em.MessageStored("A", notice(3, `{"event":"member.muted","user_ids":["cat"],"muted_until_ms":`+itoa(muted.UnixMilli())+`}`), nil)
	chat := store.Message{ConvID: "g:crew", Seq: 4, SenderID: "bob", ClientMsgID: "m1", Type: "text", Body: []byte("@cat hi"),
		Mentions: []string{"cat"}, CreatedAt: t0}
	em.MessageStored("A", chat, []string{"ann", "bob", "cat"})

	reqs := e.waitN(t, 5) // conversation.created, three group events, message.created
	byType := map[string]sdk.Event{}
	for _, r := range reqs {
		ev, err := sdk.ParseEvent(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		byType[ev.Type] = ev
	}
	var types []string
	for typ := range byType {
		types = append(types, typ)
	}
	slices.Sort(types)
	want := []string{"conversation.created", "group.created", "group.member_muted", "group.members_added", "message.created"}
	if !slices.Equal(types, want) {
		t.Fatalf("event types = %q, want %q", types, want)
	}
	c, err := byType["conversation.created"].Conversation()
	if err != nil || c.Kind != "group" || c.GroupID != "crew" || len(c.Members) != 0 {
		t.Errorf("conversation.created = %+v, %v", c, err)
	}
	g, err := byType["group.members_added"].Group()
	if err != nil || g.GroupID != "crew" || g.By != "ann" || strings.Join(g.UserIDs, ",") != "cat" || g.Seq != 2 {
		t.Errorf("group.members_added = %+v, %v", g, err)
	}
	g, err = byType["group.member_muted"].Group()
	if err != nil || g.By != "" || g.MutedUntil == nil || !g.MutedUntil.Equal(muted) {
		t.Errorf("group.member_muted = %+v, %v", g, err)
	}
	m, err := byType["message.created"].Message()
	if err != nil || m.GroupID != "crew" || len(m.Members) != 0 || strings.Join(m.Mentions, ",") != "cat" {
		t.Errorf("message.created = %+v, %v", m, err)
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}
