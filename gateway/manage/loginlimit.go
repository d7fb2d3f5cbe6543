package manage

import (
	"net/netip"
	"sync"
	"time"
)

// LoginLimits configures the throttling of console password checks (login,
// HTTP Basic, password change). Failures are counted per account (email)
// and per client address; past a threshold every further attempt is refused
// without a password check until a lockout ends, and each failure after that
// doubles the lockout. The state is kept in memory, per process: in cluster
// mode each gateway counts on its own. The zero value is usable.
type LoginLimits struct {
	// AccountFailures is how many failed checks an email may have before it
	// is locked out. Zero means 5.
	AccountFailures int
	// AddressFailures is how many failed checks a client address may have
	// before it is locked out (an IPv6 address counts by its /64). Zero
	// means 20.
	AddressFailures int
	// Lockout is the first lockout; every further failure doubles it.
	// Zero means 1 * time.Second.
	Lockout time.Duration
	// MaxLockout caps the lockout. Zero means 15 * time.Minute.
	MaxLockout time.Duration
	// Forget is how long after its last failure an email or address that
	// is not locked out starts afresh. Zero means 15 * time.Minute.
	Forget time.Duration
	// MaxTracked bounds how many emails, and how many addresses, are
	// tracked; when full, entries with nothing to remember go first, then
	// arbitrary idle ones. Zero means 65536.
	MaxTracked int
}

func (l LoginLimits) withDefaults() LoginLimits {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defd := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&l.AccountFailures, 5)
	def(&l.AddressFailures, 20)
	def(&l.MaxTracked, 1<<16)
	defd(&l.Lockout, time.Second)
	defd(&l.MaxLockout, 15*time.Minute)
	defd(&l.Forget, 15*time.Minute)
	return l
}

// loginThrottle counts failed password checks per email and per client
// address. A check is admitted by begin, which reserves it, and reported by
// end; while a key is locked out, or as many checks are in flight as it has
// failures left, begin refuses at once, so a burst of parallel guesses
// cannot run more checks than the threshold. It is safe for concurrent use.
type loginThrottle struct {
	cfg LoginLimits

	mu       sync.Mutex // guards the maps and the strikes in them
	accounts map[string]*strike
	addrs    map[string]*strike
}

// strike is the failure record of one email or address.
type strike struct {
	failures    int       // failed checks since the last success or forgetting
	pending     int       // checks admitted and not yet reported
	lastFailure time.Time // when the latest failure was reported
	lockedUntil time.Time // zero or past: not locked out
}

// outcome is the result of an admitted check.
type outcome int

const (
	checkFailed    outcome = iota // wrong password: counts
	checkSucceeded                // right password: clears the account's failures
	checkAborted                  // no verdict (busy, cancelled, store error): does not count
)

func newLoginThrottle(cfg LoginLimits) *loginThrottle {
	return &loginThrottle{cfg: cfg.withDefaults(), accounts: make(map[string]*strike), addrs: make(map[string]*strike)}
}

// locked returns how long email and addr stay locked out at now; zero when
// neither is.
func (t *loginThrottle) locked(email, addr string, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	for _, s := range []*strike{t.accounts[email], t.addrs[addr]} {
		if s != nil && now.Before(s.lockedUntil) {
			wait = max(wait, s.lockedUntil.Sub(now))
		}
	}
	return wait
}

// begin admits a password check for email from addr at now and reserves
// it; the caller must report it with end. It returns false and how long to
// wait when the check is refused.
func (t *loginThrottle) begin(email, addr string, now time.Time) (time.Duration, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	acc := t.get(t.accounts, email, now)
	ad := t.get(t.addrs, addr, now)
	wait := max(acc.refusal(now, t.cfg.AccountFailures), ad.refusal(now, t.cfg.AddressFailures))
	if wait > 0 {
		t.tidy(t.accounts, email, acc)
		t.tidy(t.addrs, addr, ad)
		return wait, false
	}
	acc.pending++
	ad.pending++
	return 0, true
}

// refusal returns how long a new check must wait; zero admits it. A key
// with f failures of a threshold n may have n-f checks in flight (1 once
// it has been locked out).
func (s *strike) refusal(now time.Time, n int) time.Duration {
	if now.Before(s.lockedUntil) {
		return s.lockedUntil.Sub(now)
	}
	if s.pending >= max(n-s.failures, 1) {
		return time.Second // the checks in flight decide; try again then
	}
	return 0
}

// end reports the outcome of a check that begin admitted. It returns, for
// logging, the lockouts the outcome started (zero when none).
func (t *loginThrottle) end(email, addr string, o outcome, now time.Time) (accountLock, addrLock time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	acc := t.get(t.accounts, email, now)
	ad := t.get(t.addrs, addr, now)
	acc.pending = max(acc.pending-1, 0)
	ad.pending = max(ad.pending-1, 0)
	switch o {
	case checkFailed:
		accountLock = t.fail(acc, now, t.cfg.AccountFailures)
		addrLock = t.fail(ad, now, t.cfg.AddressFailures)
	case checkSucceeded:
		acc.failures, acc.lockedUntil = 0, time.Time{}
	}
	t.tidy(t.accounts, email, acc)
	t.tidy(t.addrs, addr, ad)
	return accountLock, addrLock
}

// succeeded records a success that needed no admitted check (a remembered
// HTTP Basic verification).
func (t *loginThrottle) succeeded(email string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.accounts[email]; ok && s.pending == 0 {
		delete(t.accounts, email)
	}
}

// fail counts a failure and, past the threshold n, locks the key out; it
// returns the new lockout or zero.
func (t *loginThrottle) fail(s *strike, now time.Time, n int) time.Duration {
	s.failures++
	s.lastFailure = now
	if s.failures < n {
		return 0
	}
	lock := t.cfg.MaxLockout
	if shift := s.failures - n; shift < 32 {
		lock = min(t.cfg.Lockout<<shift, t.cfg.MaxLockout)
	}
	s.lockedUntil = now.Add(lock)
	return lock
}

// get returns the strike of key, made afresh when it is new or forgotten.
// t.mu must be held.
func (t *loginThrottle) get(m map[string]*strike, key string, now time.Time) *strike {
	s, ok := m[key]
	if ok {
		if s.idle(now, t.cfg.Forget) {
			*s = strike{}
		}
		return s
	}
	if len(m) >= t.cfg.MaxTracked {
		t.evict(m, now)
	}
	s = &strike{}
	m[key] = s
	return s
}

// idle reports whether s has nothing left to remember at now.
func (s *strike) idle(now time.Time, forget time.Duration) bool {
	return s.pending == 0 && !now.Before(s.lockedUntil) && now.Sub(s.lastFailure) >= forget
}

// evict makes room in a full map: forgotten entries go first; if none,
// arbitrary entries without checks in flight (a flood of made-up emails
// or addresses must not grow memory without bound). t.mu must be held.
func (t *loginThrottle) evict(m map[string]*strike, now time.Time) {
	for k, s := range m {
		if s.idle(now, t.cfg.Forget) {
			delete(m, k)
		}
	}
	for k, s := range m {
		if len(m) < t.cfg.MaxTracked {
			return
		}
		if s.pending == 0 {
			delete(m, k)
		}
	}
}

// tidy drops the entry of key when it holds nothing. t.mu must be held.
func (t *loginThrottle) tidy(m map[string]*strike, key string, s *strike) {
	if s.pending == 0 && s.failures == 0 && s.lockedUntil.IsZero() {
		delete(m, key)
	}
}

// throttleAddr is the key of a client address: the address itself, or its
// /64 for IPv6, where one client usually holds a whole /64.
func throttleAddr(addr string) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil || !ip.Is6() || ip.Is4In6() {
		return addr
	}
	p, err := ip.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}
