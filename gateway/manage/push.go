package manage

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/push/provider"
)

// needPush refuses a push route when the server has no push service.
func (s *Server) needPush(c *gin.Context) {
	if s.cfg.Push == nil {
		httpx.WriteError(c, httpx.NewError(http.StatusServiceUnavailable, httpx.CodePushUnavailable, "push is not available on this server"))
		return
	}
	c.Next()
}

// credentialJSON shows a push credential: what Info holds, never the
// sealed secret.
type credentialJSON struct {
	Provider  string            `json:"provider"`
	Info      map[string]string `json:"info"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

func toCredentialJSON(c store.PushCredential) credentialJSON {
	info := c.Info
	if info == nil {
		info = map[string]string{}
	}
	return credentialJSON{Provider: c.Provider, Info: info, CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

// failCredential translates the errors of the push service's credential
// methods.
func failCredential(c *gin.Context, err error) {
	switch {
	case errors.Is(err, provider.ErrCredential):
		httpx.WriteError(c, httpx.NewError(http.StatusBadRequest, httpx.CodeInvalidCredential, err.Error()))
	case errors.Is(err, push.ErrNotFound):
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeNotFound, "the app has no credential for this provider"))
	default:
		httpx.Fail(c, err)
	}
}

func (s *Server) listCredentials(c *gin.Context) {
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	cs, err := s.cfg.Push.Credentials(c.Request.Context(), app.ID)
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	out := make([]credentialJSON, len(cs))
	for i, cr := range cs {
		out[i] = toCredentialJSON(cr)
	}
	c.JSON(http.StatusOK, gin.H{"credentials": out})
}

type apnsInput struct {
	Key    string `json:"key"`
	KeyID  string `json:"key_id"`
	TeamID string `json:"team_id"`
	Topic  string `json:"topic"`
}

type fcmInput struct {
	// ServiceAccount is the key file: its JSON object, or a string
	// holding it.
	ServiceAccount json.RawMessage `json:"service_account"`
}

// setCredential serves PUT /manage/v1/apps/{app}/push/credentials/apns
// and /fcm.
func (s *Server) setCredential(c *gin.Context) {
	prov := c.Param("provider")
	if prov != push.ProviderAPNs && prov != push.ProviderFCM {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, `no such provider: use "apns" or "fcm"`))
		return
	}
	var apns apnsInput
	var fcm fcmInput
	in := any(&apns)
	if prov == push.ProviderFCM {
		in = &fcm
	}
	if err := httpx.DecodeJSON(c, in); err != nil {
		httpx.Fail(c, err)
		return
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	var cred store.PushCredential
	var err error
	if prov == push.ProviderAPNs {
		cred, err = s.cfg.Push.SetAPNs(ctx, app.ID, push.APNsCredential{Key: []byte(apns.Key), KeyID: apns.KeyID, TeamID: apns.TeamID, Topic: apns.Topic})
	} else {
		cred, err = s.cfg.Push.SetFCM(ctx, app.ID, serviceAccount(fcm.ServiceAccount))
	}
	if err != nil {
		failCredential(c, err)
		return
	}
	s.audit(c, "push_credential.set", app.TenantID, app.ID, "provider", prov)
	c.JSON(http.StatusOK, gin.H{"credential": toCredentialJSON(cred)})
}

// serviceAccount returns the key file of a service_account value: the
// object itself, or the contents of a string (a key file pasted as text).
func serviceAccount(raw json.RawMessage) []byte {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []byte(s)
	}
	return raw
}

func (s *Server) deleteCredential(c *gin.Context) {
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	prov := c.Param("provider")
	if err := s.cfg.Push.DeleteCredential(c.Request.Context(), app.ID, prov); err != nil {
		failCredential(c, err)
		return
	}
	s.audit(c, "push_credential.delete", app.TenantID, app.ID, "provider", prov)
	c.Status(http.StatusNoContent)
}

// credentialAction serves POST
// /manage/v1/apps/{app}/push/credentials/{provider}:check. Provider names
// cannot contain ':', so the verb is what follows the first one.
func (s *Server) credentialAction(c *gin.Context) {
	prov, verb, ok := strings.Cut(c.Param("provider"), ":")
	if !ok || verb != "check" {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "unknown action; use :check"))
		return
	}
	app, ok := s.loadApp(c, false) // a check changes nothing: viewers may run it
	if !ok {
		return
	}
	err := s.cfg.Push.CheckCredential(c.Request.Context(), app.ID, prov)
	switch {
	case err == nil:
		c.JSON(http.StatusOK, gin.H{"ok": true})
	case errors.Is(err, provider.ErrCredential):
		c.JSON(http.StatusOK, gin.H{"ok": false, "error": err.Error()})
	case errors.Is(err, push.ErrNotFound):
		failCredential(c, err)
	default:
		httpx.WriteError(c, httpx.NewError(http.StatusBadGateway, httpx.CodeUnreachable,
			"the provider could not be reached to check the credential; retry later: "+err.Error()))
	}
}

// pushLog serves GET /manage/v1/apps/{app}/push/log: the app's push log,
// or a user's, a conversation's or a message's.
func (s *Server) pushLog(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	q := store.PushLogQuery{UserID: c.Query("user_id"), ConvID: c.Query("conv_id"), After: after, Limit: limit + 1}
	if v := c.Query("seq"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || q.ConvID == "" {
			httpx.WriteError(c, httpx.FieldError("seq", "must be a non-negative integer, given with conv_id"))
			return
		}
		q.Seq = n
	}
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	es, err := s.store.App(app.ID).ListPushLog(c.Request.Context(), q)
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	httpx.WritePushLog(c, es, limit)
}

// pushOutbox serves GET /manage/v1/apps/{app}/push/outbox: the
// notifications recorded while the app had no push credentials.
func (s *Server) pushOutbox(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	es, err := s.cfg.Push.Outbox(c.Request.Context(), app.ID, c.Query("user_id"), after, limit+1)
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	httpx.WriteOutbox(c, es, limit)
}
