package gateway_test

import (
	"testing"
	"time"
)

// presenceEvent is one call of node.PresenceEvents.
type presenceEvent struct {
	app, user string
	online    bool
}

type presenceRecorder chan presenceEvent

func (r presenceRecorder) UserPresence(appID, userID string, online bool, _ time.Time) {
	r <- presenceEvent{appID, userID, online}
}

func (r presenceRecorder) next(t *testing.T) presenceEvent {
	t.Helper()
	select {
	case ev := <-r:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no presence event")
		return presenceEvent{}
	}
}

// none checks that nothing was reported, waiting out a debounce.
func (r presenceRecorder) none(t *testing.T, debounce time.Duration) {
	t.Helper()
	select {
	case ev := <-r:
		t.Fatalf("unexpected presence event %+v", ev)
	case <-time.After(4 * debounce):
	}
}

// TestPresenceEvents: a user's first session reports it online, a second
// one nothing; the last session ending reports it offline after the
// debounce.
func TestPresenceEvents(t *testing.T) {
	rec := make(presenceRecorder, 16)
	const debounce = 100 * time.Millisecond
	e := newEnvConfig(t, envConfig{presence: rec, presenceDebounce: debounce})
	e.mustCreateUser(e.a, "alice")
	tok := e.mint(e.a, e.a.Secret, "alice", time.Hour, e.clock())

	phone := e.loginWith(tok, "phone")
	if ev := rec.next(t); ev != (presenceEvent{e.a.ID, "alice", true}) {
		t.Fatalf("first login: %+v", ev)
	}
	laptop := e.loginWith(tok, "laptop")
	phone.ws.CloseNow()
	rec.none(t, debounce) // the laptop is still online
	laptop.ws.CloseNow()
	if ev := rec.next(t); ev != (presenceEvent{e.a.ID, "alice", false}) {
		t.Fatalf("last logout: %+v", ev)
	}

	e.loginWith(tok, "phone")
	if ev := rec.next(t); ev != (presenceEvent{e.a.ID, "alice", true}) {
		t.Fatalf("login after offline: %+v", ev)
	}
}

// TestPresenceReconnectWithinDebounce: a reconnect within the debounce
// reports nothing. The debounce is an hour, so that however slowly the
// reconnect goes, it is within it; an offline event sent at once, or an
// online one for the reconnect, would arrive while the test waits.
func TestPresenceReconnectWithinDebounce(t *testing.T) {
	rec := make(presenceRecorder, 16)
	e := newEnvConfig(t, envConfig{presence: rec, presenceDebounce: time.Hour})
	e.mustCreateUser(e.a, "alice")
	tok := e.mint(e.a, e.a.Secret, "alice", time.Hour, e.clock())
	phone := e.loginWith(tok, "phone")
	if ev := rec.next(t); ev != (presenceEvent{e.a.ID, "alice", true}) {
		t.Fatalf("first login: %+v", ev)
	}
	phone.ws.CloseNow()
	waitFor(t, func() bool { return e.hub.Online(e.a.ID, "alice") == 0 }) // the server saw it end
	e.loginWith(tok, "phone")
	rec.none(t, 100*time.Millisecond)
}
