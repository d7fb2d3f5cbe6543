package presence

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Memory is the in-process registry of embedded mode. Its nodes share the
// process, so in practice there is one, but it follows the contract for
// any number. It is safe for concurrent use.
type Memory struct {
	now func() time.Time

	mu    sync.Mutex                     // guards the fields below
	users map[userKey]map[string]Session // by device id
	nodes map[string]time.Time           // alive until
	rooms map[roomKey]*memRoom
}

type userKey struct{ appID, userID string }

var _ Presence = (*Memory)(nil)

// NewMemory returns an empty registry that reads the time from now (nil
// means time.Now).
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{now: now, users: make(map[userKey]map[string]Session), nodes: make(map[string]time.Time),
		rooms: make(map[roomKey]*memRoom)}
}

// alive reports whether node is alive at now. Lock should be held.
func (m *Memory) alive(node string, now time.Time) bool {
	return now.Before(m.nodes[node])
}

// Register implements Presence.
func (m *Memory) Register(_ context.Context, s Session, maxDevices int, policy Policy) ([]Session, error) {
	s, err := s.validate()
	if err != nil {
		return nil, err
	}
	if policy, err = checkPolicy(policy); err != nil {
		return nil, err
	}
	maxDevices = max(maxDevices, 1)
	k := userKey{s.AppID, s.UserID}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if !m.alive(s.NodeID, now) {
		return nil, ErrNodeDown
	}
	devices := m.users[k]
	var same *Session
	others := make([]Session, 0, len(devices))
	for dev, o := range devices {
		switch {
		case !m.alive(o.NodeID, now):
			delete(devices, dev)
		case dev != s.DeviceID:
			others = append(others, o)
		case o.SessionID == s.SessionID:
			return nil, nil // already registered
		default:
			same = &o
		}
	}
	excess := len(others) - maxDevices + 1
	if excess > 0 && policy == Refuse {
		return nil, ErrTooManyDevices
	}
	var kicked []Session
	if same != nil {
		kicked = append(kicked, *same)
	}
	if excess > 0 {
		slices.SortFunc(others, byAge)
		for _, o := range others[:excess] {
			delete(devices, o.DeviceID)
			kicked = append(kicked, o)
		}
	}
	if devices == nil {
		devices = make(map[string]Session)
		m.users[k] = devices
	}
	devices[s.DeviceID] = s
	return kicked, nil
}

// Unregister implements Presence.
func (m *Memory) Unregister(_ context.Context, s Session) error {
	s, err := s.validate()
	if err != nil {
		return err
	}
	k := userKey{s.AppID, s.UserID}
	m.mu.Lock()
	defer m.mu.Unlock()
	devices := m.users[k]
	if o, ok := devices[s.DeviceID]; ok && o.SessionID == s.SessionID && o.NodeID == s.NodeID {
		delete(devices, s.DeviceID)
		if len(devices) == 0 {
			delete(m.users, k)
		}
	}
	return nil
}

// Lookup implements Presence.
func (m *Memory) Lookup(_ context.Context, appID string, userIDs []string) (map[string][]Session, error) {
	if err := checkApp(appID); err != nil {
		return nil, err
	}
	out := make(map[string][]Session)
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, id := range userIDs {
		if _, dup := out[id]; dup {
			continue
		}
		var live []Session
		for _, s := range m.users[userKey{appID, id}] {
			if m.alive(s.NodeID, now) {
				live = append(live, s)
			}
		}
		if len(live) > 0 {
			slices.SortFunc(live, byAge)
			out[id] = live
		}
	}
	return out, nil
}

// Refresh implements Presence.
func (m *Memory) Refresh(_ context.Context, nodeID string, ttl time.Duration) (bool, error) {
	if !validID(nodeID) {
		return false, fmt.Errorf("%w: node id %q", ErrInvalid, nodeID)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	wasAlive := m.alive(nodeID, now)
	if !wasAlive {
		m.deleteSessions(func(node string) bool { return node == nodeID })
	}
	m.nodes[nodeID] = now.Add(ttlOrDefault(ttl))
	return wasAlive, nil
}

// Sweep implements Presence.
func (m *Memory) Sweep(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.deleteSessions(func(node string) bool { return !m.alive(node, now) })
	for node := range m.nodes {
		if !m.alive(node, now) {
			delete(m.nodes, node)
		}
	}
	return nil
}

// deleteSessions deletes the sessions of the nodes for which drop reports
// true. Lock should be held.
func (m *Memory) deleteSessions(drop func(node string) bool) {
	m.deleteRoomMembers(drop)
	for k, devices := range m.users {
		for dev, s := range devices {
			if drop(s.NodeID) {
				delete(devices, dev)
			}
		}
		if len(devices) == 0 {
			delete(m.users, k)
		}
	}
}
