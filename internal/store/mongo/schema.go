package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// index is one secondary index of a collection.
type index struct {
	name   string
	keys   bson.D
	unique bool
}

// indexes are the store's secondary indexes, by collection. Every collection
// also has MongoDB's unique index on _id, which for app data is a document
// whose first field is the app id; every index of app data starts with the
// app id too (_id.app), as TestIndexesStartWithApp checks.
//
// Indexes are only ever added: an index that is renamed or changed gets a
// new name, and the old one is dropped by hand once no process needs it.
var indexes = map[string][]index{
	collMembers: {
		// Emails are unique per tenant; operators have tenant "".
		{name: "tenant_email", keys: bson.D{{Key: "tenant_id", Value: 1}, {Key: "email_key", Value: 1}}, unique: true},
		{name: "tenant", keys: bson.D{{Key: "tenant_id", Value: 1}, {Key: "_id", Value: 1}}},
		{name: "login", keys: bson.D{{Key: "email_key", Value: 1}, {Key: "_id", Value: 1}}},
	},
	collSessions: {
		{name: "member", keys: bson.D{{Key: "member_id", Value: 1}}},
		{name: "expiry", keys: bson.D{{Key: "expires_at", Value: 1}}},
	},
	collApps: {
		{name: "key", keys: bson.D{{Key: "key", Value: 1}}, unique: true},
		{name: "tenant", keys: bson.D{{Key: "tenant_id", Value: 1}, {Key: "_id", Value: 1}}},
	},
	collSecrets: {
		{name: "app_created", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "created_at", Value: 1}}},
	},
	collNonces: {
		{name: "app_expiry", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "expires_at", Value: 1}}},
	},
	collUsers: {
		{name: "app_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.id", Value: 1}}},
	},
	collTombstones: {
		{name: "app_deleted", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "deleted_at", Value: 1}}},
	},
	collIdempotency: {
		{name: "app_created", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "created_at", Value: 1}}},
	},
	collMessages: {
		// Ranges of a conversation (the _id index serves exact seqs only).
		{name: "app_conv_seq", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.conv", Value: 1}, {Key: "_id.seq", Value: 1}}},
		// Deduplication: one message per (app, sender, client id). dk is
		// the client id, or for a message without one a document that
		// names the message, which no client id (a string) can equal;
		// ds is the sender until the sender is deleted. See messageInsert.
		{name: "dedup", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "ds", Value: 1}, {Key: "dk", Value: 1}}, unique: true},
	},
	collEntries: {
		{name: "app_user_conv", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.user", Value: 1}, {Key: "_id.conv", Value: 1}}},
		// A conversation's members by user id (a group's members and
		// readers, DismissGroup).
		{name: "app_conv_user", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.conv", Value: 1}, {Key: "_id.user", Value: 1}}},
		// A group's owner and admins by user id (ListGroupAdmins), without
		// reading its other members.
		{name: "app_conv_role_user", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.conv", Value: 1}, {Key: "role", Value: 1}, {Key: "_id.user", Value: 1}}},
	},
	collCursors: {
		{name: "app_user_device", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.user", Value: 1}, {Key: "_id.device", Value: 1}, {Key: "_id.conv", Value: 1}}},
	},
	collOutbox: {
		// A user's entries by id (ListOutbox of one user, DeleteUser).
		{name: "app_user_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "user", Value: 1}, {Key: "_id.id", Value: 1}}},
		// Expiry (DeleteOutboxBefore).
		{name: "app_created", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "created_at", Value: 1}}},
	},
	collDevices: {
		// A user's devices (ListDevices, DeleteDevices, DeleteUser).
		{name: "app_user_device", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.user", Value: 1}, {Key: "_id.device", Value: 1}}},
		// A token is registered once per app (PutDevice).
		{name: "app_token", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "provider", Value: 1}, {Key: "token", Value: 1}}, unique: true},
	},
	collCredentials: {
		{name: "app_provider", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.id", Value: 1}}},
	},
	collPushLog: {
		// The app's entries by id (ListPushLog of the whole app).
		{name: "app_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.id", Value: 1}}},
		// A user's entries by id (ListPushLog of one user, DeleteUser).
		{name: "app_user_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "user", Value: 1}, {Key: "_id.id", Value: 1}}},
		// A message's entries by id (ListPushLog of one conversation or message).
		{name: "app_conv_seq_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "conv", Value: 1}, {Key: "seq", Value: 1}, {Key: "_id.id", Value: 1}}},
		// Expiry (DeleteOutboxBefore).
		{name: "app_at", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "at", Value: 1}}},
	},
	collWebhooks: {
		// The app's endpoints by id (ListWebhooks).
		{name: "app_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.id", Value: 1}}},
	},
	collWebhookEvents: {
		// Expiry (DeleteWebhookLogBefore).
		{name: "app_created", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "created_at", Value: 1}}},
	},
	collAttempts: {
		// An endpoint's attempts by id (ListWebhookAttempts, DeleteWebhook).
		{name: "app_webhook_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "webhook", Value: 1}, {Key: "_id.id", Value: 1}}},
		// An event's attempts of an endpoint by id (ListWebhookAttempts).
		{name: "app_webhook_event_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "webhook", Value: 1}, {Key: "event", Value: 1}, {Key: "_id.id", Value: 1}}},
		// Expiry (DeleteWebhookLogBefore).
		{name: "app_at", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "at", Value: 1}}},
	},
	collAgents: {
		// The app's agents by user id (ListAgents of every skill).
		{name: "app_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.id", Value: 1}}},
		// The agents of a skill by user id (ListAgents).
		{name: "app_skills_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "skills", Value: 1}, {Key: "_id.id", Value: 1}}},
	},
	collSupport: {
		// A queue in order (ListSupportSessions by state and skill).
		{name: "app_state_skill_created_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "state", Value: 1}, {Key: "skill", Value: 1}, {Key: "created_at", Value: 1}, {Key: "_id.id", Value: 1}}},
		// An agent's sessions (ListSupportSessions by agent).
		{name: "app_agent_state", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "agent", Value: 1}, {Key: "state", Value: 1}}},
		// A visitor's sessions (ListSupportSessions by visitor).
		{name: "app_visitor", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "visitor", Value: 1}}},
		// Every session in order (ListSupportSessions without filters).
		{name: "app_created_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "created_at", Value: 1}, {Key: "_id.id", Value: 1}}},
		// The pending events of the support outbox (PendingSupportEvents).
		{name: "app_outbox_at", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "outbox.at", Value: 1}}},
		// The pending notices of the support outbox (PendingSupportEvents).
		{name: "app_notices_at", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "notices.at", Value: 1}}},
	},
	collJoinRequests: {
		// A group's requests by user id (ListJoinRequests, DismissGroup).
		{name: "app_group_user", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.group", Value: 1}, {Key: "_id.user", Value: 1}}},
		// A user's requests (DeleteUser).
		{name: "app_user", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.user", Value: 1}}},
	},
	collContacts: {
		// A user's friends, outgoing requests and blocks by the other id.
		{name: "app_user_kind_other", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.user", Value: 1}, {Key: "_id.kind", Value: 1}, {Key: "_id.other", Value: 1}}},
		// A user's incoming requests, and what names the user (DeleteUser).
		{name: "app_other_kind_user", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.other", Value: 1}, {Key: "_id.kind", Value: 1}, {Key: "_id.user", Value: 1}}},
	},
	collUsage: {
		// An app's counters by day (ListUsage).
		{name: "app_day", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.day", Value: 1}}},
	},
	collUsageUsers: {
		// An app's active users by day (ListUsage).
		{name: "app_day", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.day", Value: 1}}},
	},
	collRooms: {
		// The app's rooms by id (ListRooms).
		{name: "app_id", keys: bson.D{{Key: "_id.app", Value: 1}, {Key: "_id.id", Value: 1}}},
	},
}

// collectionNames lists every collection of the store, those without
// secondary indexes included.
var collectionNames = []string{
	collMeta, collTenants, collMembers, collSessions, collApps, collSecrets, collNonces,
	collUsers, collTombstones, collIdempotency, collConversations, collMessages, collEntries, collCursors,
	collOutbox, collDevices, collCredentials, collPushLog, collPushSettings,
	collWebhooks, collWebhookCounts, collWebhookEvents, collAttempts, collKeywordRules,
	collAgents, collSupport, collGroups, collJoinRequests,
	collContacts, collUsage, collUsageUsers, collRooms,
}

// EnsureIndexes creates the collections and indexes the store needs, where
// they are missing. It is idempotent and safe to run while the store is in
// use; `magpie migrate` runs it. On a large existing collection an index
// build takes time: run it before the processes that need the index.
func (s *Store) EnsureIndexes(ctx context.Context) error {
	db := s.client.Database(s.dbName)
	existing, err := db.ListCollectionNames(ctx, bson.D{})
	if err != nil {
		return fmt.Errorf("ensure indexes: list collections: %w", translate(err))
	}
	have := make(map[string]bool, len(existing))
	for _, name := range existing {
		have[name] = true
	}
	for _, name := range collectionNames {
		if !have[name] {
			err := db.CreateCollection(ctx, name)
			// Another process may have created it meanwhile.
			if err != nil && !isNamespaceExists(err) {
				return fmt.Errorf("ensure indexes: create collection %s: %w", name, translate(err))
			}
		}
		if err := ensureIndexes(ctx, db.Collection(name), indexes[name]); err != nil {
			return fmt.Errorf("ensure indexes: %s: %w", name, err)
		}
	}
	// Messages stored before search get their search tokens (once).
	return s.backfillSearch(ctx)
}

// ensureIndexes creates the indexes of ixs that c lacks, by name. (Asking
// for existing ones again would be a no-op on MongoDB, but FerretDB 1.x
// fails on it.)
func ensureIndexes(ctx context.Context, c *mongo.Collection, ixs []index) error {
	if len(ixs) == 0 {
		return nil
	}
	names, err := c.Indexes().ListSpecifications(ctx)
	if err != nil {
		return translate(err)
	}
	var models []mongo.IndexModel
	for _, ix := range ixs {
		if slices.ContainsFunc(names, func(s mongo.IndexSpecification) bool { return s.Name == ix.name }) {
			continue
		}
		o := options.Index().SetName(ix.name)
		if ix.unique {
			o.SetUnique(true)
		}
		models = append(models, mongo.IndexModel{Keys: ix.keys, Options: o})
	}
	if len(models) == 0 {
		return nil
	}
	_, err = c.Indexes().CreateMany(ctx, models)
	return translate(err)
}

// isNamespaceExists reports whether err says that a collection exists.
func isNamespaceExists(err error) bool {
	var ce mongo.CommandError
	return errors.As(err, &ce) && ce.Code == 48 // NamespaceExists
}
