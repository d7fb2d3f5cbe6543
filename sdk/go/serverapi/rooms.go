package serverapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// Room is a chat room: a live audience with no stored membership and no
// offline storage (see docs/rooms.md).
type Room struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	OwnerID string `json:"owner_id"`
	// HistorySize is how many recent messages a member gets on joining.
	HistorySize int `json:"history_size"`
	// RateLimit is the messages per second the room takes from ordinary
	// members, per gateway node.
	RateLimit float64 `json:"rate_limit"`
	// MaxMembers caps the connections in the room; 0 means no cap.
	MaxMembers int `json:"max_members"`
	// Muted are the users who may not send, sorted.
	Muted []string `json:"muted"`
	// MemberCount is the connections in the room now, on every gateway
	// node; set by GetRoom and CreateRoom only.
	MemberCount int       `json:"member_count"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// RoomInput is a room to create. Zero settings take the server's defaults
// (history 50, 100 messages per second, no member cap).
type RoomInput struct {
	// ID is the room id; empty lets the server pick one.
	ID          string  `json:"id,omitempty"`
	Name        string  `json:"name,omitempty"`
	OwnerID     string  `json:"owner_id,omitempty"`
	HistorySize int     `json:"history_size,omitempty"`
	RateLimit   float64 `json:"rate_limit,omitempty"`
	MaxMembers  int     `json:"max_members,omitempty"`
}

// RoomMessageInput is a message to send to a room.
type RoomMessageInput struct {
	// SenderID is the sending user; empty for a system message.
	SenderID string `json:"sender_id,omitempty"`
	// ClientMsgID deduplicates resends for a few minutes; empty means a
	// fresh one.
	ClientMsgID string `json:"client_msg_id,omitempty"`
	// Type is "text" (when empty), "custom" (JSON content) or a typed
	// content's.
	Type    string `json:"type,omitempty"`
	Content string `json:"content"`
}

// RoomMessageAck is an accepted room message.
type RoomMessageAck struct {
	RoomID      string    `json:"room_id"`
	Seq         int64     `json:"seq"`
	ClientMsgID string    `json:"client_msg_id"`
	CreatedAt   time.Time `json:"created_at"`
	Duplicate   bool      `json:"duplicate"`
}

// errEmptyRoomID is returned, before any request, for an empty room id.
var errEmptyRoomID = errors.New("magpie: empty room id")

func roomPath(roomID, rest string) (string, error) {
	if roomID == "" {
		return "", errEmptyRoomID
	}
	return "/v1/rooms/" + url.PathEscape(roomID) + rest, nil
}

type roomEnvelope struct {
	Room Room `json:"room"`
}

// CreateRoom creates a chat room (POST /v1/rooms).
func (c *Client) CreateRoom(ctx context.Context, in RoomInput, opts ...CallOption) (Room, error) {
	var resp roomEnvelope
	if err := c.do(ctx, request{method: http.MethodPost, path: "/v1/rooms", in: in, out: &resp, header: callHeader(opts)}); err != nil {
		return Room{}, err
	}
	return resp.Room, nil
}

// GetRoom returns a room with its member count (GET /v1/rooms/{id}).
func (c *Client) GetRoom(ctx context.Context, roomID string) (Room, error) {
	path, err := roomPath(roomID, "")
	if err != nil {
		return Room{}, err
	}
	var resp roomEnvelope
	if err := c.do(ctx, request{method: http.MethodGet, path: path, out: &resp}); err != nil {
		return Room{}, err
	}
	return resp.Room, nil
}

// ListRooms returns a page of the app's rooms by id (GET /v1/rooms) and
// the cursor of the next page ("" on the last). A limit of 0 means the
// server's default.
func (c *Client) ListRooms(ctx context.Context, cursor string, limit int) ([]Room, string, error) {
	var resp struct {
		Rooms      []Room `json:"rooms"`
		NextCursor string `json:"next_cursor"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/rooms", query: pageQuery(cursor, limit), out: &resp}); err != nil {
		return nil, "", err
	}
	return resp.Rooms, resp.NextCursor, nil
}

// DestroyRoom deletes a room; everyone in it leaves (DELETE
// /v1/rooms/{id}).
func (c *Client) DestroyRoom(ctx context.Context, roomID string) error {
	path, err := roomPath(roomID, "")
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: path})
}

// SendRoomMessage sends a message to a room as a user or the system, with
// priority (POST /v1/rooms/{id}/messages).
func (c *Client) SendRoomMessage(ctx context.Context, roomID string, in RoomMessageInput, opts ...CallOption) (RoomMessageAck, error) {
	path, err := roomPath(roomID, "/messages")
	if err != nil {
		return RoomMessageAck{}, err
	}
	var resp RoomMessageAck
	if err := c.do(ctx, request{method: http.MethodPost, path: path, in: in, out: &resp, header: callHeader(opts)}); err != nil {
		return RoomMessageAck{}, err
	}
	return resp, nil
}

// SetRoomMute mutes or unmutes a user in a room (PUT or DELETE
// /v1/rooms/{id}/mutes/{user}) and returns the room.
func (c *Client) SetRoomMute(ctx context.Context, roomID, userID string, muted bool) (Room, error) {
	path, err := roomPath(roomID, "/mutes/"+url.PathEscape(userID))
	if err != nil {
		return Room{}, err
	}
	method := http.MethodDelete
	if muted {
		method = http.MethodPut
	}
	var resp roomEnvelope
	if err := c.do(ctx, request{method: method, path: path, out: &resp}); err != nil {
		return Room{}, err
	}
	return resp.Room, nil
}

// KickRoomMember takes a user's connections out of a room (DELETE
// /v1/rooms/{id}/members/{user}); the user may join again.
func (c *Client) KickRoomMember(ctx context.Context, roomID, userID string) error {
	path, err := roomPath(roomID, "/members/"+url.PathEscape(userID))
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: path})
}

// RoomUpdate changes a room's settings (PATCH /v1/rooms/{id}): each
// non-nil field replaces the room's, the others stay. A zero value means
// the server's default, as in RoomInput; an empty OwnerID leaves the room
// without owner.
type RoomUpdate struct {
	Name        *string  `json:"name,omitempty"`
	OwnerID     *string  `json:"owner_id,omitempty"`
	HistorySize *int     `json:"history_size,omitempty"`
	RateLimit   *float64 `json:"rate_limit,omitempty"`
	MaxMembers  *int     `json:"max_members,omitempty"`
}

// UpdateRoom changes a room's settings and returns the room with its
// member count (PATCH /v1/rooms/{id}). The members feel it at once: a new
// rate limit or owner applies to the next messages (on other gateway nodes
// within a few seconds); a lower MaxMembers refuses joins from then on and
// takes no member out.
func (c *Client) UpdateRoom(ctx context.Context, roomID string, u RoomUpdate) (Room, error) {
	path, err := roomPath(roomID, "")
	if err != nil {
		return Room{}, err
	}
	var resp roomEnvelope
	if err := c.do(ctx, request{method: http.MethodPatch, path: path, in: u, out: &resp}); err != nil {
		return Room{}, err
	}
	return resp.Room, nil
}

// RoomBan keeps a user out of a room until it is lifted.
type RoomBan struct {
	RoomID    string    `json:"room_id"`
	UserID    string    `json:"user_id"`
	Reason    string    `json:"reason"`
	CreatedAt time.Time `json:"created_at"`
}

// BanRoomUser bans a user of the app from a room (PUT
// /v1/rooms/{id}/bans/{user}): its connections leave the room, told they
// were banned, and its joins fail with room_banned, across reconnects and
// server restarts, until UnbanRoomUser. reason is the app's note (at most
// 256 bytes; may be empty). Banning a banned user replaces the ban.
func (c *Client) BanRoomUser(ctx context.Context, roomID, userID, reason string) (RoomBan, error) {
	path, err := roomPath(roomID, "/bans/"+url.PathEscape(userID))
	if err != nil {
		return RoomBan{}, err
	}
	var resp struct {
		Ban RoomBan `json:"ban"`
	}
	in := struct {
		Reason string `json:"reason,omitempty"`
	}{reason}
	if err := c.do(ctx, request{method: http.MethodPut, path: path, in: in, out: &resp}); err != nil {
		return RoomBan{}, err
	}
	return resp.Ban, nil
}

// UnbanRoomUser lifts a user's ban of a room (DELETE
// /v1/rooms/{id}/bans/{user}); lifting a ban that does not exist is not an
// error.
func (c *Client) UnbanRoomUser(ctx context.Context, roomID, userID string) error {
	path, err := roomPath(roomID, "/bans/"+url.PathEscape(userID))
	if err != nil {
		return err
	}
	return c.do(ctx, request{method: http.MethodDelete, path: path})
}

// ListRoomBans returns a page of a room's bans by user id (GET
// /v1/rooms/{id}/bans) and the cursor of the next page ("" on the last).
// A limit of 0 means the server's default.
func (c *Client) ListRoomBans(ctx context.Context, roomID, cursor string, limit int) ([]RoomBan, string, error) {
	path, err := roomPath(roomID, "/bans")
	if err != nil {
		return nil, "", err
	}
	var resp struct {
		Bans       []RoomBan `json:"bans"`
		NextCursor string    `json:"next_cursor"`
	}
	if err := c.do(ctx, request{method: http.MethodGet, path: path, query: pageQuery(cursor, limit), out: &resp}); err != nil {
		return nil, "", err
	}
	return resp.Bans, resp.NextCursor, nil
}
