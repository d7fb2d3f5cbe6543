package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// CreateApp adds an app; store.ErrConflict if the id or key is taken.
func (s *Store) CreateApp(ctx context.Context, a store.App) error {
	_, err := s.c.apps.InsertOne(ctx, appDoc{
		ID: a.ID, TenantID: a.TenantID, Name: a.Name, Key: a.Key, Disabled: a.Disabled,
		Limits: a.Limits, Settings: a.Settings, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	})
	if err != nil {
		return errorf(err, "create app %s", a.ID)
	}
	return nil
}

// GetApp returns an app, or store.ErrNotFound.
func (s *Store) GetApp(ctx context.Context, id string) (store.App, error) {
	d, err := findOne[appDoc](ctx, s.c.apps, byID(id))
	if err != nil {
		return store.App{}, fmt.Errorf("get app %s: %w", id, err)
	}
	return d.record(), nil
}

// GetAppByKey returns the app with this public key, or store.ErrNotFound.
func (s *Store) GetAppByKey(ctx context.Context, key string) (store.App, error) {
	d, err := findOne[appDoc](ctx, s.c.apps, bson.D{{Key: "key", Value: key}})
	if err != nil {
		return store.App{}, fmt.Errorf("get app by key: %w", err)
	}
	return d.record(), nil
}

// ListApps returns up to limit apps of a tenant with id > after, by id.
func (s *Store) ListApps(ctx context.Context, tenantID, after string, limit int) ([]store.App, error) {
	if limit <= 0 {
		return nil, nil
	}
	ds, err := findAll[appDoc](ctx, s.c.apps, bson.D{
		{Key: "tenant_id", Value: tenantID},
		{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}},
	}, page("_id", limit))
	if err != nil {
		return nil, fmt.Errorf("list apps of %s: %w", tenantID, err)
	}
	return records(ds, appDoc.record), nil
}

// UpdateApp replaces the name, disabled flag, limits, settings and updated
// time of an app; store.ErrNotFound if it does not exist.
func (s *Store) UpdateApp(ctx context.Context, a store.App) error {
	res, err := s.c.apps.UpdateOne(ctx, byID(a.ID), set(
		bson.E{Key: "name", Value: a.Name},
		bson.E{Key: "disabled", Value: a.Disabled},
		bson.E{Key: "limits", Value: a.Limits},
		bson.E{Key: "settings", Value: a.Settings},
		bson.E{Key: "updated_at", Value: a.UpdatedAt},
	))
	if err := matched(res, err); err != nil {
		return fmt.Errorf("update app %s: %w", a.ID, err)
	}
	return nil
}

// AddSecret adds a secret to an app; store.ErrConflict if the app already
// has a secret with this id, store.ErrNotFound if the app does not exist.
func (s *Store) AddSecret(ctx context.Context, sec store.Secret) error {
	if _, err := findOne[appDoc](ctx, s.c.apps, byID(sec.AppID)); err != nil {
		return fmt.Errorf("add secret %s to app %s: %w", sec.ID, sec.AppID, err)
	}
	_, err := s.c.secrets.InsertOne(ctx, secretDoc{
		ID: s.app(sec.AppID).key(sec.ID), Sealed: sec.Sealed, Hint: sec.Hint,
		CreatedAt: sec.CreatedAt, RevokedAt: sec.RevokedAt,
	})
	if err != nil {
		return errorf(err, "add secret %s to app %s", sec.ID, sec.AppID)
	}
	return nil
}

// ListSecrets returns all secrets of an app, revoked ones included, oldest
// first.
func (s *Store) ListSecrets(ctx context.Context, appID string) ([]store.Secret, error) {
	ds, err := findAll[secretDoc](ctx, s.c.secrets, s.app(appID).scope(),
		options.Find().SetSort(bson.D{{Key: "created_at", Value: 1}, {Key: "_id.id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list secrets of %s: %w", appID, err)
	}
	return records(ds, secretDoc.record), nil
}

// RevokeSecret marks a secret revoked at the given time; a secret already
// revoked keeps its first revocation time. store.ErrNotFound if the app has
// no such secret.
func (s *Store) RevokeSecret(ctx context.Context, appID, secretID string, at time.Time) error {
	k := s.app(appID).key(secretID)
	res, err := s.c.secrets.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: k}, {Key: "revoked_at", Value: bson.D{{Key: "$exists", Value: false}}}},
		set(bson.E{Key: "revoked_at", Value: at}))
	if err == nil && res.MatchedCount == 0 {
		_, err = findOne[secretDoc](ctx, s.c.secrets, byID(k))
	}
	if err != nil {
		return errorf(err, "revoke secret %s of app %s", secretID, appID)
	}
	return nil
}
