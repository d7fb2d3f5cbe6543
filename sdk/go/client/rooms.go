package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Chat rooms (docs/rooms.md) are live audiences, such as the viewers of a
// live stream: a connection joins a room and gets its messages while it
// is in it, at most once, with nothing stored for it while it is away. The
// client remembers the rooms it joined and joins them again after every
// reconnect, handing the messages it missed that are still in the room's
// recent history to Next as RoomMessage events; messages older than that
// history are lost to it. Room events are dropped, not queued, when the app
// falls far behind in calling Next.

// RoomInfo describes a room.
type RoomInfo struct {
	ID      string
	Name    string
	OwnerID string
	// MemberCount is the connections in the room, on every gateway.
	MemberCount int
}

// RoomMessage is a message of a room the client joined, returned by Next
// (and by JoinRoom for the recent history). Next returns each seq of a
// room at most once, and never one older than a seq it returned before:
// a gap in seqs is a message the client missed.
type RoomMessage struct {
	RoomID string
	// Seq is the message's seq in the room, from 1.
	Seq int64
	// SenderID is the sender; empty for a system message of the app's
	// backend.
	SenderID    string
	ClientMsgID string
	Type        string
	Content     string
	CreatedAt   time.Time
	// Priority is set for messages of the room's owner and of the app's
	// backend.
	Priority bool
}

// RoomMemberCount reports a joined room's member count; the server sends
// it about once a second while the count changes.
type RoomMemberCount struct {
	RoomID string
	Count  int
}

// RoomLeft reports that the client is no longer in a room: Reason is
// RoomClosed (the room was destroyed), RoomKicked (the app's backend
// kicked the user; it may join again) or RoomBanned (the app's backend
// banned the user; JoinRoom fails with room_banned until the ban is
// lifted).
type RoomLeft struct {
	RoomID string
	Reason string
}

// Reasons of RoomLeft.
const (
	RoomClosed = "closed"
	RoomKicked = "kicked"
	RoomBanned = "banned"
)

// RoomJoin is what JoinRoom returns.
type RoomJoin struct {
	Room RoomInfo
	// Messages are the room's recent messages, oldest first.
	Messages []RoomMessage
}

// RoomAck is an accepted room message.
type RoomAck struct {
	RoomID      string
	ClientMsgID string
	Seq         int64
	CreatedAt   time.Time
	// Duplicate: the ack of an earlier send with the same client message
	// id.
	Duplicate bool
}

func (RoomMessage) event()     {}
func (RoomMemberCount) event() {}
func (RoomLeft) event()        {}

// rooms is the client's rooms: those joined, and the highest seq it saw
// of each, so that no room message is handed out twice.
type rooms struct {
	mu     sync.Mutex       // guards joined
	joined map[string]int64 // room id → highest seq seen
}

func toRoomMessage(m *magpiev1.RoomMessage) RoomMessage {
	return RoomMessage{RoomID: m.GetRoomId(), Seq: m.GetSeq(), SenderID: m.GetSenderId(), ClientMsgID: m.GetClientMsgId(),
		Type: m.GetType(), Content: m.GetContent(), CreatedAt: time.UnixMilli(m.GetCreatedAtMs()), Priority: m.GetPriority()}
}

// fresh records messages of a joined room and returns those newer than any
// seen; messages of rooms not joined are dropped.
func (r *rooms) fresh(msgs []RoomMessage) []RoomMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := msgs[:0:0]
	for _, m := range msgs {
		last, ok := r.joined[m.RoomID]
		if !ok || m.Seq <= last {
			continue
		}
		r.joined[m.RoomID] = m.Seq
		out = append(out, m)
	}
	return out
}

// restarted notices a room whose seqs started again (the server lost its
// live state: an embedded server's restart): the last message of the
// history, which is the room's last, is older than one the client saw. The
// client then takes the room's seqs afresh.
func (r *rooms) restarted(roomID string, history []RoomMessage) {
	var top int64
	if len(history) > 0 {
		top = history[len(history)-1].Seq
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if last, ok := r.joined[roomID]; ok && top < last {
		r.joined[roomID] = 0
	}
}

// onRoomPush implements roomPusher.
func (c *Client) onRoomPush(s *session, f *magpiev1.Frame) {
	switch b := f.GetBody().(type) {
	case *magpiev1.Frame_RoomMessages:
		c.onRoomMessages(s, b.RoomMessages)
	case *magpiev1.Frame_RoomMemberCount:
		c.onRoomMemberCount(s, b.RoomMemberCount)
	case *magpiev1.Frame_RoomLeft:
		c.onRoomLeft(s, b.RoomLeft)
	}
}

// onRoomMessages handles a RoomMessages push.
func (c *Client) onRoomMessages(_ *session, p *magpiev1.RoomMessages) {
	msgs := make([]RoomMessage, len(p.GetMessages()))
	for i, m := range p.GetMessages() {
		msgs[i] = toRoomMessage(m)
	}
	for _, m := range c.rooms.fresh(msgs) {
		c.events.push(m)
	}
}

// onRoomMemberCount handles a RoomMemberCount push.
func (c *Client) onRoomMemberCount(_ *session, p *magpiev1.RoomMemberCount) {
	c.events.push(RoomMemberCount{RoomID: p.GetRoomId(), Count: int(p.GetCount())})
}

// onRoomLeft handles a RoomLeft push: the room is forgotten.
func (c *Client) onRoomLeft(_ *session, p *magpiev1.RoomLeft) {
	c.rooms.mu.Lock()
	delete(c.rooms.joined, p.GetRoomId())
	c.rooms.mu.Unlock()
	reason := RoomClosed
	switch p.GetReason() {
	case magpiev1.RoomLeft_REASON_KICKED:
		reason = RoomKicked
	case magpiev1.RoomLeft_REASON_BANNED:
		reason = RoomBanned
	}
	c.events.push(RoomLeft{RoomID: p.GetRoomId(), Reason: reason})
}

// JoinRoom joins a room, and after every reconnect joins it again, until
// LeaveRoom or a RoomLeft event. It returns the room and up to
// historyLimit of its recent messages (0: the room's history size); the
// room's later messages come from Next as RoomMessage events. Errors are
// *Error with codes such as room_not_found, room_full and room_banned
// (wire.CodeRoomBanned: the app's backend banned the user from the room).
func (c *Client) JoinRoom(ctx context.Context, roomID string, historyLimit int) (RoomJoin, error) {
	if roomID == "" {
		return RoomJoin{}, errors.New("magpie: join room: empty room id")
	}
	c.rooms.mu.Lock()
	if _, ok := c.rooms.joined[roomID]; !ok {
		c.rooms.joined[roomID] = 0
	}
	c.rooms.mu.Unlock()
	r, err := c.request(ctx, joinRoomFrame(roomID, historyLimit))
	if err != nil {
		c.forgetRoom(roomID)
		return RoomJoin{}, err
	}
	j := r.GetRoomJoined()
	out := RoomJoin{Room: RoomInfo{ID: j.GetRoom().GetId(), Name: j.GetRoom().GetName(), OwnerID: j.GetRoom().GetOwnerId(),
		MemberCount: int(j.GetRoom().GetMemberCount())}}
	for _, m := range j.GetMessages() {
		out.Messages = append(out.Messages, toRoomMessage(m))
	}
	c.rooms.mu.Lock()
	if last, ok := c.rooms.joined[roomID]; ok && len(out.Messages) > 0 {
		c.rooms.joined[roomID] = max(last, out.Messages[len(out.Messages)-1].Seq)
	}
	c.rooms.mu.Unlock()
	return out, nil
}

func joinRoomFrame(roomID string, historyLimit int) *magpiev1.Frame {
	return &magpiev1.Frame{Body: &magpiev1.Frame_JoinRoom{JoinRoom: &magpiev1.JoinRoom{RoomId: roomID, HistoryLimit: int32(min(historyLimit, 1<<20))}}}
}

func (c *Client) forgetRoom(roomID string) {
	c.rooms.mu.Lock()
	delete(c.rooms.joined, roomID)
	c.rooms.mu.Unlock()
}

// LeaveRoom leaves a room; its messages stop.
func (c *Client) LeaveRoom(ctx context.Context, roomID string) error {
	c.forgetRoom(roomID)
	_, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_LeaveRoom{LeaveRoom: &magpiev1.LeaveRoom{RoomId: roomID}}})
	return err
}

// SendToRoom sends a message to a room the client joined. It is
// acknowledged once the room accepted it; it then reaches the members
// online at most once. Errors are *Error with codes such as
// room_not_found (not joined), member_muted and rate_limited (retryable:
// the room's rate limit, or the room shedding load).
func (c *Client) SendToRoom(ctx context.Context, roomID, typ, content string) (RoomAck, error) {
	id := newClientMsgID()
	r, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_SendRoomMessage{SendRoomMessage: &magpiev1.SendRoomMessage{
		RoomId: roomID, ClientMsgId: id, Type: typ, Content: content}}})
	if err != nil {
		return RoomAck{}, err
	}
	a := r.GetRoomSendAck()
	return RoomAck{RoomID: a.GetRoomId(), ClientMsgID: a.GetClientMsgId(), Seq: a.GetSeq(),
		CreatedAt: time.UnixMilli(a.GetServerTimeMs()), Duplicate: a.GetDuplicate()}, nil
}

// rejoinRooms joins the rooms of the client again on a new session and
// hands out the messages of their history it has not seen.
func (c *Client) rejoinRooms(ctx context.Context, s *session) {
	c.rooms.mu.Lock()
	ids := make([]string, 0, len(c.rooms.joined))
	for id := range c.rooms.joined {
		ids = append(ids, id)
	}
	c.rooms.mu.Unlock()
	for _, id := range ids {
		r, err := c.callSession(ctx, s, joinRoomFrame(id, 0))
		var e *Error
		switch {
		case errors.As(err, &e):
			// The room is gone or full, or the user was banned from it
			// while away: the client is no longer in it.
			c.forgetRoom(id)
			reason := RoomClosed
			if e.Code == wire.CodeRoomBanned {
				reason = RoomBanned
			}
			c.events.push(RoomLeft{RoomID: id, Reason: reason})
			continue
		case err != nil:
			return // the session ended; the next one tries again
		}
		msgs := make([]RoomMessage, len(r.GetRoomJoined().GetMessages()))
		for i, m := range r.GetRoomJoined().GetMessages() {
			msgs[i] = toRoomMessage(m)
		}
		c.rooms.restarted(id, msgs)
		for _, m := range c.rooms.fresh(msgs) {
			c.events.push(m)
		}
	}
}
