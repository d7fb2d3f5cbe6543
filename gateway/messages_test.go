package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"github.com/magpie-im/magpie/tenant"
)

func TestServerAPIMessages(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	bob := e.login(e.a, "bob", "phone")

	r := e.do(e.a, req{method: "POST", target: "/v1/messages",
		body: `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"from the backend","client_msg_id":"b-1"}`})
	if r.status != http.StatusCreated {
		t.Fatalf("send: %d %s", r.status, r.body)
	}
	m := r.json(t)["message"].(map[string]any)
	if m["conv_id"] != "p:alice:bob" || m["seq"].(float64) != 1 || m["sender_id"] != "alice" {
		t.Fatalf("sent message = %v", m)
	}
	d := bob.push(func(f *magpiev1.Frame) bool { return f.GetDeliver() != nil })
	if got := d.GetDeliver().GetMessages()[0]; got.GetContent() != "from the backend" || got.GetSeq() != 1 {
		t.Fatalf("bob received %v", got)
	}
	// Same client_msg_id: the original, 200, duplicate.
	r = e.do(e.a, req{method: "POST", target: "/v1/messages",
		body: `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"from the backend","client_msg_id":"b-1"}`})
	if r.status != http.StatusOK || r.json(t)["duplicate"] != true {
		t.Fatalf("resend: %d %s", r.status, r.body)
	}
	// A system message goes to bob's system conversation.
	r = e.do(e.a, req{method: "POST", target: "/v1/messages",
		body: `{"to_user_id":"bob","system":true,"type":"custom","content":"{\"kind\":\"welcome\"}"}`})
	if r.status != http.StatusCreated || r.json(t)["message"].(map[string]any)["conv_id"] != "s:bob" {
		t.Fatalf("system send: %d %s", r.status, r.body)
	}
	for i := 2; i <= 6; i++ {
		e.do(e.a, req{method: "POST", target: "/v1/messages",
			body: fmt.Sprintf(`{"from_user_id":"bob","to_user_id":"alice","type":"text","content":"m%d"}`, i)})
	}
	// History pages in both directions.
	r = e.do(e.a, req{method: "GET", target: "/v1/conversations/p:alice:bob/messages?from_seq=2&limit=2"})
	page := r.json(t)
	if msgs := page["messages"].([]any); len(msgs) != 2 || msgs[0].(map[string]any)["seq"].(float64) != 2 || page["has_more"] != true {
		t.Fatalf("ascending page = %s", r.body)
	}
	r = e.do(e.a, req{method: "GET", target: "/v1/conversations/p:alice:bob/messages?order=desc&limit=4"})
	page = r.json(t)
	if msgs := page["messages"].([]any); len(msgs) != 4 || msgs[0].(map[string]any)["seq"].(float64) != 6 || page["has_more"] != true {
		t.Fatalf("descending page = %s", r.body)
	}
	// Recall erases the content and pushes the recalled message.
	r = e.do(e.a, req{method: "POST", target: "/v1/conversations/p:alice:bob/messages/1:recall"})
	if r.status != http.StatusOK || r.json(t)["message"].(map[string]any)["recalled"] != true {
		t.Fatalf("recall: %d %s", r.status, r.body)
	}
	bob.push(func(f *magpiev1.Frame) bool {
		ms := f.GetDeliver().GetMessages()
		return len(ms) == 1 && ms[0].GetSeq() == 1 && ms[0].GetRecalled() && ms[0].GetContent() == ""
	})
}

func TestServerAPIMessagesBadInputAndCrossApp(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"alice", "bob"} {
		e.mustCreateUser(e.a, u)
	}
	e.mustCreateUser(e.b, "carol")
	e.do(e.a, req{method: "POST", target: "/v1/messages", body: `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"secret"}`})
	tests := []struct {
		name, method, target, body string
		status                     int
		code                       string
	}{
		{"unknown sender", "POST", "/v1/messages", `{"from_user_id":"zed","to_user_id":"bob","type":"text","content":"x"}`, 404, "user_not_found"},
		{"recipient in another app", "POST", "/v1/messages", `{"from_user_id":"alice","to_user_id":"carol","type":"text","content":"x"}`, 404, "user_not_found"},
		{"system with sender", "POST", "/v1/messages", `{"from_user_id":"alice","to_user_id":"bob","system":true,"type":"text","content":"x"}`, 400, "validation_failed"},
		{"bad type", "POST", "/v1/messages", `{"from_user_id":"alice","to_user_id":"bob","type":"video","content":"x"}`, 400, "invalid_message"},
		{"empty content", "POST", "/v1/messages", `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":""}`, 400, "invalid_message"},
		{"unknown field", "POST", "/v1/messages", `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"x","prio":1}`, 400, "unknown_field"},
		{"bad conv id", "GET", "/v1/conversations/nonsense/messages", "", 400, "validation_failed"},
		{"bad range", "GET", "/v1/conversations/p:alice:bob/messages?from_seq=5&to_seq=2", "", 400, "validation_failed"},
		{"bad order", "GET", "/v1/conversations/p:alice:bob/messages?order=up", "", 400, "validation_failed"},
		{"recall missing", "POST", "/v1/conversations/p:alice:bob/messages/9:recall", "", 404, "message_not_found"},
		{"recall bad seq", "POST", "/v1/conversations/p:alice:bob/messages/x:recall", "", 400, "validation_failed"},
		{"unknown message verb", "POST", "/v1/conversations/p:alice:bob/messages/1:pin", "", 404, "route_not_found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(e.a, req{method: tt.method, target: tt.target, body: tt.body})
			if r.status != tt.status || r.code(t) != tt.code {
				t.Fatalf("%s %s = %d %s, want %d %s", tt.method, tt.target, r.status, r.body, tt.status, tt.code)
			}
		})
	}
	// App B sees none of app A's conversation and cannot recall in it.
	r := e.do(e.b, req{method: "GET", target: "/v1/conversations/p:alice:bob/messages"})
	if r.status != http.StatusOK || len(r.json(t)["messages"].([]any)) != 0 {
		t.Fatalf("app B history of app A's conversation: %d %s", r.status, r.body)
	}
	if r := e.do(e.b, req{method: "POST", target: "/v1/conversations/p:alice:bob/messages/1:recall"}); r.status != http.StatusNotFound {
		t.Fatalf("app B recall: %d %s", r.status, r.body)
	}
	m, err := e.store.App(e.a.ID).GetMessage(context.Background(), "p:alice:bob", 1)
	if err != nil || string(m.Body) != "secret" || !m.RecalledAt.IsZero() {
		t.Fatalf("app A's message after app B's calls = %+v, %v", m, err)
	}
}

func TestConnectLimits(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"alice", "carol", "dave"} {
		e.mustCreateUser(e.a, u)
	}
	ctx := context.Background()
	setApp := func(l store.Limits, st store.Settings) {
		t.Helper()
		if _, err := e.tenants.UpdateApp(ctx, e.a.ID, tenant.AppUpdate{Limits: &l, Settings: &st}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("send rate", func(t *testing.T) {
		// Over the send rate the server stops reading instead of refusing:
		// every pipelined send is stored, in the order sent.
		setApp(store.Limits{SendRate: 1000, SendBurst: 1}, store.Settings{})
		c := e.login(e.a, "alice", "rate")
		const n = 40
		ids := make([]uint64, n)
		for i := range n {
			ids[i] = c.request(sendFrame("carol", fmt.Sprint("r", i), "x"))
		}
		var last int64
		for i, id := range ids {
			f := c.reply(id)
			ack := f.GetSendAck()
			if ack == nil || ack.GetSeq() <= last {
				t.Fatalf("pipelined send %d over the rate = %v, want a SendAck with seq > %d", i, f, last)
			}
			last = ack.GetSeq()
		}
	})
	t.Run("login rate", func(t *testing.T) {
		// In app B, so that app A's login bucket stays full for the rest.
		e.mustCreateUser(e.b, "erin")
		l := store.Limits{ConnRate: 1}
		if _, err := e.tenants.UpdateApp(ctx, e.b.ID, tenant.AppUpdate{Limits: &l}); err != nil {
			t.Fatal(err)
		}
		e.login(e.b, "erin", "first") // the burst of one
		c := e.dial(wire.SubprotocolProto)
		c.request(loginFrame(e.tokenFor(e.b, "erin"), "second"))
		c.expectClose(wire.CloseOverload)
		e.advance(time.Second) // the bucket refills on the gateway's clock
		e.login(e.b, "erin", "third")
	})
	t.Run("refuse policy", func(t *testing.T) {
		setApp(store.Limits{MaxDevicesPerUser: 1}, store.Settings{DevicePolicy: "refuse"})
		first := e.login(e.a, "carol", "only")
		c := e.dial(wire.SubprotocolProto)
		c.request(loginFrame(e.tokenFor(e.a, "carol"), "second"))
		c.expectClose(wire.CloseTooManyDevices)
		// The first device is untouched.
		if f := first.reply(first.request(&magpiev1.Frame{Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}})); f.GetPong() == nil {
			t.Fatalf("first device after refusal: %v", f)
		}
	})
	t.Run("origin allow-list", func(t *testing.T) {
		setApp(store.Limits{}, store.Settings{AllowedOrigins: []string{"https://chat.example.com"}})
		for origin, allowed := range map[string]bool{"https://chat.example.com": true, "https://evil.example": false} {
			dctx, cancel := context.WithTimeout(ctx, 5e9)
			ws, _, err := websocket.Dial(dctx, "ws"+e.srv.URL[len("http"):]+"/v1/connect", &websocket.DialOptions{
				Subprotocols: []string{wire.SubprotocolProto}, HTTPHeader: http.Header{"Origin": {origin}}})
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			codec, _ := wire.CodecFor(wire.SubprotocolProto)
			c := &wsClient{t: t, ws: ws, codec: codec}
			id := c.request(loginFrame(e.tokenFor(e.a, "dave"), "web-"+origin))
			if allowed {
				if f := c.reply(id); f.GetLoginResult() == nil {
					t.Fatalf("allowed origin: %v", f)
				}
			} else {
				c.expectClose(wire.CloseProtocolError)
			}
			ws.CloseNow()
		}
	})
}

func TestIdempotentMessageSendUnderConcurrency(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	h := map[string]string{"Idempotency-Key": "order-42-shipped"}
	body := `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"your order shipped"}`
	var wg sync.WaitGroup
	seqs := make([]float64, 8)
	for i := range seqs {
		wg.Go(func() {
			r := e.do(e.a, req{method: "POST", target: "/v1/messages", body: body, header: h})
			if r.status != http.StatusCreated && r.status != http.StatusOK {
				t.Errorf("send %d: %d %s", i, r.status, r.body)
				return
			}
			seqs[i] = r.json(t)["message"].(map[string]any)["seq"].(float64)
		})
	}
	wg.Wait()
	for i, s := range seqs {
		if s != 1 {
			t.Fatalf("send %d got seq %v, want every retry to return seq 1", i, s)
		}
	}
	c, err := e.store.App(e.a.ID).GetConversation(context.Background(), "p:alice:bob")
	if err != nil || c.MaxSeq != 1 {
		t.Fatalf("conversation after 8 concurrent retries = %+v, %v; want one message", c, err)
	}
}

// TestServerMadeClientMsgIDsGrowWithTime: an API send without a client
// message id or an Idempotency-Key gets srv_ and an id that starts with
// the time (wire.NewClientMsgID), each new one sorting after the last.
func TestServerMadeClientMsgIDsGrowWithTime(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	body := `{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"hi"}`
	low := "srv_" + wire.NewClientMsgID(time.Now().Add(-time.Millisecond))
	prev := ""
	for i := range 3 {
		r := e.do(e.a, req{method: "POST", target: "/v1/messages", body: body})
		if r.status != http.StatusCreated {
			t.Fatalf("send %d: %d %s", i, r.status, r.body)
		}
		id, _ := r.json(t)["message"].(map[string]any)["client_msg_id"].(string)
		hexPart, ok := strings.CutPrefix(id, "srv_")
		if !ok || len(hexPart) != 32 || strings.Trim(hexPart, "0123456789abcdef") != "" {
			t.Fatalf("send %d: client_msg_id %q, want srv_ and 32 hex digits", i, id)
		}
		if id <= low || id == prev || (i > 0 && id[:16] < prev[:16]) {
			t.Fatalf("send %d: client_msg_id %q, after %q (made a millisecond before the first) and %q", i, id, low, prev)
		}
		prev = id
	}
}

func TestDisablingAppClosesSessions(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.b, "alice")
	a := e.login(e.a, "alice", "d1")
	b := e.login(e.b, "alice", "d1")
	op := e.consoleLogin("op@example.com", e.boot.OperatorPassword)
	if r := e.console(op, "PATCH", "/manage/v1/apps/"+e.a.ID, `{"disabled":true}`); r.status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	a.expectClose(wire.CloseAppDisabled)
	if f := b.reply(b.request(&magpiev1.Frame{Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}})); f.GetPong() == nil {
		t.Fatalf("app B's session after app A was disabled: %v", f)
	}
}

// TestSendWhileTheStoreIsBusy: while the store asks new messages to wait
// (embedded mode's absorber far behind its log), a WebSocket send is
// refused with a retry hint, and so is every later send of the connection
// until the refused one comes again, and a server API send gets 503 with
// Retry-After; nothing is stored meanwhile. Once the store is not busy the
// resent messages take their seqs in the order first sent.
func TestSendWhileTheStoreIsBusy(t *testing.T) {
	var busy atomic.Bool
	busy.Store(true)
	e := newEnvConfig(t, envConfig{busy: busy.Load})
	for _, u := range []string{"alice", "bob"} {
		e.mustCreateUser(e.a, u)
	}
	c := e.login(e.a, "alice", "phone")
	refused := func(id uint64) {
		t.Helper()
		f := c.reply(id)
		if e := f.GetError(); e.GetCode() != wire.CodeUnavailable || !e.GetRetryable() || e.GetRetryAfterMs() == 0 {
			t.Fatalf("reply = %v, want a retryable unavailable with retry_after_ms", f)
		}
	}
	refused(c.request(sendFrame("bob", "m1", "1")))
	r := e.do(e.a, req{method: "POST", target: "/v1/messages", body: `{"from_user_id":"bob","to_user_id":"alice","type":"text","content":"hi"}`})
	if r.status != http.StatusServiceUnavailable || r.code(t) != "unavailable" || r.header.Get("Retry-After") == "" {
		t.Fatalf("server API send while busy: %d %s (Retry-After %q), want 503 unavailable with Retry-After", r.status, r.body, r.header.Get("Retry-After"))
	}
	busy.Store(false)
	refused(c.request(sendFrame("bob", "m2", "2"))) // behind the refused m1
	for i, m := range []string{"m1", "m2"} {
		f := c.reply(c.request(sendFrame("bob", m, m)))
		if ack := f.GetSendAck(); ack.GetSeq() != int64(i+1) || ack.GetDuplicate() {
			t.Fatalf("resent %s: %v, want a new message with seq %d", m, f, i+1)
		}
	}
}

// TestSendOverloadGoBack: a send that finds the commit queue full is
// refused with a retry hint, and so is every later send of the connection
// until the refused one comes again; the connection stays open and the
// resent messages take their seqs in the order first sent.
func TestSendOverloadGoBack(t *testing.T) {
	g := newGate()
	e := newEnvConfig(t, envConfig{appendGate: g, maxQueue: 2})
	for _, u := range []string{"alice", "bob"} {
		e.mustCreateUser(e.a, u)
	}
	c := e.login(e.a, "alice", "phone")
	first := c.request(sendFrame("bob", "m0", "0"))
	g.waitEntered(t) // m0 is in the commit, held; the queue is empty
	queued := []uint64{c.request(sendFrame("bob", "m1", "1")), c.request(sendFrame("bob", "m2", "2"))}
	refused := func(id uint64) uint32 {
		t.Helper()
		f := c.reply(id)
		e := f.GetError()
		if e.GetCode() != wire.CodeUnavailable || !e.GetRetryable() || e.GetRetryAfterMs() == 0 {
			t.Fatalf("reply = %v, want a retryable unavailable with retry_after_ms", f)
		}
		return e.GetRetryAfterMs()
	}
	first3 := refused(c.request(sendFrame("bob", "m3", "3")))                        // the queue is full
	if behind := refused(c.request(sendFrame("bob", "m4", "4"))); behind != first3 { // behind the refused m3
		t.Fatalf("hint behind the refused send = %d ms, want its %d ms", behind, first3)
	}
	// Refused again in a row: the hint at least doubles (each is the
	// drain time doubled per earlier refusal, stretched by under half).
	if again := refused(c.request(sendFrame("bob", "m3", "3"))); again <= first3 {
		t.Fatalf("hint of a second refusal in a row = %d ms, want more than the first's %d ms", again, first3)
	}
	refused(c.request(sendFrame("bob", "m4", "4")))
	g.release()
	for i, id := range append([]uint64{first}, queued...) {
		if ack := c.reply(id).GetSendAck(); ack.GetSeq() != int64(i+1) {
			t.Fatalf("send m%d: ack %v, want seq %d", i, ack, i+1)
		}
	}
	refused(c.request(sendFrame("bob", "m5", "5"))) // still waiting for m3
	for i, m := range []string{"m3", "m4", "m5"} {
		f := c.reply(c.request(sendFrame("bob", m, m)))
		if ack := f.GetSendAck(); ack.GetSeq() != int64(4+i) || ack.GetDuplicate() {
			t.Fatalf("resent %s: %v, want a new message with seq %d", m, f, 4+i)
		}
	}
	// Another connection never saw a refusal: its sends are taken.
	d := e.login(e.a, "bob", "tablet")
	if ack := d.reply(d.request(sendFrame("alice", "b0", "hi"))).GetSendAck(); ack.GetSeq() != 7 {
		t.Fatalf("bob's send: %v, want seq 7", ack)
	}
}
