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
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/sdk/go/wire"
)

type messageJSON = httpx.MessageJSON

func toMessageJSON(m store.Message) messageJSON { return httpx.ToMessageJSON(m) }

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
			in.ClientMsgID = "srv_" + wire.NewClientMsgID(time.Now())
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
func failMessaging(c *gin.Context, err error) { httpx.FailMessaging(c, err) }

// listMessages pages through a conversation's history by seq, in either
// direction: order=asc (default) from from_seq up, order=desc from to_seq
// (or the newest) down.
func (s *Server) listMessages(c *gin.Context) {
	q, ae := httpx.HistoryQuery(c, c.Param("conv"))
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
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

func int64Param(c *gin.Context, name string) (int64, *httpx.Error) { return httpx.Int64Param(c, name) }

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
