package gateway

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/tenant"
)

// consoleAuth authenticates a management API request by a console session
// (Authorization: Bearer mst_…) or, for scripts, HTTP Basic with a member's
// email and password.
func (g *Gateway) consoleAuth(c *gin.Context) {
	ctx := c.Request.Context()
	var m store.Member
	var err error
	authz := c.GetHeader("Authorization")
	if tok, ok := strings.CutPrefix(authz, "Bearer "); ok {
		m, err = g.tenants.SessionMember(ctx, tok)
	} else if email, pw, ok := c.Request.BasicAuth(); ok {
		m, err = g.tenants.Authenticate(ctx, email, pw)
	} else {
		c.Header("WWW-Authenticate", `Bearer realm="magpie"`)
		writeError(c, newError(http.StatusUnauthorized, CodeUnauthenticated, "a console session token or Basic credentials are required"))
		return
	}
	if errors.Is(err, tenant.ErrBadCredentials) || errors.Is(err, store.ErrNotFound) {
		writeError(c, newError(http.StatusUnauthorized, CodeUnauthenticated, "invalid or expired credentials"))
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	c.Set(ctxMember, m)
	c.Next()
}

func memberOf(c *gin.Context) store.Member { return c.MustGet(ctxMember).(store.Member) }

type memberJSON struct {
	ID        string     `json:"id"`
	TenantID  string     `json:"tenant_id,omitempty"`
	Email     string     `json:"email"`
	Name      string     `json:"name"`
	Role      store.Role `json:"role"`
	CreatedAt time.Time  `json:"created_at"`
}

func toMemberJSON(m store.Member) memberJSON {
	return memberJSON{ID: m.ID, TenantID: m.TenantID, Email: m.Email, Name: m.Name, Role: m.Role, CreatedAt: m.CreatedAt}
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (g *Gateway) login(c *gin.Context) {
	var in loginRequest
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	tok, sess, err := g.tenants.Login(c.Request.Context(), in.Email, in.Password)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"token": tok, "expires_at": sess.ExpiresAt})
}

func (g *Gateway) logout(c *gin.Context) {
	tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if ok {
		if err := g.tenants.Logout(c.Request.Context(), tok); err != nil && !errors.Is(err, store.ErrNotFound) {
			fail(c, err)
			return
		}
	}
	c.Status(http.StatusNoContent)
}

func (g *Gateway) me(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"member": toMemberJSON(memberOf(c))})
}

var errOperatorOnly = newError(http.StatusForbidden, CodeForbidden, "only the operator may do this")

func (g *Gateway) listTenants(c *gin.Context) {
	m := memberOf(c)
	if m.Role != store.RoleOperator {
		t, err := g.store.GetTenant(c.Request.Context(), m.TenantID)
		if err != nil {
			fail(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"tenants": []gin.H{tenantJSON(t)}, "next_cursor": ""})
		return
	}
	limit, after, ae := pageParams(c)
	if ae != nil {
		writeError(c, ae)
		return
	}
	ts, err := g.store.ListTenants(c.Request.Context(), after, limit+1)
	if err != nil {
		fail(c, err)
		return
	}
	ts, next := trimPage(ts, limit, func(x store.Tenant) string { return x.ID })
	out := make([]gin.H, len(ts))
	for i, t := range ts {
		out[i] = tenantJSON(t)
	}
	c.JSON(http.StatusOK, gin.H{"tenants": out, "next_cursor": next})
}

func tenantJSON(t store.Tenant) gin.H {
	return gin.H{"id": t.ID, "name": t.Name, "created_at": t.CreatedAt}
}

type nameRequest struct {
	Name string `json:"name"`
}

func (g *Gateway) createTenant(c *gin.Context) {
	if memberOf(c).Role != store.RoleOperator {
		writeError(c, errOperatorOnly)
		return
	}
	var in nameRequest
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	t, err := g.tenants.CreateTenant(c.Request.Context(), in.Name)
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"tenant": tenantJSON(t)})
}

type memberRequest struct {
	Email    string     `json:"email"`
	Name     string     `json:"name"`
	Role     store.Role `json:"role"`
	Password string     `json:"password"`
}

func (g *Gateway) createMember(c *gin.Context) {
	tid := c.Param("tenant")
	m := memberOf(c)
	if m.Role != store.RoleOperator && !(m.TenantID == tid && m.Role == store.RoleOwner) {
		writeError(c, newError(http.StatusForbidden, CodeForbidden, "only the tenant's owners may add members"))
		return
	}
	var in memberRequest
	if err := decodeJSON(c, &in); err != nil {
		fail(c, err)
		return
	}
	if in.Role == store.RoleOperator {
		writeError(c, fieldError("role", "must be owner, admin or viewer"))
		return
	}
	mem, err := g.tenants.CreateMember(c.Request.Context(), tenant.MemberInput{
		TenantID: tid, Email: in.Email, Name: in.Name, Role: in.Role, Password: in.Password,
	})
	if errors.Is(err, store.ErrConflict) {
		writeError(c, newError(http.StatusConflict, CodeConflict, "this tenant already has a member with this email"))
		return
	}
	if err != nil {
		fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"member": toMemberJSON(mem)})
}
