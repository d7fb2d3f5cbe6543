package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

// TestEmbeddedSurvivesKills is embedded mode's reliability check: users
// (one with two devices per pair) exchange 10,000 messages with `magpie
// dev` while it is killed with SIGKILL three times and restarted on the
// same data directory. Every acknowledged message must have been durable
// (the store's shared commits and its caches of conversation heads and
// cursors included), and afterwards every device holds every message of
// its conversation exactly once and in order.
func TestEmbeddedSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const pairs, perSender = 10, 500 // 10 pairs × 2 senders × 500 = 10,000 messages
	bin := magpieBinary(t)
	dir := t.TempDir()
	flags := []string{"--unlimited-addresses", "127.0.0.0/8"}
	lines, cmd := startBinary(t, bin, dir, flags...)
	key, secret := lines["app_key"], lines["app_secret"]
	if key == "" || secret == "" {
		t.Fatalf("magpie dev printed %v", lines)
	}
	hostOf := func(lines map[string]string) string { return strings.TrimPrefix(lines["api_url"], "http://") }
	lb := newBalancer(t, hostOf(lines))
	api, err := serverapi.New(lb.url(), key, secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	load := &chatLoad{t: t, ctx: ctx, perSender: perSender}
	newDevice := func(user, id string) *chatDevice {
		return load.device(user, client.Config{URL: lb.url(), DeviceID: id,
			BackoffMin: 20 * time.Millisecond, BackoffMax: 500 * time.Millisecond, SendDeadline: 3 * time.Minute,
			TokenProvider: func(ctx context.Context) (string, error) {
				tok, err := api.MintToken(user, time.Hour)
				return tok.Token, err
			}})
	}
	type pair struct{ a, b1, b2 *chatDevice }
	var ps []pair
	for i := range pairs {
		a, b := fmt.Sprint("a", i), fmt.Sprint("b", i)
		for _, u := range []string{a, b} {
			if _, err := api.CreateUser(ctx, serverapi.UserInput{ID: u}); err != nil {
				t.Fatal(err)
			}
		}
		ps = append(ps, pair{a: newDevice(a, "phone"), b1: newDevice(b, "phone"), b2: newDevice(b, "laptop")})
	}
	load.start()
	defer load.stop()
	for i, p := range ps {
		load.send(p.a, fmt.Sprint("b", i))
		load.send(p.b2, fmt.Sprint("a", i))
	}

	total := int64(pairs * 2 * perSender)
	for k := int64(1); k <= 3; k++ {
		load.waitSent(total * k / 4)
		t.Logf("%d acknowledged: SIGKILL magpie dev and start it again", load.sent.Load())
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		lines, cmd = startBinary(t, bin, dir, flags...)
		lb.set(hostOf(lines))
	}
	load.check()
}
