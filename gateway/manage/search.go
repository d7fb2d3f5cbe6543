package manage

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
)

// searchMessages serves GET /manage/v1/apps/{app}/users/{id}/messages/search:
// the server API's keyword search (GET /v1/users/{id}/messages/search) of
// the messages a user may read, in all its conversations or, with conv_id,
// in one; same query, same pages, same engine.
func (s *Server) searchMessages(c *gin.Context) {
	q, ae := httpx.SearchQuery(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	ctx, userID := c.Request.Context(), c.Param("id")
	if _, err := s.cfg.Users.Get(ctx, app.ID, userID); err != nil {
		httpx.FailUser(c, err)
		return
	}
	page, err := s.cfg.Messages.Search(ctx, app.ID, userID, q)
	if err != nil {
		httpx.FailMessaging(c, err)
		return
	}
	out := make([]httpx.MessageJSON, len(page.Messages))
	for i, m := range page.Messages {
		out[i] = httpx.ToMessageJSON(m)
	}
	c.JSON(http.StatusOK, gin.H{"messages": out, "next_cursor": page.NextCursor})
}
