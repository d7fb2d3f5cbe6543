package gateway_test

import (
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// These tests hold the gateway to what docs/protocol.md promises a client
// written from the docs alone.

func pingFrame() *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}}
}

// loginJSON connects user of app with the JSON subprotocol and logs in.
func (e *env) loginJSON(app testApp, user, device string) *wsClient {
	e.t.Helper()
	c := e.dial(wire.SubprotocolJSON)
	if f := c.reply(c.request(loginFrame(e.tokenFor(app, user), device))); f.GetLoginResult() == nil {
		e.t.Fatalf("login %s: %v", user, f)
	}
	return c
}

// expectError reads the reply to request id and checks its error code.
func (c *wsClient) expectError(id uint64, code string) *magpiev1.Error {
	c.t.Helper()
	f := c.reply(id)
	if f.GetError().GetCode() != code {
		c.t.Fatalf("reply to %d = %v, want Error %s", id, f, code)
	}
	return f.GetError()
}

// expectPong checks that the connection still serves requests.
func (c *wsClient) expectPong() {
	c.t.Helper()
	if f := c.reply(c.request(pingFrame())); f.GetPong() == nil {
		c.t.Fatalf("ping = %v, want a pong", f)
	}
}

func TestUnknownJSONFieldGetsAnError(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")

	t.Run("before login", func(t *testing.T) {
		c := e.dial(wire.SubprotocolJSON)
		c.sendRaw([]byte(`{"id":"3","fooBar":{}}`))
		c.expectError(3, wire.CodeInvalidFrame)
		if f := c.reply(c.request(loginFrame(e.tokenFor(e.a, "alice"), "d0"))); f.GetLoginResult() == nil {
			t.Fatalf("login after an unknown field = %v", f)
		}
	})

	c := e.loginJSON(e.a, "alice", "d1")
	for _, tt := range []struct {
		name, frame string
		id          uint64
	}{
		{"unknown body", `{"id":3,"fooBar":{}}`, 3},
		{"unknown envelope field", `{"id":"4","ping":{},"extra":1}`, 4},
		{"unknown field in a body", `{"id":"5","send":{"client_msg_id":"m5","to_user_id":"bob","type":"text","content":"hi","colour":"red"}}`, 5},
		{"long unknown field", `{"id":"6","` + strings.Repeat("z", 300) + `":1}`, 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c.sendRaw([]byte(tt.frame))
			e := c.expectError(tt.id, wire.CodeInvalidFrame)
			if e.GetRetryable() || len(e.GetMessage()) > 123 {
				t.Errorf("error = %v, want not retryable, message at most 123 bytes", e)
			}
			c.expectPong()
		})
	}
	// The refused send stored nothing.
	f := c.reply(c.request(&magpiev1.Frame{Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{ConvId: "p:alice:bob"}}}))
	if page := f.GetMessagePage(); page == nil || len(page.GetMessages()) != 0 {
		t.Fatalf("messages after a refused send = %v, want none", f)
	}
}

func TestRequestIDZeroIsRefused(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	for _, sub := range []string{wire.SubprotocolProto, wire.SubprotocolJSON} {
		t.Run(sub, func(t *testing.T) {
			c := e.dial(sub)
			write := func(f *magpiev1.Frame) {
				t.Helper()
				b, err := c.codec.Marshal(f)
				if err != nil {
					t.Fatal(err)
				}
				c.sendRaw(b)
			}
			// A login with id 0 is refused and leaves the connection
			// waiting for a proper one.
			write(loginFrame(e.tokenFor(e.a, "alice"), "d-"+sub))
			c.expectError(0, wire.CodeInvalidFrame)
			if f := c.reply(c.request(loginFrame(e.tokenFor(e.a, "alice"), "d-"+sub))); f.GetLoginResult() == nil {
				t.Fatalf("login with id 1 after one with id 0 = %v", f)
			}
			write(pingFrame())
			c.expectError(0, wire.CodeInvalidFrame)
			write(sendFrame("bob", "zero-"+sub, "never stored"))
			c.expectError(0, wire.CodeInvalidFrame)
			f := c.reply(c.request(&magpiev1.Frame{Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{ConvId: "p:alice:bob"}}}))
			if page := f.GetMessagePage(); page == nil || len(page.GetMessages()) != 0 {
				t.Fatalf("messages after a send with id 0 = %v, want none", f)
			}
		})
	}
}

func TestCursorSeqBelowOneIsInvalidArgument(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	c := e.login(e.a, "alice", "d1")
	if ack := c.reply(c.request(sendFrame("bob", "m1", "hi"))).GetSendAck(); ack == nil {
		t.Fatal("send failed")
	}
	for _, seq := range []int64{-1, 0} {
		c.expectError(c.request(deliverAckFrame("p:alice:bob", seq)), wire.CodeInvalidArgument)
		c.expectError(c.request(&magpiev1.Frame{Body: &magpiev1.Frame_Read{Read: &magpiev1.Read{ConvId: "p:alice:bob", Seq: seq}}}), wire.CodeInvalidArgument)
	}
	// Not being a member is still forbidden.
	c.expectError(c.request(deliverAckFrame("p:bob:carol", 1)), wire.CodeForbidden)
}

// frameOfSize returns the encoding of the frame mk(pad) whose size is
// exactly n bytes, adjusting the length of pad.
func frameOfSize(t *testing.T, codec wire.Codec, n int, mk func(pad string) *magpiev1.Frame) []byte {
	t.Helper()
	pad := n
	for range 20 {
		b, err := codec.Marshal(mk(strings.Repeat("x", pad)))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == n {
			return b
		}
		pad -= len(b) - n
	}
	t.Fatalf("no frame of %d bytes", n)
	return nil
}

// expectTooBig reads until the server closes and checks that it closed with
// 1009.
func (c *wsClient) expectTooBig() {
	c.t.Helper()
	for range 1000 {
		if _, err := c.recv(); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
				c.t.Fatalf("closed with %v, want 1009", err)
			}
			return
		}
	}
	c.t.Fatal("connection not closed")
}

// TestFrameLimitIsExact checks the frame limits docs/protocol.md gives: 16384
// bytes before login; after it max_message_bytes + 16384 in binary and
// 6 * max_message_bytes + 16384 in JSON, the frame included.
func TestFrameLimitIsExact(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	const maxMessage = 64 << 10 // the default max_message_bytes
	t.Run("before login", func(t *testing.T) {
		login := func(pad string) *magpiev1.Frame {
			f := loginFrame(pad, "d0")
			f.Id = 1
			return f
		}
		c := e.dial(wire.SubprotocolProto)
		c.sendRaw(frameOfSize(t, c.codec, 16384, login))
		c.expectClose(wire.CloseBadToken) // read, and refused for its token
		c = e.dial(wire.SubprotocolProto)
		c.sendRaw(frameOfSize(t, c.codec, 16385, login))
		c.expectTooBig()
	})
	for _, tt := range []struct {
		sub   string
		limit int
	}{
		{wire.SubprotocolProto, maxMessage + 16384},
		{wire.SubprotocolJSON, 6*maxMessage + 16384},
	} {
		t.Run(tt.sub, func(t *testing.T) {
			send := func(pad string) *magpiev1.Frame {
				f := sendFrame("alice", "big", pad)
				f.Id = 9
				return f
			}
			c := e.dial(tt.sub)
			if f := c.reply(c.request(loginFrame(e.tokenFor(e.a, "alice"), "d-"+tt.sub))); f.GetLoginResult().GetMaxMessageBytes() != maxMessage {
				t.Fatalf("login = %v, want max_message_bytes %d", f, maxMessage)
			}
			c.sendRaw(frameOfSize(t, c.codec, tt.limit, send))
			c.expectError(9, wire.CodeMessageTooLarge) // read and decoded
			c.sendRaw(frameOfSize(t, c.codec, tt.limit+1, send))
			c.expectTooBig()
		})
	}
}
