package tenant

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/magpie-im/magpie/internal/store"
)

// MemberInput describes a console member to create.
type MemberInput struct {
	TenantID string // empty only for RoleOperator
	Email    string
	Name     string
	Role     store.Role
	Password string // at least 12 characters
}

// CreateMember adds a console member with a bcrypt-hashed password.
func (s *Service) CreateMember(ctx context.Context, in MemberInput) (store.Member, error) {
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if _, err := mail.ParseAddress(email); err != nil || len(email) > 254 {
		return store.Member{}, invalid("email", "must be an email address")
	}
	switch in.Role {
	case store.RoleOperator:
		if in.TenantID != "" {
			return store.Member{}, invalid("tenant_id", "operators belong to no tenant")
		}
	case store.RoleOwner, store.RoleAdmin, store.RoleViewer:
		if _, err := s.store.GetTenant(ctx, in.TenantID); err != nil {
			return store.Member{}, fmt.Errorf("get tenant %s: %w", in.TenantID, err)
		}
	default:
		return store.Member{}, invalid("role", "must be owner, admin or viewer")
	}
	if len(in.Password) < 12 || len(in.Password) > 72 {
		return store.Member{}, invalid("password", "must be 12-72 characters")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), s.cfg.PasswordCost)
	if err != nil {
		return store.Member{}, fmt.Errorf("hash password: %w", err)
	}
	m := store.Member{
		ID:           newID("mem_", 8),
		TenantID:     in.TenantID,
		Email:        email,
		Name:         strings.TrimSpace(in.Name),
		Role:         in.Role,
		PasswordHash: string(hash),
		CreatedAt:    s.now(),
	}
	if err := s.store.CreateMember(ctx, m); err != nil {
		return store.Member{}, fmt.Errorf("create member: %w", err)
	}
	return m, nil
}

// maxAccountsPerEmail bounds how many accounts with one email a login
// checks the password against.
const maxAccountsPerEmail = 10

// Authenticate checks an email and password against the accounts with that
// email (emails are unique per tenant, so there may be several) and returns
// the first that matches.
func (s *Service) Authenticate(ctx context.Context, email, password string) (store.Member, error) {
	ms, err := s.store.ListMembersByEmail(ctx, strings.ToLower(strings.TrimSpace(email)), maxAccountsPerEmail)
	if err != nil {
		return store.Member{}, fmt.Errorf("list members by email: %w", err)
	}
	if len(ms) == 0 {
		// Spend the same time as a real check so that timing does not
		// reveal which emails exist.
		_ = bcrypt.CompareHashAndPassword(s.dummy(), []byte(password))
		return store.Member{}, ErrBadCredentials
	}
	for _, m := range ms {
		if bcrypt.CompareHashAndPassword([]byte(m.PasswordHash), []byte(password)) == nil {
			return m, nil
		}
	}
	return store.Member{}, ErrBadCredentials
}

func (s *Service) dummy() []byte {
	s.dummyOnce.Do(func() {
		s.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("magpie-dummy-password"), s.cfg.PasswordCost)
	})
	return s.dummyHash
}

// Login authenticates a member and opens a console session. The returned
// bearer token is shown once; only its hash is stored.
func (s *Service) Login(ctx context.Context, email, password string) (string, store.Session, error) {
	m, err := s.Authenticate(ctx, email, password)
	if err != nil {
		return "", store.Session{}, err
	}
	token := newID("mst_", 24)
	now := s.now()
	sess := store.Session{TokenHash: hashToken(token), MemberID: m.ID, CreatedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL)}
	if err := s.store.CreateSession(ctx, sess); err != nil {
		return "", store.Session{}, fmt.Errorf("create session: %w", err)
	}
	return token, sess, nil
}

// SessionMember returns the member a session token belongs to.
func (s *Service) SessionMember(ctx context.Context, token string) (store.Member, error) {
	sess, err := s.store.GetSession(ctx, hashToken(token), s.now())
	if errors.Is(err, store.ErrNotFound) {
		return store.Member{}, ErrBadCredentials
	}
	if err != nil {
		return store.Member{}, fmt.Errorf("get session: %w", err)
	}
	return s.store.GetMember(ctx, sess.MemberID)
}

// Logout ends a session.
func (s *Service) Logout(ctx context.Context, token string) error {
	return s.store.DeleteSession(ctx, hashToken(token))
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CanManage reports whether a member may change the given tenant's apps.
func CanManage(m store.Member, tenantID string) bool {
	return m.Role == store.RoleOperator ||
		(m.TenantID == tenantID && (m.Role == store.RoleOwner || m.Role == store.RoleAdmin))
}

// CanView reports whether a member may see the given tenant's apps.
func CanView(m store.Member, tenantID string) bool {
	return m.Role == store.RoleOperator || m.TenantID == tenantID
}
