package users_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
	"github.com/magpie-im/magpie/users"
)

// recorder is the Events of the tests: it records every change.
type recorder struct {
	mu      sync.Mutex
	changes []string
}

func (r *recorder) UserChanged(_ context.Context, appID, userID string, deleted bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	kind := "changed"
	if deleted {
		kind = "deleted"
	}
	r.changes = append(r.changes, appID+"/"+userID+" "+kind)
	return nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.changes
	r.changes = nil
	return out
}

func newService(t *testing.T) (*users.Service, *recorder) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "magpie.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Unix(1_767_225_600, 0)
	ev := &recorder{}
	return users.New(st, users.Config{Now: func() time.Time { return now }, Events: ev}), ev
}

// TestServiceReportsSessionChanges: a block, an unblock, a token
// revocation and a deletion are reported to Events (so every node re-checks
// the user's sessions and forgets what it remembers of the user for
// logins); creating and updating are not.
func TestServiceReportsSessionChanges(t *testing.T) {
	ctx := context.Background()
	s, ev := newService(t)
	if _, err := s.Create(ctx, "app1", users.Input{ID: "alice"}); err != nil {
		t.Fatal(err)
	}
	name := "Alice"
	if _, err := s.Update(ctx, "app1", "alice", users.Patch{Name: &name}); err != nil {
		t.Fatal(err)
	}
	if got := ev.take(); len(got) != 0 {
		t.Fatalf("create and update reported %v, want nothing", got)
	}
	steps := []struct {
		name string
		do   func() error
		want []string
	}{
		{"block", func() error { _, err := s.SetBlocked(ctx, "app1", "alice", true); return err }, []string{"app1/alice changed"}},
		// An unblock ends no session, but the gateways remember users for
		// logins: they must forget the block.
		{"unblock", func() error { _, err := s.SetBlocked(ctx, "app1", "alice", false); return err }, []string{"app1/alice changed"}},
		{"revoke", func() error { _, err := s.RevokeTokens(ctx, "app1", "alice"); return err }, []string{"app1/alice changed"}},
		{"delete", func() error { return s.Delete(ctx, "app1", "alice", true) }, []string{"app1/alice deleted"}},
	}
	for _, st := range steps {
		if err := st.do(); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := ev.take(); len(got) != len(st.want) || (len(got) > 0 && got[0] != st.want[0]) {
			t.Fatalf("%s reported %v, want %v", st.name, got, st.want)
		}
	}
}

// TestServiceErrors: each refusal comes back as the typed error the
// server API maps to its code.
func TestServiceErrors(t *testing.T) {
	ctx := context.Background()
	s, ev := newService(t)
	if _, err := s.Create(ctx, "app1", users.Input{ID: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetBlocked(ctx, "app1", "bob", true); err != nil {
		t.Fatal(err)
	}
	long := string(make([]byte, 200))
	tests := []struct {
		name  string
		err   error
		field string // for a *ValidationError
		is    error
	}{
		{name: "bad id", err: s.Delete(ctx, "app1", "..", false), field: "id"},
		{name: "bad name", err: second(s.Update(ctx, "app1", "bob", users.Patch{Name: &long})), field: "name"},
		{name: "exists", err: second(s.Create(ctx, "app1", users.Input{ID: "bob"})), is: users.ErrExists},
		{name: "other app", err: second(s.Get(ctx, "app2", "bob")), is: users.ErrNotFound},
		{name: "blocked", err: second(s.CheckToken(ctx, store.App{ID: "app1"}, "bob", 0)), is: users.ErrBlocked},
		{name: "ttl", err: second(s.CheckToken(ctx, store.App{ID: "app1"}, "bob", 59)), field: "ttl_seconds"},
		{name: "empty import", err: second(s.Import(ctx, "app1", nil)), field: "users"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ve *users.ValidationError
			switch {
			case tt.field != "" && (!errors.As(tt.err, &ve) || ve.Field != tt.field):
				t.Fatalf("err = %v, want a validation error of %q", tt.err, tt.field)
			case tt.is != nil && !errors.Is(tt.err, tt.is):
				t.Fatalf("err = %v, want %v", tt.err, tt.is)
			}
		})
	}
	if got := ev.take(); len(got) != 1 {
		t.Fatalf("changes = %v, want the block only", got)
	}
}

// TestImportReportsEachUser: valid users are created, existing ones
// reported and left alone, invalid ones reported with an indexed field.
func TestImportReportsEachUser(t *testing.T) {
	ctx := context.Background()
	s, _ := newService(t)
	if _, err := s.Create(ctx, "app1", users.Input{ID: "carol", Name: "Carol"}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Import(ctx, "app1", []users.Input{{ID: "dave"}, {ID: "carol", Name: "Other"}, {ID: ""}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{users.Created, users.Existed, users.Failed}
	for i, r := range res {
		if r.Status != want[i] {
			t.Errorf("result %d = %s, want %s", i, r.Status, want[i])
		}
	}
	var ve *users.ValidationError
	if !errors.As(res[2].Err, &ve) || ve.Field != "users[2].id" {
		t.Errorf("result 2 error = %v, want a validation error of users[2].id", res[2].Err)
	}
	if u, err := s.Get(ctx, "app1", "carol"); err != nil || u.Name != "Carol" {
		t.Errorf("carol after import = %+v, %v; want untouched", u, err)
	}
}

func second[T any](_ T, err error) error { return err }

// fileEraser records the calls of users.Files and fails when told.
type fileEraser struct {
	mu    sync.Mutex
	calls []string
	fail  error
}

func (f *fileEraser) UserDeleted(_ context.Context, appID, userID string, erase bool) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, appID+"/"+userID+" erase="+map[bool]string{true: "yes", false: "no"}[erase])
	return 0, f.fail
}

// TestDeleteDeletesFilesFirst: the user's files go before the user (and
// are swept again after); when they cannot, the user stays, for a retry.
func TestDeleteDeletesFilesFirst(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "magpie.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	files := &fileEraser{fail: errors.New("disk gone")}
	s := users.New(st, users.Config{Files: files})
	ctx := context.Background()
	if _, err := s.Create(ctx, "A", users.Input{ID: "ann"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "A", "ann", true); err == nil {
		t.Fatal("Delete with failing file deletion succeeded")
	}
	if _, err := s.Get(ctx, "A", "ann"); err != nil {
		t.Fatalf("the user is gone although its files are not: %v", err)
	}
	files.fail = nil
	files.calls = nil
	if err := s.Delete(ctx, "A", "ann", true); err != nil {
		t.Fatal(err)
	}
	if got := files.calls; len(got) != 2 || got[0] != "A/ann erase=yes" || got[1] != got[0] {
		t.Errorf("file deletions = %v, want two (before and after)", got)
	}
	if err := s.Delete(ctx, "A", "ann", false); !errors.Is(err, users.ErrNotFound) || len(files.calls) != 2 {
		t.Errorf("Delete of nobody = %v, file calls %v", err, files.calls)
	}
}
