package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/sdk/go/token"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// dialWith opens a WebSocket whose upgrade request carries header, and
// returns it with the 101 response's headers.
func (e *env) dialWith(subprotocol string, header http.Header) (*wsClient, http.Header) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.URL, "http")+"/v1/connect",
		&websocket.DialOptions{Subprotocols: []string{subprotocol}, HTTPHeader: header})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	ws.SetReadLimit(8 << 20)
	codec, _ := wire.CodecFor(subprotocol)
	e.t.Cleanup(func() { ws.CloseNow() })
	return &wsClient{t: e.t, ws: ws, codec: codec}, res.Header
}

// loginHeaders are the upgrade request's headers of a login by headers.
func loginHeaders(tok, device string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	h.Set("Magpie-Device-Id", device)
	h.Set("Magpie-Platform", "linux")
	h.Set("Magpie-Sdk-Version", "test/0")
	return h
}

// TestHeaderLogin: a login carried by the upgrade request is announced in
// the 101 and answered with a LoginResult of id 0 as the first frame; the
// session then works as one logged in with a Login frame, and frames sent
// before the LoginResult came are served after the login, in order.
func TestHeaderLogin(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	bob := e.login(e.a, "bob", "bob-dev")

	for _, sub := range []string{wire.SubprotocolProto, wire.SubprotocolJSON} {
		t.Run(sub, func(t *testing.T) {
			alice, res := e.dialWith(sub, loginHeaders(e.tokenFor(e.a, "alice"), "dev-"+sub))
			if got := res.Get("Magpie-Login"); got != "headers" || res.Get("X-Request-Id") == "" {
				t.Fatalf("101 Magpie-Login = %q, X-Request-Id = %q; want headers and an id", got, res.Get("X-Request-Id"))
			}
			// Sent at once, before the LoginResult is read.
			ping := alice.request(pingFrame())
			f, err := alice.recv()
			if err != nil {
				t.Fatal(err)
			}
			lr := f.GetLoginResult()
			if lr == nil || f.GetId() != 0 || lr.GetUserId() != "alice" || lr.GetSessionId() == "" || lr.GetHeartbeatIntervalMs() <= 0 {
				t.Fatalf("first frame = %v, want a LoginResult for alice with id 0", f)
			}
			if f := alice.reply(ping); f.GetPong() == nil {
				t.Fatalf("ping sent before the LoginResult = %v, want a Pong", f)
			}
			ack := alice.reply(alice.request(sendFrame("bob", "h-"+sub, "hello by headers"))).GetSendAck()
			if ack == nil {
				t.Fatal("send after a login by headers failed")
			}
			d := bob.push(func(f *magpiev1.Frame) bool { return f.GetDeliver() != nil })
			if m := d.GetDeliver().GetMessages()[0]; m.GetSenderId() != "alice" || m.GetContent() != "hello by headers" {
				t.Fatalf("bob got %v", m)
			}
			again := alice.reply(alice.request(loginFrame(e.tokenFor(e.a, "alice"), "dev-"+sub)))
			if again.GetError().GetCode() != wire.CodeAlreadyLoggedIn {
				t.Fatalf("a Login frame after a login by headers = %v, want already_logged_in", again)
			}
		})
	}

	t.Run("no bearer token: a Login frame as before", func(t *testing.T) {
		for _, auth := range []string{"", "Basic YWxpY2U6cGFzcw=="} {
			h := http.Header{}
			if auth != "" {
				h.Set("Authorization", auth)
			}
			c, res := e.dialWith(wire.SubprotocolProto, h)
			if got := res.Get("Magpie-Login"); got != "" || res.Get("X-Request-Id") == "" {
				t.Fatalf("Authorization %q: 101 Magpie-Login = %q, X-Request-Id = %q; want none and an id", auth, got, res.Get("X-Request-Id"))
			}
			if f := c.reply(c.request(loginFrame(e.tokenFor(e.a, "alice"), "frame-dev"))); f.GetLoginResult() == nil {
				t.Fatalf("Authorization %q: Login frame = %v", auth, f)
			}
		}
	})
}

// TestHeaderLoginBadInput: a login by headers that fails closes the
// connection with the codes a Login frame gets, and a token never logs in
// to another app than the one whose secret signed it.
func TestHeaderLoginBadInput(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.b, "mallory")
	forged, _, _ := token.Mint(e.b.Key, e.a.Secret, "alice", time.Hour, e.clock())
	expired, _, _ := token.Mint(e.a.Key, e.a.Secret, "alice", time.Minute, e.clock().Add(-time.Hour))
	for name, tc := range map[string]struct {
		header http.Header
		want   wire.CloseCode
	}{
		"garbage token":           {loginHeaders("not-a-jwt", "dev"), wire.CloseBadToken},
		"empty token":             {loginHeaders("", "dev"), wire.CloseBadToken},
		"app A's secret for B":    {loginHeaders(forged, "dev"), wire.CloseBadToken},
		"expired":                 {loginHeaders(expired, "dev"), wire.CloseTokenExpired},
		"unknown user":            {loginHeaders(e.tokenFor(e.a, "nobody"), "dev"), wire.CloseBadToken},
		"B's user with A's token": {loginHeaders(e.tokenFor(e.a, "mallory"), "dev"), wire.CloseBadToken},
		"no device id":            {loginHeaders(e.tokenFor(e.a, "alice"), ""), wire.CloseProtocolError},
		"device id too long":      {loginHeaders(e.tokenFor(e.a, "alice"), strings.Repeat("d", 129)), wire.CloseProtocolError},
	} {
		t.Run(name, func(t *testing.T) {
			c, res := e.dialWith(wire.SubprotocolProto, tc.header)
			if res.Get("Magpie-Login") != "headers" {
				t.Fatalf("101 Magpie-Login = %q, want headers", res.Get("Magpie-Login"))
			}
			c.expectClose(tc.want)
		})
	}

	t.Run("cross-app", func(t *testing.T) {
		e.mustCreateUser(e.b, "alice")
		e.mustCreateUser(e.b, "bob")
		e.apiSend(e.b, "alice", "bob", "app B only")
		c, _ := e.dialWith(wire.SubprotocolProto, loginHeaders(e.tokenFor(e.a, "alice"), "a-dev"))
		if f, err := c.recv(); err != nil || f.GetLoginResult() == nil {
			t.Fatalf("login = %v, %v", f, err)
		}
		f := c.reply(c.request(&magpiev1.Frame{Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{ConvId: "p:alice:bob"}}}))
		if page := f.GetMessagePage(); page == nil || len(page.GetMessages()) != 0 {
			t.Fatalf("app A's alice syncs app B's p:alice:bob = %v", f)
		}
	})
}
