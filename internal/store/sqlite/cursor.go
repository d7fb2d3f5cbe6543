package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/magpie-im/magpie/internal/store"
)

// AckDelivered applies delivery acknowledgements in one transaction; see
// store.MessageStore. Each (user, device, conversation) is read once per
// batch and each changed cursor written once; an ack that moves the user's
// cursor also reads the newest message of the range it moved over that the
// user did not send (usually the first row it looks at). An ack from a user who is not
// in the conversation (or for a conversation that does not exist) changes
// nothing and reports zero cursors.
func (a *appStore) AckDelivered(ctx context.Context, acks []store.DeliveryAck) ([]store.AckResult, error) {
	if len(acks) == 0 {
		return nil, nil
	}
	out := make([]store.AckResult, len(acks))
	var b ackBatch
	ctx = context.WithoutCancel(ctx) // it may share its transaction (inSharedTx)
	// It moves cursors, which the cursor cache then holds; it changes
	// nothing the head cache holds.
	err := a.inUnfoldedTx(func(t *appTx) error {
		b = ackBatch{t: t}
		if err := a.s.observe(ctx, t); err != nil {
			return err
		}
		for i, ack := range acks {
			r, err := b.ack(ctx, ack)
			if err != nil {
				return err
			}
			out[i] = r
		}
		return b.flush(ctx)
	}, func() { a.s.cursors.put(a.id, b.devices) }, nil)
	if err != nil {
		return nil, fmt.Errorf("ack delivered: %w", err)
	}
	return out, nil
}

// ackBatch is the state of one AckDelivered transaction. Its cursors are
// kept in order (flush writes them so); the maps find them once a batch
// holds more than a few (a backed-up queue commits thousands at once).
type ackBatch struct {
	t       *appTx
	devices []*deviceCursor
	users   []*userCursor
	byDev   map[deviceKey]*deviceCursor // the batch is one app's: keys leave app empty
	byUser  map[userKey]*userCursor
}

// scanUpTo is the batch size up to which lookups scan the slices.
const scanUpTo = 16

type deviceCursor struct {
	userID, deviceID, convID string
	member                   bool // false: the ack changes nothing
	maxSeq                   int64
	// headSender sent the message at maxSeq, if headKnown (from the head
	// cache).
	headSender string
	headKnown  bool
	seq        int64
	user       *userCursor
	dirty      bool
}

type userCursor struct {
	userID, convID string
	seq            int64 // highest device cursor
}

func (b *ackBatch) ack(ctx context.Context, ack store.DeliveryAck) (store.AckResult, error) {
	d, err := b.device(ctx, ack)
	if err != nil || !d.member {
		return store.AckResult{}, err
	}
	if seq := min(ack.Seq, d.maxSeq); seq > d.seq {
		d.seq, d.dirty = seq, true
	}
	u := d.user
	r := store.AckResult{DeviceSeq: d.seq, UserPrev: u.seq, UserSeq: u.seq}
	if d.seq <= u.seq {
		return r, nil
	}
	u.seq = d.seq
	r.UserSeq = u.seq
	if d.headKnown && r.UserSeq == d.maxSeq && d.headSender != ack.UserID {
		r.ReceivedSeq = r.UserSeq // the newest message is another's
		return r, nil
	}
	if seq, ok := b.t.a.s.tail.lastReceived(b.t.a.id, ack.ConvID, r.UserPrev, r.UserSeq, ack.UserID); ok {
		r.ReceivedSeq = seq // logged, not yet pruned (tail.go)
		return r, nil
	}
	err = b.t.queryRow(ctx, stmtLastReceived, ack.ConvID, r.UserPrev, r.UserSeq, ack.UserID).Scan(&r.ReceivedSeq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return store.AckResult{}, fmt.Errorf("find messages to %s in %s: %w", ack.UserID, ack.ConvID, translate(err))
	}
	return r, nil
}

// device returns the batch's cursor of the ack's device, reading it (and its
// user's cursor, unless the batch has it) on first use.
func (b *ackBatch) device(ctx context.Context, ack store.DeliveryAck) (*deviceCursor, error) {
	if b.byDev != nil {
		if d, ok := b.byDev[deviceKey{user: ack.UserID, device: ack.DeviceID, conv: ack.ConvID}]; ok {
			return d, nil
		}
	} else {
		for _, d := range b.devices {
			if d.userID == ack.UserID && d.deviceID == ack.DeviceID && d.convID == ack.ConvID {
				return d, nil
			}
		}
	}
	d := &deviceCursor{userID: ack.UserID, deviceID: ack.DeviceID, convID: ack.ConvID, member: true}
	var delivered int64
	var err error
	s := b.t.a.s
	hd, headOK := s.heads.get(b.t.a.id, ack.ConvID)
	devSeq, userSeq, curOK := s.cursors.get(b.t.a.id, ack.UserID, ack.DeviceID, ack.ConvID)
	if headOK && curOK {
		d.maxSeq, delivered, d.seq = hd.seq, userSeq, devSeq
		d.headSender, d.headKnown = hd.sender, true
	} else if err = s.foldIn(ctx, b.t.tx); err == nil { // the table's head is the log's
		err = b.t.queryRow(ctx, stmtAckState, ack.UserID, ack.DeviceID, ack.ConvID).
			Scan(&d.maxSeq, &delivered, &d.seq)
	}
	if errors.Is(err, sql.ErrNoRows) {
		d.member = false
	} else if err != nil {
		return nil, fmt.Errorf("read cursors of %s/%s in %s: %w",
			ack.UserID, ack.DeviceID, ack.ConvID, translate(err))
	}
	d.user = b.user(ack.UserID, ack.ConvID, delivered)
	b.devices = append(b.devices, d)
	if b.byDev == nil && len(b.devices) > scanUpTo {
		b.byDev = make(map[deviceKey]*deviceCursor, 2*len(b.devices))
		for _, d := range b.devices {
			b.byDev[deviceKey{user: d.userID, device: d.deviceID, conv: d.convID}] = d
		}
	} else if b.byDev != nil {
		b.byDev[deviceKey{user: d.userID, device: d.deviceID, conv: d.convID}] = d
	}
	return d, nil
}

// user returns the batch's cursor of a user, starting it at stored if the
// batch does not have it yet.
func (b *ackBatch) user(userID, convID string, stored int64) *userCursor {
	if b.byUser != nil {
		if u, ok := b.byUser[userKey{user: userID, conv: convID}]; ok {
			return u
		}
	} else {
		for _, u := range b.users {
			if u.userID == userID && u.convID == convID {
				return u
			}
		}
	}
	u := &userCursor{userID: userID, convID: convID, seq: stored}
	b.users = append(b.users, u)
	if b.byUser == nil && len(b.users) > scanUpTo {
		b.byUser = make(map[userKey]*userCursor, 2*len(b.users))
		for _, u := range b.users {
			b.byUser[userKey{user: u.userID, conv: u.convID}] = u
		}
	} else if b.byUser != nil {
		b.byUser[userKey{user: u.userID, conv: u.convID}] = u
	}
	return u
}

// flush logs the devices' cursors the batch moved; the fold (fold.go)
// writes them, and the members' delivery cursors, the highest of their
// devices'.
func (b *ackBatch) flush(ctx context.Context) error {
	for _, d := range b.devices {
		if !d.dirty {
			continue
		}
		_, err := b.t.exec(ctx, stmtLogAck, d.userID, d.deviceID, d.convID, d.seq)
		if err != nil {
			return fmt.Errorf("log cursor of %s/%s in %s: %w", d.userID, d.deviceID, d.convID, translate(err))
		}
	}
	return nil
}

// GetDeviceCursors returns a device's delivery cursors, by conversation id.
func (a *appStore) GetDeviceCursors(ctx context.Context, userID, deviceID string) (map[string]int64, error) {
	rows, err := a.query(ctx,
		`SELECT conv_id, seq FROM device_cursors
		WHERE app_id = ?1 AND user_id = ?2 AND device_id = ?3`, userID, deviceID)
	if err != nil {
		return nil, fmt.Errorf("get cursors of %s/%s: %w", userID, deviceID, translate(err))
	}
	defer rows.Close()
	out := make(map[string]int64)
	for rows.Next() {
		var conv string
		var seq int64
		if err := rows.Scan(&conv, &seq); err != nil {
			return nil, fmt.Errorf("get cursors of %s/%s: %w", userID, deviceID, translate(err))
		}
		out[conv] = seq
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("get cursors of %s/%s: %w", userID, deviceID, translate(err))
	}
	return out, nil
}

// MarkRead moves a user's read cursor forward to seq, clamped to the
// conversation's max seq; store.ErrNotFound if the user is not in the
// conversation.
func (a *appStore) MarkRead(ctx context.Context, userID, convID string, seq int64) (int64, bool, error) {
	var cur int64
	var moved bool
	ctx = context.WithoutCancel(ctx) // it may share its transaction (inSharedTx)
	// It moves a read cursor, which no cache holds.
	err := a.inSharedTx(func(t *appTx) error {
		var maxSeq int64
		err := t.queryRow(ctx, stmtReadState, userID, convID).Scan(&cur, &maxSeq)
		if err != nil {
			return translate(err)
		}
		target := min(seq, maxSeq)
		if target <= cur {
			return nil
		}
		if _, err := t.exec(ctx, stmtSetRead, userID, convID, target); err != nil {
			return translate(err)
		}
		cur, moved = target, true
		return nil
	}, func() {})
	if err != nil {
		return 0, false, fmt.Errorf("mark %s read by %s: %w", convID, userID, err)
	}
	return cur, moved, nil
}
