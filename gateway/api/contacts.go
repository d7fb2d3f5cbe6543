package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/contacts"
	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
)

// The contact routes act on behalf of the user named in the path: the
// app's backend manages its users' friends, requests and blocklists, and
// may make two users friends directly (POST /v1/users/{id}/friends), which
// a user cannot. Messages the server API sends on behalf of a user
// (POST /v1/messages) follow the same contact rules as the user's own: a
// blocked sender gets 403 blocked, a stranger under the only-friends
// setting 403 not_friends.

type friendJSON struct {
	UserID    string    `json:"user_id"`
	Remark    string    `json:"remark"`
	CreatedAt time.Time `json:"created_at"`
}

func toFriendJSON(f store.Friend) friendJSON {
	return friendJSON{UserID: f.FriendID, Remark: f.Remark, CreatedAt: f.CreatedAt}
}

type friendRequestJSON struct {
	FromID    string    `json:"from_id"`
	ToID      string    `json:"to_id"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
}

type blockJSON struct {
	UserID    string    `json:"user_id"`
	CreatedAt time.Time `json:"created_at"`
}

// needContacts refuses a contact route when the server has no contacts
// service.
func (s *Server) needContacts(c *gin.Context) {
	if s.cfg.Contacts == nil {
		httpx.WriteError(c, httpx.NewError(http.StatusServiceUnavailable, httpx.CodeUnavailable, "contacts are not available on this server"))
		return
	}
	c.Next()
}

// failContacts translates the contacts service's errors.
func failContacts(c *gin.Context, err error) {
	var ce *contacts.Error
	if !errors.As(err, &ce) {
		httpx.Fail(c, err)
		return
	}
	if ce.Code == contacts.CodeInvalidArgument {
		httpx.WriteError(c, httpx.FieldError(ce.Field, strings.TrimPrefix(ce.Message, ce.Field+": ")))
		return
	}
	status := map[string]int{
		contacts.CodeUserNotFound:   http.StatusNotFound,
		contacts.CodeNotFound:       http.StatusNotFound,
		contacts.CodeForbidden:      http.StatusForbidden,
		contacts.CodeTooManyFriends: http.StatusConflict,
	}[ce.Code]
	if status == 0 {
		status = http.StatusBadRequest
	}
	httpx.WriteError(c, httpx.NewError(status, ce.Code, ce.Message))
}

// listFriends serves GET /v1/users/{id}/friends.
func (s *Server) listFriends(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	fs, next, err := s.cfg.Contacts.Friends(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), after, limit)
	if err != nil {
		failContacts(c, err)
		return
	}
	out := make([]friendJSON, len(fs))
	for i, f := range fs {
		out[i] = toFriendJSON(f)
	}
	c.JSON(http.StatusOK, gin.H{"friends": out, "next_cursor": httpx.Cursor(next)})
}

// addFriend serves POST /v1/users/{id}/friends.
func (s *Server) addFriend(c *gin.Context) {
	var in struct {
		FriendID string `json:"friend_id"`
	}
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	if in.FriendID == "" {
		httpx.WriteError(c, httpx.FieldError("friend_id", "is required"))
		return
	}
	f, err := s.cfg.Contacts.AddFriend(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), in.FriendID)
	if err != nil {
		failContacts(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"friend": toFriendJSON(f)})
}

// updateFriend serves PATCH /v1/users/{id}/friends/{friend}.
func (s *Server) updateFriend(c *gin.Context) {
	var in struct {
		Remark *string `json:"remark"`
	}
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	if in.Remark == nil {
		httpx.WriteError(c, httpx.FieldError("remark", "is required"))
		return
	}
	f, err := s.cfg.Contacts.SetRemark(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), c.Param("friend"), *in.Remark)
	if err != nil {
		failContacts(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"friend": toFriendJSON(f)})
}

// removeFriend serves DELETE /v1/users/{id}/friends/{friend}.
func (s *Server) removeFriend(c *gin.Context) {
	if err := s.cfg.Contacts.RemoveFriend(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), c.Param("friend")); err != nil {
		failContacts(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// listFriendRequests serves GET /v1/users/{id}/friend-requests.
func (s *Server) listFriendRequests(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	var incoming bool
	switch c.Query("direction") {
	case "", "incoming":
		incoming = true
	case "outgoing":
	default:
		httpx.WriteError(c, httpx.FieldError("direction", `is "incoming" or "outgoing"`))
		return
	}
	rs, next, err := s.cfg.Contacts.Requests(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), incoming, after, limit)
	if err != nil {
		failContacts(c, err)
		return
	}
	out := make([]friendRequestJSON, len(rs))
	for i, r := range rs {
		out[i] = friendRequestJSON{FromID: r.FromID, ToID: r.ToID, Message: r.Message, CreatedAt: r.CreatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"requests": out, "next_cursor": httpx.Cursor(next)})
}

// listBlocks serves GET /v1/users/{id}/blocks.
func (s *Server) listBlocks(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	bs, next, err := s.cfg.Contacts.Blocks(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), after, limit)
	if err != nil {
		failContacts(c, err)
		return
	}
	out := make([]blockJSON, len(bs))
	for i, b := range bs {
		out[i] = blockJSON{UserID: b.TargetID, CreatedAt: b.CreatedAt}
	}
	c.JSON(http.StatusOK, gin.H{"blocks": out, "next_cursor": httpx.Cursor(next)})
}

// putBlock serves PUT /v1/users/{id}/blocks/{target}.
func (s *Server) putBlock(c *gin.Context) {
	b, err := s.cfg.Contacts.Block(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), c.Param("target"))
	if err != nil {
		failContacts(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"block": blockJSON{UserID: b.TargetID, CreatedAt: b.CreatedAt}})
}

// deleteBlock serves DELETE /v1/users/{id}/blocks/{target}.
func (s *Server) deleteBlock(c *gin.Context) {
	if err := s.cfg.Contacts.Unblock(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), c.Param("target")); err != nil {
		failContacts(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
