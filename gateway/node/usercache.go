package node

import (
	"sync"
	"sync/atomic"
	"time"
)

const (
	// maxKnownUsers bounds the users a hub remembers for logins (about
	// 100 bytes each).
	maxKnownUsers = 1 << 16
	// knownUserTTL bounds how long a user is remembered: a change whose
	// event never reached this node (its publication failed) holds up
	// its logins here no longer than this.
	knownUserTTL = time.Minute
)

// knownUser is what a login checks of its user: it exists, whether it is
// blocked, and since when its tokens are valid.
type knownUser struct {
	blocked    bool
	validAfter time.Time
	read       time.Time // when it was read from the store
}

// knownUsers remembers the users that logged in on this node, so that a
// user's next login (another device, a reconnect) does not read the store.
// Every user change the hub is told of (UserChanged, UsersMayHaveChanged)
// counts in gen and forgets what it may have changed, under mu: a state
// read before a change counted is never remembered after it (see put).
type knownUsers struct {
	gen   atomic.Uint64 // user changes counted so far
	mu    sync.Mutex    // guards users, and orders put against changed
	users map[userKey]knownUser
}

func newKnownUsers() *knownUsers { return &knownUsers{users: make(map[userKey]knownUser)} }

// get returns the remembered state of k, if read within knownUserTTL of
// now.
func (ku *knownUsers) get(k userKey, now time.Time) (knownUser, bool) {
	ku.mu.Lock()
	defer ku.mu.Unlock()
	u, ok := ku.users[k]
	if ok && now.Sub(u.read) >= knownUserTTL {
		delete(ku.users, k)
		return knownUser{}, false
	}
	return u, ok
}

// put remembers u, read from the store after gen was loaded, unless a user
// change was counted since: u may predate it.
func (ku *knownUsers) put(k userKey, u knownUser, gen uint64) {
	ku.mu.Lock()
	defer ku.mu.Unlock()
	if ku.gen.Load() != gen {
		return
	}
	if len(ku.users) >= maxKnownUsers {
		for old := range ku.users { // an arbitrary one
			delete(ku.users, old)
			break
		}
	}
	ku.users[k] = u
}

// changed counts a change of k and forgets it.
func (ku *knownUsers) changed(k userKey) {
	ku.mu.Lock()
	defer ku.mu.Unlock()
	ku.gen.Add(1)
	delete(ku.users, k)
}

// mayHaveChanged counts a change of any user and forgets them all.
func (ku *knownUsers) mayHaveChanged() {
	ku.mu.Lock()
	defer ku.mu.Unlock()
	ku.gen.Add(1)
	clear(ku.users)
}
