// Package tenant owns Magpie's multi-tenancy: tenants, console members and
// their roles, apps with their keys, secrets (sealed at rest, rotated with
// overlap), limits and settings, and the first-start bootstrap of an
// installation. The gateway resolves app keys to credentials through it.
package tenant

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/store"
)

// Errors returned by Service besides the store's ErrNotFound and ErrConflict.
var (
	// ErrInvalid wraps validation failures; the message names the field.
	ErrInvalid = errors.New("invalid")
	// ErrBadCredentials means an email/password pair or session token did
	// not match.
	ErrBadCredentials = errors.New("bad credentials")
	// ErrTooManySecrets means an app already has MaxActiveSecrets secrets.
	ErrTooManySecrets = errors.New("app already has two active secrets; revoke one first")
	// ErrLastSecret means the request would leave an app with no secret.
	ErrLastSecret = errors.New("cannot revoke the app's last active secret")
	// ErrTenantRequired means an email and password matched accounts in
	// several tenants and the login did not say which one it meant.
	ErrTenantRequired = errors.New("the email and password match accounts in several tenants; name the tenant")
	// ErrBusy means too many password checks are already waiting; the
	// caller should retry shortly.
	ErrBusy = errors.New("too many password checks in progress")
	// ErrForbidden matches refusals by role (a *ForbiddenError says why).
	ErrForbidden = errors.New("forbidden")
	// ErrLastOwner means the change would leave a tenant without an owner.
	ErrLastOwner = errors.New("a tenant must keep at least one owner")
)

// MaxActiveSecrets is how many secrets an app may have active at once: two,
// so that a rotation can overlap the old and the new secret.
const MaxActiveSecrets = 2

// Config configures a Service. The zero value is usable.
type Config struct {
	// Defaults are the limits of apps that do not set their own.
	// Zero fields take DefaultLimits' values.
	Defaults store.Limits
	// MaxUploadBytes is the operator's cap on the files users upload: no
	// app may set its max_upload_bytes above it, and an app's effective
	// limit (its own or the default) never exceeds it. Zero means
	// DefaultMaxUploadBytesCap.
	MaxUploadBytes int64
	// CacheTTL is how long resolved app credentials are cached. Changes made
	// through this Service invalidate its cache at once; the TTL bounds how
	// long other processes (cluster mode) see stale credentials.
	// Zero means 5 * time.Second.
	CacheTTL time.Duration
	// SessionTTL is how long a console session lasts. Zero means 12 hours.
	SessionTTL time.Duration
	// PasswordCost is the bcrypt cost of console passwords. Zero means
	// bcrypt.DefaultCost (10); tests lower it to bcrypt.MinCost.
	PasswordCost int
	// PasswordWorkers bounds how many bcrypt hashes or comparisons run at
	// once, so that logins cannot take every core from the message path.
	// Zero means half of GOMAXPROCS, at least 1.
	PasswordWorkers int
	// PasswordQueue bounds how many password checks may wait for a worker;
	// beyond it a check fails at once with ErrBusy. Zero means 64.
	PasswordQueue int
	// AuthCacheTTL is how long AuthenticateCached remembers a successful
	// check of HTTP Basic credentials (in memory, per process, at most 4096
	// entries). Zero means time.Minute; a negative value disables the cache.
	AuthCacheTTL time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
}

// DefaultLimits are the limits of an app that sets none.
func DefaultLimits() store.Limits {
	return store.Limits{
		MaxMessageBytes:   64 << 10,
		APIRate:           100,
		APIBurst:          200,
		ConnRate:          200,
		SendRate:          50,
		SendBurst:         100,
		MaxGroupSize:      3000,
		MaxDevicesPerUser: 5,
		MaxUploadBytes:    20 << 20,
	}
}

// DefaultMaxUploadBytesCap is the operator's cap on uploads when
// Config.MaxUploadBytes is zero: 100 MiB.
const DefaultMaxUploadBytesCap = 100 << 20

// Service implements tenant management on top of a store. It is safe for
// concurrent use.
type Service struct {
	store store.Store
	keys  *keyring.Keyring
	cfg   Config
	log   *slog.Logger

	mu    sync.Mutex // guards cache
	cache map[string]cached

	gen atomic.Uint64 // bumped by every invalidation; Resolve caches only if unchanged

	hashes     *hashGate
	auth       authCache
	authSecret [32]byte // keys the auth cache's hashes

	dummyOnce sync.Once
	dummyHash []byte // a hash at PasswordCost, to equalise login timing
}

type cached struct {
	creds   *Credentials
	expires time.Time
}

// New returns a Service.
func New(st store.Store, keys *keyring.Keyring, cfg Config) *Service {
	if cfg.CacheTTL == 0 {
		cfg.CacheTTL = 5 * time.Second
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PasswordCost == 0 {
		cfg.PasswordCost = bcrypt.DefaultCost
	}
	if cfg.PasswordWorkers == 0 {
		cfg.PasswordWorkers = max(runtime.GOMAXPROCS(0)/2, 1)
	}
	if cfg.PasswordQueue == 0 {
		cfg.PasswordQueue = 64
	}
	if cfg.AuthCacheTTL == 0 {
		cfg.AuthCacheTTL = time.Minute
	}
	if cfg.MaxUploadBytes <= 0 {
		cfg.MaxUploadBytes = DefaultMaxUploadBytesCap
	}
	cfg.Defaults = mergeLimits(cfg.Defaults, DefaultLimits())
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{
		store: st, keys: keys, cfg: cfg, log: log, cache: make(map[string]cached),
		hashes: newHashGate(cfg.PasswordWorkers, cfg.PasswordQueue), authSecret: newAuthSecret(),
	}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// Credentials are what the gateway needs to authenticate an app's requests.
type Credentials struct {
	App     store.App
	Limits  store.Limits // effective: the app's own merged over defaults
	Secrets []string     // active secrets in plaintext, newest first
}

// Resolve returns the credentials of the app with this key, from a short
// cache. It returns store.ErrNotFound for an unknown key.
func (s *Service) Resolve(ctx context.Context, appKey string) (*Credentials, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	c, ok := s.cache[appKey]
	s.mu.Unlock()
	if ok && now.Before(c.expires) {
		if c.creds == nil {
			return nil, store.ErrNotFound
		}
		return c.creds, nil
	}
	gen := s.gen.Load()
	app, err := s.store.GetAppByKey(ctx, appKey)
	if errors.Is(err, store.ErrNotFound) {
		// Remember unknown keys too, so that a flood of made-up keys does
		// not reach the store (app keys are random: a new app's key was
		// never looked up before).
		s.remember(appKey, nil, now, gen)
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	creds, err := s.credentials(ctx, app)
	if err != nil {
		return nil, err
	}
	if len(creds.Secrets) == 0 {
		return nil, fmt.Errorf("app %s has no active secret", app.ID)
	}
	s.remember(appKey, creds, now, gen)
	return creds, nil
}

// maxCached bounds the credentials cache; when full it starts over.
const maxCached = 1 << 14

// remember caches creds (nil: no such app) for appKey, unless an
// invalidation happened since generation gen was read: the read may then be
// stale, and serves only the call that made it.
func (s *Service) remember(appKey string, creds *Credentials, now time.Time, gen uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen.Load() != gen {
		return
	}
	if len(s.cache) >= maxCached {
		clear(s.cache)
	}
	s.cache[appKey] = cached{creds: creds, expires: now.Add(s.cfg.CacheTTL)}
}

func (s *Service) credentials(ctx context.Context, app store.App) (*Credentials, error) {
	secrets, err := s.store.ListSecrets(ctx, app.ID)
	if err != nil {
		return nil, fmt.Errorf("list secrets of %s: %w", app.ID, err)
	}
	creds := &Credentials{App: app, Limits: s.EffectiveLimits(app)}
	for i := len(secrets) - 1; i >= 0; i-- {
		if !secrets[i].Active() {
			continue
		}
		plain, err := s.keys.Open(secrets[i].Sealed, []byte(app.ID))
		if err != nil {
			return nil, fmt.Errorf("open secret %s of %s: %w", secrets[i].ID, app.ID, err)
		}
		creds.Secrets = append(creds.Secrets, string(plain))
	}
	return creds, nil
}

// Forget drops the cached credentials of the app with this key, so the
// next Resolve reads the store: another node changed the app.
func (s *Service) Forget(appKey string) { s.invalidate(appKey) }

// ForgetAll drops every cached credential: this node may have missed
// changes made on others (a control-event outage).
func (s *Service) ForgetAll() {
	s.mu.Lock()
	s.gen.Add(1)
	clear(s.cache)
	s.mu.Unlock()
}

func (s *Service) invalidate(appKey string) {
	s.mu.Lock()
	s.gen.Add(1)
	delete(s.cache, appKey)
	s.mu.Unlock()
}

// Seal encrypts data belonging to an app (such as a stored API response)
// with the installation master key, bound to the app and a purpose.
func (s *Service) Seal(appID, purpose string, data []byte) []byte {
	return s.keys.Seal(data, []byte(appID+"\x00"+purpose))
}

// MAC returns the HMAC-SHA256 of data under a key derived from the
// installation master key for the app and a purpose (signed file URLs):
// every process of the installation computes the same, nobody without the
// master key can.
func (s *Service) MAC(appID, purpose string, data []byte) []byte {
	return s.keys.MAC(purpose+"\x00"+appID, data)
}

// Open decrypts what Seal sealed for the same app and purpose.
func (s *Service) Open(appID, purpose string, sealed []byte) ([]byte, error) {
	return s.keys.Open(sealed, []byte(appID+"\x00"+purpose))
}

// EffectiveLimits merges an app's own limits over the defaults; the upload
// limit is capped at the operator's (Config.MaxUploadBytes).
func (s *Service) EffectiveLimits(app store.App) store.Limits {
	l := mergeLimits(app.Limits, s.cfg.Defaults)
	l.MaxUploadBytes = min(l.MaxUploadBytes, s.cfg.MaxUploadBytes)
	return l
}

// MaxUploadBytesCap returns the operator's cap on uploads
// (Config.MaxUploadBytes).
func (s *Service) MaxUploadBytesCap() int64 { return s.cfg.MaxUploadBytes }

func mergeLimits(l, d store.Limits) store.Limits {
	pick := pickPositive[int]
	pickf := pickPositive[float64]
	return store.Limits{
		MaxMessageBytes:   pick(l.MaxMessageBytes, d.MaxMessageBytes),
		APIRate:           pickf(l.APIRate, d.APIRate),
		APIBurst:          pick(l.APIBurst, d.APIBurst),
		ConnRate:          pickf(l.ConnRate, d.ConnRate),
		SendRate:          pickf(l.SendRate, d.SendRate),
		SendBurst:         pick(l.SendBurst, d.SendBurst),
		MaxGroupSize:      pick(l.MaxGroupSize, d.MaxGroupSize),
		MaxDevicesPerUser: pick(l.MaxDevicesPerUser, d.MaxDevicesPerUser),
		MaxUploadBytes:    pickPositive(l.MaxUploadBytes, d.MaxUploadBytes),
	}
}

// pickPositive returns v if it is positive, else def.
func pickPositive[T int | int64 | float64](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

// newID returns prefix followed by n random bytes in hex.
func newID(prefix string, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("tenant: crypto/rand: %v", err))
	}
	return prefix + hex.EncodeToString(b)
}

func invalid(field, msg string) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, field, msg)
}

func validName(field, name string) error {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 128 {
		return invalid(field, "must be 1-128 characters")
	}
	return nil
}
