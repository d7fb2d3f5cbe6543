package api

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/messaging"
)

// searchMessages serves GET /v1/users/{id}/messages/search: a keyword
// search of the messages a user may read, as the user's own search from a
// client would find them (docs/search.md). Query: q (required), conv_id,
// sender_id, types (comma-separated), from and to (RFC 3339), cursor,
// limit (1-100, default 20).
func (s *Server) searchMessages(c *gin.Context) {
	ctx, appID, userID := c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id")
	q := messaging.SearchQuery{Query: c.Query("q"), ConvID: c.Query("conv_id"), SenderID: c.Query("sender_id"),
		Cursor: c.Query("cursor")}
	if q.Query == "" {
		httpx.WriteError(c, httpx.FieldError("q", "is required"))
		return
	}
	if v := c.Query("types"); v != "" {
		q.Types = strings.Split(v, ",")
	}
	for _, f := range []struct {
		name string
		to   *time.Time
	}{{"from", &q.From}, {"to", &q.To}} {
		if v := c.Query(f.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				httpx.WriteError(c, httpx.FieldError(f.name, "must be an RFC 3339 time"))
				return
			}
			*f.to = t
		}
	}
	if v := c.Query("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > messaging.MaxSearchPage {
			httpx.WriteError(c, httpx.FieldError("limit", "must be an integer from 1 to "+strconv.Itoa(messaging.MaxSearchPage)))
			return
		}
		q.Limit = n
	}
	if _, err := s.users.Get(ctx, appID, userID); err != nil {
		failUser(c, err)
		return
	}
	page, err := s.msgs.Search(ctx, appID, userID, q)
	if err != nil {
		failMessaging(c, err)
		return
	}
	out := make([]messageJSON, len(page.Messages))
	for i, m := range page.Messages {
		out[i] = toMessageJSON(m)
	}
	c.JSON(http.StatusOK, gin.H{"messages": out, "next_cursor": page.NextCursor})
}
