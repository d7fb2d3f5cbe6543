package gateway_test

import (
	"encoding/json"
	"testing"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// TestJoinRequestReachesAdmins: over real WebSockets, a user asking to
// join an approval group is announced live to the owner's and the admins'
// devices (a join.requested notice in their system conversations), not to
// plain members; an admin who was offline pulls it at its next sync.
func TestJoinRequestReachesAdmins(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"ann", "bob", "cat", "dan", "eve"} {
		e.mustCreateUser(e.a, u)
	}
	ann := e.login(e.a, "ann", "phone")
	ok := func(c *wsClient, f *magpiev1.Frame) *magpiev1.Frame {
		t.Helper()
		r := c.reply(c.request(f))
		if r.GetError() != nil {
			t.Fatalf("%v: %v", f, r.GetError())
		}
		return r
	}
	ok(ann, &magpiev1.Frame{Body: &magpiev1.Frame_CreateGroup{CreateGroup: &magpiev1.CreateGroup{
		Id: "club", JoinPolicy: "approval", MemberIds: []string{"bob", "cat", "eve"}}}})
	for _, admin := range []string{"bob", "eve"} {
		ok(ann, &magpiev1.Frame{Body: &magpiev1.Frame_SetGroupMember{SetGroupMember: &magpiev1.SetGroupMember{
			GroupId: "club", UserId: admin, Role: "admin"}}})
	}
	bob, cat := e.login(e.a, "bob", "phone"), e.login(e.a, "cat", "phone") // eve stays offline

	dan := e.login(e.a, "dan", "phone")
	r := ok(dan, &magpiev1.Frame{Body: &magpiev1.Frame_JoinGroup{JoinGroup: &magpiev1.JoinGroup{GroupId: "club", Message: "hi"}}})
	if p := r.GetGroupMembersResult().GetPending(); len(p) != 1 || p[0] != "dan" {
		t.Fatalf("JoinGroup = %v, want dan pending", r)
	}
	notice := func(m *magpiev1.Message) map[string]any {
		t.Helper()
		var n map[string]any
		if err := json.Unmarshal([]byte(m.GetContent()), &n); err != nil {
			t.Fatalf("notice %q: %v", m.GetContent(), err)
		}
		return n
	}
	for _, c := range []struct {
		name string
		ws   *wsClient
	}{{"ann", ann}, {"bob", bob}} {
		f := c.ws.push(func(f *magpiev1.Frame) bool {
			ms := f.GetDeliver().GetMessages()
			return len(ms) > 0 && ms[0].GetConvId() == "s:"+c.name
		})
		m := f.GetDeliver().GetMessages()[0]
		n := notice(m)
		if m.GetType() != "notice" || n["event"] != "join.requested" || n["by"] != "dan" || n["group_id"] != "club" || n["message"] != "hi" {
			t.Errorf("%s's notice = %v", c.name, m)
		}
	}
	// cat, a plain member, has no system message: its sync lists no
	// system conversation.
	page := cat.reply(cat.request(&magpiev1.Frame{Body: &magpiev1.Frame_SyncConversations{SyncConversations: &magpiev1.SyncConversations{}}})).GetConversationPage()
	for _, conv := range page.GetConversations() {
		if conv.GetConvId() == "s:cat" {
			t.Errorf("cat has a system conversation: %v", conv)
		}
	}
	// eve, an offline admin, pulls it.
	eve := e.login(e.a, "eve", "phone")
	mp := eve.reply(eve.request(&magpiev1.Frame{Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{ConvId: "s:eve", FromSeq: 1}}})).GetMessagePage()
	if ms := mp.GetMessages(); len(ms) != 1 || notice(ms[0])["event"] != "join.requested" {
		t.Fatalf("eve's system messages = %v", mp)
	}
}
