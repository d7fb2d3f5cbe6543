package presence

import (
	"context"
	"fmt"
	"slices"
)

type roomKey struct{ appID, roomID string }

// memRoom is a room's state in Memory.
type memRoom struct {
	members map[string]int // by node id
	seq     int64
	history []RoomMessage // oldest first
}

// room returns the state of a room, creating it. Lock should be held.
func (m *Memory) room(appID, roomID string) *memRoom {
	k := roomKey{appID, roomID}
	r := m.rooms[k]
	if r == nil {
		r = &memRoom{members: make(map[string]int)}
		m.rooms[k] = r
	}
	return r
}

// SetRoomMembers implements Presence.
func (m *Memory) SetRoomMembers(_ context.Context, appID, roomID, nodeID string, n int) error {
	if err := checkRoom(appID, roomID); err != nil {
		return err
	}
	if !validID(nodeID) || n < 0 {
		return fmt.Errorf("%w: node %q, %d members", ErrInvalid, nodeID, n)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if n == 0 {
		if r := m.rooms[roomKey{appID, roomID}]; r != nil {
			delete(r.members, nodeID)
			m.dropIdle(roomKey{appID, roomID}, r)
		}
		return nil
	}
	if !m.alive(nodeID, m.now()) {
		return ErrNodeDown
	}
	m.room(appID, roomID).members[nodeID] = n
	return nil
}

// dropIdle forgets a room that holds nothing. Lock should be held.
func (m *Memory) dropIdle(k roomKey, r *memRoom) {
	if len(r.members) == 0 && r.seq == 0 {
		delete(m.rooms, k)
	}
}

// RoomMembers implements Presence.
func (m *Memory) RoomMembers(_ context.Context, appID, roomID string) (map[string]int, error) {
	if err := checkRoom(appID, roomID); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int)
	now := m.now()
	if r := m.rooms[roomKey{appID, roomID}]; r != nil {
		for node, n := range r.members {
			if m.alive(node, now) {
				out[node] = n
			}
		}
	}
	return out, nil
}

// AppendRoomMessage implements Presence.
func (m *Memory) AppendRoomMessage(_ context.Context, appID, roomID string, data []byte, keep int) (int64, error) {
	if err := checkRoom(appID, roomID); err != nil {
		return 0, err
	}
	keep = max(keep, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.room(appID, roomID)
	r.seq++
	r.history = append(r.history, RoomMessage{Seq: r.seq, Data: slices.Clone(data)})
	if n := len(r.history) - keep; n > 0 {
		r.history = slices.Delete(r.history, 0, n)
	}
	return r.seq, nil
}

// RoomHistory implements Presence.
func (m *Memory) RoomHistory(_ context.Context, appID, roomID string, n int) ([]RoomMessage, error) {
	if err := checkRoom(appID, roomID); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.rooms[roomKey{appID, roomID}]
	if r == nil || n <= 0 {
		return nil, nil
	}
	h := r.history[max(len(r.history)-n, 0):]
	out := make([]RoomMessage, len(h))
	for i, x := range h {
		out[i] = RoomMessage{Seq: x.Seq, Data: slices.Clone(x.Data)}
	}
	return out, nil
}

// DeleteRoom implements Presence.
func (m *Memory) DeleteRoom(_ context.Context, appID, roomID string) error {
	if err := checkRoom(appID, roomID); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.rooms, roomKey{appID, roomID})
	return nil
}

// deleteRoomMembers deletes the room entries of the nodes for which drop
// reports true. Lock should be held.
func (m *Memory) deleteRoomMembers(drop func(node string) bool) {
	for k, r := range m.rooms {
		for node := range r.members {
			if drop(node) {
				delete(r.members, node)
			}
		}
		m.dropIdle(k, r)
	}
}
