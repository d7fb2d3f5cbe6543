package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/magpie-im/magpie/internal/store"
)

// webhookDoc is an endpoint (_id.id). FailingSince is left out while the
// endpoint is not failing.
type webhookDoc struct {
	ID             appKey             `bson:"_id"`
	Kind           string             `bson:"kind"`
	URL            string             `bson:"url"`
	Description    string             `bson:"description"`
	Events         []string           `bson:"events"`
	Enabled        bool               `bson:"enabled"`
	DisabledReason string             `bson:"disabled_reason"`
	Secrets        []webhookSecretDoc `bson:"secrets"`
	Timeout        time.Duration      `bson:"timeout"` // nanoseconds
	FailOpen       bool               `bson:"fail_open"`
	ServerAPI      bool               `bson:"server_api"`
	Failures       int                `bson:"failures"`
	FailingSince   time.Time          `bson:"failing_since,omitempty"`
	CreatedAt      time.Time          `bson:"created_at"`
	UpdatedAt      time.Time          `bson:"updated_at"`
	Version        int64              `bson:"version"`
}

type webhookSecretDoc struct {
	ID        string    `bson:"id"`
	Sealed    []byte    `bson:"sealed,omitempty"`
	Hint      string    `bson:"hint,omitempty"`
	CreatedAt time.Time `bson:"created_at,omitempty"`
	ExpiresAt time.Time `bson:"expires_at,omitempty"`
}

type webhookEventDoc struct {
	ID        appKey    `bson:"_id"`
	Type      string    `bson:"type"`
	Payload   []byte    `bson:"payload,omitempty"`
	CreatedAt time.Time `bson:"created_at"`
}

type attemptDoc struct {
	ID        appKey        `bson:"_id"`
	Webhook   string        `bson:"webhook"`
	Event     string        `bson:"event"`
	EventType string        `bson:"event_type"`
	Attempt   int           `bson:"attempt"`
	Outcome   string        `bson:"outcome"`
	Status    int           `bson:"status,omitempty"`
	Error     string        `bson:"error,omitempty"`
	Response  string        `bson:"response,omitempty"`
	Latency   time.Duration `bson:"latency"` // nanoseconds
	At        time.Time     `bson:"at"`
}

// keywordRulesDoc is an app's keyword rules: one document per app, whose
// _id.id is empty.
type keywordRulesDoc struct {
	ID        appKey           `bson:"_id"`
	Rules     []keywordRuleDoc `bson:"rules"`
	UpdatedAt time.Time        `bson:"updated_at"`
	Version   int64            `bson:"version"`
}

type keywordRuleDoc struct {
	Word   string `bson:"word"`
	Action string `bson:"action"`
}

func webhookSecretDocs(ss []store.WebhookSecret) []webhookSecretDoc {
	if len(ss) == 0 {
		return nil
	}
	out := make([]webhookSecretDoc, len(ss))
	for i, s := range ss {
		out[i] = webhookSecretDoc{ID: s.ID, Sealed: s.Sealed, Hint: s.Hint, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt}
	}
	return out
}

func (d webhookDoc) record() store.Webhook {
	w := store.Webhook{
		ID: d.ID.ID, Kind: d.Kind, URL: d.URL, Description: d.Description, Events: d.Events,
		Enabled: d.Enabled, DisabledReason: d.DisabledReason, Timeout: d.Timeout, FailOpen: d.FailOpen,
		ServerAPI: d.ServerAPI, Failures: d.Failures, FailingSince: utc(d.FailingSince),
		CreatedAt: utc(d.CreatedAt), UpdatedAt: utc(d.UpdatedAt), Version: d.Version,
	}
	for _, s := range d.Secrets {
		w.Secrets = append(w.Secrets, store.WebhookSecret{ID: s.ID, Sealed: s.Sealed, Hint: s.Hint,
			CreatedAt: utc(s.CreatedAt), ExpiresAt: utc(s.ExpiresAt)})
	}
	return w
}

func (d webhookEventDoc) record() store.WebhookEvent {
	return store.WebhookEvent{ID: d.ID.ID, Type: d.Type, Payload: d.Payload, CreatedAt: utc(d.CreatedAt)}
}

func (d attemptDoc) record() store.WebhookAttempt {
	return store.WebhookAttempt{
		ID: d.ID.ID, WebhookID: d.Webhook, EventID: d.Event, EventType: d.EventType, Attempt: d.Attempt,
		Outcome: d.Outcome, Status: d.Status, Error: d.Error, Response: d.Response, Latency: d.Latency,
		At: utc(d.At),
	}
}

// CreateWebhook adds an endpoint; see store.WebhookStore. Without
// transactions the per-kind limit is a counter document per (app, kind): a
// conditional increment takes a slot, then the endpoint is inserted, and
// the slot is given back if the insert fails. A crash between the two
// leaves the counter one too high, which refuses an endpoint rather than
// allowing one too many. An id the app holds already is store.ErrConflict,
// checked before the limit.
func (a *appStore) CreateWebhook(ctx context.Context, w store.Webhook, maxPerKind int) error {
	if err := a.createWebhook(ctx, w, maxPerKind); err != nil {
		return fmt.Errorf("create webhook %s: %w", w.ID, err)
	}
	return nil
}

func (a *appStore) createWebhook(ctx context.Context, w store.Webhook, maxPerKind int) error {
	k := a.key(w.ID)
	_, err := findOne[webhookDoc](ctx, a.s.l.webhooks, byID(k), options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err == nil {
		return store.ErrConflict
	}
	if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("look up: %w", err)
	}
	if err := a.takeWebhookSlot(ctx, w.Kind, maxPerKind); err != nil {
		return err
	}
	_, err = a.s.c.webhooks.InsertOne(ctx, webhookDoc{
		ID: k, Kind: w.Kind, URL: w.URL, Description: w.Description, Events: w.Events, Enabled: w.Enabled,
		DisabledReason: w.DisabledReason, Secrets: webhookSecretDocs(w.Secrets), Timeout: w.Timeout,
		FailOpen: w.FailOpen, ServerAPI: w.ServerAPI, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, Version: 1,
	})
	if err != nil {
		if merr := a.moveWebhookCount(context.WithoutCancel(ctx), w.Kind, -1); merr != nil {
			return errors.Join(translate(err), merr)
		}
		return translate(err)
	}
	return nil
}

// takeWebhookSlot counts an endpoint of this kind about to be added,
// unless the app has maxPerKind of them (store.ErrLimit; 0: no limit). The
// counter is a document of webhook_counts, {_id: {app, id: kind}, n}, so
// that the limit is one conditional update of it (no transactions): it is
// created if missing, then incremented only while n < maxPerKind.
func (a *appStore) takeWebhookSlot(ctx context.Context, kind string, maxPerKind int) error {
	filter := byID(a.key(kind))
	_, err := a.s.c.webhookCounts.UpdateOne(ctx, filter,
		bson.D{{Key: "$setOnInsert", Value: bson.D{{Key: "n", Value: 0}}}}, options.UpdateOne().SetUpsert(true))
	if err != nil && !mongo.IsDuplicateKeyError(err) { // a duplicate: another call created it
		return errorf(err, "create the %s counter", kind)
	}
	if maxPerKind > 0 {
		filter = append(filter, bson.E{Key: "n", Value: bson.D{{Key: "$lt", Value: maxPerKind}}})
	}
	res, err := a.s.c.webhookCounts.UpdateOne(ctx, filter, bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: 1}}}})
	if err != nil {
		return errorf(err, "count %s webhooks", kind)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("app has %d %s webhooks: %w", maxPerKind, kind, store.ErrLimit)
	}
	return nil
}

// moveWebhookCount moves the count of the app's endpoints of a kind.
func (a *appStore) moveWebhookCount(ctx context.Context, kind string, by int) error {
	_, err := a.s.c.webhookCounts.UpdateOne(ctx, byID(a.key(kind)),
		bson.D{{Key: "$inc", Value: bson.D{{Key: "n", Value: by}}}})
	if err != nil {
		return errorf(err, "move the %s counter", kind)
	}
	return nil
}

// GetWebhook returns one endpoint, or store.ErrNotFound.
func (a *appStore) GetWebhook(ctx context.Context, id string) (store.Webhook, error) {
	d, err := findOne[webhookDoc](ctx, a.s.c.webhooks, byID(a.key(id)))
	if err != nil {
		return store.Webhook{}, fmt.Errorf("get webhook %s: %w", id, err)
	}
	return d.record(), nil
}

// ListWebhooks returns the app's endpoints, by id.
func (a *appStore) ListWebhooks(ctx context.Context) ([]store.Webhook, error) {
	ds, err := findAll[webhookDoc](ctx, a.s.c.webhooks, a.scope(),
		options.Find().SetSort(bson.D{{Key: "_id.id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("list webhooks: %w", err)
	}
	return records(ds, webhookDoc.record), nil
}

// UpdateWebhook replaces an endpoint's mutable fields if its version is
// still w.Version, and increments it: one conditional single-document
// update. The stored endpoint is read first, to learn whether the update
// enables it (and so clears its failure state); the version in the filter
// makes the update apply only to the state read.
func (a *appStore) UpdateWebhook(ctx context.Context, w store.Webhook) error {
	k := a.key(w.ID)
	d, err := findOne[webhookDoc](ctx, a.s.l.webhooks, byID(k))
	if err == nil && d.Version != w.Version {
		err = store.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("update webhook %s: %w", w.ID, err)
	}
	fields := bson.D{
		{Key: "url", Value: w.URL}, {Key: "description", Value: w.Description},
		{Key: "events", Value: w.Events}, {Key: "enabled", Value: w.Enabled},
		{Key: "disabled_reason", Value: w.DisabledReason}, {Key: "secrets", Value: webhookSecretDocs(w.Secrets)},
		{Key: "timeout", Value: w.Timeout}, {Key: "fail_open", Value: w.FailOpen},
		{Key: "server_api", Value: w.ServerAPI}, {Key: "updated_at", Value: w.UpdatedAt},
	}
	update := bson.D{{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}}}
	if w.Enabled && !d.Enabled {
		fields = append(fields, bson.E{Key: "failures", Value: 0})
		update = append(update, bson.E{Key: "$unset", Value: bson.D{{Key: "failing_since", Value: ""}}})
	}
	update = append(update, bson.E{Key: "$set", Value: fields})
	res, err := a.s.c.webhooks.UpdateOne(ctx, bson.D{{Key: "_id", Value: k}, {Key: "version", Value: w.Version}}, update)
	if err == nil && res.MatchedCount == 0 {
		err = store.ErrConflict
		if _, ferr := findOne[webhookDoc](ctx, a.s.l.webhooks, byID(k)); errors.Is(ferr, store.ErrNotFound) {
			err = store.ErrNotFound
		}
	}
	if err != nil {
		return errorf(err, "update webhook %s", w.ID)
	}
	return nil
}

// DeleteWebhook removes an endpoint, gives its slot back and removes its
// delivery attempts. An AddWebhookAttempts racing with it takes back the
// attempts it added once it sees the endpoint gone.
func (a *appStore) DeleteWebhook(ctx context.Context, id string) error {
	var d webhookDoc
	err := a.s.c.webhooks.FindOneAndDelete(ctx, byID(a.key(id))).Decode(&d)
	if err != nil {
		return errorf(err, "delete webhook %s", id)
	}
	// Without the caller's cancellation: the endpoint is gone already.
	ctx = context.WithoutCancel(ctx)
	if err := a.moveWebhookCount(ctx, d.Kind, -1); err != nil {
		return fmt.Errorf("delete webhook %s: %w", id, err)
	}
	if _, err := a.s.c.webhookAttempts.DeleteMany(ctx, a.scope(bson.E{Key: "webhook", Value: id})); err != nil {
		return errorf(err, "delete webhook %s: delete attempts", id)
	}
	return nil
}

// recordRounds caps the rounds of RecordWebhookResult's two conditional
// updates that both miss because another result changed the endpoint in
// between.
const recordRounds = 16

// RecordWebhookResult updates an endpoint's failure state, each way with
// single-document updates: a success sets failures to 0 and removes
// failing_since; a failure is one of two conditional increments, of an
// endpoint failing already, or of one not failing, which also sets
// failing_since. Exactly one of them counts each failure; if neither
// matches (a concurrent result changed the state in between) the round
// runs again.
func (a *appStore) RecordWebhookResult(ctx context.Context, id string, ok bool, at time.Time) (store.Webhook, error) {
	d, err := a.recordWebhookResult(ctx, id, ok, at)
	if err != nil {
		return store.Webhook{}, fmt.Errorf("record webhook %s result: %w", id, err)
	}
	return d.record(), nil
}

func (a *appStore) recordWebhookResult(ctx context.Context, id string, ok bool, at time.Time) (webhookDoc, error) {
	k := a.key(id)
	if ok {
		return a.updateWebhook(ctx, byID(k), bson.D{
			{Key: "$set", Value: bson.D{{Key: "failures", Value: 0}}},
			{Key: "$unset", Value: bson.D{{Key: "failing_since", Value: ""}}},
		})
	}
	inc := bson.D{{Key: "failures", Value: 1}}
	failing := func(b bool) bson.D {
		return bson.D{{Key: "_id", Value: k}, {Key: "failing_since", Value: bson.D{{Key: "$exists", Value: b}}}}
	}
	for range recordRounds {
		d, err := a.updateWebhook(ctx, failing(true), bson.D{{Key: "$inc", Value: inc}})
		if !errors.Is(err, store.ErrNotFound) {
			return d, err
		}
		d, err = a.updateWebhook(ctx, failing(false), bson.D{
			{Key: "$inc", Value: inc},
			{Key: "$set", Value: bson.D{{Key: "failing_since", Value: at}}},
		})
		if !errors.Is(err, store.ErrNotFound) {
			return d, err
		}
		if _, err := findOne[webhookDoc](ctx, a.s.l.webhooks, byID(k)); err != nil {
			return webhookDoc{}, err
		}
	}
	return webhookDoc{}, fmt.Errorf("the endpoint kept changing for %d rounds", recordRounds)
}

// updateWebhook applies update to the endpoint filter matches and returns
// it as updated, or store.ErrNotFound if none matches.
func (a *appStore) updateWebhook(ctx context.Context, filter, update bson.D) (webhookDoc, error) {
	var d webhookDoc
	err := a.s.c.webhooks.FindOneAndUpdate(ctx, filter, update,
		options.FindOneAndUpdate().SetReturnDocument(options.After)).Decode(&d)
	return d, translate(err)
}

// PutWebhookEvent stores an event unless the app holds one with its id
// (the unique _id).
func (a *appStore) PutWebhookEvent(ctx context.Context, e store.WebhookEvent) error {
	_, err := a.s.c.webhookEvents.InsertOne(ctx, webhookEventDoc{
		ID: a.key(e.ID), Type: e.Type, Payload: e.Payload, CreatedAt: e.CreatedAt,
	})
	if err != nil && !mongo.IsDuplicateKeyError(err) {
		return errorf(err, "put webhook event %s", e.ID)
	}
	return nil
}

// GetWebhookEvent returns one event, or store.ErrNotFound.
func (a *appStore) GetWebhookEvent(ctx context.Context, id string) (store.WebhookEvent, error) {
	d, err := findOne[webhookEventDoc](ctx, a.s.c.webhookEvents, byID(a.key(id)))
	if err != nil {
		return store.WebhookEvent{}, fmt.Errorf("get webhook event %s: %w", id, err)
	}
	return d.record(), nil
}

// AddWebhookAttempts records the attempts of endpoints that exist; see
// store.WebhookStore. As AddPushLog does for users, it looks the endpoints
// up, inserts their attempts in one unordered insert (an id the app holds
// already is a duplicate key, and skipped), then looks the endpoints up
// again: the attempts of an endpoint deleted meanwhile are taken back, and
// a DeleteWebhook that removes the endpoint after that lookup removes its
// attempts after it too.
func (a *appStore) AddWebhookAttempts(ctx context.Context, as []store.WebhookAttempt) error {
	if err := a.addWebhookAttempts(ctx, as); err != nil {
		return fmt.Errorf("add webhook attempts: %w", err)
	}
	return nil
}

func (a *appStore) addWebhookAttempts(ctx context.Context, as []store.WebhookAttempt) error {
	if len(as) == 0 {
		return nil
	}
	hooks := make([]string, 0, 1)
	for _, x := range as {
		if !slices.Contains(hooks, x.WebhookID) {
			hooks = append(hooks, x.WebhookID)
		}
	}
	exist, err := a.existingWebhooks(ctx, hooks)
	if err != nil {
		return err
	}
	var docs []any
	for _, x := range as {
		if !exist[x.WebhookID] {
			continue
		}
		docs = append(docs, attemptDoc{
			ID: a.key(x.ID), Webhook: x.WebhookID, Event: x.EventID, EventType: x.EventType,
			Attempt: x.Attempt, Outcome: x.Outcome, Status: x.Status, Error: x.Error,
			Response: x.Response, Latency: x.Latency, At: x.At,
		})
	}
	if len(docs) == 0 {
		return nil
	}
	_, err = a.s.c.webhookAttempts.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err != nil {
		wes, err := writeErrors(err)
		if err != nil {
			return errorf(err, "insert attempts")
		}
		for _, we := range wes {
			if !isDuplicate(we.WriteError) {
				return errorf(we.WriteError, "insert attempt %s", docs[we.Index].(attemptDoc).ID.ID)
			}
		}
	}
	exist, err = a.existingWebhooks(ctx, hooks)
	if err != nil {
		return err
	}
	var gone []string
	var keys []appKey
	for _, doc := range docs {
		if d := doc.(attemptDoc); !exist[d.Webhook] {
			gone = append(gone, d.Webhook)
			keys = append(keys, d.ID)
		}
	}
	if len(keys) > 0 {
		filter := bson.D{{Key: "_id", Value: in(keys)}, {Key: "webhook", Value: in(gone)}}
		if _, err := a.s.c.webhookAttempts.DeleteMany(context.WithoutCancel(ctx), filter); err != nil {
			return errorf(err, "take back the attempts of missing endpoints")
		}
	}
	return nil
}

// existingWebhooks returns which of the endpoints the app has, reading
// locally.
func (a *appStore) existingWebhooks(ctx context.Context, ids []string) (map[string]bool, error) {
	keys := make([]appKey, len(ids))
	for i, id := range ids {
		keys[i] = a.key(id)
	}
	ds, err := findAll[webhookDoc](ctx, a.s.l.webhooks, bson.D{{Key: "_id", Value: in(keys)}},
		options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("check webhooks: %w", err)
	}
	out := make(map[string]bool, len(ds))
	for _, d := range ds {
		out[d.ID.ID] = true
	}
	return out, nil
}

// ListWebhookAttempts returns up to q.Limit attempts of endpoint
// q.WebhookID (of event q.EventID, if set) with id < q.Before, newest
// first.
func (a *appStore) ListWebhookAttempts(ctx context.Context, q store.WebhookAttemptQuery) ([]store.WebhookAttempt, error) {
	if q.Limit <= 0 {
		return nil, nil
	}
	conds := []bson.E{{Key: "webhook", Value: q.WebhookID}}
	if q.EventID != "" {
		conds = append(conds, bson.E{Key: "event", Value: q.EventID})
	}
	if q.Before != "" {
		conds = append(conds, bson.E{Key: "_id.id", Value: bson.D{{Key: "$lt", Value: q.Before}}})
	}
	ds, err := findAll[attemptDoc](ctx, a.s.c.webhookAttempts, a.scope(conds...),
		options.Find().SetSort(bson.D{{Key: "_id.id", Value: -1}}).SetLimit(int64(q.Limit)))
	if err != nil {
		return nil, fmt.Errorf("list webhook attempts of %s: %w", q.WebhookID, err)
	}
	return records(ds, attemptDoc.record), nil
}

// GetKeywordRules returns the app's keyword rules, the zero value if it
// stored none.
func (a *appStore) GetKeywordRules(ctx context.Context) (store.KeywordRules, error) {
	d, err := findOne[keywordRulesDoc](ctx, a.s.c.keywordRules, byID(a.key("")))
	if errors.Is(err, store.ErrNotFound) {
		return store.KeywordRules{}, nil
	}
	if err != nil {
		return store.KeywordRules{}, fmt.Errorf("get keyword rules: %w", err)
	}
	r := store.KeywordRules{UpdatedAt: utc(d.UpdatedAt), Version: d.Version}
	for _, x := range d.Rules {
		r.Rules = append(r.Rules, store.KeywordRule{Word: x.Word, Action: x.Action})
	}
	return r, nil
}

// PutKeywordRules replaces the app's keyword rules if their version is
// still r.Version: the first put is an insert (a duplicate key if another
// put came first), a later one a conditional update. store.ErrConflict if
// nothing was written.
func (a *appStore) PutKeywordRules(ctx context.Context, r store.KeywordRules) error {
	rules := make([]keywordRuleDoc, len(r.Rules))
	for i, x := range r.Rules {
		rules[i] = keywordRuleDoc{Word: x.Word, Action: x.Action}
	}
	k := a.key("")
	var err error
	if r.Version == 0 {
		_, err = a.s.c.keywordRules.InsertOne(ctx, keywordRulesDoc{ID: k, Rules: rules, UpdatedAt: r.UpdatedAt, Version: 1})
	} else {
		var res *mongo.UpdateResult
		res, err = a.s.c.keywordRules.UpdateOne(ctx, bson.D{{Key: "_id", Value: k}, {Key: "version", Value: r.Version}}, bson.D{
			{Key: "$set", Value: bson.D{{Key: "rules", Value: rules}, {Key: "updated_at", Value: r.UpdatedAt}}},
			{Key: "$inc", Value: bson.D{{Key: "version", Value: 1}}},
		})
		if err == nil && res.MatchedCount == 0 {
			err = store.ErrConflict
		}
	}
	if err != nil {
		return errorf(err, "put keyword rules")
	}
	return nil
}

// DeleteWebhookLogBefore removes, in every app, the webhook events created
// before the given time and the delivery attempts made before it, app by
// app.
func (s *Store) DeleteWebhookLogBefore(ctx context.Context, before time.Time) (int64, error) {
	n, err := s.sweep(ctx, s.c.webhookEvents, bson.E{Key: "created_at", Value: bson.D{{Key: "$lt", Value: before}}})
	if err != nil {
		return n, fmt.Errorf("delete webhook events: %w", err)
	}
	m, err := s.sweep(ctx, s.c.webhookAttempts, bson.E{Key: "at", Value: bson.D{{Key: "$lt", Value: before}}})
	if err != nil {
		return n + m, fmt.Errorf("delete webhook attempts: %w", err)
	}
	return n + m, nil
}
