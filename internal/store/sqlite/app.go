package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

const appColumns = `id, tenant_id, name, key, disabled, limits, settings, created_at, updated_at`

// CreateApp adds an app; store.ErrConflict if the id or key is taken.
func (s *Store) CreateApp(ctx context.Context, a store.App) error {
	limits, settings, err := appJSON(a)
	if err != nil {
		return fmt.Errorf("create app %s: %w", a.ID, err)
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO apps (`+appColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.TenantID, a.Name, a.Key, a.Disabled, limits, settings, ms(a.CreatedAt), ms(a.UpdatedAt))
	if err != nil {
		return fmt.Errorf("create app %s: %w", a.ID, translate(err))
	}
	return nil
}

// GetApp returns an app, or store.ErrNotFound.
func (s *Store) GetApp(ctx context.Context, id string) (store.App, error) {
	row := s.readRow(ctx, `SELECT `+appColumns+` FROM apps WHERE id = ?`, id)
	a, err := scanApp(row)
	if err != nil {
		return store.App{}, fmt.Errorf("get app %s: %w", id, translate(err))
	}
	return a, nil
}

// GetAppByKey returns the app with this public key, or store.ErrNotFound.
func (s *Store) GetAppByKey(ctx context.Context, key string) (store.App, error) {
	row := s.readRow(ctx, `SELECT `+appColumns+` FROM apps WHERE key = ?`, key)
	a, err := scanApp(row)
	if err != nil {
		return store.App{}, fmt.Errorf("get app by key: %w", translate(err))
	}
	return a, nil
}

// ListApps returns up to limit apps of a tenant with id > after, by id.
func (s *Store) ListApps(ctx context.Context, tenantID, after string, limit int) ([]store.App, error) {
	rows, err := s.readRows(ctx,
		`SELECT `+appColumns+` FROM apps WHERE tenant_id = ? AND id > ? ORDER BY id LIMIT ?`,
		tenantID, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list apps of %s: %w", tenantID, translate(err))
	}
	apps, err := collect(rows, scanApp)
	if err != nil {
		return nil, fmt.Errorf("list apps of %s: %w", tenantID, err)
	}
	return apps, nil
}

// UpdateApp replaces the name, disabled flag, limits, settings and updated
// time of an app; store.ErrNotFound if it does not exist.
func (s *Store) UpdateApp(ctx context.Context, a store.App) error {
	limits, settings, err := appJSON(a)
	if err != nil {
		return fmt.Errorf("update app %s: %w", a.ID, err)
	}
	res, err := s.write.ExecContext(ctx,
		`UPDATE apps SET name = ?, disabled = ?, limits = ?, settings = ?, updated_at = ?
		WHERE id = ?`,
		a.Name, a.Disabled, limits, settings, ms(a.UpdatedAt), a.ID)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("update app %s: %w", a.ID, err)
	}
	return nil
}

func appJSON(a store.App) (limits, settings string, err error) {
	if limits, err = toJSON(a.Limits); err != nil {
		return "", "", err
	}
	if settings, err = toJSON(a.Settings); err != nil {
		return "", "", err
	}
	return limits, settings, nil
}

func scanApp(r scanner) (store.App, error) {
	var a store.App
	var limits, settings string
	var created, updated int64
	err := r.Scan(&a.ID, &a.TenantID, &a.Name, &a.Key, &a.Disabled, &limits, &settings, &created, &updated)
	if err != nil {
		return a, err
	}
	if err := fromJSON(limits, &a.Limits); err != nil {
		return a, fmt.Errorf("decode limits: %w", err)
	}
	if err := fromJSON(settings, &a.Settings); err != nil {
		return a, fmt.Errorf("decode settings: %w", err)
	}
	a.CreatedAt, a.UpdatedAt = fromMS(created), fromMS(updated)
	return a, nil
}

// AddSecret adds a secret to an app; store.ErrConflict if the app already
// has a secret with this id, store.ErrNotFound if the app does not exist.
func (s *Store) AddSecret(ctx context.Context, sec store.Secret) error {
	_, err := s.write.ExecContext(ctx,
		`INSERT INTO secrets (app_id, id, sealed, hint, created_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		sec.AppID, sec.ID, sec.Sealed, sec.Hint, ms(sec.CreatedAt), ms(sec.RevokedAt))
	if err != nil {
		return fmt.Errorf("add secret %s to app %s: %w", sec.ID, sec.AppID, translate(err))
	}
	return nil
}

// ListSecrets returns all secrets of an app, revoked ones included, oldest
// first.
func (s *Store) ListSecrets(ctx context.Context, appID string) ([]store.Secret, error) {
	rows, err := s.readRows(ctx,
		`SELECT app_id, id, sealed, hint, created_at, revoked_at FROM secrets
		WHERE app_id = ? ORDER BY created_at, id`, appID)
	if err != nil {
		return nil, fmt.Errorf("list secrets of %s: %w", appID, translate(err))
	}
	secs, err := collect(rows, scanSecret)
	if err != nil {
		return nil, fmt.Errorf("list secrets of %s: %w", appID, err)
	}
	return secs, nil
}

// RevokeSecret marks a secret revoked at the given time; a secret already
// revoked keeps its first revocation time. store.ErrNotFound if the app has
// no such secret.
func (s *Store) RevokeSecret(ctx context.Context, appID, secretID string, at time.Time) error {
	res, err := s.write.ExecContext(ctx,
		`UPDATE secrets SET revoked_at = CASE revoked_at WHEN 0 THEN ? ELSE revoked_at END
		WHERE app_id = ? AND id = ?`, ms(at), appID, secretID)
	if err := mustAffect(res, err); err != nil {
		return fmt.Errorf("revoke secret %s of app %s: %w", secretID, appID, err)
	}
	return nil
}

func scanSecret(r scanner) (store.Secret, error) {
	var sec store.Secret
	var created, revoked int64
	if err := r.Scan(&sec.AppID, &sec.ID, &sec.Sealed, &sec.Hint, &created, &revoked); err != nil {
		return sec, err
	}
	sec.CreatedAt, sec.RevokedAt = fromMS(created), fromMS(revoked)
	return sec, nil
}
