package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// BenchmarkRoomFanOut measures chat room fan-out through the real binary
// over WebSockets: a room of members raw protocol clients on one node, all
// joined, senders of them (the owner first) sending b.N messages in all
// (each keeping up to window sends in flight), every member reading until
// it has seen the last one. Rooms
// are at-most-once: the benchmark reports deliveries per second and the
// share of deliveries lost (a member's missing seqs), which must stay 0 at
// this load. The load generator shares the machine's cores with the
// server.
//
//	go test -run '^$' -bench RoomFanOut -benchtime 2000x ./cmd/magpie/
//	# MAGPIE_BENCH_CPUPROFILE=/tmp/room.prof adds 10 s CPU profiles of the server
func BenchmarkRoomFanOut(b *testing.B) {
	bin := magpieBinary(b)
	lines, _ := startBinary(b, bin, b.TempDir(), append(loadGenerator, "--pprof")...)
	for _, members := range []int{1000, 5000} {
		b.Run(fmt.Sprintf("members=%d", members), func(b *testing.B) { roomFanOut(b, lines, members, 8, 32) })
	}
}

func roomFanOut(b *testing.B, lines map[string]string, members, senders, window int) {
	base := lines["api_url"]
	api, err := serverapi.New(base, lines["app_key"], lines["app_secret"])
	if err != nil {
		b.Fatal(err)
	}
	raiseLimits(b, base, lines)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	prefix := fmt.Sprintf("r%d-", time.Now().UnixNano())
	ids := make([]string, members)
	var users []serverapi.UserInput
	for i := range ids {
		ids[i] = fmt.Sprintf("%su%05d", prefix, i)
		users = append(users, serverapi.UserInput{ID: ids[i]})
	}
	for i := 0; i < len(users); i += 100 {
		if _, err := api.ImportUsers(ctx, users[i:min(i+100, len(users))]); err != nil {
			b.Fatal(err)
		}
	}
	room := prefix + "room"
	if _, err := api.CreateRoom(ctx, serverapi.RoomInput{ID: room, OwnerID: ids[0], RateLimit: 10000}); err != nil {
		b.Fatal(err)
	}
	url := "ws" + strings.TrimPrefix(base, "http") + "/v1/connect"
	conns := make([]*websocket.Conn, members)
	// Members that only read would be closed as silent (heartbeat): ping
	// them all every 10 s, from the setup to the end.
	var joined atomic.Int64
	keepalive, stopKeepalive := context.WithCancel(ctx)
	var pings sync.WaitGroup
	defer func() { stopKeepalive(); pings.Wait() }()
	pings.Go(func() {
		ping, _ := wire.ProtoCodec{}.Marshal(&magpiev1.Frame{Id: 1 << 40, Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}})
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-keepalive.Done():
				return
			case <-t.C:
			}
			for _, c := range conns[:joined.Load()] {
				_ = c.Write(keepalive, websocket.MessageBinary, ping) // a failed ping shows as a failed read
			}
		}
	})
	codec := wire.ProtoCodec{}
	for i, id := range ids {
		tok, err := api.MintToken(id, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		conns[i] = loginRaw(b, url, tok.Token, "d")
		conns[i].SetReadLimit(1 << 22)
		data, _ := codec.Marshal(&magpiev1.Frame{Id: 2, Body: &magpiev1.Frame_JoinRoom{JoinRoom: &magpiev1.JoinRoom{RoomId: room}}})
		if err := conns[i].Write(ctx, websocket.MessageBinary, data); err != nil {
			b.Fatal(err)
		}
		for { // the join's reply; member count pushes may come first
			_, reply, err := conns[i].Read(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if f, _ := wire.Decode(codec, reply, len(reply)); f.GetId() == 2 {
				if f.GetRoomJoined() == nil {
					b.Fatalf("join: %v", f)
				}
				break
			}
		}
		joined.Add(1)
	}
	defer func() {
		for _, c := range conns {
			c.CloseNow()
		}
	}()

	per := max(b.N/senders, 1)
	n := int64(per * senders)
	var got atomic.Int64
	credits := make([]chan struct{}, senders)
	for i := range credits {
		credits[i] = make(chan struct{}, window)
		for range window {
			credits[i] <- struct{}{}
		}
	}
	if p := os.Getenv("MAGPIE_BENCH_CPUPROFILE"); p != "" {
		// A CPU profile of the server while the messages flow.
		go fetchProfile(b, lines["admin_url"]+"/debug/pprof/profile?seconds=10", p+fmt.Sprintf(".%d", members))
	}
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range conns {
		var cr chan struct{}
		if i < senders {
			cr = credits[i]
		}
		wg.Go(func() { got.Add(readRoom(ctx, b, c, n, cr)) })
	}
	for s := range senders {
		wg.Go(func() {
			for i := range per {
				select {
				case <-credits[s]:
				case <-ctx.Done():
					return
				}
				data, _ := codec.Marshal(&magpiev1.Frame{Id: uint64(i + 10), Body: &magpiev1.Frame_SendRoomMessage{SendRoomMessage: &magpiev1.SendRoomMessage{
					RoomId: room, ClientMsgId: fmt.Sprint("m", i), Content: "bench message"}}})
				if err := conns[s].Write(ctx, websocket.MessageBinary, data); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	want := n * int64(members)
	b.ReportMetric(float64(got.Load())/elapsed.Seconds(), "deliveries/s")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(want-got.Load())/float64(want), "lost")
}

// readRoom reads a member's frames until the room message with seq n,
// and returns how many room messages it got. A sender's reader returns a
// credit per RoomSendAck (credits is nil for other members).
func readRoom(ctx context.Context, b *testing.B, c *websocket.Conn, n int64, credits chan struct{}) int64 {
	var got int64
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			b.Errorf("read: %v", err)
			return got
		}
		f, err := wire.Decode(wire.ProtoCodec{}, data, len(data))
		if err != nil {
			b.Errorf("decode: %v", err)
			return got
		}
		if credits != nil && f.GetRoomSendAck() != nil {
			credits <- struct{}{}
		}
		if e := f.GetError(); e != nil {
			b.Errorf("error: %v", e)
			return got
		}
		for _, m := range f.GetRoomMessages().GetMessages() {
			got++
			if m.GetSeq() >= n {
				return got
			}
		}
	}
}
