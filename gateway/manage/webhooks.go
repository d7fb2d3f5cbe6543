package manage

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/webhook"
)

// needWebhooks refuses a webhook route when the server has no webhook
// service.
func (s *Server) needWebhooks(c *gin.Context) {
	if s.cfg.Webhooks == nil {
		httpx.WriteError(c, httpx.NewError(http.StatusServiceUnavailable, httpx.CodeUnavailable, "webhooks are not available on this server"))
		return
	}
	c.Next()
}

// webhookJSON shows an endpoint: never a secret, only their hints.
type webhookJSON struct {
	ID             string              `json:"id"`
	Kind           string              `json:"kind"`
	URL            string              `json:"url"`
	Description    string              `json:"description"`
	Events         []string            `json:"events"`
	Enabled        bool                `json:"enabled"`
	DisabledReason string              `json:"disabled_reason,omitempty"`
	TimeoutMs      int64               `json:"timeout_ms,omitempty"`
	FailOpen       bool                `json:"fail_open"`
	ServerAPI      bool                `json:"server_api"`
	Secrets        []webhookSecretJSON `json:"secrets"`
	Failures       int                 `json:"failures"`
	FailingSince   *time.Time          `json:"failing_since,omitempty"`
	CreatedAt      time.Time           `json:"created_at"`
	UpdatedAt      time.Time           `json:"updated_at"`
	// Secret is the new secret, shown once: on creation and rotation.
	Secret string `json:"secret,omitempty"`
}

type webhookSecretJSON struct {
	ID        string     `json:"id"`
	Hint      string     `json:"hint"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
}

func toWebhookJSON(w store.Webhook, secret string) webhookJSON {
	out := webhookJSON{ID: w.ID, Kind: w.Kind, URL: w.URL, Description: w.Description, Events: w.Events, Enabled: w.Enabled,
		DisabledReason: w.DisabledReason, TimeoutMs: w.Timeout.Milliseconds(), FailOpen: w.FailOpen, ServerAPI: w.ServerAPI,
		Failures: w.Failures, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, Secret: secret, Secrets: []webhookSecretJSON{}}
	if out.Events == nil {
		out.Events = []string{}
	}
	if !w.FailingSince.IsZero() {
		t := w.FailingSince
		out.FailingSince = &t
	}
	for _, sec := range w.Secrets {
		sj := webhookSecretJSON{ID: sec.ID, Hint: sec.Hint, CreatedAt: sec.CreatedAt}
		if !sec.ExpiresAt.IsZero() {
			t := sec.ExpiresAt
			sj.ExpiresAt = &t
		}
		out.Secrets = append(out.Secrets, sj)
	}
	return out
}

// webhookInput is the body of POST and PATCH; absent fields keep their
// value (PATCH) or take their default (POST).
type webhookInput struct {
	Kind        string    `json:"kind"`
	URL         *string   `json:"url"`
	Description *string   `json:"description"`
	Events      *[]string `json:"events"`
	Enabled     *bool     `json:"enabled"`
	TimeoutMs   *int64    `json:"timeout_ms"`
	FailOpen    *bool     `json:"fail_open"`
	ServerAPI   *bool     `json:"server_api"`
}

func (in webhookInput) input() webhook.Input {
	out := webhook.Input{Kind: in.Kind, URL: in.URL, Description: in.Description, Events: in.Events, Enabled: in.Enabled,
		FailOpen: in.FailOpen, ServerAPI: in.ServerAPI}
	if in.TimeoutMs != nil {
		d := time.Duration(*in.TimeoutMs) * time.Millisecond
		out.Timeout = &d
	}
	return out
}

// failWebhook translates the webhook service's errors.
func failWebhook(c *gin.Context, err error) {
	var ve *webhook.ValidationError
	switch {
	case errors.As(err, &ve):
		httpx.WriteError(c, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeValidation, Field: ve.Field, Message: ve.Error()})
	case errors.Is(err, webhook.ErrNotFound):
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeNotFound, "no such webhook endpoint or event in this app"))
	case errors.Is(err, webhook.ErrLimit):
		httpx.WriteError(c, httpx.NewError(http.StatusConflict, httpx.CodeTooManyWebhooks, err.Error()))
	default:
		httpx.Fail(c, err)
	}
}

func (s *Server) listWebhooks(c *gin.Context) {
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	ws, err := s.cfg.Webhooks.List(c.Request.Context(), app.ID)
	if err != nil {
		failWebhook(c, err)
		return
	}
	out := make([]webhookJSON, len(ws))
	for i, w := range ws {
		out[i] = toWebhookJSON(w, "")
	}
	c.JSON(http.StatusOK, gin.H{"webhooks": out, "event_types": webhook.EventTypes})
}

func (s *Server) createWebhook(c *gin.Context) {
	var in webhookInput
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	w, secret, err := s.cfg.Webhooks.Create(c.Request.Context(), app.ID, in.input())
	if err != nil {
		failWebhook(c, err)
		return
	}
	s.audit(c, "webhook.create", app.TenantID, app.ID, "webhook_id", w.ID, "kind", w.Kind)
	s.appChanged(c.Request.Context(), app.ID)
	c.JSON(http.StatusCreated, gin.H{"webhook": toWebhookJSON(w, secret)})
}

func (s *Server) getWebhook(c *gin.Context) {
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	w, err := s.cfg.Webhooks.Get(c.Request.Context(), app.ID, c.Param("webhook"))
	if err != nil {
		failWebhook(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"webhook": toWebhookJSON(w, "")})
}

func (s *Server) updateWebhook(c *gin.Context) {
	var in webhookInput
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	if in.Kind != "" {
		httpx.WriteError(c, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeValidation, Field: "kind", Message: "kind: an endpoint's kind cannot change"})
		return
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	w, err := s.cfg.Webhooks.Update(c.Request.Context(), app.ID, c.Param("webhook"), in.input())
	if err != nil {
		failWebhook(c, err)
		return
	}
	s.audit(c, "webhook.update", app.TenantID, app.ID, "webhook_id", w.ID)
	s.appChanged(c.Request.Context(), app.ID)
	c.JSON(http.StatusOK, gin.H{"webhook": toWebhookJSON(w, "")})
}

func (s *Server) deleteWebhook(c *gin.Context) {
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	id := c.Param("webhook")
	if err := s.cfg.Webhooks.Delete(c.Request.Context(), app.ID, id); err != nil {
		failWebhook(c, err)
		return
	}
	s.audit(c, "webhook.delete", app.TenantID, app.ID, "webhook_id", id)
	s.appChanged(c.Request.Context(), app.ID)
	c.Status(http.StatusNoContent)
}

// webhookAction serves POST /manage/v1/apps/{app}/webhooks/{webhook}:rotate-secret
// and :test. Endpoint ids cannot contain ':'.
func (s *Server) webhookAction(c *gin.Context) {
	id, verb, _ := strings.Cut(c.Param("webhook"), ":")
	switch verb {
	case "rotate-secret":
		s.rotateWebhookSecret(c, id)
	case "test":
		s.testWebhook(c, id)
	default:
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "unknown action; use :rotate-secret or :test"))
	}
}

// revokeWebhookSecret serves DELETE
// /manage/v1/apps/{app}/webhooks/{webhook}/secrets/{secret}: the end of a
// rotation's overlap, now.
func (s *Server) revokeWebhookSecret(c *gin.Context) {
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	id := c.Param("webhook")
	w, err := s.cfg.Webhooks.RevokeSecret(c.Request.Context(), app.ID, id, c.Param("secret"))
	if err != nil {
		failWebhook(c, err)
		return
	}
	s.audit(c, "webhook.revoke_secret", app.TenantID, app.ID, "webhook_id", id, "secret_id", c.Param("secret"))
	s.appChanged(c.Request.Context(), app.ID)
	c.JSON(http.StatusOK, gin.H{"webhook": toWebhookJSON(w, "")})
}

type rotateInput struct {
	// OverlapSeconds is how long the current secret keeps signing; absent
	// means a day.
	OverlapSeconds *int64 `json:"overlap_seconds"`
}

func (s *Server) rotateWebhookSecret(c *gin.Context, id string) {
	var in rotateInput
	if len(httpx.Body(c)) > 0 {
		if err := httpx.DecodeJSON(c, &in); err != nil {
			httpx.Fail(c, err)
			return
		}
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	overlap := webhook.DefaultOverlap
	if in.OverlapSeconds != nil {
		overlap = time.Duration(*in.OverlapSeconds) * time.Second
	}
	w, secret, err := s.cfg.Webhooks.RotateSecret(c.Request.Context(), app.ID, id, overlap)
	if err != nil {
		failWebhook(c, err)
		return
	}
	s.audit(c, "webhook.rotate_secret", app.TenantID, app.ID, "webhook_id", id)
	s.appChanged(c.Request.Context(), app.ID)
	c.JSON(http.StatusOK, gin.H{"webhook": toWebhookJSON(w, secret)})
}

func (s *Server) testWebhook(c *gin.Context, id string) {
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	evID, err := s.cfg.Webhooks.SendTest(c.Request.Context(), app.ID, id)
	if err != nil {
		failWebhook(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"event_id": evID})
}

// attemptJSON shows one delivery attempt.
type attemptJSON struct {
	ID        string    `json:"id"`
	EventID   string    `json:"event_id"`
	EventType string    `json:"event_type"`
	Attempt   int       `json:"attempt"`
	Outcome   string    `json:"outcome"`
	Status    int       `json:"status"`
	Error     string    `json:"error,omitempty"`
	Response  string    `json:"response"`
	LatencyMs int64     `json:"latency_ms"`
	At        time.Time `json:"at"`
}

// maxAttemptPage bounds a page of the delivery log.
const maxAttemptPage = 200

func (s *Server) listWebhookAttempts(c *gin.Context) {
	limit := 50
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAttemptPage {
			httpx.WriteError(c, &httpx.Error{Status: http.StatusBadRequest, Code: httpx.CodeValidation, Field: "limit",
				Message: "limit must be from 1 to " + strconv.Itoa(maxAttemptPage)})
			return
		}
		limit = n
	}
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	as, err := s.cfg.Webhooks.Attempts(c.Request.Context(), app.ID, store.WebhookAttemptQuery{
		WebhookID: c.Param("webhook"), EventID: c.Query("event_id"), Before: c.Query("before"), Limit: limit + 1,
	})
	if err != nil {
		failWebhook(c, err)
		return
	}
	next := ""
	if len(as) > limit {
		as = as[:limit]
		next = as[limit-1].ID
	}
	out := make([]attemptJSON, len(as))
	for i, a := range as {
		out[i] = attemptJSON{ID: a.ID, EventID: a.EventID, EventType: a.EventType, Attempt: a.Attempt, Outcome: a.Outcome,
			Status: a.Status, Error: a.Error, Response: a.Response, LatencyMs: a.Latency.Milliseconds(), At: a.At}
	}
	c.JSON(http.StatusOK, gin.H{"attempts": out, "next": next})
}

// webhookEvent serves GET .../webhooks/{webhook}/events/{event}: the
// event as delivered.
func (s *Server) webhookEvent(c *gin.Context) {
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	if _, err := s.cfg.Webhooks.Get(c.Request.Context(), app.ID, c.Param("webhook")); err != nil {
		failWebhook(c, err)
		return
	}
	ev, err := s.cfg.Webhooks.Event(c.Request.Context(), app.ID, c.Param("event"))
	if err != nil {
		failWebhook(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"id": ev.ID, "type": ev.Type, "created_at": ev.CreatedAt, "payload": rawJSON(ev.Payload)})
}

// replayWebhookEvent serves POST .../webhooks/{webhook}/events/{event}:replay.
func (s *Server) replayWebhookEvent(c *gin.Context) {
	id, verb, _ := strings.Cut(c.Param("event"), ":")
	if verb != "replay" {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "unknown action; use :replay"))
		return
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	if err := s.cfg.Webhooks.Replay(c.Request.Context(), app.ID, c.Param("webhook"), id); err != nil {
		failWebhook(c, err)
		return
	}
	s.audit(c, "webhook.replay", app.TenantID, app.ID, "webhook_id", c.Param("webhook"), "event_id", id)
	c.JSON(http.StatusAccepted, gin.H{"event_id": id})
}

// rawJSON is a stored JSON document served as it is.
type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// keywordsJSON shows an app's keyword rules.
type keywordsJSON struct {
	Rules     []keywordRuleJSON `json:"rules"`
	UpdatedAt *time.Time        `json:"updated_at,omitempty"`
}

type keywordRuleJSON struct {
	Word   string `json:"word"`
	Action string `json:"action"`
}

func toKeywordsJSON(k store.KeywordRules) keywordsJSON {
	out := keywordsJSON{Rules: make([]keywordRuleJSON, len(k.Rules))}
	for i, r := range k.Rules {
		out.Rules[i] = keywordRuleJSON{Word: r.Word, Action: r.Action}
	}
	if !k.UpdatedAt.IsZero() {
		t := k.UpdatedAt
		out.UpdatedAt = &t
	}
	return out
}

func (s *Server) getKeywords(c *gin.Context) {
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	k, err := s.cfg.Webhooks.Keywords(c.Request.Context(), app.ID)
	if err != nil {
		failWebhook(c, err)
		return
	}
	c.JSON(http.StatusOK, toKeywordsJSON(k))
}

// putKeywords serves PUT /manage/v1/apps/{app}/moderation/keywords: the
// whole list is replaced.
func (s *Server) putKeywords(c *gin.Context) {
	var in struct {
		Rules []keywordRuleJSON `json:"rules"`
	}
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	rules := make([]store.KeywordRule, len(in.Rules))
	for i, r := range in.Rules {
		rules[i] = store.KeywordRule{Word: r.Word, Action: r.Action}
	}
	k, err := s.cfg.Webhooks.SetKeywords(c.Request.Context(), app.ID, rules)
	if err != nil {
		failWebhook(c, err)
		return
	}
	s.audit(c, "moderation.keywords.set", app.TenantID, app.ID, "rules", len(rules))
	s.appChanged(c.Request.Context(), app.ID)
	c.JSON(http.StatusOK, toKeywordsJSON(k))
}
