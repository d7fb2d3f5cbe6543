package cluster_test

import (
	"crypto/rand"
	"testing"
	"time"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// request sends f as a request and returns its reply.
func (c *ws) request(f *magpiev1.Frame) *magpiev1.Frame {
	c.t.Helper()
	f.Id = c.nextID()
	c.write(f)
	return c.next(func(r *magpiev1.Frame) bool { return r.GetId() == f.GetId() })
}

func groupSend(group, text string) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{
		ClientMsgId: rand.Text(), ToGroupId: group, Type: "text", Content: text}}}
}

// TestGroupAcrossGateways: a group made on one gateway (MongoDB store)
// reaches members on the other; a member removed on the first can no
// longer send on the second once the control event has reached it, and
// gets nothing sent after.
func TestGroupAcrossGateways(t *testing.T) {
	e := newEnv(t, nil)
	a, b := e.gateway(t), e.gateway(t)
	for _, u := range []string{"ann", "bob", "cat"} {
		e.user(t, a, u)
	}
	ann := e.connect(t, a, "ann", "phone")
	bob, cat := e.connect(t, b, "bob", "phone"), e.connect(t, b, "cat", "phone")

	r := ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_CreateGroup{CreateGroup: &magpiev1.CreateGroup{
		Id: "crew", MemberIds: []string{"bob", "cat"}}}})
	if g := r.GetGroupInfo(); g.GetMemberCount() != 3 {
		t.Fatalf("create_group = %v", r)
	}
	ack := ann.request(groupSend("crew", "hello from A")).GetSendAck()
	for _, c := range []*ws{bob, cat} {
		if m := c.delivered("hello from A"); m.GetSeq() != ack.GetSeq() || m.GetConvId() != "g:crew" {
			t.Fatalf("%s got %v, want seq %d", c.name, m, ack.GetSeq())
		}
	}
	// A typing signal from B reaches A through the relay.
	if r := bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_Typing{Typing: &magpiev1.Typing{ConvId: "g:crew", Typing: true}}}); r.GetOk() == nil {
		t.Fatalf("typing = %v", r)
	}
	if ev := ann.next(func(f *magpiev1.Frame) bool { return f.GetTypingEvent() != nil }).GetTypingEvent(); ev.GetUserId() != "bob" || !ev.GetTyping() {
		t.Fatalf("ann got %v, want bob typing", ev)
	}
	if a := cat.request(groupSend("crew", "hello from B")).GetSendAck(); a.GetSeq() != ack.GetSeq()+1 {
		t.Fatalf("cat's send = %v", a)
	}
	ann.delivered("hello from B")

	r = ann.request(&magpiev1.Frame{Body: &magpiev1.Frame_RemoveGroupMembers{RemoveGroupMembers: &magpiev1.RemoveGroupMembers{
		GroupId: "crew", UserIds: []string{"cat"}}}})
	if got := r.GetGroupMembersResult().GetRemoved(); len(got) != 1 {
		t.Fatalf("remove = %v", r)
	}
	// The removal reaches gateway B by a control event: within a bounded
	// time, cat's sends there are refused.
	deadline := time.Now().Add(10 * time.Second)
	for {
		f := cat.request(groupSend("crew", "still here?"))
		if f.GetError().GetCode() == "forbidden" {
			break
		}
		if f.GetSendAck() == nil || time.Now().After(deadline) {
			t.Fatalf("cat's send after removal = %v, want forbidden", f)
		}
		time.Sleep(20 * time.Millisecond) // the event is on its way
	}
	ack = bob.request(groupSend("crew", "after cat")).GetSendAck()
	if m := ann.delivered("after cat"); m.GetSeq() != ack.GetSeq() {
		t.Fatalf("ann got %v, want seq %d", m, ack.GetSeq())
	}
	// cat gets nothing more of the group's conversation.
	f := cat.request(&magpiev1.Frame{Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{ConvId: "g:crew"}}})
	if f.GetError().GetCode() != "forbidden" {
		t.Fatalf("cat's sync after removal = %v, want forbidden", f)
	}
}
