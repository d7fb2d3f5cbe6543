package manage

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/wire"
	"github.com/magpie-im/magpie/tenant"
	"github.com/magpie-im/magpie/users"
)

// TestTokenTTL is the lifetime of a test token the console issues (or the
// app's maximum token lifetime, if shorter).
const TestTokenTTL = 10 * time.Minute

// needUsers refuses a users or messages route when the server has no users
// service or messaging core.
func (s *Server) needUsers(c *gin.Context) {
	if s.cfg.Users == nil || s.cfg.Messages == nil {
		httpx.WriteError(c, httpx.NewError(http.StatusServiceUnavailable, httpx.CodeUnavailable, "users and messages are not available on this server"))
		return
	}
	c.Next()
}

// listUsers serves GET /manage/v1/apps/{app}/users: a page of users in id
// order, like the server API's, optionally only those whose id starts with
// prefix. The users are listed by id after the cursor, so a prefix search
// starts at the prefix and stops at the first id that no longer matches.
func (s *Server) listUsers(c *gin.Context) {
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	ctx, prefix := c.Request.Context(), c.Query("prefix")
	var us []store.User
	if prefix != "" && after < prefix {
		// The first page of a search: the user whose id is the prefix
		// itself (ListUsers lists ids after the cursor), then the rest.
		u, err := s.cfg.Users.Get(ctx, app.ID, prefix)
		var ve *users.ValidationError
		switch {
		case err == nil:
			us = append(us, u)
		case errors.Is(err, users.ErrNotFound), errors.As(err, &ve):
		default:
			httpx.Fail(c, err)
			return
		}
		after = prefix
	}
	more, err := s.cfg.Users.List(ctx, app.ID, after, limit+1-len(us))
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	us = append(us, more...)
	if prefix != "" {
		for i, u := range us {
			if !strings.HasPrefix(u.ID, prefix) {
				us = us[:i]
				break
			}
		}
	}
	us, next := httpx.TrimPage(us, limit, func(x store.User) string { return x.ID })
	out := make([]httpx.UserJSON, len(us))
	for i, u := range us {
		out[i] = httpx.ToUserJSON(u)
	}
	c.JSON(http.StatusOK, gin.H{"users": out, "next_cursor": next})
}

func (s *Server) getUser(c *gin.Context) {
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	u, err := s.cfg.Users.Get(c.Request.Context(), app.ID, c.Param("id"))
	if err != nil {
		httpx.FailUser(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"user": httpx.ToUserJSON(u)})
}

// userAction serves POST /manage/v1/apps/{app}/users/{id}:block and
// :unblock. Blocking ends the user's live sessions on every node (the users
// service publishes the change).
func (s *Server) userAction(c *gin.Context) {
	id, verb, _ := strings.Cut(c.Param("id"), ":")
	if verb != "block" && verb != "unblock" {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "unknown action; use :block or :unblock"))
		return
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	u, err := s.cfg.Users.SetBlocked(c.Request.Context(), app.ID, id, verb == "block")
	if err != nil {
		httpx.FailUser(c, err)
		return
	}
	s.audit(c, "user."+verb, app.TenantID, id, "app_id", app.ID)
	c.JSON(http.StatusOK, gin.H{"user": httpx.ToUserJSON(u)})
}

func (s *Server) deleteUser(c *gin.Context) {
	id := c.Param("id")
	if err := users.CheckID(id); err != nil {
		httpx.FailUser(c, err)
		return
	}
	var erase bool
	switch v := c.Query("erase_messages"); v {
	case "", "false":
	case "true":
		erase = true
	default:
		httpx.WriteError(c, httpx.FieldError("erase_messages", `must be "true" or "false"`))
		return
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	if err := s.cfg.Users.Delete(c.Request.Context(), app.ID, id, erase); err != nil {
		httpx.FailUser(c, err)
		return
	}
	s.audit(c, "user.delete", app.TenantID, id, "app_id", app.ID, "erase_messages", erase)
	c.Status(http.StatusNoContent)
}

// revokeTokens serves POST /manage/v1/apps/{app}/users/{id}/tokens:revoke
// like the server API's: the user's tokens issued before now stop working,
// live sessions using one are closed, and push devices registered before
// now are unregistered.
func (s *Server) revokeTokens(c *gin.Context) {
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	ctx, id := c.Request.Context(), c.Param("id")
	before, err := s.cfg.Users.RevokeTokens(ctx, app.ID, id)
	if err != nil {
		httpx.FailUser(c, err)
		return
	}
	s.audit(c, "user.revoke_tokens", app.TenantID, id, "app_id", app.ID)
	if s.cfg.Push != nil {
		if _, err := s.cfg.Push.ForgetDevices(ctx, app.ID, id, before); err != nil {
			httpx.Fail(c, err)
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"revoked_before": before})
}

// issueTestToken serves POST /manage/v1/apps/{app}/users/{id}/tokens: a
// client token for trying the app as the user, living TestTokenTTL (or
// the app's maximum, if shorter).
func (s *Server) issueTestToken(c *gin.Context) {
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	ttl := min(TestTokenTTL, tenant.MaxTokenLifetime(app))
	grant, err := s.cfg.Users.CheckToken(ctx, app, c.Param("id"), int64(ttl/time.Second))
	if err != nil {
		httpx.FailUser(c, err)
		return
	}
	creds, err := s.tenants.Resolve(ctx, app.Key)
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	tok, exp, err := s.cfg.Users.IssueToken(creds, grant)
	if err != nil {
		httpx.Fail(c, err)
		return
	}
	s.audit(c, "user.test_token", app.TenantID, grant.User.ID, "app_id", app.ID)
	c.JSON(http.StatusCreated, gin.H{"token": tok, "expires_at": exp})
}

// listMessages serves GET /manage/v1/apps/{app}/conversations/{conv}/messages
// like the server API's: by seq, in either direction.
func (s *Server) listMessages(c *gin.Context) {
	q, ae := httpx.HistoryQuery(c, c.Param("conv"))
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	msgs, more, err := s.cfg.Messages.History(c.Request.Context(), app.ID, q)
	if err != nil {
		httpx.FailMessaging(c, err)
		return
	}
	out := make([]httpx.MessageJSON, len(msgs))
	for i, m := range msgs {
		out[i] = httpx.ToMessageJSON(m)
	}
	c.JSON(http.StatusOK, gin.H{"messages": out, "has_more": more})
}

// messageAction serves POST
// /manage/v1/apps/{app}/conversations/{conv}/messages/{seq}:recall.
func (s *Server) messageAction(c *gin.Context) {
	seq, verb, ae := httpx.ParseSeq(c.Param("seq"))
	if verb != "recall" {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "unknown action; use :recall"))
		return
	}
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	conv := c.Param("conv")
	m, err := s.cfg.Messages.Recall(c.Request.Context(), app.ID, conv, seq)
	if err != nil {
		httpx.FailMessaging(c, err)
		return
	}
	s.audit(c, "message.recall", app.TenantID, conv, "app_id", app.ID, "seq", seq)
	c.JSON(http.StatusOK, gin.H{"message": httpx.ToMessageJSON(m)})
}

type systemMessageRequest struct {
	ToUserID string `json:"to_user_id"`
	Type     string `json:"type"`
	Content  string `json:"content"`
}

// sendSystemMessage serves POST /manage/v1/apps/{app}/messages: a system
// message into a user's system conversation, through the same pipeline as
// the server API's.
func (s *Server) sendSystemMessage(c *gin.Context) {
	var in systemMessageRequest
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	switch {
	case in.ToUserID == "":
		httpx.WriteError(c, httpx.FieldError("to_user_id", "is required"))
		return
	case in.Type == messaging.TypeNotice:
		httpx.WriteError(c, httpx.FieldError("type", `"notice" is reserved for the server's own notices`))
		return
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	a, err := s.cfg.Messages.Send(c.Request.Context(), messaging.SendRequest{
		AppID: app.ID, ToUserID: in.ToUserID, System: true, ServerAPI: true,
		ClientMsgID: "con_" + wire.NewClientMsgID(time.Now()), Type: in.Type, Content: in.Content,
		MaxBytes:  s.tenants.EffectiveLimits(app).MaxMessageBytes,
		PushDelay: time.Duration(app.Settings.Push.DelaySeconds) * time.Second,
	})
	if err != nil {
		httpx.FailMessaging(c, err)
		return
	}
	s.audit(c, "message.send_system", app.TenantID, in.ToUserID, "app_id", app.ID, "seq", a.Seq)
	c.JSON(http.StatusCreated, gin.H{"message": httpx.ToMessageJSON(a.Message)})
}
