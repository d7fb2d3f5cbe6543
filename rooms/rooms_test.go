package rooms_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/magpie-im/magpie/internal/presence"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
	"github.com/magpie-im/magpie/rooms"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// router records what the service delivers. While gate is set, DeliverRoom
// reports each call on entered and waits for gate to close.
type router struct {
	mu      sync.Mutex
	got     []rooms.Message
	remote  [][]string
	leaves  []string
	gate    chan struct{}
	entered chan struct{}
}

func (r *router) DeliverRoom(appID, roomID string, msgs []rooms.Message, remote []string) {
	r.mu.Lock()
	gate, entered := r.gate, r.entered
	r.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, msgs...)
	r.remote = append(r.remote, remote)
}

func (r *router) LeaveRoom(appID, roomID, userID string, why rooms.LeaveReason, remote []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.leaves = append(r.leaves, fmt.Sprintf("%s/%s/%s/%d/%v", appID, roomID, userID, why, remote))
}

func (r *router) contents() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.got {
		out = append(out, m.Content)
	}
	return out
}

// clock is a fake clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type env struct {
	svc   *rooms.Service
	st    store.Store
	state *presence.Memory
	r     *router
	clk   *clock
}

func newEnv(t *testing.T, cfg rooms.Config) env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, app := range []string{"A", "B"} {
		for _, u := range []string{"owner", "bob", "carol"} {
			if err := st.App(app).CreateUser(ctx, store.User{ID: u, CreatedAt: time.UnixMilli(1)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	clk := &clock{now: time.UnixMilli(1_700_000_000_000)}
	state := presence.NewMemory(clk.Now)
	if _, err := state.Refresh(ctx, "local", time.Hour); err != nil {
		t.Fatal(err)
	}
	r := &router{}
	cfg.Now = clk.Now
	svc := rooms.New(st, state, r, cfg)
	t.Cleanup(svc.Wait)
	return env{svc: svc, st: st, state: state, r: r, clk: clk}
}

func wantCode(t *testing.T, err error, code, call string) {
	t.Helper()
	var e *rooms.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Errorf("%s = %v, want code %s", call, err, code)
	}
}

func (e env) create(t *testing.T, app string, in rooms.Input) store.Room {
	t.Helper()
	r, err := e.svc.Create(t.Context(), app, in)
	if err != nil {
		t.Fatalf("Create(%s, %+v): %v", app, in, err)
	}
	return r
}

func (e env) send(t *testing.T, req rooms.SendRequest) rooms.Ack {
	t.Helper()
	a, err := e.svc.Send(t.Context(), req)
	if err != nil {
		t.Fatalf("Send(%+v): %v", req, err)
	}
	return a
}

func msg(room, sender, id, content string) rooms.SendRequest {
	return rooms.SendRequest{AppID: "A", RoomID: room, SenderID: sender, ClientMsgID: id, Content: content}
}

func TestCreateValidates(t *testing.T) {
	e := newEnv(t, rooms.Config{})
	for _, tc := range []struct {
		in   rooms.Input
		code string
	}{
		{rooms.Input{ID: "bad id"}, rooms.CodeInvalidArgument},
		{rooms.Input{ID: "r", HistorySize: rooms.MaxHistorySize + 1}, rooms.CodeInvalidArgument},
		{rooms.Input{ID: "r", HistorySize: -1}, rooms.CodeInvalidArgument},
		{rooms.Input{ID: "r", RateLimit: -1}, rooms.CodeInvalidArgument},
		{rooms.Input{ID: "r", MaxMembers: -1}, rooms.CodeInvalidArgument},
		{rooms.Input{ID: "r", OwnerID: "nobody"}, "user_not_found"},
		{rooms.Input{ID: "r", OwnerID: "bad/id"}, rooms.CodeInvalidArgument},
	} {
		_, err := e.svc.Create(t.Context(), "A", tc.in)
		wantCode(t, err, tc.code, fmt.Sprintf("Create(%+v)", tc.in))
	}
	r := e.create(t, "A", rooms.Input{OwnerID: "owner"})
	if r.ID == "" {
		t.Error("Create without id picked none")
	}
	_, err := e.svc.Create(t.Context(), "A", rooms.Input{ID: r.ID})
	wantCode(t, err, rooms.CodeRoomExists, "Create(same id)")
}

func TestSendSequencesAndKeepsHistory(t *testing.T) {
	e := newEnv(t, rooms.Config{})
	r := e.create(t, "A", rooms.Input{ID: "live", OwnerID: "owner", HistorySize: 3})
	for i := range 5 {
		if a := e.send(t, msg("live", "bob", fmt.Sprint("c", i), fmt.Sprint("m", i))); a.Seq != int64(i+1) {
			t.Errorf("send %d: seq %d", i, a.Seq)
		}
	}
	e.svc.Wait()
	if got := e.r.contents(); !slices.Equal(got, []string{"m0", "m1", "m2", "m3", "m4"}) {
		t.Errorf("delivered %q", got)
	}
	h, err := e.svc.History(t.Context(), "A", r, 0)
	if err != nil || len(h) != 3 || h[0].Seq != 3 || h[2].Content != "m4" || h[2].SenderID != "bob" || h[2].RoomID != "live" {
		t.Errorf("History = %+v, %v, want seqs 3-5", h, err)
	}
	if h, _ := e.svc.History(t.Context(), "A", r, 1); len(h) != 1 || h[0].Seq != 5 {
		t.Errorf("History(1) = %+v", h)
	}
	// A resend is acknowledged again and not delivered twice.
	a := e.send(t, msg("live", "bob", "c4", "m4 again"))
	if !a.Duplicate || a.Seq != 5 {
		t.Errorf("resend = %+v, want duplicate of seq 5", a)
	}
	// Another sender's same client id is its own message.
	if a := e.send(t, msg("live", "carol", "c4", "carol")); a.Duplicate || a.Seq != 6 {
		t.Errorf("carol's c4 = %+v", a)
	}
	// After the window the id is forgotten.
	e.clk.Advance(6 * time.Minute)
	if a := e.send(t, msg("live", "bob", "c4", "late")); a.Duplicate || a.Seq != 7 {
		t.Errorf("resend after the window = %+v", a)
	}
}

func TestSendRefusals(t *testing.T) {
	e := newEnv(t, rooms.Config{})
	e.create(t, "A", rooms.Input{ID: "live", OwnerID: "owner"})
	if _, err := e.svc.SetMuted(t.Context(), "A", "live", "carol", true); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		req  rooms.SendRequest
		code string
	}{
		{msg("nope", "bob", "c1", "x"), rooms.CodeRoomNotFound},
		{msg("bad room", "bob", "c1", "x"), rooms.CodeInvalidArgument},
		{msg("live", "", "c1", "x"), rooms.CodeInvalidArgument},
		{msg("live", "bob", "", "x"), rooms.CodeInvalidArgument},
		{msg("live", "bob", "c1", ""), "invalid_message"},
		{rooms.SendRequest{AppID: "A", RoomID: "live", SenderID: "bob", ClientMsgID: "c1", Type: "nope", Content: "x"}, "invalid_message"},
		{rooms.SendRequest{AppID: "A", RoomID: "live", SenderID: "bob", ClientMsgID: "c1", Content: "xxxx", MaxBytes: 3}, "message_too_large"},
		{msg("live", "carol", "c1", "x"), rooms.CodeMemberMuted},
		// Another app's room id.
		{rooms.SendRequest{AppID: "B", RoomID: "live", SenderID: "bob", ClientMsgID: "c1", Content: "x"}, rooms.CodeRoomNotFound},
	} {
		_, err := e.svc.Send(t.Context(), tc.req)
		wantCode(t, err, tc.code, fmt.Sprintf("Send(%+v)", tc.req))
	}
	// The backend is not refused for a mute.
	if _, err := e.svc.Send(t.Context(), rooms.SendRequest{AppID: "A", RoomID: "live", SenderID: "carol", ClientMsgID: "c2",
		Content: "x", Backend: true}); err != nil {
		t.Errorf("backend send as a muted user: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t, rooms.Config{})
	e.create(t, "A", rooms.Input{ID: "live", OwnerID: "owner", RateLimit: 1}) // burst 2
	e.send(t, msg("live", "bob", "c1", "1"))
	e.send(t, msg("live", "bob", "c2", "2"))
	_, err := e.svc.Send(t.Context(), msg("live", "carol", "c3", "3"))
	wantCode(t, err, rooms.CodeRateLimited, "third send within a second")
	// The owner and the backend are not limited.
	e.send(t, msg("live", "owner", "c4", "4"))
	e.send(t, rooms.SendRequest{AppID: "A", RoomID: "live", ClientMsgID: "c5", Content: "5", Backend: true})
	e.clk.Advance(time.Second)
	e.send(t, msg("live", "carol", "c3", "3"))
}

// TestOwnerPriorityWhenShedding blocks the fan-out with one message in
// flight and a queue bound of 1: an ordinary member's message is refused,
// the owner's is accepted and drops the ordinary one queued.
func TestOwnerPriorityWhenShedding(t *testing.T) {
	e := newEnv(t, rooms.Config{QueueBound: 1})
	e.create(t, "A", rooms.Input{ID: "live", OwnerID: "owner"})
	gate, entered := make(chan struct{}), make(chan struct{}, 16)
	var opened sync.Once
	open := func() { opened.Do(func() { close(gate) }) }
	// Registered after newEnv's svc.Wait, so run before it: a test that
	// failed with the worker held must not wait for it forever.
	t.Cleanup(open)
	e.r.mu.Lock()
	e.r.gate, e.r.entered = gate, entered
	e.r.mu.Unlock()
	e.send(t, msg("live", "bob", "c1", "in flight"))
	select { // the worker holds "in flight"; the queue is empty
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the room's worker never delivered")
	}
	e.send(t, msg("live", "bob", "c2", "queued"))
	_, err := e.svc.Send(t.Context(), msg("live", "carol", "c3", "shed"))
	wantCode(t, err, rooms.CodeRateLimited, "send over the queue bound")
	e.send(t, msg("live", "owner", "c4", "owner"))
	e.send(t, rooms.SendRequest{AppID: "A", RoomID: "live", ClientMsgID: "c5", Content: "system", Backend: true})
	e.r.mu.Lock()
	e.r.gate = nil
	e.r.mu.Unlock()
	open()
	e.svc.Wait()
	want := []string{"in flight", "owner", "system"}
	if got := e.r.contents(); !slices.Equal(got, want) {
		t.Errorf("delivered %q, want %q", got, want)
	}
	e.r.mu.Lock()
	defer e.r.mu.Unlock()
	if !e.r.got[1].Priority || e.r.got[0].Priority {
		t.Errorf("priority flags = %v, %v", e.r.got[0].Priority, e.r.got[1].Priority)
	}
}

func TestMembersDestroyAndKick(t *testing.T) {
	e := newEnv(t, rooms.Config{})
	ctx := t.Context()
	e.create(t, "A", rooms.Input{ID: "live", MaxMembers: 3})
	if _, err := e.state.Refresh(ctx, "other", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.SetNodeMembers(ctx, "A", "live", 2); err != nil {
		t.Fatal(err)
	}
	if err := e.state.SetRoomMembers(ctx, "A", "live", "other", 1); err != nil {
		t.Fatal(err)
	}
	_, n, err := e.svc.Get(ctx, "A", "live")
	if err != nil || n != 3 {
		t.Errorf("Get = %d members, %v, want 3", n, err)
	}
	_, _, err = e.svc.Join(ctx, "A", "live", "cat")
	wantCode(t, err, rooms.CodeRoomFull, "Join(full room)")
	_, _, err = e.svc.Join(ctx, "B", "live", "cat")
	wantCode(t, err, rooms.CodeRoomNotFound, "Join(another app's room)")
	if err := e.svc.Kick(ctx, "A", "live", "bob"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, e.svc.Kick(ctx, "B", "live", "bob"), rooms.CodeRoomNotFound, "Kick(another app's room)")
	wantCode(t, e.svc.Destroy(ctx, "B", "live"), rooms.CodeRoomNotFound, "Destroy(another app's room)")
	e.send(t, msg("live", "bob", "c1", "x"))
	if err := e.svc.Destroy(ctx, "A", "live"); err != nil {
		t.Fatal(err)
	}
	e.r.mu.Lock()
	leaves := slices.Clone(e.r.leaves)
	e.r.mu.Unlock()
	want := []string{"A/live/bob/2/[other]", "A/live//1/[other]"}
	if !slices.Equal(leaves, want) {
		t.Errorf("leaves = %q, want %q", leaves, want)
	}
	if _, _, err := e.svc.Get(ctx, "A", "live"); err == nil {
		t.Error("Get after Destroy succeeded")
	}
	if n, err := e.svc.MemberCount(ctx, "A", "live"); err != nil || n != 0 {
		t.Errorf("MemberCount after Destroy = %d, %v", n, err)
	}
	// A room created again with the id starts afresh.
	e.create(t, "A", rooms.Input{ID: "live"})
	if a := e.send(t, msg("live", "bob", "c1", "again")); a.Seq != 1 || a.Duplicate {
		t.Errorf("send after re-creation = %+v", a)
	}
}

func TestListAndMute(t *testing.T) {
	e := newEnv(t, rooms.Config{})
	for _, id := range []string{"c", "a", "b"} {
		e.create(t, "A", rooms.Input{ID: id})
	}
	rs, next, err := e.svc.List(t.Context(), "A", "", 2)
	if err != nil || len(rs) != 2 || rs[0].ID != "a" || next != "b" {
		t.Errorf("List = %+v, %q, %v", rs, next, err)
	}
	rs, next, err = e.svc.List(t.Context(), "A", next, 2)
	if err != nil || len(rs) != 1 || rs[0].ID != "c" || next != "" {
		t.Errorf("List page 2 = %+v, %q, %v", rs, next, err)
	}
	if rs, _, _ := e.svc.List(t.Context(), "B", "", 10); len(rs) != 0 {
		t.Errorf("B's List = %+v", rs)
	}
	_, _, err = e.svc.List(t.Context(), "A", "", 201)
	wantCode(t, err, rooms.CodeInvalidArgument, "List(201)")
	r, err := e.svc.SetMuted(t.Context(), "A", "a", "bob", true)
	if err != nil || !slices.Equal(r.Muted, []string{"bob"}) {
		t.Errorf("SetMuted = %+v, %v", r, err)
	}
	_, err = e.svc.SetMuted(t.Context(), "B", "a", "bob", true)
	wantCode(t, err, rooms.CodeRoomNotFound, "SetMuted(another app's room)")
	_, err = e.svc.SetMuted(t.Context(), "A", "a", "bad/user", true)
	wantCode(t, err, rooms.CodeInvalidArgument, "SetMuted(bad user)")
}
