package mongo

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// GetMeta returns the value stored under key, or store.ErrNotFound.
func (s *Store) GetMeta(ctx context.Context, key string) (string, error) {
	d, err := findOne[metaDoc](ctx, s.c.meta, byID(key))
	if err != nil {
		return "", fmt.Errorf("get meta %s: %w", key, err)
	}
	return d.Value, nil
}

// PutMeta stores value under key, replacing any earlier value.
func (s *Store) PutMeta(ctx context.Context, key, value string) error {
	_, err := s.c.meta.UpdateOne(ctx, byID(key), set(bson.E{Key: "value", Value: value}),
		options.UpdateOne().SetUpsert(true))
	if err != nil {
		return errorf(err, "put meta %s", key)
	}
	return nil
}

// CreateTenant adds a tenant; store.ErrConflict if the id is taken.
func (s *Store) CreateTenant(ctx context.Context, t store.Tenant) error {
	_, err := s.c.tenants.InsertOne(ctx, tenantDoc{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt})
	if err != nil {
		return errorf(err, "create tenant %s", t.ID)
	}
	return nil
}

// GetTenant returns a tenant, or store.ErrNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (store.Tenant, error) {
	d, err := findOne[tenantDoc](ctx, s.c.tenants, byID(id))
	if err != nil {
		return store.Tenant{}, fmt.Errorf("get tenant %s: %w", id, err)
	}
	return d.record(), nil
}

// ListTenants returns up to limit tenants with id > after, by id.
func (s *Store) ListTenants(ctx context.Context, after string, limit int) ([]store.Tenant, error) {
	if limit <= 0 {
		return nil, nil
	}
	ds, err := findAll[tenantDoc](ctx, s.c.tenants,
		bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}}}, page("_id", limit))
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return records(ds, tenantDoc.record), nil
}

// CreateMember adds a console member; store.ErrConflict if the id is taken
// or the member's tenant already has a member with this email (compared
// case-insensitively).
func (s *Store) CreateMember(ctx context.Context, m store.Member) error {
	_, err := s.c.members.InsertOne(ctx, memberDoc{
		ID: m.ID, TenantID: m.TenantID, Email: m.Email, EmailKey: strings.ToLower(m.Email),
		Name: m.Name, Role: string(m.Role), PasswordHash: m.PasswordHash, CreatedAt: m.CreatedAt,
		Version: 1,
	})
	if err == nil && m.Role == store.RoleOwner {
		err = s.countOwner(ctx, m.TenantID, 1)
	}
	if err != nil {
		return errorf(err, "create member %s", m.ID)
	}
	return nil
}

// countOwner moves a tenant's count of owners by delta, in the
// tenant_owners collection ({_id: tenant id, owners: n}, created on first
// use; kept apart from the tenant's document, which a member of an unknown
// tenant must not create), so that keeping one owner is a conditional
// update of one document: no transactions.
func (s *Store) countOwner(ctx context.Context, tenantID string, delta int) error {
	_, err := s.c.owners.UpdateOne(context.WithoutCancel(ctx), byID(tenantID),
		bson.D{{Key: "$inc", Value: bson.D{{Key: "owners", Value: delta}}}}, options.UpdateOne().SetUpsert(true))
	return translate(err)
}

// takeOwner removes one owner from a tenant's count unless it is the last
// (store.ErrLimit): the atomic part of demoting or deleting an owner. The
// caller gives it back (countOwner +1) if its own write then fails; a
// crash in between leaves the count one low, which refuses a later
// demotion rather than allowing a tenant without owners.
func (s *Store) takeOwner(ctx context.Context, tenantID string) error {
	res, err := s.c.owners.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: tenantID}, {Key: "owners", Value: bson.D{{Key: "$gt", Value: 1}}}},
		bson.D{{Key: "$inc", Value: bson.D{{Key: "owners", Value: -1}}}})
	if err != nil {
		return translate(err)
	}
	if res.MatchedCount == 0 {
		return store.ErrLimit
	}
	return nil
}

// GetMember returns a member, or store.ErrNotFound.
func (s *Store) GetMember(ctx context.Context, id string) (store.Member, error) {
	d, err := findOne[memberDoc](ctx, s.c.members, byID(id))
	if err != nil {
		return store.Member{}, fmt.Errorf("get member %s: %w", id, err)
	}
	return d.record(), nil
}

// ListMembersByEmail returns up to limit members with this email, in every
// tenant, by id.
func (s *Store) ListMembersByEmail(ctx context.Context, email string, limit int) ([]store.Member, error) {
	if limit <= 0 {
		return nil, nil
	}
	ds, err := findAll[memberDoc](ctx, s.c.members,
		bson.D{{Key: "email_key", Value: strings.ToLower(email)}}, page("_id", limit))
	if err != nil {
		return nil, fmt.Errorf("list members by email: %w", err)
	}
	return records(ds, memberDoc.record), nil
}

// ListMembers returns the members of a tenant, by id.
func (s *Store) ListMembers(ctx context.Context, tenantID string) ([]store.Member, error) {
	ds, err := findAll[memberDoc](ctx, s.c.members, bson.D{{Key: "tenant_id", Value: tenantID}},
		options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", tenantID, err)
	}
	return records(ds, memberDoc.record), nil
}

// UpdateMember replaces a member's name, role and password hash if its
// version is still m.Version (one conditional update), keeping the tenant's
// last owner through its owner count; see store.Store.
func (s *Store) UpdateMember(ctx context.Context, m store.Member) error {
	cur, err := findOne[memberDoc](ctx, s.c.members, byID(m.ID))
	if err != nil {
		return fmt.Errorf("update member %s: %w", m.ID, err)
	}
	if cur.Version != m.Version {
		return fmt.Errorf("update member %s: %w", m.ID, store.ErrConflict)
	}
	demote := cur.Role == string(store.RoleOwner) && m.Role != store.RoleOwner
	promote := cur.Role != string(store.RoleOwner) && m.Role == store.RoleOwner
	if demote {
		if err := s.takeOwner(ctx, cur.TenantID); err != nil {
			return fmt.Errorf("update member %s: %w", m.ID, err)
		}
	}
	res, err := s.c.members.UpdateOne(ctx, bson.D{{Key: "_id", Value: m.ID}, {Key: "version", Value: m.Version}}, bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "name", Value: m.Name},
			{Key: "role", Value: string(m.Role)},
			{Key: "password_hash", Value: m.PasswordHash},
		}},
		{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}},
	})
	if err == nil && res.MatchedCount == 0 {
		err = store.ErrConflict
	}
	switch {
	case err != nil && demote:
		_ = s.countOwner(ctx, cur.TenantID, 1) // not demoted after all
	case err == nil && promote:
		err = s.countOwner(ctx, cur.TenantID, 1)
	}
	if err != nil {
		return errorf(err, "update member %s", m.ID)
	}
	return nil
}

// matched returns the translated err, or store.ErrNotFound when the update
// matched no document.
func matched(res *mongo.UpdateResult, err error) error {
	if err != nil {
		return translate(err)
	}
	if res.MatchedCount == 0 {
		return store.ErrNotFound
	}
	return nil
}

// DeleteMember removes a member and its sessions, unless it is its
// tenant's last owner (store.ErrLimit, through the tenant's owner count),
// or returns store.ErrNotFound. The sessions go first, so that a retry after a failure
// finds the member and finishes; they are swept again after the member has
// gone, for a session created in between.
func (s *Store) DeleteMember(ctx context.Context, id string) error {
	cur, err := findOne[memberDoc](ctx, s.c.members, byID(id))
	if err != nil {
		return fmt.Errorf("delete member %s: %w", id, err)
	}
	owner := cur.Role == string(store.RoleOwner)
	if owner {
		if err := s.takeOwner(ctx, cur.TenantID); err != nil {
			return fmt.Errorf("delete member %s: %w", id, err)
		}
	}
	if _, err := s.DeleteMemberSessions(ctx, id, ""); err != nil {
		if owner {
			_ = s.countOwner(ctx, cur.TenantID, 1)
		}
		return fmt.Errorf("delete member %s: %w", id, err)
	}
	res, err := s.c.members.DeleteOne(ctx, byID(id))
	if err == nil && res.DeletedCount == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		if owner {
			_ = s.countOwner(ctx, cur.TenantID, 1) // not deleted by this call
		}
		return errorf(err, "delete member %s", id)
	}
	if _, err := s.DeleteMemberSessions(ctx, id, ""); err != nil {
		return fmt.Errorf("delete member %s: %w", id, err)
	}
	return nil
}

// DeleteMemberSessions removes a member's sessions, except the one whose
// token hash is exceptTokenHash, and returns how many it removed.
func (s *Store) DeleteMemberSessions(ctx context.Context, memberID, exceptTokenHash string) (int64, error) {
	filter := bson.D{{Key: "member_id", Value: memberID}}
	if exceptTokenHash != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$ne", Value: exceptTokenHash}}})
	}
	res, err := s.c.sessions.DeleteMany(ctx, filter)
	if err != nil {
		return 0, errorf(err, "delete sessions of %s", memberID)
	}
	return res.DeletedCount, nil
}

// CreateSession stores a console session; store.ErrNotFound if its member
// does not exist, store.ErrConflict if the token hash is taken.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	if _, err := findOne[memberDoc](ctx, s.c.members, byID(se.MemberID)); err != nil {
		return fmt.Errorf("create session: member %s: %w", se.MemberID, err)
	}
	_, err := s.c.sessions.InsertOne(ctx, sessionDoc{TokenHash: se.TokenHash, MemberID: se.MemberID,
		CreatedAt: se.CreatedAt, ExpiresAt: se.ExpiresAt})
	if err != nil {
		return errorf(err, "create session")
	}
	return nil
}

// GetSession returns the session with this token hash, or store.ErrNotFound
// when it does not exist or has expired at now (ExpiresAt <= now).
func (s *Store) GetSession(ctx context.Context, tokenHash string, now time.Time) (store.Session, error) {
	d, err := findOne[sessionDoc](ctx, s.c.sessions, bson.D{
		{Key: "_id", Value: tokenHash},
		{Key: "expires_at", Value: bson.D{{Key: "$gt", Value: now}}},
	})
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", err)
	}
	return d.record(), nil
}

// DeleteSession removes a session; deleting a missing session is not an
// error.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	if _, err := s.c.sessions.DeleteOne(ctx, byID(tokenHash)); err != nil {
		return errorf(err, "delete session")
	}
	return nil
}

// UseNonces records nonces in one unordered bulk insert; see store.Store. A
// nonce repeated within the batch is a replay of its first occurrence.
func (s *Store) UseNonces(ctx context.Context, ns []store.Nonce) ([]bool, error) {
	if len(ns) == 0 {
		return nil, nil
	}
	fresh := make([]bool, len(ns))
	seen := make(map[appKey]bool, len(ns))
	docs := make([]any, 0, len(ns))
	at := make([]int, 0, len(ns)) // input index of each document
	for i, n := range ns {
		k := s.app(n.AppID).key(n.Value)
		if seen[k] {
			continue
		}
		seen[k] = true
		docs = append(docs, nonceDoc{ID: k, ExpiresAt: n.ExpiresAt})
		at = append(at, i)
		fresh[i] = true
	}
	_, err := s.c.nonces.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return fresh, nil
	}
	wes, err := writeErrors(err)
	if err != nil {
		return nil, errorf(err, "use nonces")
	}
	for _, we := range wes {
		if !isDuplicate(we.WriteError) {
			return nil, errorf(we.WriteError, "use nonces")
		}
		fresh[at[we.Index]] = false
	}
	return fresh, nil
}

// DeleteExpired removes expired sessions and nonces, old idempotency records
// and old user tombstones. Records of apps are swept app by app, through
// indexes that start with the app id.
func (s *Store) DeleteExpired(ctx context.Context, now, idempotencyBefore time.Time) (int64, error) {
	res, err := s.c.sessions.DeleteMany(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lte", Value: now}}}})
	if err != nil {
		return 0, errorf(err, "delete expired sessions")
	}
	n := res.DeletedCount
	for _, sweep := range []struct {
		c     *mongo.Collection
		field string
		op    string
		at    time.Time
	}{
		{s.c.nonces, "expires_at", "$lte", now},
		{s.c.idempotency, "created_at", "$lt", idempotencyBefore},
		{s.c.tombstones, "deleted_at", "$lt", now.Add(-store.TombstoneRetention)},
	} {
		c, err := s.sweep(ctx, sweep.c, bson.E{Key: sweep.field, Value: bson.D{{Key: sweep.op, Value: sweep.at}}})
		n += c
		if err != nil {
			return n, fmt.Errorf("delete expired: %w", err)
		}
	}
	return n, nil
}

// sweep deletes the documents of collection c that match cond, app by app,
// through an index that starts with the app id, and returns how many it
// deleted.
func (s *Store) sweep(ctx context.Context, c *mongo.Collection, cond bson.E) (int64, error) {
	var apps []string
	if err := c.Distinct(ctx, "_id.app", bson.D{}).Decode(&apps); err != nil {
		return 0, errorf(err, "%s: list apps", c.Name())
	}
	var n int64
	for _, app := range apps {
		res, err := c.DeleteMany(ctx, s.app(app).scope(cond))
		if err != nil {
			return n, errorf(err, "%s of %s", c.Name(), app)
		}
		n += res.DeletedCount
	}
	return n, nil
}
