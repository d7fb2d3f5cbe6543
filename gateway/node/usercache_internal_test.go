package node

import (
	"fmt"
	"testing"
	"time"
)

// TestKnownUsersDropAReadOvertakenByAChange: a state read before a change
// was counted is not remembered, whichever user changed; one read after it
// is, until the user's next change or the TTL.
func TestKnownUsersDropAReadOvertakenByAChange(t *testing.T) {
	ku := newKnownUsers()
	k, now := userKey{"app", "u1"}, time.Unix(1_767_225_600, 0)
	gen := ku.gen.Load()
	ku.changed(k) // applied while the read was in flight
	ku.put(k, knownUser{read: now}, gen)
	if _, ok := ku.get(k, now); ok {
		t.Fatal("a read from before a change was remembered")
	}
	gen = ku.gen.Load()
	ku.mayHaveChanged()
	ku.put(k, knownUser{read: now}, gen)
	if _, ok := ku.get(k, now); ok {
		t.Fatal("a read from before a resync was remembered")
	}
	ku.put(k, knownUser{blocked: true, read: now}, ku.gen.Load())
	if u, ok := ku.get(k, now.Add(knownUserTTL-time.Millisecond)); !ok || !u.blocked {
		t.Fatalf("get = %+v, %v; want the blocked user remembered", u, ok)
	}
	if _, ok := ku.get(k, now.Add(knownUserTTL)); ok {
		t.Fatal("remembered past the TTL")
	}
	ku.put(k, knownUser{read: now}, ku.gen.Load())
	ku.changed(userKey{"app", "u2"})
	if _, ok := ku.get(k, now); !ok {
		t.Fatal("another user's change forgot u1")
	}
	ku.changed(k)
	if _, ok := ku.get(k, now); ok {
		t.Fatal("remembered after its change")
	}
}

// TestKnownUsersAreBounded: past maxKnownUsers, remembering one forgets
// another.
func TestKnownUsersAreBounded(t *testing.T) {
	ku := newKnownUsers()
	now := time.Unix(1_767_225_600, 0)
	for i := range maxKnownUsers + 10 {
		ku.put(userKey{"app", fmt.Sprint("u", i)}, knownUser{read: now}, ku.gen.Load())
	}
	if n := len(ku.users); n != maxKnownUsers {
		t.Fatalf("%d users remembered, want %d", n, maxKnownUsers)
	}
	if _, ok := ku.get(userKey{"app", fmt.Sprint("u", maxKnownUsers+9)}, now); !ok {
		t.Fatal("the last user put is not remembered")
	}
}
