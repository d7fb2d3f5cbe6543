package mongo

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store/mongo/mongotest"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

// serverURI returns the test server's URI (see package mongotest).
func serverURI(t testing.TB) string { return mongotest.URI(t) }

// openTemp opens a store on a new database, with its indexes, and drops the
// database when the test ends.
func openTemp(t testing.TB) *Store {
	t.Helper()
	uri := mongotest.URI(t)
	name := mongotest.DBName()
	s, err := Open(t.Context(), uri, name)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.client.Database(name).Drop(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("drop database %s: %v", name, err)
		}
		s.Close()
	})
	if err := s.EnsureIndexes(t.Context()); err != nil {
		t.Fatalf("EnsureIndexes: %v", err)
	}
	return s
}
