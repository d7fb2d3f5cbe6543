// Package mongo implements store.Store on MongoDB, for Magpie's cluster mode,
// where several gateway and worker processes share one database. It owns the
// collections and their indexes (EnsureIndexes), the document layout and the
// translation of driver errors into the store package's errors; no driver
// type leaks out of it.
//
// The store needs no transactions, change streams or TTL indexes, so it also
// runs on MongoDB-compatible servers that lack them (FerretDB, which its
// tests use). Every multi-document operation is written so that a crash
// between its steps leaves a state the next operation tolerates or repairs;
// AppendMessages (message.go) says how sequence numbers stay gap-free and
// unique without a transaction.
//
// Tenancy: every collection that holds data of an app keys its documents by
// an _id whose first field is the app id, and every index of such a
// collection starts with the app id. Filters on app data are built only by
// the key constructors of appStore (key, messageKey, entryKey, cursorKey,
// deviceKey, joinKey),
// which put the app id first in an _id, and by appStore.scope, which adds
// the app id condition to a query over _id fields.
//
// Durability: writes use majority write concern and retryable writes, so a
// call that returns has made its writes durable on a majority of the replica
// set; reads use majority read concern, so they never return a write that a
// failover could roll back. The few reads that must see a write another
// writer has just made (the append path after a conflict) read locally.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readconcern"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/magpie-im/magpie/internal/store"
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store backed by one MongoDB database. It is safe for
// concurrent use, and several Stores (in several processes) may share one
// database.
type Store struct {
	client *mongo.Client
	dbName string
	cfg    config

	c collections // majority read concern: what callers read
	l collections // local read concern: the append path's own reads
}

// collections holds a handle per collection.
type collections struct {
	meta, tenants, owners, members, sessions, apps, secrets, nonces *mongo.Collection
	users, tombstones, idempotency                                  *mongo.Collection
	conversations, messages, entries, cursors                       *mongo.Collection
	outbox, devices, credentials, pushLog, pushSettings             *mongo.Collection
	webhooks, webhookCounts, webhookEvents, webhookAttempts         *mongo.Collection
	keywordRules, agents, supportSessions                           *mongo.Collection
	groups, joinRequests                                            *mongo.Collection
	contacts, rooms                                                 *mongo.Collection
	usage, usageUsers                                               *mongo.Collection
}

// Collection names.
const (
	collMeta          = "meta"
	collTenants       = "tenants"
	collOwners        = "tenant_owners"
	collMembers       = "members"
	collSessions      = "sessions"
	collApps          = "apps"
	collSecrets       = "secrets"
	collNonces        = "nonces"
	collUsers         = "users"
	collTombstones    = "user_tombstones"
	collIdempotency   = "idempotency"
	collConversations = "conversations"
	collMessages      = "messages"
	collEntries       = "user_conversations"
	collCursors       = "device_cursors"
	collOutbox        = "push_outbox"
	collDevices       = "push_devices"
	collCredentials   = "push_credentials"
	collPushLog       = "push_log"
	collPushSettings  = "push_settings"
	collWebhooks      = "webhooks"
	collWebhookCounts = "webhook_counts"
	collWebhookEvents = "webhook_events"
	collAttempts      = "webhook_attempts"
	collKeywordRules  = "keyword_rules"
	collAgents        = "support_agents"
	collSupport       = "support_sessions"
	collGroups        = "groups"
	collJoinRequests  = "group_join_requests"
	collContacts      = "contacts"
	collUsage         = "usage_counters"
	collUsageUsers    = "usage_active_users"
	collRooms         = "rooms"
)

func newCollections(db *mongo.Database) collections {
	return collections{
		meta: db.Collection(collMeta), tenants: db.Collection(collTenants), owners: db.Collection(collOwners),
		members: db.Collection(collMembers), sessions: db.Collection(collSessions),
		apps: db.Collection(collApps), secrets: db.Collection(collSecrets),
		nonces: db.Collection(collNonces), users: db.Collection(collUsers),
		tombstones: db.Collection(collTombstones), idempotency: db.Collection(collIdempotency),
		conversations: db.Collection(collConversations), messages: db.Collection(collMessages),
		entries: db.Collection(collEntries), cursors: db.Collection(collCursors),
		outbox: db.Collection(collOutbox), devices: db.Collection(collDevices),
		credentials: db.Collection(collCredentials), pushLog: db.Collection(collPushLog),
		pushSettings: db.Collection(collPushSettings),
		webhooks:     db.Collection(collWebhooks), webhookCounts: db.Collection(collWebhookCounts),
		webhookEvents: db.Collection(collWebhookEvents), webhookAttempts: db.Collection(collAttempts),
		keywordRules: db.Collection(collKeywordRules),
		agents:       db.Collection(collAgents), supportSessions: db.Collection(collSupport),
		groups: db.Collection(collGroups), joinRequests: db.Collection(collJoinRequests),
		contacts: db.Collection(collContacts), rooms: db.Collection(collRooms),
		usage: db.Collection(collUsage), usageUsers: db.Collection(collUsageUsers),
	}
}

type config struct {
	appendRetries int
	// beforeInsert, if set (by tests), runs before each insert of an
	// append with the keys the insert is about to take.
	beforeInsert func(ctx context.Context, keys []messageKey)
}

// Option configures Open.
type Option func(*config)

// WithAppendRetries sets how many times AppendMessages retries a draft whose
// seq another writer took first before it gives up on the draft (and reports
// it in Appended.Err). Zero or less means the default, 64.
func WithAppendRetries(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.appendRetries = n
		}
	}
}

// Open connects to the MongoDB deployment at uri (a mongodb:// or
// mongodb+srv:// connection string) and returns the Store of database
// dbName. Whatever the URI says, writes use majority write concern and
// retryable writes, and reads majority read concern.
//
// Open does not create indexes: the store relies on the unique ones for
// deduplication and sequencing, so run EnsureIndexes (magpie migrate) on the
// database first.
func Open(ctx context.Context, uri, dbName string, opts ...Option) (*Store, error) {
	cfg := config{appendRetries: 64}
	for _, o := range opts {
		o(&cfg)
	}
	if dbName == "" {
		return nil, errors.New("open mongo: empty database name")
	}
	co := options.Client().ApplyURI(uri).
		SetWriteConcern(writeconcern.Majority()).
		SetReadConcern(readconcern.Majority()).
		SetRetryWrites(true).
		SetRetryReads(true).
		// store.Limits and store.Settings carry JSON tags only; their
		// documents use the same field names.
		SetBSONOptions(&options.BSONOptions{UseJSONStructTags: true})
	client, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("open mongo: %w", translate(err))
	}
	if err := client.Ping(ctx, readpref.Primary()); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("open mongo: ping: %w", translate(err))
	}
	local := options.Database().SetReadConcern(readconcern.Local())
	return &Store{
		client: client,
		dbName: dbName,
		cfg:    cfg,
		c:      newCollections(client.Database(dbName)),
		l:      newCollections(client.Database(dbName, local)),
	}, nil
}

// Ping reports whether the primary is reachable.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx, readpref.Primary()); err != nil {
		return fmt.Errorf("ping mongo: %w", translate(err))
	}
	return nil
}

// Close disconnects, waiting up to ten seconds for calls in flight.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("close mongo: %w", translate(err))
	}
	return nil
}

// App returns the handle for the data of app appID.
func (s *Store) App(appID string) store.AppStore {
	return s.app(appID)
}

func (s *Store) app(appID string) *appStore {
	return &appStore{s: s, id: appID}
}

// translate maps a driver error onto the store's errors so that no driver
// type leaks out of this package: no document becomes store.ErrNotFound, a
// duplicate key store.ErrConflict, and any other error a plain error carrying
// its message (and wrapping context.Canceled or context.DeadlineExceeded when
// it was caused by one).
func translate(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrLimit), isPlain(err):
		return err // translated already
	case errors.Is(err, mongo.ErrNoDocuments):
		return store.ErrNotFound
	case mongo.IsDuplicateKeyError(err):
		return store.ErrConflict
	}
	e := &plainError{msg: "mongo: " + err.Error()}
	switch {
	case errors.Is(err, context.Canceled):
		e.cause = context.Canceled
	case errors.Is(err, context.DeadlineExceeded), mongo.IsTimeout(err):
		e.cause = context.DeadlineExceeded
	}
	return e
}

// plainError is a driver error reduced to its message and, if any, the
// context error behind it.
type plainError struct {
	msg   string
	cause error
}

func (e *plainError) Error() string { return e.msg }
func (e *plainError) Unwrap() error { return e.cause }

func isPlain(err error) bool {
	var pe *plainError
	return errors.As(err, &pe)
}
