package tenant

import (
	"context"
	"fmt"
	"net/mail"
	"strings"

	"github.com/magpie-im/magpie/internal/store"
)

// MemberInput describes a console member to create.
type MemberInput struct {
	TenantID string // empty only for RoleOperator
	Email    string
	Name     string
	Role     store.Role
	Password string // 12-72 bytes
}

// CreateMember adds a console member with a bcrypt-hashed password. Emails
// are unique per tenant: store.ErrConflict if the tenant (or, for an
// operator, the operators) already has a member with this email.
func (s *Service) CreateMember(ctx context.Context, in MemberInput) (store.Member, error) {
	email := NormalizeEmail(in.Email)
	if _, err := mail.ParseAddress(email); err != nil || len(email) > 254 {
		return store.Member{}, invalid("email", "must be an email address")
	}
	name := strings.TrimSpace(in.Name)
	if len(name) > 128 {
		return store.Member{}, invalid("name", "must be at most 128 characters")
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
	hash, err := s.hashPassword(ctx, "password", in.Password)
	if err != nil {
		return store.Member{}, err
	}
	m := store.Member{
		ID:           newID("mem_", 8),
		TenantID:     in.TenantID,
		Email:        email,
		Name:         name,
		Role:         in.Role,
		PasswordHash: hash,
		CreatedAt:    s.now(),
	}
	if err := s.store.CreateMember(ctx, m); err != nil {
		return store.Member{}, fmt.Errorf("create member: %w", err)
	}
	return m, nil
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
