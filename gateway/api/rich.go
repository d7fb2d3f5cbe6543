package api

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
)

type reactionJSON struct {
	Emoji string `json:"emoji"`
	Count int64  `json:"count"`
}

// messageReactions serves GET /v1/conversations/{conv}/messages/{seq}/reactions:
// a message's emoji and their counts, in the order they were first put.
func (s *Server) messageReactions(c *gin.Context) {
	seq, err := strconv.ParseInt(c.Param("seq"), 10, 64)
	if err != nil || seq < 1 {
		httpx.WriteError(c, httpx.FieldError("seq", "must be a positive integer"))
		return
	}
	rcs, err := s.msgs.MessageReactions(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("conv"), seq)
	if err != nil {
		failMessaging(c, err)
		return
	}
	out := make([]reactionJSON, len(rcs))
	for i, rc := range rcs {
		out[i] = reactionJSON{Emoji: rc.Emoji, Count: rc.Count}
	}
	c.JSON(http.StatusOK, gin.H{"conv_id": c.Param("conv"), "seq": seq, "reactions": out})
}
