package presencetest

import (
	"bytes"
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/magpie-im/magpie/internal/presence"
)

var roomTests = []test{
	{"Members", testRoomMembers},
	{"DeadNodeLeavesRooms", testDeadNodeLeavesRooms},
	{"Sequence", testRoomSequence},
	{"History", testRoomHistory},
	{"Delete", testRoomDelete},
	{"Tenancy", testRoomTenancy},
	{"ConcurrentAppends", testRoomConcurrentAppends},
}

func setMembers(t *testing.T, p presence.Presence, app, room, node string, n int) {
	t.Helper()
	if err := p.SetRoomMembers(t.Context(), app, room, node, n); err != nil {
		t.Fatalf("SetRoomMembers(%s, %s, %s, %d): %v", app, room, node, n, err)
	}
}

func checkMembers(t *testing.T, p presence.Presence, app, room string, want map[string]int) {
	t.Helper()
	got, err := p.RoomMembers(t.Context(), app, room)
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("RoomMembers(%s, %s) = %v, %v, want %v", app, room, got, err, want)
	}
}

func appendMsg(t *testing.T, p presence.Presence, app, room, data string, keep int) int64 {
	t.Helper()
	seq, err := p.AppendRoomMessage(t.Context(), app, room, []byte(data), keep)
	if err != nil {
		t.Fatalf("AppendRoomMessage(%s, %s, %q): %v", app, room, data, err)
	}
	return seq
}

// showHistory formats a history as seq=data pairs.
func showHistory(h []presence.RoomMessage) string {
	var b bytes.Buffer
	for _, m := range h {
		fmt.Fprintf(&b, "%d=%q ", m.Seq, m.Data)
	}
	return b.String()
}

func checkHistory(t *testing.T, p presence.Presence, app, room string, n int, want string) {
	t.Helper()
	got, err := p.RoomHistory(t.Context(), app, room, n)
	if err != nil || showHistory(got) != want {
		t.Errorf("RoomHistory(%s, %s, %d) = %s, %v, want %s", app, room, n, showHistory(got), err, want)
	}
}

// testRoomMembers sets the member counts of two nodes, from two handles,
// and removes one.
func testRoomMembers(t *testing.T, e env) {
	up(t, e.p, long, "n1")
	up(t, e.q, long, "n2")
	checkMembers(t, e.p, "A", "r1", map[string]int{})
	setMembers(t, e.p, "A", "r1", "n1", 3)
	setMembers(t, e.q, "A", "r1", "n2", 2)
	setMembers(t, e.q, "A", "r2", "n2", 7)
	checkMembers(t, e.q, "A", "r1", map[string]int{"n1": 3, "n2": 2})
	setMembers(t, e.p, "A", "r1", "n1", 4)
	checkMembers(t, e.p, "A", "r1", map[string]int{"n1": 4, "n2": 2})
	setMembers(t, e.p, "A", "r1", "n1", 0)
	setMembers(t, e.p, "A", "r1", "n1", 0) // idempotent
	checkMembers(t, e.p, "A", "r1", map[string]int{"n2": 2})
	checkMembers(t, e.p, "A", "r2", map[string]int{"n2": 7})
	// A node that never refreshed cannot hold members, but may leave.
	wantErr(t, e.p.SetRoomMembers(t.Context(), "A", "r1", "n9", 1), presence.ErrNodeDown, "SetRoomMembers(n9)")
	setMembers(t, e.p, "A", "r1", "n9", 0)
	for _, bad := range [][3]string{{"", "r1", "n1"}, {"A:x", "r1", "n1"}, {"A", "", "n1"}, {"A", "r1", ""}} {
		wantErr(t, e.p.SetRoomMembers(t.Context(), bad[0], bad[1], bad[2], 1), presence.ErrInvalid, "SetRoomMembers(%q)", bad)
	}
	wantErr(t, e.p.SetRoomMembers(t.Context(), "A", "r1", "n1", -1), presence.ErrInvalid, "SetRoomMembers(-1)")
	_, err := e.p.RoomMembers(t.Context(), "A", "")
	wantErr(t, err, presence.ErrInvalid, "RoomMembers(empty room)")
}

// testDeadNodeLeavesRooms lets n1 expire: its members vanish from every
// room, a sweep deletes them, and a refresh after the lapse starts the node
// without them.
func testDeadNodeLeavesRooms(t *testing.T, e env) {
	up(t, e.p, e.o.TTL, "n1")
	up(t, e.q, long, "n2")
	setMembers(t, e.p, "A", "r1", "n1", 5)
	setMembers(t, e.p, "A", "r2", "n1", 1)
	setMembers(t, e.q, "A", "r1", "n2", 2)
	e.eventually(t, "n1's room members vanish", func() bool {
		got, err := e.q.RoomMembers(t.Context(), "A", "r1")
		if err != nil {
			t.Fatalf("RoomMembers: %v", err)
		}
		return len(got) == 1
	})
	checkMembers(t, e.q, "A", "r1", map[string]int{"n2": 2})
	checkMembers(t, e.q, "A", "r2", map[string]int{})
	wantErr(t, e.p.SetRoomMembers(t.Context(), "A", "r1", "n1", 6), presence.ErrNodeDown, "SetRoomMembers(expired n1)")
	if err := e.q.Sweep(t.Context()); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if alive, err := e.p.Refresh(t.Context(), "n1", long); err != nil || alive {
		t.Fatalf("Refresh(n1) after its lapse = %v, %v, want false", alive, err)
	}
	checkMembers(t, e.q, "A", "r1", map[string]int{"n2": 2})
	checkMembers(t, e.q, "A", "r2", map[string]int{})
	setMembers(t, e.p, "A", "r2", "n1", 1)
	checkMembers(t, e.q, "A", "r2", map[string]int{"n1": 1})
}

// testRoomSequence appends from two handles: one sequence, from 1.
func testRoomSequence(t *testing.T, e env) {
	for i, p := range []presence.Presence{e.p, e.q, e.p, e.q} {
		if seq := appendMsg(t, p, "A", "r1", fmt.Sprint(i), 10); seq != int64(i+1) {
			t.Errorf("AppendRoomMessage #%d = seq %d, want %d", i, seq, i+1)
		}
	}
	if seq := appendMsg(t, e.p, "A", "r2", "x", 10); seq != 1 {
		t.Errorf("AppendRoomMessage(r2) = seq %d, want 1 (rooms have their own sequences)", seq)
	}
	_, err := e.p.AppendRoomMessage(t.Context(), "A", "", []byte("x"), 1)
	wantErr(t, err, presence.ErrInvalid, "AppendRoomMessage(empty room)")
}

// testRoomHistory checks that the history keeps the last messages,
// binary-safe, and returns the last n oldest first.
func testRoomHistory(t *testing.T, e env) {
	checkHistory(t, e.p, "A", "r1", 10, "")
	appendMsg(t, e.p, "A", "r1", "a:b\x00c", 3)
	appendMsg(t, e.q, "A", "r1", "", 3)
	checkHistory(t, e.q, "A", "r1", 10, `1="a:b\x00c" 2="" `)
	appendMsg(t, e.p, "A", "r1", "3", 3)
	appendMsg(t, e.p, "A", "r1", "4", 3)
	checkHistory(t, e.p, "A", "r1", 10, `2="" 3="3" 4="4" `)
	checkHistory(t, e.p, "A", "r1", 2, `3="3" 4="4" `)
	checkHistory(t, e.p, "A", "r1", 0, "")
	// A smaller keep trims at the next append.
	appendMsg(t, e.q, "A", "r1", "5", 1)
	checkHistory(t, e.p, "A", "r1", 10, `5="5" `)
	_, err := e.p.RoomHistory(t.Context(), "", "r1", 1)
	wantErr(t, err, presence.ErrInvalid, "RoomHistory(empty app)")
}

// testRoomDelete deletes a room: members, history and seq are gone.
func testRoomDelete(t *testing.T, e env) {
	up(t, e.p, long, "n1")
	setMembers(t, e.p, "A", "r1", "n1", 2)
	setMembers(t, e.p, "A", "r2", "n1", 2)
	appendMsg(t, e.p, "A", "r1", "a", 5)
	appendMsg(t, e.p, "A", "r1", "b", 5)
	if err := e.q.DeleteRoom(t.Context(), "A", "r1"); err != nil {
		t.Fatalf("DeleteRoom: %v", err)
	}
	checkMembers(t, e.p, "A", "r1", map[string]int{})
	checkMembers(t, e.p, "A", "r2", map[string]int{"n1": 2})
	checkHistory(t, e.p, "A", "r1", 10, "")
	if seq := appendMsg(t, e.p, "A", "r1", "c", 5); seq != 1 {
		t.Errorf("AppendRoomMessage after DeleteRoom = seq %d, want 1", seq)
	}
	if err := e.q.DeleteRoom(t.Context(), "A", "nope"); err != nil {
		t.Errorf("DeleteRoom(nope) = %v, want nil", err)
	}
}

// testRoomTenancy checks that the same room id in two apps names two rooms.
func testRoomTenancy(t *testing.T, e env) {
	up(t, e.p, long, "n1")
	setMembers(t, e.p, "A", "r1", "n1", 2)
	appendMsg(t, e.p, "A", "r1", "a", 5)
	checkMembers(t, e.q, "B", "r1", map[string]int{})
	checkHistory(t, e.q, "B", "r1", 10, "")
	if seq := appendMsg(t, e.q, "B", "r1", "b", 5); seq != 1 {
		t.Errorf("B.AppendRoomMessage = seq %d, want 1", seq)
	}
	if err := e.q.DeleteRoom(t.Context(), "B", "r1"); err != nil {
		t.Fatalf("B.DeleteRoom: %v", err)
	}
	checkMembers(t, e.p, "A", "r1", map[string]int{"n1": 2})
	checkHistory(t, e.p, "A", "r1", 10, `1="a" `)
}

// testRoomConcurrentAppends appends from many goroutines on two handles:
// every seq from 1 to N is given exactly once.
func testRoomConcurrentAppends(t *testing.T, e env) {
	const n = 64
	seqs := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		p := e.p
		if i%2 == 1 {
			p = e.q
		}
		wg.Go(func() {
			s, err := p.AppendRoomMessage(t.Context(), "A", "r1", []byte("x"), n)
			if err != nil {
				t.Errorf("AppendRoomMessage: %v", err)
			}
			seqs[i] = s
		})
	}
	wg.Wait()
	seen := make(map[int64]bool)
	for _, s := range seqs {
		if s < 1 || s > n || seen[s] {
			t.Fatalf("seqs = %v, want each of 1..%d once", seqs, n)
		}
		seen[s] = true
	}
	h, err := e.p.RoomHistory(t.Context(), "A", "r1", n)
	if err != nil || len(h) != n || h[0].Seq != 1 || h[n-1].Seq != n {
		t.Errorf("RoomHistory = %d messages, %v, want seqs 1..%d in order", len(h), err, n)
	}
}
