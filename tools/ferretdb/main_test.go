package main

import (
	"context"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
	"go.mongodb.org/mongo-driver/bson"
	"go.mongodb.org/mongo-driver/mongo"
	"go.mongodb.org/mongo-driver/mongo/options"
)

// startProxy runs FerretDB and the proxy in this process and returns the
// proxy and its mongodb:// URI.
func startProxy(t *testing.T) (*proxy, string) {
	t.Helper()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    slog.New(slog.DiscardHandler),
		Handler:   "sqlite",
		SQLiteURL: "file:" + t.TempDir() + "/?_pragma=synchronous(off)",
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = f.Run(ctx) })
	upstream, err := url.Parse(f.MongoDBURI())
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{upstream: upstream.Host}
	wg.Go(func() { p.serve(ctx, ln) })
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	return p, "mongodb://" + ln.Addr().String() + "/"
}

// TestWriteWhileCursorsHoldEveryConnection: with every one of FerretDB's
// SQLite connections held by an open cursor, a write waits for one while
// holding the proxy's write lock; draining the cursors (getMore) must still
// get through, or neither ever finishes.
func TestWriteWhileCursorsHoldEveryConnection(t *testing.T) {
	p, uri := startProxy(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := mongo.Connect(ctx, options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Disconnect(context.Background()) }()
	coll := client.Database("t").Collection("c")
	if _, err := coll.InsertMany(ctx, []any{bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "_id", Value: 2}}}); err != nil {
		t.Fatal(err)
	}
	const cursors = 100 // FerretDB's SQLite pool (SetMaxOpenConns)
	var open []*mongo.Cursor
	for range cursors {
		c, err := coll.Find(ctx, bson.D{}, options.Find().SetBatchSize(1))
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}

	updated := make(chan error, 1)
	go func() {
		_, err := coll.UpdateOne(ctx, bson.D{{Key: "_id", Value: 1}}, bson.D{{Key: "$set", Value: bson.D{{Key: "x", Value: 1}}}})
		updated <- err
	}()
	for p.mu.TryRLock() { // until the update holds the write lock
		p.mu.RUnlock()
		select {
		case err := <-updated:
			t.Fatalf("update finished before the cursors were drained (err %v): the test no longer fills the pool", err)
		case <-ctx.Done():
			t.Fatal("the update never took the write lock")
		case <-time.After(time.Millisecond):
		}
	}

	for i, c := range open {
		n := 0
		for c.Next(ctx) {
			n++
		}
		if err := c.Err(); err != nil || n != 2 {
			t.Fatalf("cursor %d: %d documents, err %v; want 2, nil", i, n, err)
		}
		_ = c.Close(ctx)
	}
	select {
	case err := <-updated:
		if err != nil {
			t.Fatalf("update: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("the update did not finish after the cursors were drained")
	}
}
