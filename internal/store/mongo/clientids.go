package mongo

import (
	"context"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// ClientMsgIDsStored looks the keys up with one query through the dedup
// index: an $or of one {ds, dk $in} per sender, read locally (as
// GetMessageByClientID).
func (a *appStore) ClientMsgIDsStored(ctx context.Context, keys []store.ClientMsgKey) ([]bool, error) {
	out := make([]bool, len(keys))
	bySender := map[string][]string{}
	var senders []string
	for _, k := range keys {
		if k.ClientMsgID == "" {
			continue
		}
		if _, ok := bySender[k.SenderID]; !ok {
			senders = append(senders, k.SenderID)
		}
		bySender[k.SenderID] = append(bySender[k.SenderID], k.ClientMsgID)
	}
	if len(senders) == 0 {
		return out, nil
	}
	or := make(bson.A, 0, len(senders))
	for _, s := range senders {
		or = append(or, bson.D{{Key: "ds", Value: s}, {Key: "dk", Value: in(bySender[s])}})
	}
	type dedupDoc struct {
		Sender string `bson:"ds"`
		Key    string `bson:"dk"`
	}
	ds, err := findAll[dedupDoc](ctx, a.s.l.messages, a.scope(bson.E{Key: "$or", Value: or}),
		options.Find().SetProjection(bson.D{{Key: "ds", Value: 1}, {Key: "dk", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("look up client message ids: %w", err)
	}
	set := make(map[store.ClientMsgKey]bool, len(ds))
	for _, d := range ds {
		set[store.ClientMsgKey{SenderID: d.Sender, ClientMsgID: d.Key}] = true
	}
	for i, k := range keys {
		out[i] = k.ClientMsgID != "" && set[k]
	}
	return out, nil
}
