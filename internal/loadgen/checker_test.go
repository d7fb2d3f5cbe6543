package loadgen

import (
	"slices"
	"testing"
)

func TestStreamAccounting(t *testing.T) {
	src := NewSource(300)
	st := &Stream{From: src}
	for range 10 {
		src.Sent()
	}
	for idx := range 8 {
		src.Acked(idx) // 8 and 9 not acknowledged
	}
	src.Refused(9) // message 9 was refused: not expected
	src.Refused(0) // too late: it was acknowledged
	want := []Verdict{InOrder, InOrder, Duplicate, InOrder, Reordered, InOrder, Duplicate}
	var reorders []Reorder
	for i, idx := range []int{0, 1, 1, 3, 2, 200, 200} {
		got, r := st.Deliver(idx, int64(idx+1))
		if got != want[i] {
			t.Errorf("delivery %d of message %d: %v, want %v", i, idx, got, want[i])
		}
		if got == Reordered {
			reorders = append(reorders, r)
		}
	}
	// Message 2 (seq 3) came after message 3 (seq 4): the server took them
	// in order and delivered them out of it.
	if !slices.Equal(reorders, []Reorder{{Idx: 2, Seq: 3, AfterIdx: 3, AfterSeq: 4}}) {
		t.Fatalf("reorders = %+v", reorders)
	}
	var tally Tally
	tally.Add(st)
	// Delivered: 0, 1, 2, 3, 200 (5 distinct). Expected 10-1 = 9: 4 missing,
	// 4, 5, 6, 7 acknowledged (lost) and 8 not (unconfirmed).
	if tally != (Tally{Sent: 10, Refused: 1, Delivered: 5, Lost: 4, Unconfirmed: 1, Duplicated: 2, Reordered: 1}) {
		t.Fatalf("tally = %+v", tally)
	}
	if st.Outstanding() != 4 {
		t.Fatalf("outstanding = %d", st.Outstanding())
	}
}

func TestStreamsShareASource(t *testing.T) {
	src := NewSource(2)
	a, b := &Stream{From: src}, &Stream{From: src}
	src.Sent()
	src.Sent()
	src.Acked(0)
	src.Acked(1)
	a.Deliver(0, 0)
	a.Deliver(1, 0)
	b.Deliver(1, 0)
	var tally Tally
	tally.Add(a)
	tally.Add(b)
	if tally.Sent != 4 || tally.Delivered != 3 || tally.Lost != 1 || tally.Reordered != 0 {
		t.Fatalf("tally = %+v", tally)
	}
}

func TestContentRoundTrip(t *testing.T) {
	due := timeAt(1234567890123)
	c := content(3, 17, 42, due, 100)
	if len(c) != 100 {
		t.Fatalf("content is %d bytes", len(c))
	}
	step, sender, idx, got, ok := parseContent(c)
	if !ok || step != 3 || sender != 17 || idx != 42 || !got.Equal(due) {
		t.Fatalf("parsed %d %d %d %v %v from %q", step, sender, idx, got, ok, c)
	}
	for _, bad := range []string{"", "hello", "mb1 2 3", "mbx 1 2 3 "} {
		if _, _, _, _, ok := parseContent(bad); ok {
			t.Errorf("parsed %q", bad)
		}
	}
}
