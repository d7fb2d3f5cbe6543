package client

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

func TestOwnSendsTakeTheirPlaceInTheConversation(t *testing.T) {
	s := newFakeServer(t)
	alice := s.client(t, "alice", nil)
	other := s.client(t, "alice", func(c *Config) { c.DeviceID = "alice-2" })
	waitFor[Connected](t, alice)
	waitFor[Connected](t, other)

	res, err := alice.Send(context.Background(), "bob", "text", "hi")
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res.ConvID != "p:alice:bob" || res.Seq != 1 || res.Duplicate {
		t.Errorf("SendResult = %+v, want seq 1 of p:alice:bob", res)
	}
	for _, c := range []*Client{alice, other} {
		m := waitFor[Message](t, c)
		if m.Seq != 1 || !m.Own || m.Content != "hi" || m.Peer() != "bob" || !slices.Equal(m.Members, []string{"alice", "bob"}) {
			t.Errorf("message = %+v, want own seq 1 \"hi\" to bob", m)
		}
	}
}

func TestSendRetriesRetryableErrors(t *testing.T) {
	s := newFakeServer(t)
	var mu sync.Mutex
	var ids []string
	s.set(func() {
		s.hook = func(fc *fakeConn, f *magpiev1.Frame) bool {
			if f.GetSend() == nil {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			ids = append(ids, f.GetSend().GetClientMsgId())
			if len(ids) <= 2 {
				fc.write(wire.ErrorFrame(f.GetId(), wire.CodeRateLimited, "slow down"))
				return true
			}
			return false
		}
	})
	alice := s.client(t, "alice", nil)
	res, err := alice.Send(context.Background(), "bob", "text", "hi")
	if err != nil || res.Seq != 1 {
		t.Fatalf("Send = %+v, %v; want seq 1", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 3 || ids[0] != ids[1] || ids[1] != ids[2] || ids[0] != res.ClientMsgID {
		t.Errorf("client msg ids sent %v, want 3 times %q", ids, res.ClientMsgID)
	}
	// Nothing was sent after it: retried on the same connection.
	if n := s.loginCount(); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}
}

func TestSendsArePipelinedWithinTheWindow(t *testing.T) {
	const window, n = 4, 10
	s := newFakeServer(t)
	var mu sync.Mutex
	var held []*magpiev1.Frame // sends not answered yet
	var conn *fakeConn
	s.set(func() {
		s.hook = func(fc *fakeConn, f *magpiev1.Frame) bool {
			if f.GetSend() == nil {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			conn = fc
			held = append(held, f)
			if len(held) > window {
				t.Errorf("%d sends in flight, want at most %d", len(held), window)
			}
			return true
		}
	})
	alice := s.client(t, "alice", func(c *Config) { c.SendWindow = window })
	var outs []*Outgoing
	for i := range n {
		o, err := alice.SendAsync("bob", "text", fmt.Sprint(i+1))
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, o)
	}
	// The client sends a full window without waiting for an answer; each
	// answer lets one more go.
	for answered := 0; answered < n; {
		want := min(window, n-answered)
		eventually(t, fmt.Sprintf("%d sends in flight", want), func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(held) == want
		})
		mu.Lock()
		f := held[0]
		held = held[1:]
		fc := conn
		mu.Unlock()
		if got, wantText := f.GetSend().GetContent(), fmt.Sprint(answered+1); got != wantText {
			t.Fatalf("send #%d on the wire is %q, want %q", answered+1, got, wantText)
		}
		s.send(fc, f.GetId(), f.GetSend())
		answered++
	}
	for i, o := range outs {
		if res, err := o.Wait(context.Background()); err != nil || res.Seq != int64(i+1) {
			t.Errorf("send %d = %+v, %v; want seq %d", i+1, res, err, i+1)
		}
	}
}

func TestSendWindowOfOneSendsOneAtATime(t *testing.T) {
	s := newFakeServer(t)
	var mu sync.Mutex
	var sent []string
	refused := false
	s.set(func() {
		s.hook = func(fc *fakeConn, f *magpiev1.Frame) bool {
			if f.GetSend() == nil {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, f.GetSend().GetContent())
			if f.GetSend().GetContent() == "1" && !refused { // an older server's answer to a burst
				refused = true
				fc.write(wire.ErrorFrame(f.GetId(), wire.CodeRateLimited, "slow down"))
				return true
			}
			return false
		}
	})
	alice := s.client(t, "alice", func(c *Config) { c.SendWindow = 1 })
	outs := sendTexts(t, alice, "bob", "1", "2", "3")
	for i, o := range outs {
		if res, err := o.Wait(context.Background()); err != nil || res.Seq != int64(i+1) {
			t.Errorf("send %d = %+v, %v; want seq %d", i+1, res, err, i+1)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if n := s.loginCount(); !slices.Equal(sent, []string{"1", "1", "2", "3"}) || n != 1 {
		t.Errorf("sends on the wire %v over %d logins, want [1 1 2 3] over one", sent, n)
	}
}

func TestRetryableErrorInTheWindowResendsInOrder(t *testing.T) {
	s := newFakeServer(t)
	var mu sync.Mutex
	var sent []string // "session:content" of every send received
	var refuse uint64 // request id of the first "2"
	s.set(func() {
		s.hook = func(fc *fakeConn, f *magpiev1.Frame) bool {
			m := f.GetSend()
			if m == nil {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, fc.session+":"+m.GetContent())
			if fc.session != "ses_1" {
				return false
			}
			switch m.GetContent() {
			case "2": // refused for now, once 3..5 are behind it on the wire
				refuse = f.GetId()
				return true
			case "3", "4": // not answered before the client gives up on the connection
				return true
			case "5":
				fc.write(wire.ErrorFrame(refuse, wire.CodeUnavailable, "busy"))
				return true
			}
			return false
		}
	})
	alice := s.client(t, "alice", nil)
	outs := sendTexts(t, alice, "bob", "1", "2", "3", "4", "5")
	for i, o := range outs {
		if res, err := o.Wait(context.Background()); err != nil || res.Seq != int64(i+1) || res.Duplicate {
			t.Errorf("send %d = %+v, %v; want seq %d", i+1, res, err, i+1)
		}
	}
	d := waitFor[Disconnected](t, alice)
	var se *Error
	if !d.WillRetry || !errors.As(d.Err, &se) || se.Code != wire.CodeUnavailable {
		t.Errorf("Disconnected = %+v, want the unavailable error and a retry", d)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"ses_1:1", "ses_1:2", "ses_1:3", "ses_1:4", "ses_1:5", "ses_2:2", "ses_2:3", "ses_2:4", "ses_2:5"}
	if !slices.Equal(sent, want) {
		t.Errorf("sends on the wire %v, want %v", sent, want)
	}
}

func TestSendFailsOnRefusal(t *testing.T) {
	s := newFakeServer(t)
	s.set(func() {
		s.hook = func(fc *fakeConn, f *magpiev1.Frame) bool {
			if f.GetSend().GetContent() != "forbidden" {
				return false
			}
			fc.write(wire.ErrorFrame(f.GetId(), wire.CodeForbidden, "blocked"))
			return true
		}
	})
	alice := s.client(t, "alice", nil)
	_, err := alice.Send(context.Background(), "bob", "text", "forbidden")
	var se *Error
	if !errors.As(err, &se) || se.Code != wire.CodeForbidden || se.Retryable {
		t.Fatalf("Send = %v, want a non-retryable forbidden *Error", err)
	}
	// The next message to the same peer goes through.
	if _, err := alice.Send(context.Background(), "bob", "text", "hi"); err != nil {
		t.Fatalf("Send after a refusal: %v", err)
	}
	// The fake server's limit is 1000 bytes: refused before sending.
	_, err = alice.SendAsync("bob", "text", string(make([]byte, 1001)))
	if !errors.As(err, &se) || se.Code != wire.CodeMessageTooLarge {
		t.Fatalf("SendAsync(1001 bytes) = %v, want message_too_large", err)
	}
}

func TestSendInvalidArguments(t *testing.T) {
	c, err := New(Config{URL: "http://127.0.0.1:1", DeviceID: "d", TokenProvider: func(context.Context) (string, error) { return "", nil }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	tests := []struct{ to, typ, content string }{
		{"", "text", "x"},
		{"bob", "", "x"},
		{"bob", "text", ""},
	}
	for _, tt := range tests {
		if _, err := c.SendAsync(tt.to, tt.typ, tt.content); err == nil {
			t.Errorf("SendAsync(%q, %q, %q) = nil error, want one", tt.to, tt.typ, tt.content)
		}
	}
}

func TestSendDeadlineWithoutConnection(t *testing.T) {
	c, err := New(Config{
		URL: "http://127.0.0.1:1", DeviceID: "d", SendDeadline: 20 * time.Millisecond,
		TokenProvider: func(context.Context) (string, error) { return "", nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.Send(context.Background(), "bob", "text", "hi")
	if !errors.Is(err, ErrSendTimeout) {
		t.Fatalf("Send = %v, want ErrSendTimeout", err)
	}
	if n := c.Stats().PendingSends; n != 0 {
		t.Errorf("PendingSends = %d after the failure, want 0", n)
	}
}

func TestSendRetransmitsUnansweredUntilDeadline(t *testing.T) {
	s := newFakeServer(t)
	s.set(func() {
		s.hook = func(_ *fakeConn, f *magpiev1.Frame) bool { return f.GetSend() != nil } // never answered
	})
	alice := s.client(t, "alice", func(c *Config) {
		c.RequestTimeout = 20 * time.Millisecond
		c.SendDeadline = time.Second
	})
	_, err := alice.Send(context.Background(), "bob", "text", "hi")
	if !errors.Is(err, ErrSendTimeout) || !errors.Is(err, errRequestTimeout) {
		t.Fatalf("Send = %v, want ErrSendTimeout after request timeouts", err)
	}
	if n := s.count("send"); n < 2 {
		t.Errorf("the server saw %d sends, want retransmissions", n)
	}
}

func TestSendsKeepOrderAcrossReconnect(t *testing.T) {
	s := newFakeServer(t)
	var once sync.Once
	s.set(func() {
		s.hook = func(fc *fakeConn, f *magpiev1.Frame) bool {
			if f.GetSend().GetContent() != "3" {
				return false
			}
			handled := false
			once.Do(func() { // store the third message, then lose the connection before the ack
				_, msg := s.store(fc.user, f.GetSend())
				s.push(msg, fc)
				fc.ws.CloseNow()
				handled = true
			})
			return handled
		}
	})
	bob := s.client(t, "bob", nil)
	alice := s.client(t, "alice", nil)
	outs := sendTexts(t, alice, "bob", "1", "2", "3", "4", "5")
	for i, o := range outs {
		// The third was stored before the cut: its resend is a
		// duplicate. The first two may be too: the fake server closes
		// with frames 4 and 5 unread, so its kernel resets the
		// connection, and an acknowledgement still on its way is lost
		// with it (CI saw the second's). The last two were never stored.
		res, err := o.Wait(context.Background())
		if err != nil || res.Seq != int64(i+1) || i == 2 && !res.Duplicate || i > 2 && res.Duplicate {
			t.Errorf("send %d = %+v, %v; want seq %d, a duplicate for the third, none after it", i+1, res, err, i+1)
		}
	}
	for i, m := range messages(t, bob, 5) {
		if m.Seq != int64(i+1) || m.Content != string(rune('1'+i)) {
			t.Errorf("bob's message %d = seq %d %q", i+1, m.Seq, m.Content)
		}
	}
	got := seqs(messages(t, alice, 5))
	if !slices.Equal(got, []int64{1, 2, 3, 4, 5}) {
		t.Errorf("alice's own messages %v, want 1..5", got)
	}
}

// TestNewerServerFieldsAreIgnored: a JSON frame naming a field this client
// does not know (a newer server's) is used without that field, not treated
// as a broken connection.
func TestNewerServerFieldsAreIgnored(t *testing.T) {
	s := newFakeServer(t)
	s.set(func() {
		s.hook = func(fc *fakeConn, f *magpiev1.Frame) bool {
			if f.GetSend() == nil {
				return false
			}
			raw := fmt.Sprintf(`{"id":"%d","sendAck":{"clientMsgId":%q,"convId":"p:alice:bob","seq":"7","fieldFromTheFuture":true}}`,
				f.GetId(), f.GetSend().GetClientMsgId())
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = fc.ws.Write(ctx, websocket.MessageText, []byte(raw))
			return true
		}
	})
	alice := s.client(t, "alice", func(c *Config) { c.Encoding = EncodingJSON })
	waitFor[Connected](t, alice)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := alice.Send(ctx, "bob", "text", "hi")
	if err != nil || res.Seq != 7 {
		t.Fatalf("Send answered with an unknown field = %+v, %v, want seq 7", res, err)
	}
}

// sendTexts queues one text message to user per text, in order.
func sendTexts(t *testing.T, c *Client, to string, texts ...string) []*Outgoing {
	t.Helper()
	outs := make([]*Outgoing, len(texts))
	for i, text := range texts {
		o, err := c.SendAsync(to, "text", text)
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = o
	}
	return outs
}

// TestOverloadRefusalGoesBack: a send refused with a retry hint (the
// server's overload refusal) is sent again after the hint, with every
// send after it, on the same connection and in order.
func TestOverloadRefusalGoesBack(t *testing.T) {
	s := newFakeServer(t)
	var mu sync.Mutex
	var goBack string // the refused client message id, as the server keeps it
	var refusals int
	s.set(func() {
		s.hook = func(fc *fakeConn, f *magpiev1.Frame) bool {
			m := f.GetSend()
			if m == nil {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			refuse := func() bool {
				refusals++
				e := wire.ErrorFrame(f.GetId(), wire.CodeUnavailable, "overloaded")
				e.GetError().RetryAfterMs = 20
				fc.write(e)
				return true
			}
			switch {
			case goBack != "" && m.GetClientMsgId() != goBack:
				return refuse()
			case goBack != "":
				goBack = ""
				return false
			case m.GetContent() == "2" && refusals == 0:
				goBack = m.GetClientMsgId()
				return refuse()
			}
			return false
		}
	})
	alice := s.client(t, "alice", nil)
	outs := sendTexts(t, alice, "bob", "1", "2", "3", "4", "5")
	for i, o := range outs {
		if res, err := o.Wait(context.Background()); err != nil || res.Seq != int64(i+1) || res.Duplicate {
			t.Errorf("send %d = %+v, %v; want seq %d", i+1, res, err, i+1)
		}
	}
	if n := s.loginCount(); n != 1 {
		t.Errorf("%d logins, want the first connection kept", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if refusals == 0 || goBack != "" {
		t.Errorf("%d refusals, waiting for %q: the refused send never came back", refusals, goBack)
	}
}

// TestClientMsgIDsGrowWithTime checks that the client's message ids sort
// after those made a millisecond earlier (wire.NewClientMsgID has the
// layout's test), and that group ids are random.
func TestClientMsgIDsGrowWithTime(t *testing.T) {
	before := wire.NewClientMsgID(time.Now().Add(-time.Millisecond))
	if id := newClientMsgID(); id <= before {
		t.Errorf("newClientMsgID() = %s sorts before %s, made a millisecond earlier", id, before)
	}
	if a, b := randomID(10), randomID(10); len(a) != 20 || strings.Trim(a, "0123456789abcdef") != "" || a == b {
		t.Errorf("randomID(10) = %q, %q: want 20 hex digits, different", a, b)
	}
}
