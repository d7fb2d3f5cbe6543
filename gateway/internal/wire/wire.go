// Package wire holds what the server API (package api) and the management
// API (package manage) share about users and messages: their JSON shapes
// and the translation of the users service's and the messaging core's
// errors into API errors, so both APIs answer alike.
package wire

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/groups"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/users"
)

// User is a user as the APIs show it.
type User struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	AvatarURL string            `json:"avatar_url"`
	Metadata  map[string]string `json:"metadata"`
	Blocked   bool              `json:"blocked"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// ToUser returns u as the APIs show it.
func ToUser(u store.User) User {
	md := u.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return User{ID: u.ID, Name: u.Name, AvatarURL: u.AvatarURL, Metadata: md, Blocked: u.Blocked,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// FailUser translates the errors of the users service into API errors.
func FailUser(c *gin.Context, err error) {
	var ve *users.ValidationError
	switch {
	case errors.As(err, &ve):
		httpx.WriteError(c, httpx.FieldError(ve.Field, ve.Reason))
	case errors.Is(err, users.ErrNotFound):
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeUserNotFound, "no user with this id"))
	case errors.Is(err, users.ErrExists):
		httpx.WriteError(c, httpx.NewError(http.StatusConflict, httpx.CodeUserExists, "a user with this id already exists"))
	case errors.Is(err, users.ErrBlocked):
		httpx.WriteError(c, httpx.NewError(http.StatusForbidden, httpx.CodeUserBlocked, "the user is blocked"))
	default:
		httpx.Fail(c, err)
	}
}

// Message is a message as the APIs show it.
type Message struct {
	ConvID      string    `json:"conv_id"`
	Seq         int64     `json:"seq"`
	SenderID    string    `json:"sender_id"`
	ClientMsgID string    `json:"client_msg_id"`
	Type        string    `json:"type"`
	Content     string    `json:"content"`
	CreatedAt   time.Time `json:"created_at"`
	Recalled    bool      `json:"recalled"`
	Mentions    []string  `json:"mentions,omitempty"`
	MentionAll  bool      `json:"mention_all,omitempty"`
}

// ToMessage returns m as the APIs show it.
func ToMessage(m store.Message) Message {
	return Message{ConvID: m.ConvID, Seq: m.Seq, SenderID: m.SenderID, ClientMsgID: m.ClientMsgID, Type: m.Type,
		Content: string(m.Body), CreatedAt: m.CreatedAt, Recalled: !m.RecalledAt.IsZero(),
		Mentions: m.Mentions, MentionAll: m.MentionAll}
}

// FailMessaging translates the messaging core's errors into API errors.
func FailMessaging(c *gin.Context, err error) {
	var me *messaging.Error
	switch {
	case errors.As(err, &me):
		status := http.StatusBadRequest
		code := me.Code
		switch me.Code {
		case httpx.CodeUserNotFound, httpx.CodeMessageNotFound, httpx.CodeConversationAbsent, groups.CodeGroupNotFound:
			status = http.StatusNotFound
		case "member_muted", "group_muted":
			status = http.StatusForbidden
		case httpx.CodeMessageTooLarge:
			status = http.StatusRequestEntityTooLarge
		case httpx.CodeForbidden:
			status = http.StatusForbidden
		case "invalid_argument":
			code = httpx.CodeValidation
		case messaging.CodeMessageRejected:
			status = http.StatusUnprocessableEntity
		}
		ae := httpx.NewError(status, code, me.Message)
		ae.Reason = me.Reason
		httpx.WriteError(c, ae)
	case errors.Is(err, messaging.ErrOverloaded), errors.Is(err, messaging.ErrStopped):
		c.Header("Retry-After", "1")
		httpx.WriteError(c, httpx.NewError(http.StatusServiceUnavailable, httpx.CodeUnavailable, err.Error()))
	default:
		httpx.Fail(c, err)
	}
}

// HistoryQuery reads the query of a history request (from_seq, to_seq,
// order, limit) for the conversation conv.
func HistoryQuery(c *gin.Context, conv string) (messaging.MessageQuery, *httpx.Error) {
	q := messaging.MessageQuery{ConvID: conv}
	var ae *httpx.Error
	if q.From, ae = Int64Param(c, "from_seq"); ae != nil {
		return q, ae
	}
	if q.To, ae = Int64Param(c, "to_seq"); ae != nil {
		return q, ae
	}
	switch c.DefaultQuery("order", "asc") {
	case "asc":
	case "desc":
		q.Desc = true
	default:
		return q, httpx.FieldError("order", `must be "asc" or "desc"`)
	}
	limit, ae := httpx.LimitParam(c)
	if ae != nil {
		return q, ae
	}
	q.Limit = limit
	return q, nil
}

// Int64Param reads the non-negative integer query parameter name (0 when
// absent).
func Int64Param(c *gin.Context, name string) (int64, *httpx.Error) {
	s := c.Query(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, httpx.FieldError(name, "must be a non-negative integer")
	}
	return n, nil
}

// ParseSeq reads the seq of a message action path segment ("12:recall"):
// the seq and the verb.
func ParseSeq(param string) (int64, string, *httpx.Error) {
	seqStr, verb, _ := strings.Cut(param, ":")
	seq, err := strconv.ParseInt(seqStr, 10, 64)
	if err != nil || seq < 1 {
		return 0, verb, httpx.FieldError("seq", "must be a positive integer")
	}
	return seq, verb, nil
}
