package embedded_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/embedded"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/signing"
)

func start(t *testing.T, dir string) *embedded.Server {
	t.Helper()
	s, err := embedded.Start(t.Context(), embedded.Config{Addr: "127.0.0.1:0", DataDir: dir, PasswordCost: 4})
	if err != nil {
		t.Fatalf("embedded.Start = %v", err)
	}
	return s
}

func stop(t *testing.T, s *embedded.Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
}

// signed is a request signed once, to be sent (and replayed) byte for byte.
type signed struct {
	method, path string
	body         []byte
	header       http.Header
}

func sign(t *testing.T, key, secret, method, path, body string) signed {
	t.Helper()
	r, err := http.NewRequest(method, "http://placeholder"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := signing.SignRequest(r, key, secret, []byte(body), time.Now(), signing.NewNonce()); err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/json")
	return signed{method: method, path: path, body: []byte(body), header: r.Header}
}

func (s signed) send(t *testing.T, base string) (int, map[string]any) {
	t.Helper()
	r, err := http.NewRequest(s.method, base+s.path, bytes.NewReader(s.body))
	if err != nil {
		t.Fatal(err)
	}
	r.Header = s.header.Clone()
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return res.StatusCode, out
}

// TestNonceSurvivesRestart replays a signed send captured before a graceful
// restart: the restarted server refuses it and stores nothing twice.
func TestNonceSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	key, secret := s.Bootstrap.AppKey, s.Bootstrap.AppSecret
	for _, id := range []string{"alice", "bob"} {
		if code, out := sign(t, key, secret, "POST", "/v1/users", `{"id":"`+id+`"}`).send(t, s.URL); code != http.StatusCreated {
			t.Fatalf("create %s: %d %v", id, code, out)
		}
	}
	send := sign(t, key, secret, "POST", "/v1/messages",
		`{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"hi"}`) // no client id: only the nonce stops a second copy
	if code, out := send.send(t, s.URL); code != http.StatusCreated {
		t.Fatalf("send: %d %v", code, out)
	}
	stop(t, s)

	s = start(t, dir)
	defer stop(t, s)
	code, out := send.send(t, s.URL)
	if errBody, _ := out["error"].(map[string]any); code != http.StatusUnauthorized || errBody["code"] != "nonce_replayed" {
		t.Fatalf("replay after restart: %d %v, want 401 nonce_replayed", code, out)
	}
	list := sign(t, key, secret, "GET", "/v1/conversations/p:alice:bob/messages", "")
	code, out = list.send(t, s.URL)
	if msgs, _ := out["messages"].([]any); code != http.StatusOK || len(msgs) != 1 {
		t.Fatalf("history after the replay: %d %v, want one message", code, out)
	}
}

// TestOfflineMessageReachesTheOutbox: a message for a user with no online
// device becomes an offline job on the embedded bus, which the in-process
// worker records in the app's push outbox, once, even across a restart
// that interrupted it.
func TestOfflineMessageReachesTheOutbox(t *testing.T) {
	dir := t.TempDir()
	s := start(t, dir)
	key, secret := s.Bootstrap.AppKey, s.Bootstrap.AppSecret
	for _, id := range []string{"alice", "bob"} {
		if code, out := sign(t, key, secret, "POST", "/v1/users", `{"id":"`+id+`"}`).send(t, s.URL); code != http.StatusCreated {
			t.Fatalf("create %s: %d %v", id, code, out)
		}
	}
	for _, text := range []string{"first", "second"} {
		send := sign(t, key, secret, "POST", "/v1/messages",
			`{"from_user_id":"alice","to_user_id":"bob","type":"text","content":"`+text+`"}`)
		if code, out := send.send(t, s.URL); code != http.StatusCreated {
			t.Fatalf("send: %d %v", code, out)
		}
	}
	stop(t, s) // whatever was not yet recorded waits in the bus

	s = start(t, dir)
	defer stop(t, s)
	app := s.Store().App(s.Bootstrap.AppID)
	var got []store.OutboxEntry
	for deadline := time.Now().Add(10 * time.Second); len(got) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var err error
		if got, err = app.ListOutbox(t.Context(), "bob", "", 10); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 {
		t.Fatalf("outbox for bob = %+v, want the two messages", got)
	}
	previews := map[string]bool{got[0].Preview: true, got[1].Preview: true}
	if !previews["first"] || !previews["second"] || got[0].SenderID != "alice" {
		t.Fatalf("outbox for bob = %+v", got)
	}
}

// TestDatabaseFilesArePrivate: the database, its write-ahead log and its
// shared-memory file are 0600 even in a data directory that exists with a
// wider mode, and files an older version left readable are tightened.
func TestDatabaseFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s := start(t, dir)
	check := func() {
		t.Helper()
		for _, name := range []string{"magpie.db", "magpie.db-wal", "magpie.db-shm",
			"magpie-messages.db", "magpie-messages.db-wal", "magpie-messages.db-shm", "master.key"} {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("%s mode = %v, want 0600", name, perm)
			}
		}
	}
	check()
	stop(t, s)
	for _, name := range []string{"magpie.db", "magpie-messages.db"} {
		if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = start(t, dir)
	defer stop(t, s)
	check()
}
