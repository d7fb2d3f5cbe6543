package gateway_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/sdk/go/token"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// wsClient is a raw protocol client for testing the connection node.
type wsClient struct {
	t     *testing.T
	ws    *websocket.Conn
	codec wire.Codec
	next  uint64
}

func (e *env) dial(subprotocol string) *wsClient {
	e.t.Helper()
	return e.dialURL(e.srv.URL, subprotocol)
}

// dialURL opens a WebSocket to the gateway at base (another node's).
func (e *env) dialURL(base, subprotocol string) *wsClient {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/v1/connect",
		&websocket.DialOptions{Subprotocols: []string{subprotocol}})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(8 << 20)
	codec, _ := wire.CodecFor(subprotocol)
	c := &wsClient{t: e.t, ws: ws, codec: codec}
	e.t.Cleanup(func() { ws.CloseNow() })
	return c
}

func (c *wsClient) sendRaw(data []byte) {
	c.t.Helper()
	typ := websocket.MessageText
	if c.codec.Binary() {
		typ = websocket.MessageBinary
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, typ, data); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// request sends a frame with a fresh id and returns the id.
func (c *wsClient) request(f *magpiev1.Frame) uint64 {
	c.t.Helper()
	c.next++
	f.Id = c.next
	b, err := c.codec.Marshal(f)
	if err != nil {
		c.t.Fatal(err)
	}
	c.sendRaw(b)
	return f.Id
}

// recv returns the next frame, failing after 5 s. A closed connection
// returns nil and the close error.
func (c *wsClient) recv() (*magpiev1.Frame, error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := c.ws.Read(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			c.t.Fatal("no frame within 5s")
		}
		return nil, err
	}
	f, err := wire.Decode(c.codec, data, len(data))
	if err != nil {
		c.t.Fatalf("server sent an undecodable frame: %v", err)
	}
	return f, nil
}

// reply waits for the reply to request id, skipping pushes.
func (c *wsClient) reply(id uint64) *magpiev1.Frame {
	c.t.Helper()
	for range 1000 {
		f, err := c.recv()
		if err != nil {
			c.t.Fatalf("waiting for reply %d: %v", id, err)
		}
		if f.GetId() == id {
			return f
		}
	}
	c.t.Fatalf("no reply to %d", id)
	return nil
}

// push waits for the next unsolicited frame matching ok.
func (c *wsClient) push(ok func(*magpiev1.Frame) bool) *magpiev1.Frame {
	c.t.Helper()
	for range 1000 {
		f, err := c.recv()
		if err != nil {
			c.t.Fatalf("waiting for a push: %v", err)
		}
		if f.GetId() == 0 && ok(f) {
			return f
		}
	}
	c.t.Fatal("no matching push")
	return nil
}

// expectClose reads until the server closes and checks the close code and
// that a Close frame with the same code came first.
func (c *wsClient) expectClose(want wire.CloseCode) {
	c.t.Helper()
	var sawFrame bool
	for range 1000 {
		f, err := c.recv()
		if err != nil {
			if got := websocket.CloseStatus(err); got != websocket.StatusCode(want) {
				c.t.Fatalf("close status = %d (%v), want %d; Close frame seen first: %v", got, err, want, sawFrame)
			}
			if !sawFrame {
				c.t.Fatalf("closed with %d without a Close frame first", want)
			}
			return
		}
		if cl := f.GetClose(); cl != nil {
			if wire.CloseCode(cl.GetCode()) != want {
				c.t.Fatalf("Close frame code = %d (%s), want %d", cl.GetCode(), cl.GetReason(), want)
			}
			sawFrame = true
		}
	}
	c.t.Fatal("connection not closed")
}

func loginFrame(tok, device string) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_Login{Login: &magpiev1.Login{
		Token: tok, DeviceId: device, Platform: "linux", SdkVersion: "test/0",
	}}}
}

func (e *env) tokenFor(app testApp, user string) string {
	e.t.Helper()
	tok, _, err := token.Mint(app.Key, app.Secret, user, time.Hour, e.clock())
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// login connects user of app and logs in.
func (e *env) login(app testApp, user, device string) *wsClient {
	e.t.Helper()
	c := e.dial(wire.SubprotocolProto)
	id := c.request(loginFrame(e.tokenFor(app, user), device))
	f := c.reply(id)
	if f.GetLoginResult() == nil {
		e.t.Fatalf("login %s: %v", user, f)
	}
	return c
}

func sendFrame(to, clientID, content string) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{
		ClientMsgId: clientID, ToUserId: to, Type: "text", Content: content,
	}}}
}

func TestConnectLoginAndChat(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	for _, sub := range []string{wire.SubprotocolProto, wire.SubprotocolJSON} {
		t.Run(sub, func(t *testing.T) {
			alice := e.dial(sub)
			f := alice.reply(alice.request(loginFrame(e.tokenFor(e.a, "alice"), "phone-"+sub)))
			lr := f.GetLoginResult()
			if lr == nil || lr.GetUserId() != "alice" || lr.GetHeartbeatIntervalMs() != 25000 || lr.GetMaxMessageBytes() != 64<<10 {
				t.Fatalf("login result = %v", f)
			}
			bob := e.login(e.a, "bob", "laptop-"+sub)
			id := alice.request(sendFrame("bob", "c1-"+sub, "hi bob"))
			ack := alice.reply(id).GetSendAck()
			if ack == nil || ack.GetConvId() != "p:alice:bob" || ack.GetSeq() < 1 || ack.GetDuplicate() {
				t.Fatalf("send ack = %v", ack)
			}
			d := bob.push(func(f *magpiev1.Frame) bool { return f.GetDeliver() != nil }).GetDeliver()
			if m := d.GetMessages()[0]; m.GetSeq() != ack.GetSeq() || m.GetContent() != "hi bob" || m.GetSenderId() != "alice" {
				t.Fatalf("delivered = %v", m)
			}
			// Resend: same ack, marked duplicate, no second message.
			again := alice.reply(alice.request(sendFrame("bob", "c1-"+sub, "hi bob"))).GetSendAck()
			if again.GetSeq() != ack.GetSeq() || !again.GetDuplicate() {
				t.Fatalf("resend ack = %v, want seq %d duplicate", again, ack.GetSeq())
			}
			// ack:R from bob gives alice a DELIVERED receipt.
			okf := bob.reply(bob.request(&magpiev1.Frame{Body: &magpiev1.Frame_DeliverAck{DeliverAck: &magpiev1.DeliverAck{
				Cursors: []*magpiev1.Cursor{{ConvId: ack.GetConvId(), Seq: ack.GetSeq()}},
			}}}))
			if okf.GetOk() == nil {
				t.Fatalf("deliver ack reply = %v", okf)
			}
			r := alice.push(func(f *magpiev1.Frame) bool { return f.GetReceipt() != nil }).GetReceipt()
			if r.GetKind() != magpiev1.Receipt_KIND_DELIVERED || r.GetSeq() != ack.GetSeq() || r.GetUserId() != "bob" {
				t.Fatalf("receipt = %v", r)
			}
		})
	}
}

func TestConnectBadInput(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.b, "mallory")

	t.Run("frame before login", func(t *testing.T) {
		c := e.dial(wire.SubprotocolProto)
		f := c.reply(c.request(&magpiev1.Frame{Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}}))
		if f.GetError().GetCode() != wire.CodeNotLoggedIn {
			t.Fatalf("ping before login = %v", f)
		}
	})
	t.Run("malformed protobuf", func(t *testing.T) {
		c := e.login(e.a, "alice", "d1")
		c.sendRaw([]byte{0xff, 0xff, 0xff, 0x0f})
		c.expectClose(wire.CloseProtocolError)
	})
	t.Run("malformed JSON", func(t *testing.T) {
		c := e.dial(wire.SubprotocolJSON)
		c.sendRaw([]byte(`{"id":"1","login":{"token":`))
		c.expectClose(wire.CloseProtocolError)
	})
	t.Run("long bad JSON value", func(t *testing.T) {
		// The close reason quotes the decoder and must still fit a close frame.
		c := e.dial(wire.SubprotocolJSON)
		c.sendRaw([]byte(`{"id":"` + strings.Repeat("z", 300) + `","ping":{}}`))
		c.expectClose(wire.CloseProtocolError)
	})
	t.Run("oversized frame", func(t *testing.T) {
		// Before login the frame limit is 16 KiB.
		c := e.dial(wire.SubprotocolProto)
		c.request(loginFrame(strings.Repeat("x", 20<<10), "d2"))
		_, err := c.recv()
		for err == nil {
			_, err = c.recv()
		}
		if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
			t.Fatalf("oversized frame closed with %v, want 1009", err)
		}
	})
	t.Run("content over the app limit", func(t *testing.T) {
		c := e.login(e.a, "alice", "d3")
		f := c.reply(c.request(sendFrame("alice", "large", strings.Repeat("x", 65<<10))))
		if f.GetError().GetCode() != wire.CodeMessageTooLarge {
			t.Fatalf("large content = %v", f)
		}
	})
	t.Run("invalid messages", func(t *testing.T) {
		c := e.login(e.a, "alice", "d4")
		for _, s := range []*magpiev1.Send{
			{ClientMsgId: "", ToUserId: "alice", Type: "text", Content: "x"},
			{ClientMsgId: "a", ToUserId: "bad id", Type: "text", Content: "x"},
			{ClientMsgId: "b", ToUserId: "alice", Type: "video", Content: "x"},
			{ClientMsgId: "c", ToUserId: "alice", Type: "text", Content: ""},
			{ClientMsgId: "d", ToUserId: "alice", Type: "custom", Content: "{not json"},
		} {
			f := c.reply(c.request(&magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: s}}))
			if f.GetError() == nil || f.GetError().GetRetryable() {
				t.Fatalf("send %v = %v, want a non-retryable error", s, f)
			}
		}
	})
	t.Run("bad tokens", func(t *testing.T) {
		forged, _, _ := token.Mint(e.b.Key, e.a.Secret, "alice", time.Hour, e.clock())
		expired, _, _ := token.Mint(e.a.Key, e.a.Secret, "alice", time.Minute, e.clock().Add(-time.Hour))
		for name, tc := range map[string]struct {
			tok  string
			want wire.CloseCode
		}{
			"garbage":                 {"not-a-jwt", wire.CloseBadToken},
			"app A's secret for B":    {forged, wire.CloseBadToken},
			"expired":                 {expired, wire.CloseTokenExpired},
			"unknown user":            {e.tokenFor(e.a, "nobody"), wire.CloseBadToken},
			"B's user with A's token": {e.tokenFor(e.a, "mallory"), wire.CloseBadToken},
		} {
			t.Run(name, func(t *testing.T) {
				c := e.dial(wire.SubprotocolProto)
				c.request(loginFrame(tc.tok, "dev"))
				c.expectClose(tc.want)
			})
		}
	})
}

func TestConnectCrossApp(t *testing.T) {
	e := newEnv(t)
	for _, u := range []string{"alice", "bob"} {
		e.mustCreateUser(e.a, u)
		e.mustCreateUser(e.b, u)
	}
	e.mustCreateUser(e.b, "carol")
	// App B's alice and bob chat.
	bAlice := e.login(e.b, "alice", "b-dev")
	if ack := bAlice.reply(bAlice.request(sendFrame("bob", "b1", "app B secret"))).GetSendAck(); ack == nil {
		t.Fatal("app B send failed")
	}
	aAlice := e.login(e.a, "alice", "a-dev")
	// carol exists only in app B.
	if f := aAlice.reply(aAlice.request(sendFrame("carol", "x1", "hi"))); f.GetError().GetCode() != wire.CodeUserNotFound {
		t.Fatalf("send to another app's user = %v", f)
	}
	// The same conversation id in app A holds none of app B's messages.
	f := aAlice.reply(aAlice.request(&magpiev1.Frame{Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{ConvId: "p:alice:bob"}}}))
	if page := f.GetMessagePage(); page == nil || len(page.GetMessages()) != 0 {
		t.Fatalf("app A sync of p:alice:bob = %v", f)
	}
	f = aAlice.reply(aAlice.request(&magpiev1.Frame{Body: &magpiev1.Frame_SyncConversations{SyncConversations: &magpiev1.SyncConversations{}}}))
	if page := f.GetConversationPage(); page == nil || len(page.GetConversations()) != 0 {
		t.Fatalf("app A conversations = %v", f)
	}
	// Conversations the user is not a member of are refused: bob and dave
	// of app A chat (membership is data in the store, not read from the
	// id), and a malformed id.
	e.mustCreateUser(e.a, "dave")
	e.apiSend(e.a, "bob", "dave", "not for alice")
	for _, conv := range []string{"p:bob:dave", "garbage"} {
		f := aAlice.reply(aAlice.request(&magpiev1.Frame{Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{ConvId: conv}}}))
		if f.GetError().GetCode() != wire.CodeForbidden {
			t.Fatalf("sync %s = %v, want forbidden", conv, f)
		}
		f = aAlice.reply(aAlice.request(&magpiev1.Frame{Body: &magpiev1.Frame_DeliverAck{DeliverAck: &magpiev1.DeliverAck{
			Cursors: []*magpiev1.Cursor{{ConvId: conv, Seq: 1}}}}}))
		if f.GetError().GetCode() != wire.CodeForbidden {
			t.Fatalf("ack %s = %v, want forbidden", conv, f)
		}
		f = aAlice.reply(aAlice.request(&magpiev1.Frame{Body: &magpiev1.Frame_Read{Read: &magpiev1.Read{ConvId: conv, Seq: 1}}}))
		if f.GetError().GetCode() != wire.CodeForbidden {
			t.Fatalf("read %s = %v, want forbidden", conv, f)
		}
	}
}

func TestConnectKicks(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	t.Run("revoked token", func(t *testing.T) {
		c := e.login(e.a, "alice", "d1")
		e.advance(time.Second)
		e.do(e.a, req{method: "POST", target: "/v1/users/alice/tokens:revoke"})
		c.expectClose(wire.CloseTokenRevoked)
		// The old token no longer logs in.
		c2 := e.dial(wire.SubprotocolProto)
		c2.request(loginFrame(e.tokenFor(e.a, "alice"), "d1"))
		_ = c2
	})
	t.Run("blocked user", func(t *testing.T) {
		e.advance(time.Second)
		c := e.login(e.a, "alice", "d2")
		e.do(e.a, req{method: "POST", target: "/v1/users/alice:block"})
		c.expectClose(wire.CloseUserBlocked)
		c2 := e.dial(wire.SubprotocolProto)
		c2.request(loginFrame(e.tokenFor(e.a, "alice"), "d3"))
		c2.expectClose(wire.CloseUserBlocked)
		e.do(e.a, req{method: "POST", target: "/v1/users/alice:unblock"})
	})
	t.Run("same device replaces its session", func(t *testing.T) {
		old := e.login(e.a, "alice", "phone")
		_ = e.login(e.a, "alice", "phone")
		old.expectClose(wire.CloseKicked)
	})
	t.Run("device limit kicks the oldest", func(t *testing.T) {
		limits := appLimits(100, 100)
		limits.Limits.MaxDevicesPerUser = 2
		if _, err := e.tenants.UpdateApp(context.Background(), e.a.ID, limits); err != nil {
			t.Fatal(err)
		}
		first := e.login(e.a, "alice", "k1")
		e.login(e.a, "alice", "k2")
		e.login(e.a, "alice", "k3")
		first.expectClose(wire.CloseKicked)
	})
}

func TestConnectTimeouts(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.Node.LoginTimeout = 100 * time.Millisecond
		c.Node.HeartbeatInterval = 100 * time.Millisecond
	})
	e.mustCreateUser(e.a, "alice")
	t.Run("no login", func(t *testing.T) {
		c := e.dial(wire.SubprotocolProto)
		c.expectClose(wire.CloseLoginTimeout)
	})
	t.Run("silent after login", func(t *testing.T) {
		c := e.login(e.a, "alice", "d1")
		c.expectClose(wire.CloseHeartbeatTimeout)
	})
	t.Run("pings keep it open", func(t *testing.T) {
		c := e.login(e.a, "alice", "d2")
		for range 10 {
			f := c.reply(c.request(&magpiev1.Frame{Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}}))
			if f.GetPong() == nil {
				t.Fatalf("ping reply = %v", f)
			}
		}
	})
}

func TestUnsupportedSubprotocol(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/v1/connect", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	_, _, err = ws.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusCode(wire.CloseUnsupportedSubprotocol) {
		t.Fatalf("no subprotocol: %v, want close %d", err, wire.CloseUnsupportedSubprotocol)
	}
	_ = http.StatusOK
}

func TestSlowConsumerClosed(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Node.MaxOutboundBytes = 256 << 10 })
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	lim := appLimits(1000, 1000)
	lim.Limits.MaxMessageBytes = 64 << 10
	if _, err := e.tenants.UpdateApp(context.Background(), e.a.ID, lim); err != nil {
		t.Fatal(err)
	}
	slow := e.login(e.a, "bob", "slow") // never reads while the messages arrive
	content := strings.Repeat("x", 60<<10)
	closed := false
	// Enough to fill the kernel's socket buffers and then the queue; the
	// server must give up on the connection rather than buffer it all.
	for i := 0; i < 400 && !closed; i++ {
		r := e.do(e.a, req{method: "POST", target: "/v1/messages",
			body: fmt.Sprintf(`{"from_user_id":"alice","to_user_id":"bob","type":"text","content":%q}`, content)})
		if r.status != http.StatusCreated {
			t.Fatalf("send %d: %d %s", i, r.status, r.body)
		}
		closed = e.hub.Online(e.a.ID, "bob") == 0
	}
	if !closed {
		t.Fatal("the slow connection was never closed")
	}
	// The client finds the frames that made it into its socket, then the
	// end of the connection.
	for {
		if _, err := slow.recv(); err != nil {
			break
		}
	}
}

func TestShutdownDrainsConnections(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	alice := e.login(e.a, "alice", "d1")
	idle := e.dial(wire.SubprotocolProto) // connected, never logged in
	id := alice.request(sendFrame("bob", "last", "sent as the server stops"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.gw.Shutdown(ctx) }()
	// The send is acknowledged (read before the drain began), refused as
	// retryable, or, if it was still on the wire when the Close frame was
	// queued, unanswered (the SDK sends it again after reconnecting; the
	// client message id dedups it). Then 4000.
	for {
		f, err := alice.recv()
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusCode(wire.CloseServerShutdown) {
				t.Fatalf("closed with %v, want 4000", err)
			}
			break
		}
		if f.GetId() == id && f.GetSendAck() == nil && !(f.GetError().GetRetryable() && f.GetError().GetCode() == wire.CodeUnavailable) {
			t.Fatalf("reply to a send during shutdown = %v", f)
		}
	}
	idle.expectClose(wire.CloseServerShutdown)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	// New connections are refused with the reconnect code.
	late := e.dial(wire.SubprotocolProto)
	late.expectClose(wire.CloseServerShutdown)
}

func TestUnknownBodyGetsAnError(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	c := e.login(e.a, "alice", "d1")
	// Field 99 is no body this server knows: a newer client's frame.
	c.sendRaw([]byte{0x08, 0x07, 0x9a, 0x06, 0x00})
	f := c.reply(7)
	if f.GetError().GetCode() != wire.CodeInvalidFrame {
		t.Fatalf("unknown body = %v, want invalid_frame", f)
	}
	if f := c.reply(c.request(&magpiev1.Frame{Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}})); f.GetPong() == nil {
		t.Fatalf("connection unusable after an unknown body: %v", f)
	}
}

// TestUnverifiableSessionIsKeptWhileRechecked: a session whose user cannot
// be read when it must be re-checked stays while the check is retried (the
// node's TestRecheck* tests drive the retries, and the close with a
// reconnect code once they all fail).
func TestUnverifiableSessionIsKeptWhileRechecked(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	c := e.login(e.a, "alice", "d1")
	e.store.Close() // the user can no longer be checked
	e.hub.UserChanged(e.a.ID, "alice")
	if f := c.reply(c.request(&magpiev1.Frame{Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}})); f.GetPong() == nil {
		t.Fatalf("session unusable while its check is retried: %v", f)
	}
}
