package manage

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
)

// The console's user page shows, besides the profile, whether the user is
// online now, its push devices and its conversations.

// Presence tells which users have a session on some node; *node.Hub is one.
type Presence interface {
	UsersOnline(ctx context.Context, appID string, userIDs []string) (map[string]bool, error)
}

// consoleDeviceJSON is a push device as the console shows it: the
// provider's token only by its last characters.
type consoleDeviceJSON struct {
	ID          string    `json:"id"`
	Platform    string    `json:"platform"`
	Provider    string    `json:"provider"`
	TokenHint   string    `json:"token_hint"`
	Environment string    `json:"environment"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// tokenHint is the last 6 characters of a device token.
func tokenHint(tok string) string {
	if len(tok) <= 6 {
		return tok
	}
	return tok[len(tok)-6:]
}

// userDevices serves GET /manage/v1/apps/{app}/users/{id}/devices: whether
// the user has a session on some node now, and its registered push devices
// (none on a server without push).
func (s *Server) userDevices(c *gin.Context) {
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	ctx, id := c.Request.Context(), c.Param("id")
	if _, err := s.cfg.Users.Get(ctx, app.ID, id); err != nil {
		httpx.FailUser(c, err)
		return
	}
	online := false
	if s.cfg.Presence != nil {
		on, err := s.cfg.Presence.UsersOnline(ctx, app.ID, []string{id})
		if err != nil {
			httpx.Fail(c, err)
			return
		}
		online = on[id]
	}
	out := []consoleDeviceJSON{}
	if s.cfg.Push != nil {
		ds, err := s.cfg.Push.Devices(ctx, app.ID, id)
		if err != nil {
			httpx.Fail(c, err)
			return
		}
		for _, d := range ds {
			out = append(out, consoleDeviceJSON{ID: d.ID, Platform: d.Platform, Provider: d.Provider, TokenHint: tokenHint(d.Token),
				Environment: d.Environment, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt})
		}
	}
	c.JSON(http.StatusOK, gin.H{"online": online, "devices": out})
}

type userConversationJSON struct {
	ConvID  string   `json:"conv_id"`
	Members []string `json:"members"`
	MaxSeq  int64    `json:"max_seq"`
	ReadSeq int64    `json:"read_seq"`
	Muted   bool     `json:"muted"`
}

// userConversations serves GET /manage/v1/apps/{app}/users/{id}/conversations:
// a page of the user's conversations by id, with their newest seq and the
// user's read cursor.
func (s *Server) userConversations(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	ctx, id := c.Request.Context(), c.Param("id")
	if _, err := s.cfg.Users.Get(ctx, app.ID, id); err != nil {
		httpx.FailUser(c, err)
		return
	}
	cs, next, err := s.cfg.Messages.Conversations(ctx, app.ID, id, "", after, limit)
	if err != nil {
		httpx.FailMessaging(c, err)
		return
	}
	out := make([]userConversationJSON, len(cs))
	for i, cv := range cs {
		members := cv.Members
		if members == nil {
			members = []string{}
		}
		out[i] = userConversationJSON{ConvID: cv.ConvID, Members: members, MaxSeq: cv.MaxSeq, ReadSeq: cv.ReadSeq, Muted: cv.Muted}
	}
	c.JSON(http.StatusOK, gin.H{"conversations": out, "next_cursor": httpx.Cursor(next)})
}
