package httpx

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/internal/store"
)

// pushLogJSON is one step of an offline notification, as the server API
// and the management API show it.
type pushLogJSON struct {
	ID       string    `json:"id"`
	UserID   string    `json:"user_id"`
	ConvID   string    `json:"conv_id"`
	Seq      int64     `json:"seq"`
	DeviceID string    `json:"device_id"`
	Provider string    `json:"provider"`
	Status   string    `json:"status"`
	Reason   string    `json:"reason"`
	At       time.Time `json:"at"`
}

// outboxJSON is one notification recorded in the outbox.
type outboxJSON struct {
	ID           string          `json:"id"`
	UserID       string          `json:"user_id"`
	ConvID       string          `json:"conv_id"`
	Seq          int64           `json:"seq"`
	SenderID     string          `json:"sender_id"`
	Type         string          `json:"type"`
	Preview      string          `json:"preview"`
	Badge        int             `json:"badge"`
	Notification json.RawMessage `json:"notification"`
	CreatedAt    time.Time       `json:"created_at"`
}

// WritePushLog answers a page of push log entries read with limit+1 rows.
func WritePushLog(c *gin.Context, es []store.PushLogEntry, limit int) {
	es, next := TrimPage(es, limit, func(e store.PushLogEntry) string { return e.ID })
	out := make([]pushLogJSON, len(es))
	for i, e := range es {
		out[i] = pushLogJSON{ID: e.ID, UserID: e.UserID, ConvID: e.ConvID, Seq: e.Seq, DeviceID: e.DeviceID,
			Provider: e.Provider, Status: e.Status, Reason: e.Reason, At: e.At}
	}
	c.JSON(http.StatusOK, gin.H{"entries": out, "next_cursor": next})
}

// WriteOutbox answers a page of outbox entries read with limit+1 rows.
func WriteOutbox(c *gin.Context, es []store.OutboxEntry, limit int) {
	es, next := TrimPage(es, limit, func(e store.OutboxEntry) string { return e.ID })
	out := make([]outboxJSON, len(es))
	for i, e := range es {
		n := json.RawMessage("null")
		if json.Valid(e.Payload) {
			n = e.Payload
		}
		out[i] = outboxJSON{ID: e.ID, UserID: e.UserID, ConvID: e.ConvID, Seq: e.Seq, SenderID: e.SenderID,
			Type: e.Type, Preview: e.Preview, Badge: e.Badge, Notification: n, CreatedAt: e.CreatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"entries": out, "next_cursor": next})
}
