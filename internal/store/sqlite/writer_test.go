package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// A shared commit keeps what each transaction did, except the one that
// failed, whose savepoint is undone: its error reaches only its caller.
func TestSharedCommitUndoesOnlyTheFailure(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if _, err := s.write.ExecContext(ctx, `CREATE TABLE shared_test (x INTEGER PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	insert := func(xs ...int) func(*sql.Tx) error {
		return func(tx *sql.Tx) error {
			for _, x := range xs {
				if _, err := tx.ExecContext(ctx, `INSERT INTO shared_test (x) VALUES (?)`, x); err != nil {
					return err
				}
			}
			return nil
		}
	}
	boom := errors.New("boom")
	var thens []int
	then := func(i int) func() { return func() { thens = append(thens, i) } }
	batch := []*sharedTx{
		{fn: insert(1, 2), then: then(0), done: make(chan struct{})},
		{fn: func(tx *sql.Tx) error { _ = insert(3)(tx); return boom }, then: then(1), done: make(chan struct{})},
		{fn: insert(2), then: then(2), done: make(chan struct{})}, // a duplicate key: fails too
		{fn: insert(4), then: then(3), done: make(chan struct{})},
	}
	s.commitShared(batch)
	for i, r := range batch {
		select {
		case <-r.done:
		default:
			t.Fatalf("transaction %d not done", i)
		}
	}
	if batch[0].err != nil || batch[3].err != nil {
		t.Fatalf("the good transactions failed: %v, %v", batch[0].err, batch[3].err)
	}
	if !errors.Is(batch[1].err, boom) || batch[2].err == nil {
		t.Fatalf("the failures: %v, %v", batch[1].err, batch[2].err)
	}
	var got []int
	rows, err := s.read.QueryContext(ctx, `SELECT x FROM shared_test ORDER BY x`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var x int
		if err := rows.Scan(&x); err != nil {
			t.Fatal(err)
		}
		got = append(got, x)
	}
	if len(got) != 3 || got[0] != 1 || got[1] != 2 || got[2] != 4 {
		t.Fatalf("committed %v, want [1 2 4]", got)
	}
	if len(thens) != 2 || thens[0] != 0 || thens[1] != 3 {
		t.Fatalf("then ran for %v, want [0 3]", thens)
	}
}

// After Close, a shared write is refused instead of waiting forever.
func TestSharedWriteAfterClose(t *testing.T) {
	s := openTemp(t)
	s.Close()
	if err := s.inSharedTx(func(*sql.Tx) error { return nil }, nil); !errors.Is(err, errClosed) {
		t.Fatalf("inSharedTx after Close: %v", err)
	}
}

// waitDone fails the test if done does not report within a bound far above
// any commit's (a write blocked behind the absorber never reports).
func waitDone(t *testing.T, what string, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s waited for the absorber", what)
	}
}

// TestSideWritesDoNotWaitForTheAbsorber: the writes that run beside
// message traffic (push log and outbox, usage, webhook events and
// attempts, last seen) commit while an absorb runs and the log holds rows
// it has not copied. Through inTx they absorbed first, under writeMu,
// holding every append up behind them.
func TestSideWritesDoNotWaitForTheAbsorber(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	ctx := t.Context()
	at := time.UnixMilli(1_700_000_000_000)
	hook := store.Webhook{ID: "wh1", URL: "https://example.com/h", Kind: store.WebhookEvents, Enabled: true,
		Secrets: []store.WebhookSecret{{ID: "s1", Sealed: []byte("sealed"), CreatedAt: at}}, CreatedAt: at, UpdatedAt: at}
	if err := a.CreateWebhook(ctx, hook, 10); err != nil {
		t.Fatal(err)
	}
	appendOne(t, a, "p:ann:bob", "ann", "bob", "a") // unabsorbed
	release := holdMessagesLock(t, s)
	defer release()

	writes := []struct {
		name string
		fn   func(ctx context.Context) error
	}{
		{"AddPushLog", func(ctx context.Context) error {
			return a.AddPushLog(ctx, []store.PushLogEntry{{ID: "p1", UserID: "bob", ConvID: "p:ann:bob", Seq: 1, Status: "sent", At: at}})
		}},
		{"AddOutbox", func(ctx context.Context) error {
			added, err := a.AddOutbox(ctx, store.OutboxEntry{ID: "o1", UserID: "bob", ConvID: "p:ann:bob", Seq: 1, CreatedAt: at})
			if err == nil && !added {
				err = errors.New("not added")
			}
			return err
		}},
		{"AddUsage", func(ctx context.Context) error {
			return a.AddUsage(ctx, store.UsageDelta{Day: "2026-12-02", UsageCounts: store.UsageCounts{Messages: 3}, ActiveUsers: []string{"k1"}})
		}},
		{"PutWebhookEvent", func(ctx context.Context) error {
			return a.PutWebhookEvent(ctx, store.WebhookEvent{ID: "e1", Type: "message.stored", Payload: []byte(`{}`), CreatedAt: at})
		}},
		{"AddWebhookAttempts", func(ctx context.Context) error {
			return a.AddWebhookAttempts(ctx, []store.WebhookAttempt{{ID: "t1", WebhookID: "wh1", EventID: "e1", Attempt: 1, Outcome: store.AttemptSucceeded, At: at}})
		}},
		{"SetLastSeen", func(ctx context.Context) error { return a.SetLastSeen(ctx, "ann", at) }},
	}
	for _, w := range writes {
		done := make(chan error, 1)
		go func() { done <- w.fn(context.Background()) }()
		waitDone(t, w.name, done)
	}
	release()
	if es, err := a.ListPushLog(ctx, store.PushLogQuery{Limit: 10}); err != nil || len(es) != 1 {
		t.Fatalf("push log = %v, %v", es, err)
	}
	if days, err := a.ListUsage(ctx, "2026-12-01", "2026-12-03"); err != nil || len(days) != 1 || days[0].Messages != 3 || days[0].ActiveUsers != 1 {
		t.Fatalf("usage = %+v, %v", days, err)
	}
	if xs, err := a.ListWebhookAttempts(ctx, store.WebhookAttemptQuery{WebhookID: "wh1", Limit: 10}); err != nil || len(xs) != 1 {
		t.Fatalf("attempts = %v, %v", xs, err)
	}
}

// TestAWriteWaitingForTheAbsorberLetsAppendsGo: a transaction that may
// change messages (inTx) waits for a running absorb before it takes
// writeMu, so the appends and acks go on meanwhile.
func TestAWriteWaitingForTheAbsorberLetsAppendsGo(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	appendOne(t, a, "p:ann:bob", "ann", "bob", "a") // unabsorbed
	release := holdMessagesLock(t, s)
	defer release()
	created := make(chan error, 1)
	go func() {
		created <- a.CreateUser(context.Background(), store.User{ID: "cid", CreatedAt: time.UnixMilli(1), UpdatedAt: time.UnixMilli(1)})
	}()
	for i := range 50 {
		done := make(chan error, 1)
		go func() {
			out, err := a.AppendMessages(context.Background(), []store.Draft{{
				ConvID: "p:ann:bob", Members: []string{"bob"}, SenderID: "ann", ClientMsgID: fmt.Sprint("m", i),
				Type: "text", Body: []byte(`{"text":"x"}`), CreatedAt: time.UnixMilli(1),
			}})
			if err == nil {
				_, err = a.AckDelivered(context.Background(), []store.DeliveryAck{{UserID: "bob", DeviceID: "d1", ConvID: "p:ann:bob", Seq: out[0].Seq}})
			}
			done <- err
		}()
		waitDone(t, fmt.Sprint("append ", i), done)
	}
	select {
	case err := <-created:
		t.Fatalf("CreateUser returned while the absorber was held: %v", err)
	default:
	}
	release()
	waitDone(t, "CreateUser", created)
	if _, err := a.GetUser(t.Context(), "cid"); err != nil {
		t.Fatal(err)
	}
}

// The Store reports through the logger it was given, not slog's default
// one: how its writer runs is logged once, at start, whatever the process
// may do with its priority.
func TestStoreLogsToItsLogger(t *testing.T) {
	// slog's handler serialises the writes; Close waits for every goroutine
	// that writes, before the read.
	var out bytes.Buffer
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "magpie.db"),
		WithLogger(slog.New(slog.NewTextHandler(&out, nil))))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.App("A").AppendMessages(t.Context(), []store.Draft{{ConvID: "c1", Members: []string{"ann", "bob"},
		SenderID: "ann", ClientMsgID: "m1", Type: "text", Body: []byte("hi"), CreatedAt: time.UnixMilli(1)}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // the writer's loop has returned
		t.Fatal(err)
	}
	if got := out.String(); !strings.Contains(got, "msg=\"sqlite: the writer runs") {
		t.Errorf("the Store's logger got %q, want the writer's start line", got)
	}
}
