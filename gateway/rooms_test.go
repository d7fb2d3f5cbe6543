package gateway_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

func joinRoomFrame(room string, limit int32) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_JoinRoom{JoinRoom: &magpiev1.JoinRoom{RoomId: room, HistoryLimit: limit}}}
}

func leaveRoomFrame(room string) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_LeaveRoom{LeaveRoom: &magpiev1.LeaveRoom{RoomId: room}}}
}

func roomSendFrame(room, id, content string) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_SendRoomMessage{SendRoomMessage: &magpiev1.SendRoomMessage{
		RoomId: room, ClientMsgId: id, Content: content}}}
}

// roomLog is what a test client saw of rooms, in order: "room:seq:content"
// per message, "left:room:reason", "count:room:n".
func roomEvent(f *magpiev1.Frame) []string {
	var out []string
	for _, m := range f.GetRoomMessages().GetMessages() {
		out = append(out, fmt.Sprintf("%s:%d:%s", m.GetRoomId(), m.GetSeq(), m.GetContent()))
	}
	if l := f.GetRoomLeft(); l != nil {
		out = append(out, fmt.Sprintf("left:%s:%s", l.GetRoomId(), l.GetReason()))
	}
	if n := f.GetRoomMemberCount(); n != nil {
		out = append(out, fmt.Sprintf("count:%s:%d", n.GetRoomId(), n.GetCount()))
	}
	return out
}

// untilRoomEvent reads frames until one carries the room event want, and
// returns every room event seen (want last).
func (c *wsClient) untilRoomEvent(want string) []string {
	c.t.Helper()
	var seen []string
	for range 1000 {
		f, err := c.recv()
		if err != nil {
			c.t.Fatalf("waiting for room event %q (seen %q): %v", want, seen, err)
		}
		ev := roomEvent(f)
		seen = append(seen, ev...)
		if slices.Contains(ev, want) {
			return seen
		}
	}
	c.t.Fatalf("no room event %q", want)
	return nil
}

// replyKeepingRoomEvents waits for the reply to request id and returns it
// with the room events that came before it.
func (c *wsClient) replyKeepingRoomEvents(id uint64) (*magpiev1.Frame, []string) {
	c.t.Helper()
	var seen []string
	for range 1000 {
		f, err := c.recv()
		if err != nil {
			c.t.Fatalf("waiting for reply %d: %v", id, err)
		}
		if f.GetId() == id {
			return f, seen
		}
		seen = append(seen, roomEvent(f)...)
	}
	c.t.Fatalf("no reply to %d", id)
	return nil, nil
}

// roomEventsBeforePong pings and returns the room events queued before the
// pong: everything the server had queued for the connection.
func (c *wsClient) roomEventsBeforePong() []string {
	c.t.Helper()
	id := c.request(pingFrame())
	var seen []string
	for range 1000 {
		f, err := c.recv()
		if err != nil {
			c.t.Fatalf("waiting for pong: %v", err)
		}
		if f.GetId() == id {
			return seen
		}
		seen = append(seen, roomEvent(f)...)
	}
	c.t.Fatal("no pong")
	return nil
}

// joinRoom joins and returns the reply, failing on an error.
func (c *wsClient) joinRoom(room string, limit int32) *magpiev1.RoomJoined {
	c.t.Helper()
	f := c.reply(c.request(joinRoomFrame(room, limit)))
	if f.GetRoomJoined() == nil {
		c.t.Fatalf("join %s = %v", room, f)
	}
	return f.GetRoomJoined()
}

func historyOf(j *magpiev1.RoomJoined) []string {
	var out []string
	for _, m := range j.GetMessages() {
		out = append(out, fmt.Sprintf("%d:%s", m.GetSeq(), m.GetContent()))
	}
	return out
}

func fastRoomCounts(cfg *gateway.Config) { cfg.Node.RoomCountInterval = 10 * time.Millisecond }

// TestRoomFrames drives a room through the client protocol and the server
// API: join with history and member count, messages to members only, a
// member that leaves or disconnects gets nothing more, mutes, rate limits,
// kicks and destruction; bad input and another app's room change nothing.
func TestRoomFrames(t *testing.T) {
	e := newEnv(t, fastRoomCounts)
	for _, u := range []string{"ann", "bob", "cat", "dan"} {
		e.mustCreateUser(e.a, u)
	}
	e.mustCreateUser(e.b, "bob")
	api := func(app testApp, method, target, body string, status int) resp {
		t.Helper()
		r := e.do(app, req{method: method, target: target, body: body})
		if r.status != status {
			t.Fatalf("%s %s: %d %s, want %d", method, target, r.status, r.body, status)
		}
		return r
	}
	api(e.a, "POST", "/v1/rooms", `{"id":"live","name":"Launch","owner_id":"ann","history_size":3}`, http.StatusCreated)
	api(e.b, "POST", "/v1/rooms", `{"id":"b-only"}`, http.StatusCreated)

	bob := e.login(e.a, "bob", "d1")
	j := bob.joinRoom("live", 0)
	if j.GetRoom().GetMemberCount() != 1 || j.GetRoom().GetOwnerId() != "ann" || len(j.GetMessages()) != 0 {
		t.Errorf("bob's join = %v", j)
	}
	// Bad input and another app's room.
	for _, c := range []struct {
		f    *magpiev1.Frame
		code string
	}{
		{joinRoomFrame("nope", 0), wire.CodeRoomNotFound},
		{joinRoomFrame("b-only", 0), wire.CodeRoomNotFound},
		{joinRoomFrame("bad id", 0), wire.CodeRoomNotFound},
		{joinRoomFrame("live", -1), wire.CodeInvalidArgument},
		{roomSendFrame("b-only", "x1", "hi"), wire.CodeRoomNotFound},
		{roomSendFrame("nope", "x1", "hi"), wire.CodeRoomNotFound},
		{roomSendFrame("live", "", "hi"), wire.CodeInvalidArgument},
		{roomSendFrame("live", "x1", ""), wire.CodeInvalidMessage},
		{&magpiev1.Frame{Body: &magpiev1.Frame_SendRoomMessage{SendRoomMessage: &magpiev1.SendRoomMessage{
			RoomId: "live", ClientMsgId: "x1", Type: "custom", Content: "not json"}}}, wire.CodeInvalidMessage},
		{&magpiev1.Frame{Body: &magpiev1.Frame_RoomMessages{RoomMessages: &magpiev1.RoomMessages{}}}, wire.CodeInvalidFrame},
	} {
		bob.expectError(bob.request(c.f), c.code)
	}
	if f := bob.reply(bob.request(leaveRoomFrame("b-only"))); f.GetOk() == nil {
		t.Errorf("leave a room not joined = %v, want ok", f)
	}

	cat := e.login(e.a, "cat", "d1")
	dan := e.loginJSON(e.a, "dan", "d1") // the JSON encoding of the pushes
	ann := e.login(e.a, "ann", "d1")
	cat.joinRoom("live", 0)
	dan.joinRoom("live", 0)
	if j := ann.joinRoom("live", 0); j.GetRoom().GetMemberCount() != 4 {
		t.Errorf("ann's join: member_count %d, want 4", j.GetRoom().GetMemberCount())
	}
	if r := api(e.a, "GET", "/v1/rooms/live", "", http.StatusOK); r.json(t)["room"].(map[string]any)["member_count"] != 4.0 {
		t.Errorf("GET room = %s, want member_count 4", r.body)
	}

	// A message reaches every member, JSON ones too.
	if a := bob.reply(bob.request(roomSendFrame("live", "c1", "m1"))); a.GetRoomSendAck().GetSeq() != 1 {
		t.Fatalf("send m1 = %v", a)
	}
	for _, c := range []*wsClient{cat, dan, ann} {
		c.untilRoomEvent("live:1:m1")
	}
	// A resend is acknowledged again, not delivered again.
	if a := bob.reply(bob.request(roomSendFrame("live", "c1", "m1"))); !a.GetRoomSendAck().GetDuplicate() || a.GetRoomSendAck().GetSeq() != 1 {
		t.Errorf("resend = %v", a)
	}

	// dan leaves; cat disconnects. Neither gets m2; the count follows.
	dan.reply(dan.request(leaveRoomFrame("live")))
	cat.ws.CloseNow()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := api(e.a, "GET", "/v1/rooms/live", "", http.StatusOK)
		if r.json(t)["room"].(map[string]any)["member_count"] == 2.0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("member_count still %s after a leave and a disconnect", r.body)
		}
		time.Sleep(5 * time.Millisecond) // poll interval, not synchronisation
	}
	cat = e.login(e.a, "cat", "d2") // back, but not in the room
	bob.reply(bob.request(roomSendFrame("live", "c2", "m2")))
	seen := ann.untilRoomEvent("live:2:m2") // the fan-out of m2 is done
	for name, c := range map[string]*wsClient{"dan": dan, "cat": cat} {
		for _, ev := range c.roomEventsBeforePong() {
			if strings.HasPrefix(ev, "live:") {
				t.Errorf("%s, no longer in the room, got %q", name, ev)
			}
		}
	}
	// A member count push tells ann the room shrank.
	if !slices.Contains(seen, "count:live:2") {
		ann.untilRoomEvent("count:live:2")
	}

	// History on join: the last 3 (the room's size), or fewer.
	api(e.a, "POST", "/v1/rooms/live/messages", `{"content":"m3"}`, http.StatusCreated)
	api(e.a, "POST", "/v1/rooms/live/messages", `{"sender_id":"bob","content":"m4"}`, http.StatusCreated)
	ann.untilRoomEvent("live:4:m4")
	if h := historyOf(cat.joinRoom("live", 0)); !slices.Equal(h, []string{"2:m2", "3:m3", "4:m4"}) {
		t.Errorf("history on join = %q", h)
	}
	if h := historyOf(dan.joinRoom("live", 1)); !slices.Equal(h, []string{"4:m4"}) {
		t.Errorf("history of 1 on join = %q", h)
	}

	// A mute refuses the user's sends, in every room of the app only.
	api(e.a, "PUT", "/v1/rooms/live/mutes/bob", "", http.StatusOK)
	bob.expectError(bob.request(roomSendFrame("live", "c5", "muted")), wire.CodeMemberMuted)
	api(e.a, "DELETE", "/v1/rooms/live/mutes/bob", "", http.StatusOK)

	// A kick takes the user's connections out of the room.
	api(e.a, "DELETE", "/v1/rooms/live/members/cat", "", http.StatusNoContent)
	cat.untilRoomEvent("left:live:REASON_KICKED")
	cat.expectError(cat.request(roomSendFrame("live", "c6", "kicked")), wire.CodeRoomNotFound)

	// Destroying the room closes it for every member.
	api(e.a, "DELETE", "/v1/rooms/live", "", http.StatusNoContent)
	for _, c := range []*wsClient{bob, ann, dan} {
		c.untilRoomEvent("left:live:REASON_CLOSED")
	}
	bob.expectError(bob.request(roomSendFrame("live", "c7", "gone")), wire.CodeRoomNotFound)
	api(e.a, "GET", "/v1/rooms/live", "", http.StatusNotFound)
}

// TestRoomRateLimit sends past a room's rate limit: the refusal is the
// retryable rate_limited, the owner is not limited, and the bucket refills
// with the gateway's clock.
func TestRoomRateLimit(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"ann", "bob"} {
		e.mustCreateUser(e.a, u)
	}
	if r := e.do(e.a, req{method: "POST", target: "/v1/rooms", body: `{"id":"slow","owner_id":"ann","rate_limit":1}`}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	bob, ann := e.login(e.a, "bob", "d1"), e.login(e.a, "ann", "d1")
	bob.joinRoom("slow", 0)
	ann.joinRoom("slow", 0)
	for i := range 2 { // the burst
		if f := bob.reply(bob.request(roomSendFrame("slow", fmt.Sprint("b", i), "x"))); f.GetRoomSendAck() == nil {
			t.Fatalf("send %d = %v", i, f)
		}
	}
	if e := bob.expectError(bob.request(roomSendFrame("slow", "b2", "x")), wire.CodeRateLimited); !wire.Retryable(e.GetCode()) {
		t.Error("rate_limited is not retryable")
	}
	if f := ann.reply(ann.request(roomSendFrame("slow", "a1", "owner"))); f.GetRoomSendAck() == nil {
		t.Errorf("owner's send = %v", f)
	}
	e.advance(time.Second)
	if f := bob.reply(bob.request(roomSendFrame("slow", "b2", "x"))); f.GetRoomSendAck() == nil {
		t.Errorf("send after a second = %v", f)
	}
}

// TestRoomServerAPI checks the room routes' bad input, paging and that
// another app's rooms are invisible.
func TestRoomServerAPI(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "ann")
	call := func(app testApp, method, target, body string) resp {
		t.Helper()
		return e.do(app, req{method: method, target: target, body: body})
	}
	r := call(e.a, "POST", "/v1/rooms", `{"id":"r1","name":"One","owner_id":"ann"}`)
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	room := r.json(t)["room"].(map[string]any)
	if room["history_size"] != 50.0 || room["rate_limit"] != 100.0 || room["member_count"] != 0.0 {
		t.Errorf("created room = %v, want the defaults", room)
	}
	for _, id := range []string{"r2", "r3"} {
		if r := call(e.a, "POST", "/v1/rooms", `{"id":"`+id+`"}`); r.status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", id, r.status, r.body)
		}
	}
	for _, c := range []struct {
		app          testApp
		method, path string
		body         string
		status       int
		code         string
	}{
		{e.a, "POST", "/v1/rooms", `{"id":"r1"}`, http.StatusConflict, "room_exists"},
		{e.a, "POST", "/v1/rooms", `{"id":"bad id"}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "POST", "/v1/rooms", `{"history_size":501}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "POST", "/v1/rooms", `{"rate_limit":-1}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "POST", "/v1/rooms", `{"max_members":-1}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "POST", "/v1/rooms", `{"owner_id":"ghost"}`, http.StatusNotFound, "user_not_found"},
		{e.a, "POST", "/v1/rooms", `{"x":1}`, http.StatusBadRequest, "unknown_field"},
		{e.a, "POST", "/v1/rooms", `{"id":`, http.StatusBadRequest, "invalid_json"},
		{e.a, "GET", "/v1/rooms?limit=0", ``, http.StatusBadRequest, "validation_failed"},
		{e.a, "GET", "/v1/rooms?cursor=*", ``, http.StatusBadRequest, "validation_failed"},
		{e.a, "GET", "/v1/rooms/nope", ``, http.StatusNotFound, "room_not_found"},
		{e.a, "POST", "/v1/rooms/r1/messages", `{}`, http.StatusBadRequest, "invalid_message"},
		{e.a, "POST", "/v1/rooms/r1/messages", `{"content":"x","sender_id":"bad/id"}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "POST", "/v1/rooms/r1/messages", `{"content":"x","type":"custom"}`, http.StatusBadRequest, "invalid_message"},
		{e.a, "POST", "/v1/rooms/nope/messages", `{"content":"x"}`, http.StatusNotFound, "room_not_found"},
		{e.a, "PUT", "/v1/rooms/r1/mutes/bad*id", ``, http.StatusBadRequest, "validation_failed"},
		{e.a, "PUT", "/v1/rooms/nope/mutes/ann", ``, http.StatusNotFound, "room_not_found"},
		{e.a, "DELETE", "/v1/rooms/nope/members/ann", ``, http.StatusNotFound, "room_not_found"},
		{e.a, "DELETE", "/v1/rooms/nope", ``, http.StatusNotFound, "room_not_found"},
		// Another app's room ids.
		{e.b, "GET", "/v1/rooms/r1", ``, http.StatusNotFound, "room_not_found"},
		{e.b, "DELETE", "/v1/rooms/r1", ``, http.StatusNotFound, "room_not_found"},
		{e.b, "POST", "/v1/rooms/r1/messages", `{"content":"x"}`, http.StatusNotFound, "room_not_found"},
		{e.b, "PUT", "/v1/rooms/r1/mutes/ann", ``, http.StatusNotFound, "room_not_found"},
		{e.b, "DELETE", "/v1/rooms/r1/mutes/ann", ``, http.StatusNotFound, "room_not_found"},
		{e.b, "DELETE", "/v1/rooms/r1/members/ann", ``, http.StatusNotFound, "room_not_found"},
	} {
		if r := call(c.app, c.method, c.path, c.body); r.status != c.status || r.code(t) != c.code {
			t.Errorf("%s %s %s: %d %s, want %d %s", c.method, c.path, c.body, r.status, r.body, c.status, c.code)
		}
	}
	if r := call(e.b, "GET", "/v1/rooms", ""); r.status != http.StatusOK || len(r.json(t)["rooms"].([]any)) != 0 {
		t.Errorf("B's list = %d %s, want none", r.status, r.body)
	}
	r = call(e.a, "GET", "/v1/rooms?limit=2", "")
	page := r.json(t)
	if rs := page["rooms"].([]any); len(rs) != 2 || page["next_cursor"] == "" {
		t.Fatalf("page 1 = %s", r.body)
	}
	r = call(e.a, "GET", "/v1/rooms?limit=2&cursor="+page["next_cursor"].(string), "")
	if rs := r.json(t)["rooms"].([]any); len(rs) != 1 || rs[0].(map[string]any)["id"] != "r3" {
		t.Errorf("page 2 = %s", r.body)
	}
	if r := call(e.a, "GET", "/v1/rooms/r1", ""); r.json(t)["room"].(map[string]any)["name"] != "One" {
		t.Errorf("A's r1 after B's calls = %s", r.body)
	}
}
