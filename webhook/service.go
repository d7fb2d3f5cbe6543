package webhook

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/store"
	sdk "github.com/magpie-im/magpie/sdk/go/webhook"
	"github.com/magpie-im/magpie/webhook/keyword"
	"github.com/magpie-im/magpie/webhook/ssrf"
)

// Limits of an app's endpoints.
const (
	// MaxEventEndpoints bounds an app's post-event endpoints.
	MaxEventEndpoints = 20
	// MaxDescription bounds an endpoint's description, in bytes.
	MaxDescription = 512
	// DefaultHookTimeout and MaxHookTimeout bound a synchronous hook's
	// answer (pre-send, routing).
	DefaultHookTimeout = 2 * time.Second
	MaxHookTimeout     = 5 * time.Second
	// DefaultOverlap is how long a rotated-out secret keeps signing.
	DefaultOverlap = 24 * time.Hour
	// MaxOverlap bounds it.
	MaxOverlap = 7 * 24 * time.Hour
)

// Errors of the Service besides *ValidationError; others come from the
// store or the bus.
var (
	// ErrNotFound means the endpoint or event does not exist (in this app).
	ErrNotFound = errors.New("not found")
	// ErrLimit means the app has as many endpoints of the kind as it may.
	ErrLimit = errors.New("too many endpoints")
)

// ValidationError is an input the Service refuses; Field names it as the
// management API does ("url", "events").
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

func invalid(field, format string, args ...any) *ValidationError {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ServiceConfig configures a Service. The zero value is usable.
type ServiceConfig struct {
	// Policy says which endpoint URLs are allowed; the zero value refuses
	// loopback and private addresses (embedded mode allows loopback).
	Policy ssrf.Policy
	// Resolver resolves endpoint hosts when they are checked. Nil means
	// net.DefaultResolver.
	Resolver ssrf.Resolver
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Service manages an app's webhook endpoints, their secrets, the delivery
// log and replays. It is safe for concurrent use.
type Service struct {
	store Store
	keys  Sealer
	pub   Publisher
	cfg   ServiceConfig
}

// NewService returns a Service on st that seals secrets with keys and
// publishes replays and tests on pub.
func NewService(st Store, keys Sealer, pub Publisher, cfg ServiceConfig) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, keys: keys, pub: pub, cfg: cfg}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// Input is an endpoint's settings as an admin gives them; nil fields keep
// their value (on update) or take their default (on create).
type Input struct {
	Kind        string // create only: store.WebhookEvents (default), WebhookPreSend, WebhookRouting
	URL         *string
	Description *string
	Events      *[]string
	Enabled     *bool
	Timeout     *time.Duration
	FailOpen    *bool
	ServerAPI   *bool
}

// apply checks in and writes it into w.
func (s *Service) apply(ctx context.Context, w *store.Webhook, in Input) error {
	if in.URL != nil {
		if err := s.cfg.Policy.CheckURL(ctx, *in.URL, s.cfg.Resolver); err != nil {
			if errors.Is(err, ssrf.ErrInvalidURL) || errors.Is(err, ssrf.ErrForbidden) {
				return invalid("url", "%v", err)
			}
			return invalid("url", "cannot resolve the host: %v", err)
		}
		w.URL = *in.URL
	}
	if in.Description != nil {
		if len(*in.Description) > MaxDescription || !utf8.ValidString(*in.Description) {
			return invalid("description", "must be at most %d bytes of UTF-8", MaxDescription)
		}
		w.Description = *in.Description
	}
	if in.Events != nil {
		if w.Kind != store.WebhookEvents && len(*in.Events) > 0 {
			return invalid("events", "only post-event endpoints subscribe to events")
		}
		evs := slices.Clone(*in.Events)
		slices.Sort(evs)
		evs = slices.Compact(evs)
		for _, e := range evs {
			if !knownEvent(e) {
				return invalid("events", "unknown event type %q; known: %v", e, EventTypes)
			}
		}
		w.Events = evs
	}
	if in.Enabled != nil {
		if *in.Enabled && !w.Enabled {
			w.DisabledReason = ""
		}
		w.Enabled = *in.Enabled
	}
	if in.Timeout != nil {
		if w.Kind == store.WebhookEvents {
			return invalid("timeout_ms", "post-event deliveries have a fixed timeout; only hooks take one")
		}
		if *in.Timeout < 100*time.Millisecond || *in.Timeout > MaxHookTimeout {
			return invalid("timeout_ms", "must be from 100 to %d", MaxHookTimeout.Milliseconds())
		}
		w.Timeout = *in.Timeout
	}
	if in.FailOpen != nil {
		if w.Kind != store.WebhookPreSend && *in.FailOpen {
			return invalid("fail_open", "only the pre-send hook fails open")
		}
		w.FailOpen = *in.FailOpen
	}
	if in.ServerAPI != nil {
		if w.Kind != store.WebhookPreSend && *in.ServerAPI {
			return invalid("server_api", "only the pre-send hook applies to server API sends")
		}
		w.ServerAPI = *in.ServerAPI
	}
	return nil
}

// Create adds an endpoint with a new secret, enabled unless in says
// otherwise, and returns it and the secret (shown this once).
func (s *Service) Create(ctx context.Context, appID string, in Input) (store.Webhook, string, error) {
	kind := in.Kind
	if kind == "" {
		kind = store.WebhookEvents
	}
	limit := 1
	switch kind {
	case store.WebhookEvents:
		limit = MaxEventEndpoints
	case store.WebhookPreSend, store.WebhookRouting:
	default:
		return store.Webhook{}, "", invalid("kind", "must be %q, %q or %q", store.WebhookEvents, store.WebhookPreSend, store.WebhookRouting)
	}
	if in.URL == nil {
		return store.Webhook{}, "", invalid("url", "is required")
	}
	now := s.now()
	w := store.Webhook{ID: "wh_" + rand.Text()[:20], Kind: kind, Enabled: true, CreatedAt: now, UpdatedAt: now}
	if kind != store.WebhookEvents {
		w.Timeout = DefaultHookTimeout
	}
	if err := s.apply(ctx, &w, in); err != nil {
		return store.Webhook{}, "", err
	}
	secret, sec, err := s.newSecret(appID, w.ID, now)
	if err != nil {
		return store.Webhook{}, "", err
	}
	w.Secrets = []store.WebhookSecret{sec}
	switch err := s.store.App(appID).CreateWebhook(ctx, w, limit); {
	case errors.Is(err, store.ErrLimit):
		return store.Webhook{}, "", fmt.Errorf("%w: an app has at most %d %s endpoints", ErrLimit, limit, kind)
	case err != nil:
		return store.Webhook{}, "", fmt.Errorf("create webhook: %w", err)
	}
	w.Version = 1
	return w, secret, nil
}

// newSecret makes a secret for endpoint id and its sealed record.
func (s *Service) newSecret(appID, id string, now time.Time) (string, store.WebhookSecret, error) {
	secret, err := sdk.NewSecret()
	if err != nil {
		return "", store.WebhookSecret{}, fmt.Errorf("new webhook secret: %w", err)
	}
	return secret, store.WebhookSecret{
		ID: "whs_" + rand.Text()[:16], Sealed: s.keys.Seal(appID, secretPurpose(id), []byte(secret)),
		Hint: "…" + secret[len(secret)-4:], CreatedAt: now,
	}, nil
}

// Get returns one endpoint.
func (s *Service) Get(ctx context.Context, appID, id string) (store.Webhook, error) {
	w, err := s.store.App(appID).GetWebhook(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Webhook{}, ErrNotFound
	}
	return w, err
}

// List returns the app's endpoints, by id.
func (s *Service) List(ctx context.Context, appID string) ([]store.Webhook, error) {
	return s.store.App(appID).ListWebhooks(ctx)
}

// Update changes an endpoint's settings.
func (s *Service) Update(ctx context.Context, appID, id string, in Input) (store.Webhook, error) {
	return s.modify(ctx, appID, id, func(w *store.Webhook) error { return s.apply(ctx, w, in) })
}

// modify applies fn to an endpoint and stores it, starting over when
// another writer changed it meanwhile.
func (s *Service) modify(ctx context.Context, appID, id string, fn func(*store.Webhook) error) (store.Webhook, error) {
	a := s.store.App(appID)
	for range 5 {
		w, err := a.GetWebhook(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			return store.Webhook{}, ErrNotFound
		} else if err != nil {
			return store.Webhook{}, err
		}
		wasEnabled := w.Enabled
		if err := fn(&w); err != nil {
			return store.Webhook{}, err
		}
		w.UpdatedAt = s.now()
		err = a.UpdateWebhook(ctx, w)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if errors.Is(err, store.ErrNotFound) {
			return store.Webhook{}, ErrNotFound
		}
		if err != nil {
			return store.Webhook{}, fmt.Errorf("update webhook: %w", err)
		}
		w.Version++
		if w.Enabled && !wasEnabled {
			w.Failures, w.FailingSince = 0, time.Time{}
		}
		return w, nil
	}
	return store.Webhook{}, fmt.Errorf("update webhook %s: %w", id, store.ErrConflict)
}

// Delete removes an endpoint and its delivery log.
func (s *Service) Delete(ctx context.Context, appID, id string) error {
	err := s.store.App(appID).DeleteWebhook(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// RotateSecret gives an endpoint a new secret and returns it (shown this
// once). The current secret keeps signing, beside the new one, for
// overlap (0: it stops at once); any older one is dropped.
func (s *Service) RotateSecret(ctx context.Context, appID, id string, overlap time.Duration) (store.Webhook, string, error) {
	if overlap < 0 || overlap > MaxOverlap {
		return store.Webhook{}, "", invalid("overlap_seconds", "must be from 0 to %d", int(MaxOverlap.Seconds()))
	}
	var secret string
	w, err := s.modify(ctx, appID, id, func(w *store.Webhook) error {
		now := s.now()
		plain, sec, err := s.newSecret(appID, w.ID, now)
		if err != nil {
			return err
		}
		secret = plain
		keep := []store.WebhookSecret{sec}
		if overlap > 0 && len(w.Secrets) > 0 {
			old := w.Secrets[0]
			if old.ExpiresAt.IsZero() || old.ExpiresAt.After(now.Add(overlap)) {
				old.ExpiresAt = now.Add(overlap)
			}
			if old.ExpiresAt.After(now) {
				keep = append(keep, old)
			}
		}
		w.Secrets = keep
		return nil
	})
	return w, secret, err
}

// RevokeSecret ends one of an endpoint's secrets at once: the old secret
// kept signing during a rotation's overlap. The newest secret cannot be
// revoked (an endpoint always signs with one): rotate instead. ErrNotFound
// if the endpoint has no such secret.
func (s *Service) RevokeSecret(ctx context.Context, appID, id, secretID string) (store.Webhook, error) {
	return s.modify(ctx, appID, id, func(w *store.Webhook) error {
		i := slices.IndexFunc(w.Secrets, func(sec store.WebhookSecret) bool { return sec.ID == secretID })
		switch {
		case i < 0:
			return ErrNotFound
		case i == 0:
			return invalid("secret", "the endpoint's current secret cannot be revoked; rotate it with no overlap instead")
		}
		w.Secrets = slices.Delete(w.Secrets, i, i+1)
		return nil
	})
}

// Attempts returns a page of an endpoint's delivery log, newest first.
func (s *Service) Attempts(ctx context.Context, appID string, q store.WebhookAttemptQuery) ([]store.WebhookAttempt, error) {
	if _, err := s.Get(ctx, appID, q.WebhookID); err != nil {
		return nil, err
	}
	return s.store.App(appID).ListWebhookAttempts(ctx, q)
}

// Replay delivers an event to an endpoint again, with the same webhook-id,
// as a new delivery (its attempts start over).
func (s *Service) Replay(ctx context.Context, appID, id, eventID string) error {
	w, err := s.Get(ctx, appID, id)
	if err != nil {
		return err
	}
	if w.Kind != store.WebhookEvents {
		return invalid("webhook", "only post-event endpoints have deliveries to replay")
	}
	if _, err := s.store.App(appID).GetWebhookEvent(ctx, eventID); errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	} else if err != nil {
		return err
	}
	return (&Worker{pub: s.pub}).publishDelivery(ctx, appID, eventID, id, "replay."+rand.Text())
}

// SendTest delivers a webhook.test event to an endpoint and returns the
// event's id; its attempts show in the log like any delivery.
func (s *Service) SendTest(ctx context.Context, appID, id string) (string, error) {
	w, err := s.Get(ctx, appID, id)
	if err != nil {
		return "", err
	}
	if w.Kind != store.WebhookEvents {
		return "", invalid("webhook", "only post-event endpoints take test events")
	}
	now := s.now()
	ev := NewEvent(appID, EventTest, id+"@"+rand.Text(), now, TestData{WebhookID: id, Message: "a test event from Magpie"})
	p, err := ev.Payload(appID)
	if err != nil {
		return "", err
	}
	if err := s.store.App(appID).PutWebhookEvent(ctx, store.WebhookEvent{ID: ev.ID, Type: ev.Type, Payload: p, CreatedAt: now}); err != nil {
		return "", fmt.Errorf("store test event: %w", err)
	}
	if err := (&Worker{pub: s.pub}).publishDelivery(ctx, appID, ev.ID, id, "test."+ev.ID); err != nil {
		return "", err
	}
	return ev.ID, nil
}

// Event returns an event as delivered (its exact body).
func (s *Service) Event(ctx context.Context, appID, eventID string) (store.WebhookEvent, error) {
	e, err := s.store.App(appID).GetWebhookEvent(ctx, eventID)
	if errors.Is(err, store.ErrNotFound) {
		return store.WebhookEvent{}, ErrNotFound
	}
	return e, err
}

// Keywords returns the app's keyword rules.
func (s *Service) Keywords(ctx context.Context, appID string) (store.KeywordRules, error) {
	return s.store.App(appID).GetKeywordRules(ctx)
}

// SetKeywords replaces the app's keyword rules, after checking that they
// compile (see package keyword). A *keyword.RuleError says which rule is
// wrong, wrapped in a *ValidationError on field "rules".
func (s *Service) SetKeywords(ctx context.Context, appID string, rules []store.KeywordRule) (store.KeywordRules, error) {
	ks := make([]keyword.Rule, len(rules))
	for i, r := range rules {
		ks[i] = keyword.Rule{Word: r.Word, Action: keyword.Action(r.Action)}
	}
	if _, err := keyword.Compile(ks); err != nil {
		return store.KeywordRules{}, invalid("rules", "%v", err)
	}
	a := s.store.App(appID)
	for range 5 {
		cur, err := a.GetKeywordRules(ctx)
		if err != nil {
			return store.KeywordRules{}, err
		}
		next := store.KeywordRules{Rules: rules, UpdatedAt: s.now(), Version: cur.Version}
		err = a.PutKeywordRules(ctx, next)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return store.KeywordRules{}, fmt.Errorf("put keyword rules: %w", err)
		}
		next.Version++
		return next, nil
	}
	return store.KeywordRules{}, fmt.Errorf("put keyword rules: %w", store.ErrConflict)
}
