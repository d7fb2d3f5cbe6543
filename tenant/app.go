package tenant

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/store"
)

// CreateTenant adds a tenant.
func (s *Service) CreateTenant(ctx context.Context, name string) (store.Tenant, error) {
	if err := validName("name", name); err != nil {
		return store.Tenant{}, err
	}
	t := store.Tenant{ID: newID("tn_", 8), Name: name, CreatedAt: s.now()}
	if err := s.store.CreateTenant(ctx, t); err != nil {
		return store.Tenant{}, fmt.Errorf("create tenant: %w", err)
	}
	return t, nil
}

// NewSecret is a freshly created secret; Plain is shown once and never again.
type NewSecret struct {
	store.Secret
	Plain string
}

// CreateApp adds an app to a tenant with one active secret.
func (s *Service) CreateApp(ctx context.Context, tenantID, name string) (store.App, NewSecret, error) {
	if err := validName("name", name); err != nil {
		return store.App{}, NewSecret{}, err
	}
	if _, err := s.store.GetTenant(ctx, tenantID); err != nil {
		return store.App{}, NewSecret{}, fmt.Errorf("get tenant %s: %w", tenantID, err)
	}
	now := s.now()
	app := store.App{
		ID:        newID("app_", 8),
		TenantID:  tenantID,
		Name:      name,
		Key:       newID("mk_", 10),
		CreatedAt: now,
		UpdatedAt: now,
	}
	if err := s.store.CreateApp(ctx, app); err != nil {
		return store.App{}, NewSecret{}, fmt.Errorf("create app: %w", err)
	}
	sec, err := s.addSecret(ctx, app.ID)
	if err != nil {
		return store.App{}, NewSecret{}, err
	}
	app.Version = 1
	return app, sec, nil
}

func (s *Service) addSecret(ctx context.Context, appID string) (NewSecret, error) {
	plain := newID("msk_", 16)
	// Secrets are ordered by creation time, newest first for signing: a
	// rotation within the millisecond of the previous one must still sort
	// after it.
	created := s.now()
	existing, err := s.store.ListSecrets(ctx, appID)
	if err != nil {
		return NewSecret{}, fmt.Errorf("add secret to %s: %w", appID, err)
	}
	for _, e := range existing {
		if !e.CreatedAt.Before(created) {
			created = e.CreatedAt.Add(time.Millisecond)
		}
	}
	sec := store.Secret{
		ID:        newID("sec_", 6),
		AppID:     appID,
		Sealed:    s.keys.Seal([]byte(plain), []byte(appID)),
		Hint:      plain[len(plain)-4:],
		CreatedAt: created,
	}
	if err := s.store.AddSecret(ctx, sec, MaxActiveSecrets); err != nil {
		if errors.Is(err, store.ErrLimit) {
			return NewSecret{}, ErrTooManySecrets
		}
		return NewSecret{}, fmt.Errorf("add secret to %s: %w", appID, err)
	}
	return NewSecret{Secret: sec, Plain: plain}, nil
}

// GetApp returns an app.
func (s *Service) GetApp(ctx context.Context, appID string) (store.App, error) {
	return s.store.GetApp(ctx, appID)
}

// ListApps returns a page of a tenant's apps.
func (s *Service) ListApps(ctx context.Context, tenantID, after string, limit int) ([]store.App, error) {
	return s.store.ListApps(ctx, tenantID, after, limit)
}

// AppUpdate changes an app; nil fields are left as they are.
type AppUpdate struct {
	Name     *string
	Disabled *bool
	Limits   *store.Limits
	Settings *store.Settings
}

// UpdateApp applies u to an app and returns the result. It is a
// read-modify-write made safe across processes by the store's conditional
// update: when another update came in between, it reads again and reapplies
// u (at most maxUpdateAttempts times).
func (s *Service) UpdateApp(ctx context.Context, appID string, u AppUpdate) (store.App, error) {
	if err := u.validate(s.cfg.MaxUploadBytes); err != nil {
		return store.App{}, err
	}
	for range maxUpdateAttempts {
		app, err := s.store.GetApp(ctx, appID)
		if err != nil {
			return store.App{}, err
		}
		u.apply(&app)
		app.UpdatedAt = s.now()
		err = s.store.UpdateApp(ctx, app)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return store.App{}, fmt.Errorf("update app %s: %w", appID, err)
		}
		s.invalidate(app.Key)
		app.Version++
		return app, nil
	}
	return store.App{}, fmt.Errorf("update app %s: %w after %d attempts", appID, store.ErrConflict, maxUpdateAttempts)
}

// maxUpdateAttempts bounds UpdateApp's retries under concurrent updates.
const maxUpdateAttempts = 10

func (u AppUpdate) validate(maxUpload int64) error {
	if u.Name != nil {
		if err := validName("name", *u.Name); err != nil {
			return err
		}
	}
	if u.Limits != nil {
		if err := validateLimits(*u.Limits, maxUpload); err != nil {
			return err
		}
	}
	if u.Settings != nil {
		if err := validateSettings(*u.Settings); err != nil {
			return err
		}
	}
	return nil
}

func (u AppUpdate) apply(app *store.App) {
	if u.Name != nil {
		app.Name = *u.Name
	}
	if u.Disabled != nil {
		app.Disabled = *u.Disabled
	}
	if u.Limits != nil {
		app.Limits = *u.Limits
	}
	if u.Settings != nil {
		app.Settings = *u.Settings
	}
}

func validateLimits(l store.Limits, maxUpload int64) error {
	switch {
	case l.MaxUploadBytes < 0 || l.MaxUploadBytes > maxUpload:
		return invalid("limits.max_upload_bytes", fmt.Sprintf("must be 0 (default) to %d, the installation's cap", maxUpload))
	case l.MaxMessageBytes < 0 || l.MaxMessageBytes > 1<<20:
		return invalid("limits.max_message_bytes", "must be 0 (default) to 1048576")
	case l.APIRate < 0 || l.ConnRate < 0 || l.SendRate < 0:
		return invalid("limits", "rates must not be negative")
	case l.APIBurst < 0 || l.SendBurst < 0 || l.MaxGroupSize < 0 || l.MaxDevicesPerUser < 0:
		return invalid("limits", "sizes must not be negative")
	case l.MaxDevicesPerUser > 100:
		return invalid("limits.max_devices_per_user", "must be at most 100")
	}
	return nil
}

func validateSettings(st store.Settings) error {
	if !slices.Contains([]string{"", "kick_oldest", "refuse"}, st.DevicePolicy) {
		return invalid("settings.device_policy", `must be "kick_oldest" or "refuse"`)
	}
	if len(st.AllowedOrigins) > 50 {
		return invalid("settings.allowed_origins", "at most 50 origins")
	}
	for _, o := range st.AllowedOrigins {
		if _, ok := parseOrigin(o); !ok || len(o) > 300 {
			return invalid("settings.allowed_origins",
				fmt.Sprintf("%q is not an origin: use scheme://host[:port] with http or https, optionally *.domain, nothing after the host", o))
		}
	}
	if l := st.MaxTokenLifetimeSeconds; l != 0 && (l < int64(MinTokenLifetime/time.Second) || l > int64(DefaultTokenLifetime/time.Second)) {
		return invalid("settings.max_token_lifetime_seconds", "must be 0 (30 days) or 60 to 2592000")
	}
	if err := validateRichSettings(st); err != nil {
		return err
	}
	if err := validateUploadTypes(st.UploadTypes); err != nil {
		return err
	}
	return validatePush(st.Push)
}

var localeTag = regexp.MustCompile(`^[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8}){0,4}$`)

// validatePush checks an app's push settings: a delay of at most 5
// minutes and at most 100 templates, each with a type ("*" for any) of at
// most 64 bytes, a locale tag or none, a title of at most 100 and a body of
// at most 500 characters.
func validatePush(p store.AppPush) error {
	if p.DelaySeconds < 0 || p.DelaySeconds > 300 {
		return invalid("settings.push.delay_seconds", "must be 0 (10 seconds) to 300")
	}
	if len(p.Templates) > 100 {
		return invalid("settings.push.templates", "at most 100 templates")
	}
	for i, t := range p.Templates {
		f := fmt.Sprintf("settings.push.templates[%d]", i)
		switch {
		case t.Type == "" || len(t.Type) > 64 || !utf8.ValidString(t.Type):
			return invalid(f+".type", `a message type of 1 to 64 bytes, or "*" for any`)
		case t.Locale != "" && !localeTag.MatchString(t.Locale):
			return invalid(f+".locale", `a BCP 47 language tag such as "en" or "zh-Hans-CN", or empty for any`)
		case !utf8.ValidString(t.Title) || utf8.RuneCountInString(t.Title) > 100:
			return invalid(f+".title", "at most 100 characters")
		case !utf8.ValidString(t.Body) || utf8.RuneCountInString(t.Body) > 500:
			return invalid(f+".body", "at most 500 characters")
		}
	}
	return nil
}

// RotateSecret adds a second active secret to an app. Both verify until the
// old one is revoked. It fails with ErrTooManySecrets when two are active;
// the store checks the count atomically with the insert, across processes.
func (s *Service) RotateSecret(ctx context.Context, appID string) (NewSecret, error) {
	app, err := s.store.GetApp(ctx, appID)
	if err != nil {
		return NewSecret{}, err
	}
	sec, err := s.addSecret(ctx, appID)
	if err != nil {
		return NewSecret{}, err
	}
	s.invalidate(app.Key)
	return sec, nil
}

// RevokeSecret revokes one of an app's secrets; it refuses to revoke the last
// active one (ErrLastSecret), checked by the store atomically with the
// revocation. Revoking a revoked secret is not an error.
func (s *Service) RevokeSecret(ctx context.Context, appID, secretID string) error {
	app, err := s.store.GetApp(ctx, appID)
	if err != nil {
		return err
	}
	err = s.store.RevokeSecret(ctx, appID, secretID, s.now())
	switch {
	case errors.Is(err, store.ErrLimit):
		return ErrLastSecret
	case errors.Is(err, store.ErrNotFound):
		return store.ErrNotFound
	case err != nil:
		return fmt.Errorf("revoke secret %s: %w", secretID, err)
	}
	s.invalidate(app.Key)
	return nil
}

// ListSecrets returns an app's secrets (sealed; callers show only hints).
func (s *Service) ListSecrets(ctx context.Context, appID string) ([]store.Secret, error) {
	if _, err := s.store.GetApp(ctx, appID); err != nil {
		return nil, err
	}
	return s.store.ListSecrets(ctx, appID)
}
