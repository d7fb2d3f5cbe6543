package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
)

var concurrencyTests = []test{
	{"Append", testConcurrentAppend},
	{"Ack", testConcurrentAck},
}

// testConcurrentAppend has several goroutines append to one new
// conversation at once, in batches of 1 to 3: the seqs handed out must be
// exactly 1..total, each once, increasing within each goroutine.
func testConcurrentAppend(t *testing.T, s store.Store) {
	const workers, perWorker = 8, 24
	a, ctx := s.App("A"), t.Context()
	got := make([][]int64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			sender := fmt.Sprintf("u%d", w)
			for i := 0; i < perWorker; {
				var drafts []store.Draft
				for n := w%3 + 1; n > 0 && i < perWorker; n-- {
					d := draft("c1", sender, fmt.Sprintf("%s-%d", sender, i), int64(i))
					d.Members = []string{"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7"}
					drafts = append(drafts, d)
					i++
				}
				res, err := a.AppendMessages(ctx, drafts)
				if err != nil {
					t.Errorf("worker %d: AppendMessages: %v", w, err)
					return
				}
				for _, r := range res {
					if r.Duplicate {
						t.Errorf("worker %d: %s reported as duplicate", w, r.ClientMsgID)
					}
					got[w] = append(got[w], r.Seq)
				}
			}
		})
	}
	wg.Wait()

	var all []int64
	for w, seqs := range got {
		if !slices.IsSorted(seqs) {
			t.Errorf("worker %d got seqs out of order: %v", w, seqs)
		}
		all = append(all, seqs...)
	}
	slices.Sort(all)
	const total = workers * perWorker
	want := make([]int64, total)
	for i := range want {
		want[i] = int64(i + 1)
	}
	if !slices.Equal(all, want) {
		t.Errorf("seqs handed out = %v, want 1..%d each once", all, total)
	}
	checkMaxSeq(t, a, "c1", total)
	msgs, err := a.ListMessages(ctx, "c1", store.Range{Limit: total + 1})
	if err != nil || !slices.Equal(seqsOfMessages(msgs), want) {
		t.Errorf("ListMessages(c1) seqs = %v, %v, want 1..%d", seqsOfMessages(msgs), err, total)
	}
}

// testConcurrentAck has several devices of one user acknowledge a
// conversation at once, one seq at a time: the user's cursor must end at the
// top, every result must be consistent (UserPrev <= UserSeq, and a device
// never above its user), and each message must be reported as newly
// delivered to the user exactly once: the (UserPrev, UserSeq] ranges tile
// 1..seqs.
func testConcurrentAck(t *testing.T, s store.Store) {
	const devices, seqs = 4, 20
	a, ctx := s.App("A"), t.Context()
	fill(t, a, "c1", seqs)
	var newly atomic.Int64 // sum of UserSeq - UserPrev
	var wg sync.WaitGroup
	for d := range devices {
		wg.Go(func() {
			device := fmt.Sprintf("d%d", d)
			for seq := int64(1); seq <= seqs; seq++ {
				res, err := a.AckDelivered(ctx, []store.DeliveryAck{ack(device, "c1", seq)})
				if err != nil {
					t.Errorf("%s: AckDelivered(%d): %v", device, seq, err)
					return
				}
				r := res[0]
				if r.DeviceSeq != seq || r.UserPrev > r.UserSeq || r.UserSeq < r.DeviceSeq {
					t.Errorf("%s: AckDelivered(%d) = %+v, inconsistent", device, seq, r)
				}
				newly.Add(r.UserSeq - r.UserPrev)
			}
		})
	}
	wg.Wait()
	for d := range devices {
		device := fmt.Sprintf("d%d", d)
		checkCursors(t, a, "bob", device, map[string]int64{"c1": seqs})
	}
	checkDelivered(t, a, "bob", "c1", seqs)
	if got := newly.Load(); got != seqs {
		t.Errorf("messages newly delivered across all acks = %d, want %d", got, seqs)
	}
}

// twoHandleTests run on two handles of one store, as two processes (two
// gateways) would hold them.
var twoHandleTests = []struct {
	name string
	run  func(t *testing.T, s1, s2 store.Store)
}{
	{"AppendSameConversations", testTwoHandlesAppend},
	{"UpdateAppNoLostUpdate", testTwoHandlesUpdateApp},
	{"WebhookLimit", testTwoHandlesWebhookLimit},
	{"SupportCapacity", testTwoHandlesSupportCapacity},
	{"GroupLimit", testTwoHandlesGroupLimit},
	{"Friendship", testTwoHandlesFriendship},
	{"ReadOthersMessages", testTwoHandlesReadOthersMessages},
}

// testTwoHandlesReadOthersMessages: a message one handle acknowledged is
// in the other's next read of the conversation and its next lookup of
// client ids, and in its own, however recently the reading handle read or
// wrote.
func testTwoHandlesReadOthersMessages(t *testing.T, s1, s2 store.Store) {
	ctx := t.Context()
	a1, a2 := s1.App("A"), s2.App("A")
	for i, step := range []struct {
		a    store.AppStore
		name string
	}{{a1, "m1"}, {a2, "m2"}, {a1, "m3"}, {a2, "m4"}, {a2, "m5"}} {
		res, err := step.a.AppendMessages(ctx, []store.Draft{draft("c1", "ann", step.name, int64(i))})
		must(t, err, "AppendMessages(%s)", step.name)
		if res[0].Err != nil || res[0].Seq != int64(i+1) {
			t.Fatalf("AppendMessages(%s) = %+v, want seq %d", step.name, res[0], i+1)
		}
		for h, a := range []store.AppStore{a1, a2} {
			stored, err := a.ClientMsgIDsStored(ctx, []store.ClientMsgKey{{SenderID: "ann", ClientMsgID: step.name}})
			must(t, err, "ClientMsgIDsStored on handle %d", h+1)
			if !stored[0] {
				t.Errorf("after %s, handle %d does not find its client id", step.name, h+1)
			}
			msgs, err := a.ListMessages(ctx, "c1", store.Range{From: 1, Limit: 10})
			must(t, err, "ListMessages on handle %d", h+1)
			if len(msgs) != i+1 || msgs[i].ClientMsgID != step.name {
				t.Fatalf("after %s, handle %d lists %d messages (%v), want %d ending with it", step.name, h+1, len(msgs), msgs, i+1)
			}
		}
	}
}

// testTwoHandlesUpdateApp has writers on two handles each add one to an
// app's limit many times, by read-modify-write retried on ErrConflict: the
// conditional update must lose none of them.
func testTwoHandlesUpdateApp(t *testing.T, s1, s2 store.Store) {
	const writersPerHandle, perWriter = 3, 8
	ctx := t.Context()
	must(t, s1.CreateApp(ctx, newApp("a1", "t1", "pk_1")), "CreateApp")
	var wg sync.WaitGroup
	for _, s := range []store.Store{s1, s2} {
		for range writersPerHandle {
			wg.Go(func() {
				for range perWriter {
					for attempt := 0; ; attempt++ {
						if attempt == 1000 {
							t.Error("UpdateApp still conflicting after 1000 attempts")
							return
						}
						a, err := s.GetApp(ctx, "a1")
						if err != nil {
							t.Errorf("GetApp: %v", err)
							return
						}
						a.Limits.MaxGroupSize++
						err = s.UpdateApp(ctx, a)
						if err == nil {
							break
						}
						if !errors.Is(err, store.ErrConflict) {
							t.Errorf("UpdateApp: %v", err)
							return
						}
					}
				}
			})
		}
	}
	wg.Wait()
	a, err := s2.GetApp(ctx, "a1")
	const total = 2 * writersPerHandle * perWriter
	if err != nil || a.Limits.MaxGroupSize != total || a.Version != total+1 {
		t.Errorf("GetApp after %d increments = limit %d version %d, %v; want %d and %d", total, a.Limits.MaxGroupSize, a.Version, err, total, total+1)
	}
}

// testTwoHandlesAppend has writers on two handles append to the same
// conversations at once: every conversation must end with seqs 1..n, each
// held by exactly one message, the one whose result reported it, and each
// writer's seqs must increase in the order it appended.
func testTwoHandlesAppend(t *testing.T, s1, s2 store.Store) {
	const writersPerHandle, perWriter = 4, 30
	convs := []string{"c1", "c2", "c3"}
	ctx := t.Context()
	var mu sync.Mutex
	bySeq := map[string]map[int64]string{} // conv -> seq -> client id
	var wg sync.WaitGroup
	for h, s := range []store.Store{s1, s2} {
		a := s.App("A")
		for w := range writersPerHandle {
			wg.Go(func() {
				sender := fmt.Sprintf("h%dw%d", h, w)
				last := map[string]int64{}
				for i := 0; i < perWriter; i += 2 {
					var drafts []store.Draft
					for j := range 2 { // two drafts per call, to rotating conversations
						conv := convs[(i+j+w)%len(convs)]
						d := draft(conv, sender, fmt.Sprintf("%s-%d", sender, i+j), int64(i+j))
						d.Members = []string{sender}
						drafts = append(drafts, d)
					}
					res, err := a.AppendMessages(ctx, drafts)
					if err != nil {
						t.Errorf("%s: AppendMessages: %v", sender, err)
						return
					}
					for k, r := range res {
						if r.Err != nil || r.Duplicate || r.ClientMsgID != drafts[k].ClientMsgID || r.ConvID != drafts[k].ConvID {
							t.Errorf("%s: result %+v for draft %s", sender, r, drafts[k].ClientMsgID)
							continue
						}
						if r.Seq <= last[r.ConvID] {
							t.Errorf("%s: seq %d in %s after %d", sender, r.Seq, r.ConvID, last[r.ConvID])
						}
						last[r.ConvID] = r.Seq
						mu.Lock()
						if bySeq[r.ConvID] == nil {
							bySeq[r.ConvID] = map[int64]string{}
						}
						if prev, ok := bySeq[r.ConvID][r.Seq]; ok {
							t.Errorf("seq %d of %s handed to both %s and %s", r.Seq, r.ConvID, prev, r.ClientMsgID)
						}
						bySeq[r.ConvID][r.Seq] = r.ClientMsgID
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()
	total := 0
	for _, conv := range convs {
		n := int64(len(bySeq[conv]))
		total += int(n)
		for _, s := range []store.Store{s1, s2} {
			msgs, err := s.App("A").ListMessages(ctx, conv, store.Range{From: 1, Limit: int(n) + 10})
			if err != nil {
				t.Fatalf("ListMessages(%s): %v", conv, err)
			}
			if int64(len(msgs)) != n {
				t.Errorf("ListMessages(%s) = %d messages, want %d", conv, len(msgs), n)
			}
			for i, m := range msgs {
				if m.Seq != int64(i+1) || bySeq[conv][m.Seq] != m.ClientMsgID {
					t.Errorf("%s message %d = seq %d %q, want seq %d %q", conv, i, m.Seq, m.ClientMsgID, i+1, bySeq[conv][int64(i+1)])
				}
			}
			checkMaxSeq(t, s.App("A"), conv, n)
		}
	}
	if want := 2 * writersPerHandle * perWriter; total != want {
		t.Errorf("messages stored = %d, want %d", total, want)
	}
}
