package node

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/wire"
)

// scriptedUsers is a store whose GetUser answers from a script, one answer
// per call; the last answer repeats.
type scriptedUsers struct {
	store.Store
	mu      sync.Mutex
	answers []userAnswer
	calls   int
}

type userAnswer struct {
	u   store.User
	err error
}

func (s *scriptedUsers) App(string) store.AppStore { return scriptedApp{s: s} }

type scriptedApp struct {
	store.AppStore
	s *scriptedUsers
}

func (a scriptedApp) GetUser(context.Context, string) (store.User, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	a.s.calls++
	ans := a.s.answers[0]
	if len(a.s.answers) > 1 {
		a.s.answers = a.s.answers[1:]
	}
	return ans.u, ans.err
}

// recheckFixture is a hub with one logged-in session whose retries are
// queued for the test to run.
type recheckFixture struct {
	h       *Hub
	c       *conn
	client  *websocket.Conn
	retries []func()
	waits   []time.Duration
}

func newRecheckFixture(t *testing.T, answers ...userAnswer) *recheckFixture {
	t.Helper()
	f := &recheckFixture{}
	f.c, f.client = writerTestConn(t.Context(), t)
	f.h = NewHub(&scriptedUsers{answers: answers}, nil)
	f.h.after = func(d time.Duration, run func()) {
		f.waits = append(f.waits, d)
		f.retries = append(f.retries, run)
	}
	f.c.issuedAt = time.Now()
	f.h.users[userKey{"app", "u1"}] = []*conn{f.c}
	return f
}

// runRetry runs the one retry scheduled.
func (f *recheckFixture) runRetry(t *testing.T) {
	t.Helper()
	if len(f.retries) != 1 {
		t.Fatalf("%d retries scheduled, want 1", len(f.retries))
	}
	run := f.retries[0]
	f.retries = nil
	run()
}

func (f *recheckFixture) closing() bool {
	f.c.mu.Lock()
	defer f.c.mu.Unlock()
	return f.c.closing
}

// expectClosed checks that the session is closed with code, and that no
// retry is left.
func (f *recheckFixture) expectClosed(t *testing.T, code wire.CloseCode) {
	t.Helper()
	if !f.closing() {
		t.Fatalf("session not closed, want %d", code)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for { // the client's side, until the server's close arrives
		if _, _, err := f.client.Read(ctx); err != nil {
			if got := websocket.CloseStatus(err); got != websocket.StatusCode(code) {
				t.Fatalf("close code %d (%v), want %d", got, err, code)
			}
			break
		}
	}
	if len(f.retries) != 0 {
		t.Fatalf("%d retries left after the close", len(f.retries))
	}
}

var errStoreSlow = errors.New("mongo: client timed out waiting for server response")

// TestRecheckRetriesAnUnreadUser: a session re-check whose read of the
// user fails keeps the session and retries; the answer that finally comes
// decides, here a block.
func TestRecheckRetriesAnUnreadUser(t *testing.T) {
	// Two changes fail to read the user, then a retry, then the next
	// retry reads a block.
	f := newRecheckFixture(t, userAnswer{err: errStoreSlow}, userAnswer{err: errStoreSlow}, userAnswer{err: errStoreSlow},
		userAnswer{u: store.User{ID: "u1", Blocked: true}})
	f.h.UserChanged("app", "u1")
	if f.closing() {
		t.Fatal("session closed at the first failed read")
	}
	// Another change while a retry waits adds no second retry.
	f.h.UserChanged("app", "u1")
	f.runRetry(t)
	if f.closing() {
		t.Fatal("session closed at a failed retry")
	}
	f.runRetry(t)
	f.expectClosed(t, wire.CloseUserBlocked)
	if want := []time.Duration{recheckBackoff[0], recheckBackoff[1]}; len(f.waits) != 2 || f.waits[0] != want[0] || f.waits[1] != want[1] {
		t.Fatalf("waits %v, want %v", f.waits, want)
	}
}

// TestRecheckGivesUpWithAReconnectCode: when every attempt fails, the
// session is closed with 4005, which makes the client log in again (and
// the login check the user).
func TestRecheckGivesUpWithAReconnectCode(t *testing.T) {
	f := newRecheckFixture(t, userAnswer{err: errStoreSlow})
	f.h.UserChanged("app", "u1")
	for range recheckBackoff {
		if f.closing() {
			t.Fatalf("closed after %d attempts, want %d", len(f.waits), len(recheckBackoff)+1)
		}
		f.runRetry(t)
	}
	f.expectClosed(t, wire.CloseInternalError)
}

// TestRecheckOfAnAllowedUserKeepsTheSession: a retry that reads a user
// still allowed leaves the session alone; so does a user read at once.
func TestRecheckOfAnAllowedUserKeepsTheSession(t *testing.T) {
	f := newRecheckFixture(t, userAnswer{err: errStoreSlow}, userAnswer{u: store.User{ID: "u1"}})
	f.h.UserChanged("app", "u1")
	f.runRetry(t)
	f.h.UserChanged("app", "u1")
	if f.closing() || len(f.retries) != 0 {
		t.Fatalf("closing %v, %d retries: the allowed user's session must stay", f.closing(), len(f.retries))
	}
}

// TestRecheckNotRetriedWhileDraining: a hub shutting down schedules no
// retry (its sessions are being closed anyway).
func TestRecheckNotRetriedWhileDraining(t *testing.T) {
	f := newRecheckFixture(t, userAnswer{err: errStoreSlow})
	f.h.mu.Lock()
	f.h.draining = true
	f.h.mu.Unlock()
	f.h.UserChanged("app", "u1")
	if len(f.retries) != 0 {
		t.Fatalf("%d retries scheduled while draining", len(f.retries))
	}
}
