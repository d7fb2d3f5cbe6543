package gateway_test

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/internal/bus"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// TestContactsServerAPI drives contacts through the server API: friends
// added directly by the backend, remarks, removal, friend requests,
// blocks and their effect on one-to-one messages, the only-friends app
// setting through the management API; bad input and another app's
// requests change nothing.
func TestContactsServerAPI(t *testing.T) {
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
			t.Errorf("%d %s, want %d %s", r.status, r.body, status, code)
		}
	}
	send := func(app testApp, from, to string) resp {
		t.Helper()
		return call(app, "POST", "/v1/messages", `{"from_user_id":"`+from+`","to_user_id":"`+to+`","type":"text","content":"hi"}`)
	}

	// Friends, added by the backend.
	r := call(e.a, "POST", "/v1/users/ann/friends", `{"friend_id":"bob"}`)
	want(r, http.StatusCreated, "")
	if f := r.json(t)["friend"].(map[string]any); f["user_id"] != "bob" || f["remark"] != "" {
		t.Errorf("friend = %v", f)
	}
	want(call(e.a, "POST", "/v1/users/ann/friends", `{"friend_id":"cat"}`), http.StatusCreated, "")
	for _, c := range []struct {
		method, target, body string
		status               int
		code                 string
	}{
		{"POST", "/v1/users/ann/friends", `{"friend_id":"ghost"}`, http.StatusNotFound, "user_not_found"},
		{"POST", "/v1/users/ghost/friends", `{"friend_id":"ann"}`, http.StatusNotFound, "user_not_found"},
		{"POST", "/v1/users/ann/friends", `{"friend_id":"ann"}`, http.StatusBadRequest, "validation_failed"},
		{"POST", "/v1/users/ann/friends", `{}`, http.StatusBadRequest, "validation_failed"},
		{"POST", "/v1/users/ann/friends", `{"friend_id":"bob","x":1}`, http.StatusBadRequest, "unknown_field"},
		{"POST", "/v1/users/ann/friends", `{"friend_id":`, http.StatusBadRequest, "invalid_json"},
		{"PATCH", "/v1/users/ann/friends/bob", `{"remark":"` + strings.Repeat("r", 65) + `"}`, http.StatusBadRequest, "validation_failed"},
		{"PATCH", "/v1/users/ann/friends/bob", `{}`, http.StatusBadRequest, "validation_failed"},
		{"PATCH", "/v1/users/ann/friends/dan", `{"remark":"x"}`, http.StatusNotFound, "not_found"},
		{"DELETE", "/v1/users/ann/friends/dan", ``, http.StatusNotFound, "not_found"},
		{"GET", "/v1/users/ann/friends?limit=0", ``, http.StatusBadRequest, "validation_failed"},
		{"GET", "/v1/users/ann/friends?cursor=not*base64", ``, http.StatusBadRequest, "validation_failed"},
		{"GET", "/v1/users/ghost/friends", ``, http.StatusNotFound, "user_not_found"},
		{"GET", "/v1/users/ann/friend-requests?direction=sideways", ``, http.StatusBadRequest, "validation_failed"},
		{"PUT", "/v1/users/ann/blocks/ghost", ``, http.StatusNotFound, "user_not_found"},
		{"PUT", "/v1/users/ann/blocks/ann", ``, http.StatusBadRequest, "validation_failed"},
		{"DELETE", "/v1/users/ann/blocks/bob", ``, http.StatusNotFound, "not_found"},
	} {
		if r := call(e.a, c.method, c.target, c.body); r.status != c.status || r.code(t) != c.code {
			t.Errorf("%s %s %s: %d %s, want %d %s", c.method, c.target, c.body, r.status, r.body, c.status, c.code)
		}
	}
	r = call(e.a, "PATCH", "/v1/users/ann/friends/bob", `{"remark":"Bobby"}`)
	if want(r, http.StatusOK, ""); r.json(t)["friend"].(map[string]any)["remark"] != "Bobby" {
		t.Errorf("remark = %s", r.body)
	}
	r = call(e.a, "GET", "/v1/users/ann/friends?limit=1", "")
	want(r, http.StatusOK, "")
	fs := r.json(t)["friends"].([]any)
	next, _ := r.json(t)["next_cursor"].(string)
	if len(fs) != 1 || fs[0].(map[string]any)["remark"] != "Bobby" || next == "" {
		t.Fatalf("friends page 1 = %s", r.body)
	}
	r = call(e.a, "GET", "/v1/users/ann/friends?limit=1&cursor="+next, "")
	if fs := r.json(t)["friends"].([]any); len(fs) != 1 || fs[0].(map[string]any)["user_id"] != "cat" {
		t.Errorf("friends page 2 = %s", r.body)
	}
	// bob's side has no remark.
	r = call(e.a, "GET", "/v1/users/bob/friends", "")
	if fs := r.json(t)["friends"].([]any); len(fs) != 1 || fs[0].(map[string]any)["remark"] != "" {
		t.Errorf("bob's friends = %s", r.body)
	}
	want(call(e.a, "DELETE", "/v1/users/bob/friends/ann", ""), http.StatusNoContent, "")
	r = call(e.a, "GET", "/v1/users/ann/friends", "")
	if fs := r.json(t)["friends"].([]any); len(fs) != 1 {
		t.Errorf("ann's friends after removal = %s", r.body)
	}

	// Friend requests are made by users (client protocol); the backend
	// lists them.
	r = call(e.a, "GET", "/v1/users/ann/friend-requests?direction=outgoing", "")
	if want(r, http.StatusOK, ""); len(r.json(t)["requests"].([]any)) != 0 {
		t.Errorf("requests = %s", r.body)
	}

	// Blocks: the blocked user's messages to the blocker are refused and
	// not stored; the blocker's go through.
	want(send(e.a, "dan", "ann"), http.StatusCreated, "")
	r = call(e.a, "PUT", "/v1/users/ann/blocks/dan", "")
	if want(r, http.StatusOK, ""); r.json(t)["block"].(map[string]any)["user_id"] != "dan" {
		t.Errorf("block = %s", r.body)
	}
	want(call(e.a, "PUT", "/v1/users/ann/blocks/dan", ""), http.StatusOK, "")
	want(send(e.a, "dan", "ann"), http.StatusForbidden, "blocked")
	want(send(e.a, "ann", "dan"), http.StatusCreated, "")
	r = call(e.a, "GET", "/v1/users/ann/blocks", "")
	if bs := r.json(t)["blocks"].([]any); len(bs) != 1 || bs[0].(map[string]any)["user_id"] != "dan" {
		t.Errorf("blocks = %s", r.body)
	}
	r = call(e.a, "GET", "/v1/conversations/p:ann:dan/messages", "")
	if ms := r.json(t)["messages"].([]any); len(ms) != 2 {
		t.Errorf("history has %d messages, want 2 (the refused one not stored): %s", len(ms), r.body)
	}

	// Another app: the same user ids are its own, and see nothing of A's.
	r = call(e.b, "GET", "/v1/users/ann/friends", "")
	if fs := r.json(t)["friends"].([]any); len(fs) != 0 {
		t.Errorf("B's ann's friends = %s", r.body)
	}
	r = call(e.b, "GET", "/v1/users/ann/blocks", "")
	if bs := r.json(t)["blocks"].([]any); len(bs) != 0 {
		t.Errorf("B's ann's blocks = %s", r.body)
	}
	want(call(e.b, "DELETE", "/v1/users/ann/blocks/dan", ""), http.StatusNotFound, "not_found")
	want(call(e.b, "DELETE", "/v1/users/ann/friends/cat", ""), http.StatusNotFound, "not_found")
	want(send(e.b, "dan", "ann"), http.StatusCreated, "")

	// Unblocking takes effect at once.
	want(call(e.a, "DELETE", "/v1/users/ann/blocks/dan", ""), http.StatusNoContent, "")
	want(send(e.a, "dan", "ann"), http.StatusCreated, "")

	// Only friends may message, once the app says so (management API).
	op := e.consoleLogin("op@example.com", e.boot.OperatorPassword)
	r = e.console(op, "PATCH", "/manage/v1/apps/"+e.a.ID, `{"settings":{"only_friends_message":true}}`)
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"only_friends_message":true`) {
		t.Fatalf("patch app: %d %s", r.status, r.body)
	}
	want(send(e.a, "dan", "ann"), http.StatusForbidden, "not_friends")
	want(send(e.a, "ann", "cat"), http.StatusCreated, "") // friends
	want(call(e.a, "POST", "/v1/messages", `{"system":true,"to_user_id":"dan","type":"text","content":"hi"}`), http.StatusCreated, "")
	want(send(e.b, "dan", "ann"), http.StatusCreated, "") // B's setting is off
	want(call(e.a, "POST", "/v1/users/dan/friends", `{"friend_id":"ann"}`), http.StatusCreated, "")
	want(send(e.a, "dan", "ann"), http.StatusCreated, "")
	r = e.console(op, "PATCH", "/manage/v1/apps/"+e.a.ID, `{"settings":{}}`)
	if r.status != http.StatusOK {
		t.Fatalf("patch app: %d %s", r.status, r.body)
	}
	want(send(e.a, "bob", "dan"), http.StatusCreated, "")
}

// TestContactsChangeReachesOtherNodes: a block and an unblock made through
// one node take effect at once on another node that had cached the
// verdict, through the bus's broadcast (the same code path as RabbitMQ's).
func TestContactsChangeReachesOtherNodes(t *testing.T) {
	b, err := bus.OpenLocal(t.Context(), filepath.Join(t.TempDir(), "bus.db"), bus.LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	events := gateway.BroadcastEvents{Bus: b}
	e := newEnv(t, func(c *gateway.Config) { c.Events = events })
	node2, url2 := e.secondNode(events)
	for _, g := range []*gateway.Gateway{e.gw, node2} {
		sub, err := b.Subscribe(t.Context(), g.ApplyEvent)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { sub.Close() })
	}
	for _, u := range []string{"ann", "dan"} {
		e.mustCreateUser(e.a, u)
	}
	sendOn2 := func() resp {
		return e.do(e.a, req{base: url2, method: "POST", target: "/v1/messages",
			body: `{"from_user_id":"dan","to_user_id":"ann","type":"text","content":"hi"}`})
	}
	if r := sendOn2(); r.status != http.StatusCreated {
		t.Fatalf("first send: %d %s", r.status, r.body)
	}
	if r := e.do(e.a, req{method: "PUT", target: "/v1/users/ann/blocks/dan"}); r.status != http.StatusOK {
		t.Fatalf("block: %d %s", r.status, r.body)
	}
	waitFor(t, func() bool { return sendOn2().status == http.StatusForbidden })
	if r := e.do(e.a, req{method: "DELETE", target: "/v1/users/ann/blocks/dan"}); r.status != http.StatusNoContent {
		t.Fatalf("unblock: %d %s", r.status, r.body)
	}
	waitFor(t, func() bool { return sendOn2().status == http.StatusCreated })
}

// waitFor polls cond for up to 5 s (the bus delivers asynchronously).
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s: the event did not reach the other node")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestContactFrames drives contacts over the client protocol: a friend
// request with its live notice, accepting it, remarks, paging, blocks and
// their effect on one-to-one sends; bad input and another app's user ids.
func TestContactFrames(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"ann", "bob", "cat"} {
		e.mustCreateUser(e.a, u)
	}
	e.mustCreateUser(e.b, "zed")
	ann, bob, cat := e.login(e.a, "ann", "d1"), e.login(e.a, "bob", "d1"), e.login(e.a, "cat", "d1")
	zed := e.login(e.b, "zed", "d1")
	id := ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_SendFriendRequest{SendFriendRequest: &magpiev1.SendFriendRequest{UserId: "bob", Message: "hi bob"}}})
	if r := ann.reply(id).GetFriendRequestResult(); r.GetStatus() != "requested" || r.GetUserId() != "bob" {
		t.Fatalf("send_friend_request reply = %v", r)
	}
	// bob learns live: a notice in its system conversation.
	f := bob.push(func(f *magpiev1.Frame) bool { return f.GetDeliver() != nil })
	if m := f.GetDeliver().GetMessages()[0]; m.GetConvId() != "s:bob" || m.GetType() != "notice" ||
		!strings.Contains(m.GetContent(), `"event":"friend.requested"`) || !strings.Contains(m.GetContent(), `"user_id":"ann"`) {
		t.Errorf("bob's notice = %v", m)
	}
	id = bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_ListFriendRequests{ListFriendRequests: &magpiev1.ListFriendRequests{}}})
	if p := bob.reply(id).GetFriendRequestPage(); len(p.GetRequests()) != 1 || p.GetRequests()[0].GetFromId() != "ann" || p.GetRequests()[0].GetMessage() != "hi bob" {
		t.Errorf("bob's incoming = %v", p)
	}
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_ListFriendRequests{ListFriendRequests: &magpiev1.ListFriendRequests{Outgoing: true}}})
	if p := ann.reply(id).GetFriendRequestPage(); len(p.GetRequests()) != 1 || p.GetRequests()[0].GetToId() != "bob" {
		t.Errorf("ann's outgoing = %v", p)
	}
	id = bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_AnswerFriendRequest{AnswerFriendRequest: &magpiev1.AnswerFriendRequest{UserId: "ann", Accept: true}}})
	if bob.reply(id).GetOk() == nil {
		t.Fatal("accept: no ok")
	}
	f = ann.push(func(f *magpiev1.Frame) bool { return f.GetDeliver() != nil })
	if m := f.GetDeliver().GetMessages()[0]; !strings.Contains(m.GetContent(), `"event":"friend.accepted"`) {
		t.Errorf("ann's notice = %v", m)
	}
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_SetFriendRemark{SetFriendRemark: &magpiev1.SetFriendRemark{UserId: "bob", Remark: "Bobby"}}})
	if fr := ann.reply(id).GetFriendInfo(); fr.GetUserId() != "bob" || fr.GetRemark() != "Bobby" {
		t.Errorf("set_friend_remark reply = %v", fr)
	}
	// cat asks ann; ann declines; cat asks again and cancels.
	id = cat.request(&magpiev1.Frame{Body: &magpiev1.Frame_SendFriendRequest{SendFriendRequest: &magpiev1.SendFriendRequest{UserId: "ann"}}})
	cat.reply(id)
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_AnswerFriendRequest{AnswerFriendRequest: &magpiev1.AnswerFriendRequest{UserId: "cat"}}})
	if ann.reply(id).GetOk() == nil {
		t.Error("decline: no ok")
	}
	id = cat.request(&magpiev1.Frame{Body: &magpiev1.Frame_SendFriendRequest{SendFriendRequest: &magpiev1.SendFriendRequest{UserId: "ann"}}})
	cat.reply(id)
	id = cat.request(&magpiev1.Frame{Body: &magpiev1.Frame_CancelFriendRequest{CancelFriendRequest: &magpiev1.CancelFriendRequest{UserId: "ann"}}})
	if cat.reply(id).GetOk() == nil {
		t.Error("cancel: no ok")
	}
	// Friends and paging: ann has bob; with cat added by the backend, two.
	if r := e.do(e.a, req{method: "POST", target: "/v1/users/ann/friends", body: `{"friend_id":"cat"}`}); r.status != http.StatusCreated {
		t.Fatalf("add friend: %d %s", r.status, r.body)
	}
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_ListFriends{ListFriends: &magpiev1.ListFriends{Limit: 1}}})
	p := ann.reply(id).GetFriendPage()
	if len(p.GetFriends()) != 1 || p.GetFriends()[0].GetRemark() != "Bobby" || p.GetNextCursor() == "" {
		t.Fatalf("friends page 1 = %v", p)
	}
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_ListFriends{ListFriends: &magpiev1.ListFriends{Limit: 1, Cursor: p.GetNextCursor()}}})
	if p := ann.reply(id).GetFriendPage(); len(p.GetFriends()) != 1 || p.GetFriends()[0].GetUserId() != "cat" {
		t.Errorf("friends page 2 = %v", p)
	}

	// Blocks: bob's sends to ann are refused with "blocked"; ann's go.
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_BlockUser{BlockUser: &magpiev1.BlockUser{UserId: "bob"}}})
	ann.reply(id)
	id = bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{ClientMsgId: "b1", ToUserId: "ann", Type: "text", Content: "hi"}}})
	bob.expectError(id, "blocked")
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{ClientMsgId: "a1", ToUserId: "bob", Type: "text", Content: "hi"}}})
	if ack := ann.reply(id).GetSendAck(); ack.GetSeq() == 0 {
		t.Errorf("blocker's send: %v", ack)
	}
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_ListBlocked{ListBlocked: &magpiev1.ListBlocked{}}})
	if p := ann.reply(id).GetBlockedPage(); len(p.GetUsers()) != 1 || p.GetUsers()[0].GetUserId() != "bob" {
		t.Errorf("blocked page = %v", p)
	}
	id = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_UnblockUser{UnblockUser: &magpiev1.UnblockUser{UserId: "bob"}}})
	ann.reply(id)
	id = bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{ClientMsgId: "b2", ToUserId: "ann", Type: "text", Content: "hi"}}})
	if ack := bob.reply(id).GetSendAck(); ack.GetSeq() == 0 {
		t.Errorf("send after unblock: %v", ack)
	}
	id = bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_RemoveFriend{RemoveFriend: &magpiev1.RemoveFriend{UserId: "ann"}}})
	bob.reply(id)

	// Bad input, and another app's user ids name nothing.
	for _, c := range []struct {
		who  *wsClient
		f    *magpiev1.Frame
		code string
	}{
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_SendFriendRequest{SendFriendRequest: &magpiev1.SendFriendRequest{UserId: "ann"}}}, "invalid_argument"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_SendFriendRequest{SendFriendRequest: &magpiev1.SendFriendRequest{UserId: "bob", Message: strings.Repeat("m", 513)}}}, "invalid_argument"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_SendFriendRequest{SendFriendRequest: &magpiev1.SendFriendRequest{UserId: "zed"}}}, "user_not_found"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_AnswerFriendRequest{AnswerFriendRequest: &magpiev1.AnswerFriendRequest{UserId: "cat", Accept: true}}}, "not_found"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_CancelFriendRequest{CancelFriendRequest: &magpiev1.CancelFriendRequest{UserId: "cat"}}}, "not_found"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_SetFriendRemark{SetFriendRemark: &magpiev1.SetFriendRemark{UserId: "bob", Remark: "x"}}}, "not_found"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_SetFriendRemark{SetFriendRemark: &magpiev1.SetFriendRemark{UserId: "cat", Remark: strings.Repeat("r", 65)}}}, "invalid_argument"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_RemoveFriend{RemoveFriend: &magpiev1.RemoveFriend{UserId: "bob"}}}, "not_found"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_BlockUser{BlockUser: &magpiev1.BlockUser{UserId: "zed"}}}, "user_not_found"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_BlockUser{BlockUser: &magpiev1.BlockUser{UserId: "ann"}}}, "invalid_argument"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_UnblockUser{UnblockUser: &magpiev1.UnblockUser{UserId: "bob"}}}, "not_found"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_ListFriends{ListFriends: &magpiev1.ListFriends{Cursor: "%%"}}}, "invalid_argument"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_ListFriends{ListFriends: &magpiev1.ListFriends{Limit: 501}}}, "invalid_argument"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_ListBlocked{ListBlocked: &magpiev1.ListBlocked{Cursor: "%%"}}}, "invalid_argument"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_ListFriendRequests{ListFriendRequests: &magpiev1.ListFriendRequests{Cursor: "%%"}}}, "invalid_argument"},
		{zed, &magpiev1.Frame{Body: &magpiev1.Frame_SendFriendRequest{SendFriendRequest: &magpiev1.SendFriendRequest{UserId: "ann"}}}, "user_not_found"},
		{zed, &magpiev1.Frame{Body: &magpiev1.Frame_RemoveFriend{RemoveFriend: &magpiev1.RemoveFriend{UserId: "cat"}}}, "not_found"},
		{ann, &magpiev1.Frame{Body: &magpiev1.Frame_FriendPage{FriendPage: &magpiev1.FriendPage{}}}, "invalid_frame"},
	} {
		id := c.who.request(c.f)
		c.who.expectError(id, c.code)
	}
	id = zed.request(&magpiev1.Frame{Body: &magpiev1.Frame_ListFriends{ListFriends: &magpiev1.ListFriends{}}})
	if p := zed.reply(id).GetFriendPage(); len(p.GetFriends()) != 0 {
		t.Errorf("zed's friends = %v", p)
	}
}
