package gateway_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/wire"
)

// userGate, once armed, counts GetUser calls and holds the first of them,
// after its read, until it opens: the login that made it then goes on
// with a stale answer.
type userGate struct {
	armed   atomic.Bool
	calls   atomic.Int64
	entered chan struct{} // capacity 1: the first call waits
	open    chan struct{}
	// canceled is closed when the held call gives up: its context ended.
	canceled chan struct{}
}

func newUserGate() *userGate {
	return &userGate{entered: make(chan struct{}, 1), open: make(chan struct{}), canceled: make(chan struct{})}
}

func (a gatedApp) GetUser(ctx context.Context, id string) (store.User, error) {
	u, err := a.AppStore.GetUser(ctx, id)
	if g := a.userGate; g != nil && g.armed.Load() && g.calls.Add(1) == 1 {
		g.entered <- struct{}{}
		select {
		case <-g.open:
		case <-ctx.Done():
			close(g.canceled)
			return store.User{}, ctx.Err()
		}
	}
	return u, err
}

// TestUserBlockedDuringLogin blocks a user while its login, past the check
// of the user, has not registered the session yet: the block's re-check of
// the user's sessions does not see it, and the login must still be refused.
// Without a change meanwhile, a login reads the user once.
func TestUserBlockedDuringLogin(t *testing.T) {
	t.Run("blocked between the check and the registration", func(t *testing.T) {
		g := newUserGate()
		e := newEnvConfig(t, envConfig{userGate: g})
		e.mustCreateUser(e.a, "alice")
		tok := e.tokenFor(e.a, "alice")
		g.armed.Store(true)
		c := e.dial(wire.SubprotocolProto)
		c.request(loginFrame(tok, "d1"))
		select {
		case <-g.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the login did not read the user")
		}
		if r := e.do(e.a, req{method: "POST", target: "/v1/users/alice:block"}); r.status != http.StatusOK {
			t.Fatalf("block: %d %s", r.status, r.body)
		}
		close(g.open)
		c.expectClose(wire.CloseUserBlocked)
	})
	t.Run("no change: one read", func(t *testing.T) {
		g := newUserGate()
		close(g.open)
		e := newEnvConfig(t, envConfig{userGate: g})
		e.mustCreateUser(e.a, "alice")
		tok := e.tokenFor(e.a, "alice")
		g.armed.Store(true)
		e.loginWith(tok, "d1")
		if n := g.calls.Load(); n != 1 {
			t.Fatalf("GetUser calls for one login = %d, want 1", n)
		}
	})
}

// TestLoginsRememberTheUser: a node remembers the users of its logins, so
// that another device's login does not read the user again, and forgets a
// user at each of its changes (block, unblock, token revocation, deletion),
// so that none of them is missed by the logins after it.
func TestLoginsRememberTheUser(t *testing.T) {
	g := newUserGate()
	close(g.open)
	e := newEnvConfig(t, envConfig{userGate: g})
	e.mustCreateUser(e.a, "alice")
	g.armed.Store(true)
	reads := func(want int64) {
		t.Helper()
		if n := g.calls.Load(); n != want {
			t.Fatalf("GetUser calls = %d, want %d", n, want)
		}
	}
	call := func(target string) {
		t.Helper()
		if r := e.do(e.a, req{method: "POST", target: target}); r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", target, r.status, r.body)
		}
	}
	d1 := e.loginWith(e.tokenFor(e.a, "alice"), "d1")
	e.loginWith(e.tokenFor(e.a, "alice"), "d2")
	reads(1)
	// Remembered per app: another app's "alice" is its own user (here,
	// none), read from the store.
	e.loginRefused(e.tokenFor(e.b, "alice"), "d1", wire.CloseBadToken)
	reads(2)

	call("/v1/users/alice:block")
	d1.expectClose(wire.CloseUserBlocked)
	e.loginRefused(e.tokenFor(e.a, "alice"), "d3", wire.CloseUserBlocked)
	e.loginRefused(e.tokenFor(e.a, "alice"), "d3", wire.CloseUserBlocked)
	call("/v1/users/alice:unblock")
	e.loginWith(e.tokenFor(e.a, "alice"), "d3")

	old := e.tokenFor(e.a, "alice")
	e.advance(2 * time.Second) // tokens are revoked to the second
	call("/v1/users/alice/tokens:revoke")
	e.loginRefused(old, "d4", wire.CloseTokenRevoked)
	e.loginWith(e.tokenFor(e.a, "alice"), "d4")

	if r := e.do(e.a, req{method: "DELETE", target: "/v1/users/alice"}); r.status != http.StatusNoContent && r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	e.loginRefused(e.tokenFor(e.a, "alice"), "d5", wire.CloseBadToken)

	// And a user remembered a minute ago is read again.
	e.mustCreateUser(e.a, "bob")
	before := g.calls.Load()
	e.loginWith(e.tokenFor(e.a, "bob"), "d1")
	e.advance(time.Minute)
	e.loginWith(e.tokenFor(e.a, "bob"), "d2")
	reads(before + 2)
}

// TestClientGoneDuringHeaderLogin: the client of a login by headers hangs
// up while the login, still in the upgrade's handler, reads the user. The
// event loop ends the connection at once, beside that handler: the login
// is canceled and nothing stays registered.
func TestClientGoneDuringHeaderLogin(t *testing.T) {
	g := newUserGate()
	e := newEnvConfig(t, envConfig{userGate: g})
	e.mustCreateUser(e.a, "alice")
	g.armed.Store(true)
	nc, _ := e.rawConn()
	if _, err := nc.Write([]byte(e.rawHeaderUpgrade(e.tokenFor(e.a, "alice"), "gone"))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-g.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the login by headers did not read the user")
	}
	// Gone, with a reset: the server's socket reports the hang-up.
	if err := nc.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	select {
	case <-g.canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("the login of a client that hung up was not canceled")
	}
	close(g.open)
	e.login(e.a, "alice", "after")
	if n := e.hub.Connections(); n != 1 {
		t.Fatalf("connections registered = %d, want 1 (the login after)", n)
	}
}

// rawHeaderUpgrade returns the bytes of an upgrade request to /v1/connect
// (magpie.v1.proto) that logs in by headers with tok and device.
func (e *env) rawHeaderUpgrade(tok, device string) string {
	key := base64.StdEncoding.EncodeToString([]byte("0123456789abcdef"))
	return "GET /v1/connect HTTP/1.1\r\nHost: " + e.srv.Listener.Addr().String() +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Protocol: " + wire.SubprotocolProto +
		"\r\nAuthorization: Bearer " + tok +
		"\r\nMagpie-Device-Id: " + device + "\r\n\r\n"
}

// rawConn dials the env's port for a test that writes its own bytes,
// with a 10 s deadline on the connection.
func (e *env) rawConn() (*net.TCPConn, *bufio.Reader) {
	e.t.Helper()
	c, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		e.t.Fatal(err)
	}
	return c.(*net.TCPConn), bufio.NewReader(c)
}
