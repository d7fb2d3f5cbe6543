package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// tmpDir is the directory under a Local store's root where contents are
// written before they are renamed to their key. It starts with '.', which
// no key segment does.
const tmpDir = ".tmp"

// StaleTemp is how old a leftover temporary file must be before OpenLocal
// removes it: one a crash left behind. Younger ones may be uploads in
// progress on another process sharing the directory.
const StaleTemp = 24 * time.Hour

// Local is a Store on a file system: the content of key a/b/c is the file
// <root>/a/b/c. Put writes a temporary file under <root>/.tmp, syncs it and
// renames it into place (then syncs the directory), so a content appears
// whole or not at all, even across a crash, and readers never see a
// partial one. Several processes may share the root (a shared volume in
// cluster mode), as long as the file system's rename is atomic.
//
// Files are created with mode 0600 and directories with 0700.
type Local struct {
	root string
	tmp  string
}

// OpenLocal returns a Local store rooted at dir, creating the directory if
// needed, and removes temporary files older than StaleTemp (logged to log,
// which may be nil).
func OpenLocal(dir string, log *slog.Logger) (*Local, error) {
	if dir == "" {
		return nil, errors.New("blob: empty directory")
	}
	root, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	l := &Local{root: root, tmp: filepath.Join(root, tmpDir)}
	if err := os.MkdirAll(l.tmp, 0o700); err != nil {
		return nil, fmt.Errorf("blob: create %s: %w", l.tmp, err)
	}
	n, err := l.removeStale(time.Now().Add(-StaleTemp))
	if err != nil {
		return nil, err
	}
	if n > 0 && log != nil {
		log.Info("removed leftover temporary files of interrupted uploads", "dir", l.tmp, "count", n)
	}
	return l, nil
}

// Root returns the store's directory.
func (l *Local) Root() string { return l.root }

func (l *Local) removeStale(before time.Time) (int, error) {
	entries, err := os.ReadDir(l.tmp)
	if err != nil {
		return 0, fmt.Errorf("blob: read %s: %w", l.tmp, err)
	}
	n := 0
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || info.IsDir() || !info.ModTime().Before(before) {
			continue
		}
		if os.Remove(filepath.Join(l.tmp, e.Name())) == nil {
			n++
		}
	}
	return n, nil
}

// path returns the file of key.
func (l *Local) path(key string) (string, error) {
	if !ValidKey(key) {
		return "", fmt.Errorf("%w: %q", ErrInvalidKey, key)
	}
	return filepath.Join(l.root, filepath.FromSlash(key)), nil
}

// Put implements Store.
func (l *Local) Put(ctx context.Context, key string, r io.Reader) (n int64, err error) {
	final, err := l.path(key)
	if err != nil {
		return 0, err
	}
	f, err := os.CreateTemp(l.tmp, "put-*")
	if err != nil {
		return 0, fmt.Errorf("blob: put %s: %w", key, err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = f.Close()           // the Put's error is the one to report
			_ = os.Remove(f.Name()) // at worst a leftover that OpenLocal removes later
		}
	}()
	n, err = io.Copy(f, ctxReader{ctx: ctx, r: r})
	if err != nil {
		return 0, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("blob: put %s: sync: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("blob: put %s: %w", key, err)
	}
	dir := filepath.Dir(final)
	if err := l.mkdirAll(dir); err != nil {
		return 0, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("blob: put %s: %w", key, err)
	}
	if err := os.Rename(f.Name(), final); err != nil {
		return 0, fmt.Errorf("blob: put %s: %w", key, err)
	}
	committed = true
	if err := syncDir(dir); err != nil {
		return 0, fmt.Errorf("blob: put %s: sync directory: %w", key, err)
	}
	return n, nil
}

// mkdirAll creates dir and its missing parents under the root, syncing
// each parent of a directory it created so that the new entry is durable.
func (l *Local) mkdirAll(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	rel, err := filepath.Rel(l.root, dir)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fmt.Errorf("directory %s is not under %s", dir, l.root)
	}
	cur := l.root
	for _, seg := range strings.Split(rel, string(filepath.Separator)) {
		next := filepath.Join(cur, seg)
		err := os.Mkdir(next, 0o700)
		switch {
		case err == nil:
			if err := syncDir(cur); err != nil {
				return err
			}
		case !errors.Is(err, fs.ErrExist):
			return err
		}
		cur = next
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Open implements Store.
func (l *Local) Open(_ context.Context, key string) (Object, error) {
	p, err := l.path(key)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("blob: open %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("blob: open %s: %w", key, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("blob: open %s: %w", key, ErrNotFound)
	}
	return &localObject{File: f, size: fi.Size(), mod: fi.ModTime()}, nil
}

// Delete implements Store.
func (l *Local) Delete(_ context.Context, key string) error {
	p, err := l.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: delete %s: %w", key, err)
	}
	return nil
}

type localObject struct {
	*os.File
	size int64
	mod  time.Time
}

func (o *localObject) Size() int64        { return o.size }
func (o *localObject) ModTime() time.Time { return o.mod }

// ctxReader fails reads once ctx has ended, so that a Put of a slow
// stream stops with its context.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
