package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// The support outbox without transactions: a session's pending entries
// live in its own document, the post events in supportDoc.Outbox and the
// notices in supportDoc.Notices (an array of their own, so that a process
// that knows only events never publishes a notice as one), so the update
// that changes the session adds them in the same single-document write,
// and a change that fails adds none. Publishing removes them with $pullAll
// of the exact elements read (FerretDB's $pull takes no conditions). The
// drains find them through the app_outbox_at and app_notices_at indexes,
// whose keys are only the pending entries' times (a session without any
// has none but the null entry).

// supportEventDoc is one pending entry in a session's outbox or notices.
type supportEventDoc struct {
	ID      string    `bson:"id"`
	Type    string    `bson:"type"`
	User    string    `bson:"user,omitempty"` // a notice's recipient
	At      time.Time `bson:"at"`
	Payload []byte    `bson:"payload"`
}

// outboxField is the array of a session's document that holds the pending
// entries of kind; ok is false for an unknown kind.
func outboxField(kind string) (string, bool) {
	switch kind {
	case store.SupportKindEvent:
		return "outbox", true
	case store.SupportKindNotice:
		return "notices", true
	}
	return "", false
}

// eventDocs returns the entries of evs of kind kind.
func eventDocs(evs []store.SupportEvent, kind string) []supportEventDoc {
	var out []supportEventDoc
	for _, ev := range evs {
		if ev.Kind != kind {
			continue
		}
		p := ev.Payload
		if p == nil {
			p = []byte{}
		}
		out = append(out, supportEventDoc{ID: ev.ID, Type: ev.Type, User: ev.UserID, At: ev.At.UTC().Truncate(time.Millisecond), Payload: p})
	}
	return out
}

// pushEvents adds to update the $push of evs onto the session's outbox
// and notices.
func pushEvents(update bson.D, evs []store.SupportEvent) bson.D {
	var push bson.D
	for _, kind := range []string{store.SupportKindEvent, store.SupportKindNotice} {
		if docs := eventDocs(evs, kind); len(docs) > 0 {
			field, _ := outboxField(kind)
			push = append(push, bson.E{Key: field, Value: bson.D{{Key: "$each", Value: docs}}})
		}
	}
	if len(push) == 0 {
		return update
	}
	return append(update, bson.E{Key: "$push", Value: push})
}

// pending reports whether d holds an entry of id pending.
func (d supportDoc) pending(id string) bool {
	has := func(p supportEventDoc) bool { return p.ID == id }
	return slices.ContainsFunc(d.Outbox, has) || slices.ContainsFunc(d.Notices, has)
}

// AddSupportEvents adds events to session id's outbox with one update
// conditional on its version, then, if it matched nothing, a read that
// tells store.ErrConflict from store.ErrNotFound. Ids already pending are
// left out first (they are read locally: a duplicate that slips through
// is published twice under one id, which receivers deduplicate).
func (a *appStore) AddSupportEvents(ctx context.Context, id string, version int64, evs ...store.SupportEvent) error {
	k := a.key(id)
	d, err := findOne[supportDoc](ctx, a.s.l.supportSessions, byID(k))
	if err != nil {
		return fmt.Errorf("add events of support session %s: %w", id, err)
	}
	evs = slices.DeleteFunc(slices.Clone(evs), func(ev store.SupportEvent) bool { return d.pending(ev.ID) })
	if d.Version != version {
		return fmt.Errorf("add events of support session %s: version %d, not %d: %w", id, d.Version, version, store.ErrConflict)
	}
	if len(evs) == 0 {
		return nil
	}
	res, err := a.s.c.supportSessions.UpdateOne(ctx, bson.D{{Key: "_id", Value: k}, {Key: "version", Value: version}},
		pushEvents(nil, evs))
	if err == nil && res.MatchedCount == 0 {
		err = store.ErrConflict // it changed after the read
		if _, ferr := findOne[supportDoc](ctx, a.s.l.supportSessions, byID(k)); ferr != nil {
			err = ferr
		}
	}
	if err != nil {
		return errorf(err, "add events of support session %s", id)
	}
	return nil
}

// SupportEventsPublished reads the session's outbox and notices and pulls
// the elements of the given ids, exactly as read.
func (a *appStore) SupportEventsPublished(ctx context.Context, sessionID string, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	k := a.key(sessionID)
	var d struct {
		Outbox  []bson.Raw `bson:"outbox"`
		Notices []bson.Raw `bson:"notices"`
	}
	err := a.s.c.supportSessions.FindOne(ctx, byID(k), options.FindOne().SetProjection(bson.D{{Key: "outbox", Value: 1}, {Key: "notices", Value: 1}})).Decode(&d)
	if err = translate(err); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return errorf(err, "mark events of support session %s published", sessionID)
	}
	var pull bson.D
	for _, f := range []struct {
		name  string
		elems []bson.Raw
	}{{"outbox", d.Outbox}, {"notices", d.Notices}} {
		var elems bson.A
		for _, raw := range f.elems {
			if id, ok := raw.Lookup("id").StringValueOK(); ok && slices.Contains(ids, id) {
				elems = append(elems, raw)
			}
		}
		if len(elems) > 0 {
			pull = append(pull, bson.E{Key: f.name, Value: elems})
		}
	}
	if len(pull) == 0 {
		return nil
	}
	_, err = a.s.c.supportSessions.UpdateOne(ctx, byID(k), bson.D{{Key: "$pullAll", Value: pull}})
	if err != nil {
		return errorf(err, "mark events of support session %s published", sessionID)
	}
	return nil
}

// PendingSupportEvents lists the apps with pending entries of kind old
// enough, then reads their sessions that hold some through
// app_outbox_at or app_notices_at.
func (s *Store) PendingSupportEvents(ctx context.Context, kind string, before time.Time, limit int) ([]store.SupportEvent, error) {
	field, ok := outboxField(kind)
	if limit <= 0 || !ok {
		return nil, nil
	}
	old := bson.E{Key: field + ".at", Value: bson.D{{Key: "$lte", Value: before}}}
	var apps []string
	if err := s.c.supportSessions.Distinct(ctx, "_id.app", bson.D{old}).Decode(&apps); err != nil {
		return nil, errorf(err, "pending support events: list apps")
	}
	slices.Sort(apps)
	var out []store.SupportEvent
	for _, app := range apps {
		ds, err := findAll[supportDoc](ctx, s.c.supportSessions, s.app(app).scope(old),
			options.Find().SetProjection(bson.D{{Key: field, Value: 1}}))
		if err != nil {
			return nil, fmt.Errorf("pending support events of %s: %w", app, err)
		}
		var evs []store.SupportEvent
		for _, d := range ds {
			pending := d.Outbox
			if kind == store.SupportKindNotice {
				pending = d.Notices
			}
			for _, e := range pending {
				if !e.At.After(before) {
					evs = append(evs, store.SupportEvent{AppID: app, SessionID: d.ID.ID, Kind: kind, ID: e.ID, Type: e.Type,
						UserID: e.User, At: utc(e.At), Payload: e.Payload})
				}
			}
		}
		slices.SortFunc(evs, func(x, y store.SupportEvent) int {
			if c := x.At.Compare(y.At); c != 0 {
				return c
			}
			return strings.Compare(x.ID, y.ID)
		})
		out = append(out, evs...)
		if len(out) >= limit {
			return out[:limit], nil
		}
	}
	return out, nil
}

// WaitingSupportApps lists the distinct apps with a waiting session old
// enough, through the queue index (app, state, ...).
func (s *Store) WaitingSupportApps(ctx context.Context, after string, before time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		return nil, nil
	}
	var apps []string
	err := s.c.supportSessions.Distinct(ctx, "_id.app", bson.D{
		{Key: "_id.app", Value: bson.D{{Key: "$gt", Value: after}}},
		{Key: "state", Value: store.SupportWaiting},
		{Key: "created_at", Value: bson.D{{Key: "$lt", Value: before}}},
	}).Decode(&apps)
	if err != nil {
		return nil, errorf(err, "apps with waiting support sessions")
	}
	slices.Sort(apps)
	if len(apps) > limit {
		apps = apps[:limit]
	}
	return apps, nil
}
