package blob_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/blob"
	"github.com/magpie-im/magpie/internal/blob/blobtest"
)

func TestLocalConformance(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store {
		l, err := blob.OpenLocal(t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

// tempFiles returns the files left in the store's temporary directory.
func tempFiles(t *testing.T, l *blob.Local) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(l.Root(), ".tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestLocalLeavesNothing: a refused Put leaves no temporary file and no
// content; a stored content is a private file at its key's path.
func TestLocalLeavesNothing(t *testing.T) {
	l, err := blob.OpenLocal(filepath.Join(t.TempDir(), "files"), nil)
	if err != nil {
		t.Fatal(err)
	}
	refused := errors.New("too large")
	if _, err := l.Put(t.Context(), "app_1/ab/f_1", &failingReader{data: strings.Repeat("x", 70_000), err: refused}); !errors.Is(err, refused) {
		t.Fatalf("Put = %v", err)
	}
	if left := tempFiles(t, l); len(left) != 0 {
		t.Errorf("temporary files after a refused Put: %v", left)
	}
	if _, err := os.Stat(filepath.Join(l.Root(), "app_1", "ab", "f_1")); !os.IsNotExist(err) {
		t.Errorf("content file after a refused Put: %v", err)
	}
	if _, err := l.Put(t.Context(), "app_1/ab/f_2", strings.NewReader("ok")); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(l.Root(), "app_1", "ab", "f_2"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("content file mode = %v, want 0600", fi.Mode().Perm())
	}
	if left := tempFiles(t, l); len(left) != 0 {
		t.Errorf("temporary files after a Put: %v", left)
	}
}

type failingReader struct {
	data string
	off  int
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.off >= len(f.data) {
		return 0, f.err
	}
	n := copy(p, f.data[f.off:])
	f.off += n
	return n, nil
}

// TestLocalRemovesStaleTemps: leftovers of a crash are removed at open,
// fresh temporary files (another process's uploads) are kept.
func TestLocalRemovesStaleTemps(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, ".tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	stale, fresh := filepath.Join(dir, ".tmp", "put-1"), filepath.Join(dir, ".tmp", "put-2")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-blob.StaleTemp - time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.OpenLocal(dir, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
}

// TestLocalStaysUnderRoot: keys that could name a path outside the root
// (or its temporary directory) are refused before any file system call,
// and Open reads regular files only.
func TestLocalStaysUnderRoot(t *testing.T) {
	root := t.TempDir()
	l, err := blob.OpenLocal(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"../escape", "a/../../escape", "/etc/passwd", ".tmp/put-1"} {
		if _, err := l.Open(t.Context(), k); !errors.Is(err, blob.ErrInvalidKey) {
			t.Errorf("Open(%q) = %v, want ErrInvalidKey", k, err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "dir"), 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Open(t.Context(), "dir"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("Open(a directory) = %v, want ErrNotFound", err)
	}
}
