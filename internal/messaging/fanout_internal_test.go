package messaging

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// recordingRouter counts, per user, the deliveries it was handed, and
// reports each as taken by one device.
type recordingRouter struct {
	got    map[string]int
	except map[string]string
	bulk   map[string]bool // the last delivery's mark, per conversation
	out    []int
}

func (r *recordingRouter) Deliver(ds []Delivery) []int {
	for _, d := range ds {
		r.got[d.UserID]++
		r.except[d.UserID] = d.Except
		if r.bulk != nil {
			r.bulk[d.Msg.ConvID] = d.Bulk
		}
	}
	for len(r.out) < len(ds) {
		r.out = append(r.out, 1)
	}
	return r.out[:len(ds)]
}

func (r *recordingRouter) PushReceipt(string, string, string, Receipt) int { return 0 }

// TestFanOutKeepsItsBuffers: a message to a large group is a delivery per
// member, and the fan-out stage builds them in buffers it keeps from one
// batch to the next, so that a batch allocates next to nothing per
// delivery (it allocated about 120 bytes each, for 250,000 deliveries/s
// two fifths of what the server allocated), and the buffers keep no
// message alive once the batch is delivered.
func TestFanOutKeepsItsBuffers(t *testing.T) {
	members := make([]string, 2000)
	for i := range members {
		members[i] = fmt.Sprintf("u%d", i)
	}
	r := &recordingRouter{got: map[string]int{}, except: map[string]string{}}
	s := &Service{router: r, cfg: Config{GroupPushLimit: 500}} // above the limit: nobody is watched or pushed
	b := fanBatch{
		items: []appendItem{{appID: "app", session: "sess", group: members}, {appID: "app", session: "sess", group: members}},
		outs: []store.Appended{
			{Message: store.Message{ConvID: "g:1", Seq: 1, SenderID: "u0"}},
			{Message: store.Message{ConvID: "g:1", Seq: 2, SenderID: "u0"}},
		},
	}
	s.fanOut(b) // the buffers grow once
	const rounds = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range rounds {
		s.fanOut(b)
	}
	runtime.ReadMemStats(&after)
	deliveries := (rounds + 1) * len(b.items) * len(members)
	perDelivery := float64(after.TotalAlloc-before.TotalAlloc) / float64(rounds*len(b.items)*len(members))
	if perDelivery > 4 {
		t.Errorf("fan-out allocated %.1f bytes a delivery, want at most 4 (buffers not kept?)", perDelivery)
	}
	for _, m := range members {
		if r.got[m] != deliveries/len(members) {
			t.Fatalf("%s got %d deliveries, want %d", m, r.got[m], deliveries/len(members))
		}
	}
	if r.except["u0"] != "sess" || r.except["u1"] != "" {
		t.Errorf("except: sender %q, other %q; want the sending session for the sender only", r.except["u0"], r.except["u1"])
	}
	if cap(s.fanDs) < len(b.items)*len(members) {
		t.Fatalf("buffer not kept: cap %d", cap(s.fanDs))
	}
	for i, d := range s.fanDs[:cap(s.fanDs)] {
		if d.Msg != nil {
			t.Fatalf("buffer entry %d still points at a message", i)
		}
	}

	// A batch past maxFanBuffer deliveries is delivered, and its buffer
	// dropped rather than kept.
	big := make([]string, maxFanBuffer+1)
	for i := range big {
		big[i] = fmt.Sprintf("b%d", i)
	}
	s.fanOut(fanBatch{items: []appendItem{{appID: "app", group: big}}, outs: []store.Appended{{Message: store.Message{ConvID: "g:2", Seq: 1, SenderID: "b0"}}}})
	if r.got[big[len(big)-1]] != 1 {
		t.Fatalf("last member of the large batch got %d deliveries, want 1", r.got[big[len(big)-1]])
	}
	if cap(s.fanDs) > maxFanBuffer {
		t.Errorf("kept a buffer of %d deliveries, want at most %d", cap(s.fanDs), maxFanBuffer)
	}
}

// TestFanOutMarksLargeGroupsBulk: deliveries of a message to a group of
// more than GroupPushLimit members are marked Bulk (the gateway may hold
// them back a little to write them together); a smaller group's and a
// one-to-one message's are not, nor any with a negative limit.
func TestFanOutMarksLargeGroupsBulk(t *testing.T) {
	group := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("u%d", i)
		}
		return out
	}
	for _, tc := range []struct {
		limit int
		want  map[string]bool
	}{
		{limit: 3, want: map[string]bool{"g:small": false, "g:large": true, "p:u0:u1": false}},
		{limit: -1, want: map[string]bool{"g:small": false, "g:large": false, "p:u0:u1": false}},
	} {
		r := &recordingRouter{got: map[string]int{}, except: map[string]string{}, bulk: map[string]bool{}}
		s := &Service{router: r, cfg: Config{GroupPushLimit: tc.limit}}
		s.watch = newDeliveryWatch(s, time.Hour, 100)
		s.fanOut(fanBatch{
			items: []appendItem{
				{appID: "app", group: group(3)},
				{appID: "app", group: group(4)},
				{appID: "app", draft: store.Draft{Members: []string{"u0", "u1"}}},
			},
			outs: []store.Appended{
				{Message: store.Message{ConvID: "g:small", Seq: 1, SenderID: "u0"}},
				{Message: store.Message{ConvID: "g:large", Seq: 1, SenderID: "u0"}},
				{Message: store.Message{ConvID: "p:u0:u1", Seq: 1, SenderID: "u0"}},
			},
		})
		for conv, want := range tc.want {
			if got, ok := r.bulk[conv]; !ok || got != want {
				t.Errorf("limit %d: %s delivered with Bulk %v (delivered: %v), want %v", tc.limit, conv, got, ok, want)
			}
		}
	}
}
