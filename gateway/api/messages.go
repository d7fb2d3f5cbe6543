package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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
	"github.com/magpie-im/magpie/push"
)

type messageJSON struct {
	ConvID      string     `json:"conv_id"`
	Seq         int64      `json:"seq"`
	SenderID    string     `json:"sender_id"`
	ClientMsgID string     `json:"client_msg_id"`
	Type        string     `json:"type"`
	Content     string     `json:"content"`
	CreatedAt   time.Time  `json:"created_at"`
	Recalled    bool       `json:"recalled"`
	Mentions    []string   `json:"mentions,omitempty"`
	MentionAll  bool       `json:"mention_all,omitempty"`
	EditedAt    *time.Time `json:"edited_at,omitempty"`
}

func toMessageJSON(m store.Message) messageJSON {
	return messageJSON{ConvID: m.ConvID, Seq: m.Seq, SenderID: m.SenderID, ClientMsgID: m.ClientMsgID, Type: m.Type,
		Content: string(m.Body), CreatedAt: m.CreatedAt, Recalled: !m.RecalledAt.IsZero(),
		Mentions: m.Mentions, MentionAll: m.MentionAll, EditedAt: editedAt(m)}
}

type sendRequest struct {
	FromUserID string `json:"from_user_id"`
	ToUserID   string `json:"to_user_id"`
	ToGroupID  string `json:"to_group_id"`
	System     bool   `json:"system"`
	// Mentions and MentionAll: group messages only.
	Mentions    []string `json:"mentions"`
	MentionAll  bool     `json:"mention_all"`
	ClientMsgID string   `json:"client_msg_id"`
	Type        string   `json:"type"`
	Content     string   `json:"content"`
	// Push holds the message's push options (push.Options).
	Push json.RawMessage `json:"push"`
}

// sendMessage sends a message on behalf of a user, or a system message,
// through the same pipeline as client sends: same sequencing, dedup by
// (sender, client_msg_id), fan-out and receipts.
func (s *Server) sendMessage(c *gin.Context) {
	var in sendRequest
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	opts, err := push.ParseOptions(in.Push)
	var ve *push.ValidationError
	if errors.As(err, &ve) {
		httpx.WriteError(c, httpx.FieldError(ve.Field, ve.Reason))
		return
	} else if err != nil {
		httpx.Fail(c, err)
		return
	}
	switch {
	case in.Type == messaging.TypeNotice:
		httpx.WriteError(c, httpx.FieldError("type", `"notice" is reserved for the server's own notices`))
		return
	case in.System && in.FromUserID != "":
		httpx.WriteError(c, httpx.FieldError("from_user_id", "must be empty for a system message"))
		return
	case !in.System:
		if _, err := s.users.Get(c.Request.Context(), httpx.Creds(c).App.ID, in.FromUserID); err != nil {
			failUser(c, err)
			return
		}
	}
	if in.ClientMsgID == "" {
		// With an Idempotency-Key the message is deduplicated by the store
		// like a client resend, so concurrent retries cannot store it twice.
		if key := c.GetHeader("Idempotency-Key"); key != "" {
			sum := sha256.Sum256([]byte(key))
			in.ClientMsgID = "idem:" + hex.EncodeToString(sum[:20])
		} else {
			in.ClientMsgID = httpx.NewID("srv_")
		}
	}
	creds := httpx.Creds(c)
	a, err := s.msgs.Send(c.Request.Context(), messaging.SendRequest{
		AppID: creds.App.ID, SenderID: in.FromUserID, ToUserID: in.ToUserID, System: in.System, ServerAPI: true,
		ToGroupID: in.ToGroupID, Mentions: in.Mentions, MentionAll: in.MentionAll,
		ClientMsgID: in.ClientMsgID, Type: in.Type, Content: in.Content, MaxBytes: creds.Limits.MaxMessageBytes,
		Push: opts.Encode(), PushDelay: time.Duration(creds.App.Settings.Push.DelaySeconds) * time.Second,
	})
	if err != nil {
		failMessaging(c, err)
		return
	}
	// A message moderation dropped answers like a stored one, with seq 0:
	// the sender is not told, and nobody receives it.
	status := http.StatusCreated
	if a.Duplicate {
		status = http.StatusOK
	}
	c.JSON(status, gin.H{"message": toMessageJSON(a.Message), "duplicate": a.Duplicate})
}

// failMessaging translates messaging errors into API errors.
func failMessaging(c *gin.Context, err error) {
	var me *messaging.Error
	switch {
	case errors.As(err, &me):
		status := http.StatusBadRequest
		code := me.Code
		switch me.Code {
		case httpx.CodeUserNotFound, httpx.CodeMessageNotFound, httpx.CodeConversationAbsent, groups.CodeGroupNotFound:
			status = http.StatusNotFound
		case "member_muted", "group_muted", messaging.CodeBlocked, messaging.CodeNotFriends:
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

// listMessages pages through a conversation's history by seq, in either
// direction: order=asc (default) from from_seq up, order=desc from to_seq
// (or the newest) down.
func (s *Server) listMessages(c *gin.Context) {
	q := messaging.MessageQuery{ConvID: c.Param("conv")}
	var ae *httpx.Error
	if q.From, ae = int64Param(c, "from_seq"); ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	if q.To, ae = int64Param(c, "to_seq"); ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	switch c.DefaultQuery("order", "asc") {
	case "asc":
	case "desc":
		q.Desc = true
	default:
		httpx.WriteError(c, httpx.FieldError("order", `must be "asc" or "desc"`))
		return
	}
	limit, ae := httpx.LimitParam(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	q.Limit = limit
	msgs, more, err := s.msgs.History(c.Request.Context(), httpx.Creds(c).App.ID, q)
	if err != nil {
		failMessaging(c, err)
		return
	}
	out := make([]messageJSON, len(msgs))
	for i, m := range msgs {
		out[i] = toMessageJSON(m)
	}
	c.JSON(http.StatusOK, gin.H{"messages": out, "has_more": more})
}

func int64Param(c *gin.Context, name string) (int64, *httpx.Error) {
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

// messageAction serves POST /v1/conversations/{conv}/messages/{seq}:recall.
func (s *Server) messageAction(c *gin.Context) {
	seqStr, verb, _ := strings.Cut(c.Param("seq"), ":")
	if verb != "recall" {
		httpx.WriteError(c, httpx.NewError(http.StatusNotFound, httpx.CodeRouteNotFound, "unknown action"))
		return
	}
	seq, err := strconv.ParseInt(seqStr, 10, 64)
	if err != nil || seq < 1 {
		httpx.WriteError(c, httpx.FieldError("seq", "must be a positive integer"))
		return
	}
	m, err := s.msgs.Recall(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("conv"), seq)
	if err != nil {
		failMessaging(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"message": toMessageJSON(m)})
}
