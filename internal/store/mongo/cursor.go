package mongo

import (
	"context"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// AckDelivered applies delivery acknowledgements; see store.MessageStore.
// The batch reads the entries, conversations and device cursors it needs
// (three queries), moves each device cursor once (one bulk write of $max)
// and each user's cursor once, with a findOneAndUpdate whose $max returns
// the cursor as it was: the range a batch moves a user's cursor over is
// claimed atomically, so concurrent batches (other processes included)
// never report a message as newly delivered twice. Each ack's result is then
// computed in order, the batch's earlier acks applied. An ack from a user who
// is not in the conversation (or for a conversation that does not exist)
// changes nothing and reports zero cursors.
func (a *appStore) AckDelivered(ctx context.Context, acks []store.DeliveryAck) ([]store.AckResult, error) {
	if len(acks) == 0 {
		return nil, nil
	}
	b, err := a.readAckState(ctx, acks)
	if err != nil {
		return nil, fmt.Errorf("ack delivered: %w", err)
	}
	devSeq := make([]int64, len(acks)) // each ack's device cursor after it
	for i, ack := range acks {
		u := b.users[a.entryKey(ack.UserID, ack.ConvID)]
		if u == nil {
			continue
		}
		d := b.device(a.cursorKey(ack.UserID, ack.DeviceID, ack.ConvID))
		if seq := min(ack.Seq, u.maxSeq); seq > d.seq {
			d.seq, d.dirty = seq, true
		}
		devSeq[i] = d.seq
		u.target = max(u.target, d.seq)
	}
	if err := b.saveDevices(ctx, a); err != nil {
		return nil, fmt.Errorf("ack delivered: %w", err)
	}
	if err := b.saveUsers(ctx, a); err != nil {
		return nil, fmt.Errorf("ack delivered: %w", err)
	}
	out := make([]store.AckResult, len(acks))
	for i, ack := range acks {
		u := b.users[a.entryKey(ack.UserID, ack.ConvID)]
		if u == nil || u.gone {
			continue
		}
		r := store.AckResult{DeviceSeq: devSeq[i], UserPrev: u.seq}
		u.seq = max(u.seq, devSeq[i])
		r.UserSeq = u.seq
		if r.UserSeq > r.UserPrev {
			if r.ReceivedSeq, err = a.lastReceived(ctx, ack, r.UserPrev, r.UserSeq); err != nil {
				return nil, fmt.Errorf("ack delivered: %w", err)
			}
		}
		out[i] = r
	}
	return out, nil
}

// ackBatch is the state of one AckDelivered call.
type ackBatch struct {
	users   map[entryKey]*userCursor // members only
	devices map[cursorKey]*deviceCursor
}

type userCursor struct {
	maxSeq int64 // the conversation's
	stored int64 // delivered_seq as read
	target int64 // highest device cursor of the batch
	seq    int64 // the cursor as the batch's acks move it, from the stored one
	gone   bool  // the entry vanished before the write
}

type deviceCursor struct {
	seq   int64
	dirty bool
}

func (b *ackBatch) device(k cursorKey) *deviceCursor {
	d := b.devices[k]
	if d == nil {
		d = &deviceCursor{}
		b.devices[k] = d
	}
	return d
}

// readAckState reads the entries of the acks' users, their conversations'
// max seqs and the acks' device cursors.
func (a *appStore) readAckState(ctx context.Context, acks []store.DeliveryAck) (*ackBatch, error) {
	b := &ackBatch{users: make(map[entryKey]*userCursor), devices: make(map[cursorKey]*deviceCursor)}
	var ekeys []entryKey
	seen := make(map[entryKey]bool)
	for _, ack := range acks {
		if k := a.entryKey(ack.UserID, ack.ConvID); !seen[k] {
			seen[k] = true
			ekeys = append(ekeys, k)
		}
	}
	entries, err := findAll[entryDoc](ctx, a.s.l.entries, bson.D{{Key: "_id", Value: in(ekeys)}})
	if err != nil || len(entries) == 0 {
		return b, err
	}
	convs := make([]appKey, len(entries))
	for i, e := range entries {
		convs[i] = a.key(e.ID.Conv)
	}
	cs, err := findAll[conversationDoc](ctx, a.s.l.conversations, bson.D{{Key: "_id", Value: in(convs)}})
	if err != nil {
		return nil, err
	}
	maxSeq := make(map[string]int64, len(cs))
	for _, c := range cs {
		maxSeq[c.ID.ID] = c.MaxSeq
	}
	for _, e := range entries {
		if m, ok := maxSeq[e.ID.Conv]; ok {
			b.users[e.ID] = &userCursor{maxSeq: m, stored: e.DeliveredSeq}
		}
	}
	var ckeys []cursorKey
	for _, ack := range acks {
		k := a.cursorKey(ack.UserID, ack.DeviceID, ack.ConvID)
		if b.users[a.entryKey(ack.UserID, ack.ConvID)] != nil && b.devices[k] == nil {
			b.devices[k] = &deviceCursor{}
			ckeys = append(ckeys, k)
		}
	}
	if len(ckeys) == 0 {
		return b, nil
	}
	ds, err := findAll[cursorDoc](ctx, a.s.l.cursors, bson.D{{Key: "_id", Value: in(ckeys)}})
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		b.devices[d.ID].seq = d.Seq
	}
	return b, nil
}

// saveDevices writes the device cursors the batch moved.
func (b *ackBatch) saveDevices(ctx context.Context, a *appStore) error {
	var models []mongo.WriteModel
	for k, d := range b.devices {
		if d.dirty {
			models = append(models, mongo.NewUpdateOneModel().SetFilter(byID(k)).SetUpsert(true).
				SetUpdate(bson.D{{Key: "$max", Value: bson.D{{Key: "seq", Value: d.seq}}}}))
		}
	}
	if len(models) == 0 {
		return nil
	}
	opts := options.BulkWrite().SetOrdered(false)
	_, err := a.s.c.cursors.BulkWrite(ctx, models, opts)
	if mongo.IsDuplicateKeyError(err) {
		// Two first acks of one device raced to create its cursor: now it
		// exists, and $max is all that is left to do.
		_, err = a.s.c.cursors.BulkWrite(ctx, models, opts)
	}
	if err != nil {
		return errorf(err, "save device cursors")
	}
	return nil
}

// saveUsers moves each user cursor the batch moves past its stored value,
// and sets the value each starts from: the cursor as the write found it.
func (b *ackBatch) saveUsers(ctx context.Context, a *appStore) error {
	for k, u := range b.users {
		u.seq = u.stored
		if u.target <= u.stored {
			continue
		}
		prev, err := findOneAndUpdate[entryDoc](ctx, a.s.c.entries, byID(k),
			bson.D{{Key: "$max", Value: bson.D{{Key: "delivered_seq", Value: u.target}}}})
		if errors.Is(err, store.ErrNotFound) {
			u.gone = true
			continue
		}
		if err != nil {
			return fmt.Errorf("save cursor of %s in %s: %w", k.User, k.Conv, err)
		}
		u.seq = prev.DeliveredSeq
	}
	return nil
}

// findOneAndUpdate applies update to the document filter matches and
// returns the document as it was before, or store.ErrNotFound.
func findOneAndUpdate[T any](ctx context.Context, c *mongo.Collection, filter, update any) (T, error) {
	var v T
	err := c.FindOneAndUpdate(ctx, filter, update,
		options.FindOneAndUpdate().SetReturnDocument(options.Before)).Decode(&v)
	return v, translate(err)
}

// lastReceived returns the newest seq in (from, to] of a message the acking
// user did not send, or 0.
func (a *appStore) lastReceived(ctx context.Context, ack store.DeliveryAck, from, to int64) (int64, error) {
	d, err := findOne[messageDoc](ctx, a.s.l.messages, a.scope(
		bson.E{Key: "_id.conv", Value: ack.ConvID},
		bson.E{Key: "_id.seq", Value: bson.D{{Key: "$gt", Value: from}, {Key: "$lte", Value: to}}},
		bson.E{Key: "sender", Value: bson.D{{Key: "$ne", Value: ack.UserID}}},
	), options.FindOne().SetSort(bson.D{{Key: "_id.seq", Value: -1}}).SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("find messages to %s in %s: %w", ack.UserID, ack.ConvID, err)
	}
	return d.ID.Seq, nil
}

// GetDeviceCursors returns a device's delivery cursors, by conversation id.
func (a *appStore) GetDeviceCursors(ctx context.Context, userID, deviceID string) (map[string]int64, error) {
	ds, err := findAll[cursorDoc](ctx, a.s.c.cursors,
		a.scope(bson.E{Key: "_id.user", Value: userID}, bson.E{Key: "_id.device", Value: deviceID}))
	if err != nil {
		return nil, fmt.Errorf("get cursors of %s/%s: %w", userID, deviceID, err)
	}
	out := make(map[string]int64, len(ds))
	for _, d := range ds {
		out[d.ID.Conv] = d.Seq
	}
	return out, nil
}

// MarkRead moves a user's read cursor forward to seq, clamped to the
// conversation's max seq; store.ErrNotFound if the user is not in the
// conversation.
func (a *appStore) MarkRead(ctx context.Context, userID, convID string, seq int64) (int64, bool, error) {
	cur, moved, err := a.markRead(ctx, userID, convID, seq)
	if err != nil {
		return 0, false, fmt.Errorf("mark %s read by %s: %w", convID, userID, err)
	}
	return cur, moved, nil
}

func (a *appStore) markRead(ctx context.Context, userID, convID string, seq int64) (int64, bool, error) {
	k := a.entryKey(userID, convID)
	e, err := findOne[entryDoc](ctx, a.s.l.entries, byID(k))
	if err != nil {
		return 0, false, err
	}
	c, err := findOne[conversationDoc](ctx, a.s.l.conversations, byID(a.key(convID)))
	if err != nil {
		return 0, false, err
	}
	target := min(seq, c.MaxSeq)
	if target <= e.ReadSeq {
		return e.ReadSeq, false, nil
	}
	prev, err := findOneAndUpdate[entryDoc](ctx, a.s.c.entries, byID(k),
		bson.D{{Key: "$max", Value: bson.D{{Key: "read_seq", Value: target}}}})
	if err != nil {
		return 0, false, err
	}
	if prev.ReadSeq >= target {
		return prev.ReadSeq, false, nil
	}
	return target, true, nil
}
