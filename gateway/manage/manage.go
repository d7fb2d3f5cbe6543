package manage

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/tenant"
)

// consoleAuth authenticates a management API request by a console session
// (Authorization: Bearer mst_…) or, for scripts, HTTP Basic with a member's
// email and password (and X-Magpie-Tenant when the email has accounts in
// several tenants). Basic credentials go through the login throttle, and a
// recent successful check is reused without bcrypt work.
func (s *Server) consoleAuth(c *gin.Context) {
	ctx := c.Request.Context()
	var m store.Member
	var err error
	authz := c.GetHeader("Authorization")
	if tok, ok := strings.CutPrefix(authz, "Bearer "); ok {
		m, err = s.tenants.SessionMember(ctx, tok)
	} else if email, pw, ok := c.Request.BasicAuth(); ok {
		m, err = s.basicAuth(c, tenant.LoginInput{Email: email, Password: pw, TenantID: c.GetHeader(headerTenant)})
	} else {
		c.Header("WWW-Authenticate", `Bearer realm="magpie"`)
		httpx.WriteError(c, httpx.NewError(http.StatusUnauthorized, httpx.CodeUnauthenticated, "a console session token or Basic credentials are required"))
		return
	}
	if errors.Is(err, tenant.ErrBadCredentials) || errors.Is(err, store.ErrNotFound) {
		httpx.WriteError(c, httpx.NewError(http.StatusUnauthorized, httpx.CodeUnauthenticated, "invalid or expired credentials"))
		return
	}
	if errors.Is(err, tenant.ErrTenantRequired) {
		httpx.WriteError(c, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeTenantRequired, Field: headerTenant,
			Message: "these Basic credentials match accounts in several tenants; send the tenant id in the " + headerTenant + " header"})
		return
	}
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	c.Set(ctxMember, m)
	c.Next()
}

// headerTenant names the tenant whose account HTTP Basic credentials mean.
const headerTenant = "X-Magpie-Tenant"

// basicAuth checks HTTP Basic credentials: refused at once while the email
// or the client's address is locked out, then a remembered recent check,
// then a full (throttled) password check.
func (s *Server) basicAuth(c *gin.Context, in tenant.LoginInput) (store.Member, error) {
	email, addr := tenant.NormalizeEmail(in.Email), throttleAddr(s.clientAddr(c))
	if wait := s.logins.locked(email, addr, s.now()); wait > 0 {
		return store.Member{}, s.loginRefused(c, wait)
	}
	m, ok, err := s.tenants.Recall(c.Request.Context(), in)
	if err != nil {
		return store.Member{}, err
	}
	if ok {
		s.logins.succeeded(email)
		return m, nil
	}
	err = s.throttled(c, email, func() error {
		m, err = s.tenants.AuthenticateCached(c.Request.Context(), in)
		return err
	})
	return m, err
}

// throttled runs check, a password check for email, under the login
// throttle: refused with 429 while the email or the client's address is
// locked out (or has as many checks in flight as failures left), counted as
// a failure when check returns tenant.ErrBadCredentials.
func (s *Server) throttled(c *gin.Context, email string, check func() error) error {
	addr := throttleAddr(s.clientAddr(c))
	wait, ok := s.logins.begin(email, addr, s.now())
	if !ok {
		return s.loginRefused(c, wait)
	}
	err := check()
	o := checkAborted
	switch {
	case err == nil, errors.Is(err, tenant.ErrTenantRequired):
		o = checkSucceeded
	case errors.Is(err, tenant.ErrBadCredentials):
		o = checkFailed
	}
	accLock, addrLock := s.logins.end(email, addr, o, s.now())
	ctx := c.Request.Context()
	if accLock > 0 {
		httpx.Logger(c).WarnContext(ctx, "console account locked out", "email", email, "lockout", accLock)
	}
	if addrLock > 0 {
		httpx.Logger(c).WarnContext(ctx, "console client address locked out", "client_addr", addr, "lockout", addrLock)
	}
	return err
}

// loginRefused sets Retry-After, counts the refusal and returns the 429 of
// a throttled login.
func (s *Server) loginRefused(c *gin.Context, wait time.Duration) error {
	s.cfg.Metrics.RateLimited(telemetry.LimitConsole)
	c.Header("Retry-After", strconv.Itoa(max(int(math.Ceil(wait.Seconds())), 1)))
	return httpx.NewError(http.StatusTooManyRequests, httpx.CodeRateLimited,
		"too many failed password checks for this account or client address; retry after the Retry-After seconds")
}

// ctxMember keeps the member consoleAuth authenticated.
const ctxMember = "magpie.member"

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
	TenantID string `json:"tenant_id"`
}

func (s *Server) login(c *gin.Context) {
	var in loginRequest
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	var tok string
	var sess store.Session
	err := s.throttled(c, tenant.NormalizeEmail(in.Email), func() error {
		var err error
		tok, sess, err = s.tenants.Login(c.Request.Context(), tenant.LoginInput(in))
		return err
	})
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"token": tok, "expires_at": sess.ExpiresAt})
}

func (s *Server) logout(c *gin.Context) {
	tok, ok := strings.CutPrefix(c.GetHeader("Authorization"), "Bearer ")
	if ok {
		if err := s.tenants.Logout(c.Request.Context(), tok); err != nil && !errors.Is(err, store.ErrNotFound) {
			httpx.Fail(c, err)
			return
		}
	}
	c.Status(http.StatusNoContent)
}

func (s *Server) me(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"member": toMemberJSON(memberOf(c))})
}

var errOperatorOnly = httpx.NewError(http.StatusForbidden, httpx.CodeForbidden, "only the operator may do this")

func (s *Server) listTenants(c *gin.Context) {
	m := memberOf(c)
	if m.Role != store.RoleOperator {
		t, err := s.store.GetTenant(c.Request.Context(), m.TenantID)
		if err != nil {
			httpx.Fail(c, err)
			return
		}
		c.JSON(http.StatusOK, gin.H{"tenants": []gin.H{tenantJSON(t)}, "next_cursor": ""})
		return
	}
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	ts, err := s.store.ListTenants(c.Request.Context(), after, limit+1)
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	ts, next := httpx.TrimPage(ts, limit, func(x store.Tenant) string { return x.ID })
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

func (s *Server) createTenant(c *gin.Context) {
	if memberOf(c).Role != store.RoleOperator {
		httpx.WriteError(c, errOperatorOnly)
		return
	}
	var in nameRequest
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	t, err := s.tenants.CreateTenant(c.Request.Context(), in.Name)
	if err != nil {
		httpx.Fail(c, err)
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

func (s *Server) createMember(c *gin.Context) {
	tid := c.Param("tenant")
	var in memberRequest
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	if in.Role == store.RoleOperator {
		httpx.WriteError(c, httpx.FieldError("role", "must be owner, admin or viewer"))
		return
	}
	mem, err := s.tenants.AddMember(c.Request.Context(), memberOf(c), tenant.MemberInput{
		TenantID: tid, Email: in.Email, Name: in.Name, Role: in.Role, Password: in.Password,
	})
	if errors.Is(err, store.ErrConflict) {
		httpx.WriteError(c, httpx.NewError(http.StatusConflict, httpx.CodeConflict, "this tenant already has a member with this email"))
		return
	}
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	s.audit(c, "member.create", tid, mem.ID, "role", mem.Role)
	c.JSON(http.StatusCreated, gin.H{"member": toMemberJSON(mem)})
}
