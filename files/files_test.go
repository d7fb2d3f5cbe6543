package files_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/files"
	"github.com/magpie-im/magpie/internal/blob"
	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/enginetest"
	"github.com/magpie-im/magpie/internal/store/mongo/mongotest"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

// members is a fake Access: who may share to which conversation.
type members struct {
	mu sync.Mutex
	m  map[string]map[string]bool // conv → users
}

func (a *members) CanShare(_ context.Context, _, userID, convID string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.m[convID][userID], nil
}

func (a *members) set(conv, user string, in bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m[conv] == nil {
		a.m[conv] = map[string]bool{}
	}
	a.m[conv][user] = in
}

// apps is a fake Apps over the store, whose apps exist when the test says.
type apps struct{ st store.Store }

func (a apps) GetApp(ctx context.Context, id string) (store.App, error) { return a.st.GetApp(ctx, id) }

// fixture is a files service on a store and a local blob store, with a
// clock the test moves.
type fixture struct {
	t       *testing.T
	st      store.Store
	dir     string
	svc     *files.Service
	access  *members
	mu      sync.Mutex
	now     time.Time
	keys    *keyring.Keyring
	appA    string
	appB    string
	limitsA int64
}

func (f *fixture) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fixture) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func newFixture(t *testing.T, st store.Store) *fixture {
	f := &fixture{t: t, st: st, dir: t.TempDir(), access: &members{m: map[string]map[string]bool{}},
		now: time.Unix(1_767_225_600, 0).UTC(), appA: "app_a", appB: "app_b", limitsA: 1 << 20}
	ctx := t.Context()
	for _, id := range []string{f.appA, f.appB} {
		if err := st.CreateApp(ctx, store.App{ID: id, TenantID: "tn", Name: id, Key: "mk_" + id, CreatedAt: f.now, UpdatedAt: f.now}); err != nil {
			t.Fatal(err)
		}
		for _, u := range []string{"ann", "bob", "cat"} {
			if err := st.App(id).CreateUser(ctx, store.User{ID: u, CreatedAt: f.now.Add(-time.Hour), UpdatedAt: f.now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	blobs, err := blob.OpenLocal(f.dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.keys, _ = keyring.New(bytes.Repeat([]byte{3}, keyring.KeySize))
	f.svc = files.New(st, blobs, f.access, files.Config{
		MAC:  func(appID, purpose string, data []byte) []byte { return f.keys.MAC(purpose+"\x00"+appID, data) },
		Apps: apps{st}, Now: f.clock,
	})
	f.access.set("g:hikers", "ann", true)
	f.access.set("g:hikers", "bob", true)
	return f
}

// upload uploads content as ann to g:hikers in app A, with the options
// applied.
func (f *fixture) upload(content []byte, opts ...func(*files.Upload)) (store.File, error) {
	u := files.Upload{AppID: f.appA, UploaderID: "ann", ConvID: "g:hikers", Name: "summit.png", ContentType: "image/png",
		Body: bytes.NewReader(content), MaxBytes: f.limitsA, Types: store.DefaultUploadTypes}
	for _, o := range opts {
		if o != nil {
			o(&u)
		}
	}
	return f.svc.Upload(f.t.Context(), u)
}

// contents returns the content files under the blob store's root (its
// temporary directory included).
func (f *fixture) contents() []string {
	var out []string
	_ = filepath.WalkDir(f.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, strings.TrimPrefix(p, f.dir))
		}
		return nil
	})
	return out
}

// nothingStored fails the test if the app has a file or the blob store a
// content.
func (f *fixture) nothingStored(what string) {
	f.t.Helper()
	if fs, err := f.st.App(f.appA).ListFiles(f.t.Context(), store.FileQuery{Limit: 10}); err != nil || len(fs) != 0 {
		f.t.Errorf("%s: files recorded: %+v, %v", what, fs, err)
	}
	if c := f.contents(); len(c) != 0 {
		f.t.Errorf("%s: contents left in the blob store: %v", what, c)
	}
}

func wantCode(t *testing.T, err error, code string, what string) {
	t.Helper()
	var fe *files.Error
	if !errors.As(err, &fe) || fe.Code != code {
		t.Errorf("%s = %v, want a files error %s", what, err, code)
	}
}

// png is a small PNG-looking content of n bytes.
func png(n int) []byte {
	b := bytes.Repeat([]byte{0x42}, n)
	copy(b, "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	return b
}

// download opens a signed URL's content the way the HTTP route does.
func (f *fixture) download(rawURL string) ([]byte, store.File, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		f.t.Fatal(err)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(u.Path, "/v1/files/"), "/content")
	d, err := f.svc.Open(f.t.Context(), id, u.Query())
	if err != nil {
		return nil, store.File{}, err
	}
	defer d.Content.Close()
	b, err := io.ReadAll(d.Content)
	if err != nil {
		f.t.Fatal(err)
	}
	return b, d.File, nil
}

func TestRoundTrip(t *testing.T) {
	for name, open := range map[string]func(*testing.T) store.Store{"sqlite": enginetest.OpenSQLite, "mongo": enginetest.OpenMongo} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, open(t))
			content := png(300_000)
			file, err := f.upload(content)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(file.ID, "f_") || file.Size != int64(len(content)) || file.ContentType != "image/png" ||
				file.Name != "summit.png" || file.UploaderID != "ann" || file.ConvID != "g:hikers" || len(file.SHA256) != 64 {
				t.Errorf("uploaded file = %+v", file)
			}
			got, err := f.svc.Get(t.Context(), f.appA, file.ID)
			if err != nil || got.SHA256 != file.SHA256 || !got.CreatedAt.Equal(file.CreatedAt) {
				t.Errorf("Get = %+v, %v; want %+v", got, err, file)
			}
			// A URL for bob, a member; and one for nobody in particular.
			link, err := f.svc.URL(t.Context(), f.appA, file, "bob", 0)
			if err != nil || link.ExpiresAt.Sub(f.clock()) != files.DefaultURLTTL {
				t.Fatalf("URL = %+v, %v", link, err)
			}
			for _, who := range []string{"bob", ""} {
				link, _ := f.svc.URL(t.Context(), f.appA, file, who, 10*time.Minute)
				b, meta, err := f.download(link.URL)
				if err != nil || !bytes.Equal(b, content) || meta.ID != file.ID {
					t.Errorf("download of %q's URL = %d bytes, %v", who, len(b), err)
				}
			}
			// Another app sees nothing of it.
			_, err = f.svc.Get(t.Context(), f.appB, file.ID)
			wantCode(t, err, files.CodeFileNotFound, "B.Get")
			// Deleted: content and metadata go.
			if err := f.svc.Delete(t.Context(), f.appA, file.ID, ""); err != nil {
				t.Fatal(err)
			}
			_, _, err = f.download(link.URL)
			wantCode(t, err, files.CodeFileNotFound, "download after Delete")
			f.nothingStored("after Delete")
		})
	}
}

// TestRefusedUploadsStoreNothing: every refusal leaves no content and no
// metadata behind.
func TestRefusedUploadsStoreNothing(t *testing.T) {
	f := newFixture(t, enginetest.OpenSQLite(t))
	refused := errors.New("signature does not match")
	completed := false
	for _, tc := range []struct {
		name string
		body []byte
		opt  func(*files.Upload)
		code string
	}{
		{"oversized", png(int(f.limitsA) + 1), nil, files.CodeFileTooLarge},
		{"far oversized", png(3 << 20), nil, files.CodeFileTooLarge},
		{"unsupported type", []byte("<!DOCTYPE html><script>x</script>"), func(u *files.Upload) { u.ContentType = "text/html" }, files.CodeUnsupportedType},
		{"type the app does not accept", png(100), func(u *files.Upload) { u.Types = []string{"application/pdf"} }, files.CodeUnsupportedType},
		{"mismatch", []byte("%PDF-1.4 not an image"), nil, files.CodeTypeMismatch},
		{"empty", nil, nil, files.CodeEmptyFile},
		{"non-member", png(100), func(u *files.Upload) { u.UploaderID = "cat" }, files.CodeForbidden},
		{"system conversation", png(100), func(u *files.Upload) { u.ConvID = "s:ann" }, files.CodeForbidden},
		{"no conversation", png(100), func(u *files.Upload) { u.ConvID = "" }, files.CodeInvalidArgument},
		{"bad conversation", png(100), func(u *files.Upload) { u.ConvID = "g:../../x" }, files.CodeInvalidArgument},
		{"bad declared type", png(100), func(u *files.Upload) { u.ContentType = "png" }, files.CodeInvalidArgument},
		{"refused at its end", png(100), func(u *files.Upload) {
			u.Complete = func(size int64, sum string) error {
				completed = size == 100 && len(sum) == 64
				return refused
			}
		}, ""},
		{"body fails", nil, func(u *files.Upload) { u.Body = io.MultiReader(bytes.NewReader(png(2000)), errReader{}) }, ""},
	} {
		file, err := f.upload(tc.body, tc.opt)
		if tc.code != "" {
			wantCode(t, err, tc.code, tc.name)
		} else if err == nil {
			t.Errorf("%s: Upload = %+v, want an error", tc.name, file)
		}
		f.nothingStored(tc.name)
	}
	if !completed {
		t.Error("Complete did not see the whole content")
	}
	// With Complete, the access check waits for it: an unauthenticated
	// request learns nothing of the conversation's members.
	_, err := f.upload(png(100), func(u *files.Upload) {
		u.UploaderID = "cat"
		u.Complete = func(int64, string) error { return refused }
	})
	if !errors.Is(err, refused) {
		t.Errorf("non-member upload refused by Complete = %v, want Complete's error first", err)
	}
	f.nothingStored("non-member refused by Complete")
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestForgedAndExpiredURLs: a URL works only as signed, until it expires,
// for the app and file it names.
func TestForgedAndExpiredURLs(t *testing.T) {
	f := newFixture(t, enginetest.OpenSQLite(t))
	file, err := f.upload(png(1000))
	if err != nil {
		t.Fatal(err)
	}
	f.access.set("g:b", "ann", true)
	other, err := f.svc.Upload(t.Context(), files.Upload{AppID: f.appB, UploaderID: "ann", ConvID: "g:b", ContentType: "image/png",
		Body: bytes.NewReader(png(10)), MaxBytes: 100, Types: store.DefaultUploadTypes})
	if err != nil {
		t.Fatal(err)
	}
	link, err := f.svc.URL(t.Context(), f.appA, file, "bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(link.URL)
	q := u.Query()
	change := func(key, value string) string {
		v := url.Values{}
		for k := range q {
			v.Set(k, q.Get(k))
		}
		if value == "" {
			v.Del(key)
		} else {
			v.Set(key, value)
		}
		return u.Path + "?" + v.Encode()
	}
	sig := q.Get("sig")
	flipped := []byte(sig)
	flipped[5] ^= 1
	otherLink, _ := f.svc.URL(t.Context(), f.appB, other, "ann", time.Hour)
	ou, _ := url.Parse(otherLink.URL)
	for name, bad := range map[string]string{
		"another signature":           change("sig", string(flipped)),
		"no signature":                change("sig", ""),
		"a later expiry":              change("expires", "99999999999"),
		"a malformed expiry":          change("expires", "soon"),
		"another user":                change("user", "cat"),
		"no user":                     change("user", ""),
		"another app":                 change("app", f.appB),
		"another file":                "/v1/files/" + other.ID + "/content?" + u.RawQuery,
		"another app's file, own sig": "/v1/files/" + file.ID + "/content?" + ou.RawQuery,
		"a signature of another key": func() string {
			k2, _ := keyring.New(bytes.Repeat([]byte{4}, keyring.KeySize))
			s2 := files.New(f.st, nil, f.access, files.Config{MAC: func(appID, purpose string, data []byte) []byte {
				return k2.MAC(purpose+"\x00"+appID, data)
			}, Apps: apps{f.st}, Now: f.clock})
			l, _ := s2.URL(t.Context(), f.appA, file, "bob", time.Hour)
			return l.URL
		}(),
	} {
		_, _, err := f.download(bad)
		wantCode(t, err, files.CodeBadURLSignature, name)
	}
	if _, _, err := f.download(link.URL); err != nil {
		t.Fatalf("the genuine URL = %v", err)
	}
	f.advance(time.Hour - time.Second)
	if _, _, err := f.download(link.URL); err != nil {
		t.Errorf("one second before expiry = %v", err)
	}
	f.advance(time.Second)
	_, _, err = f.download(link.URL)
	wantCode(t, err, files.CodeURLExpired, "at expiry")
	// Lifetimes.
	for _, ttl := range []time.Duration{-time.Second, time.Millisecond, files.MaxURLTTL + time.Second} {
		if _, err := f.svc.URL(t.Context(), f.appA, file, "", ttl); err == nil {
			t.Errorf("URL with ttl %s succeeded", ttl)
		}
	}
	if l, err := f.svc.URL(t.Context(), f.appA, file, "", files.MaxURLTTL); err != nil || l.ExpiresAt.Sub(f.clock()) != files.MaxURLTTL {
		t.Errorf("URL with the longest ttl = %+v, %v", l, err)
	}
}

// TestUserURLsFollowMembership: a URL made for a user stops working as
// soon as the user may no longer read the file, long before it expires.
func TestUserURLsFollowMembership(t *testing.T) {
	f := newFixture(t, enginetest.OpenSQLite(t))
	ctx := t.Context()
	file, err := f.upload(png(1000))
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.svc.URL(ctx, f.appA, file, "cat", 0)
	wantCode(t, err, files.CodeForbidden, "URL for a non-member")
	_, err = f.svc.Get(ctx, f.appB, file.ID)
	wantCode(t, err, files.CodeFileNotFound, "Get in another app")
	bobs, _ := f.svc.URL(t.Context(), f.appA, file, "bob", 7*24*time.Hour)
	anyone, _ := f.svc.URL(t.Context(), f.appA, file, "", time.Hour)
	if _, _, err := f.download(bobs.URL); err != nil {
		t.Fatal(err)
	}
	f.access.set("g:hikers", "bob", false) // removed from the group
	_, _, err = f.download(bobs.URL)
	wantCode(t, err, files.CodeForbidden, "bob's URL after his removal")
	if _, _, err := f.download(anyone.URL); err != nil {
		t.Errorf("an unbound URL after bob's removal = %v", err)
	}
	f.access.set("g:hikers", "bob", true)
	if err := f.st.App(f.appA).SetUserBlocked(ctx, "bob", true, f.clock()); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.download(bobs.URL)
	wantCode(t, err, files.CodeForbidden, "bob's URL while he is blocked")
	if err := f.st.App(f.appA).DeleteUser(ctx, "bob", store.UserDeletion{At: f.clock()}); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.download(bobs.URL)
	wantCode(t, err, files.CodeForbidden, "bob's URL after his deletion")
	// A new bob is not the old one.
	if err := f.st.App(f.appA).CreateUser(ctx, store.User{ID: "bob", CreatedAt: f.clock().Add(time.Second)}); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.download(bobs.URL)
	wantCode(t, err, files.CodeForbidden, "the old bob's URL for a new bob")
	// The new bob, a member, gets URLs of his own, even of files shared
	// before he was created (a group whose history new members see).
	newBobs, err := f.svc.URL(ctx, f.appA, file, "bob", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.download(newBobs.URL); err != nil {
		t.Errorf("the new bob's own URL = %v", err)
	}
	// A disabled app serves nothing.
	app, _ := f.st.GetApp(ctx, f.appA)
	app.Disabled = true
	if err := f.st.UpdateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	_, _, err = f.download(anyone.URL)
	wantCode(t, err, files.CodeAppDisabled, "a URL of a disabled app")
}

func TestDeleteAndUserDeleted(t *testing.T) {
	f := newFixture(t, enginetest.OpenSQLite(t))
	ctx := t.Context()
	mine, err := f.upload(png(10))
	if err != nil {
		t.Fatal(err)
	}
	err = f.svc.Delete(ctx, f.appA, mine.ID, "bob")
	wantCode(t, err, files.CodeForbidden, "Delete by another member")
	err = f.svc.Delete(ctx, f.appB, mine.ID, "")
	wantCode(t, err, files.CodeFileNotFound, "Delete in another app")
	if err := f.svc.Delete(ctx, f.appA, mine.ID, "ann"); err != nil {
		t.Fatalf("Delete by the uploader = %v", err)
	}
	err = f.svc.Delete(ctx, f.appA, mine.ID, "ann")
	wantCode(t, err, files.CodeFileNotFound, "Delete again")

	// ann's uploads, bob's, and one the backend shared to ann's system
	// conversation.
	var anns []store.File
	for range 3 {
		x, err := f.upload(png(10))
		if err != nil {
			t.Fatal(err)
		}
		anns = append(anns, x)
	}
	bobs, err := f.upload(png(10), func(u *files.Upload) { u.UploaderID = "bob" })
	if err != nil {
		t.Fatal(err)
	}
	sys, err := f.upload(png(10), func(u *files.Upload) { u.UploaderID, u.ConvID = "", "s:ann" })
	if err != nil {
		t.Fatal(err)
	}
	exists := func(x store.File) bool {
		_, err := f.svc.Get(ctx, f.appA, x.ID)
		return err == nil
	}
	// Without erasure, only the system conversation's file goes.
	if n, err := f.svc.UserDeleted(ctx, f.appA, "ann", false); err != nil || n != 1 || exists(sys) || !exists(anns[0]) {
		t.Errorf("UserDeleted(ann, keep) = %d, %v; system file exists %v, uploads exist %v", n, err, exists(sys), exists(anns[0]))
	}
	// With erasure, every upload of hers too; bob's stay.
	if n, err := f.svc.UserDeleted(ctx, f.appA, "ann", true); err != nil || n != 3 {
		t.Errorf("UserDeleted(ann, erase) = %d, %v; want 3", n, err)
	}
	for _, x := range anns {
		if exists(x) {
			t.Errorf("ann's file %s survived her erasure", x.ID)
		}
	}
	if !exists(bobs) {
		t.Error("bob's file went with ann's erasure")
	}
	if c := f.contents(); len(c) != 1 {
		t.Errorf("contents left = %v, want bob's only", c)
	}
}
