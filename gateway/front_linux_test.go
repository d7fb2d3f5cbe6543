package gateway_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// The front (Gateway.Front) reads the first request of each connection on
// the event loop: upgrades to client WebSockets are served there, any
// other request goes to net/http with the bytes read so far. Every other
// test in this package runs through it too (newEnvConfig).

// trickle writes b one byte per write.
func trickle(t *testing.T, c net.Conn, b string) {
	t.Helper()
	for i := range len(b) {
		if _, err := c.Write([]byte{b[i]}); err != nil {
			t.Fatal(err)
		}
	}
}

// expectLoginResult reads the next frame, which must be a LoginResult.
func (s *rawSession) expectLoginResult() {
	s.t.Helper()
	op, payload := s.frame()
	var f magpiev1.Frame
	if err := (wire.ProtoCodec{}).Unmarshal(payload, &f); op != 2 || err != nil || f.GetLoginResult() == nil {
		s.t.Fatalf("frame: opcode %d, %v, %v; want a binary LoginResult", op, &f, err)
	}
}

// TestFrontTrickledHeads: heads that come a byte at a time are read whole,
// an upgrade's on the event loop and a request's by net/http, which keeps
// the connection for the next request.
func TestFrontTrickledHeads(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")

	c, r := e.rawConn()
	trickle(t, c, e.rawHeaderUpgrade(e.tokenFor(e.a, "alice"), "slow"))
	s := &rawSession{t: t, nc: c, r: r}
	s.response()
	s.expectLoginResult()

	c, r = e.rawConn()
	// "GET /" is also how an upgrade starts: the front decides at the
	// first byte that differs.
	trickle(t, c, "GET /healthz HTTP/1.1\r\nHost: magpie\r\n\r\n")
	for i := range 2 {
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "ok") {
			t.Fatalf("response %d: %d %s", i, res.StatusCode, body)
		}
		if i == 0 { // the same connection, now net/http's
			if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: magpie\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestFrontUpgradeAfterRequest: an upgrade on a connection that net/http
// already serves (a request came first) is handed to the event loop from
// there, and served.
func TestFrontUpgradeAfterRequest(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	c, r := e.rawConn()
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: magpie\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(r, nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v, %v", res, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	if _, err := c.Write([]byte(e.rawHeaderUpgrade(e.tokenFor(e.a, "alice"), "after"))); err != nil {
		t.Fatal(err)
	}
	s := &rawSession{t: t, nc: c, r: r}
	s.response()
	s.expectLoginResult()
	// The socket is read: a Ping is answered.
	if _, err := c.Write(maskedFrame(0x9, []byte("after"))); err != nil {
		t.Fatal(err)
	}
	if op, payload := s.frame(); op != 0xA || string(payload) != "after" {
		t.Fatalf("frame: opcode %d %q, want the Pong", op, payload)
	}
}

// TestFrontFramesWithTheHead: a Login frame written together with the
// upgrade request, before the 101 came, is served after it.
func TestFrontFramesWithTheHead(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	upgrade := e.rawHeaderUpgrade("", "early")
	upgrade = strings.Replace(upgrade, "Authorization: Bearer \r\n", "", 1)
	lf := loginFrame(e.tokenFor(e.a, "alice"), "early")
	lf.Id = 1
	login, err := (wire.ProtoCodec{}).Marshal(lf)
	if err != nil {
		t.Fatal(err)
	}
	c, r := e.rawConn()
	if _, err := c.Write(append([]byte(upgrade), maskedFrame(0x2, login)...)); err != nil {
		t.Fatal(err)
	}
	s := &rawSession{t: t, nc: c, r: r}
	if res := s.response(); res.Header.Get("Magpie-Login") != "" {
		t.Fatalf("a login by headers announced for a request without a token: %v", res.Header)
	}
	s.expectLoginResult()
}

// TestFrontBadHeads: a malformed upgrade request gets 400, a head over
// 64 KiB 431, a head that never ends is closed after the login timeout;
// each connection is closed.
func TestFrontBadHeads(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.Node.LoginTimeout = 300 * time.Millisecond })
	for _, tc := range []struct {
		name, head string
		status     int
	}{
		{"no colon", "GET /v1/connect HTTP/1.1\r\nHost: magpie\r\nno colon here\r\n\r\n", http.StatusBadRequest},
		{"a body", "GET /v1/connect HTTP/1.1\r\nHost: magpie\r\nContent-Length: 3\r\n\r\nabc", http.StatusBadRequest},
		{"not an upgrade", "GET /v1/connect HTTP/1.1\r\nHost: magpie\r\n\r\n", http.StatusBadRequest},
		{"too long", "GET /v1/connect HTTP/1.1\r\nHost: magpie\r\nX-Long: " + strings.Repeat("a", 65<<10), http.StatusRequestHeaderFieldsTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, r := e.rawConn()
			if _, err := c.Write([]byte(tc.head)); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			if res.StatusCode != tc.status || !res.Close {
				t.Fatalf("status %d (close %v), want %d and the connection closed", res.StatusCode, res.Close, tc.status)
			}
			if !strings.HasPrefix(res.Header.Get("X-Request-Id"), "req_") {
				t.Fatalf("response without a request id: %v", res.Header)
			}
			if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
				t.Fatalf("after the response: %v, want EOF", err)
			}
		})
	}
	t.Run("never ends", func(t *testing.T) {
		c, r := e.rawConn()
		if _, err := c.Write([]byte("GET /v1/connect HTTP/1.1\r\nHost: magpie\r\n")); err != nil {
			t.Fatal(err)
		}
		// The client's 10 s deadline fails the test if the server keeps
		// the socket.
		if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("read: %v, want EOF (closed by the server)", err)
		}
	})
}

// TestFrontShutdownWithHeadsPending: a shutdown closes the sockets whose
// heads are still coming, and finishes; connections net/http was given
// (the env's API calls) do not hold it up.
func TestFrontShutdownWithHeadsPending(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	c, r := e.rawConn()
	if _, err := c.Write([]byte("GET /v1/con")); err != nil {
		t.Fatal(err)
	}
	alice := e.login(e.a, "alice", "d1")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.gw.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	alice.expectClose(wire.CloseServerShutdown)
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the socket with half a head is still open after the shutdown")
	}
}

// TestUpgradeThroughNetHTTP: without the front (off Linux, or with tracing
// on), net/http reads the upgrade and hands the socket over.
func TestUpgradeThroughNetHTTP(t *testing.T) {
	e := newEnvConfig(t, envConfig{plainHTTP: true})
	e.mustCreateUser(e.a, "alice")
	e.mustCreateUser(e.a, "bob")
	alice := e.login(e.a, "alice", "d1")
	bob := e.login(e.a, "bob", "d1")
	id := alice.request(sendFrame("bob", "c1", "through net/http"))
	if f := alice.reply(id); f.GetSendAck() == nil {
		t.Fatalf("reply = %v", f)
	}
	if f := bob.push(func(f *magpiev1.Frame) bool { return f.GetDeliver() != nil }); f.GetDeliver().GetMessages()[0].GetContent() != "through net/http" {
		t.Fatalf("delivered = %v", f)
	}
}

// TestFrontBareLineFeeds: an upgrade whose lines end in bare line feeds,
// which net/http also accepts, is served.
func TestFrontBareLineFeeds(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	c, r := e.rawConn()
	upgrade := strings.ReplaceAll(e.rawHeaderUpgrade(e.tokenFor(e.a, "alice"), "lf"), "\r\n", "\n")
	if _, err := c.Write([]byte(upgrade)); err != nil {
		t.Fatal(err)
	}
	s := &rawSession{t: t, nc: c, r: r}
	s.response()
	s.expectLoginResult()
}
