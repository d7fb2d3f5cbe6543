package gateway_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/magpie-im/magpie/sdk/go/wire"
)

// TestRoomUpdateAppliesToMembers changes a room's settings while members
// are in it: a lower rate limit refuses their next sends, the new owner's
// messages have priority and pass the limit, a smaller history keeps
// fewer messages, a lower max_members refuses the next join and keeps the
// members; the members never join again.
func TestRoomUpdateAppliesToMembers(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"ann", "bob", "cat", "dan"} {
		e.mustCreateUser(e.a, u)
	}
	api := func(method, target, body string, status int) map[string]any {
		t.Helper()
		r := e.do(e.a, req{method: method, target: target, body: body})
		if r.status != status {
			t.Fatalf("%s %s %s: %d %s, want %d", method, target, body, r.status, r.body, status)
		}
		if r.status == http.StatusNoContent {
			return nil
		}
		return r.json(t)
	}
	api("POST", "/v1/rooms", `{"id":"live","owner_id":"ann","rate_limit":1000}`, http.StatusCreated)
	bob, cat := e.login(e.a, "bob", "d1"), e.login(e.a, "cat", "d1")
	bob.joinRoom("live", 0)
	cat.joinRoom("live", 0)
	for i := range 4 { // well within 1000/s
		if f := bob.reply(bob.request(roomSendFrame("live", fmt.Sprint("b", i), "x"))); f.GetRoomSendAck() == nil {
			t.Fatalf("send %d before the change = %v", i, f)
		}
	}

	room := api("PATCH", "/v1/rooms/live", `{"rate_limit":1,"owner_id":"cat","history_size":2,"max_members":2,"name":"Renamed"}`,
		http.StatusOK)["room"].(map[string]any)
	if room["rate_limit"] != 1.0 || room["owner_id"] != "cat" || room["history_size"] != 2.0 || room["max_members"] != 2.0 ||
		room["name"] != "Renamed" || room["member_count"] != 2.0 {
		t.Errorf("PATCH = %v", room)
	}
	// The new rate limit (1/s, burst 2) applies to bob's next sends.
	for i := range 2 {
		if f := bob.reply(bob.request(roomSendFrame("live", fmt.Sprint("c", i), "x"))); f.GetRoomSendAck() == nil {
			t.Fatalf("send %d within the new burst = %v", i, f)
		}
	}
	bob.expectError(bob.request(roomSendFrame("live", "c2", "x")), wire.CodeRateLimited)
	// cat, the new owner, passes it, with priority.
	for i := range 3 {
		if f := cat.reply(cat.request(roomSendFrame("live", fmt.Sprint("o", i), fmt.Sprint("owner", i)))); f.GetRoomSendAck() == nil {
			t.Fatalf("the new owner's send %d = %v", i, f)
		}
	}
	var priority []bool
	for range 1000 {
		f, err := bob.recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range f.GetRoomMessages().GetMessages() {
			if m.GetSenderId() == "cat" {
				priority = append(priority, m.GetPriority())
			}
		}
		if len(priority) == 3 {
			break
		}
	}
	if !slices.Equal(priority, []bool{true, true, true}) {
		t.Errorf("the new owner's messages: priority %v, want all set", priority)
	}
	// A room at its new max_members refuses a join and keeps its members.
	dan := e.login(e.a, "dan", "d1")
	dan.expectError(dan.request(joinRoomFrame("live", 0)), wire.CodeRoomFull)
	// The history keeps the new size.
	bob.reply(bob.request(leaveRoomFrame("live")))
	if h := historyOf(dan.joinRoom("live", 0)); !slices.Equal(h, []string{"8:owner1", "9:owner2"}) {
		t.Errorf("history after the change = %q, want the last 2", h)
	}
	// Back to the defaults: the limit no longer bites.
	room = api("PATCH", "/v1/rooms/live", `{"rate_limit":0,"owner_id":"","max_members":0}`, http.StatusOK)["room"].(map[string]any)
	if room["rate_limit"] != 100.0 || room["owner_id"] != "" || room["max_members"] != 0.0 || room["name"] != "Renamed" {
		t.Errorf("PATCH to defaults = %v", room)
	}
	if f := dan.reply(dan.request(roomSendFrame("live", "d1", "x"))); f.GetRoomSendAck() == nil {
		t.Errorf("send after the limit went back to the default = %v", f)
	}
}

// TestRoomBan bans a user: its connections leave the room told so, its
// joins are refused with room_banned on every device until the ban is
// lifted; kicks still let users back; another app's ban is its own.
func TestRoomBan(t *testing.T) {
	e := newEnv(t, fastRoomCounts)
	for _, u := range []string{"ann", "bob"} {
		e.mustCreateUser(e.a, u)
	}
	e.mustCreateUser(e.b, "bob")
	api := func(app testApp, method, target, body string, status int) resp {
		t.Helper()
		r := e.do(app, req{method: method, target: target, body: body})
		if r.status != status {
			t.Fatalf("%s %s %s: %d %s, want %d", method, target, body, r.status, r.body, status)
		}
		return r
	}
	api(e.a, "POST", "/v1/rooms", `{"id":"live"}`, http.StatusCreated)
	api(e.b, "POST", "/v1/rooms", `{"id":"live"}`, http.StatusCreated)
	ann, bob1, bob2 := e.login(e.a, "ann", "d1"), e.login(e.a, "bob", "d1"), e.login(e.a, "bob", "d2")
	for _, c := range []*wsClient{ann, bob1, bob2} {
		c.joinRoom("live", 0)
	}
	bobB := e.login(e.b, "bob", "d1") // app B's bob, in app B's room
	bobB.joinRoom("live", 0)

	ban := api(e.a, "PUT", "/v1/rooms/live/bans/bob", `{"reason":"spam"}`, http.StatusOK).json(t)["ban"].(map[string]any)
	if ban["user_id"] != "bob" || ban["room_id"] != "live" || ban["reason"] != "spam" || ban["created_at"] == "" {
		t.Errorf("ban = %v", ban)
	}
	for _, c := range []*wsClient{bob1, bob2} {
		c.untilRoomEvent("left:live:REASON_BANNED")
		c.expectError(c.request(joinRoomFrame("live", 0)), wire.CodeRoomBanned)
		c.expectError(c.request(roomSendFrame("live", "x1", "let me in")), wire.CodeRoomNotFound)
	}
	bob3 := e.login(e.a, "bob", "d3") // a new device is banned too
	bob3.expectError(bob3.request(joinRoomFrame("live", 0)), wire.CodeRoomBanned)
	// ann stays; app B's bob is not banned from app B's room.
	if f := ann.reply(ann.request(roomSendFrame("live", "a1", "still here"))); f.GetRoomSendAck() == nil {
		t.Errorf("ann's send after bob's ban = %v", f)
	}
	if f := bobB.reply(bobB.request(roomSendFrame("live", "b1", "app B"))); f.GetRoomSendAck() == nil {
		t.Errorf("app B's bob's send = %v", f)
	}
	bobB.reply(bobB.request(leaveRoomFrame("live")))
	bobB.joinRoom("live", 0)

	bans := api(e.a, "GET", "/v1/rooms/live/bans", "", http.StatusOK).json(t)
	if bs := bans["bans"].([]any); len(bs) != 1 || bs[0].(map[string]any)["user_id"] != "bob" || bans["next_cursor"] != "" {
		t.Errorf("bans = %v", bans)
	}
	if bs := api(e.b, "GET", "/v1/rooms/live/bans", "", http.StatusOK).json(t)["bans"].([]any); len(bs) != 0 {
		t.Errorf("app B's bans = %v, want none", bs)
	}
	// App B cannot lift app A's ban.
	api(e.b, "DELETE", "/v1/rooms/live/bans/bob", "", http.StatusNoContent)
	bob1.expectError(bob1.request(joinRoomFrame("live", 0)), wire.CodeRoomBanned)

	api(e.a, "DELETE", "/v1/rooms/live/bans/bob", "", http.StatusNoContent)
	api(e.a, "DELETE", "/v1/rooms/live/bans/bob", "", http.StatusNoContent) // again: not an error
	bob1.joinRoom("live", 0)
	if f := bob1.reply(bob1.request(roomSendFrame("live", "x2", "back"))); f.GetRoomSendAck() == nil {
		t.Errorf("send after the unban = %v", f)
	}
	// A ban without a body; a kick lets the user back at once.
	api(e.a, "PUT", "/v1/rooms/live/bans/ann", "", http.StatusOK)
	ann.untilRoomEvent("left:live:REASON_BANNED")
	api(e.a, "DELETE", "/v1/rooms/live/bans/ann", "", http.StatusNoContent)
	api(e.a, "DELETE", "/v1/rooms/live/members/bob", "", http.StatusNoContent)
	bob1.untilRoomEvent("left:live:REASON_KICKED")
	bob1.joinRoom("live", 0)
	// Destroying the room takes its bans: a room created again has none.
	api(e.a, "PUT", "/v1/rooms/live/bans/bob", "", http.StatusOK)
	api(e.a, "DELETE", "/v1/rooms/live", "", http.StatusNoContent)
	api(e.a, "POST", "/v1/rooms", `{"id":"live"}`, http.StatusCreated)
	bob2.joinRoom("live", 0)
}

// TestRoomSettingsAndBansAPI checks the bad input of the PATCH and ban
// routes, and that another app's room ids and users change nothing.
func TestRoomSettingsAndBansAPI(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "ann")
	e.mustCreateUser(e.b, "zed")
	if r := e.do(e.a, req{method: "POST", target: "/v1/rooms", body: `{"id":"r1","name":"One","owner_id":"ann","rate_limit":5}`}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	for _, c := range []struct {
		app          testApp
		method, path string
		body         string
		status       int
		code         string
	}{
		{e.a, "PATCH", "/v1/rooms/r1", ``, http.StatusBadRequest, "invalid_json"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"name":`, http.StatusBadRequest, "invalid_json"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"muted":["ann"]}`, http.StatusBadRequest, "unknown_field"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"id":"r2"}`, http.StatusBadRequest, "unknown_field"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"rate_limit":"fast"}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"name":"` + string(make([]byte, 0)) + fmt.Sprintf("%0257d", 0) + `"}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"history_size":501}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"history_size":-1}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"rate_limit":10001}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"rate_limit":-0.5}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"max_members":-1}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"owner_id":"bad/id"}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"owner_id":"ghost"}`, http.StatusNotFound, "user_not_found"},
		{e.a, "PATCH", "/v1/rooms/r1", `{"owner_id":"zed"}`, http.StatusNotFound, "user_not_found"}, // app B's user
		{e.a, "PATCH", "/v1/rooms/nope", `{"name":"x"}`, http.StatusNotFound, "room_not_found"},
		{e.a, "PATCH", "/v1/rooms/bad%20id", `{"name":"x"}`, http.StatusNotFound, "room_not_found"},
		{e.a, "PUT", "/v1/rooms/r1/bans/bad*id", ``, http.StatusBadRequest, "validation_failed"},
		{e.a, "PUT", "/v1/rooms/r1/bans/ann", `{"reason":"` + fmt.Sprintf("%0257d", 0) + `"}`, http.StatusBadRequest, "validation_failed"},
		{e.a, "PUT", "/v1/rooms/r1/bans/ann", `{"why":"x"}`, http.StatusBadRequest, "unknown_field"},
		{e.a, "PUT", "/v1/rooms/r1/bans/ann", `{"reason":`, http.StatusBadRequest, "invalid_json"},
		{e.a, "PUT", "/v1/rooms/r1/bans/ghost", ``, http.StatusNotFound, "user_not_found"},
		{e.a, "PUT", "/v1/rooms/r1/bans/zed", ``, http.StatusNotFound, "user_not_found"}, // app B's user
		{e.a, "PUT", "/v1/rooms/nope/bans/ann", ``, http.StatusNotFound, "room_not_found"},
		{e.a, "DELETE", "/v1/rooms/r1/bans/bad*id", ``, http.StatusBadRequest, "validation_failed"},
		{e.a, "DELETE", "/v1/rooms/nope/bans/ann", ``, http.StatusNotFound, "room_not_found"},
		{e.a, "GET", "/v1/rooms/r1/bans?limit=0", ``, http.StatusBadRequest, "validation_failed"},
		{e.a, "GET", "/v1/rooms/r1/bans?cursor=*", ``, http.StatusBadRequest, "validation_failed"},
		{e.a, "GET", "/v1/rooms/nope/bans", ``, http.StatusNotFound, "room_not_found"},
		// Another app's room ids.
		{e.b, "PATCH", "/v1/rooms/r1", `{"name":"B's"}`, http.StatusNotFound, "room_not_found"},
		{e.b, "PUT", "/v1/rooms/r1/bans/zed", ``, http.StatusNotFound, "room_not_found"},
		{e.b, "DELETE", "/v1/rooms/r1/bans/zed", ``, http.StatusNotFound, "room_not_found"},
		{e.b, "GET", "/v1/rooms/r1/bans", ``, http.StatusNotFound, "room_not_found"},
	} {
		if r := e.do(c.app, req{method: c.method, target: c.path, body: c.body}); r.status != c.status || r.code(t) != c.code {
			t.Errorf("%s %s %.60s: %d %s, want %d %s", c.method, c.path, c.body, r.status, r.body, c.status, c.code)
		}
	}
	// Nothing changed.
	r := e.do(e.a, req{method: "GET", target: "/v1/rooms/r1"})
	room := r.json(t)["room"].(map[string]any)
	if room["name"] != "One" || room["owner_id"] != "ann" || room["rate_limit"] != 5.0 || room["history_size"] != 50.0 {
		t.Errorf("room after refused changes = %s", r.body)
	}
	if r := e.do(e.a, req{method: "GET", target: "/v1/rooms/r1/bans"}); len(r.json(t)["bans"].([]any)) != 0 {
		t.Errorf("bans after refused bans = %s", r.body)
	}
	// PATCH with nothing set changes no setting.
	if r := e.do(e.a, req{method: "PATCH", target: "/v1/rooms/r1", body: `{"name":null}`}); r.status != http.StatusOK ||
		r.json(t)["room"].(map[string]any)["name"] != "One" {
		t.Errorf("PATCH {name: null} = %d %s", r.status, r.body)
	}
}

// TestRoomJoinRacingBan bans a user while its join is between the ban
// check and joining: the ban's kick finds no connection yet, so the join
// must notice the ban itself, once its connection is in the room.
func TestRoomJoinRacingBan(t *testing.T) {
	g := newGate()
	e := newEnvConfig(t, envConfig{banGate: g})
	for _, u := range []string{"ann", "bob"} {
		e.mustCreateUser(e.a, u)
	}
	if r := e.do(e.a, req{method: "POST", target: "/v1/rooms", body: `{"id":"live"}`}); r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	bob := e.login(e.a, "bob", "d1")
	id := bob.request(joinRoomFrame("live", 0)) // its check reads "not banned", then waits
	g.waitEntered(t)
	if r := e.do(e.a, req{method: "PUT", target: "/v1/rooms/live/bans/bob"}); r.status != http.StatusOK {
		t.Fatalf("ban: %d %s", r.status, r.body)
	}
	g.release()
	bob.expectError(id, wire.CodeRoomBanned)
	// bob is not in the room: the count is 0 and ann's message does not reach him.
	if r := e.do(e.a, req{method: "GET", target: "/v1/rooms/live"}); r.json(t)["room"].(map[string]any)["member_count"] != 0.0 {
		t.Errorf("room after the refused join = %s, want no member", r.body)
	}
	ann := e.login(e.a, "ann", "d1")
	ann.joinRoom("live", 0)
	// The room's fan-out may reach ann before her ack: keep the events
	// read on the way to it.
	f, before := ann.replyKeepingRoomEvents(ann.request(roomSendFrame("live", "a1", "hello")))
	ack := f.GetRoomSendAck()
	if ack == nil {
		t.Fatal("ann's room send was not acknowledged")
	}
	hello := fmt.Sprintf("live:%d:hello", ack.GetSeq())
	if !slices.Contains(before, hello) {
		ann.untilRoomEvent(hello)
	}
	for _, ev := range bob.roomEventsBeforePong() {
		if ev == hello {
			t.Errorf("bob, refused, got %q", ev)
		}
	}
}
