package presence

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/magpie-im/magpie/internal/redisx"
)

// Redis is the registry of cluster mode, on one Redis primary. With P the
// key prefix, it keeps:
//
//	P<app>:u:<user>  hash: device id → node id NUL session id NUL connected-at (Unix ms)
//	P:hb:<node>      string, the node's heartbeat, expiring after the TTL of its last Refresh
//	P:ns:<node>      set: app NUL user NUL session NUL device, the node's sessions (for purges)
//	P:nodes          set: ids of the nodes that have a P:ns:<node> set (for Sweep)
//
// App ids have no ':', so an app's keys never collide with another app's
// or with the node keys, which start with "P:". Register, Unregister and
// the purge of a dead node's sessions are Lua scripts, hence atomic with
// respect to each other on every node. Lookup is one pipeline: an HGETALL
// per user, then a read-only script that lists the live nodes of P:nodes.
// Refresh is one PEXPIRE while the node is alive. A session is alive while
// the heartbeat key of its node exists: one key per node carries the TTL,
// so a Refresh costs the same whatever the number of sessions. It is safe
// for concurrent use.
type Redis struct {
	c      *redisx.Client
	prefix string
}

var _ Presence = (*Redis)(nil)

var (
	//go:embed lua/register.lua
	registerLua    string
	registerScript = redis.NewScript(registerLua)
	//go:embed lua/unregister.lua
	unregisterLua    string
	unregisterScript = redis.NewScript(unregisterLua)
	//go:embed lua/alive.lua
	aliveLua    string
	aliveScript = redis.NewScript(aliveLua)
	//go:embed lua/purge.lua
	purgeLua    string
	purgeScript = redis.NewScript(purgeLua)
)

// purgeChunk is how many sessions one purge script deletes, so that none
// blocks Redis long.
const purgeChunk = 256

// NewRedis returns the registry on c whose keys start with prefix (for
// example "magpie:"; it may be empty).
func NewRedis(c *redisx.Client, prefix string) *Redis {
	return &Redis{c: c, prefix: prefix}
}

func (r *Redis) userKey(appID, userID string) string { return r.prefix + appID + ":u:" + userID }
func (r *Redis) heartbeatKey(node string) string     { return r.prefix + ":hb:" + node }
func (r *Redis) indexKey(node string) string         { return r.prefix + ":ns:" + node }
func (r *Redis) nodesKey() string                    { return r.prefix + ":nodes" }

// Register implements Presence.
func (r *Redis) Register(ctx context.Context, s Session, maxDevices int, policy Policy) ([]Session, error) {
	s, err := s.validate()
	if err != nil {
		return nil, err
	}
	if policy, err = checkPolicy(policy); err != nil {
		return nil, err
	}
	keys := []string{r.userKey(s.AppID, s.UserID), r.heartbeatKey(s.NodeID), r.indexKey(s.NodeID), r.nodesKey()}
	res, err := registerScript.Run(ctx, r.c.Redis(), keys, r.prefix, s.DeviceID, s.NodeID, s.SessionID,
		s.ConnectedAt.UnixMilli(), max(maxDevices, 1), string(policy), s.AppID+"\x00"+s.UserID).Slice()
	if err != nil {
		return nil, fmt.Errorf("register session %s: %w", s.SessionID, redisx.Err(err))
	}
	switch code, _ := res[0].(int64); code {
	case 1:
		return nil, ErrNodeDown
	case 2:
		return nil, ErrTooManyDevices
	}
	kicked := make([]Session, 0, (len(res)-1)/2)
	for i := 1; i+1 < len(res); i += 2 {
		dev, _ := res[i].(string)
		val, _ := res[i+1].(string)
		k, err := decodeSession(s.AppID, s.UserID, dev, val)
		if err != nil {
			return nil, fmt.Errorf("register session %s: %w", s.SessionID, err)
		}
		kicked = append(kicked, k)
	}
	return kicked, nil
}

// Unregister implements Presence.
func (r *Redis) Unregister(ctx context.Context, s Session) error {
	s, err := s.validate()
	if err != nil {
		return err
	}
	keys := []string{r.userKey(s.AppID, s.UserID), r.indexKey(s.NodeID)}
	member := s.AppID + "\x00" + s.UserID + "\x00" + s.SessionID + "\x00" + s.DeviceID
	err = unregisterScript.Run(ctx, r.c.Redis(), keys, s.DeviceID, s.NodeID+"\x00"+s.SessionID+"\x00", member).Err()
	if err != nil {
		return fmt.Errorf("unregister session %s: %w", s.SessionID, redisx.Err(err))
	}
	return nil
}

// Lookup implements Presence.
func (r *Redis) Lookup(ctx context.Context, appID string, userIDs []string) (map[string][]Session, error) {
	if err := checkApp(appID); err != nil {
		return nil, err
	}
	ids := uniqueIDs(userIDs)
	out := make(map[string][]Session)
	if len(ids) == 0 {
		return out, nil
	}
	hashes, alive, err := r.lookup(ctx, appID, ids)
	if err != nil {
		return nil, fmt.Errorf("look up %d users: %w", len(ids), err)
	}
	for i, h := range hashes {
		for dev, val := range h.Val() {
			s, err := decodeSession(appID, ids[i], dev, val)
			if err != nil {
				return nil, fmt.Errorf("look up user %s: %w", ids[i], err)
			}
			if slices.Contains(alive, s.NodeID) {
				out[ids[i]] = append(out[ids[i]], s)
			}
		}
	}
	for _, ss := range out {
		slices.SortFunc(ss, byAge)
	}
	return out, nil
}

// lookup reads the users' hashes, then the nodes that are alive, in one
// pipeline. Reading liveness last, a session of a node that died meanwhile
// is left out, and a node that registered meanwhile is in the set. If Redis
// has lost the script (a restart, SCRIPT FLUSH), it loads it and sends the
// pipeline once more.
func (r *Redis) lookup(ctx context.Context, appID string, ids []string) ([]*redis.MapStringStringCmd, []string, error) {
	var hashes []*redis.MapStringStringCmd
	var alive *redis.Cmd
	send := func() error {
		hashes = make([]*redis.MapStringStringCmd, len(ids))
		_, err := r.c.Redis().Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				hashes[i] = p.HGetAll(ctx, r.userKey(appID, id))
			}
			alive = aliveScript.EvalShaRO(ctx, p, []string{r.nodesKey()}, r.prefix)
			return nil
		})
		return err
	}
	err := send()
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := aliveScript.Load(ctx, r.c.Redis()).Err(); err != nil {
			return nil, nil, redisx.Err(err)
		}
		err = send()
	}
	if err != nil {
		return nil, nil, redisx.Err(err)
	}
	nodes, err := alive.StringSlice()
	return hashes, nodes, redisx.Err(err)
}

// Refresh implements Presence. While the node is alive it is one PEXPIRE;
// otherwise the node's former sessions are purged, a chunk per script,
// before its heartbeat is set again.
func (r *Redis) Refresh(ctx context.Context, nodeID string, ttl time.Duration) (bool, error) {
	if !validID(nodeID) {
		return false, fmt.Errorf("%w: node id %q", ErrInvalid, nodeID)
	}
	ttl = ttlOrDefault(ttl)
	hb := r.heartbeatKey(nodeID)
	alive, err := r.c.Redis().PExpire(ctx, hb, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("refresh node %s: %w", nodeID, redisx.Err(err))
	}
	if alive {
		return true, nil
	}
	if err := r.purge(ctx, nodeID); err != nil {
		return false, fmt.Errorf("refresh node %s: %w", nodeID, err)
	}
	if err := r.c.Redis().Set(ctx, hb, "1", ttl).Err(); err != nil {
		return false, fmt.Errorf("refresh node %s: %w", nodeID, redisx.Err(err))
	}
	return false, nil
}

// purge deletes the room entries and sessions of node, a chunk at a time, unless the node
// is alive (again).
func (r *Redis) purge(ctx context.Context, node string) error {
	// Rooms first: the session purge takes the node out of P:nodes.
	if err := r.purgeRooms(ctx, node); err != nil {
		return err
	}
	keys := []string{r.heartbeatKey(node), r.indexKey(node), r.nodesKey()}
	for {
		left, err := purgeScript.Run(ctx, r.c.Redis(), keys, r.prefix, node, purgeChunk).Int64()
		if err != nil {
			return fmt.Errorf("purge node %s: %w", node, redisx.Err(err))
		}
		if left <= 0 {
			return nil
		}
	}
}

// Sweep implements Presence.
func (r *Redis) Sweep(ctx context.Context) error {
	nodes, err := r.c.Redis().SMembers(ctx, r.nodesKey()).Result()
	if err != nil {
		return fmt.Errorf("sweep: %w", redisx.Err(err))
	}
	exists := make([]*redis.IntCmd, len(nodes))
	_, err = r.c.Redis().Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range nodes {
			exists[i] = p.Exists(ctx, r.heartbeatKey(n))
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sweep: %w", redisx.Err(err))
	}
	for i, n := range nodes {
		if exists[i].Val() == 0 {
			if err := r.purge(ctx, n); err != nil {
				return fmt.Errorf("sweep: %w", err)
			}
		}
	}
	return nil
}

// decodeSession decodes a field of a user's hash.
func decodeSession(appID, userID, device, value string) (Session, error) {
	node, rest, ok1 := strings.Cut(value, "\x00")
	session, ms, ok2 := strings.Cut(rest, "\x00")
	at, err := strconv.ParseInt(ms, 10, 64)
	if !ok1 || !ok2 || err != nil {
		return Session{}, errors.New("malformed session record")
	}
	return Session{AppID: appID, UserID: userID, DeviceID: device, SessionID: session, NodeID: node,
		ConnectedAt: time.UnixMilli(at).UTC()}, nil
}
