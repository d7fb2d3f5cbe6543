package tenant

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"

	"github.com/magpie-im/magpie/internal/store"
)

// Console roles and what they may do:
//
//   - the operator (no tenant) may do anything in every tenant;
//   - an owner may manage its tenant's apps and members, including other
//     owners;
//   - an admin may manage its tenant's apps, and its members other than
//     owners; it may not grant the owner role;
//   - a viewer may look at its tenant's apps and members.
//
// Every member may change its own password. A tenant always keeps at least
// one owner.

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

// AddMember is CreateMember on behalf of actor: the operator, or an owner or
// admin of the tenant; only owners (and the operator) may add owners.
func (s *Service) AddMember(ctx context.Context, actor store.Member, in MemberInput) (store.Member, error) {
	if in.Role == store.RoleOperator {
		return store.Member{}, invalid("role", "must be owner, admin or viewer")
	}
	if actor.Role != store.RoleOperator {
		if actor.TenantID != in.TenantID || (actor.Role != store.RoleOwner && actor.Role != store.RoleAdmin) {
			return store.Member{}, forbidden("only the tenant's owners and admins may add members")
		}
		if actor.Role == store.RoleAdmin && in.Role == store.RoleOwner {
			return store.Member{}, forbidden("only owners may add owners")
		}
	}
	return s.CreateMember(ctx, in)
}

// ListMembers returns the members of a tenant that actor may see (any
// member of the tenant, and the operator); store.ErrNotFound for a tenant
// the actor cannot see.
func (s *Service) ListMembers(ctx context.Context, actor store.Member, tenantID string) ([]store.Member, error) {
	if !CanView(actor, tenantID) {
		return nil, store.ErrNotFound
	}
	if _, err := s.store.GetTenant(ctx, tenantID); err != nil {
		return nil, fmt.Errorf("get tenant %s: %w", tenantID, err)
	}
	ms, err := s.store.ListMembers(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("list members of %s: %w", tenantID, err)
	}
	return ms, nil
}

// MemberUpdate lists the changes to a member; nil fields stay as they are.
type MemberUpdate struct {
	Name *string
	Role *store.Role
}

// UpdateMember changes the name or role of member id of tenantID on behalf
// of actor. It returns store.ErrNotFound when the actor cannot see the
// tenant or the tenant has no such member, ErrForbidden when the actor's
// role does not allow the change, and ErrLastOwner when it would demote the
// tenant's last owner.
func (s *Service) UpdateMember(ctx context.Context, actor store.Member, tenantID, id string, upd MemberUpdate) (store.Member, error) {
	var role store.Role
	if upd.Role != nil {
		role = *upd.Role
		switch role {
		case store.RoleOwner, store.RoleAdmin, store.RoleViewer:
		default:
			return store.Member{}, invalid("role", "must be owner, admin or viewer")
		}
	}
	var name string
	if upd.Name != nil {
		name = strings.TrimSpace(*upd.Name)
		if len(name) > 128 {
			return store.Member{}, invalid("name", "must be at most 128 characters")
		}
	}
	// A read-modify-write made safe across processes by the store's
	// conditional update (and its last-owner check): read again and
	// reapply when another change came in between.
	for range maxUpdateAttempts {
		m, err := s.target(ctx, actor, tenantID, id)
		if err != nil {
			return store.Member{}, err
		}
		if err := mayManage(actor, m, role); err != nil {
			return store.Member{}, err
		}
		if upd.Name != nil {
			m.Name = name
		}
		if upd.Role != nil {
			m.Role = role
		}
		err = s.store.UpdateMember(ctx, m)
		switch {
		case errors.Is(err, store.ErrConflict):
			continue
		case errors.Is(err, store.ErrLimit):
			return store.Member{}, ErrLastOwner
		case err != nil:
			return store.Member{}, fmt.Errorf("update member %s: %w", m.ID, err)
		}
		m.Version++
		return m, nil
	}
	return store.Member{}, fmt.Errorf("update member %s: %w after %d attempts", id, store.ErrConflict, maxUpdateAttempts)
}

// RemoveMember deletes member id of tenantID on behalf of actor, and with it
// all its sessions; its password stops working at once. Errors as for
// UpdateMember; ErrLastOwner when it is the tenant's last owner.
func (s *Service) RemoveMember(ctx context.Context, actor store.Member, tenantID, id string) (store.Member, error) {
	m, err := s.target(ctx, actor, tenantID, id)
	if err != nil {
		return store.Member{}, err
	}
	if err := mayManage(actor, m, ""); err != nil {
		return store.Member{}, err
	}
	// The store refuses to delete the last owner, atomically across
	// processes.
	err = s.store.DeleteMember(ctx, m.ID)
	if errors.Is(err, store.ErrLimit) {
		return store.Member{}, ErrLastOwner
	}
	if err != nil {
		return store.Member{}, fmt.Errorf("delete member %s: %w", m.ID, err)
	}
	return m, nil
}

// ResetPassword gives member id of tenantID a new random password on behalf
// of actor, and ends all the member's sessions; the old password stops
// working at once. The new password is returned once, to be handed over.
// It returns how many sessions ended. Errors as for UpdateMember.
func (s *Service) ResetPassword(ctx context.Context, actor store.Member, tenantID, id string) (store.Member, string, int64, error) {
	// Check first, so that refusals cost no bcrypt work; check again after
	// hashing, and write conditionally on the version read then.
	m, err := s.target(ctx, actor, tenantID, id)
	if err != nil {
		return store.Member{}, "", 0, err
	}
	if err := mayManage(actor, m, ""); err != nil {
		return store.Member{}, "", 0, err
	}
	password := newID("", 12)
	hash, err := s.hashPassword(ctx, "password", password)
	if err != nil {
		return store.Member{}, "", 0, err
	}
	for attempt := 0; ; attempt++ {
		m, err = s.target(ctx, actor, tenantID, id)
		if err != nil {
			return store.Member{}, "", 0, err
		}
		if err := mayManage(actor, m, ""); err != nil {
			return store.Member{}, "", 0, err
		}
		m.PasswordHash = hash
		err = s.store.UpdateMember(ctx, m)
		if errors.Is(err, store.ErrConflict) && attempt < maxUpdateAttempts {
			continue
		}
		if err != nil {
			return store.Member{}, "", 0, fmt.Errorf("update member %s: %w", m.ID, err)
		}
		m.Version++
		break
	}
	n, err := s.store.DeleteMemberSessions(ctx, m.ID, "")
	if err != nil {
		return store.Member{}, "", 0, fmt.Errorf("end sessions of %s: %w", m.ID, err)
	}
	return m, password, n, nil
}

// EndSessions ends every console session of member id of tenantID on behalf
// of actor, and returns the member and how many sessions ended. Its
// password keeps working. Errors as for UpdateMember.
func (s *Service) EndSessions(ctx context.Context, actor store.Member, tenantID, id string) (store.Member, int64, error) {
	m, err := s.target(ctx, actor, tenantID, id)
	if err != nil {
		return store.Member{}, 0, err
	}
	if err := mayManage(actor, m, ""); err != nil {
		return store.Member{}, 0, err
	}
	n, err := s.store.DeleteMemberSessions(ctx, m.ID, "")
	if err != nil {
		return store.Member{}, 0, fmt.Errorf("end sessions of %s: %w", m.ID, err)
	}
	return m, n, nil
}

// ChangePassword changes member m's own password after checking its current
// one (ErrBadCredentials when it is wrong), and ends the member's other
// sessions: all but the one of sessionToken, or all when sessionToken is
// empty (the request was not made with a session). It returns how many
// sessions ended.
func (s *Service) ChangePassword(ctx context.Context, m store.Member, sessionToken, current, next string) (int64, error) {
	if err := validPassword("new_password", next); err != nil {
		return 0, err
	}
	ok, err := s.checkPassword(ctx, []byte(m.PasswordHash), current)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, ErrBadCredentials
	}
	hash, err := s.hashPassword(ctx, "new_password", next)
	if err != nil {
		return 0, err
	}
	fresh, err := s.store.GetMember(ctx, m.ID)
	if err != nil {
		return 0, fmt.Errorf("get member %s: %w", m.ID, err)
	}
	if fresh.PasswordHash != m.PasswordHash {
		// Changed or reset since this request checked it.
		return 0, ErrBadCredentials
	}
	fresh.PasswordHash = hash
	err = s.store.UpdateMember(ctx, fresh)
	if errors.Is(err, store.ErrConflict) {
		// Changed in between, perhaps its password: check again.
		return 0, ErrBadCredentials
	}
	if err != nil {
		return 0, fmt.Errorf("update member %s: %w", m.ID, err)
	}
	except := ""
	if sessionToken != "" {
		except = hashToken(sessionToken)
	}
	n, err := s.store.DeleteMemberSessions(ctx, m.ID, except)
	if err != nil {
		return 0, fmt.Errorf("end sessions of %s: %w", m.ID, err)
	}
	return n, nil
}

// target returns member id if it belongs to tenantID and actor may see that
// tenant; store.ErrNotFound otherwise, so that members of other tenants are
// not confirmed to exist.
func (s *Service) target(ctx context.Context, actor store.Member, tenantID, id string) (store.Member, error) {
	if !CanView(actor, tenantID) {
		return store.Member{}, store.ErrNotFound
	}
	m, err := s.store.GetMember(ctx, id)
	if err != nil {
		return store.Member{}, fmt.Errorf("get member %s: %w", id, err)
	}
	if m.TenantID != tenantID || m.Role == store.RoleOperator {
		return store.Member{}, fmt.Errorf("member %s of tenant %s: %w", id, tenantID, store.ErrNotFound)
	}
	return m, nil
}

// mayManage checks that actor, who can see target's tenant, may change or
// remove target and, when role is set, give it that role.
func mayManage(actor, target store.Member, role store.Role) error {
	switch actor.Role {
	case store.RoleOperator, store.RoleOwner:
		return nil
	case store.RoleAdmin:
		if target.Role == store.RoleOwner {
			return forbidden("admins cannot change or remove owners")
		}
		if role == store.RoleOwner {
			return forbidden("only owners may grant the owner role")
		}
		return nil
	default:
		return forbidden("viewers cannot manage members")
	}
}

// ForbiddenError is a refusal by role; it matches ErrForbidden.
type ForbiddenError struct {
	Reason string // for people: what the role does not allow
}

func (e *ForbiddenError) Error() string { return "forbidden: " + e.Reason }

// Is makes errors.Is(err, ErrForbidden) true.
func (e *ForbiddenError) Is(target error) bool { return target == ErrForbidden }

func forbidden(reason string) error { return &ForbiddenError{Reason: reason} }

// CanManage reports whether a member may change the given tenant's apps.
func CanManage(m store.Member, tenantID string) bool {
	return m.Role == store.RoleOperator ||
		(m.TenantID == tenantID && (m.Role == store.RoleOwner || m.Role == store.RoleAdmin))
}

// CanView reports whether a member may see the given tenant's apps and
// members.
func CanView(m store.Member, tenantID string) bool {
	return m.Role == store.RoleOperator || m.TenantID == tenantID
}
