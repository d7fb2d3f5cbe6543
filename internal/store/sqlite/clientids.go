package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/magpie-im/magpie/internal/store"
)

// clientIDsStored is one statement for any number of keys: the keys come
// as one JSON array of [sender, client id] pairs, each looked up in the
// dedup index (messages_client_key, covering;
// TestStoredClientIDsUsesTheIndex). AppendMessages asks it too, in its
// transaction (stmtStoredClientIDs).
const clientIDsStored = `SELECT sender_id, client_msg_id FROM messages
	WHERE app_id = ?1 AND client_msg_id <> ''
	AND (sender_id, client_msg_id) IN (SELECT value ->> 0, value ->> 1 FROM json_each(?2))`

// ClientMsgIDsStored looks the keys up in the message log's committed ids
// (loggedIDs), then the others in messages with one statement, without
// absorbing the log: an app with a pre-send hook asks at every batch. An
// id pruned from the log between the two looks is in messages by the
// second (the set loses ids only once their prune committed, after their
// absorb). When the set is not valid, or the log may hold rows of another
// Store on the files (othersLogged), the log is settled and messages
// asked for every key.
func (a *appStore) ClientMsgIDsStored(ctx context.Context, keys []store.ClientMsgKey) ([]bool, error) {
	out := make([]bool, len(keys))
	asIs := a.s.logged.lookup(a.id, keys, out)
	if asIs {
		others, err := a.s.othersLogged(ctx)
		if err != nil {
			return nil, fmt.Errorf("look up client message ids: %w", err)
		}
		asIs = !others
	}
	pairs := make([][2]string, 0, len(keys))
	for i, k := range keys {
		if k.ClientMsgID != "" && !out[i] {
			pairs = append(pairs, [2]string{k.SenderID, k.ClientMsgID})
		}
	}
	if len(pairs) == 0 {
		return out, nil
	}
	arg, err := json.Marshal(pairs)
	if err != nil {
		return nil, fmt.Errorf("look up client message ids: %w", err)
	}
	var rows *sql.Rows
	if asIs {
		rows, err = a.s.readRowsAsIs(ctx, clientIDsStored, a.bind([]any{string(arg)})...)
	} else {
		rows, err = a.query(ctx, clientIDsStored, string(arg))
	}
	if err != nil {
		return nil, fmt.Errorf("look up client message ids: %w", translate(err))
	}
	found, err := collect(rows, func(r scanner) (store.ClientMsgKey, error) {
		var k store.ClientMsgKey
		return k, r.Scan(&k.SenderID, &k.ClientMsgID)
	})
	if err != nil {
		return nil, fmt.Errorf("look up client message ids: %w", err)
	}
	return markFound(keys, found, out), nil
}

// markFound sets out[i] for each of keys that is among found.
func markFound(keys, found []store.ClientMsgKey, out []bool) []bool {
	if len(found) == 0 {
		return out
	}
	set := make(map[store.ClientMsgKey]bool, len(found))
	for _, k := range found {
		set[k] = true
	}
	for i, k := range keys {
		out[i] = out[i] || k.ClientMsgID != "" && set[k]
	}
	return out
}
