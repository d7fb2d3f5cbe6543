package push

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/push/apns"
	"github.com/magpie-im/magpie/push/fcm"
	"github.com/magpie-im/magpie/push/provider"
)

// Sealer seals and opens an app's secrets with the installation master key
// (tenant.Service provides it).
type Sealer interface {
	Seal(appID, purpose string, data []byte) []byte
	Open(appID, purpose string, sealed []byte) ([]byte, error)
}

// Endpoints points the providers somewhere else than Apple and Google: at
// local mock servers in tests and probes. The zero value is production.
type Endpoints struct {
	// APNsHost replaces APNs's host (both environments), such as
	// "https://127.0.0.1:8443". Empty means Apple's.
	APNsHost string
	// FCMEndpoint replaces FCM's base URL ("https://fcm.googleapis.com").
	// Empty means Google's.
	FCMEndpoint string
	// RootCAs, if set, are the only certificate authorities trusted for
	// the providers and FCM's token endpoint.
	RootCAs *x509.CertPool
}

// ServiceConfig configures a Service. The zero value is usable.
type ServiceConfig struct {
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
	// Endpoints override the providers' endpoints; zero means production.
	Endpoints Endpoints
	// SendTimeout bounds one request to a provider. Zero means 15 seconds.
	SendTimeout time.Duration
}

// Service is the push domain: device registrations, user preferences and
// conversation mutes, an app's provider credentials (sealed at rest) and
// the senders built from them, and the push log and outbox. It is safe for
// concurrent use.
type Service struct {
	store Store
	keys  Sealer
	cfg   ServiceConfig
	log   *slog.Logger

	mu      sync.Mutex // guards senders
	senders map[senderKey]provider.Sender
}

// senderKey names a sender: the app, the provider and the credential's
// version (its update time), so that a new credential builds a new sender.
type senderKey struct {
	app, provider string
	updated       int64
}

// maxSenders bounds the cached senders; when full the cache starts over.
const maxSenders = 1024

// NewService returns a Service on st, sealing credentials with keys.
func NewService(st Store, keys Sealer, cfg ServiceConfig) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 15 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, keys: keys, cfg: cfg, log: log, senders: make(map[senderKey]provider.Sender)}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// purpose binds a sealed credential to its provider.
func purpose(p string) string { return "push-credential:" + p }

// APNsCredential is an app's APNs token-auth credential as an admin
// uploads it.
type APNsCredential struct {
	Key    []byte // the .p8 file
	KeyID  string
	TeamID string
	Topic  string // the app's bundle id
}

// SetAPNs checks and stores an app's APNs credential, replacing any
// earlier one. Errors wrapping provider.ErrCredential say what is wrong.
func (s *Service) SetAPNs(ctx context.Context, appID string, c APNsCredential) (store.PushCredential, error) {
	cred, err := apns.ParseCredential(c.Key, c.KeyID, c.TeamID, c.Topic)
	if err != nil {
		return store.PushCredential{}, err
	}
	plain, err := json.Marshal(sealedAPNs{Key: cred.Key, KeyID: cred.KeyID, TeamID: cred.TeamID, Topic: cred.Topic})
	if err != nil {
		return store.PushCredential{}, fmt.Errorf("encode apns credential: %w", err)
	}
	return s.put(ctx, appID, ProviderAPNs, plain, map[string]string{"key_id": cred.KeyID, "team_id": cred.TeamID, "topic": cred.Topic})
}

// SetFCM checks and stores an app's FCM service-account key, replacing any
// earlier one. Errors wrapping provider.ErrCredential say what is wrong.
func (s *Service) SetFCM(ctx context.Context, appID string, serviceAccount []byte) (store.PushCredential, error) {
	cred, err := fcm.ParseCredential(serviceAccount)
	if err != nil {
		return store.PushCredential{}, err
	}
	return s.put(ctx, appID, ProviderFCM, cred.JSON, map[string]string{"project_id": cred.ProjectID, "client_email": cred.ClientEmail})
}

// sealedAPNs is the sealed form of an APNs credential.
type sealedAPNs struct {
	Key    []byte `json:"key"`
	KeyID  string `json:"key_id"`
	TeamID string `json:"team_id"`
	Topic  string `json:"topic"`
}

func (s *Service) put(ctx context.Context, appID, prov string, plain []byte, info map[string]string) (store.PushCredential, error) {
	now := s.now()
	c := store.PushCredential{Provider: prov, Sealed: s.keys.Seal(appID, purpose(prov), plain), Info: info, CreatedAt: now, UpdatedAt: now}
	if err := s.store.App(appID).PutPushCredential(ctx, c); err != nil {
		return store.PushCredential{}, fmt.Errorf("store %s credential: %w", prov, err)
	}
	return s.credential(ctx, appID, prov)
}

// Credentials returns an app's credentials, by provider. Callers show
// their Info, never their Sealed part.
func (s *Service) Credentials(ctx context.Context, appID string) ([]store.PushCredential, error) {
	return s.store.App(appID).ListPushCredentials(ctx)
}

// credential returns the app's credential for prov, or ErrNotFound.
func (s *Service) credential(ctx context.Context, appID, prov string) (store.PushCredential, error) {
	cs, err := s.store.App(appID).ListPushCredentials(ctx)
	if err != nil {
		return store.PushCredential{}, err
	}
	for _, c := range cs {
		if c.Provider == prov {
			return c, nil
		}
	}
	return store.PushCredential{}, fmt.Errorf("%s credential: %w", prov, ErrNotFound)
}

// DeleteCredential removes an app's credential for a provider.
func (s *Service) DeleteCredential(ctx context.Context, appID, prov string) error {
	err := s.store.App(appID).DeletePushCredential(ctx, prov)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%s credential: %w", prov, ErrNotFound)
	}
	return err
}

// CheckCredential validates an app's stored credential for a provider as
// far as possible without sending a push: the APNs key signs a token; the
// FCM service account obtains an access token from Google. Errors
// wrapping provider.ErrCredential mean the credential is refused.
func (s *Service) CheckCredential(ctx context.Context, appID, prov string) error {
	c, err := s.credential(ctx, appID, prov)
	if err != nil {
		return err
	}
	plain, err := s.keys.Open(appID, purpose(prov), c.Sealed)
	if err != nil {
		return fmt.Errorf("open %s credential: %w", prov, err)
	}
	switch prov {
	case ProviderAPNs:
		a, err := decodeAPNs(plain)
		if err != nil {
			return err
		}
		return apns.Check(a)
	case ProviderFCM:
		f, err := fcm.ParseCredential(plain)
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
		defer cancel()
		return fcm.Check(ctx, f, s.fcmOptions())
	}
	return fmt.Errorf("%s credential: %w", prov, ErrNotFound)
}

func decodeAPNs(plain []byte) (apns.Credential, error) {
	var a sealedAPNs
	if err := json.Unmarshal(plain, &a); err != nil {
		return apns.Credential{}, fmt.Errorf("decode apns credential: %w", err)
	}
	return apns.ParseCredential(a.Key, a.KeyID, a.TeamID, a.Topic)
}

func (s *Service) fcmOptions() fcm.Options {
	return fcm.Options{Endpoint: s.cfg.Endpoints.FCMEndpoint, RootCAs: s.cfg.Endpoints.RootCAs, Timeout: s.cfg.SendTimeout}
}

// Sender returns the sender of an app's credential for a provider, built
// once per credential version and cached. ErrNotFound if the app has no
// credential for it.
func (s *Service) Sender(ctx context.Context, appID, prov string) (provider.Sender, error) {
	c, err := s.credential(ctx, appID, prov)
	if err != nil {
		return nil, err
	}
	k := senderKey{appID, prov, c.UpdatedAt.UnixMilli()}
	s.mu.Lock()
	snd, ok := s.senders[k]
	s.mu.Unlock()
	if ok {
		return snd, nil
	}
	plain, err := s.keys.Open(appID, purpose(prov), c.Sealed)
	if err != nil {
		return nil, fmt.Errorf("open %s credential: %w", prov, err)
	}
	switch prov {
	case ProviderAPNs:
		a, err := decodeAPNs(plain)
		if err != nil {
			return nil, err
		}
		snd, err = apns.New(a, apns.Options{Host: s.cfg.Endpoints.APNsHost, RootCAs: s.cfg.Endpoints.RootCAs, Timeout: s.cfg.SendTimeout})
		if err != nil {
			return nil, err
		}
	case ProviderFCM:
		f, err := fcm.ParseCredential(plain)
		if err != nil {
			return nil, err
		}
		snd, err = fcm.New(context.WithoutCancel(ctx), f, s.fcmOptions())
		if err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%s credential: %w", prov, ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for old, o := range s.senders {
		// An older credential's sender, or the whole cache when full:
		// close their idle connections.
		if len(s.senders) >= maxSenders || (old.app == k.app && old.provider == k.provider) {
			closeSender(o)
			delete(s.senders, old)
		}
	}
	s.senders[k] = snd
	return snd, nil
}

// closeSender releases a sender's connections, if it holds any.
func closeSender(snd provider.Sender) {
	if c, ok := snd.(interface{ Close() }); ok {
		c.Close()
	}
}

// Log returns push log entries of an app that match q: of a user, of a
// conversation or of one of its messages. q names a user or a
// conversation (or both), and a seq only with a conversation; errors are
// *ValidationError naming "user_id", "conv_id" or "seq".
func (s *Service) Log(ctx context.Context, appID string, q store.PushLogQuery) ([]store.PushLogEntry, error) {
	switch {
	case q.UserID == "" && q.ConvID == "":
		return nil, invalid("user_id", "user_id or conv_id is required")
	case q.Seq < 0:
		return nil, invalid("seq", "must be a positive integer")
	case q.Seq > 0 && q.ConvID == "":
		return nil, invalid("seq", "seq selects a message of conv_id, which is required with it")
	}
	return s.store.App(appID).ListPushLog(ctx, q)
}

// Outbox returns up to limit outbox entries with id > after, of one user
// or (userID empty) of all.
func (s *Service) Outbox(ctx context.Context, appID, userID, after string, limit int) ([]store.OutboxEntry, error) {
	return s.store.App(appID).ListOutbox(ctx, userID, after, limit)
}
