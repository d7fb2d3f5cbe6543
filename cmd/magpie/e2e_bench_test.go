package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/internal/loadgen"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// BenchmarkOneToOne measures end-to-end one-to-one messaging through the
// real binary over WebSockets: pairs of raw protocol clients, each sender
// keeping up to window sends in flight, each recipient acknowledging what
// it is delivered (so the server records cursors and sends DELIVERED
// receipts back). It checks that every recipient got its sender's messages
// exactly once with contiguous seqs, and reports acknowledged messages per
// second. The load generator shares the machine's cores with the server.
//
//	go test -run '^$' -bench OneToOne -benchtime 200000x ./cmd/magpie/
func BenchmarkOneToOne(b *testing.B) {
	for _, pairs := range []int{50, 200} {
		b.Run(fmt.Sprintf("pairs=%d", pairs), func(b *testing.B) { oneToOne(b, pairs, 32) })
	}
}

// loadGenerator exempts the benchmarks' clients, all on loopback, from the
// per-address login limits that protect a real installation.
var loadGenerator = []string{"--unlimited-addresses", "127.0.0.0/8"}

func oneToOne(b *testing.B, pairs, window int) {
	bin := magpieBinary(b)
	lines, _ := startBinary(b, bin, b.TempDir(), loadGenerator...)
	base := lines["api_url"]
	runOneToOne(b, lines, base, base, pairs, window)
}

// BenchmarkOneToOneCluster is BenchmarkOneToOne across two `magpie
// gateway` processes (with a `magpie worker`) on RabbitMQ, Redis and the
// tests' MongoDB-compatible server: every sender on the first gateway,
// every recipient on the second, so each message is relayed between them.
// Against FerretDB (the default, with no MAGPIE_TEST_MONGO_URL) the store
// dominates and the figure says little about a real MongoDB.
//
//	go test -run '^$' -bench OneToOneCluster -benchtime 20000x ./cmd/magpie/
func BenchmarkOneToOneCluster(b *testing.B) {
	bin := magpieBinary(b)
	env := clusterEnv(b)
	boot := startCluster(b, bin, env, "app_key", "bootstrap")
	<-boot.done
	gw := append([]string{"gateway", "--addr", "127.0.0.1:0"}, loadGenerator...)
	g1 := startCluster(b, bin, env, "node_id", gw...)
	g2 := startCluster(b, bin, env, "node_id", gw...)
	startCluster(b, bin, env, "worker_url", "worker", "--addr", "127.0.0.1:0")
	for _, pairs := range []int{50, 200} {
		b.Run(fmt.Sprintf("pairs=%d", pairs), func(b *testing.B) {
			runOneToOne(b, boot.snapshot(), g1.get("gateway_url"), g2.get("gateway_url"), pairs, 32)
		})
	}
}

// runOneToOne runs the one-to-one load: senders connect to senderBase,
// recipients to recipientBase. lines are the bootstrap's credentials.
func runOneToOne(b *testing.B, lines map[string]string, senderBase, recipientBase string, pairs, window int) {
	base := senderBase
	api, err := serverapi.New(base, lines["app_key"], lines["app_secret"])
	if err != nil {
		b.Fatal(err)
	}
	raiseLimits(b, base, lines)
	prefix := fmt.Sprintf("n%d-", time.Now().UnixNano()) // sub-benchmarks share an installation
	var users []serverapi.UserInput
	for i := range pairs {
		users = append(users, serverapi.UserInput{ID: fmt.Sprintf("%ss%d", prefix, i)}, serverapi.UserInput{ID: fmt.Sprintf("%sr%d", prefix, i)})
	}
	for i := 0; i < len(users); i += 100 {
		if _, err := api.ImportUsers(context.Background(), users[i:min(i+100, len(users))]); err != nil {
			b.Fatal(err)
		}
	}
	ws := func(base string) string { return "ws" + strings.TrimPrefix(base, "http") + "/v1/connect" }
	per := b.N / pairs
	if per == 0 {
		per = 1
	}
	ps := make([]*benchPair, pairs)
	for i := range ps {
		ps[i] = newBenchPair(b, api, ws(senderBase), ws(recipientBase), prefix, i)
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() { p.run(b, per, window) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	total := per * pairs
	b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
	var refused int64
	for _, p := range ps {
		refused += p.goBacks.Load()
		p.close()
	}
	b.ReportMetric(float64(refused), "overload-refusals")
}

// benchPair is one sender and one recipient connection.
type benchPair struct {
	sender, recipient *websocket.Conn
	to                string
	delivered         atomic.Int64 // highest contiguous seq the recipient saw
	goBacks           atomic.Int64 // overload refusals of the sender's sends
}

func newBenchPair(b *testing.B, api *serverapi.Client, senderURL, recipientURL, prefix string, i int) *benchPair {
	mint := func(user string) string {
		tok, err := api.MintToken(user, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		return tok.Token
	}
	p := &benchPair{to: fmt.Sprintf("%sr%d", prefix, i)}
	p.sender = loginRaw(b, senderURL, mint(fmt.Sprintf("%ss%d", prefix, i)), "send")
	p.recipient = loginRaw(b, recipientURL, mint(p.to), "recv")
	p.sender.SetReadLimit(1 << 20)
	p.recipient.SetReadLimit(1 << 20)
	return p
}

func (p *benchPair) close() {
	p.sender.CloseNow()
	p.recipient.CloseNow()
}

// run sends n messages with up to window in flight and waits until the
// recipient has all of them. An overload refusal (an error with
// retry_after_ms) sends the sender back to the refused message after the
// hint, as the SDK and the load generator do (loadgen.GoBack): the server
// refuses every later send until that one comes again.
func (p *benchPair) run(b *testing.B, n, window int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	codec := wire.ProtoCodec{}
	gb := loadgen.NewGoBack()
	// acked ends when the sender's reader has every acknowledgement.
	acked, allAcked := context.WithCancel(ctx)
	defer allAcked()
	var wg sync.WaitGroup
	wg.Go(func() { p.receive(ctx, b, n) })
	wg.Go(func() { // sender's reader: replies to sends; receipts are counted away
		seen := make([]bool, n) // a resent message is acknowledged again
		left := n
		defer func() {
			if left > 0 {
				cancel() // failed: stop the sender and the recipient too
			} else {
				allAcked()
			}
		}()
		for left > 0 {
			_, data, err := p.sender.Read(ctx)
			if err != nil {
				b.Errorf("sender read: %v", err)
				return
			}
			f, err := wire.Decode(codec, data, len(data))
			if err != nil {
				b.Errorf("sender decode: %v", err)
				return
			}
			switch {
			case f.GetSendAck() != nil:
				if i, err := strconv.Atoi(f.GetSendAck().GetClientMsgId()); err == nil && i >= 0 && i < n && !seen[i] {
					seen[i] = true
					left--
				}
				gb.Replied()
			case f.GetError() != nil:
				e := f.GetError()
				if e.GetRetryAfterMs() <= 0 {
					b.Errorf("send error: %v", e)
					return
				}
				p.goBacks.Add(1)
				_, epoch, idx := loadgen.ParseSendID(f.GetId())
				gb.Refused(epoch, idx, time.Duration(e.GetRetryAfterMs())*time.Millisecond)
				gb.Replied()
			}
		}
	})
	p.send(acked, b, gb, n, window)
	wg.Wait()
}

// send writes messages 0..n-1, going back when gb says so, until every one
// is acknowledged: until ctx ends, which it does when the sender's reader
// has every acknowledgement (and then the parent context has not ended).
func (p *benchPair) send(ctx context.Context, b *testing.B, gb *loadgen.GoBack, n, window int) {
	codec := wire.ProtoCodec{}
	stopped := func() bool {
		if ctx.Err() == nil {
			return false
		}
		if context.Cause(ctx) != context.Canceled {
			b.Error("sender timed out")
		}
		return true
	}
	for idx := 0; ; {
		if back, after, ok := gb.Take(); ok {
			select {
			case <-time.After(after):
			case <-ctx.Done():
			}
			if stopped() {
				return
			}
			idx = back
			continue
		}
		if idx == n {
			if gb.Drained(ctx) || stopped() {
				return // every send answered and none refused, or every one acknowledged
			}
			continue
		}
		if !gb.Room(ctx, window) {
			if stopped() {
				return
			}
			continue // a go-back is due
		}
		data, _ := codec.Marshal(&magpiev1.Frame{Id: loadgen.SendID(0, gb.Epoch(), idx), Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{
			ClientMsgId: strconv.Itoa(idx), ToUserId: p.to, Type: "text", Content: "benchmark message body of a typical size",
		}}})
		if err := p.sender.Write(ctx, websocket.MessageBinary, data); err != nil {
			if !stopped() {
				b.Errorf("send: %v", err)
			}
			return
		}
		gb.Wrote()
		idx++
	}
}

// receive reads deliveries until the recipient holds seqs 1..n, checking
// they arrive exactly once and in order, and acknowledges each batch.
func (p *benchPair) receive(ctx context.Context, b *testing.B, n int) {
	codec := wire.ProtoCodec{}
	next := int64(1)
	var id uint64
	for next <= int64(n) {
		_, data, err := p.recipient.Read(ctx)
		if err != nil {
			b.Errorf("recipient read: %v", err)
			return
		}
		f, err := wire.Decode(codec, data, len(data))
		if err != nil {
			b.Errorf("recipient decode: %v", err)
			return
		}
		msgs := f.GetDeliver().GetMessages()
		if len(msgs) == 0 {
			continue
		}
		for _, m := range msgs {
			if m.GetSeq() != next {
				b.Errorf("recipient got seq %d, want %d", m.GetSeq(), next)
				return
			}
			next++
		}
		id++
		ack, _ := codec.Marshal(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_DeliverAck{DeliverAck: &magpiev1.DeliverAck{
			Cursors: []*magpiev1.Cursor{{ConvId: msgs[0].GetConvId(), Seq: next - 1}},
		}}})
		if err := p.recipient.Write(ctx, websocket.MessageBinary, ack); err != nil {
			b.Errorf("ack: %v", err)
			return
		}
	}
	p.delivered.Store(next - 1)
}
