package manage

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
)

// The console's Chat rooms page, on top of the same rooms service as the
// server API's /v1/rooms routes: closing a room here makes its members
// leave it on every node, as DELETE /v1/rooms/{id} does.

// maxRoomsPage caps a page of rooms: each room's member count is read.
const maxRoomsPage = 50

// listRooms serves GET /manage/v1/apps/{app}/rooms: a page of rooms by id,
// each with its member count.
func (s *Server) listRooms(c *gin.Context) {
	limit, after, ae := httpx.PageParams(c)
	if ae == nil && limit > maxRoomsPage {
		ae = httpx.FieldError("limit", "must be from 1 to 50")
	}
	if ae != nil {
		httpx.WriteError(c, ae)
		return
	}
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	ctx := c.Request.Context()
	rs, next, err := s.cfg.Rooms.List(ctx, app.ID, after, limit)
	if err != nil {
		httpx.FailRoom(c, err)
		return
	}
	out := make([]httpx.RoomJSON, len(rs))
	for i, r := range rs {
		n, err := s.cfg.Rooms.MemberCount(ctx, app.ID, r.ID)
		if err != nil {
			httpx.Fail(c, err)
			return
		}
		out[i] = httpx.ToRoomJSON(r, &n)
	}
	c.JSON(http.StatusOK, gin.H{"rooms": out, "next_cursor": httpx.Cursor(next)})
}

// getRoom serves GET /manage/v1/apps/{app}/rooms/{room}.
func (s *Server) getRoom(c *gin.Context) {
	app, ok := s.loadApp(c, false)
	if !ok {
		return
	}
	r, n, err := s.cfg.Rooms.Get(c.Request.Context(), app.ID, c.Param("room"))
	if err != nil {
		httpx.FailRoom(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"room": httpx.ToRoomJSON(r, &n)})
}

// closeRoom serves DELETE /manage/v1/apps/{app}/rooms/{room}: the room is
// deleted and its members, on every node, leave it (told it closed).
func (s *Server) closeRoom(c *gin.Context) {
	app, ok := s.loadApp(c, true)
	if !ok {
		return
	}
	id := c.Param("room")
	if err := s.cfg.Rooms.Destroy(c.Request.Context(), app.ID, id); err != nil {
		httpx.FailRoom(c, err)
		return
	}
	s.audit(c, "room.close", app.TenantID, id, "app_id", app.ID)
	c.Status(http.StatusNoContent)
}
