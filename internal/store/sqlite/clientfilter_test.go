package sqlite

import (
	"fmt"
	"log/slog"
	"strconv"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

func TestClientFilterHasNoFalseNegatives(t *testing.T) {
	f := newClientFilter(slog.New(slog.DiscardHandler))
	if !f.mayHold("A", "ann", "x") {
		t.Fatal("a loading filter said a key is not there")
	}
	const n = 2*filterFirstKeys + 17 // two parts
	hs := make([]uint64, 0, n)
	for i := range n {
		hs = append(hs, f.hash("A", "u"+strconv.Itoa(i%100), strconv.Itoa(i)))
	}
	f.addHashes(hs)
	if !f.ready() || f.ready() {
		t.Fatal("ready: want true once, then false")
	}
	if len(f.parts) != 2 || f.parts[1].limit != 2*filterFirstKeys {
		t.Fatalf("%d parts, want 2 of doubling capacity", len(f.parts))
	}
	for i := range n {
		if !f.mayHold("A", "u"+strconv.Itoa(i%100), strconv.Itoa(i)) {
			t.Fatalf("key %d added and not held", i)
		}
	}
	var held int
	for i := range n {
		// Other apps', other senders' and other ids.
		if f.mayHold("B", "u"+strconv.Itoa(i%100), strconv.Itoa(i)) {
			held++
		}
		if f.mayHold("A", "v"+strconv.Itoa(i%100), strconv.Itoa(i)) {
			held++
		}
		if f.mayHold("A", "u"+strconv.Itoa(i%100), "n"+strconv.Itoa(i)) {
			held++
		}
	}
	if rate := float64(held) / (3 * n); rate > 0.01 {
		t.Fatalf("false positives: %.4f of keys never added, want under 1%%", rate)
	}
	t.Logf("false positives: %d of %d", held, 3*n)
	f.off("test")
	if !f.mayHold("B", "u0", "0") || f.ready() || f.parts != nil {
		t.Fatal("an off filter must hold every key, stay off and free its parts")
	}
	f.addHashes([]uint64{1})
	if f.parts != nil {
		t.Fatal("an off filter grew")
	}
}

func TestClientFilterStopsAtItsSizeLimit(t *testing.T) {
	f := newClientFilter(slog.New(slog.DiscardHandler))
	f.limit = 4 << 20
	f.ready()
	hs := make([]uint64, 1<<16)
	for i := range hs {
		hs[i] = uint64(i) * 0x9e3779b97f4a7c15
	}
	for f.size < f.limit/2 && !f.isOff() {
		f.addHashes(hs)
	}
	if f.isOff() {
		t.Fatalf("off at %d bytes, before half the limit", f.size)
	}
	for range 200 {
		if f.isOff() {
			break
		}
		f.addHashes(hs)
	}
	if !f.isOff() {
		t.Fatalf("still on at %d bytes, limit %d", f.size, f.limit)
	}
	if !f.mayHold("A", "b", "c") {
		t.Fatal("an off filter must hold every key")
	}
}

// loadedFilter waits for s's resend filter to finish its scan and fails
// the test unless it is ready.
func loadedFilter(t *testing.T, s *Store) *clientFilter {
	t.Helper()
	<-s.clients.loaded
	s.clients.mu.RLock()
	defer s.clients.mu.RUnlock()
	if s.clients.state != filterReady {
		t.Fatalf("resend filter state %d after its scan, want ready", s.clients.state)
	}
	return s.clients
}

// TestResendFilterKnowsTheMessages: a new key is not looked up in
// messages, a resent one is found there, from this Store's appends and,
// after a restart, from the scan of messages.
func TestResendFilterKnowsTheMessages(t *testing.T) {
	s := openLogged(t)
	f := loadedFilter(t, s)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	for i := range 10 {
		appendOne(t, a, "p:ann:bob", "ann", "bob", fmt.Sprint("c", i))
	}
	if err := s.absorb(); err != nil {
		t.Fatal(err)
	}
	skipped := f.skipped.Load()
	if skipped < 10 {
		t.Fatalf("%d new keys not looked up in messages, want 10", skipped)
	}
	if seq := appendOne(t, a, "p:ann:bob", "ann", "bob", "c3"); seq != 4 {
		t.Fatalf("resend of c3 after its absorb: seq %d, want 4", seq)
	}
	if n := f.skipped.Load(); n != skipped {
		t.Fatalf("the resend of c3 was not looked up in messages (%d skipped, was %d)", n, skipped)
	}
	if seq := appendOne(t, a, "p:ann:bob", "ann", "bob", "new"); seq != 11 {
		t.Fatalf("new message: seq %d, want 11", seq)
	}
	path := s.path
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(t.Context(), path, withAbsorbAge(3600e9))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f = loadedFilter(t, s)
	a = s.App("A")
	for i, id := range []string{"c0", "c9", "new"} {
		if seq := appendOne(t, a, "p:ann:bob", "ann", "bob", id); seq != []int64{1, 10, 11}[i] {
			t.Fatalf("resend of %s after a restart: seq %d", id, seq)
		}
	}
	if seq := appendOne(t, a, "p:ann:bob", "ann", "bob", "newer"); seq != 12 || f.skipped.Load() == 0 {
		t.Fatalf("new message after a restart: seq %d, %d keys skipped", seq, f.skipped.Load())
	}
	if f.isOff() {
		t.Fatal("the filter went off with no other Store on the files")
	}
}

// TestAnotherStoreTurnsTheResendFilterOff: a key another Store (process)
// appended is not in this Store's filter, and once absorbed and pruned not
// in its tail either; once this Store's writer saw that Store commit, its
// resend lookups ask messages for every key.
func TestAnotherStoreTurnsTheResendFilterOff(t *testing.T) {
	s := openLogged(t)
	f := loadedFilter(t, s)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	appendOne(t, a, "p:ann:bob", "ann", "bob", "x")

	other := openAgain(t, s, withAbsorbAge(3600e9), WithIndexInterval(3600e9))
	appendOne(t, other.App("A"), "p:ann:bob", "bob", "ann", "theirs") // seq 2
	if err := other.absorb(); err != nil {                            // absorbed, then pruned
		t.Fatal(err)
	}
	// This Store's writer sees the other's commits here (and redoes this
	// append's lookup in its transaction).
	if seq := appendOne(t, a, "p:ann:bob", "ann", "bob", "y"); seq != 3 {
		t.Fatalf("y: seq %d, want 3", seq)
	}
	if !f.isOff() {
		t.Fatal("the filter is on after another Store committed")
	}
	// Out of the log and the tail: in messages only.
	if err := s.absorb(); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.tail.client("A", "bob", "theirs"); ok {
		t.Fatal("the tail holds the other Store's message after the absorb")
	}
	// The other's key, resent here: looked up in messages, found.
	out, err := a.AppendMessages(t.Context(), []store.Draft{{ConvID: "p:ann:bob", Members: []string{"ann"},
		SenderID: "bob", ClientMsgID: "theirs", Type: "text", Body: []byte(`{"text":"x"}`)}})
	if err != nil || !out[0].Duplicate || out[0].Seq != 2 {
		t.Fatalf("resend of the other Store's message: %+v, %v; want the duplicate of seq 2", out, err)
	}
}

// TestResendFilterScansInPages restarts a Store whose messages hold keys
// of three senders, interleaved in the dedup index's order, with a scan of
// three keys per query: every key is in the filter after the scan, which
// resumes each query after the last key of the one before.
func TestResendFilterScansInPages(t *testing.T) {
	s := openLogged(t)
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob", "cy")
	senders := []string{"ann", "bob", "cy"}
	for i := range 10 {
		from := senders[i%3]
		appendOne(t, a, "p:"+from+":zed", from, "zed", fmt.Sprintf("k%02d", i))
	}
	path := s.path
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	defer func(n int) { filterScanRows = n }(filterScanRows)
	filterScanRows = 3
	s, err := Open(t.Context(), path, withAbsorbAge(3600e9))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	f := loadedFilter(t, s)
	for i := range 10 {
		if id := fmt.Sprintf("k%02d", i); !f.mayHold("A", senders[i%3], id) {
			t.Errorf("the filter does not hold %s's %s after the scan", senders[i%3], id)
		}
	}
	if n := f.parts[0].n; n != 10 {
		t.Errorf("the scan added %d keys, want 10", n)
	}
}
