package client

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

func TestTerminalCloseEndsRun(t *testing.T) {
	s := newFakeServer(t)
	s.set(func() { s.login = func(string) wire.CloseCode { return wire.CloseTokenRevoked } })
	c, err := New(Config{URL: s.srv.URL, DeviceID: "d", TokenProvider: func(context.Context) (string, error) { return "bob", nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	err = c.Run(context.Background())
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != wire.CloseTokenRevoked || ce.Temporary() {
		t.Fatalf("Run = %v, want a terminal token_revoked *CloseError", err)
	}
	d := waitFor[Disconnected](t, c)
	if d.WillRetry || !errors.Is(d.Err, err) {
		t.Errorf("Disconnected = %+v, want the same error and no retry", d)
	}
	if merr := c.MarkRead(context.Background(), "p:alice:bob", 1); merr == nil || !errors.Is(merr, err) {
		t.Errorf("MarkRead after Run returned = %v, want %v", merr, err)
	}
}

func TestExpiredTokenIsRefreshed(t *testing.T) {
	s := newFakeServer(t)
	s.set(func() {
		s.login = func(tok string) wire.CloseCode {
			if tok == "stale" {
				return wire.CloseTokenExpired
			}
			return 0
		}
	})
	var calls atomic.Int32
	c := s.client(t, "bob", func(c *Config) {
		c.TokenProvider = func(context.Context) (string, error) {
			if calls.Add(1) == 1 {
				return "stale", nil
			}
			return "bob", nil
		}
	})
	d := waitFor[Disconnected](t, c)
	var ce *CloseError
	if !errors.As(d.Err, &ce) || ce.Code != wire.CloseTokenExpired || !d.WillRetry {
		t.Fatalf("Disconnected = %+v, want token_expired with a retry", d)
	}
	if got := waitFor[Connected](t, c); got.Session.UserID != "bob" {
		t.Fatalf("Connected = %+v, want bob", got)
	}
	if calls.Load() != 2 {
		t.Errorf("TokenProvider called %d times, want 2", calls.Load())
	}
}

func TestReauthenticateGetsAFreshToken(t *testing.T) {
	s := newFakeServer(t)
	var calls atomic.Int32
	c := s.client(t, "bob", func(c *Config) {
		c.TokenProvider = func(context.Context) (string, error) {
			calls.Add(1)
			return "bob", nil
		}
	})
	waitFor[Connected](t, c)
	s.kick("bob", wire.CloseReauthenticate)
	d := waitFor[Disconnected](t, c)
	var ce *CloseError
	if !errors.As(d.Err, &ce) || ce.Code != wire.CloseReauthenticate || !ce.Temporary() || !d.WillRetry {
		t.Fatalf("Disconnected = %+v, want reauthenticate (4006) with a retry", d)
	}
	waitFor[Connected](t, c)
	if n := calls.Load(); n != 2 {
		t.Errorf("TokenProvider called %d times, want 2: once per connection", n)
	}
	// A send queued after the close goes out on the new session.
	if _, err := c.Send(context.Background(), "alice", "text", "back"); err != nil {
		t.Errorf("Send after reauthenticating: %v", err)
	}
}

func TestTokenProviderErrorIsRetried(t *testing.T) {
	s := newFakeServer(t)
	var calls atomic.Int32
	c := s.client(t, "bob", func(c *Config) {
		c.TokenProvider = func(context.Context) (string, error) {
			if calls.Add(1) == 1 {
				return "", errors.New("backend down")
			}
			return "bob", nil
		}
	})
	if d := waitFor[Disconnected](t, c); !d.WillRetry || !strings.Contains(d.Err.Error(), "backend down") {
		t.Fatalf("Disconnected = %+v, want the provider's error and a retry", d)
	}
	waitFor[Connected](t, c)
}

func TestReconnectsAfterReconnectCodes(t *testing.T) {
	for _, code := range []wire.CloseCode{wire.CloseServerShutdown, wire.CloseSlowConsumer, wire.CloseReauthenticate, 4099} {
		t.Run(code.String(), func(t *testing.T) {
			s := newFakeServer(t)
			c := s.client(t, "bob", nil)
			first := waitFor[Connected](t, c)
			s.kick("bob", code)
			d := waitFor[Disconnected](t, c)
			var ce *CloseError
			if !errors.As(d.Err, &ce) || ce.Code != code || !d.WillRetry {
				t.Fatalf("Disconnected = %+v, want close code %d with a retry", d, code)
			}
			if again := waitFor[Connected](t, c); again.Session.SessionID == first.Session.SessionID {
				t.Fatalf("reconnected with the same session %q", again.Session.SessionID)
			}
		})
	}
}

func TestUnansweredHeartbeatDropsConnection(t *testing.T) {
	s := newFakeServer(t)
	s.hb = 10 * time.Millisecond
	var pings atomic.Int32
	s.set(func() {
		s.hook = func(_ *fakeConn, f *magpiev1.Frame) bool {
			return f.GetPing() != nil && pings.Add(1) == 1 // the first ping goes unanswered
		}
	})
	c := s.client(t, "bob", func(c *Config) { c.RequestTimeout = 50 * time.Millisecond })
	waitFor[Connected](t, c)
	d := waitFor[Disconnected](t, c)
	if !d.WillRetry || !strings.Contains(d.Err.Error(), "heartbeat") {
		t.Fatalf("Disconnected = %+v, want a heartbeat failure and a retry", d)
	}
	waitFor[Connected](t, c)
}

func TestLateHeartbeatKeepsBusyConnection(t *testing.T) {
	s := newFakeServer(t)
	s.hb = 10 * time.Millisecond
	var pings atomic.Int32 // on the first session
	s.set(func() {
		s.hook = func(fc *fakeConn, f *magpiev1.Frame) bool {
			if f.GetPing() == nil || fc.session != "ses_1" {
				return false
			}
			pings.Add(1)
			return true // never answered, as if behind a long queue of sends
		}
	})
	c := s.client(t, "bob", func(c *Config) { c.RequestTimeout = 200 * time.Millisecond })
	waitFor[Connected](t, c)
	// Meanwhile the server is not silent: it answers sends (here, pushes
	// messages) every few milliseconds.
	stop := make(chan struct{})
	streamed := make(chan struct{})
	go func() {
		defer close(streamed)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for seq := int64(1); ; seq++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			s.push(s.put("alice", "bob", seq)[0], nil)
		}
	}()
	eventually(t, "three unanswered pings", func() bool { return pings.Load() >= 3 })
	close(stop)
	<-streamed
	if n := s.loginCount(); n != 1 {
		t.Errorf("%d logins while frames kept coming, want 1", n)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	s := newFakeServer(t)
	c := s.client(t, "bob", nil)
	waitFor[Connected](t, c)
	if err := c.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if err := c.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Run after Close = %v, want ErrClosed", err)
	}
	if _, err := c.SendAsync("alice", "text", "x"); !errors.Is(err, ErrClosed) {
		t.Errorf("SendAsync after Close = %v, want ErrClosed", err)
	}
	if _, err := c.Conversations(context.Background()); !errors.Is(err, ErrClosed) {
		t.Errorf("Conversations after Close = %v, want ErrClosed", err)
	}
	// Next drains what is queued, then reports ErrClosed.
	for {
		_, err := c.Next(context.Background())
		if errors.Is(err, ErrClosed) {
			break
		}
		if err != nil {
			t.Fatalf("Next = %v, want events then ErrClosed", err)
		}
	}
}

func TestCloseFailsQueuedSends(t *testing.T) {
	c, err := New(Config{URL: "http://127.0.0.1:1", DeviceID: "d", TokenProvider: func(context.Context) (string, error) { return "", nil }})
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.SendAsync("bob", "text", "x")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := o.Wait(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Wait = %v, want ErrClosed", err)
	}
}

func TestRunTwiceAtOnce(t *testing.T) {
	s := newFakeServer(t)
	c := s.client(t, "bob", nil)
	waitFor[Connected](t, c)
	if err := c.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
}

func TestConversationsAndHistory(t *testing.T) {
	s := newFakeServer(t)
	s.put("alice", "bob", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
	s.put("bob", "carol", 1)
	for _, enc := range []Encoding{EncodingProto, EncodingJSON} {
		bob := s.client(t, "bob", func(c *Config) { c.Encoding = enc })
		ctx := context.Background()
		convs, err := bob.Conversations(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, cv := range convs {
			ids = append(ids, cv.ID)
		}
		if !slices.Equal(ids, []string{"p:alice:bob", "p:bob:carol"}) || convs[0].MaxSeq != 10 {
			t.Errorf("Conversations = %+v, want both conversations over two pages", convs)
		}
		msgs, more, err := bob.History(ctx, "p:alice:bob", 6, 3)
		if err != nil || !more || !slices.Equal(seqs(msgs), []int64{3, 4, 5}) {
			t.Errorf("History(before 6, 3) = %v, %v, %v; want [3 4 5], more", seqs(msgs), more, err)
		}
		msgs, more, err = bob.History(ctx, "p:alice:bob", 0, 100)
		if err != nil || more || len(msgs) != 10 || msgs[9].Content != "m10" {
			t.Errorf("History(newest, 100) = %v, %v, %v; want 1..10", seqs(msgs), more, err)
		}
		if msgs, _, err := bob.History(ctx, "p:alice:bob", 1, 10); err != nil || len(msgs) != 0 {
			t.Errorf("History(before 1) = %v, %v; want nothing", msgs, err)
		}
		if err := bob.MarkRead(ctx, "p:alice:bob", 10); err != nil {
			t.Errorf("MarkRead = %v", err)
		}
		bob.Close()
	}
}

func TestConfigValidate(t *testing.T) {
	tok := func(context.Context) (string, error) { return "", nil }
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"minimal", Config{URL: "http://h", DeviceID: "d", TokenProvider: tok}, true},
		{"no url", Config{DeviceID: "d", TokenProvider: tok}, false},
		{"bad scheme", Config{URL: "ftp://h", DeviceID: "d", TokenProvider: tok}, false},
		{"no host", Config{URL: "http://", DeviceID: "d", TokenProvider: tok}, false},
		{"no token provider", Config{URL: "http://h", DeviceID: "d"}, false},
		{"no device", Config{URL: "http://h", TokenProvider: tok}, false},
		{"long device", Config{URL: "http://h", DeviceID: strings.Repeat("d", 129), TokenProvider: tok}, false},
		{"bad encoding", Config{URL: "http://h", DeviceID: "d", TokenProvider: tok, Encoding: 7}, false},
		{"negative duration", Config{URL: "http://h", DeviceID: "d", TokenProvider: tok, SendDeadline: -1}, false},
		{"min above max", Config{URL: "http://h", DeviceID: "d", TokenProvider: tok, BackoffMin: 2, BackoffMax: 1}, false},
		{"window of one", Config{URL: "http://h", DeviceID: "d", TokenProvider: tok, SendWindow: 1}, true},
		{"negative window", Config{URL: "http://h", DeviceID: "d", TokenProvider: tok, SendWindow: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestConnectURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://127.0.0.1:8080", "ws://127.0.0.1:8080/v1/connect"},
		{"https://im.example.com/", "wss://im.example.com/v1/connect"},
		{"wss://im.example.com/magpie", "wss://im.example.com/magpie/v1/connect"},
		{"ws://h/v1/connect", "ws://h/v1/connect"},
	}
	for _, tt := range tests {
		if got, err := connectURL(tt.in); err != nil || got != tt.want {
			t.Errorf("connectURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestBackoffBounds(t *testing.T) {
	b := backoff{min: 10 * time.Millisecond, max: 80 * time.Millisecond}
	bounds := []time.Duration{10, 20, 40, 80, 80}
	for i, bound := range bounds {
		if d := b.next(); d < 0 || d > bound*time.Millisecond {
			t.Errorf("attempt %d: delay %v, want within [0, %v]", i, d, bound*time.Millisecond)
		}
	}
}

// TestLoginByHeaders: against a server that logs in from the upgrade
// request's headers, the client sends its token and device there and no
// Login frame; a refusal still ends Run with the close code; a device id
// that a header would not carry unchanged goes in a Login frame instead.
func TestLoginByHeaders(t *testing.T) {
	s := newFakeServer(t)
	s.set(func() { s.byHeaders = true })
	c := s.client(t, "bob", func(c *Config) { c.Platform = "linux" })
	if got := waitFor[Connected](t, c); got.Session.UserID != "bob" {
		t.Fatalf("Connected = %+v, want bob", got)
	}
	if _, err := c.Send(context.Background(), "alice", "text", "hi"); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	headers, frames := slices.Clone(s.headers), slices.Clone(s.frames)
	s.mu.Unlock()
	if len(headers) != 1 {
		t.Fatalf("logins by headers = %d, want 1", len(headers))
	}
	h := headers[0]
	if h.Get("Authorization") != "Bearer bob" || h.Get("Magpie-Device-Id") != "bob-dev" || h.Get("Magpie-Platform") != "linux" ||
		!strings.HasPrefix(h.Get("Magpie-Sdk-Version"), "magpie-go/") {
		t.Fatalf("login headers = %v", h)
	}
	if slices.Contains(frames, "login") {
		t.Fatalf("frames after a login by headers = %v, want no login", frames)
	}

	t.Run("refused", func(t *testing.T) {
		s := newFakeServer(t)
		s.set(func() {
			s.byHeaders = true
			s.login = func(string) wire.CloseCode { return wire.CloseUserBlocked }
		})
		c, err := New(Config{URL: s.srv.URL, DeviceID: "d", TokenProvider: func(context.Context) (string, error) { return "bob", nil }})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var ce *CloseError
		if err := c.Run(context.Background()); !errors.As(err, &ce) || ce.Code != wire.CloseUserBlocked {
			t.Fatalf("Run = %v, want user_blocked", err)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.headers) != 1 {
			t.Fatalf("logins by headers = %d, want 1", len(s.headers))
		}
	})

	t.Run("device id with spaces at its ends", func(t *testing.T) {
		s := newFakeServer(t)
		s.set(func() { s.byHeaders = true })
		c := s.client(t, "bob", func(c *Config) { c.DeviceID = " bob's phone " })
		waitFor[Connected](t, c)
		s.mu.Lock()
		defer s.mu.Unlock()
		if len(s.headers) != 0 || s.logins != 1 {
			t.Fatalf("logins by headers = %d, logins = %d; want a Login frame", len(s.headers), s.logins)
		}
	})
}
