package manage

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/tenant"
)

type appJSON struct {
	ID        string         `json:"id"`
	TenantID  string         `json:"tenant_id"`
	Name      string         `json:"name"`
	Key       string         `json:"app_key"`
	Disabled  bool           `json:"disabled"`
	Limits    store.Limits   `json:"limits"`
	Effective store.Limits   `json:"effective_limits"`
	Settings  store.Settings `json:"settings"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

func (s *Server) toAppJSON(a store.App) appJSON {
	return appJSON{ID: a.ID, TenantID: a.TenantID, Name: a.Name, Key: a.Key, Disabled: a.Disabled,
		Limits: a.Limits, Effective: s.tenants.EffectiveLimits(a), Settings: a.Settings,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
}

type secretJSON struct {
	ID        string     `json:"id"`
	Secret    string     `json:"secret,omitempty"` // only when created
	Hint      string     `json:"hint"`
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

func toSecretJSON(s store.Secret, plain string) secretJSON {
	out := secretJSON{ID: s.ID, Secret: plain, Hint: s.Hint, CreatedAt: s.CreatedAt}
	if !s.Active() {
		out.RevokedAt = &s.RevokedAt
	}
	return out
}

// tenantAccess checks the member may view (or, with manage, change) a
// tenant's apps. A tenant the member cannot see answers 404, so ids of other
// tenants are not confirmed to exist.
func tenantAccess(c *gin.Context, tenantID string, manage bool) bool {
	m := memberOf(c)
	if !tenant.CanView(m, tenantID) {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeNotFound, "no such tenant"))
		return false
	}
	if manage && !tenant.CanManage(m, tenantID) {
		httpx.WriteError(c, httpx.NewError(http.StatusForbidden, httpx.CodeForbidden, "viewers cannot change apps"))
		return false
	}
	return true
}

// loadApp fetches the app named in the path if the member may access it.
func (s *Server) loadApp(c *gin.Context, manage bool) (store.App, bool) {
	app, err := s.tenants.GetApp(c.Request.Context(), c.Param("app"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !tenant.CanView(memberOf(c), app.TenantID)) {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeNotFound, "no such app"))
		return store.App{}, false
	}
	if err != nil {
		httpx.Fail(c, err)
		return store.App{}, false
	}
	if !tenantAccess(c, app.TenantID, manage) {
		return store.App{}, false
	}
	return app, true
}

func (s *Server) listApps(c *gin.Context) {
	tid := c.Param("tenant")
	if !tenantAccess(c, tid, false) {
		return
	}
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	apps, err := s.tenants.ListApps(c.Request.Context(), tid, after, limit+1)
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	apps, next := httpx.TrimPage(apps, limit, func(x store.App) string { return x.ID })
	out := make([]appJSON, len(apps))
	for i, a := range apps {
		out[i] = s.toAppJSON(a)
	}
	c.JSON(http.StatusOK, gin.H{"apps": out, "next_cursor": next})
}

func (s *Server) createApp(c *gin.Context) {
	tid := c.Param("tenant")
	if !tenantAccess(c, tid, true) {
		return
	}
	var in nameRequest
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	app, sec, err := s.tenants.CreateApp(c.Request.Context(), tid, in.Name)
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"app": s.toAppJSON(app), "secret": toSecretJSON(sec.Secret, sec.Plain)})
}

func (s *Server) getApp(c *gin.Context) {
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, gin.H{"app": s.toAppJSON(app)})
}

type appPatch struct {
	Name     *string         `json:"name"`
	Disabled *bool           `json:"disabled"`
	Limits   *store.Limits   `json:"limits"`
	Settings *store.Settings `json:"settings"`
}

func (s *Server) updateApp(c *gin.Context) {
	var in appPatch
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	app, err := s.tenants.UpdateApp(c.Request.Context(), app.ID, tenant.AppUpdate(in))
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	s.appChanged(c.Request.Context(), app.ID)
	c.JSON(http.StatusOK, gin.H{"app": s.toAppJSON(app)})
}

func (s *Server) listSecrets(c *gin.Context) {
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	secrets, err := s.tenants.ListSecrets(c.Request.Context(), app.ID)
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	out := make([]secretJSON, len(secrets))
	for i, s := range secrets {
		out[i] = toSecretJSON(s, "")
	}
	c.JSON(http.StatusOK, gin.H{"secrets": out})
}

func (s *Server) rotateSecret(c *gin.Context) {
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	sec, err := s.tenants.RotateSecret(c.Request.Context(), app.ID)
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"secret": toSecretJSON(sec.Secret, sec.Plain)})
}

func (s *Server) revokeSecret(c *gin.Context) {
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	if err := s.tenants.RevokeSecret(c.Request.Context(), app.ID, c.Param("secret")); err != nil {
		httpx.Fail(c, err)
		return
	}
	// Sessions whose token the revoked secret signed end now, on every
	// node (4006: they come back with a token signed by a secret still
	// active).
	s.appChanged(c.Request.Context(), app.ID)
	c.Status(http.StatusNoContent)
}
