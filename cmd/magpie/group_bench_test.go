package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// BenchmarkGroupFanOut measures group fan-out through the real binary over
// WebSockets: a group of members raw protocol clients, all online, a few of
// them sending (each keeping up to window sends in flight), every member
// reading every message and acknowledging what it holds every 64 messages.
// Each message is stored once and delivered to every member's device but
// the sending one. It checks that every member got every message exactly
// once, in seq order, and reports deliveries per second and the p50 and
// p99 latency from send to delivery. The load generator (1,000 reading
// clients) shares the machine's cores with the server.
//
// "rate=max" sends as fast as the server commits (the senders' windows
// full): the throughput, with latencies that only say how long the queue
// grew. "rate=N" paces the senders at N messages per second in all, an
// open loop below the throughput: the latency a member sees at that load.
//
//	go test -run '^$' -bench GroupFanOut -benchtime 3000x ./cmd/magpie/
func BenchmarkGroupFanOut(b *testing.B) {
	bin := magpieBinary(b)
	lines, _ := startBinary(b, bin, b.TempDir(), append(loadGenerator, "--pprof")...)
	if p := os.Getenv("MAGPIE_BENCH_CPUPROFILE"); p != "" {
		// A CPU profile of the server, for the whole benchmark.
		go fetchProfile(b, lines["admin_url"]+"/debug/pprof/profile?seconds=20", p)
	}
	for _, rate := range []int{0, 250} {
		name := "rate=max"
		if rate > 0 {
			name = fmt.Sprintf("rate=%d", rate)
		}
		b.Run("members=1000/"+name, func(b *testing.B) { groupFanOut(b, lines, 1000, 4, 32, rate) })
	}
}

// fetchProfile saves the server's CPU profile at url to path.
func fetchProfile(b *testing.B, url, path string) {
	res, err := http.Get(url)
	if err != nil {
		b.Logf("cpu profile: %v", err)
		return
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		b.Logf("cpu profile: %v", err)
	}
}

// fanMember is one member's connection and what it received.
type fanMember struct {
	id   string
	ws   *websocket.Conn
	lats []time.Duration // send to delivery, one per message it received
	next int64           // the first seq of the benchmark's messages
	// credits is a sender's send window: a SendAck returns one.
	credits chan struct{}
	// ackRefused counts its delivery acks the server refused as overloaded.
	ackRefused int
}

func groupFanOut(b *testing.B, lines map[string]string, members, senders, window, rate int) {
	base := lines["api_url"]
	api, err := serverapi.New(base, lines["app_key"], lines["app_secret"])
	if err != nil {
		b.Fatal(err)
	}
	raiseLimits(b, base, lines)
	prefix := fmt.Sprintf("g%d-", time.Now().UnixNano())
	ms := make([]*fanMember, members)
	var users []serverapi.UserInput
	for i := range ms {
		ms[i] = &fanMember{id: fmt.Sprintf("%su%04d", prefix, i), next: 1}
		users = append(users, serverapi.UserInput{ID: ms[i].id})
	}
	for i := 0; i < len(users); i += 100 {
		if _, err := api.ImportUsers(context.Background(), users[i:min(i+100, len(users))]); err != nil {
			b.Fatal(err)
		}
	}
	ws := "ws" + strings.TrimPrefix(base, "http") + "/v1/connect"
	for _, m := range ms {
		tok, err := api.MintToken(m.id, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		m.ws = loginRaw(b, ws, tok.Token, "d")
		m.ws.SetReadLimit(1 << 22)
	}
	defer func() {
		for _, m := range ms {
			m.ws.CloseNow()
		}
	}()
	group := prefix + "grp"
	createBenchGroup(b, ms, group)

	// Messages are spread over the senders; each member expects them all
	// (the creation notices first: they are messages of the group too).
	per := max(b.N/senders, 1)
	total := int64(per * senders)
	sentAt := make([]sync.Map, senders) // client msg id -> time.Time, per sender
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for s := range senders {
		ms[s].credits = make(chan struct{}, window)
		for range window {
			ms[s].credits <- struct{}{}
		}
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Go(func() { m.read(ctx, b, group, total, sentAt) })
	}
	for s := range senders {
		wg.Go(func() { sendToGroup(ctx, b, ms[s], s, group, per, &sentAt[s], start, rate, senders) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var lats []time.Duration
	deliveries, refused := 0, 0
	for _, m := range ms {
		lats = append(lats, m.lats...)
		deliveries += len(m.lats)
		refused += m.ackRefused
	}
	slices.Sort(lats)
	if len(lats) == 0 {
		b.Fatal("no deliveries")
	}
	b.ReportMetric(float64(deliveries)/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(lats[len(lats)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lats[len(lats)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(refused), "acks-refused")
}

// createBenchGroup has the first member create the group and add the
// others in batches of 500, then has every member read the notices those
// posted (each call posts one, before its reply), so that the benchmark
// starts with every member caught up.
func createBenchGroup(b *testing.B, ms []*fanMember, group string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	owner, codec := ms[0], wire.ProtoCodec{}
	frames := []*magpiev1.Frame{{Body: &magpiev1.Frame_CreateGroup{CreateGroup: &magpiev1.CreateGroup{Id: group}}}}
	for i := 1; i < len(ms); i += 500 {
		var ids []string
		for _, m := range ms[i:min(i+500, len(ms))] {
			ids = append(ids, m.id)
		}
		frames = append(frames, &magpiev1.Frame{Body: &magpiev1.Frame_AddGroupMembers{AddGroupMembers: &magpiev1.AddGroupMembers{GroupId: group, UserIds: ids}}})
	}
	for i, f := range frames {
		f.Id = uint64(i + 1)
		data, _ := codec.Marshal(f)
		if err := owner.ws.Write(ctx, websocket.MessageBinary, data); err != nil {
			b.Fatal(err)
		}
	}
	last := int64(len(frames)) // the notices are seqs 1..len(frames)
	var wg sync.WaitGroup
	for _, m := range ms {
		m.next = last + 1
		wg.Go(func() {
			for {
				_, data, err := m.ws.Read(ctx)
				if err != nil {
					b.Errorf("member %s: %v", m.id, err)
					return
				}
				f, _ := wire.Decode(codec, data, len(data))
				if e := f.GetError(); e != nil {
					b.Errorf("group setup: %v", e)
					return
				}
				for _, msg := range f.GetDeliver().GetMessages() {
					if msg.GetSeq() == last {
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// sendToGroup sends n messages as member m with up to window in flight
// (m.credits), paced at rate messages per second across the senders when
// rate > 0; client message ids are "<sender>-<i>".
func sendToGroup(ctx context.Context, b *testing.B, m *fanMember, s int, group string, n int, sent *sync.Map,
	start time.Time, rate, senders int) {
	codec := wire.ProtoCodec{}
	body := "benchmark message body of a typical size"
	for i := range n {
		if rate > 0 { // sender s sends its i-th message at (i*senders+s)/rate seconds
			time.Sleep(time.Until(start.Add(time.Duration(i*senders+s) * time.Second / time.Duration(rate))))
		}
		select {
		case <-m.credits:
		case <-ctx.Done():
			b.Error("sender timed out")
			return
		}
		id := strconv.Itoa(s) + "-" + strconv.Itoa(i)
		sent.Store(id, time.Now())
		data, _ := codec.Marshal(&magpiev1.Frame{Id: uint64(i + 1), Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{
			ClientMsgId: id, ToGroupId: group, Type: "text", Content: body,
		}}})
		if err := m.ws.Write(ctx, websocket.MessageBinary, data); err != nil {
			b.Errorf("send: %v", err)
			return
		}
	}
}

// read reads until the member holds want more messages: delivered ones,
// in strictly increasing seqs, never one of its own, and its own sends'
// SendAcks (which may come ahead of deliveries of lower seqs committed in
// the same batch). It records each delivery's latency, returns a send
// credit per SendAck, and acknowledges deliveries every 64 messages.
func (m *fanMember) read(ctx context.Context, b *testing.B, group string, want int64, sentAt []sync.Map) {
	codec := wire.ProtoCodec{}
	var id uint64 = 1 << 32
	last, acked := m.next-1, m.next-1
	own := map[int64]bool{}
	for got := int64(0); got < want; {
		_, data, err := m.ws.Read(ctx)
		if err != nil {
			b.Errorf("member %s read: %v", m.id, err)
			return
		}
		f, err := wire.Decode(codec, data, len(data))
		if err != nil {
			b.Errorf("decode: %v", err)
			return
		}
		now := time.Now()
		switch {
		case f.GetSendAck() != nil:
			own[f.GetSendAck().GetSeq()] = true
			got++
			m.credits <- struct{}{}
			continue
		case f.GetError() != nil && f.GetId() > 1<<32 && f.GetError().GetRetryable():
			// An acknowledgement the server could not take now: acks are
			// cumulative, the next one covers it (the SDK retries too).
			m.ackRefused++
			continue
		case f.GetError() != nil:
			b.Errorf("member %s: %v", m.id, f.GetError())
			return
		}
		for _, msg := range f.GetDeliver().GetMessages() {
			if msg.GetSeq() <= last || own[msg.GetSeq()] {
				b.Errorf("member %s got seq %d after %d (own: %v)", m.id, msg.GetSeq(), last, own[msg.GetSeq()])
				return
			}
			last = msg.GetSeq()
			got++
			s, _, _ := strings.Cut(msg.GetClientMsgId(), "-")
			if k, err := strconv.Atoi(s); err == nil && k < len(sentAt) {
				if t, ok := sentAt[k].Load(msg.GetClientMsgId()); ok {
					m.lats = append(m.lats, now.Sub(t.(time.Time)))
				}
			}
		}
		if last-acked >= 64 || got == want {
			id++
			acked = last
			ack, _ := codec.Marshal(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_DeliverAck{DeliverAck: &magpiev1.DeliverAck{
				Cursors: []*magpiev1.Cursor{{ConvId: "g:" + group, Seq: acked}},
			}}})
			if err := m.ws.Write(ctx, websocket.MessageBinary, ack); err != nil {
				b.Errorf("ack: %v", err)
				return
			}
		}
	}
}
