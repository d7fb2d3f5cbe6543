package cluster_test

import (
	"crypto/rand"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/serverapi"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

func roomSend(room, text string) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_SendRoomMessage{SendRoomMessage: &magpiev1.SendRoomMessage{
		RoomId: room, ClientMsgId: rand.Text(), Content: text}}}
}

// roomMessage waits for a push of the room message with this text.
func (c *ws) roomMessage(text string) *magpiev1.RoomMessage {
	c.t.Helper()
	var got *magpiev1.RoomMessage
	c.next(func(f *magpiev1.Frame) bool {
		for _, m := range f.GetRoomMessages().GetMessages() {
			if m.GetContent() == text {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// TestRoomAcrossGateways: members of a room on two gateways (Redis room
// state, relays over RabbitMQ) receive each other's messages with one seq
// sequence; a member that disconnects from gateway B leaves the room (the
// count drops on both gateways) and a member of B that left gets nothing
// sent after; a ban made on A takes its user out on B and B refuses the
// user's joins; destroying the room on A closes it on B.
func TestRoomAcrossGateways(t *testing.T) {
	e := newEnv(t, nil)
	a, b := e.gateway(t), e.gateway(t)
	for _, u := range []string{"ann", "bob", "cat", "dan"} {
		e.user(t, a, u)
	}
	if _, err := e.api(t, a).CreateRoom(t.Context(), serverapi.RoomInput{ID: "live", OwnerID: "ann"}); err != nil {
		t.Fatal(err)
	}
	ann := e.connect(t, a, "ann", "phone")
	bob, cat, dan := e.connect(t, b, "bob", "phone"), e.connect(t, b, "cat", "phone"), e.connect(t, b, "dan", "phone")
	for i, c := range []*ws{ann, bob, cat, dan} {
		r := c.request(&magpiev1.Frame{Body: &magpiev1.Frame_JoinRoom{JoinRoom: &magpiev1.JoinRoom{RoomId: "live"}}})
		if got := r.GetRoomJoined().GetRoom().GetMemberCount(); got != int64(i+1) {
			t.Fatalf("%s joined: %v, want member_count %d", c.name, r, i+1)
		}
	}
	a1 := ann.request(roomSend("live", "from A")).GetRoomSendAck()
	for _, c := range []*ws{bob, cat, dan} {
		if m := c.roomMessage("from A"); m.GetSeq() != a1.GetSeq() || !m.GetPriority() {
			t.Fatalf("%s got %v, want seq %d with priority", c.name, m, a1.GetSeq())
		}
	}
	b1 := bob.request(roomSend("live", "from B")).GetRoomSendAck()
	if b1.GetSeq() != a1.GetSeq()+1 {
		t.Fatalf("B's send = %v, want seq %d (one sequence across gateways)", b1, a1.GetSeq()+1)
	}
	ann.roomMessage("from B")

	// cat disconnects from B and dan leaves: the count drops to 2 on A too.
	cat.conn.CloseNow()
	if r := dan.request(&magpiev1.Frame{Body: &magpiev1.Frame_LeaveRoom{LeaveRoom: &magpiev1.LeaveRoom{RoomId: "live"}}}); r.GetOk() == nil {
		t.Fatalf("leave = %v", r)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r, err := e.api(t, a).GetRoom(t.Context(), "live")
		if err != nil {
			t.Fatal(err)
		}
		if r.MemberCount == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("member_count = %d after a disconnect and a leave on B, want 2", r.MemberCount)
		}
		time.Sleep(20 * time.Millisecond) // poll interval, not synchronisation
	}
	ann.request(roomSend("live", "after"))
	bob.roomMessage("after") // B has fanned "after" out to its members
	// dan gets nothing of the room after leaving: nothing before its pong.
	id := dan.nextID()
	dan.write(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}})
	dan.next(func(f *magpiev1.Frame) bool {
		if len(f.GetRoomMessages().GetMessages()) > 0 {
			t.Fatalf("dan got %v after leaving", f)
		}
		return f.GetId() == id
	})

	// A ban made on A takes dan out on B, and B refuses dan's joins.
	join := &magpiev1.Frame{Body: &magpiev1.Frame_JoinRoom{JoinRoom: &magpiev1.JoinRoom{RoomId: "live"}}}
	if r := dan.request(join); r.GetRoomJoined() == nil {
		t.Fatalf("dan's join again = %v", r)
	}
	if _, err := e.api(t, a).BanRoomUser(t.Context(), "live", "dan", ""); err != nil {
		t.Fatal(err)
	}
	banned := dan.next(func(f *magpiev1.Frame) bool { return f.GetRoomLeft() != nil }).GetRoomLeft()
	if banned.GetRoomId() != "live" || banned.GetReason() != magpiev1.RoomLeft_REASON_BANNED {
		t.Fatalf("dan got %v, want live banned", banned)
	}
	if r := dan.request(join); r.GetError().GetCode() != "room_banned" {
		t.Fatalf("dan's join after the ban = %v, want room_banned", r)
	}

	// Destroying the room on A closes it for bob on B.
	if err := e.api(t, a).DestroyRoom(t.Context(), "live"); err != nil {
		t.Fatal(err)
	}
	left := bob.next(func(f *magpiev1.Frame) bool { return f.GetRoomLeft() != nil }).GetRoomLeft()
	if left.GetRoomId() != "live" || left.GetReason() != magpiev1.RoomLeft_REASON_CLOSED {
		t.Fatalf("bob got %v, want live closed", left)
	}
}
