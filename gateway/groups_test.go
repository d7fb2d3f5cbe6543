package gateway_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// TestGroupsServerAPI drives groups through the server API: create, read,
// update, members, roles, mutes, join requests, read counts, transfer and
// dismissal; bad input and another app's requests change nothing.
func TestGroupsServerAPI(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"ann", "bob", "cat", "dan"} {
		e.mustCreateUser(e.a, u)
		e.mustCreateUser(e.b, u)
	}
	call := func(app testApp, method, target, body string) resp {
		t.Helper()
		return e.do(app, req{method: method, target: target, body: body})
	}
	want := func(r resp, status int, code string) {
		t.Helper()
		if r.status != status || (code != "" && r.code(t) != code) {
			t.Errorf("got %d %s, want %d %s", r.status, r.body, status, code)
		}
	}

	r := call(e.a, "POST", "/v1/groups", `{"id":"hikers","name":"Hikers","owner_id":"ann","member_ids":["bob"],"join_policy":"approval"}`)
	want(r, http.StatusCreated, "")
	g := r.json(t)["group"].(map[string]any)
	if g["owner_id"] != "ann" || g["member_count"] != float64(2) || g["conv_id"] != "g:hikers" {
		t.Fatalf("created %v", g)
	}
	// Bad input.
	for _, c := range []struct{ body, code string }{
		{`{"id":"hikers","owner_id":"ann"}`, "group_exists"},
		{`{"id":"bad id","owner_id":"ann"}`, "validation_failed"},
		{`{"owner_id":"ghost"}`, "user_not_found"},
		{`{"name":"x"}`, "validation_failed"},
		{`{"owner_id":"ann","join_policy":"sometimes"}`, "validation_failed"},
		{`{"owner_id":"ann","member_ids":["ghost"]}`, "user_not_found"},
		{`{"owner_id":"ann","avatar_url":"ftp://x"}`, "validation_failed"},
		{`{"owner_id":"ann","bogus":1}`, "unknown_field"},
		{`{"owner_id":`, "invalid_json"},
		{`{"owner_id":"ann","name":"` + strings.Repeat("n", 200) + `"}`, "validation_failed"},
	} {
		if r := call(e.a, "POST", "/v1/groups", c.body); r.code(t) != c.code {
			t.Errorf("create %s: %d %s, want %s", c.body, r.status, r.body, c.code)
		}
	}

	want(call(e.a, "POST", "/v1/groups/hikers/members", `{"user_ids":["cat","ghost"]}`), http.StatusNotFound, "user_not_found")
	r = call(e.a, "POST", "/v1/groups/hikers/members", `{"user_ids":["cat","bob"]}`)
	want(r, http.StatusOK, "")
	if added := r.json(t)["added"].([]any); len(added) != 1 {
		t.Errorf("added = %v, want cat only", added)
	}
	want(call(e.a, "POST", "/v1/groups/hikers/members", `{"user_ids":[]}`), http.StatusBadRequest, "validation_failed")
	r = call(e.a, "GET", "/v1/groups/hikers/members?limit=2", "")
	want(r, http.StatusOK, "")
	if ms := r.json(t)["members"].([]any); len(ms) != 2 || r.json(t)["next_cursor"] == "" {
		t.Errorf("members page = %s", r.body)
	}
	next := r.json(t)["next_cursor"].(string)
	r = call(e.a, "GET", "/v1/groups/hikers/members?limit=2&cursor="+next, "")
	if ms := r.json(t)["members"].([]any); len(ms) != 1 || ms[0].(map[string]any)["user_id"] != "cat" {
		t.Errorf("second page = %s", r.body)
	}
	want(call(e.a, "GET", "/v1/groups/hikers/members?cursor=not*base64", ""), http.StatusBadRequest, "validation_failed")
	want(call(e.a, "PATCH", "/v1/groups/hikers/members/bob", `{"role":"admin"}`), http.StatusOK, "")
	want(call(e.a, "PATCH", "/v1/groups/hikers/members/bob", `{"role":"owner"}`), http.StatusBadRequest, "validation_failed")
	want(call(e.a, "PATCH", "/v1/groups/hikers/members/cat", `{"mute_seconds":-1}`), http.StatusBadRequest, "validation_failed")
	want(call(e.a, "PATCH", "/v1/groups/hikers/members/cat", `{}`), http.StatusBadRequest, "validation_failed")
	r = call(e.a, "PATCH", "/v1/groups/hikers/members/cat", `{"mute_seconds":60}`)
	if want(r, http.StatusOK, ""); r.json(t)["member"].(map[string]any)["muted_until"] == nil {
		t.Errorf("muted member = %s", r.body)
	}
	want(call(e.a, "PATCH", "/v1/groups/hikers/members/ann", `{"mute_seconds":60}`), http.StatusForbidden, "forbidden")
	want(call(e.a, "GET", "/v1/groups/hikers/members/dan", ""), http.StatusNotFound, "not_found")
	want(call(e.a, "PATCH", "/v1/groups/hikers", `{"notice":"boots on","mute_all":true}`), http.StatusOK, "")
	want(call(e.a, "PATCH", "/v1/groups/hikers", `{"join_policy":"x"}`), http.StatusBadRequest, "validation_failed")

	// A member's message, the read counts and readers.
	want(call(e.a, "POST", "/v1/messages", `{"from_user_id":"dan","to_group_id":"hikers","type":"text","content":"hi"}`), http.StatusForbidden, "forbidden")
	want(call(e.a, "POST", "/v1/messages", `{"from_user_id":"cat","to_group_id":"hikers","type":"text","content":"hi"}`), http.StatusForbidden, "member_muted")
	want(call(e.a, "POST", "/v1/messages", `{"from_user_id":"ann","to_group_id":"nope","type":"text","content":"hi"}`), http.StatusNotFound, "group_not_found")
	want(call(e.a, "POST", "/v1/messages", `{"from_user_id":"ann","to_user_id":"bob","to_group_id":"hikers","type":"text","content":"hi"}`), http.StatusBadRequest, "validation_failed")
	want(call(e.a, "POST", "/v1/messages", `{"system":true,"to_group_id":"hikers","type":"notice","content":"{}"}`), http.StatusBadRequest, "validation_failed")
	r = call(e.a, "POST", "/v1/messages", `{"from_user_id":"bob","to_group_id":"hikers","type":"text","content":"@cat hi","mentions":["cat"]}`)
	want(r, http.StatusCreated, "")
	m := r.json(t)["message"].(map[string]any)
	seq := int(m["seq"].(float64))
	if m["conv_id"] != "g:hikers" || m["mentions"].([]any)[0] != "cat" {
		t.Errorf("group message = %v", m)
	}
	r = call(e.a, "GET", "/v1/groups/hikers/reads?seqs="+strconv.Itoa(seq), "")
	want(r, http.StatusOK, "")
	if rd := r.json(t)["reads"].([]any)[0].(map[string]any); rd["read"] != float64(1) || rd["of"] != float64(3) {
		t.Errorf("reads = %s", r.body)
	}
	want(call(e.a, "GET", "/v1/groups/hikers/reads?seqs=x", ""), http.StatusBadRequest, "validation_failed")
	r = call(e.a, "GET", "/v1/groups/hikers/messages/"+strconv.Itoa(seq)+"/readers?read=false", "")
	if want(r, http.StatusOK, ""); len(r.json(t)["user_ids"].([]any)) != 2 {
		t.Errorf("unread by = %s", r.body)
	}
	want(call(e.a, "GET", "/v1/groups/hikers/messages/0/readers", ""), http.StatusBadRequest, "validation_failed")
	r = call(e.a, "GET", "/v1/conversations/g:hikers/messages", "")
	if want(r, http.StatusOK, ""); len(r.json(t)["messages"].([]any)) == 0 {
		t.Errorf("history = %s", r.body)
	}

	// Join requests are made by users (client protocol); the backend
	// answers them.
	want(call(e.a, "GET", "/v1/groups/hikers/join-requests", ""), http.StatusOK, "")
	want(call(e.a, "POST", "/v1/groups/hikers/join-requests/dan:approve", ""), http.StatusNotFound, "not_found")
	want(call(e.a, "POST", "/v1/groups/hikers/join-requests/dan:explode", ""), http.StatusNotFound, "route_not_found")

	// Another app: the same ids name nothing.
	for _, c := range []struct{ method, target, body string }{
		{"GET", "/v1/groups/hikers", ""},
		{"PATCH", "/v1/groups/hikers", `{"name":"mine"}`},
		{"DELETE", "/v1/groups/hikers", ""},
		{"POST", "/v1/groups/hikers:transfer", `{"user_id":"bob"}`},
		{"POST", "/v1/groups/hikers/members", `{"user_ids":["dan"]}`},
		{"GET", "/v1/groups/hikers/members", ""},
		{"GET", "/v1/groups/hikers/members/ann", ""},
		{"PATCH", "/v1/groups/hikers/members/bob", `{"role":"member"}`},
		{"DELETE", "/v1/groups/hikers/members/bob", ""},
		{"GET", "/v1/groups/hikers/join-requests", ""},
		{"POST", "/v1/groups/hikers/join-requests/dan:approve", ""},
		{"GET", "/v1/groups/hikers/reads?seqs=1", ""},
		{"GET", "/v1/groups/hikers/messages/1/readers", ""},
	} {
		if r := call(e.b, c.method, c.target, c.body); r.status != http.StatusNotFound || r.code(t) != "group_not_found" {
			t.Errorf("app B %s %s: %d %s", c.method, c.target, r.status, r.body)
		}
	}
	want(call(e.b, "POST", "/v1/messages", `{"from_user_id":"ann","to_group_id":"hikers","type":"text","content":"hi"}`), http.StatusNotFound, "group_not_found")
	if r := call(e.b, "GET", "/v1/conversations/g:hikers/messages", ""); len(r.json(t)["messages"].([]any)) != 0 {
		t.Errorf("app B reads app A's group history: %s", r.body)
	}

	// Transfer, remove, dismiss.
	want(call(e.a, "POST", "/v1/groups/hikers:transfer", `{"user_id":"dan"}`), http.StatusNotFound, "not_found")
	r = call(e.a, "POST", "/v1/groups/hikers:transfer", `{"user_id":"bob"}`)
	if want(r, http.StatusOK, ""); r.json(t)["group"].(map[string]any)["owner_id"] != "bob" {
		t.Errorf("transfer = %s", r.body)
	}
	want(call(e.a, "POST", "/v1/groups/hikers:explode", `{}`), http.StatusNotFound, "route_not_found")
	want(call(e.a, "DELETE", "/v1/groups/hikers/members/bob", ""), http.StatusForbidden, "forbidden")
	want(call(e.a, "DELETE", "/v1/groups/hikers/members/cat", ""), http.StatusNoContent, "")
	want(call(e.a, "DELETE", "/v1/groups/hikers/members/cat", ""), http.StatusNotFound, "not_found")
	want(call(e.a, "DELETE", "/v1/groups/hikers", ""), http.StatusNoContent, "")
	want(call(e.a, "GET", "/v1/groups/hikers", ""), http.StatusNotFound, "group_not_found")
	want(call(e.a, "POST", "/v1/messages", `{"from_user_id":"bob","to_group_id":"hikers","type":"text","content":"hi"}`), http.StatusNotFound, "group_not_found")
}

// TestGroupFrames drives groups over the client protocol: a member creates
// a group, a stranger cannot read its members or send to it, another app's
// user cannot see it, and group messages reach every member's device.
func TestGroupFrames(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"ann", "bob", "cat"} {
		e.mustCreateUser(e.a, u)
		e.mustCreateUser(e.b, u)
	}
	ann, bob, cat := e.login(e.a, "ann", "d1"), e.login(e.a, "bob", "d1"), e.login(e.a, "cat", "d1")
	otherCat := e.login(e.b, "cat", "d1")

	id := ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_CreateGroup{CreateGroup: &magpiev1.CreateGroup{
		Id: "crew", Name: "Crew", MemberIds: []string{"bob"}}}})
	if g := ann.reply(id).GetGroupInfo(); g.GetOwnerId() != "ann" || g.GetMemberCount() != 2 {
		t.Fatalf("create_group reply = %v", g)
	}
	// The creation notice reaches both members.
	for _, c := range []*wsClient{bob} {
		f := c.push(func(f *magpiev1.Frame) bool { return f.GetDeliver() != nil })
		if m := f.GetDeliver().GetMessages()[0]; m.GetConvId() != "g:crew" || m.GetType() != "notice" {
			t.Errorf("first push = %v, want the creation notice", m)
		}
	}

	// Bad input and strangers.
	for _, c := range []struct {
		who  *wsClient
		f    *magpiev1.Frame
		code string
	}{
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_CreateGroup{CreateGroup: &magpiev1.CreateGroup{Id: "crew"}}}, "group_exists"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_CreateGroup{CreateGroup: &magpiev1.CreateGroup{Id: "a:b"}}}, "invalid_argument"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_CreateGroup{CreateGroup: &magpiev1.CreateGroup{MemberIds: []string{"ghost"}}}}, "user_not_found"},
		{cat, &magpiev1.Frame{Body: &magpiev1.Frame_ListGroupMembers{ListGroupMembers: &magpiev1.ListGroupMembers{GroupId: "crew"}}}, "forbidden"},
		{cat, &magpiev1.Frame{Body: &magpiev1.Frame_JoinGroup{JoinGroup: &magpiev1.JoinGroup{GroupId: "crew"}}}, "forbidden"},
		{cat, &magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{ClientMsgId: "x", ToGroupId: "crew", Type: "text", Content: "hi"}}}, "forbidden"},
		{cat, &magpiev1.Frame{Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{ConvId: "g:crew"}}}, "forbidden"},
		{bob, &magpiev1.Frame{Body: &magpiev1.Frame_AddGroupMembers{AddGroupMembers: &magpiev1.AddGroupMembers{GroupId: "crew", UserIds: []string{"cat"}}}}, "forbidden"},
		{bob, &magpiev1.Frame{Body: &magpiev1.Frame_DismissGroup{DismissGroup: &magpiev1.DismissGroup{GroupId: "crew"}}}, "forbidden"},
		{bob, &magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{ClientMsgId: "y", ToGroupId: "crew", Type: "text", Content: "hi", MentionAll: true}}}, "forbidden"},
		{bob, &magpiev1.Frame{Body: &magpiev1.Frame_SetGroupMember{SetGroupMember: &magpiev1.SetGroupMember{GroupId: "crew", UserId: "ann"}}}, "invalid_argument"},
		{bob, &magpiev1.Frame{Body: &magpiev1.Frame_ListGroupMembers{ListGroupMembers: &magpiev1.ListGroupMembers{GroupId: "crew", Cursor: "%%"}}}, "invalid_argument"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_LeaveGroup{LeaveGroup: &magpiev1.LeaveGroup{GroupId: "crew"}}}, "forbidden"},
		{otherCat, &magpiev1.Frame{Body: &magpiev1.Frame_GetGroup{GetGroup: &magpiev1.GetGroup{GroupId: "crew"}}}, "group_not_found"},
		{otherCat, &magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{ClientMsgId: "z", ToGroupId: "crew", Type: "text", Content: "hi"}}}, "group_not_found"},
		{otherCat, &magpiev1.Frame{Body: &magpiev1.Frame_GetGroupReads{GetGroupReads: &magpiev1.GetGroupReads{GroupId: "crew", Seqs: []int64{1}}}}, "group_not_found"},
	} {
		id := c.who.request(c.f)
		c.who.expectError(id, c.code)
	}

	// A group message reaches the other member; the sender's SendAck
	// carries the group conversation.
	id = bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{
		ClientMsgId: "m1", ToGroupId: "crew", Type: "text", Content: "hello crew", Mentions: []string{"ann"}}}})
	ack := bob.reply(id).GetSendAck()
	if ack.GetConvId() != "g:crew" || ack.GetSeq() < 2 {
		t.Fatalf("send_ack = %v", ack)
	}
	f := ann.push(func(f *magpiev1.Frame) bool {
		d := f.GetDeliver()
		return d != nil && d.GetMessages()[len(d.GetMessages())-1].GetClientMsgId() == "m1"
	})
	got := f.GetDeliver().GetMessages()
	if m := got[len(got)-1]; m.GetContent() != "hello crew" || m.GetMentions()[0] != "ann" {
		t.Errorf("ann got %v", m)
	}
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_SyncConversations{SyncConversations: &magpiev1.SyncConversations{ConvIds: []string{"g:crew"}}}})
	st := ann.reply(id).GetConversationPage().GetConversations()[0]
	if st.GetGroupId() != "crew" || st.GetMentionSeq() != ack.GetSeq() {
		t.Errorf("ann's state = %v, want group crew and a mention at %d", st, ack.GetSeq())
	}
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_GetGroupReads{GetGroupReads: &magpiev1.GetGroupReads{GroupId: "crew", Seqs: []int64{ack.GetSeq()}}}})
	if rd := ann.reply(id).GetGroupReadCounts().GetReads()[0]; rd.GetRead() != 1 || rd.GetOf() != 2 {
		t.Errorf("reads = %v, want 1 of 2 (the sender)", rd)
	}
}

// TestConversationFrames: SetConversation and Typing refuse bad input and
// conversations of others, and of another app.
func TestConversationFrames(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"ann", "bob", "cat"} {
		e.mustCreateUser(e.a, u)
		e.mustCreateUser(e.b, u)
	}
	ann, cat, otherAnn := e.login(e.a, "ann", "d1"), e.login(e.a, "cat", "d1"), e.login(e.b, "ann", "d1")
	id := ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{ClientMsgId: "m1", ToUserId: "bob", Type: "text", Content: "hi"}}})
	ann.reply(id)
	long := strings.Repeat("d", 5000)
	yes := true
	for _, c := range []struct {
		who  *wsClient
		f    *magpiev1.Frame
		code string
	}{
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_SetConversation{SetConversation: &magpiev1.SetConversation{ConvId: "p:ann:bob", Draft: &long}}}, "invalid_argument"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_SetConversation{SetConversation: &magpiev1.SetConversation{ConvId: "not a conv", Pinned: &yes}}}, "conversation_not_found"},
		{cat, &magpiev1.Frame{Body: &magpiev1.Frame_SetConversation{SetConversation: &magpiev1.SetConversation{ConvId: "p:ann:bob", Pinned: &yes}}}, "conversation_not_found"},
		{otherAnn, &magpiev1.Frame{Body: &magpiev1.Frame_SetConversation{SetConversation: &magpiev1.SetConversation{ConvId: "p:ann:bob", ClearHistory: true}}}, "conversation_not_found"},
		{cat, &magpiev1.Frame{Body: &magpiev1.Frame_Typing{Typing: &magpiev1.Typing{ConvId: "p:ann:bob", Typing: true}}}, "forbidden"},
		{otherAnn, &magpiev1.Frame{Body: &magpiev1.Frame_Typing{Typing: &magpiev1.Typing{ConvId: "p:ann:bob", Typing: true}}}, "forbidden"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_Typing{Typing: &magpiev1.Typing{ConvId: "", Typing: true}}}, "forbidden"},
	} {
		id := c.who.request(c.f)
		c.who.expectError(id, c.code)
	}
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_SetConversation{SetConversation: &magpiev1.SetConversation{ConvId: "p:ann:bob", Pinned: &yes}}})
	if st := ann.reply(id).GetConversationState(); st.GetPinnedAtMs() == 0 || st.GetConvId() != "p:ann:bob" {
		t.Errorf("set_conversation reply = %v", st)
	}
}
