package manage

import (
	"fmt"
	"testing"
	"time"
)

// TestLoginThrottleLockouts drives one account through failures and checks
// the lockout after each: none before the threshold, then doubling from
// Lockout up to MaxLockout.
func TestLoginThrottleLockouts(t *testing.T) {
	th := newLoginThrottle(LoginLimits{AccountFailures: 3, AddressFailures: 100, Lockout: time.Second, MaxLockout: 5 * time.Second})
	now := time.Unix(1_700_000_000, 0)
	want := []time.Duration{0, 0, time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, w := range want {
		if _, ok := th.begin("ann", "a1", now); !ok {
			t.Fatalf("failure %d: begin refused", i+1)
		}
		lock, _ := th.end("ann", "a1", checkFailed, now)
		if lock != w {
			t.Errorf("lockout after failure %d = %v, want %v", i+1, lock, w)
		}
		if got := th.locked("ann", "a9", now); got != w {
			t.Errorf("locked after failure %d = %v, want %v", i+1, got, w)
		}
		now = now.Add(w)
	}
}

// TestLoginThrottleForgets checks that an account or address with no
// failure for Forget starts afresh, and that a success clears the account
// but not the address.
func TestLoginThrottleForgets(t *testing.T) {
	th := newLoginThrottle(LoginLimits{AccountFailures: 2, AddressFailures: 3, Forget: time.Minute})
	now := time.Unix(1_700_000_000, 0)
	fail := func(email string) {
		t.Helper()
		if _, ok := th.begin(email, "a1", now); !ok {
			t.Fatalf("begin(%s) refused", email)
		}
		th.end(email, "a1", checkFailed, now)
	}
	fail("ann")
	now = now.Add(time.Minute)
	fail("ann") // the first was forgotten: no lockout
	if w := th.locked("ann", "a2", now); w != 0 {
		t.Fatalf("account locked %v after a forgotten failure and a new one", w)
	}
	th.begin("ann", "a1", now)
	th.end("ann", "a1", checkSucceeded, now)
	fail("ann") // the success cleared ann's count
	if w := th.locked("ann", "a2", now); w != 0 {
		t.Fatalf("account locked %v after a success and one failure", w)
	}
	if w := th.locked("bob", "a1", now); w != 0 {
		t.Fatalf("address a1 locked %v after 2 failures since it was forgotten", w)
	}
	fail("carl") // the address's third: the success did not clear it
	if w := th.locked("bob", "a1", now); w == 0 {
		t.Fatalf("address a1 not locked after 3 failures, one of them before a success")
	}
}

// TestLoginThrottleBounded checks that a flood of made-up emails does not
// grow the tables past MaxTracked.
func TestLoginThrottleBounded(t *testing.T) {
	th := newLoginThrottle(LoginLimits{MaxTracked: 100})
	now := time.Unix(1_700_000_000, 0)
	for i := range 1000 {
		email, addr := fmt.Sprintf("u%d@x.test", i), fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		if _, ok := th.begin(email, addr, now); !ok {
			t.Fatalf("begin(%s) refused", email)
		}
		th.end(email, addr, checkFailed, now)
	}
	if len(th.accounts) > 100 || len(th.addrs) > 100 {
		t.Fatalf("tracking %d emails and %d addresses, want at most 100 each", len(th.accounts), len(th.addrs))
	}
}

func TestThrottleAddr(t *testing.T) {
	tests := []struct{ in, want string }{
		{"203.0.113.7", "203.0.113.7"},
		{"2001:db8:1:2::5", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"::ffff:203.0.113.7", "::ffff:203.0.113.7"},
		{"not-an-ip", "not-an-ip"},
	}
	for _, tt := range tests {
		if got := throttleAddr(tt.in); got != tt.want {
			t.Errorf("throttleAddr(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
