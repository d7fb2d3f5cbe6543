// Package mongotest gives tests a MongoDB-compatible server: the one named
// by MAGPIE_TEST_MONGO_URL (a mongodb:// URI), or else FerretDB on SQLite,
// built from tools/ferretdb (a module of its own, so that the product never
// links FerretDB) once per test binary and started on a free loopback
// port. With CI=true a test fails rather than skips when no server can be
// had. Only tests import this package.
package mongotest

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
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// server is the MongoDB-compatible server of this test binary.
var server struct {
	once sync.Once
	uri  string
	skip string // why the tests skip, if they must
	stop func()
}

// Main runs a test binary's tests, stops the server it started and runs
// the cleanups: call it from TestMain.
func Main(m *testing.M, cleanups ...func()) {
	code := m.Run()
	if server.stop != nil {
		server.stop()
	}
	for _, c := range cleanups {
		c()
	}
	os.Exit(code)
}

// URI returns the URI of the test server, starting it on first use, or
// skips (fails with CI=true) the test if there is none.
func URI(t testing.TB) string {
	t.Helper()
	server.once.Do(func() {
		if uri := os.Getenv("MAGPIE_TEST_MONGO_URL"); uri != "" {
			server.uri = uri
			return
		}
		uri, stop, err := startFerretDB()
		if err != nil {
			server.skip = fmt.Sprintf("no MongoDB for the tests (set MAGPIE_TEST_MONGO_URL, or let Go build tools/ferretdb): %v", err)
			fmt.Fprintln(os.Stderr, "mongotest:", server.skip)
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
			_ = os.RemoveAll(dir)
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
		_ = os.RemoveAll(dir)
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
	_, here, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the source tree")
	}
	src := filepath.Join(filepath.Dir(here), "..", "..", "..", "..", "tools", "ferretdb")
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
		fmt.Fprintf(os.Stderr, "mongotest: built tools/ferretdb in %s\n", d.Round(time.Second))
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

// DBName returns a database name no other test of any test binary uses.
func DBName() string { return fmt.Sprintf("magpie_test_%d_%d", os.Getpid(), dbSeq.Add(1)) }

// DropOnCleanup drops database db of the server at uri when the test ends.
func DropOnCleanup(t testing.TB, uri, db string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := mongodrv.Connect(options.Client().ApplyURI(uri))
		if err != nil {
			t.Errorf("drop database %s: %v", db, err)
			return
		}
		defer func() { _ = c.Disconnect(ctx) }()
		if err := c.Database(db).Drop(ctx); err != nil {
			t.Errorf("drop database %s: %v", db, err)
		}
	})
}
