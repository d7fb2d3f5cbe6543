package httpx

// What the server API (package api) and the management API (package
// manage) share about users and messages: their JSON shapes, history
// queries, and the translation of the users service's and the messaging
// core's errors into API errors, so both APIs answer alike.

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/groups"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/users"
)

// UserJSON is a user as the APIs show it.
type UserJSON struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	AvatarURL string            `json:"avatar_url"`
	Metadata  map[string]string `json:"metadata"`
	Blocked   bool              `json:"blocked"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// ToUserJSON returns u as the APIs show it.
func ToUserJSON(u store.User) UserJSON {
	md := u.Metadata
	if md == nil {
		md = map[string]string{}
	}
	return UserJSON{ID: u.ID, Name: u.Name, AvatarURL: u.AvatarURL, Metadata: md, Blocked: u.Blocked,
		CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// FailUser translates the errors of the users service into API errors.
func FailUser(c *gin.Context, err error) {
	var ve *users.ValidationError
	switch {
	case errors.As(err, &ve):
		WriteError(c, FieldError(ve.Field, ve.Reason))
	case errors.Is(err, users.ErrNotFound):
		WriteError(c, NewError(http.StatusNotFound, CodeUserNotFound, "no user with this id"))
	case errors.Is(err, users.ErrExists):
		WriteError(c, NewError(http.StatusConflict, CodeUserExists, "a user with this id already exists"))
	case errors.Is(err, users.ErrBlocked):
		WriteError(c, NewError(http.StatusForbidden, CodeUserBlocked, "the user is blocked"))
	default:
		Fail(c, err)
	}
}

// MessageJSON is a message as the APIs show it.
type MessageJSON struct {
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
	// EditedAt is the time of the message's last edit; absent if never
	// edited.
	EditedAt *time.Time `json:"edited_at,omitempty"`
}

// ToMessageJSON returns m as the APIs show it.
func ToMessageJSON(m store.Message) MessageJSON {
	out := MessageJSON{ConvID: m.ConvID, Seq: m.Seq, SenderID: m.SenderID, ClientMsgID: m.ClientMsgID, Type: m.Type,
		Content: string(m.Body), CreatedAt: m.CreatedAt, Recalled: !m.RecalledAt.IsZero(),
		Mentions: m.Mentions, MentionAll: m.MentionAll}
	if !m.EditedAt.IsZero() {
		t := m.EditedAt
		out.EditedAt = &t
	}
	return out
}

// FailMessaging translates the messaging core's errors into API errors.
func FailMessaging(c *gin.Context, err error) {
	var me *messaging.Error
	switch {
	case errors.As(err, &me):
		status := http.StatusBadRequest
		code := me.Code
		switch me.Code {
		case CodeUserNotFound, CodeMessageNotFound, CodeConversationAbsent, groups.CodeGroupNotFound:
			status = http.StatusNotFound
		case "member_muted", "group_muted", messaging.CodeBlocked, messaging.CodeNotFriends:
			status = http.StatusForbidden
		case CodeMessageTooLarge:
			status = http.StatusRequestEntityTooLarge
		case CodeForbidden:
			status = http.StatusForbidden
		case "invalid_argument":
			code = CodeValidation
		case messaging.CodeMessageRejected:
			status = http.StatusUnprocessableEntity
		}
		ae := NewError(status, code, me.Message)
		ae.Reason = me.Reason
		WriteError(c, ae)
	case errors.Is(err, messaging.ErrOverloaded), errors.Is(err, messaging.ErrStopped):
		c.Header("Retry-After", "1")
		WriteError(c, NewError(http.StatusServiceUnavailable, CodeUnavailable, err.Error()))
	default:
		Fail(c, err)
	}
}

// HistoryQuery reads the query of a history request (from_seq, to_seq,
// order, limit) for the conversation conv.
func HistoryQuery(c *gin.Context, conv string) (messaging.MessageQuery, *Error) {
	q := messaging.MessageQuery{ConvID: conv}
	var ae *Error
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
		return q, FieldError("order", `must be "asc" or "desc"`)
	}
	limit, ae := LimitParam(c)
	if ae != nil {
		return q, ae
	}
	q.Limit = limit
	return q, nil
}

// Int64Param reads the non-negative integer query parameter name (0 when
// absent).
func Int64Param(c *gin.Context, name string) (int64, *Error) {
	s := c.Query(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, FieldError(name, "must be a non-negative integer")
	}
	return n, nil
}

// ParseSeq reads the seq of a message action path segment ("12:recall"):
// the seq and the verb.
func ParseSeq(param string) (int64, string, *Error) {
	seqStr, verb, _ := strings.Cut(param, ":")
	seq, err := strconv.ParseInt(seqStr, 10, 64)
	if err != nil || seq < 1 {
		return 0, verb, FieldError("seq", "must be a positive integer")
	}
	return seq, verb, nil
}
