package node

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/magpie-im/magpie/rooms"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Chat rooms on a node (see package rooms). The hub keeps the room's
// members on this node, the connections that joined it, and reports their
// number to the rooms service, which counts them in the presence registry;
// a connection that ends leaves every room. It pushes room messages to the
// members (one encoding per codec, queued on every member, merged per
// connection by the writer) and, while a room has members here, its member
// count about once per RoomCountInterval when it changed.
//
// Lock order: Hub.roomsMu before hubRoom.mu before conn.roomsMu and
// conn.mu (never both). Never call the rooms service with roomsMu or a
// hubRoom.mu held.

const (
	// maxRoomsPerConn bounds the rooms one connection may be in.
	maxRoomsPerConn = 64
	// roomCallTimeout bounds the rooms service's calls made for a
	// connection that is leaving or a relay.
	roomCallTimeout = 5 * time.Second
)

type roomKey struct{ appID, roomID string }

// hubRoom is this node's members of one room.
type hubRoom struct {
	// sync serialises the reports of the member count, so that the last
	// report is of the last count.
	sync sync.Mutex

	mu     sync.Mutex // guards the fields below
	conns  map[*conn]struct{}
	timer  *time.Timer // the next member count push; nil while none is due
	pushed int64       // the member count last pushed; -1 before the first
	dirty  bool        // members joined or left here since the last push
}

// SetRooms makes the hub serve rooms through svc, the rooms service whose
// Router it is. Call it before serving.
func (h *Hub) SetRooms(svc *rooms.Service, countInterval time.Duration) {
	if countInterval <= 0 {
		countInterval = time.Second
	}
	h.roomSvc, h.roomCountEvery = svc, countInterval
}

// NodeID returns the node's id: its cluster node id, or "local" in
// embedded mode.
func (h *Hub) NodeID() string {
	if h.cl != nil {
		return h.cl.NodeID
	}
	return "local"
}

var _ rooms.Router = (*Hub)(nil)

// joinRoom adds c to a room and reports the room's count on this node. It
// reports false if c is in too many rooms. The room's member set and the
// connection's rooms change together, under the room's lock, so that a
// kick racing the join leaves neither without the other.
func (h *Hub) joinRoom(ctx context.Context, c *conn, roomID string) bool {
	k := roomKey{c.appID, roomID}
	h.roomsMu.Lock()
	hr := h.rooms[k]
	if hr == nil {
		hr = &hubRoom{conns: make(map[*conn]struct{}), pushed: -1}
		h.rooms[k] = hr
	}
	hr.mu.Lock()
	c.roomsMu.Lock()
	_, in := c.rooms[roomID]
	full := !in && len(c.rooms) >= maxRoomsPerConn
	if !full {
		if c.rooms == nil {
			c.rooms = make(map[string]struct{})
		}
		c.rooms[roomID] = struct{}{}
	}
	c.roomsMu.Unlock()
	if !full {
		hr.conns[c] = struct{}{}
		hr.dirty = true
		if hr.timer == nil {
			hr.timer = time.AfterFunc(h.roomCountEvery, func() { h.pushRoomCount(k, hr) })
		}
	}
	empty := len(hr.conns) == 0
	hr.mu.Unlock()
	if empty {
		delete(h.rooms, k)
	}
	h.roomsMu.Unlock()
	if full {
		return false
	}
	h.syncRoom(ctx, k, hr)
	return true
}

// inRoom reports whether c joined the room.
func (c *conn) inRoom(roomID string) bool {
	c.roomsMu.Lock()
	defer c.roomsMu.Unlock()
	_, ok := c.rooms[roomID]
	return ok
}

// leaveRoom takes c out of a room, if it is in it.
func (h *Hub) leaveRoom(ctx context.Context, c *conn, roomID string) {
	c.roomsMu.Lock()
	_, in := c.rooms[roomID]
	delete(c.rooms, roomID)
	c.roomsMu.Unlock()
	if in {
		h.removeFromRoom(ctx, roomKey{c.appID, roomID}, func(o *conn) bool { return o == c }, false)
	}
}

// leaveRooms takes a connection that ended out of every room it joined.
func (h *Hub) leaveRooms(c *conn) {
	c.roomsMu.Lock()
	ids := make([]string, 0, len(c.rooms))
	for id := range c.rooms {
		ids = append(ids, id)
	}
	c.rooms = nil
	c.roomsMu.Unlock()
	if len(ids) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), roomCallTimeout)
	defer cancel()
	for _, id := range ids {
		h.removeFromRoom(ctx, roomKey{c.appID, id}, func(o *conn) bool { return o == c }, false)
	}
}

// removeFromRoom removes the room's members for which match reports true
// (all of them and the room itself if closing), reports the new count and
// returns the removed connections.
func (h *Hub) removeFromRoom(ctx context.Context, k roomKey, match func(*conn) bool, closing bool) []*conn {
	h.roomsMu.Lock()
	hr := h.rooms[k]
	if hr == nil {
		h.roomsMu.Unlock()
		return nil
	}
	var gone []*conn
	hr.mu.Lock()
	for c := range hr.conns {
		if closing || match(c) {
			delete(hr.conns, c)
			gone = append(gone, c)
			hr.dirty = true
			c.roomsMu.Lock()
			delete(c.rooms, k.roomID)
			c.roomsMu.Unlock()
		}
	}
	if len(hr.conns) == 0 && hr.timer != nil {
		hr.timer.Stop()
		hr.timer = nil
	}
	hr.mu.Unlock()
	if closing {
		delete(h.rooms, k)
	}
	h.roomsMu.Unlock()
	if len(gone) > 0 {
		h.syncRoom(ctx, k, hr)
	}
	return gone
}

// syncRoom reports the room's count on this node to the rooms service.
func (h *Hub) syncRoom(ctx context.Context, k roomKey, hr *hubRoom) {
	hr.sync.Lock()
	defer hr.sync.Unlock()
	hr.mu.Lock()
	n := len(hr.conns)
	hr.mu.Unlock()
	if err := h.roomSvc.SetNodeMembers(ctx, k.appID, k.roomID, n); err != nil {
		h.log.WarnContext(ctx, "report room members", "err", err, "app_id", k.appID, "room_id", k.roomID)
	}
}

// resyncRooms reports every room's count again, after the node's presence
// heartbeat lapsed and the registry forgot them.
func (h *Hub) resyncRooms(ctx context.Context) {
	if h.roomSvc == nil {
		return
	}
	h.roomsMu.Lock()
	all := make(map[roomKey]*hubRoom, len(h.rooms))
	for k, hr := range h.rooms {
		all[k] = hr
	}
	h.roomsMu.Unlock()
	for k, hr := range all {
		h.syncRoom(ctx, k, hr)
	}
}

// pushRoomCount pushes the room's member count to its members here if it
// changed since the last push, or members joined or left here, and schedules the next check while the room
// has members on this node.
func (h *Hub) pushRoomCount(k roomKey, hr *hubRoom) {
	ctx, cancel := context.WithTimeout(context.Background(), roomCallTimeout)
	defer cancel()
	n, err := h.roomSvc.MemberCount(ctx, k.appID, k.roomID)
	hr.mu.Lock()
	defer hr.mu.Unlock()
	if hr.timer == nil {
		return // the room emptied meanwhile
	}
	if len(hr.conns) == 0 {
		hr.timer = nil
		return
	}
	hr.timer = time.AfterFunc(h.roomCountEvery, func() { h.pushRoomCount(k, hr) })
	if err != nil {
		h.log.WarnContext(ctx, "count room members", "err", err, "app_id", k.appID, "room_id", k.roomID)
		return
	}
	if int64(n) == hr.pushed && !hr.dirty {
		return
	}
	hr.pushed, hr.dirty = int64(n), false
	f := &magpiev1.Frame{Body: &magpiev1.Frame_RoomMemberCount{RoomMemberCount: &magpiev1.RoomMemberCount{
		RoomId: k.roomID, Count: int64(n)}}}
	var enc encodings
	for c := range hr.conns {
		h.queueEncoded(c, f, mergeNone, &enc)
	}
}

// queueEncoded queues f on c, encoding it at most once per codec.
func (h *Hub) queueEncoded(c *conn, f *magpiev1.Frame, merge mergeKind, enc *encodings) bool {
	i := 0
	if !c.codec.Binary() {
		i, merge = 1, mergeNone
	}
	if enc[i] == nil {
		b, err := c.codec.Marshal(f)
		if err != nil {
			h.log.Error("encode push frame", "err", err)
			return false
		}
		enc[i] = b
	}
	return c.queueFrame(outFrame{b: enc[i], merge: merge})
}

// DeliverRoom implements rooms.Router: the messages are encoded once per
// codec and queued on every member here, then relayed, encoded once, to
// the remote nodes.
func (h *Hub) DeliverRoom(appID, roomID string, msgs []rooms.Message, remote []string) {
	h.deliverRoomLocal(appID, roomID, msgs)
	if h.cl != nil && len(remote) > 0 {
		rm := relayRoomMessages{AppID: appID, RoomID: roomID, Msgs: make([]relayRoomMessage, len(msgs))}
		for i, m := range msgs {
			rm.Msgs[i] = relayRoomMessage{Seq: m.Seq, Message: m}
		}
		h.cl.relayAll(remote, &relayEnvelope{RoomMessages: []relayRoomMessages{rm}})
	}
}

// deliverRoomLocal pushes messages to the room's members on this node and
// returns how many connections it queued them on.
func (h *Hub) deliverRoomLocal(appID, roomID string, msgs []rooms.Message) int {
	h.roomsMu.Lock()
	hr := h.rooms[roomKey{appID, roomID}]
	h.roomsMu.Unlock()
	if hr == nil || len(msgs) == 0 {
		return 0
	}
	wm := make([]*magpiev1.RoomMessage, len(msgs))
	for i := range msgs {
		wm[i] = toWireRoomMessage(&msgs[i])
	}
	f := &magpiev1.Frame{Body: &magpiev1.Frame_RoomMessages{RoomMessages: &magpiev1.RoomMessages{Messages: wm}}}
	var enc encodings
	n := 0
	hr.mu.Lock()
	defer hr.mu.Unlock()
	for c := range hr.conns {
		if h.queueEncoded(c, f, mergeRoom, &enc) {
			n++
		}
	}
	return n
}

func toWireRoomMessage(m *rooms.Message) *magpiev1.RoomMessage {
	return &magpiev1.RoomMessage{RoomId: m.RoomID, Seq: m.Seq, SenderId: m.SenderID, ClientMsgId: m.ClientMsgID,
		Type: m.Type, Content: m.Content, CreatedAtMs: m.CreatedAt.UnixMilli(), Priority: m.Priority}
}

// LeaveRoom implements rooms.Router.
func (h *Hub) LeaveRoom(appID, roomID, userID string, why rooms.LeaveReason, remote []string) {
	h.leaveRoomLocal(appID, roomID, userID, why)
	if h.cl != nil && len(remote) > 0 {
		h.cl.relayAll(remote, &relayEnvelope{RoomLeaves: []relayRoomLeave{{AppID: appID, RoomID: roomID, UserID: userID, Why: int(why)}}})
	}
}

// leaveRoomLocal takes the room's members here (userID empty), or the
// user's, out of the room and tells them why.
func (h *Hub) leaveRoomLocal(appID, roomID, userID string, why rooms.LeaveReason) {
	ctx, cancel := context.WithTimeout(context.Background(), roomCallTimeout)
	defer cancel()
	gone := h.removeFromRoom(ctx, roomKey{appID, roomID}, func(c *conn) bool { return userID == "" || c.userID == userID },
		why == rooms.Closed)
	reason := magpiev1.RoomLeft_REASON_KICKED
	switch why {
	case rooms.Closed:
		reason = magpiev1.RoomLeft_REASON_CLOSED
	case rooms.Banned:
		reason = magpiev1.RoomLeft_REASON_BANNED
	}
	f := &magpiev1.Frame{Body: &magpiev1.Frame_RoomLeft{RoomLeft: &magpiev1.RoomLeft{RoomId: roomID, Reason: reason}}}
	var enc encodings
	for _, c := range gone {
		h.queueEncoded(c, f, mergeNone, &enc)
	}
}

// roomFrame serves a room frame of the logged-in connection.
func (c *conn) roomFrame(ctx context.Context, id uint64, f *magpiev1.Frame) {
	svc := c.srv.hub.roomSvc
	if svc == nil {
		c.reply(wire.ErrorFrame(id, wire.CodeUnavailable, "chat rooms are not available on this server"))
		return
	}
	switch b := f.GetBody().(type) {
	case *magpiev1.Frame_JoinRoom:
		c.joinRoom(ctx, id, svc, b.JoinRoom)
	case *magpiev1.Frame_LeaveRoom:
		c.srv.hub.leaveRoom(ctx, c, b.LeaveRoom.GetRoomId())
		c.reply(ok(id))
	case *magpiev1.Frame_SendRoomMessage:
		c.sendRoom(ctx, id, svc, b.SendRoomMessage)
	}
}

func (c *conn) joinRoom(ctx context.Context, id uint64, svc *rooms.Service, j *magpiev1.JoinRoom) {
	if j.GetHistoryLimit() < 0 {
		c.reply(wire.ErrorFrame(id, wire.CodeInvalidArgument, "history_limit must be 0 or more"))
		return
	}
	room, _, err := svc.Join(ctx, c.appID, j.GetRoomId(), c.userID)
	if err != nil {
		c.reply(c.errorFrame(id, err))
		return
	}
	if !c.srv.hub.joinRoom(ctx, c, room.ID) {
		c.reply(wire.ErrorFrame(id, wire.CodeInvalidArgument, "a connection may be in at most 64 rooms"))
		return
	}
	// A ban stored since Join's check: its kick ran before the connection
	// was added, or found it; either way the connection leaves.
	if err := svc.CheckBan(ctx, c.appID, room.ID, c.userID); err != nil {
		c.srv.hub.leaveRoom(ctx, c, room.ID)
		c.reply(c.errorFrame(id, err))
		return
	}
	hist, err := svc.History(ctx, c.appID, room, int(j.GetHistoryLimit()))
	if err != nil {
		c.reply(c.errorFrame(id, err))
		return
	}
	n, err := svc.MemberCount(ctx, c.appID, room.ID)
	if err != nil {
		c.reply(c.errorFrame(id, err))
		return
	}
	res := &magpiev1.RoomJoined{Room: &magpiev1.RoomInfo{Id: room.ID, Name: room.Name, OwnerId: room.OwnerID, MemberCount: int64(n)}}
	for i := range hist {
		res.Messages = append(res.Messages, toWireRoomMessage(&hist[i]))
	}
	c.reply(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_RoomJoined{RoomJoined: res}})
}

func (c *conn) sendRoom(ctx context.Context, id uint64, svc *rooms.Service, s *magpiev1.SendRoomMessage) {
	if c.draining.Load() {
		c.reply(wire.ErrorFrame(id, wire.CodeUnavailable, "server shutting down; send again after reconnecting"))
		return
	}
	if !c.inRoom(s.GetRoomId()) {
		c.reply(wire.ErrorFrame(id, wire.CodeRoomNotFound, "join the room before sending to it"))
		return
	}
	if !c.sendBudget(ctx) {
		return // the connection is closing
	}
	a, err := svc.Send(ctx, rooms.SendRequest{AppID: c.appID, RoomID: s.GetRoomId(), SenderID: c.userID,
		ClientMsgID: s.GetClientMsgId(), Type: s.GetType(), Content: s.GetContent(), MaxBytes: c.creds.Limits.MaxMessageBytes})
	if err != nil {
		c.reply(c.errorFrame(id, err))
		return
	}
	c.reply(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_RoomSendAck{RoomSendAck: &magpiev1.RoomSendAck{
		RoomId: s.GetRoomId(), ClientMsgId: s.GetClientMsgId(), Seq: a.Seq, ServerTimeMs: a.CreatedAt.UnixMilli(), Duplicate: a.Duplicate,
	}}})
}

// roomError translates the rooms service's errors for errorFrame.
func roomError(err error) (*magpiev1.Frame, bool) {
	var re *rooms.Error
	if !errors.As(err, &re) {
		return nil, false
	}
	return wire.ErrorFrame(0, re.Code, re.Message), true
}

// relayRoomMessages is a batch of one room's messages for the receiving
// node's members.
type relayRoomMessages struct {
	AppID  string             `json:"a"`
	RoomID string             `json:"r"`
	Msgs   []relayRoomMessage `json:"m"`
}

type relayRoomMessage struct {
	Seq int64 `json:"s"`
	rooms.Message
}

// relayRoomLeave takes a room's members (UserID empty) or a user's
// connections out of a room on the receiving node.
type relayRoomLeave struct {
	AppID  string `json:"a"`
	RoomID string `json:"r"`
	UserID string `json:"u,omitempty"`
	Why    int    `json:"w"`
}

// handleRelayedRooms applies a relay's room parts.
func (h *Hub) handleRelayedRooms(env *relayEnvelope) {
	for _, rm := range env.RoomMessages {
		msgs := make([]rooms.Message, len(rm.Msgs))
		for i, m := range rm.Msgs {
			msgs[i] = m.Message
			msgs[i].RoomID, msgs[i].Seq = rm.RoomID, m.Seq
		}
		h.deliverRoomLocal(rm.AppID, rm.RoomID, msgs)
	}
	if h.roomSvc == nil {
		return
	}
	for _, l := range env.RoomLeaves {
		why := rooms.LeaveReason(l.Why)
		if why != rooms.Closed && why != rooms.Kicked && why != rooms.Banned {
			continue
		}
		h.leaveRoomLocal(l.AppID, l.RoomID, l.UserID, why)
	}
}

// relayAll encodes env once and relays it to each node.
func (cl *cluster) relayAll(nodes []string, env *relayEnvelope) {
	b, err := json.Marshal(env)
	if err != nil {
		cl.log.Error("encode relay", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), relayTimeout)
	defer cancel()
	for _, node := range nodes {
		if err := cl.Relay.Relay(ctx, node, b); err != nil {
			cl.log.Warn("relay room traffic", "err", err, "node", node)
		}
	}
}
