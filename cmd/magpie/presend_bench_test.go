package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkOneToOnePreSend is BenchmarkOneToOne with a pre-send hook on
// the app: a local HTTP server that answers "allow" 1 ms after each
// request, so every message waits for a webhook round trip before it is
// sequenced. Compare with BenchmarkOneToOne at the same pairs.
//
//	go test -run '^$' -bench 'OneToOne(PreSend)?$' -benchtime 100000x ./cmd/magpie/
func BenchmarkOneToOnePreSend(b *testing.B) {
	for _, pairs := range []int{50, 200} {
		b.Run(fmt.Sprintf("pairs=%d", pairs), func(b *testing.B) {
			bin := magpieBinary(b)
			lines, _ := startBinary(b, bin, b.TempDir(), append(loadGenerator, "--pprof")...)
			if p := os.Getenv("MAGPIE_BENCH_CPUPROFILE"); p != "" {
				// A CPU profile of the server, for the first 10 seconds.
				go fetchProfile(b, lines["admin_url"]+"/debug/pprof/profile?seconds=10", fmt.Sprintf("%s.%d", p, pairs))
			}
			calls := startSlowHook(b, lines, time.Millisecond)
			runOneToOne(b, lines, lines["api_url"], lines["api_url"], pairs, 32)
			b.ReportMetric(float64(calls.Load())/float64(b.N), "hook-calls/msg")
		})
	}
}

// startSlowHook registers, as the bootstrap app's pre-send hook, a server
// that answers allow after delay, and returns its call counter.
func startSlowHook(b *testing.B, lines map[string]string, delay time.Duration) *atomic.Int64 {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	var calls atomic.Int64
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		time.Sleep(delay) // the hook's own work
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"action":"allow"}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	body := []byte(`{"kind":"pre_send","url":"http://` + ln.Addr().String() + `/pre-send","timeout_ms":5000}`)
	req, _ := http.NewRequest("POST", lines["api_url"]+"/manage/v1/apps/"+lines["app_id"]+"/webhooks", bytes.NewReader(body))
	req.SetBasicAuth(lines["operator_email"], lines["operator_password"])
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusCreated {
		b.Fatalf("register the pre-send hook: %v %v", res, err)
	}
	res.Body.Close()
	return &calls
}
