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

// Documents. Times are BSON dates (millisecond precision); optional times
// and empty values are left out. The _id of app data is a key document
// whose first field is the app id; a key's fields are always written in the
// same order, since MongoDB compares documents field by field.

// appKey is the _id of app records with one natural key: users, tombstones,
// idempotency records, conversations, secrets, nonces, outbox entries, push
// credentials (by provider), push log entries and push settings (by user).
type appKey struct {
	App string `bson:"app"`
	ID  string `bson:"id"`
}

type messageKey struct {
	App  string `bson:"app"`
	Conv string `bson:"conv"`
	Seq  int64  `bson:"seq"`
}

// entryKey is the _id of a user's conversation entry.
type entryKey struct {
	App  string `bson:"app"`
	User string `bson:"user"`
	Conv string `bson:"conv"`
}

type cursorKey struct {
	App    string `bson:"app"`
	User   string `bson:"user"`
	Device string `bson:"device"`
	Conv   string `bson:"conv"`
}

// deviceKey is the _id of a user's push device registration.
type deviceKey struct {
	App    string `bson:"app"`
	User   string `bson:"user"`
	Device string `bson:"device"`
}

type metaDoc struct {
	Key   string `bson:"_id"`
	Value string `bson:"value"`
}

type tenantDoc struct {
	ID        string    `bson:"_id"`
	Name      string    `bson:"name"`
	CreatedAt time.Time `bson:"created_at"`
}

type memberDoc struct {
	ID       string `bson:"_id"`
	TenantID string `bson:"tenant_id"`
	Email    string `bson:"email"`
	// EmailKey is the lower-cased email, the key of the uniqueness and
	// login indexes (SQLite compares emails case-insensitively too).
	EmailKey     string    `bson:"email_key"`
	Name         string    `bson:"name"`
	Role         string    `bson:"role"`
	PasswordHash string    `bson:"password_hash"`
	CreatedAt    time.Time `bson:"created_at"`
	Version      int64     `bson:"version"`
}

type sessionDoc struct {
	TokenHash string    `bson:"_id"`
	MemberID  string    `bson:"member_id"`
	CreatedAt time.Time `bson:"created_at"`
	ExpiresAt time.Time `bson:"expires_at"`
}

type appDoc struct {
	ID        string         `bson:"_id"`
	TenantID  string         `bson:"tenant_id"`
	Name      string         `bson:"name"`
	Key       string         `bson:"key"`
	Disabled  bool           `bson:"disabled"`
	Limits    store.Limits   `bson:"limits"`   // field names from its JSON tags
	Settings  store.Settings `bson:"settings"` // field names from its JSON tags
	CreatedAt time.Time      `bson:"created_at"`
	UpdatedAt time.Time      `bson:"updated_at"`
	Version   int64          `bson:"version"`
	// ActiveSecrets counts the app's active secrets, so that the limits on
	// them are one conditional update of this document (no transactions).
	ActiveSecrets int `bson:"active_secrets"`
}

type secretDoc struct {
	ID        appKey    `bson:"_id"`
	Sealed    []byte    `bson:"sealed,omitempty"`
	Hint      string    `bson:"hint"`
	CreatedAt time.Time `bson:"created_at"`
	RevokedAt time.Time `bson:"revoked_at,omitempty"`
}

type nonceDoc struct {
	ID        appKey    `bson:"_id"`
	ExpiresAt time.Time `bson:"expires_at"`
}

type userDoc struct {
	ID        appKey `bson:"_id"`
	Name      string `bson:"name"`
	AvatarURL string `bson:"avatar_url,omitempty"`
	// Metadata is a list of pairs: metadata keys are the customer's, and
	// may hold dots or dollars that a field name may not.
	Metadata         []pair    `bson:"metadata,omitempty"`
	Blocked          bool      `bson:"blocked"`
	TokensValidAfter time.Time `bson:"tokens_valid_after,omitempty"`
	CreatedAt        time.Time `bson:"created_at"`
	UpdatedAt        time.Time `bson:"updated_at"`
	LastSeenAt       time.Time `bson:"last_seen_at,omitempty"`
}

type pair struct {
	K string `bson:"k"`
	V string `bson:"v"`
}

type tombstoneDoc struct {
	ID        appKey    `bson:"_id"`
	DeletedAt time.Time `bson:"deleted_at"`
}

type idempotencyDoc struct {
	ID          appKey    `bson:"_id"`
	RequestHash string    `bson:"request_hash"`
	Status      int       `bson:"status"`
	Body        []byte    `bson:"body,omitempty"`
	CreatedAt   time.Time `bson:"created_at"`
}

type conversationDoc struct {
	ID        appKey    `bson:"_id"`
	Members   []string  `bson:"members"`
	MaxSeq    int64     `bson:"max_seq"`
	CreatedAt time.Time `bson:"created_at"`
	UpdatedAt time.Time `bson:"updated_at"`
	// Init is set while the members' entries may not all exist yet: the
	// conversation's creator sets it with the document and clears it once
	// it has created them; an appender that finds it set creates them too.
	Init bool `bson:"init,omitempty"`
	// Rejoin counts the deletions of members' entries since the flag was
	// last cleared; non-zero means the next append re-creates the entry of
	// a member who exists again. See appendBatch.rejoin.
	Rejoin int64 `bson:"rejoin,omitempty"`
	// MentionAllSeq is the newest message that mentioned every member
	// (one write per message, not one per member).
	MentionAllSeq int64 `bson:"mention_all_seq,omitempty"`
}

type messageDoc struct {
	ID          messageKey `bson:"_id"`
	SenderID    string     `bson:"sender"`
	ClientMsgID string     `bson:"cid,omitempty"`
	Type        string     `bson:"type"`
	Body        []byte     `bson:"body,omitempty"`
	Push        []byte     `bson:"push,omitempty"`
	Mentions    []string   `bson:"mentions,omitempty"`
	MentionAll  bool       `bson:"mention_all,omitempty"`
	CreatedAt   time.Time  `bson:"created_at"`
	RecalledAt  time.Time  `bson:"recalled_at,omitempty"`
	EditedAt    time.Time  `bson:"edited_at,omitempty"`
	// Search is the message's search tokens (store.IndexTokens), each
	// after a space, so that a term is found as the literal " tok tok"
	// (see search.go); absent when it has none, or is recalled.
	Search string `bson:"st,omitempty"`
}

// messageInsert is a new message with its deduplication key (index dedup):
// DS is the sender (replaced by an ObjectID, which no sender id equals, when
// the sender is deleted), DK the client message id or, for a message without
// one, a document naming the message, which no client id equals.
type messageInsert struct {
	Doc messageDoc `bson:",inline"`
	DS  any        `bson:"ds"`
	DK  any        `bson:"dk"`
}

func newMessageInsert(k messageKey, d store.Draft) messageInsert {
	m := messageInsert{Doc: messageDoc{
		ID: k, SenderID: d.SenderID, ClientMsgID: d.ClientMsgID,
		Type: d.Type, Body: d.Body, Push: d.Push, Mentions: d.Mentions, MentionAll: d.MentionAll,
		CreatedAt: d.CreatedAt, Search: searchField(d.Type, d.Body),
	}}
	m.DS, m.DK = d.SenderID, d.ClientMsgID
	if d.ClientMsgID == "" {
		m.DK = bson.D{{Key: "conv", Value: k.Conv}, {Key: "seq", Value: k.Seq}}
	}
	return m
}

type entryDoc struct {
	ID           entryKey `bson:"_id"`
	ReadSeq      int64    `bson:"read_seq"`
	DeliveredSeq int64    `bson:"delivered_seq"`
	FirstSeq     int64    `bson:"first_seq"`
	Muted        bool     `bson:"muted,omitempty"`
	// MentionSeq is the newest message that mentioned the user by id
	// (AppendMessages moves it with $max).
	MentionSeq int64 `bson:"mention_seq,omitempty"`
	// Role, MutedUntil and JoinedAt make the entry of a group's
	// conversation its membership record (group.go).
	Role       string    `bson:"role,omitempty"`
	MutedUntil time.Time `bson:"muted_until,omitempty"`
	JoinedAt   time.Time `bson:"joined_at,omitempty"`
	// The user's own settings of the conversation (store.ConvPrefs).
	PinnedAt   time.Time `bson:"pinned_at,omitempty"`
	Draft      string    `bson:"draft,omitempty"`
	ClearedSeq int64     `bson:"cleared_seq,omitempty"`
}

type cursorDoc struct {
	ID  cursorKey `bson:"_id"`
	Seq int64     `bson:"seq"`
}

type outboxDoc struct {
	ID        appKey    `bson:"_id"`
	User      string    `bson:"user"`
	Conv      string    `bson:"conv"`
	Seq       int64     `bson:"seq"`
	Sender    string    `bson:"sender,omitempty"`
	Type      string    `bson:"type"`
	Preview   string    `bson:"preview,omitempty"`
	Badge     int       `bson:"badge,omitempty"`
	Payload   []byte    `bson:"payload,omitempty"`
	CreatedAt time.Time `bson:"created_at"`
}

type deviceDoc struct {
	ID          deviceKey `bson:"_id"`
	Platform    string    `bson:"platform,omitempty"`
	Provider    string    `bson:"provider"`
	Token       string    `bson:"token"`
	Topic       string    `bson:"topic,omitempty"`
	Environment string    `bson:"environment,omitempty"`
	Locale      string    `bson:"locale,omitempty"`
	TimeZone    string    `bson:"time_zone,omitempty"`
	CreatedAt   time.Time `bson:"created_at"`
	UpdatedAt   time.Time `bson:"updated_at"`
}

// credentialDoc is an app's credential of one provider (_id.id). Info is a
// list of pairs, like user metadata: its keys need not be field names.
type credentialDoc struct {
	ID        appKey    `bson:"_id"`
	Sealed    []byte    `bson:"sealed,omitempty"`
	Info      []pair    `bson:"info,omitempty"`
	CreatedAt time.Time `bson:"created_at"`
	UpdatedAt time.Time `bson:"updated_at"`
}

type pushLogDoc struct {
	ID       appKey    `bson:"_id"`
	User     string    `bson:"user"`
	Conv     string    `bson:"conv"`
	Seq      int64     `bson:"seq"`
	Device   string    `bson:"device,omitempty"`
	Provider string    `bson:"provider,omitempty"`
	Status   string    `bson:"status"`
	Reason   string    `bson:"reason,omitempty"`
	At       time.Time `bson:"at"`
}

// pushSettingsDoc is a user's (_id.id) push settings.
type pushSettingsDoc struct {
	ID        appKey    `bson:"_id"`
	Disabled  bool      `bson:"disabled"`
	DNDStart  int       `bson:"dnd_start"`
	DNDEnd    int       `bson:"dnd_end"`
	TimeZone  string    `bson:"time_zone,omitempty"`
	UpdatedAt time.Time `bson:"updated_at"`
}

// Conversions between documents and records.

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

func (d tenantDoc) record() store.Tenant {
	return store.Tenant{ID: d.ID, Name: d.Name, CreatedAt: utc(d.CreatedAt)}
}

func (d memberDoc) record() store.Member {
	return store.Member{
		ID: d.ID, TenantID: d.TenantID, Email: d.Email, Name: d.Name,
		Role: store.Role(d.Role), PasswordHash: d.PasswordHash, CreatedAt: utc(d.CreatedAt),
		Version: d.Version,
	}
}

func (d sessionDoc) record() store.Session {
	return store.Session{TokenHash: d.TokenHash, MemberID: d.MemberID,
		CreatedAt: utc(d.CreatedAt), ExpiresAt: utc(d.ExpiresAt)}
}

func (d appDoc) record() store.App {
	return store.App{
		ID: d.ID, TenantID: d.TenantID, Name: d.Name, Key: d.Key, Disabled: d.Disabled,
		Limits: d.Limits, Settings: d.Settings, CreatedAt: utc(d.CreatedAt), UpdatedAt: utc(d.UpdatedAt),
		Version: d.Version,
	}
}

func (d secretDoc) record() store.Secret {
	return store.Secret{ID: d.ID.ID, AppID: d.ID.App, Sealed: d.Sealed, Hint: d.Hint,
		CreatedAt: utc(d.CreatedAt), RevokedAt: utc(d.RevokedAt)}
}

func (d userDoc) record() store.User {
	u := store.User{
		ID: d.ID.ID, Name: d.Name, AvatarURL: d.AvatarURL, Blocked: d.Blocked,
		TokensValidAfter: utc(d.TokensValidAfter), CreatedAt: utc(d.CreatedAt), UpdatedAt: utc(d.UpdatedAt),
		LastSeenAt: utc(d.LastSeenAt),
	}
	u.Metadata = metadata(d.Metadata)
	return u
}

// metadata decodes pairs written by pairs; nil when empty.
func metadata(ps []pair) map[string]string {
	if len(ps) == 0 {
		return nil
	}
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.K] = p.V
	}
	return m
}

// pairs encodes metadata as pairs sorted by key; nil when empty.
func pairs(m map[string]string) []pair {
	if len(m) == 0 {
		return nil
	}
	out := make([]pair, 0, len(m))
	for k, v := range m {
		out = append(out, pair{K: k, V: v})
	}
	slices.SortFunc(out, func(a, b pair) int {
		switch {
		case a.K < b.K:
			return -1
		case a.K > b.K:
			return 1
		}
		return 0
	})
	return out
}

func (d idempotencyDoc) record() store.Idempotency {
	return store.Idempotency{Key: d.ID.ID, RequestHash: d.RequestHash, Status: d.Status,
		Body: d.Body, CreatedAt: utc(d.CreatedAt)}
}

func (d messageDoc) record() store.Message {
	return store.Message{
		ConvID: d.ID.Conv, Seq: d.ID.Seq, SenderID: d.SenderID, ClientMsgID: d.ClientMsgID,
		Type: d.Type, Body: d.Body, Push: d.Push, Mentions: d.Mentions, MentionAll: d.MentionAll,
		CreatedAt: utc(d.CreatedAt), RecalledAt: utc(d.RecalledAt), EditedAt: utc(d.EditedAt),
	}
}

func (d conversationDoc) record() store.Conversation {
	return store.Conversation{ID: d.ID.ID, Members: d.Members, MaxSeq: d.MaxSeq,
		CreatedAt: utc(d.CreatedAt), UpdatedAt: utc(d.UpdatedAt)}
}

func (d outboxDoc) record() store.OutboxEntry {
	return store.OutboxEntry{
		ID: d.ID.ID, UserID: d.User, ConvID: d.Conv, Seq: d.Seq, SenderID: d.Sender,
		Type: d.Type, Preview: d.Preview, Badge: d.Badge, Payload: d.Payload, CreatedAt: utc(d.CreatedAt),
	}
}

func (d deviceDoc) record() store.Device {
	return store.Device{
		ID: d.ID.Device, UserID: d.ID.User, Platform: d.Platform, Provider: d.Provider, Token: d.Token,
		Topic: d.Topic, Environment: d.Environment, Locale: d.Locale, TimeZone: d.TimeZone,
		CreatedAt: utc(d.CreatedAt), UpdatedAt: utc(d.UpdatedAt),
	}
}

func (d credentialDoc) record() store.PushCredential {
	return store.PushCredential{Provider: d.ID.ID, Sealed: d.Sealed, Info: metadata(d.Info),
		CreatedAt: utc(d.CreatedAt), UpdatedAt: utc(d.UpdatedAt)}
}

func (d pushLogDoc) record() store.PushLogEntry {
	return store.PushLogEntry{
		ID: d.ID.ID, UserID: d.User, ConvID: d.Conv, Seq: d.Seq, DeviceID: d.Device,
		Provider: d.Provider, Status: d.Status, Reason: d.Reason, At: utc(d.At),
	}
}

func (d pushSettingsDoc) record() store.PushSettings {
	return store.PushSettings{Disabled: d.Disabled, DNDStart: d.DNDStart, DNDEnd: d.DNDEnd,
		TimeZone: d.TimeZone, UpdatedAt: utc(d.UpdatedAt)}
}

func userConversation(e entryDoc, c conversationDoc) store.UserConversation {
	return store.UserConversation{
		ConvID: e.ID.Conv, Members: c.Members, MaxSeq: c.MaxSeq,
		ReadSeq: e.ReadSeq, DeliveredSeq: e.DeliveredSeq, FirstSeq: e.FirstSeq, Muted: e.Muted,
		MentionSeq: mentionSeq(e, c), PinnedAt: utc(e.PinnedAt), Draft: e.Draft, ClearedSeq: e.ClearedSeq,
		UpdatedAt: utc(c.UpdatedAt),
	}
}

// mentionSeq is the newest message at or after the entry's first that
// mentioned its user, by id or by mentioning all; 0 if none.
func mentionSeq(e entryDoc, c conversationDoc) int64 {
	var seq int64
	if e.MentionSeq >= e.FirstSeq {
		seq = e.MentionSeq
	}
	if c.MentionAllSeq >= e.FirstSeq {
		seq = max(seq, c.MentionAllSeq)
	}
	return seq
}

// Query helpers.

// findOne decodes the document filter matches into a T, or returns
// store.ErrNotFound.
func findOne[T any](ctx context.Context, c *mongo.Collection, filter any, opts ...options.Lister[options.FindOneOptions]) (T, error) {
	var v T
	err := c.FindOne(ctx, filter, opts...).Decode(&v)
	return v, translate(err)
}

// findAll decodes every document filter matches.
func findAll[T any](ctx context.Context, c *mongo.Collection, filter any, opts ...options.Lister[options.FindOptions]) ([]T, error) {
	cur, err := c.Find(ctx, filter, opts...)
	if err != nil {
		return nil, translate(err)
	}
	var out []T
	if err := cur.All(ctx, &out); err != nil {
		return nil, translate(err)
	}
	return out, nil
}

// records converts documents to records.
func records[D, R any](ds []D, record func(D) R) []R {
	if len(ds) == 0 {
		return nil
	}
	out := make([]R, len(ds))
	for i, d := range ds {
		out[i] = record(d)
	}
	return out
}

// page returns find options for up to limit documents sorted by the given
// key ascending. limit must be positive: MongoDB reads zero as no limit.
func page(sortKey string, limit int) *options.FindOptionsBuilder {
	return options.Find().SetSort(bson.D{{Key: sortKey, Value: 1}}).SetLimit(int64(limit))
}

// byID is the filter of the document with this _id.
func byID(id any) bson.D { return bson.D{{Key: "_id", Value: id}} }

// set is an update that sets the given fields.
func set(fields ...bson.E) bson.D { return bson.D{{Key: "$set", Value: bson.D(fields)}} }

// writeErrors returns the per-document errors of a bulk write or insert,
// and the error itself when it is anything else (a network error, a write
// concern error: the outcome of every document is unknown).
func writeErrors(err error) ([]mongo.BulkWriteError, error) {
	var bwe mongo.BulkWriteException
	if errors.As(err, &bwe) && bwe.WriteConcernError == nil && len(bwe.WriteErrors) > 0 {
		return bwe.WriteErrors, nil
	}
	return nil, err
}

// isDuplicate reports whether a write error is a duplicate key.
func isDuplicate(we mongo.WriteError) bool {
	return we.Code == 11000 || we.Code == 11001
}

// errorf formats an error with a translated cause.
func errorf(err error, format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, translate(err))...)
}
