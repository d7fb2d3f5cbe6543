package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/magpie-im/magpie/internal/store"
)

func jsonValid(s string) bool { return json.Valid([]byte(s)) }

// Cursor is a position in a conversation.
type Cursor struct {
	ConvID string
	Seq    int64
}

// AckDelivered records that a device holds every message of each
// conversation up to its cursor (ack:R), and sends DELIVERED receipts to the
// other members when the user's delivery cursor moves over a message the
// user did not send. It returns once the cursors are durable.
func (s *Service) AckDelivered(ctx context.Context, appID, userID, deviceID string, cursors []Cursor) error {
	items, err := s.ackItems(ctx, appID, userID, deviceID, cursors)
	if err != nil {
		return err
	}
	_, err = s.acks.SubmitAll(ctx, items)
	return err
}

// AckDeliveredFunc is AckDelivered for a caller that does not wait: done
// gets the outcome once the cursors are durable (or failed), on the
// committer: it must not block. If AckDeliveredFunc returns an error,
// nothing was queued and done is never called.
func (s *Service) AckDeliveredFunc(ctx context.Context, appID, userID, deviceID string, cursors []Cursor, done func(error)) error {
	items, err := s.ackItems(ctx, appID, userID, deviceID, cursors)
	if err != nil {
		return err
	}
	return s.acks.EnqueueFunc(ctx, items, 0, func(_ []store.AckResult, err error) { done(err) })
}

// ackItems checks a device's delivery acks and returns them as ack items.
func (s *Service) ackItems(ctx context.Context, appID, userID, deviceID string, cursors []Cursor) ([]ackItem, error) {
	if len(cursors) == 0 || len(cursors) > 256 {
		return nil, errorf("invalid_argument", "deliver_ack must carry 1-256 cursors")
	}
	for _, c := range cursors {
		if c.Seq < 1 {
			return nil, errorf("invalid_argument", "cursor seq %d of %q: seqs start at 1", c.Seq, c.ConvID)
		}
	}
	items := make([]ackItem, len(cursors))
	for i, c := range cursors {
		members, err := s.memberOf(ctx, appID, userID, c.ConvID)
		if err != nil {
			return nil, err
		}
		var peers []string
		if _, group := GroupOf(c.ConvID); !group {
			// A group's members are not told of each other's deliveries:
			// that would be members² receipts.
			peers = others(members, userID)
		}
		items[i] = ackItem{appID: appID, peers: peers,
			ack: store.DeliveryAck{UserID: userID, DeviceID: deviceID, ConvID: c.ConvID, Seq: c.Seq}}
	}
	return items, nil
}

func (s *Service) commitAcks(ctx context.Context, items []ackItem) ([]store.AckResult, []error) {
	return commitByApp(items, func(it ackItem) (string, store.DeliveryAck) { return it.appID, it.ack },
		func(app string, acks []store.DeliveryAck) ([]store.AckResult, error) {
			res, err := s.store.App(app).AckDelivered(ctx, acks)
			if err != nil {
				return nil, fmt.Errorf("record %d delivery acks: %w", len(acks), err)
			}
			return res, nil
		})
}

// deliveredReceipts sends DELIVERED receipts for user cursors that moved
// over someone else's message. A cursor that moved over the user's own
// messages only (their SendAcks let the device acknowledge past them) tells
// the other members nothing they did not know, so it sends nothing: in a
// one-to-one chat that is about every other ack. The receipt carries the
// user's whole cursor, like the peer_delivered_seq of a sync.
func (s *Service) deliveredReceipts(items []ackItem, outs []store.AckResult) {
	now := s.now()
	for i, out := range outs {
		a := items[i].ack
		s.watch.acked(items[i].appID, a.ConvID, a.UserID, out.UserSeq)
		if out.ReceivedSeq == 0 {
			continue
		}
		s.cfg.Metrics.MessageDelivered()
		for _, p := range items[i].peers {
			s.router.PushReceipt(items[i].appID, p, "", Receipt{
				Kind: ReceiptDelivered, ConvID: a.ConvID, Seq: out.UserSeq, UserID: a.UserID, At: now,
			})
		}
	}
}

// MarkRead moves the user's read cursor forward and, when it moves, sends a
// READ receipt to the other members and to the user's other devices.
func (s *Service) MarkRead(ctx context.Context, appID, userID, session, convID string, seq int64) error {
	if seq < 1 {
		return errorf("invalid_argument", "read seq %d: seqs start at 1", seq)
	}
	members, err := s.memberOf(ctx, appID, userID, convID)
	if err != nil {
		return err
	}
	cur, moved, err := s.store.App(appID).MarkRead(ctx, userID, convID, seq)
	if errors.Is(err, store.ErrNotFound) {
		return errorf("conversation_not_found", "no conversation %q", convID)
	}
	if err != nil {
		return fmt.Errorf("mark read: %w", err)
	}
	if !moved {
		return nil
	}
	r := Receipt{Kind: ReceiptRead, ConvID: convID, Seq: cur, UserID: userID, At: s.now()}
	if s.cfg.Events != nil {
		s.cfg.Events.MessageRead(appID, userID, convID, cur, r.At)
	}
	if _, group := GroupOf(convID); !group {
		// In a group, the others learn read counts on request instead.
		for _, p := range others(members, userID) {
			s.router.PushReceipt(appID, p, "", r)
		}
	}
	s.router.PushReceipt(appID, userID, session, r)
	return nil
}
