package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/magpie-im/magpie/internal/store"
)

var t0 = time.UnixMilli(1_700_000_000_000).UTC()

func draft(conv, sender, clientID string, members ...string) store.Draft {
	return store.Draft{ConvID: conv, Members: members, SenderID: sender, ClientMsgID: clientID,
		Type: "text", Body: []byte("body of " + clientID), CreatedAt: t0}
}

func appendOK(t *testing.T, a store.AppStore, drafts ...store.Draft) []store.Appended {
	t.Helper()
	res, err := a.AppendMessages(t.Context(), drafts)
	if err != nil {
		t.Fatalf("AppendMessages: %v", err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("AppendMessages result %d: %v", i, r.Err)
		}
	}
	return res
}

func TestErrorsDoNotLeakDriverTypes(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateTenant(ctx, store.Tenant{ID: "t1"}); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	_, missing := s.GetTenant(ctx, "t9")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, canceledErr := s.GetTenant(cancelled, "t1")
	_, badQuery := findAll[tenantDoc](ctx, s.c.tenants, bson.D{{Key: "$nosuchoperator", Value: 1}})
	for _, tc := range []struct {
		name string
		err  error
		is   error
	}{
		{"conflict", s.CreateTenant(ctx, store.Tenant{ID: "t1"}), store.ErrConflict},
		{"not found", missing, store.ErrNotFound},
		{"canceled", canceledErr, context.Canceled},
		{"server error", badQuery, nil},
	} {
		if tc.err == nil || (tc.is != nil && !errors.Is(tc.err, tc.is)) {
			t.Errorf("%s: error %v, want one that is %v", tc.name, tc.err, tc.is)
		}
		var se mongo.ServerError
		var ce mongo.CommandError
		var we mongo.WriteException
		if errors.As(tc.err, &se) || errors.As(tc.err, &ce) || errors.As(tc.err, &we) ||
			errors.Is(tc.err, mongo.ErrNoDocuments) {
			t.Errorf("%s: error %#v carries a driver type", tc.name, tc.err)
		}
	}
}

// TestIndexesStartWithApp checks the tenancy rule structurally: in every
// collection of app data, each index starts with the app id (the _id index
// too, since those _ids are documents whose first field is the app id), and
// every document written by the conformance-style calls below has such an
// _id.
func TestIndexesStartWithApp(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	a := s.App("A")
	if err := a.CreateUser(ctx, store.User{ID: "alice", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	appendOK(t, a, draft("c1", "alice", "m1", "alice", "bob"))
	if _, err := a.AckDelivered(ctx, []store.DeliveryAck{{UserID: "bob", DeviceID: "d1", ConvID: "c1", Seq: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.PutIdempotency(ctx, store.Idempotency{Key: "k", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UseNonces(ctx, []store.Nonce{{AppID: "A", Value: "n", ExpiresAt: t0}}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateApp(ctx, store.App{ID: "A", Key: "pk_A"}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSecret(ctx, store.Secret{ID: "s1", AppID: "A", CreatedAt: t0}, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddOutbox(ctx, store.OutboxEntry{ID: "j1", UserID: "alice", ConvID: "c1", Seq: 1, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.PutDevice(ctx, store.Device{ID: "d1", UserID: "alice", Provider: "apns", Token: "t", CreatedAt: t0}, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.PutPushCredential(ctx, store.PushCredential{Provider: "apns", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddPushLog(ctx, []store.PushLogEntry{{ID: "p1", UserID: "alice", ConvID: "c1", Seq: 1, At: t0}}); err != nil {
		t.Fatal(err)
	}
	if err := a.PutPushSettings(ctx, "alice", store.PushSettings{Disabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateWebhook(ctx, store.Webhook{ID: "w1", Kind: store.WebhookEvents, CreatedAt: t0}, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.PutWebhookEvent(ctx, store.WebhookEvent{ID: "e1", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddWebhookAttempts(ctx, []store.WebhookAttempt{{ID: "x1", WebhookID: "w1", EventID: "e1", At: t0}}); err != nil {
		t.Fatal(err)
	}
	if err := a.PutKeywordRules(ctx, store.KeywordRules{UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddUsage(ctx, store.UsageDelta{Day: "2026-12-01", UsageCounts: store.UsageCounts{Messages: 1}, ActiveUsers: []string{"k1"}}); err != nil {
		t.Fatal(err)
	}
	if err := a.PutAgent(ctx, store.Agent{UserID: "alice", Skills: []string{"billing"}, Capacity: 1, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateSupportSession(ctx, store.SupportSession{ID: "cs1", VisitorID: "alice", State: store.SupportWaiting, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateGroup(ctx, store.Group{ID: "g1", OwnerID: "alice", CreatedAt: t0, UpdatedAt: t0},
		[]store.GroupMember{{UserID: "alice", Role: store.GroupRoleOwner, JoinedAt: t0}}); err != nil {
		t.Fatal(err)
	}
	if err := a.PutJoinRequest(ctx, store.JoinRequest{GroupID: "g1", UserID: "bob", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.AddFriendship(ctx, "alice", "bob", t0, 0); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateRoom(ctx, store.Room{ID: "r1", OwnerID: "alice", CreatedAt: t0, UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.PutRoomBan(ctx, store.RoomBan{RoomID: "r1", UserID: "bob", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateUser(ctx, store.User{ID: "gone", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := a.DeleteUser(ctx, "gone", store.UserDeletion{At: t0}); err != nil {
		t.Fatal(err)
	}

	appData := []string{collSecrets, collNonces, collUsers, collTombstones, collIdempotency,
		collConversations, collMessages, collEntries, collCursors, collOutbox,
		collDevices, collCredentials, collPushLog, collPushSettings,
		collWebhooks, collWebhookCounts, collWebhookEvents, collAttempts, collKeywordRules,
		collAgents, collSupport, collGroups, collJoinRequests,
		collContacts, collUsage, collUsageUsers, collRooms, collRoomBans}
	appData = append(appData, richAppData(t, a)...)
	appData = append(appData, fileAppData(t, a)...)
	for _, name := range appData {
		c := s.c.messages.Database().Collection(name)
		cur, err := c.Indexes().List(ctx)
		if err != nil {
			t.Fatalf("list indexes of %s: %v", name, err)
		}
		var ixs []struct {
			Name string `bson:"name"`
			Key  bson.D `bson:"key"`
		}
		if err := cur.All(ctx, &ixs); err != nil {
			t.Fatal(err)
		}
		for _, ix := range ixs {
			if first := ix.Key[0].Key; first != "_id" && first != "_id.app" {
				t.Errorf("index %s of %s starts with %s, want the app id", ix.Name, name, first)
			}
		}
		docs, err := findAll[bson.D](ctx, c, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) == 0 {
			t.Errorf("collection %s is empty: the test writes nothing there", name)
		}
		for _, d := range docs {
			var id bson.D
			for _, e := range d {
				if e.Key == "_id" {
					id, _ = e.Value.(bson.D)
				}
			}
			if len(id) == 0 || id[0].Key != "app" || id[0].Value != "A" {
				t.Errorf("document of %s has _id %v, want a document starting with app: A", name, id)
			}
		}
	}
	// Every collection the store has is either app data or operator data.
	for _, name := range collectionNames {
		if !slices.Contains(appData, name) && !slices.Contains([]string{collMeta, collTenants, collMembers, collSessions, collApps}, name) {
			t.Errorf("collection %s is neither app data nor operator data in this test", name)
		}
	}
}

func TestEnsureIndexesTwice(t *testing.T) {
	s := openTemp(t) // has run EnsureIndexes once
	if err := s.EnsureIndexes(t.Context()); err != nil {
		t.Fatalf("EnsureIndexes again: %v", err)
	}
	// The unique indexes still work.
	a := s.App("A")
	appendOK(t, a, draft("c1", "alice", "m1", "alice", "bob"))
	res := appendOK(t, a, draft("c1", "alice", "m1", "alice", "bob"))
	if !res[0].Duplicate {
		t.Errorf("m1 again = %+v, want a duplicate", res[0])
	}
}

// crashAfterInsert stores the messages of drafts as an append that stopped
// after its insert would (step 2 of AppendMessages): the conversation's
// head and entries are not advanced.
func crashAfterInsert(t *testing.T, s *Store, app string, seq int64, drafts ...store.Draft) {
	t.Helper()
	a := s.app(app)
	var docs []any
	for i, d := range drafts {
		docs = append(docs, newMessageInsert(a.messageKey(d.ConvID, seq+int64(i)), d))
	}
	if _, err := s.c.messages.InsertMany(t.Context(), docs); err != nil {
		t.Fatalf("insert messages: %v", err)
	}
}

func TestAppendAfterCrashedAppend(t *testing.T) {
	s := openTemp(t)
	a, ctx := s.App("A"), t.Context()
	appendOK(t, a, draft("c1", "alice", "m1", "alice", "bob"))
	// Two messages stored, the conversation still at max seq 1.
	crashAfterInsert(t, s, "A", 2, draft("c1", "alice", "m2"), draft("c1", "bob", "m3"))
	if c, err := a.GetConversation(ctx, "c1"); err != nil || c.MaxSeq != 1 {
		t.Fatalf("GetConversation(c1) after the crash = %+v, %v, want max seq 1", c, err)
	}

	// The next append finds the stored seqs and carries on after them.
	res := appendOK(t, a, draft("c1", "bob", "m4"))
	if res[0].Seq != 4 || res[0].Duplicate {
		t.Errorf("append after the crash = %+v, want seq 4", res[0])
	}
	if c, err := a.GetConversation(ctx, "c1"); err != nil || c.MaxSeq != 4 {
		t.Errorf("GetConversation(c1) = %+v, %v, want max seq 4", c, err)
	}
	msgs, err := a.ListMessages(ctx, "c1", store.Range{Limit: 10})
	if err != nil || len(msgs) != 4 {
		t.Errorf("ListMessages(c1) = %d messages, %v, want 4", len(msgs), err)
	}
}

func TestRetryRepairsCrashedAppend(t *testing.T) {
	s := openTemp(t)
	a, ctx := s.App("A"), t.Context()
	// A first message stored, the conversation never created.
	d := draft("c1", "alice", "m1", "alice", "bob")
	crashAfterInsert(t, s, "A", 1, d)
	if _, err := a.GetConversation(ctx, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetConversation(c1) after the crash = %v, want not found", err)
	}
	// The client sends it again: a duplicate, which completes the append.
	res := appendOK(t, a, d)
	if !res[0].Duplicate || res[0].Seq != 1 {
		t.Fatalf("retry = %+v, want the original as a duplicate", res[0])
	}
	c, err := a.GetConversation(ctx, "c1")
	if err != nil || c.MaxSeq != 1 || !slices.Equal(c.Members, []string{"alice", "bob"}) {
		t.Errorf("GetConversation(c1) after the retry = %+v, %v, want max seq 1, alice and bob", c, err)
	}
	for _, u := range []string{"alice", "bob"} {
		if uc, err := a.GetUserConversation(ctx, u, "c1"); err != nil || uc.MaxSeq != 1 || uc.FirstSeq != 1 {
			t.Errorf("GetUserConversation(%s, c1) = %+v, %v, want max seq 1 from seq 1", u, uc, err)
		}
	}
	raw, err := findOne[conversationDoc](ctx, s.c.conversations, byID(s.app("A").key("c1")))
	if err != nil || raw.Init {
		t.Errorf("conversation document = %+v, %v, want its init flag cleared", raw, err)
	}
}

func TestAppendFinishesConversationCreation(t *testing.T) {
	s := openTemp(t)
	a, ctx := s.App("A"), t.Context()
	appendOK(t, a, draft("c1", "alice", "m1", "alice", "bob"))
	// As if the creator had stopped before creating the entries.
	if _, err := s.c.entries.DeleteMany(ctx, bson.D{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.conversations.UpdateOne(ctx, bson.D{}, set(bson.E{Key: "init", Value: true})); err != nil {
		t.Fatal(err)
	}
	appendOK(t, a, draft("c1", "bob", "m2"))
	for u, read := range map[string]int64{"alice": 0, "bob": 2} {
		uc, err := a.GetUserConversation(ctx, u, "c1")
		if err != nil || uc.FirstSeq != 1 || uc.ReadSeq != read || uc.MaxSeq != 2 {
			t.Errorf("GetUserConversation(%s, c1) = %+v, %v, want first seq 1, read %d, max 2", u, uc, err, read)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	uri := serverURI(t)
	if s, err := Open(t.Context(), uri, ""); err == nil {
		s.Close()
		t.Error("Open with no database name succeeded")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens there.
	if s, err := Open(ctx, "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1000", "x"); err == nil {
		s.Close()
		t.Error("Open of an unreachable server succeeded")
	}
}

// TestAppendGivesUpOnContention has another writer take the seq of a draft
// on every attempt: after its retries the draft fails, and so does the
// later draft of its conversation, while another conversation's draft is
// stored.
func TestAppendGivesUpOnContention(t *testing.T) {
	s := openTemp(t)
	s.cfg.appendRetries = 1
	a, ctx := s.App("A"), t.Context()
	appendOK(t, a, draft("c1", "alice", "m0", "alice", "bob"))
	taken := 0
	s.cfg.beforeInsert = func(ctx context.Context, keys []messageKey) {
		if keys[0].Conv != "c1" || taken == 2 {
			return
		}
		taken++
		crashAfterInsert(t, s, "A", keys[0].Seq, draft("c1", "bob", fmt.Sprintf("other-%d", taken)))
	}
	res, err := a.AppendMessages(ctx, []store.Draft{
		draft("c1", "alice", "m1"), draft("c2", "alice", "m2", "alice", "bob"), draft("c1", "alice", "m3"),
	})
	if err != nil {
		t.Fatalf("AppendMessages: %v", err)
	}
	if res[0].Err == nil || res[2].Err == nil || res[0].Seq != 0 || res[2].Seq != 0 {
		t.Errorf("c1 results = %+v, %+v, want both failed", res[0], res[2])
	}
	if res[1].Err != nil || res[1].Seq != 1 || res[1].Duplicate {
		t.Errorf("c2 result = %+v, want stored at seq 1", res[1])
	}
	// Nothing of the failed drafts was stored; appending them again works.
	s.cfg.beforeInsert = nil
	res = appendOK(t, a, draft("c1", "alice", "m1"), draft("c1", "alice", "m3"))
	if res[0].Seq != 4 || res[1].Seq != 5 || res[0].Duplicate || res[1].Duplicate {
		t.Errorf("c1 drafts again = %+v, want seqs 4 and 5 after the other writer's 2 and 3", res)
	}
}
