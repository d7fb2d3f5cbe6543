package mongo

import (
	"context"
	"errors"
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
		Version: 1,
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
// time of an app if its version is still a.Version, and increments it: one
// conditional single-document update. See store.Store.
func (s *Store) UpdateApp(ctx context.Context, a store.App) error {
	res, err := s.c.apps.UpdateOne(ctx, bson.D{{Key: "_id", Value: a.ID}, {Key: "version", Value: a.Version}}, bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "name", Value: a.Name},
			{Key: "disabled", Value: a.Disabled},
			{Key: "limits", Value: a.Limits},
			{Key: "settings", Value: a.Settings},
			{Key: "updated_at", Value: a.UpdatedAt},
		}},
		{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}},
	})
	if err == nil && res.MatchedCount == 0 {
		err = store.ErrConflict
		if _, ferr := findOne[appDoc](ctx, s.c.apps, byID(a.ID)); errors.Is(ferr, store.ErrNotFound) {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		return errorf(err, "update app %s", a.ID)
	}
	return nil
}

// AddSecret adds a secret to an app unless it has maxActive active ones.
// Without transactions the limit is a counter on the app document: a
// conditional increment takes a slot, then the secret is inserted, and the
// slot is given back if the insert fails. A crash between the two leaves
// the counter one too high, which refuses a rotation rather than allowing
// a third secret. store.ErrConflict if the app has a secret with this id,
// store.ErrNotFound if the app does not exist.
func (s *Store) AddSecret(ctx context.Context, sec store.Secret, maxActive int) error {
	if err := s.takeSecretSlot(ctx, sec, maxActive); err != nil {
		return fmt.Errorf("add secret %s to app %s: %w", sec.ID, sec.AppID, err)
	}
	_, err := s.c.secrets.InsertOne(ctx, secretDoc{
		ID: s.app(sec.AppID).key(sec.ID), Sealed: sec.Sealed, Hint: sec.Hint,
		CreatedAt: sec.CreatedAt, RevokedAt: sec.RevokedAt,
	})
	if err != nil {
		if sec.Active() {
			s.moveSecretCount(ctx, sec.AppID, -1)
		}
		return errorf(err, "add secret %s to app %s", sec.ID, sec.AppID)
	}
	return nil
}

// takeSecretSlot counts an active secret about to be added, unless the app
// is at maxActive (store.ErrLimit) or does not exist (store.ErrNotFound).
func (s *Store) takeSecretSlot(ctx context.Context, sec store.Secret, maxActive int) error {
	filter := bson.D{{Key: "_id", Value: sec.AppID}}
	if !sec.Active() {
		_, err := findOne[appDoc](ctx, s.c.apps, filter)
		return err
	}
	if maxActive > 0 {
		filter = append(filter, bson.E{Key: "active_secrets", Value: bson.D{{Key: "$lt", Value: maxActive}}})
	}
	res, err := s.c.apps.UpdateOne(ctx, filter, bson.D{{Key: "$inc", Value: bson.D{{Key: "active_secrets", Value: 1}}}})
	if err != nil {
		return translate(err)
	}
	if res.MatchedCount == 0 {
		if _, err := findOne[appDoc](ctx, s.c.apps, byID(sec.AppID)); err != nil {
			return err
		}
		return store.ErrLimit
	}
	return nil
}

// moveSecretCount gives back a slot taken (or a release made) for a write
// that did not happen; a failure is left for the counter to be one off.
func (s *Store) moveSecretCount(ctx context.Context, appID string, by int) {
	_, _ = s.c.apps.UpdateOne(context.WithoutCancel(ctx), byID(appID),
		bson.D{{Key: "$inc", Value: bson.D{{Key: "active_secrets", Value: by}}}})
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

// RevokeSecret marks a secret revoked at the given time, unless it is the
// app's last active secret (store.ErrLimit): a conditional decrement of the
// app's count of active secrets, then the secret's update (given back if
// another call revoked it first). A secret already revoked keeps its first
// revocation time. store.ErrNotFound if the app has no such secret.
func (s *Store) RevokeSecret(ctx context.Context, appID, secretID string, at time.Time) error {
	k := s.app(appID).key(secretID)
	d, err := findOne[secretDoc](ctx, s.c.secrets, byID(k))
	if err != nil {
		return errorf(err, "revoke secret %s of app %s", secretID, appID)
	}
	if !d.RevokedAt.IsZero() {
		return nil
	}
	res, err := s.c.apps.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: appID}, {Key: "active_secrets", Value: bson.D{{Key: "$gt", Value: 1}}}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "active_secrets", Value: -1}}}})
	if err == nil && res.MatchedCount == 0 {
		err = store.ErrLimit
	}
	if err != nil {
		return errorf(err, "revoke secret %s of app %s", secretID, appID)
	}
	res, err = s.c.secrets.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: k}, {Key: "revoked_at", Value: bson.D{{Key: "$exists", Value: false}}}},
		set(bson.E{Key: "revoked_at", Value: at}))
	if err != nil || res.MatchedCount == 0 {
		s.moveSecretCount(ctx, appID, 1) // not revoked by this call
	}
	if err != nil {
		return errorf(err, "revoke secret %s of app %s", secretID, appID)
	}
	return nil
}
