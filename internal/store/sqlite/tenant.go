package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// GetMeta returns the value stored under key, or store.ErrNotFound.
func (s *Store) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := s.readRow(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if err != nil {
		return "", fmt.Errorf("get meta %s: %w", key, translate(err))
	}
	return v, nil
}

// PutMeta stores value under key, replacing any earlier value.
func (s *Store) PutMeta(ctx context.Context, key, value string) error {
	_, err := s.write.ExecContext(ctx,
		`INSERT INTO meta (key, value) VALUES (?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("put meta %s: %w", key, translate(err))
	}
	return nil
}

// CreateTenant adds a tenant; store.ErrConflict if the id is taken.
func (s *Store) CreateTenant(ctx context.Context, t store.Tenant) error {
	_, err := s.write.ExecContext(ctx,
		`INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)`,
		t.ID, t.Name, ms(t.CreatedAt))
	if err != nil {
		return fmt.Errorf("create tenant %s: %w", t.ID, translate(err))
	}
	return nil
}

// GetTenant returns a tenant, or store.ErrNotFound.
func (s *Store) GetTenant(ctx context.Context, id string) (store.Tenant, error) {
	row := s.readRow(ctx, `SELECT id, name, created_at FROM tenants WHERE id = ?`, id)
	t, err := scanTenant(row)
	if err != nil {
		return store.Tenant{}, fmt.Errorf("get tenant %s: %w", id, translate(err))
	}
	return t, nil
}

// ListTenants returns up to limit tenants with id > after, by id.
func (s *Store) ListTenants(ctx context.Context, after string, limit int) ([]store.Tenant, error) {
	rows, err := s.readRows(ctx,
		`SELECT id, name, created_at FROM tenants WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", translate(err))
	}
	ts, err := collect(rows, scanTenant)
	if err != nil {
		return nil, fmt.Errorf("list tenants: %w", err)
	}
	return ts, nil
}

func scanTenant(r scanner) (store.Tenant, error) {
	var t store.Tenant
	var created int64
	if err := r.Scan(&t.ID, &t.Name, &created); err != nil {
		return t, err
	}
	t.CreatedAt = fromMS(created)
	return t, nil
}

const memberColumns = `id, tenant_id, email, name, role, password_hash, created_at, version`

// CreateMember adds a console member; store.ErrConflict if the id is taken
// or the member's tenant already has a member with this email.
func (s *Store) CreateMember(ctx context.Context, m store.Member) error {
	_, err := s.write.ExecContext(ctx,
		`INSERT INTO members (`+memberColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, 1)`,
		m.ID, m.TenantID, m.Email, m.Name, string(m.Role), m.PasswordHash, ms(m.CreatedAt))
	if err != nil {
		return fmt.Errorf("create member %s: %w", m.ID, translate(err))
	}
	return nil
}

// GetMember returns a member, or store.ErrNotFound.
func (s *Store) GetMember(ctx context.Context, id string) (store.Member, error) {
	row := s.readRow(ctx, `SELECT `+memberColumns+` FROM members WHERE id = ?`, id)
	m, err := scanMember(row)
	if err != nil {
		return store.Member{}, fmt.Errorf("get member %s: %w", id, translate(err))
	}
	return m, nil
}

// ListMembersByEmail returns up to limit members with this email, in every
// tenant, by id.
func (s *Store) ListMembersByEmail(ctx context.Context, email string, limit int) ([]store.Member, error) {
	rows, err := s.readRows(ctx,
		`SELECT `+memberColumns+` FROM members WHERE email = ? ORDER BY id LIMIT ?`, email, limit)
	if err != nil {
		return nil, fmt.Errorf("list members by email: %w", translate(err))
	}
	members, err := collect(rows, scanMember)
	if err != nil {
		return nil, fmt.Errorf("list members by email: %w", err)
	}
	return members, nil
}

// ListMembers returns the members of a tenant, by id.
func (s *Store) ListMembers(ctx context.Context, tenantID string) ([]store.Member, error) {
	rows, err := s.readRows(ctx,
		`SELECT `+memberColumns+` FROM members WHERE tenant_id = ? ORDER BY id`, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", tenantID, translate(err))
	}
	members, err := collect(rows, scanMember)
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", tenantID, err)
	}
	return members, nil
}

// UpdateMember replaces a member's name, role and password hash if its
// version is still m.Version, in one transaction with the last-owner
// check; see store.Store.
func (s *Store) UpdateMember(ctx context.Context, m store.Member) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := scanMember(tx.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM members WHERE id = ?`, m.ID))
		if err != nil {
			return translate(err)
		}
		if cur.Version != m.Version {
			return store.ErrConflict
		}
		if cur.Role == store.RoleOwner && m.Role != store.RoleOwner {
			if err := lastOwner(ctx, tx, cur); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE members SET name = ?, role = ?, password_hash = ?, version = version + 1 WHERE id = ?`,
			m.Name, string(m.Role), m.PasswordHash, m.ID)
		return translate(err)
	})
	if err != nil {
		return fmt.Errorf("update member %s: %w", m.ID, err)
	}
	return nil
}

// lastOwner returns store.ErrLimit if owner is its tenant's only owner.
func lastOwner(ctx context.Context, tx *sql.Tx, owner store.Member) error {
	var others int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM members WHERE tenant_id = ? AND role = ? AND id <> ?`,
		owner.TenantID, string(store.RoleOwner), owner.ID).Scan(&others)
	if err != nil {
		return translate(err)
	}
	if others == 0 {
		return store.ErrLimit
	}
	return nil
}

// DeleteMember removes a member and its sessions, unless it is its
// tenant's last owner (store.ErrLimit); store.ErrNotFound if it does not
// exist.
func (s *Store) DeleteMember(ctx context.Context, id string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		cur, err := scanMember(tx.QueryRowContext(ctx, `SELECT `+memberColumns+` FROM members WHERE id = ?`, id))
		if err != nil {
			return translate(err)
		}
		if cur.Role == store.RoleOwner {
			if err := lastOwner(ctx, tx, cur); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE member_id = ?`, id); err != nil {
			return translate(err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM members WHERE id = ?`, id)
		return mustAffect(res, err)
	})
	if err != nil {
		return fmt.Errorf("delete member %s: %w", id, err)
	}
	return nil
}

// DeleteMemberSessions removes a member's sessions, except the one whose
// token hash is exceptTokenHash, and returns how many it removed.
func (s *Store) DeleteMemberSessions(ctx context.Context, memberID, exceptTokenHash string) (int64, error) {
	res, err := s.write.ExecContext(ctx,
		`DELETE FROM sessions WHERE member_id = ? AND token_hash <> ?`, memberID, exceptTokenHash)
	n, err := affected(res, err)
	if err != nil {
		return 0, fmt.Errorf("delete sessions of %s: %w", memberID, err)
	}
	return n, nil
}

func scanMember(r scanner) (store.Member, error) {
	var m store.Member
	var role string
	var created int64
	err := r.Scan(&m.ID, &m.TenantID, &m.Email, &m.Name, &role, &m.PasswordHash, &created, &m.Version)
	if err != nil {
		return m, err
	}
	m.Role = store.Role(role)
	m.CreatedAt = fromMS(created)
	return m, nil
}

// CreateSession stores a console session; store.ErrNotFound if its member
// does not exist.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	_, err := s.write.ExecContext(ctx,
		`INSERT INTO sessions (token_hash, member_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		se.TokenHash, se.MemberID, ms(se.CreatedAt), ms(se.ExpiresAt))
	if err != nil {
		return fmt.Errorf("create session: %w", translate(err))
	}
	return nil
}

// GetSession returns the session with this token hash, or store.ErrNotFound
// when it does not exist or has expired at now (ExpiresAt <= now).
func (s *Store) GetSession(ctx context.Context, tokenHash string, now time.Time) (store.Session, error) {
	var se store.Session
	var created, expires int64
	err := s.readRow(ctx,
		`SELECT token_hash, member_id, created_at, expires_at FROM sessions
		WHERE token_hash = ? AND expires_at > ?`, tokenHash, now.UnixMilli()).
		Scan(&se.TokenHash, &se.MemberID, &created, &expires)
	if err != nil {
		return store.Session{}, fmt.Errorf("get session: %w", translate(err))
	}
	se.CreatedAt, se.ExpiresAt = fromMS(created), fromMS(expires)
	return se, nil
}

// DeleteSession removes a session; deleting a missing session is not an
// error.
func (s *Store) DeleteSession(ctx context.Context, tokenHash string) error {
	_, err := s.write.ExecContext(ctx, `DELETE FROM sessions WHERE token_hash = ?`, tokenHash)
	if err != nil {
		return fmt.Errorf("delete session: %w", translate(err))
	}
	return nil
}

// DeleteExpired removes expired sessions and old idempotency records.
func (s *Store) DeleteExpired(ctx context.Context, now, idempotencyBefore time.Time) (int64, error) {
	var n int64
	for _, q := range []struct {
		sql string
		at  time.Time
	}{
		{`DELETE FROM sessions WHERE expires_at <= ?`, now},
		{`DELETE FROM nonces WHERE expires_at <= ?`, now},
		{`DELETE FROM idempotency WHERE created_at < ?`, idempotencyBefore},
		{`DELETE FROM user_tombstones WHERE deleted_at < ?`, now.Add(-store.TombstoneRetention)},
	} {
		res, err := s.write.ExecContext(ctx, q.sql, ms(q.at))
		if err != nil {
			return n, fmt.Errorf("delete expired: %w", translate(err))
		}
		c, err := res.RowsAffected()
		if err != nil {
			return n, fmt.Errorf("delete expired: %w", translate(err))
		}
		n += c
	}
	return n, nil
}

// UseNonces records nonces in one transaction; see store.Store.
func (s *Store) UseNonces(ctx context.Context, ns []store.Nonce) ([]bool, error) {
	if len(ns) == 0 {
		return nil, nil
	}
	fresh := make([]bool, len(ns))
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for i, n := range ns {
			res, err := tx.Stmt(s.stmts[stmtUseNonce]).ExecContext(ctx, n.AppID, n.Value, ms(n.ExpiresAt))
			c, err := affected(res, err)
			if err != nil {
				return fmt.Errorf("nonce of %s: %w", n.AppID, err)
			}
			fresh[i] = c == 1
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("use nonces: %w", err)
	}
	return fresh, nil
}
