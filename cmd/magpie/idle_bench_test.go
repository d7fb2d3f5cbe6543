package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// BenchmarkIdleConnectionMemory measures what an idle, logged-in WebSocket
// costs the server: it starts the real binary, opens conns connections
// (logged in, then silent) and reports the growth of the server process's
// resident memory per connection, in KiB. b.N is ignored: the figure is a
// property of the steady state, not of a loop.
//
//	go test -run '^$' -bench IdleConnectionMemory -benchtime 1x ./cmd/magpie/
func BenchmarkIdleConnectionMemory(b *testing.B) {
	for _, conns := range []int{1000, 4000} {
		b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
			kib := idleConnCost(b, conns)
			b.ReportMetric(kib, "KiB/conn")
		})
	}
}

func idleConnCost(b *testing.B, conns int) float64 {
	lines, cmd := startBinary(b, magpieBinary(b), b.TempDir(), loadGenerator...)
	base := lines["api_url"]
	ctx := context.Background()
	api, err := serverapi.New(base, lines["app_key"], lines["app_secret"])
	if err != nil {
		b.Fatal(err)
	}
	raiseLimits(b, base, lines)
	const perUser = 50
	var users []serverapi.UserInput
	for i := range (conns + perUser - 1) / perUser {
		users = append(users, serverapi.UserInput{ID: fmt.Sprintf("idle%05d", i)})
	}
	for i := 0; i < len(users); i += 100 {
		if _, err := api.ImportUsers(ctx, users[i:min(i+100, len(users))]); err != nil {
			b.Fatal(err)
		}
	}
	before := rssKiB(b, cmd.Process.Pid)
	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/v1/connect"
	open := make([]*websocket.Conn, 0, conns)
	defer func() {
		for _, ws := range open {
			ws.CloseNow()
		}
	}()
	for i := range conns {
		tok, err := api.MintToken(users[i/perUser].ID, time.Hour)
		if err != nil {
			b.Fatal(err)
		}
		open = append(open, loginRaw(b, wsURL, tok.Token, fmt.Sprintf("dev%d", i)))
	}
	after := rssKiB(b, cmd.Process.Pid)
	b.Logf("server RSS %d KiB before, %d KiB after %d idle connections", before, after, conns)
	return float64(after-before) / float64(conns)
}

func loginRaw(b *testing.B, url, tok, device string) *websocket.Conn {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{wire.SubprotocolProto}})
	if err != nil {
		b.Fatal(err)
	}
	data, _ := wire.ProtoCodec{}.Marshal(&magpiev1.Frame{Id: 1, Body: &magpiev1.Frame_Login{Login: &magpiev1.Login{
		Token: tok, DeviceId: device, Platform: "server", SdkVersion: "bench/0"}}})
	if err := ws.Write(ctx, websocket.MessageBinary, data); err != nil {
		b.Fatal(err)
	}
	_, reply, err := ws.Read(ctx)
	if err != nil {
		b.Fatal(err)
	}
	f, err := wire.Decode(wire.ProtoCodec{}, reply, len(reply))
	if err != nil || f.GetLoginResult() == nil {
		b.Fatalf("login: %v %v", f, err)
	}
	return ws
}

// raiseLimits lifts the demo app's login rate and device limits through the
// management API, so that the benchmark measures connections, not limits.
func raiseLimits(b *testing.B, base string, lines map[string]string) {
	get := func(path string, out any) {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.SetBasicAuth(lines["operator_email"], lines["operator_password"])
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			b.Fatal(err)
		}
	}
	var tenants struct{ Tenants []struct{ ID string } }
	get("/manage/v1/tenants", &tenants)
	var apps struct {
		Apps []struct {
			ID  string `json:"id"`
			Key string `json:"app_key"`
		}
	}
	get("/manage/v1/tenants/"+tenants.Tenants[0].ID+"/apps", &apps)
	body := []byte(`{"limits":{"conn_rate":100000,"max_devices_per_user":100,"api_rate":10000,"api_burst":10000,"send_rate":1000000,"send_burst":1000000}}`)
	req, _ := http.NewRequest("PATCH", base+"/manage/v1/apps/"+apps.Apps[0].ID, bytes.NewReader(body))
	req.SetBasicAuth(lines["operator_email"], lines["operator_password"])
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		b.Fatalf("raise limits: %v %v", res, err)
	}
	res.Body.Close()
}

func rssKiB(b *testing.B, pid int) int {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
