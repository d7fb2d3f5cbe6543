package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

const appColumns = `id, tenant_id, name, key, disabled, limits, settings, created_at, updated_at, version`

// CreateApp adds an app; store.ErrConflict if the id or key is taken.
func (s *Store) CreateApp(ctx context.Context, a store.App) error {
	limits, settings, err := appJSON(a)
	if err != nil {
		return fmt.Errorf("create app %s: %w", a.ID, err)
	}
	_, err = s.write.ExecContext(ctx,
		`INSERT INTO apps (`+appColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
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
// time of an app if its version is still a.Version; see store.Store.
func (s *Store) UpdateApp(ctx context.Context, a store.App) error {
	limits, settings, err := appJSON(a)
	if err != nil {
		return fmt.Errorf("update app %s: %w", a.ID, err)
	}
	res, err := s.write.ExecContext(ctx,
		`UPDATE apps SET name = ?, disabled = ?, limits = ?, settings = ?, updated_at = ?, version = version + 1
		WHERE id = ? AND version = ?`,
		a.Name, a.Disabled, limits, settings, ms(a.UpdatedAt), a.ID, a.Version)
	n, err := affected(res, err)
	if err == nil && n == 0 {
		err = store.ErrConflict
		if _, gerr := s.GetApp(ctx, a.ID); errors.Is(gerr, store.ErrNotFound) {
			err = store.ErrNotFound
		}
	}
	if err != nil {
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
	err := r.Scan(&a.ID, &a.TenantID, &a.Name, &a.Key, &a.Disabled, &limits, &settings, &created, &updated, &a.Version)
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

// AddSecret adds a secret to an app unless it has maxActive active ones,
// in one transaction; see store.Store.
func (s *Store) AddSecret(ctx context.Context, sec store.Secret, maxActive int) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if maxActive > 0 {
			var n int
			err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM secrets WHERE app_id = ? AND revoked_at = 0`, sec.AppID).Scan(&n)
			if err != nil {
				return translate(err)
			}
			if n >= maxActive {
				return store.ErrLimit
			}
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO secrets (app_id, id, sealed, hint, created_at, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?)`,
			sec.AppID, sec.ID, sec.Sealed, sec.Hint, ms(sec.CreatedAt), ms(sec.RevokedAt))
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("add secret %s to app %s: %w", sec.ID, sec.AppID, err)
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

// RevokeSecret marks a secret revoked at the given time, in one
// transaction with the check that it is not the app's last active secret;
// see store.Store.
func (s *Store) RevokeSecret(ctx context.Context, appID, secretID string, at time.Time) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var revoked int64
		err := tx.QueryRowContext(ctx, `SELECT revoked_at FROM secrets WHERE app_id = ? AND id = ?`, appID, secretID).Scan(&revoked)
		if err != nil {
			return translate(err)
		}
		if revoked != 0 {
			return nil
		}
		var active int
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM secrets WHERE app_id = ? AND revoked_at = 0`, appID).Scan(&active)
		if err != nil {
			return translate(err)
		}
		if active <= 1 {
			return store.ErrLimit
		}
		_, err = tx.ExecContext(ctx, `UPDATE secrets SET revoked_at = ? WHERE app_id = ? AND id = ?`, ms(at), appID, secretID)
		return translate(err)
	})
	if err != nil {
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
