package gateway_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"github.com/magpie-im/magpie/tenant"
)

func sendText(t *testing.T, c *wsClient, to, id, typ, content string) *magpiev1.SendAck {
	t.Helper()
	rid := c.request(&magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{ClientMsgId: id, ToUserId: to, Type: typ, Content: content}}})
	f := c.reply(rid)
	if f.GetSendAck() == nil {
		t.Fatalf("send %s: %v", id, f)
	}
	return f.GetSendAck()
}

// TestRichFrames drives typed sends, recall, edit and reactions over the
// WebSocket: the sender acts within the windows, others are refused, and
// another app's users see nothing.
func TestRichFrames(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"ann", "bob", "cat"} {
		e.mustCreateUser(e.a, u)
		e.mustCreateUser(e.b, u)
	}
	ann, bob, cat := e.login(e.a, "ann", "d1"), e.login(e.a, "bob", "d1"), e.login(e.a, "cat", "d1")
	otherAnn := e.login(e.b, "ann", "d1")

	img := sendText(t, ann, "bob", "i1", "image", `{"url":"https://cdn.example/a.png","width":4,"height":3,"size":10,"mime":"image/png"}`)
	txt := sendText(t, ann, "bob", "t1", "text", "helo")
	conv := txt.GetConvId()
	id := ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{ClientMsgId: "bad", ToUserId: "bob", Type: "image", Content: `{"url":"ftp://x"}`}}})
	if e := ann.expectError(id, "invalid_message"); e.GetMessage() == "" {
		t.Error("invalid image: empty message")
	}

	recall := func(conv string, seq int64) *magpiev1.Frame {
		return &magpiev1.Frame{Body: &magpiev1.Frame_RecallMessage{RecallMessage: &magpiev1.RecallMessage{ConvId: conv, Seq: seq}}}
	}
	edit := func(conv string, seq int64, content string) *magpiev1.Frame {
		return &magpiev1.Frame{Body: &magpiev1.Frame_EditMessage{EditMessage: &magpiev1.EditMessage{ConvId: conv, Seq: seq, Content: content}}}
	}
	react := func(conv string, seq int64, emoji string, add bool) *magpiev1.Frame {
		if add {
			return &magpiev1.Frame{Body: &magpiev1.Frame_AddReaction{AddReaction: &magpiev1.AddReaction{ConvId: conv, Seq: seq, Emoji: emoji}}}
		}
		return &magpiev1.Frame{Body: &magpiev1.Frame_RemoveReaction{RemoveReaction: &magpiev1.RemoveReaction{ConvId: conv, Seq: seq, Emoji: emoji}}}
	}
	for _, c := range []struct {
		who  *wsClient
		f    *magpiev1.Frame
		code string
	}{
		{bob, recall(conv, txt.GetSeq()), "forbidden"},
		{cat, recall(conv, txt.GetSeq()), "forbidden"},
		{otherAnn, recall(conv, txt.GetSeq()), "forbidden"},
		{ann, recall(conv, 99), "message_not_found"},
		{ann, recall(conv, 0), "invalid_argument"},
		{ann, recall("junk", 1), "forbidden"},
		{bob, edit(conv, txt.GetSeq(), "mine"), "forbidden"},
		{otherAnn, edit(conv, txt.GetSeq(), "x"), "forbidden"},
		{ann, edit(conv, img.GetSeq(), `{"url":"https://x/y"}`), "invalid_message"},
		{ann, edit(conv, txt.GetSeq(), ""), "invalid_message"},
		{cat, react(conv, txt.GetSeq(), "👍", true), "forbidden"},
		{otherAnn, react(conv, txt.GetSeq(), "👍", true), "forbidden"},
		{bob, react(conv, txt.GetSeq(), "a b", true), "invalid_argument"},
		{bob, react(conv, 99, "👍", true), "message_not_found"},
		{cat, &magpiev1.Frame{Body: &magpiev1.Frame_GetReactions{GetReactions: &magpiev1.GetReactions{ConvId: conv, Seqs: []int64{1}}}}, "forbidden"},
		{bob, &magpiev1.Frame{Body: &magpiev1.Frame_GetReactions{GetReactions: &magpiev1.GetReactions{ConvId: conv}}}, "invalid_argument"},
		{bob, &magpiev1.Frame{Body: &magpiev1.Frame_ReactionPage{ReactionPage: &magpiev1.ReactionPage{}}}, "invalid_frame"},
	} {
		id := c.who.request(c.f)
		c.who.expectError(id, c.code)
	}

	// Edit: the reply and bob's push carry the new content and edited_at_ms.
	id = ann.request(edit(conv, txt.GetSeq(), "hello"))
	if m := ann.reply(id).GetMessage(); m.GetContent() != "hello" || m.GetEditedAtMs() == 0 {
		t.Fatalf("edit reply = %v", m)
	}
	f := bob.push(func(f *magpiev1.Frame) bool {
		d := f.GetDeliver()
		return d != nil && d.GetMessages()[0].GetEditedAtMs() != 0
	})
	if m := f.GetDeliver().GetMessages()[0]; m.GetSeq() != txt.GetSeq() || m.GetContent() != "hello" {
		t.Errorf("bob's edit push = %v", m)
	}

	// Reactions: bob reacts; ann gets the update unsolicited.
	id = bob.request(react(conv, txt.GetSeq(), "👍", true))
	if u := bob.reply(id).GetReactionUpdate(); u.GetCount() != 1 || !u.GetAdded() || u.GetUserId() != "bob" {
		t.Fatalf("add_reaction reply = %v", u)
	}
	f = ann.push(func(f *magpiev1.Frame) bool { return f.GetReactionUpdate() != nil })
	if u := f.GetReactionUpdate(); u.GetEmoji() != "👍" || u.GetCount() != 1 || u.GetSeq() != txt.GetSeq() {
		t.Errorf("ann's reaction push = %v", u)
	}
	id = ann.request(react(conv, txt.GetSeq(), "👍", true))
	if u := ann.reply(id).GetReactionUpdate(); u.GetCount() != 2 {
		t.Errorf("second reaction = %v", u)
	}
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_GetReactions{GetReactions: &magpiev1.GetReactions{ConvId: conv, Seqs: []int64{txt.GetSeq(), img.GetSeq()}}}})
	page := ann.reply(id).GetReactionPage()
	if len(page.GetMessages()) != 1 || page.GetMessages()[0].GetReactions()[0].GetCount() != 2 || !page.GetMessages()[0].GetReactions()[0].GetReacted() {
		t.Errorf("reaction page = %v", page)
	}
	id = ann.request(react(conv, txt.GetSeq(), "👍", false))
	if u := ann.reply(id).GetReactionUpdate(); u.GetCount() != 1 || u.GetAdded() {
		t.Errorf("remove_reaction reply = %v", u)
	}

	// Server API: the reactions route, bad input and another app.
	r := e.do(e.a, req{method: "GET", target: "/v1/conversations/" + conv + "/messages/" + strconv.FormatInt(txt.GetSeq(), 10) + "/reactions"})
	if rs := r.json(t)["reactions"].([]any); r.status != http.StatusOK || len(rs) != 1 || rs[0].(map[string]any)["count"] != float64(1) {
		t.Errorf("GET reactions = %d %s", r.status, r.body)
	}
	if r := e.do(e.a, req{method: "GET", target: "/v1/conversations/" + conv + "/messages/x/reactions"}); r.status != http.StatusBadRequest || r.code(t) != "validation_failed" {
		t.Errorf("GET reactions of seq x = %d %s", r.status, r.body)
	}
	if r := e.do(e.b, req{method: "GET", target: "/v1/conversations/" + conv + "/messages/1/reactions"}); r.status != http.StatusNotFound || r.code(t) != "message_not_found" {
		t.Errorf("app B's GET reactions = %d %s", r.status, r.body)
	}
	r = e.do(e.a, req{method: "GET", target: "/v1/conversations/" + conv + "/messages?from_seq=1"})
	if msgs := r.json(t)["messages"].([]any); msgs[1].(map[string]any)["edited_at"] == nil || msgs[0].(map[string]any)["edited_at"] != nil {
		t.Errorf("history = %s, want edited_at on the edited message only", r.body)
	}

	// Typed contents through the server API.
	if r := e.do(e.a, req{method: "POST", target: "/v1/messages", body: `{"from_user_id":"ann","to_user_id":"bob","type":"location","content":"{\"latitude\":91,\"longitude\":0}"}`}); r.status != http.StatusBadRequest || r.code(t) != "invalid_message" || !strings.Contains(string(r.body), "latitude") {
		t.Errorf("server API bad location = %d %s", r.status, r.body)
	}
	if r := e.do(e.a, req{method: "POST", target: "/v1/messages", body: `{"from_user_id":"ann","to_user_id":"bob","type":"location","content":"{\"latitude\":45,\"longitude\":7,\"name\":\"Turin\"}"}`}); r.status != http.StatusCreated {
		t.Errorf("server API location = %d %s", r.status, r.body)
	}

	// Recall within the window; bob gets the recalled message.
	id = ann.request(recall(conv, img.GetSeq()))
	if m := ann.reply(id).GetMessage(); !m.GetRecalled() || m.GetContent() != "" {
		t.Fatalf("recall reply = %v", m)
	}
	bob.push(func(f *magpiev1.Frame) bool { d := f.GetDeliver(); return d != nil && d.GetMessages()[0].GetRecalled() })
	id = ann.request(edit(conv, img.GetSeq(), "x"))
	ann.expectError(id, "message_recalled")

	// After the windows (120 s recall, 900 s edit).
	e.advance(121 * time.Second)
	id = ann.request(recall(conv, txt.GetSeq()))
	ann.expectError(id, "recall_window_passed")
	e.advance(800 * time.Second)
	id = ann.request(edit(conv, txt.GetSeq(), "late"))
	ann.expectError(id, "edit_window_passed")
	// The server API's recall is not limited.
	if r := e.do(e.a, req{method: "POST", target: "/v1/conversations/" + conv + "/messages/" + strconv.FormatInt(txt.GetSeq(), 10) + ":recall"}); r.status != http.StatusOK {
		t.Errorf("server API recall after the window = %d %s", r.status, r.body)
	}
}

// TestRichWindowSettings checks the app settings: validated, and 0
// disables sender recall for sessions that log in after the change.
func TestRichWindowSettings(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "ann")
	e.mustCreateUser(e.a, "bob")
	ctx := context.Background()
	for _, v := range []int64{-1, 86401} {
		st := store.Settings{RecallWindowSeconds: &v}
		if _, err := e.tenants.UpdateApp(ctx, e.a.ID, tenant.AppUpdate{Settings: &st}); err == nil {
			t.Errorf("recall_window_seconds %d accepted", v)
		}
	}
	zero := int64(0)
	st := store.Settings{RecallWindowSeconds: &zero}
	if _, err := e.tenants.UpdateApp(ctx, e.a.ID, tenant.AppUpdate{Settings: &st}); err != nil {
		t.Fatal(err)
	}
	ann := e.login(e.a, "ann", "d1")
	ack := sendText(t, ann, "bob", "t1", "text", "hi")
	id := ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_RecallMessage{RecallMessage: &magpiev1.RecallMessage{ConvId: ack.GetConvId(), Seq: ack.GetSeq()}}})
	ann.expectError(id, "forbidden")
	// The edit window keeps its default.
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_EditMessage{EditMessage: &magpiev1.EditMessage{ConvId: ack.GetConvId(), Seq: ack.GetSeq(), Content: "hey"}}})
	if m := ann.reply(id).GetMessage(); m.GetContent() != "hey" {
		t.Errorf("edit = %v", m)
	}
}
