package main

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

// BenchmarkAPIUnderBadBasicFlood measures the server API's latency (a
// signed GET /v1/users, one at a time) while a flood of management API
// requests with wrong HTTP Basic passwords arrives at 50 a second, through
// the real binary (bcrypt at its default cost), and reports the p50 and p99
// latency of the API calls. Sub-benchmark flood=none is the baseline;
// flood=one-address sends every bad request from one address for one email,
// which the console throttle locks out after a few failures;
// flood=many-addresses uses a new email and a new address (X-Forwarded-For
// through a trusted proxy) each time, so no lockout applies and each costs a
// password check: the bound on concurrent bcrypt work protects the API.
//
//	go test -run '^$' -bench APIUnderBadBasicFlood -benchtime 2000x ./cmd/magpie/
func BenchmarkAPIUnderBadBasicFlood(b *testing.B) {
	for _, flood := range []string{"none", "one-address", "many-addresses"} {
		b.Run("flood="+flood, func(b *testing.B) { apiUnderFlood(b, flood) })
	}
}

func apiUnderFlood(b *testing.B, flood string) {
	lines, _ := startBinary(b, magpieBinary(b), b.TempDir(), "--trusted-proxies", "127.0.0.1")
	base := lines["api_url"]
	raiseLimits(b, base, lines)
	api, err := serverapi.New(base, lines["app_key"], lines["app_secret"])
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	if flood != "none" {
		wg.Go(func() { badBasicFlood(ctx, base, flood == "many-addresses") })
	}
	// Let the flood reach its steady state (the one-address lockout).
	for range 20 {
		if _, _, err := api.ListUsers(ctx, "", 1); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if _, _, err := api.ListUsers(ctx, "", 1); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99_ms")
}

// badBasicFlood sends management API requests with wrong Basic passwords
// at 50 a second until ctx ends, each on its own goroutine (an attacker
// does not wait for answers).
func badBasicFlood(ctx context.Context, base string, rotate bool) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	client := &http.Client{Timeout: 10 * time.Second}
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/manage/v1/me", nil)
			email := "victim@example.com"
			if rotate {
				email = fmt.Sprintf("guess%d@example.com", i)
				req.Header.Set("X-Forwarded-For", fmt.Sprintf("198.51.%d.%d", i/250%250, i%250+1))
			}
			req.SetBasicAuth(email, fmt.Sprintf("wrong-password-%d", i))
			if res, err := client.Do(req); err == nil {
				res.Body.Close()
			}
		})
	}
}
