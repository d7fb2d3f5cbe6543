package presence

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/magpie-im/magpie/internal/redisx"
)

// Rooms in Redis, with P the key prefix:
//
//	P<app>:rm:<room>  hash: node id → the node's member count
//	P<app>:rs:<room>  string: the room's last seq (INCR)
//	P<app>:rh:<room>  list: "<seq>:<data>", the room's last messages, oldest first (RPUSH, LTRIM)
//	P:nr:<node>       set: app NUL room, the rooms the node has entries in (for purges)
//
// A node's room entries follow its heartbeat like its sessions: RoomMembers
// reads the hash and the live nodes in one pipeline, and the purge of a
// dead node (Sweep, Refresh after a lapse) deletes its entries through its
// room index, a chunk per script.

var (
	//go:embed lua/roomset.lua
	roomSetLua    string
	roomSetScript = redis.NewScript(roomSetLua)
	//go:embed lua/roompurge.lua
	roomPurgeLua    string
	roomPurgeScript = redis.NewScript(roomPurgeLua)
	//go:embed lua/roomappend.lua
	roomAppendLua    string
	roomAppendScript = redis.NewScript(roomAppendLua)
)

func (r *Redis) roomMembersKey(appID, roomID string) string {
	return r.prefix + appID + ":rm:" + roomID
}
func (r *Redis) roomSeqKey(appID, roomID string) string { return r.prefix + appID + ":rs:" + roomID }
func (r *Redis) roomHistoryKey(appID, roomID string) string {
	return r.prefix + appID + ":rh:" + roomID
}
func (r *Redis) roomIndexKey(node string) string { return r.prefix + ":nr:" + node }

// SetRoomMembers implements Presence.
func (r *Redis) SetRoomMembers(ctx context.Context, appID, roomID, nodeID string, n int) error {
	if err := checkRoom(appID, roomID); err != nil {
		return err
	}
	if !validID(nodeID) || n < 0 {
		return fmt.Errorf("%w: node %q, %d members", ErrInvalid, nodeID, n)
	}
	keys := []string{r.roomMembersKey(appID, roomID), r.heartbeatKey(nodeID), r.roomIndexKey(nodeID), r.nodesKey()}
	code, err := roomSetScript.Run(ctx, r.c.Redis(), keys, nodeID, n, appID+"\x00"+roomID).Int64()
	if err != nil {
		return fmt.Errorf("set members of room %s: %w", roomID, redisx.Err(err))
	}
	if code == 1 {
		return ErrNodeDown
	}
	return nil
}

// RoomMembers implements Presence: the room's hash and the live nodes, in
// one pipeline.
func (r *Redis) RoomMembers(ctx context.Context, appID, roomID string) (map[string]int, error) {
	if err := checkRoom(appID, roomID); err != nil {
		return nil, err
	}
	var counts *redis.MapStringStringCmd
	var alive *redis.Cmd
	send := func() error {
		_, err := r.c.Redis().Pipelined(ctx, func(p redis.Pipeliner) error {
			counts = p.HGetAll(ctx, r.roomMembersKey(appID, roomID))
			alive = aliveScript.EvalShaRO(ctx, p, []string{r.nodesKey()}, r.prefix)
			return nil
		})
		return err
	}
	err := send()
	if redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := aliveScript.Load(ctx, r.c.Redis()).Err(); err != nil {
			return nil, fmt.Errorf("members of room %s: %w", roomID, redisx.Err(err))
		}
		err = send()
	}
	if err != nil {
		return nil, fmt.Errorf("members of room %s: %w", roomID, redisx.Err(err))
	}
	nodes, err := alive.StringSlice()
	if err != nil {
		return nil, fmt.Errorf("members of room %s: %w", roomID, redisx.Err(err))
	}
	out := make(map[string]int)
	for node, v := range counts.Val() {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("members of room %s: malformed count", roomID)
		}
		if n > 0 && slices.Contains(nodes, node) {
			out[node] = n
		}
	}
	return out, nil
}

// AppendRoomMessage implements Presence.
func (r *Redis) AppendRoomMessage(ctx context.Context, appID, roomID string, data []byte, keep int) (int64, error) {
	if err := checkRoom(appID, roomID); err != nil {
		return 0, err
	}
	keys := []string{r.roomSeqKey(appID, roomID), r.roomHistoryKey(appID, roomID)}
	seq, err := roomAppendScript.Run(ctx, r.c.Redis(), keys, data, max(keep, 1)).Int64()
	if err != nil {
		return 0, fmt.Errorf("append to room %s: %w", roomID, redisx.Err(err))
	}
	return seq, nil
}

// RoomHistory implements Presence.
func (r *Redis) RoomHistory(ctx context.Context, appID, roomID string, n int) ([]RoomMessage, error) {
	if err := checkRoom(appID, roomID); err != nil {
		return nil, err
	}
	if n <= 0 {
		return nil, nil
	}
	items, err := r.c.Redis().LRange(ctx, r.roomHistoryKey(appID, roomID), int64(-n), -1).Result()
	if err != nil {
		return nil, fmt.Errorf("history of room %s: %w", roomID, redisx.Err(err))
	}
	out := make([]RoomMessage, 0, len(items))
	for _, it := range items {
		seq, data, ok := bytes.Cut([]byte(it), []byte(":"))
		n, err := strconv.ParseInt(string(seq), 10, 64)
		if !ok || err != nil {
			return nil, fmt.Errorf("history of room %s: %w", roomID, errors.New("malformed history entry"))
		}
		out = append(out, RoomMessage{Seq: n, Data: data})
	}
	return out, nil
}

// DeleteRoom implements Presence.
func (r *Redis) DeleteRoom(ctx context.Context, appID, roomID string) error {
	if err := checkRoom(appID, roomID); err != nil {
		return err
	}
	err := r.c.Redis().Del(ctx, r.roomMembersKey(appID, roomID), r.roomSeqKey(appID, roomID), r.roomHistoryKey(appID, roomID)).Err()
	if err != nil {
		return fmt.Errorf("delete room %s: %w", roomID, redisx.Err(err))
	}
	return nil
}

// purgeRooms deletes the room entries of node, a chunk at a time, unless
// the node is alive (again).
func (r *Redis) purgeRooms(ctx context.Context, node string) error {
	keys := []string{r.heartbeatKey(node), r.roomIndexKey(node)}
	for {
		left, err := roomPurgeScript.Run(ctx, r.c.Redis(), keys, r.prefix, node, purgeChunk).Int64()
		if err != nil {
			return fmt.Errorf("purge rooms of node %s: %w", node, redisx.Err(err))
		}
		if left <= 0 {
			return nil
		}
	}
}
