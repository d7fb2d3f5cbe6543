package mongo

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// usageKey is the _id of a usage counter: one document per app, UTC day
// and counter (the peak connections counter is per node,
// "peak_connections:<node>").
type usageKey struct {
	App     string `bson:"app"`
	Day     string `bson:"day"`
	Counter string `bson:"counter"`
}

type usageDoc struct {
	ID    usageKey `bson:"_id"`
	Value int64    `bson:"v"`
}

// usageUserKey is the _id of a user active on a day.
type usageUserKey struct {
	App  string `bson:"app"`
	Day  string `bson:"day"`
	User string `bson:"user"`
}

// Usage counter names.
const (
	counterMessages   = "messages"
	counterAPICalls   = "api_calls"
	counterPushes     = "pushes"
	counterWebhooks   = "webhook_deliveries"
	counterPeakPrefix = "peak_connections:"
)

// AddUsage adds u to the app's usage of u.Day: one unordered bulk write of
// upserts ($inc for the additive counters, $max for the node's peak) and
// one unordered insert of the active users, duplicates ignored.
func (a *appStore) AddUsage(ctx context.Context, u store.UsageDelta) error {
	var models []mongo.WriteModel
	upsert := func(counter, op string, n int64) {
		models = append(models, mongo.NewUpdateOneModel().SetUpsert(true).
			SetFilter(byID(usageKey{App: a.id, Day: u.Day, Counter: counter})).
			SetUpdate(bson.D{{Key: op, Value: bson.D{{Key: "v", Value: n}}}}))
	}
	for _, c := range []struct {
		name string
		n    int64
	}{{counterMessages, u.Messages}, {counterAPICalls, u.APICalls}, {counterPushes, u.Pushes}, {counterWebhooks, u.WebhookDeliveries}} {
		if c.n != 0 {
			upsert(c.name, "$inc", c.n)
		}
	}
	if u.PeakConnections > 0 {
		upsert(counterPeakPrefix+u.Node, "$max", u.PeakConnections)
	}
	if len(models) > 0 {
		opts := options.BulkWrite().SetOrdered(false)
		_, err := a.s.c.usage.BulkWrite(ctx, models, opts)
		if mongo.IsDuplicateKeyError(err) {
			// Two first upserts of a counter raced to create it: now it
			// exists. The models that succeeded are not applied again:
			// retry only the failed ones.
			err = a.retryUsage(ctx, models, err)
		}
		if err != nil {
			return errorf(err, "add usage of %s", u.Day)
		}
	}
	if len(u.ActiveUsers) == 0 {
		return nil
	}
	docs := make([]any, len(u.ActiveUsers))
	for i, k := range u.ActiveUsers {
		docs[i] = bson.D{{Key: "_id", Value: usageUserKey{App: a.id, Day: u.Day, User: k}}}
	}
	_, err := a.s.c.usageUsers.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return nil
	}
	wes, err := writeErrors(err)
	if err != nil {
		return errorf(err, "add active users of %s", u.Day)
	}
	for _, we := range wes {
		if !isDuplicate(we.WriteError) {
			return errorf(we.WriteError, "add active users of %s", u.Day)
		}
	}
	return nil
}

// retryUsage writes again the models of a bulk write that failed with a
// duplicate key (a lost upsert race); any other failure is returned.
func (a *appStore) retryUsage(ctx context.Context, models []mongo.WriteModel, err error) error {
	wes, err := writeErrors(err)
	if err != nil {
		return err
	}
	var again []mongo.WriteModel
	for _, we := range wes {
		if !isDuplicate(we.WriteError) {
			return we.WriteError
		}
		again = append(again, models[we.Index])
	}
	_, err = a.s.c.usage.BulkWrite(ctx, again, options.BulkWrite().SetOrdered(false))
	return err
}

// ListUsage returns the app's usage of the days from..to, by day.
func (a *appStore) ListUsage(ctx context.Context, from, to string) ([]store.UsageDay, error) {
	days := bson.E{Key: "_id.day", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lte", Value: to}}}
	ds, err := findAll[usageDoc](ctx, a.s.c.usage, a.scope(days))
	if err != nil {
		return nil, errorf(err, "list usage")
	}
	byDay := make(map[string]*store.UsageDay)
	get := func(d string) *store.UsageDay {
		if u := byDay[d]; u != nil {
			return u
		}
		u := &store.UsageDay{Day: d}
		byDay[d] = u
		return u
	}
	for _, d := range ds {
		u := get(d.ID.Day)
		switch c := d.ID.Counter; {
		case c == counterMessages:
			u.Messages += d.Value
		case c == counterAPICalls:
			u.APICalls += d.Value
		case c == counterPushes:
			u.Pushes += d.Value
		case c == counterWebhooks:
			u.WebhookDeliveries += d.Value
		case strings.HasPrefix(c, counterPeakPrefix):
			u.PeakConnections += d.Value
		}
	}
	// Distinct users per day: a count per day, grouped by the server.
	cur, err := a.s.c.usageUsers.Aggregate(ctx, mongo.Pipeline{
		{{Key: "$match", Value: a.scope(days)}},
		{{Key: "$group", Value: bson.D{{Key: "_id", Value: "$_id.day"}, {Key: "n", Value: bson.D{{Key: "$sum", Value: 1}}}}}},
	})
	if err != nil {
		return nil, errorf(err, "count active users")
	}
	var counts []struct {
		Day string `bson:"_id"`
		N   int64  `bson:"n"`
	}
	if err := cur.All(ctx, &counts); err != nil {
		return nil, errorf(err, "count active users")
	}
	for _, c := range counts {
		get(c.Day).ActiveUsers = c.N
	}
	out := make([]store.UsageDay, 0, len(byDay))
	for _, u := range byDay {
		out = append(out, *u)
	}
	slices.SortFunc(out, func(x, y store.UsageDay) int { return strings.Compare(x.Day, y.Day) })
	return out, nil
}

// DeleteUsageBefore removes, in every app, the usage counters and active
// users of the days before day, app by app (each a range of the app_day
// index). FerretDB has no TTL indexes, so the maintenance sweep calls this.
func (s *Store) DeleteUsageBefore(ctx context.Context, day string) (int64, error) {
	old := bson.E{Key: "_id.day", Value: bson.D{{Key: "$lt", Value: day}}}
	n, err := s.sweep(ctx, s.c.usage, old)
	if err != nil {
		return n, fmt.Errorf("delete usage counters before %s: %w", day, err)
	}
	m, err := s.sweep(ctx, s.c.usageUsers, old)
	if err != nil {
		return n + m, fmt.Errorf("delete active users before %s: %w", day, err)
	}
	return n + m, nil
}
