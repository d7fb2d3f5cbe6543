package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

func syncConvs() *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_SyncConversations{SyncConversations: &magpiev1.SyncConversations{}}}
}

func syncMsgs(conv string, from int64) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{ConvId: conv, FromSeq: from}}}
}

// apiSend sends a message from one user to another through the server API.
func (e *env) apiSend(app testApp, from, to, content string) {
	e.t.Helper()
	r := e.do(app, req{method: "POST", target: "/v1/messages",
		body: `{"from_user_id":"` + from + `","to_user_id":"` + to + `","type":"text","content":"` + content + `"}`})
	if r.status != http.StatusCreated {
		e.t.Fatalf("send %s->%s: %d %s", from, to, r.status, r.body)
	}
}

// TestDeletedUserIsGone: DELETE /v1/users/U takes U's tokens, sessions and
// conversation entries with it; a new U created later starts empty, while
// the peer keeps its history.
func TestDeletedUserIsGone(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	revoked := e.tokenFor(e.a, "alice")
	e.advance(time.Second)
	if r := e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens:revoke"}); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	oldToken := e.tokenFor(e.a, "alice") // issued after the revocation: valid until the delete
	e.apiSend(e.a, "bob", "alice", "private to alice")
	e.apiSend(e.a, "alice", "bob", "private to bob")
	session := e.loginWith(oldToken, "phone")

	e.advance(time.Second)
	if r := e.do(e.a, req{method: "DELETE", target: "/v1/users/alice"}); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	session.expectClose(wire.CloseUserBlocked)
	// A message to the deleted user is refused at once.
	r := e.do(e.a, req{method: "POST", target: "/v1/messages",
		body: `{"from_user_id":"bob","to_user_id":"alice","type":"text","content":"hello?"}`})
	if r.status != http.StatusNotFound || r.code(t) != "user_not_found" {
		t.Fatalf("send to the deleted user: %d %s, want 404 user_not_found", r.status, r.body)
	}

	e.advance(time.Second)
	e.mustCreateUser(e.a, "alice") // a different person
	e.loginRefused(oldToken, "old", wire.CloseTokenRevoked)
	e.loginRefused(revoked, "revoked", wire.CloseTokenRevoked)
	r = e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens"})
	if r.status != http.StatusCreated {
		t.Fatalf("token for the new alice: %d %s", r.status, r.body)
	}
	alice := e.loginWith(r.json(t)["token"].(string), "new-phone")
	if page := alice.reply(alice.request(syncConvs())).GetConversationPage(); page == nil || len(page.GetConversations()) != 0 {
		t.Fatalf("new alice's conversations = %v, want none", page)
	}
	if page := alice.reply(alice.request(syncMsgs("p:alice:bob", 1))).GetMessagePage(); page == nil || len(page.GetMessages()) != 0 {
		t.Fatalf("new alice's history = %v, want none", page)
	}

	// bob writes to the new alice: she sees that message and nothing older.
	e.apiSend(e.a, "bob", "alice", "welcome")
	d := alice.push(func(f *magpiev1.Frame) bool { return f.GetDeliver() != nil }).GetDeliver()
	if m := d.GetMessages()[0]; m.GetSeq() != 3 || m.GetContent() != "welcome" {
		t.Fatalf("delivered to the new alice = %v, want seq 3", m)
	}
	convs := alice.reply(alice.request(syncConvs())).GetConversationPage().GetConversations()
	if len(convs) != 1 || convs[0].GetFirstSeq() != 3 || convs[0].GetUnread() != 1 || convs[0].GetLastMessage().GetSeq() != 3 {
		t.Fatalf("new alice's conversations = %v, want p:alice:bob from seq 3 with one unread", convs)
	}
	msgs := alice.reply(alice.request(syncMsgs("p:alice:bob", 1))).GetMessagePage().GetMessages()
	if len(msgs) != 1 || msgs[0].GetSeq() != 3 {
		t.Fatalf("new alice's history = %v, want only seq 3", msgs)
	}
	// bob keeps everything, alice's old messages included.
	bob := e.login(e.a, "bob", "laptop")
	msgs = bob.reply(bob.request(syncMsgs("p:alice:bob", 1))).GetMessagePage().GetMessages()
	if len(msgs) != 3 || msgs[1].GetContent() != "private to bob" {
		t.Fatalf("bob's history = %v, want all three messages", msgs)
	}
}

// TestDeleteUserWithErasure: erase_messages=true blanks the deleted user's
// messages for everyone.
func TestDeleteUserWithErasure(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	e.apiSend(e.a, "alice", "bob", "from alice")
	e.apiSend(e.a, "bob", "alice", "from bob")
	if r := e.do(e.a, req{method: "DELETE", target: "/v1/users/alice?erase_messages=yes"}); r.status != http.StatusBadRequest || r.code(t) != "validation_failed" {
		t.Fatalf("bad erase_messages: %d %s", r.status, r.body)
	}
	// Another app cannot delete (or erase) this app's user.
	if r := e.do(e.b, req{method: "DELETE", target: "/v1/users/alice?erase_messages=true"}); r.status != http.StatusNotFound {
		t.Fatalf("delete with erasure from app B: %d %s, want 404", r.status, r.body)
	}
	if m, err := e.store.App(e.a.ID).GetMessage(context.Background(), "p:alice:bob", 1); err != nil || string(m.Body) != "from alice" {
		t.Fatalf("app A's message after app B's call = %+v, %v; want it intact", m, err)
	}
	if r := e.do(e.a, req{method: "DELETE", target: "/v1/users/alice?erase_messages=true"}); r.status != http.StatusNoContent {
		t.Fatalf("delete with erasure: %d %s", r.status, r.body)
	}
	bob := e.login(e.a, "bob", "laptop")
	msgs := bob.reply(bob.request(syncMsgs("p:alice:bob", 1))).GetMessagePage().GetMessages()
	if len(msgs) != 2 || msgs[0].GetContent() != "" || !msgs[0].GetRecalled() || msgs[1].GetContent() != "from bob" {
		t.Fatalf("bob's history after erasing alice = %v, want alice's message blanked and recalled", msgs)
	}
	// The server API's history shows the same.
	r := e.do(e.a, req{method: "GET", target: "/v1/conversations/p:alice:bob/messages"})
	list := r.json(t)["messages"].([]any)
	if first := list[0].(map[string]any); r.status != http.StatusOK || first["content"] != "" || first["recalled"] != true {
		t.Fatalf("server API history after erasure: %d %s", r.status, r.body)
	}
}

func syncConvIDs(ids ...string) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_SyncConversations{SyncConversations: &magpiev1.SyncConversations{ConvIds: ids}}}
}

// TestSyncConversationsByID: conv_ids returns the named conversations the
// user is in, of its own app only; malformed ids and too many are refused.
func TestSyncConversationsByID(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"alice", "bob", "dave"} {
		e.mustCreateUser(e.a, u)
		e.mustCreateUser(e.b, u)
	}
	e.apiSend(e.a, "bob", "alice", "a1")
	e.apiSend(e.a, "bob", "dave", "not alice's")
	e.apiSend(e.b, "bob", "alice", "b1") // the same id in app B, with more messages
	e.apiSend(e.b, "bob", "alice", "b2")
	alice := e.login(e.a, "alice", "phone")
	page := alice.reply(alice.request(syncConvIDs("p:bob:dave", "p:alice:bob", "p:alice:zed"))).GetConversationPage()
	convs := page.GetConversations()
	if len(convs) != 1 || convs[0].GetConvId() != "p:alice:bob" || convs[0].GetMaxSeq() != 1 ||
		fmt.Sprint(convs[0].GetMembers()) != "[alice bob]" || page.GetNextCursor() != "" {
		t.Fatalf("conv_ids page = %v; want only app A's p:alice:bob, max seq 1", page)
	}
	for name, f := range map[string]*magpiev1.Frame{
		"malformed id": syncConvIDs("p:alice:bob", "garbage"),
		"101 ids":      syncConvIDs(make([]string, 101)...),
	} {
		if r := alice.reply(alice.request(f)); r.GetError().GetCode() != wire.CodeInvalidArgument {
			t.Errorf("%s: %v, want invalid_argument", name, r)
		}
	}
}
