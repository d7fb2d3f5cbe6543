package api

import (
	"bytes"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/rooms"
)

// The server API acts for the app's backend on chat rooms: it creates,
// lists, changes and destroys them, mutes, kicks and bans members, and
// sends messages as any user or as the system, with priority (see package
// rooms).

type roomInput struct {
	ID          string  `json:"id"`
	Name        string  `json:"name"`
	OwnerID     string  `json:"owner_id"`
	HistorySize int     `json:"history_size"`
	RateLimit   float64 `json:"rate_limit"`
	MaxMembers  int     `json:"max_members"`
}

// createRoom serves POST /v1/rooms.
func (s *Server) createRoom(c *gin.Context) {
	var in roomInput
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	r, err := s.cfg.Rooms.Create(c.Request.Context(), httpx.Creds(c).App.ID, rooms.Input{ID: in.ID, Name: in.Name,
		OwnerID: in.OwnerID, HistorySize: in.HistorySize, RateLimit: in.RateLimit, MaxMembers: in.MaxMembers})
	if err != nil {
		httpx.FailRoom(c, err)
		return
	}
	zero := 0
	c.JSON(http.StatusCreated, gin.H{"room": httpx.ToRoomJSON(r, &zero)})
}

// listRooms serves GET /v1/rooms.
func (s *Server) listRooms(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	rs, next, err := s.cfg.Rooms.List(c.Request.Context(), httpx.Creds(c).App.ID, after, limit)
	if err != nil {
		httpx.FailRoom(c, err)
		return
	}
	out := make([]httpx.RoomJSON, len(rs))
	for i, r := range rs {
		out[i] = httpx.ToRoomJSON(r, nil)
	}
	c.JSON(http.StatusOK, gin.H{"rooms": out, "next_cursor": httpx.Cursor(next)})
}

// getRoom serves GET /v1/rooms/{id}, with the member count.
func (s *Server) getRoom(c *gin.Context) {
	r, n, err := s.cfg.Rooms.Get(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"))
	if err != nil {
		httpx.FailRoom(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"room": httpx.ToRoomJSON(r, &n)})
}

// destroyRoom serves DELETE /v1/rooms/{id}: every member leaves it.
func (s *Server) destroyRoom(c *gin.Context) {
	if err := s.cfg.Rooms.Destroy(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id")); err != nil {
		httpx.FailRoom(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// roomPatch is a change of a room's settings: the members present
// replace the room's, null or absent ones stay.
type roomPatch struct {
	Name        *string  `json:"name"`
	OwnerID     *string  `json:"owner_id"`
	HistorySize *int     `json:"history_size"`
	RateLimit   *float64 `json:"rate_limit"`
	MaxMembers  *int     `json:"max_members"`
}

// updateRoom serves PATCH /v1/rooms/{id}: the room with its new settings
// and its member count.
func (s *Server) updateRoom(c *gin.Context) {
	var in roomPatch
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	ctx, appID := c.Request.Context(), httpx.Creds(c).App.ID
	r, err := s.cfg.Rooms.Update(ctx, appID, c.Param("id"), store.RoomUpdate{Name: in.Name, OwnerID: in.OwnerID,
		HistorySize: in.HistorySize, RateLimit: in.RateLimit, MaxMembers: in.MaxMembers})
	if err != nil {
		httpx.FailRoom(c, err)
		return
	}
	n, err := s.cfg.Rooms.MemberCount(ctx, appID, r.ID)
	if err != nil {
		httpx.FailRoom(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"room": httpx.ToRoomJSON(r, &n)})
}

// roomBanJSON is a room ban as the server API shows it.
type roomBanJSON struct {
	RoomID    string    `json:"room_id"`
	UserID    string    `json:"user_id"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
}

func toRoomBanJSON(b store.RoomBan) roomBanJSON {
	return roomBanJSON{RoomID: b.RoomID, UserID: b.UserID, Reason: b.Reason, CreatedAt: b.CreatedAt}
}

// banRoomUser serves PUT /v1/rooms/{id}/bans/{user}, with an optional
// body {"reason": ...}: the user's connections leave the room and it
// cannot join it again until unbanned.
func (s *Server) banRoomUser(c *gin.Context) {
	var in struct {
		Reason string `json:"reason"`
	}
	if len(bytes.TrimSpace(httpx.Body(c))) > 0 {
		if err := httpx.DecodeJSON(c, &in); err != nil {
			httpx.Fail(c, err)
			return
		}
	}
	b, err := s.cfg.Rooms.Ban(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), c.Param("user"), in.Reason)
	if err != nil {
		httpx.FailRoom(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"ban": toRoomBanJSON(b)})
}

// unbanRoomUser serves DELETE /v1/rooms/{id}/bans/{user}.
func (s *Server) unbanRoomUser(c *gin.Context) {
	if err := s.cfg.Rooms.Unban(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), c.Param("user")); err != nil {
		httpx.FailRoom(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// listRoomBans serves GET /v1/rooms/{id}/bans: a page of the room's bans
// by user id.
func (s *Server) listRoomBans(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	bs, next, err := s.cfg.Rooms.Bans(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), after, limit)
	if err != nil {
		httpx.FailRoom(c, err)
		return
	}
	out := make([]roomBanJSON, len(bs))
	for i, b := range bs {
		out[i] = toRoomBanJSON(b)
	}
	c.JSON(http.StatusOK, gin.H{"bans": out, "next_cursor": httpx.Cursor(next)})
}

type roomMessageInput struct {
	SenderID    string `json:"sender_id"`
	ClientMsgID string `json:"client_msg_id"`
	Type        string `json:"type"`
	Content     string `json:"content"`
}

// sendRoomMessage serves POST /v1/rooms/{id}/messages: a message of a
// user (sender_id) or of the system (no sender), with priority.
func (s *Server) sendRoomMessage(c *gin.Context) {
	var in roomMessageInput
	if err := httpx.DecodeJSON(c, &in); err != nil {
		httpx.Fail(c, err)
		return
	}
	creds := httpx.Creds(c)
	if in.ClientMsgID == "" {
		in.ClientMsgID = httpx.NewID("api_")
	}
	a, err := s.cfg.Rooms.Send(c.Request.Context(), rooms.SendRequest{AppID: creds.App.ID, RoomID: c.Param("id"),
		SenderID: in.SenderID, ClientMsgID: in.ClientMsgID, Type: in.Type, Content: in.Content,
		MaxBytes: creds.Limits.MaxMessageBytes, Backend: true})
	if err != nil {
		httpx.FailRoom(c, err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"room_id": c.Param("id"), "seq": a.Seq, "client_msg_id": in.ClientMsgID,
		"created_at": a.CreatedAt, "duplicate": a.Duplicate})
}

// muteRoomMember serves PUT and DELETE /v1/rooms/{id}/mutes/{user}.
func (s *Server) muteRoomMember(c *gin.Context) {
	r, err := s.cfg.Rooms.SetMuted(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), c.Param("user"),
		c.Request.Method == http.MethodPut)
	if err != nil {
		httpx.FailRoom(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"room": httpx.ToRoomJSON(r, nil)})
}

// kickRoomMember serves DELETE /v1/rooms/{id}/members/{user}: the user's
// connections leave the room.
func (s *Server) kickRoomMember(c *gin.Context) {
	if err := s.cfg.Rooms.Kick(c.Request.Context(), httpx.Creds(c).App.ID, c.Param("id"), c.Param("user")); err != nil {
		httpx.FailRoom(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
