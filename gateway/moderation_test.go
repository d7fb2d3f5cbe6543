package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// keywords is a fake moderation policy: it rejects "bad", replaces "swap"
// and drops "hush", for every app.
type keywords struct{}

func (keywords) Policy(context.Context, string, bool) (messaging.Policy, error) {
	return keywords{}, nil
}
func (keywords) HasHook() bool { return false }
func (keywords) Hook(context.Context, messaging.Candidate) messaging.Verdict {
	return messaging.Verdict{}
}

func (keywords) Filter(c messaging.Candidate) messaging.Verdict {
	switch c.Content {
	case "bad":
		return messaging.Verdict{Action: messaging.Reject, Code: "kw_bad", Message: "watch your language"}
	case "swap":
		return messaging.Verdict{Action: messaging.Modify, Content: "swapped"}
	case "hush":
		return messaging.Verdict{Action: messaging.Drop}
	}
	return messaging.Verdict{}
}

// TestModeratedSends: over a real WebSocket, a rejected send gets an
// Error with code and reason, a modified message reaches the recipient
// modified, and a dropped one reaches nobody while its sender gets a
// SendAck with seq 0. Through the server API, a rejection answers 422.
func TestModeratedSends(t *testing.T) {
	e := newEnvConfig(t, envConfig{moderator: keywords{}})
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	alice, bob := e.login(e.a, "alice", "a1"), e.login(e.a, "bob", "b1")

	if er := alice.expectError(alice.request(sendFrame("bob", "m1", "bad")), wire.CodeMessageRejected); er.GetReason() != "kw_bad" || er.GetRetryable() {
		t.Fatalf("rejection = %v, want reason kw_bad, not retryable", er)
	}
	if ack := alice.reply(alice.request(sendFrame("bob", "m2", "hush"))).GetSendAck(); ack == nil || ack.GetSeq() != 0 || ack.GetConvId() != "p:alice:bob" {
		t.Fatalf("drop ack = %v, want seq 0", ack)
	}
	ack := alice.reply(alice.request(sendFrame("bob", "m3", "swap"))).GetSendAck()
	if ack.GetSeq() != 1 {
		t.Fatalf("modified send ack = %v, want seq 1", ack)
	}
	// bob's first delivery is the modified message: the dropped one
	// reached nobody.
	d := bob.push(func(f *magpiev1.Frame) bool { return f.GetDeliver() != nil }).GetDeliver()
	if m := d.GetMessages()[0]; m.GetSeq() != 1 || m.GetContent() != "swapped" {
		t.Fatalf("delivered = %v", m)
	}

	r := e.do(e.a, req{method: "POST", target: "/v1/messages",
		body: `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"bad"}`})
	var body struct {
		Error struct{ Code, Reason string }
	}
	if err := json.Unmarshal(r.body, &body); err != nil || r.status != http.StatusUnprocessableEntity ||
		body.Error.Code != wire.CodeMessageRejected || body.Error.Reason != "kw_bad" {
		t.Fatalf("server API reject = %d %s", r.status, r.body)
	}
	r = e.do(e.a, req{method: "POST", target: "/v1/messages",
		body: `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"hush"}`})
	if r.status != http.StatusCreated || !json.Valid(r.body) {
		t.Fatalf("server API drop = %d %s", r.status, r.body)
	}
	var sent struct{ Message struct{ Seq int64 } }
	if err := json.Unmarshal(r.body, &sent); err != nil || sent.Message.Seq != 0 {
		t.Fatalf("server API drop = %s, want seq 0", r.body)
	}
}

// TestModeratedRoomMessages: room messages go through the app's
// moderation as other messages do: over a WebSocket a rejected one gets
// an Error with code and reason, a dropped one a RoomSendAck with seq 0
// and reaches no member, a modified one reaches them modified; through
// the server API a rejection answers 422.
func TestModeratedRoomMessages(t *testing.T) {
	e := newEnvConfig(t, envConfig{moderator: keywords{}})
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	if r := e.do(e.a, req{method: "POST", target: "/v1/rooms", body: `{"id":"live"}`}); r.status != http.StatusCreated {
		t.Fatalf("create room: %d %s", r.status, r.body)
	}
	alice, bob := e.login(e.a, "alice", "a1"), e.login(e.a, "bob", "b1")
	alice.joinRoom("live", 0)
	bob.joinRoom("live", 0)

	if er := alice.expectError(alice.request(roomSendFrame("live", "m1", "bad")), wire.CodeMessageRejected); er.GetReason() != "kw_bad" {
		t.Fatalf("room rejection = %v, want reason kw_bad", er)
	}
	if ack := alice.reply(alice.request(roomSendFrame("live", "m2", "hush"))).GetRoomSendAck(); ack == nil || ack.GetSeq() != 0 {
		t.Fatalf("room drop ack = %v, want seq 0", ack)
	}
	if ack := alice.reply(alice.request(roomSendFrame("live", "m3", "swap"))).GetRoomSendAck(); ack.GetSeq() != 1 {
		t.Fatalf("modified room send ack = %v, want seq 1", ack)
	}
	// bob's first room message is the modified one: the rejected and the
	// dropped ones reached nobody, nor the room's history.
	if seen := bob.untilRoomEvent("live:1:swapped"); slices.ContainsFunc(seen, func(s string) bool { return strings.HasPrefix(s, "live:") && s != "live:1:swapped" }) {
		t.Fatalf("bob's room events = %q", seen)
	}

	r := e.do(e.a, req{method: "POST", target: "/v1/rooms/live/messages", body: `{"client_msg_id":"s1","content":"bad"}`})
	var body struct {
		Error struct{ Code, Reason string }
	}
	if err := json.Unmarshal(r.body, &body); err != nil || r.status != http.StatusUnprocessableEntity ||
		body.Error.Code != wire.CodeMessageRejected || body.Error.Reason != "kw_bad" {
		t.Fatalf("server API room reject = %d %s", r.status, r.body)
	}
}
