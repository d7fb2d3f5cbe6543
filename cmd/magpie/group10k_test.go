package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/internal/loadgen"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/sdk/go/token"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Sizes of TestGroupOf10000Members.
const (
	bigGroupMembers = 10000
	bigGroupOnline  = 9000 // members 0..8999 online; the owner is member 0
)

// TestGroupOf10000Members runs a group of 10,000 members through a real
// `magpie dev` process over real WebSockets: 9,000 members online, one
// connection each from this process (the server is another process, each
// within the machine's 20,000 open files). The owner sends one message: the
// store holds it once, every other online member's device gets it exactly
// once (nothing more of the group before a Ping's Pong), and the 1,000
// offline members, connecting afterwards, pull it by seq with
// SyncMessages. It runs in `make test` and CI (alone, with the chaos
// tests: scripts/test.sh).
func TestGroupOf10000Members(t *testing.T) {
	start := time.Now()
	if err := loadgen.EnsureFiles(bigGroupMembers+256, 20000); err != nil {
		t.Fatal(err)
	}
	bin := magpieBinary(t)
	t.Logf("binary built in %v", time.Since(start).Round(time.Millisecond))
	phase := time.Now()
	dir := t.TempDir()
	lines, cmd := startBinary(t, bin, dir, loadGenerator...)
	base := lines["api_url"]
	setBigGroupLimits(t, base, lines)
	api, err := serverapi.New(base, lines["app_key"], lines["app_secret"])
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, bigGroupMembers)
	for i := range ids {
		ids[i] = fmt.Sprintf("m%05d", i)
	}
	batches := make([][]string, 0, len(ids)/100)
	for i := 0; i < len(ids); i += 100 {
		batches = append(batches, ids[i:min(i+100, len(ids))])
	}
	var importErr atomic.Value
	parallel(len(batches), 4, func(i int) {
		users := make([]serverapi.UserInput, 0, len(batches[i]))
		for _, id := range batches[i] {
			users = append(users, serverapi.UserInput{ID: id})
		}
		if _, err := api.ImportUsers(context.Background(), users); err != nil {
			importErr.Store(err)
		}
	})
	if err, _ := importErr.Load().(error); err != nil {
		t.Fatalf("import users: %v", err)
	}
	t.Logf("server started and %d users imported in %v", len(ids), time.Since(phase).Round(time.Millisecond))
	phase = time.Now()

	// The owner creates the group and adds everyone before the others
	// connect: the setup's notices are stored, not pushed to them.
	url := "ws" + strings.TrimPrefix(base, "http") + "/v1/connect"
	mint := func(user string) string {
		tok, _, err := token.Mint(lines["app_key"], lines["app_secret"], user, time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	owner := dialMember(t, url, mint(ids[0]))
	const group = "big"
	var setupSeq int64
	for i := 0; i < len(ids); i += 500 {
		f := &magpiev1.Frame{Body: &magpiev1.Frame_AddGroupMembers{AddGroupMembers: &magpiev1.AddGroupMembers{
			GroupId: group, UserIds: ids[max(i, 1):min(i+500, len(ids))]}}}
		if i == 0 {
			f = &magpiev1.Frame{Body: &magpiev1.Frame_CreateGroup{CreateGroup: &magpiev1.CreateGroup{
				Id: group, MemberIds: ids[1:500]}}}
		}
		if r := owner.call(t, f); r.GetError() != nil {
			t.Fatalf("group setup: %v", r.GetError())
		}
		setupSeq++ // one notice per call
	}

	// 9,000 members online (the owner's connection is one of them).
	conns := make([]*member, bigGroupOnline)
	conns[0] = owner
	dialAll(t, url, ids[1:bigGroupOnline], conns[1:], mint)
	t.Logf("group made and %d members online in %v", bigGroupOnline, time.Since(phase).Round(time.Millisecond))

	// One message. Its SendAck names its seq.
	ack := owner.call(t, &magpiev1.Frame{Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{
		ClientMsgId: "the-one", ToGroupId: group, Type: "text", Content: "hello, ten thousand"}}})
	seq := ack.GetSendAck().GetSeq()
	if seq != setupSeq+1 {
		t.Fatalf("SendAck = %v, want seq %d", ack, setupSeq+1)
	}
	sent := time.Now()

	// Every other online member's device gets it once: its Deliver, then
	// nothing more of the group before the Pong of a Ping sent after it.
	var failures atomic.Int64
	forEach(conns[1:], func(m *member) {
		if err := m.expectOnce(seq); err != nil {
			if failures.Add(1) <= 10 {
				t.Errorf("%s: %v", m.user, err)
			}
		}
	})
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d online members did not get the message exactly once", n, bigGroupOnline-1)
	}
	t.Logf("delivered once to %d online members within %v of the SendAck", bigGroupOnline-1, time.Since(sent).Round(time.Millisecond))

	// The offline members connect and pull it by seq.
	offline := make([]*member, bigGroupMembers-bigGroupOnline)
	dialAll(t, url, ids[bigGroupOnline:], offline, mint)
	forEach(offline, func(m *member) {
		if err := m.pull(seq); err != nil {
			if failures.Add(1) <= 10 {
				t.Errorf("%s: %v", m.user, err)
			}
		}
	})
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d offline members did not pull the message", n, len(offline))
	}
	forEach(append(conns, offline...), func(m *member) { m.ws.CloseNow() })

	// The store holds the message once, at its seq.
	terminate(t, cmd)
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "magpie.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	app, err := appIDOf(t, st, lines["app_key"])
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := st.App(app).ListMessages(context.Background(), "g:"+group, store.Range{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var found []int64
	for _, m := range msgs {
		if m.ClientMsgID == "the-one" {
			found = append(found, m.Seq)
		}
	}
	if len(found) != 1 || found[0] != seq || int64(len(msgs)) != seq {
		t.Fatalf("stored messages with the client id = seqs %v of %d messages, want one at seq %d", found, len(msgs), seq)
	}
	t.Logf("total %v", time.Since(start).Round(time.Millisecond))
}

// appIDOf returns the id of the app with this key.
func appIDOf(t *testing.T, st store.Store, key string) (string, error) {
	t.Helper()
	app, err := st.GetAppByKey(context.Background(), key)
	return app.ID, err
}

// setBigGroupLimits lets the demo app have groups of 10,000 members and
// log them all in at once.
func setBigGroupLimits(t *testing.T, base string, lines map[string]string) {
	t.Helper()
	do := func(method, path string, body []byte, out any) {
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(body))
		req.SetBasicAuth(lines["operator_email"], lines["operator_password"])
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: HTTP %d", method, path, res.StatusCode)
		}
		if out != nil {
			if err := json.NewDecoder(res.Body).Decode(out); err != nil {
				t.Fatal(err)
			}
		}
	}
	var tenants struct{ Tenants []struct{ ID string } }
	do("GET", "/manage/v1/tenants", nil, &tenants)
	var apps struct {
		Apps []struct {
			ID string `json:"id"`
		}
	}
	do("GET", "/manage/v1/tenants/"+tenants.Tenants[0].ID+"/apps", nil, &apps)
	do("PATCH", "/manage/v1/apps/"+apps.Apps[0].ID, []byte(`{"limits":{"conn_rate":100000,"max_group_size":10000,`+
		`"api_rate":10000,"api_burst":10000}}`), nil)
}

// member is one member's raw connection.
type member struct {
	user string
	ws   *websocket.Conn
	next uint64
}

// dialMember connects and logs in with tok.
func dialMember(t *testing.T, url, tok string) *member {
	t.Helper()
	m, err := dial(url, tok)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func dial(url, tok string) (*member, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{wire.SubprotocolProto}})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	ws.SetReadLimit(1 << 20)
	m := &member{ws: ws, next: 1}
	r, err := m.roundTrip(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_Login{Login: &magpiev1.Login{
		Token: tok, DeviceId: "d", Platform: "server", SdkVersion: "test/0"}}})
	if err != nil {
		ws.CloseNow()
		return nil, err
	}
	if r.GetLoginResult() == nil {
		ws.CloseNow()
		return nil, fmt.Errorf("login: %v", r)
	}
	m.user = r.GetLoginResult().GetUserId()
	return m, nil
}

// dialAll connects users[i] as out[i], a few at a time.
func dialAll(t *testing.T, url string, users []string, out []*member, mint func(string) string) {
	t.Helper()
	var failed atomic.Int64
	parallel(len(users), 32, func(i int) {
		m, err := dial(url, mint(users[i]))
		if err != nil {
			if failed.Add(1) <= 5 {
				t.Errorf("%s: %v", users[i], err)
			}
			return
		}
		out[i] = m
	})
	if failed.Load() > 0 {
		t.Fatalf("%d of %d members could not connect", failed.Load(), len(users))
	}
}

// forEach runs fn for every member, a few at a time.
func forEach(ms []*member, fn func(*member)) {
	parallel(len(ms), 32, func(i int) { fn(ms[i]) })
}

// parallel runs fn(0) to fn(n-1) on workers goroutines.
func parallel(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// call sends a request and returns its reply, failing the test on a
// broken connection.
func (m *member) call(t *testing.T, f *magpiev1.Frame) *magpiev1.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := m.roundTrip(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// roundTrip sends f with the next request id and reads until its reply;
// pushes read meanwhile are passed to push (nil: ignored).
func (m *member) roundTrip(ctx context.Context, f *magpiev1.Frame) (*magpiev1.Frame, error) {
	return m.roundTripSeeing(ctx, f, nil)
}

func (m *member) roundTripSeeing(ctx context.Context, f *magpiev1.Frame, push func(*magpiev1.Frame) error) (*magpiev1.Frame, error) {
	f.Id = m.next
	m.next++
	data, err := wire.ProtoCodec{}.Marshal(f)
	if err != nil {
		return nil, err
	}
	if err := m.ws.Write(ctx, websocket.MessageBinary, data); err != nil {
		return nil, fmt.Errorf("write %s: %w", wire.BodyName(f), err)
	}
	for {
		r, err := m.read(ctx)
		if err != nil {
			return nil, fmt.Errorf("waiting for the reply to %s: %w", wire.BodyName(f), err)
		}
		if r.GetId() == f.Id {
			return r, nil
		}
		if r.GetId() == 0 && push != nil {
			if err := push(r); err != nil {
				return nil, err
			}
		}
	}
}

func (m *member) read(ctx context.Context) (*magpiev1.Frame, error) {
	_, data, err := m.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	return wire.Decode(wire.ProtoCodec{}, data, len(data))
}

// expectOnce reads the Deliver of the group message at seq, then pings:
// anything else of the group pushed before the Pong is an error.
func (m *member) expectOnce(seq int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := 0
	see := func(f *magpiev1.Frame) error {
		for _, msg := range f.GetDeliver().GetMessages() {
			if msg.GetConvId() != "g:big" {
				continue
			}
			if msg.GetSeq() != seq || msg.GetClientMsgId() != "the-one" {
				return fmt.Errorf("unexpected delivery of seq %d (%s)", msg.GetSeq(), msg.GetClientMsgId())
			}
			got++
		}
		return nil
	}
	for got == 0 {
		f, err := m.read(ctx)
		if err != nil {
			return fmt.Errorf("waiting for the message: %w", err)
		}
		if err := see(f); err != nil {
			return err
		}
	}
	if _, err := m.roundTripSeeing(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}}, see); err != nil {
		return err
	}
	if got != 1 {
		return fmt.Errorf("got the message %d times", got)
	}
	return nil
}

// pull fetches the group's messages from seq and checks that the one
// message is there, once.
func (m *member) pull(seq int64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := m.roundTrip(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_SyncMessages{SyncMessages: &magpiev1.SyncMessages{
		ConvId: "g:big", FromSeq: seq}}})
	if err != nil {
		return err
	}
	ms := r.GetMessagePage().GetMessages()
	if len(ms) != 1 || ms[0].GetSeq() != seq || ms[0].GetClientMsgId() != "the-one" {
		return fmt.Errorf("SyncMessages from %d = %v", seq, r)
	}
	return nil
}
