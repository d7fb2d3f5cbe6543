// Package enginetest opens a new, empty Store of each engine for tests
// outside the store packages that must hold on both (SQLite, and MongoDB
// through mongotest). Only tests import this package; a test binary that
// uses it calls mongotest.Main from its TestMain.
package enginetest

import (
	"path/filepath"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/mongo"
	"github.com/magpie-im/magpie/internal/store/mongo/mongotest"
	"github.com/magpie-im/magpie/internal/store/sqlite"
)

// Engine is one store engine.
type Engine struct {
	Name string
	Open func(t *testing.T) store.Store
}

// Engines are SQLite and MongoDB.
var Engines = []Engine{{"sqlite", OpenSQLite}, {"mongo", OpenMongo}}

// OpenSQLite opens a new SQLite store in the test's temporary directory,
// closed when the test ends.
func OpenSQLite(t *testing.T) store.Store {
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "magpie.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// OpenMongo opens a MongoDB store on a database of its own, with its
// indexes, closed and dropped when the test ends (skipped, or failed with
// CI=true, when no server can be had).
func OpenMongo(t *testing.T) store.Store {
	uri, db := mongotest.URI(t), mongotest.DBName()
	mongotest.DropOnCleanup(t, uri, db)
	st, err := mongo.Open(t.Context(), uri, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.EnsureIndexes(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}
