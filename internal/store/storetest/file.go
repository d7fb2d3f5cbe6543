package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var fileTests = []test{
	{"CreateGetDelete", testFileCreateGetDelete},
	{"List", testFileList},
	{"SurvivesDeleteUser", testFileSurvivesDeleteUser},
}

func newFile(id, uploader, conv string) store.File {
	return store.File{ID: id, UploaderID: uploader, ConvID: conv, Name: id + " café.png", ContentType: "image/png",
		Size: 1234, SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", CreatedAt: at(1)}
}

func normFile(f store.File) store.File {
	f.CreatedAt = f.CreatedAt.UTC()
	return f
}

func fileIDs(fs []store.File) []string { return ids(fs, func(f store.File) string { return f.ID }) }

func testFileCreateGetDelete(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	f := newFile("f_1", "alice", "p:alice:bob")
	must(t, a.CreateFile(ctx, f), "CreateFile(f_1)")
	got, err := a.GetFile(ctx, "f_1")
	if err != nil || !same(got, f, normFile) {
		t.Fatalf("GetFile(f_1) = %+v, %v, want %+v", got, err, f)
	}
	// The server's own uploads may have no uploader.
	anon := newFile("f_2", "", "g:hikers")
	must(t, a.CreateFile(ctx, anon), "CreateFile(f_2)")
	if got, err := a.GetFile(ctx, "f_2"); err != nil || !same(got, anon, normFile) {
		t.Errorf("GetFile(f_2) = %+v, %v, want %+v", got, err, anon)
	}
	wantErr(t, a.CreateFile(ctx, newFile("f_1", "bob", "p:alice:bob")), store.ErrConflict, "CreateFile(f_1) again")
	if got, _ := a.GetFile(ctx, "f_1"); got.UploaderID != "alice" {
		t.Errorf("a conflicting CreateFile changed the file: %+v", got)
	}
	_, err = a.GetFile(ctx, "f_9")
	wantErr(t, err, store.ErrNotFound, "GetFile(f_9)")

	must(t, a.DeleteFile(ctx, "f_1"), "DeleteFile(f_1)")
	_, err = a.GetFile(ctx, "f_1")
	wantErr(t, err, store.ErrNotFound, "GetFile after DeleteFile")
	wantErr(t, a.DeleteFile(ctx, "f_1"), store.ErrNotFound, "DeleteFile(f_1) again")
	// The id may be used again once deleted.
	must(t, a.CreateFile(ctx, newFile("f_1", "bob", "p:alice:bob")), "CreateFile(f_1) after its deletion")
}

func testFileList(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	for i := range 7 {
		uploader, conv := "alice", "g:hikers"
		if i%2 == 1 {
			uploader = "bob"
		}
		if i >= 5 {
			conv = "p:alice:bob"
		}
		must(t, a.CreateFile(ctx, newFile(fmt.Sprintf("f_%d", i), uploader, conv)), "CreateFile(%d)", i)
	}
	for _, tc := range []struct {
		q    store.FileQuery
		want []string
	}{
		{store.FileQuery{Limit: 10}, []string{"f_0", "f_1", "f_2", "f_3", "f_4", "f_5", "f_6"}},
		{store.FileQuery{Limit: 3}, []string{"f_0", "f_1", "f_2"}},
		{store.FileQuery{After: "f_2", Limit: 3}, []string{"f_3", "f_4", "f_5"}},
		{store.FileQuery{UploaderID: "alice", Limit: 10}, []string{"f_0", "f_2", "f_4", "f_6"}},
		{store.FileQuery{UploaderID: "alice", After: "f_2", Limit: 1}, []string{"f_4"}},
		{store.FileQuery{UploaderID: "bob", Limit: 10}, []string{"f_1", "f_3", "f_5"}},
		{store.FileQuery{ConvID: "p:alice:bob", Limit: 10}, []string{"f_5", "f_6"}},
		{store.FileQuery{ConvID: "g:hikers", After: "f_1", Limit: 2}, []string{"f_2", "f_3"}},
		{store.FileQuery{UploaderID: "bob", ConvID: "p:alice:bob", Limit: 10}, []string{"f_5"}},
		{store.FileQuery{UploaderID: "carol", Limit: 10}, []string{}},
		{store.FileQuery{ConvID: "g:other", Limit: 10}, []string{}},
	} {
		got, err := a.ListFiles(ctx, tc.q)
		if err != nil || !slices.Equal(fileIDs(got), tc.want) {
			t.Errorf("ListFiles(%+v) = %v, %v, want %v", tc.q, fileIDs(got), err, tc.want)
		}
	}
	got, err := a.ListFiles(ctx, store.FileQuery{UploaderID: "bob", ConvID: "p:alice:bob", Limit: 1})
	if err != nil || len(got) != 1 || !same(got[0], newFile("f_5", "bob", "p:alice:bob"), normFile) {
		t.Errorf("ListFiles(bob in p:alice:bob) = %+v, %v; want f_5 in full", got, err)
	}
}

// testFileSurvivesDeleteUser: DeleteUser leaves files alone (the files
// service deletes them, contents first).
func testFileSurvivesDeleteUser(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.CreateUser(ctx, newUser("alice")), "CreateUser")
	must(t, a.CreateFile(ctx, newFile("f_1", "alice", "p:alice:bob")), "CreateFile")
	must(t, a.DeleteUser(ctx, "alice", store.UserDeletion{At: at(2), EraseMessages: true}), "DeleteUser")
	if _, err := a.GetFile(ctx, "f_1"); err != nil {
		t.Errorf("GetFile after DeleteUser = %v; the store leaves files to the files service", err)
	}
}

// testTenancyFiles: another app can neither read, list nor delete a file,
// and the same id there is its own file.
func testTenancyFiles(t *testing.T, s store.Store) {
	a, b, ctx := s.App("A"), s.App("B"), t.Context()
	fa := newFile("f_1", "alice", "p:alice:bob")
	must(t, a.CreateFile(ctx, fa), "A.CreateFile")
	_, err := b.GetFile(ctx, "f_1")
	wantErr(t, err, store.ErrNotFound, "B.GetFile(f_1)")
	wantErr(t, b.DeleteFile(ctx, "f_1"), store.ErrNotFound, "B.DeleteFile(f_1)")
	for _, q := range []store.FileQuery{{Limit: 10}, {UploaderID: "alice", Limit: 10}, {ConvID: "p:alice:bob", Limit: 10}} {
		if fs, err := b.ListFiles(ctx, q); err != nil || len(fs) != 0 {
			t.Errorf("B.ListFiles(%+v) = %v, %v, want none", q, fileIDs(fs), err)
		}
	}
	fb := newFile("f_1", "carol", "g:b")
	must(t, b.CreateFile(ctx, fb), "B.CreateFile(f_1)")
	must(t, b.DeleteFile(ctx, "f_1"), "B.DeleteFile(f_1)")
	if got, err := a.GetFile(ctx, "f_1"); err != nil || !same(got, fa, normFile) {
		t.Errorf("A.GetFile(f_1) after B's changes = %+v, %v, want %+v", got, err, fa)
	}
}
