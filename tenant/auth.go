package tenant

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/magpie-im/magpie/internal/store"
)

// MaxAccountsPerEmail bounds how many accounts with one email a login checks
// the password against. Emails are unique per tenant, so one person may have
// accounts in several tenants; a login without a tenant id tries each.
const MaxAccountsPerEmail = 10

// LoginInput is a console member's email and password, and optionally the
// tenant whose account is meant (needed only when the email and password
// match accounts in several tenants).
type LoginInput struct {
	Email    string
	Password string
	TenantID string
}

// NormalizeEmail returns email as members are stored and looked up:
// trimmed and lower-cased.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// Authenticate checks an email and password against every account with that
// email (at most MaxAccountsPerEmail; only the one in in.TenantID when it is
// set). It returns the one account that matches, ErrBadCredentials when none
// does, and ErrTenantRequired when several do and no tenant was named. Each
// check is a bcrypt comparison made through the service's bounded pool
// (ErrBusy when its queue is full).
func (s *Service) Authenticate(ctx context.Context, in LoginInput) (store.Member, error) {
	candidates, err := s.store.ListMembersByEmail(ctx, NormalizeEmail(in.Email), MaxAccountsPerEmail)
	if err != nil {
		return store.Member{}, fmt.Errorf("list members by email: %w", err)
	}
	if in.TenantID != "" {
		candidates = filterTenant(candidates, in.TenantID)
	}
	if len(candidates) == 0 {
		// Spend the same time as a real check so that timing does not
		// reveal which emails exist.
		if _, err := s.checkPassword(ctx, s.dummy(), in.Password); err != nil {
			return store.Member{}, err
		}
		return store.Member{}, ErrBadCredentials
	}
	var match []store.Member
	for _, m := range candidates {
		ok, err := s.checkPassword(ctx, []byte(m.PasswordHash), in.Password)
		if err != nil {
			return store.Member{}, err
		}
		if ok {
			match = append(match, m)
		}
	}
	switch len(match) {
	case 0:
		return store.Member{}, ErrBadCredentials
	case 1:
		return match[0], nil
	default:
		return store.Member{}, ErrTenantRequired
	}
}

func filterTenant(ms []store.Member, tenantID string) []store.Member {
	out := ms[:0]
	for _, m := range ms {
		if m.TenantID == tenantID {
			out = append(out, m)
		}
	}
	return out
}

// AuthenticateCached is Authenticate for credentials sent with every request
// (HTTP Basic): a successful check is remembered for Config.AuthCacheTTL
// under a keyed hash of the input (see Recall), so that a script's calls do
// not each cost a bcrypt comparison.
func (s *Service) AuthenticateCached(ctx context.Context, in LoginInput) (store.Member, error) {
	if m, ok, err := s.Recall(ctx, in); err != nil || ok {
		return m, err
	}
	m, err := s.Authenticate(ctx, in)
	if err != nil {
		return store.Member{}, err
	}
	if s.cfg.AuthCacheTTL > 0 {
		now := s.cfg.Now()
		s.auth.put(s.authKey(in), authEntry{memberID: m.ID, passwordHash: m.PasswordHash, expires: now.Add(s.cfg.AuthCacheTTL)}, now)
	}
	return m, nil
}

// Recall returns the member of credentials that AuthenticateCached checked
// successfully within Config.AuthCacheTTL, without a bcrypt comparison; ok
// is false when there is none. A remembered check counts only while the
// account still exists with the same password hash, read afresh on every
// call: removing the member or changing its password ends it at once, in
// every process.
func (s *Service) Recall(ctx context.Context, in LoginInput) (m store.Member, ok bool, err error) {
	if s.cfg.AuthCacheTTL < 0 {
		return store.Member{}, false, nil
	}
	key := s.authKey(in)
	e, ok := s.auth.get(key, s.cfg.Now())
	if !ok {
		return store.Member{}, false, nil
	}
	m, err = s.store.GetMember(ctx, e.memberID)
	if err == nil && m.PasswordHash == e.passwordHash {
		return m, true, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Member{}, false, fmt.Errorf("get member %s: %w", e.memberID, err)
	}
	s.auth.drop(key)
	return store.Member{}, false, nil
}

// authKey is the cache key of a login: an HMAC under a per-process random
// key, so the cache holds nothing from which a password could be guessed.
func (s *Service) authKey(in LoginInput) [sha256.Size]byte {
	mac := hmac.New(sha256.New, s.authSecret[:])
	for _, f := range []string{in.TenantID, NormalizeEmail(in.Email), in.Password} {
		// Length-prefixed, so that no two inputs share a key.
		mac.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		mac.Write([]byte(f))
	}
	var k [sha256.Size]byte
	mac.Sum(k[:0])
	return k
}

// maxAuthCached bounds the Basic-auth cache; when full, expired entries go
// and, if that is not enough, it starts over.
const maxAuthCached = 4096

// authCache remembers successful password checks. It is safe for concurrent
// use.
type authCache struct {
	mu sync.Mutex // guards m
	m  map[[sha256.Size]byte]authEntry
}

type authEntry struct {
	memberID     string
	passwordHash string // the hash the password was checked against
	expires      time.Time
}

func (c *authCache) get(k [sha256.Size]byte, now time.Time) (authEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if ok && !now.Before(e.expires) {
		delete(c.m, k)
		return authEntry{}, false
	}
	return e, ok
}

func (c *authCache) put(k [sha256.Size]byte, e authEntry, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[[sha256.Size]byte]authEntry)
	}
	if len(c.m) >= maxAuthCached {
		for k, old := range c.m {
			if !now.Before(old.expires) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= maxAuthCached {
			clear(c.m)
		}
	}
	c.m[k] = e
}

func (c *authCache) drop(k [sha256.Size]byte) {
	c.mu.Lock()
	delete(c.m, k)
	c.mu.Unlock()
}

// hashGate bounds concurrent bcrypt work, so that password checks cannot
// take every core from the message path: at most cap(slots) run at once and
// at most maxWaiting wait for a slot; beyond that a check is refused with
// ErrBusy instead of queueing. It is safe for concurrent use.
type hashGate struct {
	slots      chan struct{}
	waiting    atomic.Int64
	maxWaiting int64
}

func newHashGate(workers, maxWaiting int) *hashGate {
	return &hashGate{slots: make(chan struct{}, workers), maxWaiting: int64(maxWaiting)}
}

// do runs fn once a slot is free, or returns ErrBusy or ctx's error.
func (g *hashGate) do(ctx context.Context, fn func()) error {
	if g.waiting.Add(1) > g.maxWaiting {
		g.waiting.Add(-1)
		return ErrBusy
	}
	select {
	case g.slots <- struct{}{}:
		g.waiting.Add(-1)
	case <-ctx.Done():
		g.waiting.Add(-1)
		return ctx.Err()
	}
	defer func() { <-g.slots }()
	fn()
	return nil
}

// checkPassword reports whether password matches the bcrypt hash.
func (s *Service) checkPassword(ctx context.Context, hash []byte, password string) (bool, error) {
	var ok bool
	err := s.hashes.do(ctx, func() {
		ok = bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	})
	return ok, err
}

// hashPassword validates a new password and returns its bcrypt hash.
func (s *Service) hashPassword(ctx context.Context, field, password string) (string, error) {
	if err := validPassword(field, password); err != nil {
		return "", err
	}
	var hash []byte
	var herr error
	if err := s.hashes.do(ctx, func() {
		hash, herr = bcrypt.GenerateFromPassword([]byte(password), s.cfg.PasswordCost)
	}); err != nil {
		return "", err
	}
	if herr != nil {
		return "", fmt.Errorf("hash password: %w", herr)
	}
	return string(hash), nil
}

func validPassword(field, password string) error {
	if len(password) < 12 || len(password) > 72 {
		return invalid(field, "must be 12-72 characters")
	}
	return nil
}

func (s *Service) dummy() []byte {
	s.dummyOnce.Do(func() {
		s.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("magpie-dummy-password"), s.cfg.PasswordCost)
	})
	return s.dummyHash
}

// Login authenticates a member and opens a console session. The returned
// bearer token is shown once; only its hash is stored.
func (s *Service) Login(ctx context.Context, in LoginInput) (string, store.Session, error) {
	m, err := s.Authenticate(ctx, in)
	if err != nil {
		return "", store.Session{}, err
	}
	token := newID("mst_", 24)
	now := s.now()
	sess := store.Session{TokenHash: hashToken(token), MemberID: m.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return "", store.Session{}, fmt.Errorf("create session: %w", err)
	}
	return token, sess, nil
}

// SessionMember returns the member a session token belongs to.
func (s *Service) SessionMember(ctx context.Context, token string) (store.Member, error) {
	sess, err := s.store.GetSession(ctx, hashToken(token), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Member{}, ErrBadCredentials
	}
	if err != nil {
		return store.Member{}, fmt.Errorf("get session: %w", err)
	}
	return s.store.GetMember(ctx, sess.MemberID)
}

// Logout ends a session.
func (s *Service) Logout(ctx context.Context, token string) error {
	return s.store.DeleteSession(ctx, hashToken(token))
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

func newAuthSecret() [32]byte {
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		panic(fmt.Sprintf("tenant: crypto/rand: %v", err))
	}
	return k
}
