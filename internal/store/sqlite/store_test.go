package sqlite

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/storetest"
)

func openTemp(t testing.TB, opts ...Option) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "magpie.db"), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openAgain opens a second Store on s's files, as another process would.
func openAgain(t *testing.T, s *Store, opts ...Option) *Store {
	t.Helper()
	again, err := Open(t.Context(), s.path, opts...)
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	t.Cleanup(func() { again.Close() })
	return again
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Opener{
		Open:   func(t *testing.T) store.Store { return openTemp(t) },
		Reopen: func(t *testing.T, s store.Store) store.Store { return openAgain(t, s.(*Store)) },
	})
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "magpie.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	a := s.App("A")
	if err := s.PutMeta(ctx, "bootstrap", "done"); err != nil {
		t.Fatalf("PutMeta: %v", err)
	}
	if err := a.CreateUser(ctx, store.User{ID: "u1", Name: "Ann"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	draft := store.Draft{ConvID: "c1", Members: []string{"u1", "u2"}, SenderID: "u1",
		ClientMsgID: "m1", Type: "text", Body: []byte("hi"), CreatedAt: time.UnixMilli(1_700_000_000_000)}
	if _, err := a.AppendMessages(ctx, []store.Draft{draft}); err != nil {
		t.Fatalf("AppendMessages: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s, err = Open(ctx, path) // migrations must be a no-op now
	if err != nil {
		t.Fatalf("Open again: %v", err)
	}
	defer s.Close()
	a = s.App("A")
	if v, err := s.GetMeta(ctx, "bootstrap"); err != nil || v != "done" {
		t.Errorf("GetMeta(bootstrap) after reopen = %q, %v, want %q", v, err, "done")
	}
	if u, err := a.GetUser(ctx, "u1"); err != nil || u.Name != "Ann" {
		t.Errorf("GetUser(u1) after reopen = %+v, %v, want Ann", u, err)
	}
	if m, err := a.GetMessage(ctx, "c1", 1); err != nil || string(m.Body) != "hi" {
		t.Errorf("GetMessage(c1, 1) after reopen = %+v, %v, want body hi", m, err)
	}
	// The dedup key survives too.
	res, err := a.AppendMessages(ctx, []store.Draft{draft})
	if err != nil || len(res) != 1 || !res[0].Duplicate || res[0].Seq != 1 {
		t.Errorf("AppendMessages(m1 again) after reopen = %+v, %v, want the original as duplicate", res, err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.SchemaVersion(ctx); err != nil || v != ms[len(ms)-1].version {
		t.Errorf("SchemaVersion() = %d, %v, want %d", v, err, ms[len(ms)-1].version)
	}
}

// TestPragmas pins the settings the durability and concurrency story rests
// on: WAL, synchronous=FULL (a message is on disk before it is
// acknowledged), foreign keys, and read-only readers.
func TestPragmas(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"synchronous", "2"}, // FULL
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
	} {
		var got string
		if err := s.write.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil || got != tc.want {
			t.Errorf("writer PRAGMA %s = %q, %v, want %q", tc.pragma, got, err, tc.want)
		}
	}
	var ro string
	if err := s.read.QueryRowContext(ctx, "PRAGMA query_only").Scan(&ro); err != nil || ro != "1" {
		t.Errorf("reader PRAGMA query_only = %q, %v, want 1", ro, err)
	}
	if _, err := s.read.ExecContext(ctx, "INSERT INTO meta (key, value) VALUES ('k', 'v')"); err == nil {
		t.Error("write through the read pool succeeded, want an error")
	}
	if n := s.write.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer MaxOpenConnections = %d, want 1", n)
	}
}

func TestErrorsDoNotLeakDriverTypes(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.CreateTenant(ctx, store.Tenant{ID: "t1"}); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	_, roErr := s.read.ExecContext(ctx, "INSERT INTO tenants (id, name, created_at) VALUES ('t2', '', 0)")
	for name, err := range map[string]error{
		"conflict":  s.CreateTenant(ctx, store.Tenant{ID: "t1"}),
		"read-only": translate(roErr),
	} {
		var se *sqlite.Error
		if err == nil || errors.As(err, &se) {
			t.Errorf("%s error = %#v, want a non-nil error without the driver's type", name, err)
		}
	}
}

func TestOpenOddPath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "we?ird#na%me.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	defer s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: %v", err)
	}
}

func TestOpenRejectsMemory(t *testing.T) {
	for _, path := range []string{"", ":memory:"} {
		if s, err := Open(t.Context(), path); err == nil {
			s.Close()
			t.Errorf("Open(%q) = nil error, want an error", path)
		}
	}
}

// BenchmarkAppendMessages measures the append path: the search indexer
// stays idle (it has its own benchmark, BenchmarkAbsorb), except
// with index=on, where it runs as in production, every
// DefaultIndexInterval, and shares the write connection.
func BenchmarkAppendMessages(b *testing.B) {
	for _, size := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) { benchAppend(b, size, time.Hour) })
		b.Run(fmt.Sprintf("batch=%d/index=on", size), func(b *testing.B) { benchAppend(b, size, DefaultIndexInterval) })
	}
}

func benchAppend(b *testing.B, size int, indexEvery time.Duration) {
	s := openTemp(b, WithIndexInterval(indexEvery))
	a := s.App("bench")
	created := time.UnixMilli(1_700_000_000_000)
	body := []byte(`{"text":"hello, this is a typical short chat message"}`)
	drafts := make([]store.Draft, size)
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		for i := range drafts {
			n++
			drafts[i] = store.Draft{
				ConvID: fmt.Sprintf("c%d", n%16), Members: []string{"alice", "bob"},
				SenderID: "alice", ClientMsgID: fmt.Sprintf("m%d", n),
				Type: "text", Body: body, CreatedAt: created,
			}
		}
		if _, err := a.AppendMessages(b.Context(), drafts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "msgs/s")
}

// TestMigrateMembersFromV1 upgrades a database made by the first schema,
// where member emails were unique across the installation, and checks that
// its members survive and that an email may now repeat in another tenant.
func TestMigrateMembersFromV1(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "magpie.db")
	db, err := openWrite(ctx, path, config{busyTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil || ms[0].version != 1 {
		t.Fatalf("loadMigrations() = %v, %v, want the first step first", ms, err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	if err := applyMigration(ctx, db, ms[0]); err != nil {
		t.Fatalf("apply %s: %v", ms[0].name, err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO members VALUES ('m1', 't1', 'ann@example.com', 'Ann', 'owner', 'h', 0)`); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open a version-1 database: %v", err)
	}
	defer s.Close()
	if got, err := s.ListMembersByEmail(ctx, "ann@example.com", 10); err != nil || len(got) != 1 || got[0].ID != "m1" {
		t.Fatalf("ListMembersByEmail(ann) after upgrade = %+v, %v, want m1", got, err)
	}
	for _, tc := range []struct {
		id, tenant string
		want       error
	}{
		{"m2", "t2", nil},
		{"m3", "t1", store.ErrConflict},
	} {
		err := s.CreateMember(ctx, store.Member{ID: tc.id, TenantID: tc.tenant, Email: "ann@example.com", Role: store.RoleAdmin})
		if !errors.Is(err, tc.want) {
			t.Errorf("CreateMember(%s in %s, ann) after upgrade = %v, want %v", tc.id, tc.tenant, err, tc.want)
		}
	}
}

// TestMigrationMergedLate checks that a step numbered below one already
// applied (as when branches that each added a step are merged) still runs,
// and that applied steps do not run again.
func TestMigrationMergedLate(t *testing.T) {
	ctx := t.Context()
	db, err := openWrite(ctx, filepath.Join(t.TempDir(), "m.db"), config{busyTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	step := func(v int, table string) migration {
		return migration{version: v, name: fmt.Sprintf("%04d_%s.sql", v, table), sql: "CREATE TABLE " + table + " (x INTEGER)"}
	}
	for _, m := range []migration{step(1, "one"), step(3, "three"), step(1, "one"), step(2, "two"), step(3, "three")} {
		if err := applyMigration(ctx, db, m); err != nil {
			t.Fatalf("apply %s: %v", m.name, err)
		}
	}
	for _, table := range []string{"one", "two", "three"} {
		if _, err := db.ExecContext(ctx, "SELECT x FROM "+table); err != nil {
			t.Errorf("table %s after the steps: %v", table, err)
		}
	}
}

// TestMigratePushFrom7 upgrades a database made by the schema before push
// (step 7) and checks that its messages, conversation entries and outbox
// entries read back with the new fields empty.
func TestMigratePushFrom7(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "magpie.db")
	databaseAt(t, path, 7,
		`INSERT INTO users VALUES ('A', 'bob', '', '', '', 0, 0, 0, 0)`,
		`INSERT INTO conversations (app_id, id, members, max_seq, created_at, updated_at) VALUES ('A', 'c1', '["alice","bob"]', 1, 1000, 1000)`,
		`INSERT INTO messages VALUES ('A', 'c1', 1, 'alice', 'm1', 'text', X'6869', 1000, 0)`,
		`INSERT INTO user_conversations (app_id, user_id, conv_id, read_seq, delivered_seq) VALUES ('A', 'bob', 'c1', 0, 0)`,
		`INSERT INTO push_outbox VALUES ('A', 'j1', 'bob', 'c1', 1, 'alice', 'text', 'hi', 1000)`,
	)

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open a version-7 database: %v", err)
	}
	defer s.Close()
	a := s.App("A")
	if m, err := a.GetMessage(ctx, "c1", 1); err != nil || string(m.Body) != "hi" || m.Push != nil {
		t.Errorf("GetMessage(c1, 1) after upgrade = %+v, %v, want body hi and no push", m, err)
	}
	if uc, err := a.GetUserConversation(ctx, "bob", "c1"); err != nil || uc.Muted || uc.MaxSeq != 1 {
		t.Errorf("GetUserConversation(bob, c1) after upgrade = %+v, %v, want max seq 1, not muted", uc, err)
	}
	es, err := a.ListOutbox(ctx, "bob", "", 10)
	if err != nil || len(es) != 1 || es[0].Badge != 0 || es[0].Payload != nil || es[0].Preview != "hi" {
		t.Errorf("ListOutbox(bob) after upgrade = %+v, %v, want j1 without badge or payload", es, err)
	}
	if err := a.SetConversationMuted(ctx, "bob", "c1", true); err != nil {
		t.Errorf("SetConversationMuted(bob, c1) after upgrade: %v", err)
	}
}

// BenchmarkAbsorb measures the absorber: how many logged messages it
// moves into messages and indexes for search per second (an absorb, and
// the search indexer's pass over what it left queued).
func BenchmarkAbsorb(b *testing.B) {
	created := time.UnixMilli(1_700_000_000_000)
	benchmarkAbsorb(b, 2048, func(n int) store.Draft { // a quarter of absorbAt
		return store.Draft{ConvID: fmt.Sprintf("c%d", n%16), Members: []string{"alice", "bob"},
			SenderID: "alice", ClientMsgID: fmt.Sprintf("m%d", n), Type: "text",
			Body: []byte(benchBodies[n%len(benchBodies)]), CreatedAt: created}
	})
	b.ReportMetric(float64(b.N*2048)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkAbsorbClientIDs measures the absorber, as BenchmarkAbsorb
// does, in the load tool's shape (500 conversations of two users, 8,192
// messages an absorb) with two kinds of client message ids: random (32
// hex digits, as the SDKs made them until 2026-12-03) and growing with
// time (the time in milliseconds, then random, as the SDKs make them
// now). The dedup index (app, client id, sender) files a growing id at
// the end of its app's range and a random one anywhere; the difference
// grows with the history, so run it long: -benchtime 120x stores about a
// million messages.
func BenchmarkAbsorbClientIDs(b *testing.B) {
	created := time.UnixMilli(1_767_225_600_000)
	for _, kind := range []string{"random", "growing"} {
		b.Run(kind, func(b *testing.B) {
			const perRound, convs = 8192, 500
			r := rand.New(rand.NewPCG(1, 2))
			benchmarkAbsorb(b, perRound, func(n int) store.Draft {
				c := n % convs
				from, to := fmt.Sprintf("u%04d", 2*c), fmt.Sprintf("u%04d", 2*c+1)
				id := fmt.Sprintf("%016x%016x", r.Uint64(), r.Uint64())
				if kind == "growing" { // 16,000 messages a second
					id = fmt.Sprintf("%012x%020x", created.UnixMilli()+int64(n/16), r.Uint64())
				}
				return store.Draft{ConvID: "p:" + from + ":" + to, Members: []string{from, to},
					SenderID: from, ClientMsgID: id, Type: "text",
					Body: []byte(benchBodies[n%len(benchBodies)]), CreatedAt: created}
			})
			b.ReportMetric(b.Elapsed().Seconds()*1e6/float64(b.N*perRound), "µs/msg")
			b.ReportMetric(0, "ns/op")
		})
	}
}

var benchBodies = []string{"hello, this is a typical short chat message", "see you at the station at 5pm tomorrow",
	"我们明天在车站见面吧", "did you get the report? I sent it this morning"}

// benchmarkAbsorb logs perRound messages made by draft (its argument
// counts from 1) outside the timer, then times their absorb and the
// indexer's pass, b.N times.
func benchmarkAbsorb(b *testing.B, perRound int, draft func(n int) store.Draft) {
	s := openTemp(b, WithIndexInterval(time.Hour), withAbsorbAge(time.Hour))
	// The absorber's loop would absorb, with the timer stopped, as soon as
	// absorbAt messages are logged: only the timed absorbs may move them.
	s.stopAbsorber()
	a := s.App("app_f5ab15961348ba18")
	drafts := make([]store.Draft, 64)
	n := 0
	for b.Loop() {
		b.StopTimer()
		for done := 0; done < perRound; done += len(drafts) {
			for i := range drafts {
				n++
				drafts[i] = draft(n)
			}
			if _, err := a.AppendMessages(b.Context(), drafts); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		absorbAlone(b, s)
		if _, err := s.indexQueued(b.Context(), 0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSearchIndexesOlderMessages upgrades a database made before search
// (migration 0017): its messages are queued by the migration and found by
// the first search, a recalled one and an image excepted.
func TestSearchIndexesOlderMessages(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "magpie.db")
	db, err := openWrite(ctx, path, config{busyTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_version (version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version >= 17 {
			break
		}
		if err := applyMigration(ctx, db, m); err != nil {
			t.Fatalf("apply %s: %v", m.name, err)
		}
	}
	for _, q := range []string{
		`INSERT INTO conversations (app_id, id, members, max_seq, created_at, updated_at) VALUES ('A', 'p:ann:bob', '["ann","bob"]', 3, 1, 3)`,
		`INSERT INTO user_conversations (app_id, user_id, conv_id, read_seq, delivered_seq) VALUES ('A', 'bob', 'p:ann:bob', 0, 0)`,
		`INSERT INTO messages (app_id, conv_id, seq, sender_id, client_msg_id, type, body, created_at, recalled_at)
			VALUES ('A', 'p:ann:bob', 1, 'ann', 'm1', 'text', CAST('the old ferry timetable' AS BLOB), 1, 0),
			('A', 'p:ann:bob', 2, 'ann', 'm2', 'text', NULL, 2, 5),
			('A', 'p:ann:bob', 3, 'ann', 'm3', 'image', CAST('{"url":"https://x/ferry.png"}' AS BLOB), 3, 0)`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, WithIndexInterval(time.Hour))
	if err != nil {
		t.Fatalf("Open a database from before search: %v", err)
	}
	defer s.Close()
	got, err := s.App("A").SearchMessages(ctx, store.MessageSearch{UserID: "bob", Terms: []store.SearchTerm{{"ferry"}}, Limit: 10})
	if err != nil || len(got) != 1 || got[0].Seq != 1 {
		t.Fatalf("search ferry after the upgrade = %+v, %v, want seq 1", got, err)
	}
	var queued, indexed int
	if err := s.read.QueryRowContext(ctx, `SELECT count(*) FILTER (WHERE search_id IS NULL), count(*) FILTER (WHERE search_id > 0) FROM messages`).
		Scan(&queued, &indexed); err != nil || queued != 0 || indexed != 1 {
		t.Errorf("queued %d, indexed %d, %v; want 0 and 1", queued, indexed, err)
	}
}

// TestSearchIndexLeavesNothingBehind: recalls, edits and erasures take
// their messages' entries out of the FTS table itself, not only out of the
// results.
func TestSearchIndexLeavesNothingBehind(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, WithIndexInterval(time.Hour))
	a := s.App("A")
	for _, u := range []string{"ann", "bob"} {
		if err := a.CreateUser(ctx, store.User{ID: u}); err != nil {
			t.Fatal(err)
		}
	}
	for i, d := range []store.Draft{
		{ConvID: "p:ann:bob", Members: []string{"ann", "bob"}, SenderID: "ann", ClientMsgID: "1", Type: "text", Body: []byte("zebra one")},
		{ConvID: "p:ann:bob", SenderID: "ann", ClientMsgID: "2", Type: "text", Body: []byte("zebra two")},
		{ConvID: "p:ann:bob", SenderID: "ann", ClientMsgID: "3", Type: "text", Body: []byte("zebra three")},
		{ConvID: "s:bob", Members: []string{"bob"}, ClientMsgID: "4", Type: "text", Body: []byte("zebra notice")},
		{ConvID: "s:ann", Members: []string{"ann"}, ClientMsgID: "5", Type: "text", Body: []byte("zebra notice")},
	} {
		d.CreatedAt = time.UnixMilli(int64(i + 1))
		if _, err := a.AppendMessages(ctx, []store.Draft{d}); err != nil {
			t.Fatal(err)
		}
	}
	entries := func() int {
		t.Helper()
		if err := s.settle(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.indexQueued(ctx, 0); err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM message_search WHERE message_search MATCH 'zebra'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := entries(); n != 5 {
		t.Fatalf("entries = %d, want 5", n)
	}
	if _, err := a.RecallMessage(ctx, "p:ann:bob", 1, time.UnixMilli(10)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.EditMessage(ctx, "p:ann:bob", 2, []byte("horse"), time.UnixMilli(11)); err != nil {
		t.Fatal(err)
	}
	if n := entries(); n != 3 {
		t.Fatalf("entries after a recall and an edit = %d, want 3", n)
	}
	if err := a.DeleteUser(ctx, "ann", store.UserDeletion{At: time.UnixMilli(12), EraseMessages: true}); err != nil {
		t.Fatal(err)
	}
	if n := entries(); n != 1 {
		t.Fatalf("entries after erasing ann = %d, want bob's notice only", n)
	}
}

// FuzzSearchMessages: whatever the query, a search that ParseSearchQuery
// accepts runs without an error (no input reaches FTS5's syntax).
func FuzzSearchMessages(f *testing.F) {
	for _, s := range []string{"hello", `"a" OR b*`, "我们今天", "NEAR(x y)", "-x ^y {z}:w", `text:said scope:k1`, "\x00\x01 ab"} {
		f.Add(s)
	}
	s := openTemp(f, WithIndexInterval(time.Hour))
	a := s.App("A")
	_, err := a.AppendMessages(f.Context(), []store.Draft{{ConvID: "p:ann:bob", Members: []string{"ann", "bob"}, SenderID: "ann",
		ClientMsgID: "1", Type: "text", Body: []byte(`hello "near" OR a*b 我们今天 NEAR(x y)`)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		terms, err := store.ParseSearchQuery(q)
		if err != nil {
			return
		}
		if _, err := a.SearchMessages(t.Context(), store.MessageSearch{UserID: "bob", Terms: terms, Limit: 5}); err != nil {
			t.Fatalf("search %q: %v", q, err)
		}
	})
}

// TestSearchQueryPlan: a search is driven by the FTS5 index, each match
// joined to its message through messages_search and to the user's entry
// by its primary key; no table is scanned.
func TestSearchQueryPlan(t *testing.T) {
	s := openTemp(t, WithIndexInterval(time.Hour))
	rows, err := s.read.QueryContext(t.Context(), `EXPLAIN QUERY PLAN `+searchSQL,
		"A", "bob", `text : ("x"*)`, "", "", "", 0, 1, false, 0, "", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(plan, "\n")
	if len(plan) < 3 || !strings.Contains(plan[0], "VIRTUAL TABLE INDEX") || !strings.Contains(all, "messages_search") ||
		!strings.Contains(all, "USING PRIMARY KEY") || strings.Contains(all, "SCAN m") || strings.Contains(all, "SCAN uc") {
		t.Errorf("search plan:\n%s", all)
	}
	t.Logf("search plan:\n%s", all)
}

// databaseAt makes at path a database as the schema's steps up to version
// left it, then runs stmts in it: a database an older build made.
func databaseAt(t testing.TB, path string, version int, stmts ...string) {
	t.Helper()
	ctx := t.Context()
	db, err := openWrite(ctx, path, config{busyTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
		version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.version > version {
			break
		}
		if err := applyMigration(ctx, db, m); err != nil {
			t.Fatalf("apply %s: %v", m.name, err)
		}
	}
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
