package manage

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/tenant"
)

// audit logs a console action that changed a member or its credentials, as
// one structured line with the message "audit". Never pass it passwords or
// tokens.
func (s *Server) audit(c *gin.Context, action, tenantID, targetID string, attrs ...any) {
	base := []any{
		"action", action, "actor_id", memberOf(c).ID, "tenant_id", tenantID, "target_id", targetID,
		"client_addr", s.clientAddr(c),
	}
	httpx.Logger(c).InfoContext(c.Request.Context(), "audit", append(base, attrs...)...)
}

// failMember is fail with the 404 of a member path.
func failMember(c *gin.Context, err error) {
	if errors.Is(err, store.ErrNotFound) {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeNotFound, "no such member"))
		return
	}
	httpx.Fail(c, err)
}

func (s *Server) listMembers(c *gin.Context) {
	ms, err := s.tenants.ListMembers(c.Request.Context(), memberOf(c), c.Param("tenant"))
	if errors.Is(err, store.ErrNotFound) {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeNotFound, "no such tenant"))
		return
	}
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	out := make([]memberJSON, len(ms))
	for i, m := range ms {
		out[i] = toMemberJSON(m)
	}
	c.JSON(http.StatusOK, gin.H{"members": out})
}

type memberPatch struct {
	Name *string     `json:"name"`
	Role *store.Role `json:"role"`
}

func (s *Server) updateMember(c *gin.Context) {
	var in memberPatch
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	tid := c.Param("tenant")
	m, err := s.tenants.UpdateMember(c.Request.Context(), memberOf(c), tid, c.Param("member"), tenant.MemberUpdate(in))
	if err != nil {
		failMember(c, err)
		return
	}
	attrs := []any{"name_changed", in.Name != nil}
	if in.Role != nil {
		attrs = append(attrs, "role", m.Role)
	}
	s.audit(c, "member.update", tid, m.ID, attrs...)
	c.JSON(http.StatusOK, gin.H{"member": toMemberJSON(m)})
}

func (s *Server) deleteMember(c *gin.Context) {
	tid := c.Param("tenant")
	m, err := s.tenants.RemoveMember(c.Request.Context(), memberOf(c), tid, c.Param("member"))
	if err != nil {
		failMember(c, err)
		return
	}
	s.audit(c, "member.remove", tid, m.ID, "role", m.Role)
	c.Status(http.StatusNoContent)
}

// memberAction serves the custom methods on a member: :reset-password.
func (s *Server) memberAction(c *gin.Context) {
	id, verb, ok := strings.Cut(c.Param("member"), ":")
	if !ok {
		httpx.WriteError(c, httpx.NewError(http.StatusMethodNotAllowed, httpx.CodeMethodNotAllowed,
			"use POST /manage/v1/tenants/{tenant}/members to add members"))
		return
	}
	switch verb {
	case "reset-password":
		s.resetPassword(c, id)
	default:
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "unknown action :"+verb))
	}
}

func (s *Server) resetPassword(c *gin.Context, id string) {
	tid := c.Param("tenant")
	m, password, n, err := s.tenants.ResetPassword(c.Request.Context(), memberOf(c), tid, id)
	if err != nil {
		failMember(c, err)
		return
	}
	s.audit(c, "member.reset_password", tid, m.ID, "sessions_ended", n)
	c.JSON(http.StatusOK, gin.H{"member": toMemberJSON(m), "password": password, "sessions_ended": n})
}

func (s *Server) endMemberSessions(c *gin.Context) {
	tid := c.Param("tenant")
	m, n, err := s.tenants.EndSessions(c.Request.Context(), memberOf(c), tid, c.Param("member"))
	if err != nil {
		failMember(c, err)
		return
	}
	s.audit(c, "member.end_sessions", tid, m.ID, "sessions_ended", n)
	c.JSON(http.StatusOK, gin.H{"sessions_ended": n})
}

type passwordChange struct {
	CurrentPassword string `json:"current_password"`
	NewPassword     string `json:"new_password"`
}

// changePassword changes the authenticated member's own password and ends
// its other sessions. The check of the current password is throttled like a
// login.
func (s *Server) changePassword(c *gin.Context) {
	var in passwordChange
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	m := memberOf(c)
	token, _ := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	var n int64
	err := s.throttled(c, m.Email, func() error {
		var err error
		n, err = s.tenants.ChangePassword(c.Request.Context(), m, token, in.CurrentPassword, in.NewPassword)
		return err
	})
	if errors.Is(err, tenant.ErrBadCredentials) {
		httpx.WriteError(c, httpx.FieldError("current_password", "is not the member's password"))
		return
	}
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	s.audit(c, "member.change_password", m.TenantID, m.ID, "sessions_ended", n)
	c.JSON(http.StatusOK, gin.H{"sessions_ended": n})
}
