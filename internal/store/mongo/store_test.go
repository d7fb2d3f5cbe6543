package mongo

import (
	"testing"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Opener{
		Open: func(t *testing.T) store.Store { return openTemp(t) },
		Reopen: func(t *testing.T, s store.Store) store.Store {
			again, err := Open(t.Context(), serverURI(t), s.(*Store).dbName)
			if err != nil {
				t.Fatalf("Open again: %v", err)
			}
			t.Cleanup(func() { again.Close() })
			return again
		},
	})
}
