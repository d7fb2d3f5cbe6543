package api

import (
	"errors"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/push"
)

// errNoPush answers the push routes of a server without a push service.
var errNoPush = httpx.NewError(http.StatusServiceUnavailable, httpx.CodePushUnavailable, "push is not available on this server")

// needPush refuses a push route when the server has no push service.
func (s *Server) needPush(c *gin.Context) {
	if s.push == nil {
		httpx.WriteError(c, errNoPush)
		return
	}
	c.Next()
}

// failPush translates the errors of the push service into API errors;
// notFound is the error of push.ErrNotFound on this route.
func failPush(c *gin.Context, err error, notFound *httpx.Error) {
	var ve *push.ValidationError
	switch {
	case errors.As(err, &ve):
		httpx.WriteError(c, httpx.FieldError(ve.Field, ve.Reason))
	case errors.Is(err, push.ErrNotFound):
		httpx.WriteError(c, notFound)
	case errors.Is(err, push.ErrTooManyDevices):
		httpx.WriteError(c, httpx.NewError(http.StatusConflict, httpx.CodeTooManyDevices, err.Error()))
	default:
		httpx.Fail(c, err)
	}
}

var (
	errUserNotFound   = httpx.NewError(http.StatusNotFound, httpx.CodeUserNotFound, "no user with this id")
	errDeviceNotFound = httpx.NewError(http.StatusNotFound, httpx.CodeDeviceNotFound, "the user has no device with this id registered for push")
	errConvNotFound   = httpx.NewError(http.StatusNotFound, httpx.CodeConversationAbsent, "the user is not a member of this conversation")
)

type deviceJSON struct {
	ID          string    `json:"id"`
	UserID      string    `json:"user_id"`
	Platform    string    `json:"platform"`
	Provider    string    `json:"provider"`
	Token       string    `json:"token"`
	Topic       string    `json:"topic"`
	Environment string    `json:"environment"`
	Locale      string    `json:"locale"`
	TimeZone    string    `json:"time_zone"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func toDeviceJSON(d store.Device) deviceJSON {
	return deviceJSON{ID: d.ID, UserID: d.UserID, Platform: d.Platform, Provider: d.Provider, Token: d.Token,
		Topic: d.Topic, Environment: d.Environment, Locale: d.Locale, TimeZone: d.TimeZone,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
}

type deviceInput struct {
	Platform    string `json:"platform"`
	Provider    string `json:"provider"`
	Token       string `json:"token"`
	Topic       string `json:"topic"`
	Environment string `json:"environment"`
	Locale      string `json:"locale"`
	TimeZone    string `json:"time_zone"`
}

// registerDevice serves PUT /v1/users/{id}/devices/{device_id}.
func (s *Server) registerDevice(c *gin.Context) {
	var in deviceInput
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	d, err := s.push.RegisterDevice(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), c.Param("device_id"), push.Registration(in))
	if err != nil {
		failPush(c, err, errUserNotFound)
		return
	}
	c.JSON(http.StatusOK, gin.H{"device": toDeviceJSON(d)})
}

// listDevices serves GET /v1/users/{id}/devices.
func (s *Server) listDevices(c *gin.Context) {
	ds, err := s.push.Devices(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"))
	if err != nil {
		failPush(c, err, errUserNotFound)
		return
	}
	out := make([]deviceJSON, len(ds))
	for i, d := range ds {
		out[i] = toDeviceJSON(d)
	}
	c.JSON(http.StatusOK, gin.H{"devices": out})
}

// unregisterDevice serves DELETE /v1/users/{id}/devices/{device_id}.
func (s *Server) unregisterDevice(c *gin.Context) {
	if err := s.push.UnregisterDevice(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), c.Param("device_id")); err != nil {
		failPush(c, err, errDeviceNotFound)
		return
	}
	c.Status(http.StatusNoContent)
}

type pushSettingsJSON struct {
	Disabled  bool      `json:"disabled"`
	DNDStart  int       `json:"dnd_start"`
	DNDEnd    int       `json:"dnd_end"`
	TimeZone  string    `json:"time_zone"`
	UpdatedAt time.Time `json:"updated_at"`
}

type pushSettingsInput struct {
	Disabled bool   `json:"disabled"`
	DNDStart int    `json:"dnd_start"`
	DNDEnd   int    `json:"dnd_end"`
	TimeZone string `json:"time_zone"`
}

func toPushSettingsJSON(p store.PushSettings) pushSettingsJSON {
	return pushSettingsJSON{Disabled: p.Disabled, DNDStart: p.DNDStart, DNDEnd: p.DNDEnd, TimeZone: p.TimeZone, UpdatedAt: p.UpdatedAt}
}

// getPushSettings serves GET /v1/users/{id}/push-settings.
func (s *Server) getPushSettings(c *gin.Context) {
	p, err := s.push.Settings(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"))
	if err != nil {
		failPush(c, err, errUserNotFound)
		return
	}
	c.JSON(http.StatusOK, gin.H{"push_settings": toPushSettingsJSON(p)})
}

// setPushSettings serves PUT /v1/users/{id}/push-settings.
func (s *Server) setPushSettings(c *gin.Context) {
	var in pushSettingsInput
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	p, err := s.push.SetSettings(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), store.PushSettings{
		Disabled: in.Disabled, DNDStart: in.DNDStart, DNDEnd: in.DNDEnd, TimeZone: in.TimeZone,
	})
	if err != nil {
		failPush(c, err, errUserNotFound)
		return
	}
	c.JSON(http.StatusOK, gin.H{"push_settings": toPushSettingsJSON(p)})
}

type muteInput struct {
	Muted *bool `json:"muted"`
}

// muteConversation serves PUT /v1/users/{id}/conversations/{conv}/mute.
func (s *Server) muteConversation(c *gin.Context) {
	var in muteInput
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	if in.Muted == nil {
		httpx.WriteError(c, httpx.FieldError("muted", "is required: true or false"))
		return
	}
	if err := s.push.MuteConversation(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), c.Param("conv"), *in.Muted); err != nil {
		failPush(c, err, errConvNotFound)
		return
	}
	c.Status(http.StatusNoContent)
}

// pushLog serves GET /v1/push/log: the push log of a user, a conversation
// or one of its messages.
func (s *Server) pushLog(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	q := store.PushLogQuery{UserID: c.Query("user_id"), ConvID: c.Query("conv_id"), After: after, Limit: limit + 1}
	if q.Seq, ae = int64Param(c, "seq"); ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	es, err := s.push.Log(c.Request.Context(), httpx.Creds(c).App.ID, q)
	if err != nil {
		failPush(c, err, errUserNotFound)
		return
	}
	httpx.WritePushLog(c, es, limit)
}

// pushOutbox serves GET /v1/push/outbox: the notifications recorded for
// users of an app without push credentials.
func (s *Server) pushOutbox(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	es, err := s.push.Outbox(c.Request.Context(), httpx.Creds(c).App.ID, c.Query("user_id"), after, limit+1)
	if err != nil {
		failPush(c, err, errUserNotFound)
		return
	}
	httpx.WriteOutbox(c, es, limit)
}
