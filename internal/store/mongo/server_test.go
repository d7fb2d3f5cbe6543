package mongo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The tests run against the server named by MAGPIE_TEST_MONGO_URL (a
// mongodb:// URI; each test uses a database of its own and drops it) or,
// without it, against FerretDB on SQLite, built from tools/ferretdb (its own
// module, so that this module never links FerretDB) once per test binary and
// started on a free port. With CI=true the tests fail rather than skip when
// no server can be had.

// server is the MongoDB-compatible server of this test binary.
var server struct {
	once sync.Once
	uri  string
	skip string // why the tests skip, if they must
	stop func()
}

func TestMain(m *testing.M) {
	code := m.Run()
	if server.stop != nil {
		server.stop()
	}
	os.Exit(code)
}

// serverURI returns the URI of the test server, starting it on first use,
// or skips (fails with CI=true) the test if there is none.
func serverURI(t testing.TB) string {
	t.Helper()
	server.once.Do(func() {
		if uri := os.Getenv("MAGPIE_TEST_MONGO_URL"); uri != "" {
			server.uri = uri
			return
		}
		uri, stop, err := startFerretDB()
		if err != nil {
			server.skip = fmt.Sprintf("no MongoDB for the tests (set MAGPIE_TEST_MONGO_URL, or let Go build tools/ferretdb): %v", err)
			fmt.Fprintln(os.Stderr, "internal/store/mongo:", server.skip)
			return
		}
		server.uri, server.stop = uri, stop
	})
	if server.skip != "" {
		if os.Getenv("CI") == "true" {
			t.Fatal(server.skip)
		}
		t.Skip(server.skip)
	}
	return server.uri
}

// startFerretDB builds tools/ferretdb into a temporary directory, starts it
// and returns its URI and a function that stops it.
func startFerretDB() (uri string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "magpie-mongo-test-")
	if err != nil {
		return "", nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	bin, err := buildFerretDB(dir)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "-dir", filepath.Join(dir, "data"))
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		return "", nil, err
	}
	stdin, err := cmd.StdinPipe() // FerretDB exits when it closes
	if err != nil {
		return "", nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	stop = func() {
		stdin.Close()
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		os.RemoveAll(dir)
	}
	select {
	case line, ok := <-lines:
		if ok && strings.HasPrefix(line, "mongodb://") {
			return line, stop, nil
		}
		stop()
		return "", nil, fmt.Errorf("ferretdb printed %q, not its URI; stderr: %s", line, stderr.String())
	case <-time.After(time.Minute):
		stop()
		return "", nil, fmt.Errorf("ferretdb did not start within a minute; stderr: %s", stderr.String())
	}
}

// buildFerretDB builds tools/ferretdb into dir and returns the binary's
// path. The first build compiles FerretDB and its SQLite driver (a minute
// or two); the Go build cache makes later ones take seconds.
func buildFerretDB(dir string) (string, error) {
	src, err := filepath.Abs(filepath.Join("..", "..", "..", "tools", "ferretdb"))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(src, "go.mod")); err != nil {
		return "", fmt.Errorf("find tools/ferretdb: %w", err)
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	bin := filepath.Join(dir, "ferretdb")
	cmd := exec.Command(goBin, "build", "-tags", "ferretdb_no_postgresql", "-o", bin, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOWORK=off")
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build tools/ferretdb: %w\n%s", err, out)
	}
	if d := time.Since(start); d > 10*time.Second {
		fmt.Fprintf(os.Stderr, "internal/store/mongo: built tools/ferretdb in %s\n", d.Round(time.Second))
	}
	return bin, nil
}

// lockedBuffer is a bytes.Buffer safe for one writer and other readers.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf.Len() > 64<<10 {
		return len(p), nil // enough to say what went wrong
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var dbSeq atomic.Int64

// openTemp opens a store on a new database, with its indexes, and drops the
// database when the test ends.
func openTemp(t testing.TB) *Store {
	t.Helper()
	uri := serverURI(t)
	name := fmt.Sprintf("magpie_test_%d_%d", os.Getpid(), dbSeq.Add(1))
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
