package api

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
)

// searchMessages serves GET /v1/users/{id}/messages/search: a keyword
// search of the messages a user may read, as the user's own search from a
// client would find them (docs/search.md); the query is httpx.SearchQuery's.
func (s *Server) searchMessages(c *gin.Context) {
	ctx, appID, userID := c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id")
	q, ae := httpx.SearchQuery(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
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
