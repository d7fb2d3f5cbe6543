package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

// dm is the member list of the suite's one-to-one conversations.
var dm = []string{"alice", "bob"}

// draft returns a text draft sent at at(sec), whose body names its client id.
func draft(conv, sender, clientID string, sec int64) store.Draft {
	return store.Draft{
		ConvID: conv, Members: dm, SenderID: sender, ClientMsgID: clientID,
		Type: "text", Body: []byte("body of " + clientID), CreatedAt: at(sec),
	}
}

// stored returns the message a draft becomes at seq.
func stored(d store.Draft, seq int64) store.Message {
	return store.Message{
		ConvID: d.ConvID, Seq: seq, SenderID: d.SenderID, ClientMsgID: d.ClientMsgID,
		Type: d.Type, Body: d.Body, Push: d.Push, CreatedAt: d.CreatedAt,
	}
}

// appendAll appends drafts in one call and fails the test on error.
func appendAll(t *testing.T, a store.AppStore, drafts ...store.Draft) []store.Appended {
	t.Helper()
	res, err := a.AppendMessages(t.Context(), drafts)
	if err != nil {
		t.Fatalf("AppendMessages(%d drafts): %v", len(drafts), err)
	}
	if len(res) != len(drafts) {
		t.Fatalf("AppendMessages(%d drafts) returned %d results", len(drafts), len(res))
	}
	return res
}

// fill appends n messages from alice to conv, one call each, at at(1)..at(n).
func fill(t *testing.T, a store.AppStore, conv string, n int) []store.Message {
	t.Helper()
	var out []store.Message
	for i := 1; i <= n; i++ {
		r := appendAll(t, a, draft(conv, "alice", fmt.Sprintf("%s-%d", conv, i), int64(i)))
		out = append(out, r[0].Message)
	}
	return out
}

func seqsOf(rs []store.Appended) []int64 {
	out := make([]int64, len(rs))
	for i, r := range rs {
		out[i] = r.Seq
	}
	return out
}

// checkAppended compares results with the wanted messages and duplicate flags.
func checkAppended(t *testing.T, got []store.Appended, want []store.Message, dup []bool) {
	t.Helper()
	for i := range want {
		if !same(got[i].Message, want[i], normMessage) || got[i].Duplicate != dup[i] {
			t.Errorf("AppendMessages result %d = %+v (duplicate %v), want %+v (duplicate %v)",
				i, got[i].Message, got[i].Duplicate, want[i], dup[i])
		}
	}
}

// checkMaxSeq checks a conversation's MaxSeq and its number of messages.
func checkMaxSeq(t *testing.T, a store.AppStore, conv string, want int64) {
	t.Helper()
	c, err := a.GetConversation(t.Context(), conv)
	if err != nil || c.MaxSeq != want {
		t.Errorf("GetConversation(%q).MaxSeq = %d, %v, want %d", conv, c.MaxSeq, err, want)
	}
	ms, err := a.ListMessages(t.Context(), conv, store.Range{Limit: 1000})
	if err != nil || len(ms) != int(want) {
		t.Errorf("ListMessages(%q) returned %d messages, %v, want %d", conv, len(ms), err, want)
	}
}

var messageTests = []test{
	{"Seqs", testAppendSeqs},
	{"GetByClientID", testGetMessageByClientID},
	{"IndependentConversations", func(t *testing.T, s store.Store) {
		a := s.App("A")
		res := appendAll(t, a,
			draft("c1", "alice", "m1", 1), draft("c2", "alice", "m2", 2), draft("c1", "bob", "m3", 3),
			draft("c2", "bob", "m4", 4), draft("c3", "alice", "m5", 5))
		if got, want := seqsOf(res), []int64{1, 1, 2, 2, 1}; !slices.Equal(got, want) {
			t.Errorf("AppendMessages seqs = %v, want %v", got, want)
		}
	}},
	{"DuplicateInBatch", func(t *testing.T, s store.Store) {
		a := s.App("A")
		d1, d2 := draft("c1", "alice", "m1", 1), draft("c1", "alice", "m2", 3)
		again := d1
		again.Body, again.CreatedAt = []byte("other body"), at(2)
		res := appendAll(t, a, d1, again, d2)
		checkAppended(t, res, []store.Message{stored(d1, 1), stored(d1, 1), stored(d2, 2)},
			[]bool{false, true, false})
		checkMaxSeq(t, a, "c1", 2)
	}},
	{"DuplicateAcrossBatches", func(t *testing.T, s store.Store) {
		a := s.App("A")
		d1, d2, d3 := draft("c1", "alice", "m1", 1), draft("c1", "bob", "m2", 2), draft("c1", "alice", "m3", 4)
		appendAll(t, a, d1, d2)
		again := d1
		again.Body, again.CreatedAt = []byte("retry"), at(3)
		res := appendAll(t, a, again, d3)
		checkAppended(t, res, []store.Message{stored(d1, 1), stored(d3, 3)}, []bool{true, false})
		checkMaxSeq(t, a, "c1", 3)
		// Alone in its batch too.
		res = appendAll(t, a, d2)
		checkAppended(t, res, []store.Message{stored(d2, 2)}, []bool{true})
		checkMaxSeq(t, a, "c1", 3)
	}},
	{"DuplicateOtherConversation", func(t *testing.T, s store.Store) {
		// The key is (sender, client id) in the app, whatever the conversation.
		a, ctx := s.App("A"), t.Context()
		d1 := draft("c1", "alice", "m1", 1)
		appendAll(t, a, d1)
		res := appendAll(t, a, draft("c2", "alice", "m1", 2))
		checkAppended(t, res, []store.Message{stored(d1, 1)}, []bool{true})
		_, err := a.GetConversation(ctx, "c2")
		wantErr(t, err, store.ErrNotFound, "GetConversation(%q) after duplicate", "c2")
	}},
	{"SameClientIDOtherSender", func(t *testing.T, s store.Store) {
		a := s.App("A")
		d1, d2, d3 := draft("c1", "alice", "m1", 1), draft("c1", "bob", "m1", 2), draft("c1", "carol", "m1", 3)
		res := appendAll(t, a, d1, d2)
		res = append(res, appendAll(t, a, d3)...)
		checkAppended(t, res, []store.Message{stored(d1, 1), stored(d2, 2), stored(d3, 3)},
			[]bool{false, false, false})
		checkMaxSeq(t, a, "c1", 3)
	}},
	{"NoClientID", func(t *testing.T, s store.Store) {
		// System messages carry no sender and no client id; they never
		// deduplicate.
		a := s.App("A")
		d := draft("c1", "", "", 1)
		res := appendAll(t, a, d, d)
		res = append(res, appendAll(t, a, d)...)
		checkAppended(t, res, []store.Message{stored(d, 1), stored(d, 2), stored(d, 3)},
			[]bool{false, false, false})
	}},
	{"Get", func(t *testing.T, s store.Store) {
		a, ctx := s.App("A"), t.Context()
		msgs := fill(t, a, "c1", 3)
		for _, want := range msgs {
			got, err := a.GetMessage(ctx, "c1", want.Seq)
			if err != nil || !same(got, want, normMessage) {
				t.Errorf("GetMessage(c1, %d) = %+v, %v, want %+v", want.Seq, got, err, want)
			}
		}
		for _, q := range []struct {
			conv string
			seq  int64
		}{{"c1", 0}, {"c1", 4}, {"c9", 1}} {
			_, err := a.GetMessage(ctx, q.conv, q.seq)
			wantErr(t, err, store.ErrNotFound, "GetMessage(%q, %d)", q.conv, q.seq)
		}
	}},
	{"List", testListMessages},
	{"Recall", testRecall},
}

func testAppendSeqs(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	d := []store.Draft{
		draft("c1", "alice", "m1", 1), draft("c1", "bob", "m2", 2),
		draft("c1", "alice", "m3", 3), draft("c1", "bob", "m4", 4),
	}
	d[1].Type, d[1].Body = "image", []byte{0, 1, 2, 255}
	res := appendAll(t, a, d[:3]...)
	res = append(res, appendAll(t, a, d[3])...)
	want := []store.Message{stored(d[0], 1), stored(d[1], 2), stored(d[2], 3), stored(d[3], 4)}
	checkAppended(t, res, want, make([]bool, 4))
	got, err := a.ListMessages(ctx, "c1", store.Range{Limit: 10})
	if err != nil || !sameAll(got, want, normMessage) {
		t.Errorf("ListMessages(c1) = %+v, %v, want %+v", got, err, want)
	}
	res, err = a.AppendMessages(ctx, nil)
	if err != nil || len(res) != 0 {
		t.Errorf("AppendMessages(nil) = %v, %v, want no results", res, err)
	}
}

func testListMessages(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	msgs := fill(t, a, "c1", 10)
	tests := []struct {
		r    store.Range
		want []int64
	}{
		{store.Range{Limit: 100}, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{store.Range{Limit: 4}, []int64{1, 2, 3, 4}},
		{store.Range{From: 3, To: 6, Limit: 100}, []int64{3, 4, 5, 6}},
		{store.Range{From: 3, To: 6, Limit: 2}, []int64{3, 4}},
		{store.Range{From: 8, Limit: 5}, []int64{8, 9, 10}},
		{store.Range{To: 2, Limit: 5}, []int64{1, 2}},
		{store.Range{From: 5, To: 5, Limit: 5}, []int64{5}},
		{store.Range{From: 11, Limit: 5}, nil},
		{store.Range{From: 7, To: 3, Limit: 5}, nil},
		{store.Range{Desc: true, Limit: 3}, []int64{10, 9, 8}},
		{store.Range{Desc: true, From: 3, To: 6, Limit: 2}, []int64{6, 5}},
		{store.Range{Desc: true, To: 4, Limit: 10}, []int64{4, 3, 2, 1}},
		{store.Range{Desc: true, From: 9, Limit: 10}, []int64{10, 9}},
	}
	for _, tc := range tests {
		got, err := a.ListMessages(ctx, "c1", tc.r)
		var want []store.Message
		for _, seq := range tc.want {
			want = append(want, msgs[seq-1])
		}
		if err != nil || !sameAll(got, want, normMessage) {
			t.Errorf("ListMessages(c1, %+v) = %v, %v, want %v", tc.r, seqsOfMessages(got), err, tc.want)
		}
	}
	got, err := a.ListMessages(ctx, "c9", store.Range{Limit: 10})
	if err != nil || len(got) != 0 {
		t.Errorf("ListMessages(c9) = %v, %v, want none", seqsOfMessages(got), err)
	}
}

func seqsOfMessages(ms []store.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

func testRecall(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	msgs := fill(t, a, "c1", 3)
	want := msgs[1]
	want.Body, want.RecalledAt = nil, at(50)
	for _, when := range []int64{50, 60} { // the second recall changes nothing
		got, err := a.RecallMessage(ctx, "c1", 2, at(when))
		if err != nil || !same(got, want, normMessage) {
			t.Errorf("RecallMessage(c1, 2, at(%d)) = %+v, %v, want %+v", when, got, err, want)
		}
	}
	got, err := a.GetMessage(ctx, "c1", 2)
	if err != nil || !same(got, want, normMessage) {
		t.Errorf("GetMessage(c1, 2) after recall = %+v, %v, want %+v", got, err, want)
	}
	for _, m := range []store.Message{msgs[0], msgs[2]} {
		got, err := a.GetMessage(ctx, "c1", m.Seq)
		if err != nil || !same(got, m, normMessage) {
			t.Errorf("GetMessage(c1, %d) after recalling 2 = %+v, %v, want %+v", m.Seq, got, err, m)
		}
	}
	_, err = a.RecallMessage(ctx, "c1", 9, at(70))
	wantErr(t, err, store.ErrNotFound, "RecallMessage(c1, 9)")
	_, err = a.RecallMessage(ctx, "c9", 1, at(70))
	wantErr(t, err, store.ErrNotFound, "RecallMessage(c9, 1)")
}

// testGetMessageByClientID: the message a resend would be deduplicated
// against is found by sender and client id, in any conversation, in its
// app only; a deleted sender's client ids are forgotten.
func testGetMessageByClientID(t *testing.T, s store.Store) {
	a, ctx := s.App("A"), t.Context()
	must(t, a.CreateUser(ctx, newUser("alice")), "CreateUser")
	res := appendAll(t, a, draft("p:alice:bob", "alice", "c1", 1), draft("p:alice:carol", "alice", "c2", 2),
		store.Draft{ConvID: "p:alice:bob", Members: dm, SenderID: "bob", ClientMsgID: "c1", Type: "text", Body: []byte("bob's"), CreatedAt: at(3)})
	for i, c := range []struct{ sender, id string }{{"alice", "c1"}, {"alice", "c2"}, {"bob", "c1"}} {
		m, err := a.GetMessageByClientID(ctx, c.sender, c.id)
		if err != nil || !same(m, res[i].Message, normMessage) {
			t.Errorf("GetMessageByClientID(%s, %s) = %+v, %v, want %+v", c.sender, c.id, m, err, res[i].Message)
		}
	}
	for _, c := range []struct{ sender, id string }{{"alice", "nope"}, {"carol", "c1"}, {"alice", ""}} {
		_, err := a.GetMessageByClientID(ctx, c.sender, c.id)
		wantErr(t, err, store.ErrNotFound, "GetMessageByClientID(%s, %q)", c.sender, c.id)
	}
	_, err := s.App("B").GetMessageByClientID(ctx, "alice", "c1")
	wantErr(t, err, store.ErrNotFound, "B.GetMessageByClientID(alice, c1)")
	must(t, a.DeleteUser(ctx, "alice", store.UserDeletion{At: at(4)}), "DeleteUser")
	_, err = a.GetMessageByClientID(ctx, "alice", "c1")
	wantErr(t, err, store.ErrNotFound, "GetMessageByClientID of a deleted sender")
}
