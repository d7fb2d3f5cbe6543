package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startTimeout bounds how long a test waits for `magpie dev` to print its
// credentials.
const startTimeout = time.Minute

// startDev runs `magpie dev` in-process and returns the key=value lines it
// printed before the console URL became reachable, and a stop function that
// shuts it down (as SIGTERM does) and returns run's error.
func startDev(t *testing.T, dir string) (map[string]string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, []string{"dev", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data", dir, "--log-level", "error"}, pw, io.Discard)
		pw.Close()
		done <- err
	}()
	lines := map[string]string{}
	// A start that hangs before printing fails the test instead of
	// hanging it: the pipe is closed under the scanner.
	timer := time.AfterFunc(startTimeout, func() { pr.CloseWithError(errors.New("magpie dev printed no credentials in time")) })
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			lines[k] = v
		}
		if k == "app_secret" || (k == "app_key" && lines["operator_password"] == "") {
			break
		}
	}
	if !timer.Stop() {
		cancel()
		t.Fatalf("magpie dev printed no credentials within %v: %v", startTimeout, lines)
	}
	go io.Copy(io.Discard, pr)
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(15 * time.Second):
			t.Fatal("magpie dev did not stop within 15s")
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return lines, stop
}

func TestDevPrintsCredentialsOnce(t *testing.T) {
	dir := t.TempDir()
	first, stop := startDev(t, dir)
	for _, k := range []string{"admin_url", "console_url", "api_url", "operator_email", "operator_password", "app_key", "app_secret"} {
		if first[k] == "" {
			t.Fatalf("first start did not print %s: %v", k, first)
		}
	}
	for _, u := range []string{"api_url", "admin_url"} {
		for _, p := range []string{"/healthz", "/readyz"} {
			res, err := http.Get(first[u] + p)
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("GET %s = %v, %v", first[u]+p, res, err)
			}
			res.Body.Close()
		}
	}
	res, err := http.Get(first["admin_url"] + "/metrics")
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %v, %v", res, err)
	}
	res.Body.Close()
	if res, err = http.Get(first["admin_url"] + "/debug/pprof/"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("GET /debug/pprof/ without --pprof = %v, %v; want 404", res, err)
	}
	res.Body.Close()
	if err := stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}

	again, stop := startDev(t, dir)
	defer stop()
	if again["app_key"] != first["app_key"] || again["operator_email"] != first["operator_email"] {
		t.Fatalf("restart changed the installation: %v vs %v", again, first)
	}
	if _, ok := again["operator_password"]; ok {
		t.Fatal("restart printed the operator password again")
	}
	if _, ok := again["app_secret"]; ok {
		t.Fatal("restart printed the app secret again")
	}
}

func TestHelpAndUnknownCommand(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"--help"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"dev", "version", "MAGPIE_ADDR"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("--help output lacks %q:\n%s", want, out.String())
		}
	}
	var flags strings.Builder
	_ = run(context.Background(), []string{"dev", "--help"}, io.Discard, &flags)
	for _, want := range []string{"--addr", "--data", "MAGPIE_DATA", "127.0.0.1:8080", "--trusted-proxies", "MAGPIE_TRUSTED_PROXIES"} {
		if !strings.Contains(flags.String(), want) {
			t.Errorf("dev --help lacks %q:\n%s", want, flags.String())
		}
	}
	if err := run(context.Background(), []string{"nope"}, io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command succeeded")
	}
}

func TestEnvironmentOverridesDefaults(t *testing.T) {
	t.Setenv("MAGPIE_ADDR", "bad address")
	err := run(context.Background(), []string{"dev", "--data", t.TempDir()}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("MAGPIE_ADDR was not used: %v", err)
	}
}

func TestProbeAgainstDev(t *testing.T) {
	lines, stop := startDev(t, t.TempDir())
	defer stop()
	var out strings.Builder
	err := run(context.Background(), []string{"probe", "--url", lines["api_url"], "--app-key", lines["app_key"],
		"--app-secret", lines["app_secret"], "--messages", "5", "--timeout", "30s"}, &out, io.Discard)
	if err != nil || !strings.HasPrefix(out.String(), "probe ok ") {
		t.Fatalf("magpie probe = %v, output %q", err, out.String())
	}
	out.Reset()
	err = run(context.Background(), []string{"probe", "--scenario", "group", "--members", "5", "--url", lines["api_url"],
		"--app-key", lines["app_key"], "--app-secret", lines["app_secret"], "--messages", "5", "--timeout", "30s"}, &out, io.Discard)
	if err != nil || !strings.HasPrefix(out.String(), "probe group ok members=5 senders=5 sent=25 deliveries=125 ") {
		t.Fatalf("magpie probe --scenario group = %v, output %q", err, out.String())
	}
	err = run(context.Background(), []string{"probe", "--scenario", "group", "--members", "2", "--url", lines["api_url"],
		"--app-key", lines["app_key"], "--app-secret", lines["app_secret"]}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "3 to 2000") {
		t.Fatalf("magpie probe --members 2 = %v, want an error naming the bounds", err)
	}
	err = run(context.Background(), []string{"probe", "--url", lines["api_url"], "--app-key", lines["app_key"],
		"--app-secret", "msk_wrong"}, &out, io.Discard)
	if err == nil {
		t.Fatal("magpie probe with a wrong secret succeeded")
	}
}

func TestParsePrefixes(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"", "[]", false},
		{"10.0.0.0/8", "[10.0.0.0/8]", false},
		{"10.1.2.3/8, 192.0.2.1 ,::1", "[10.0.0.0/8 192.0.2.1/32 ::1/128]", false},
		{"fd00::/8,", "[fd00::/8]", false},
		{"proxy.local", "", true},
	}
	for _, tt := range tests {
		got, err := parsePrefixes(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && fmt.Sprint(got) != tt.want) {
			t.Errorf("parsePrefixes(%q) = %v, %v, want %s (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

// TestBenchAgainstDev runs magpie bench's one-to-one scenario briefly,
// with --json and the scenario after the flags, and checks its flag errors.
func TestBenchAgainstDev(t *testing.T) {
	lines, stop := startDev(t, t.TempDir())
	defer stop()
	var out strings.Builder
	creds := []string{"--url", lines["api_url"], "--app-key", lines["app_key"], "--app-secret", lines["app_secret"]}
	args := append([]string{"bench"}, creds...)
	args = append(args, "one-to-one", "--users", "10", "--rate", "50", "--duration", "1s", "--json", "--connect-rate", "100")
	if err := run(context.Background(), args, &out, io.Discard); err != nil {
		t.Fatalf("magpie bench one-to-one = %v, output %q", err, out.String())
	}
	var res struct {
		Scenario              string
		Sent, Delivered, Lost int64
		Duplicated, Reordered int64
		RatePerS              float64 `json:"rate_per_s"`
		MaxMs                 float64 `json:"max_ms"`
		WriteP50Ms            float64 `json:"write_p50_ms"`
		WriteMaxMs            float64 `json:"write_max_ms"`
		Held                  bool
	}
	if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if res.Scenario != "one-to-one" || res.Sent != 50 || res.Delivered != 50 || res.Lost != 0 || res.Duplicated != 0 ||
		res.Reordered != 0 || res.RatePerS != 50 || !res.Held {
		t.Fatalf("magpie bench --json = %+v", res)
	}
	// From the last write: measured, and never longer than from the
	// schedule (a send is written at its scheduled time or later).
	if res.WriteP50Ms <= 0 || res.WriteMaxMs > res.MaxMs {
		t.Fatalf("latency from the write: p50 %v ms, max %v ms; from the schedule max %v ms", res.WriteP50Ms, res.WriteMaxMs, res.MaxMs)
	}
	for _, bad := range [][]string{{"bench"}, {"bench", "nope"}, {"bench", "one-to-one", "--users", "3"}} {
		if err := run(context.Background(), append(bad, creds...), io.Discard, io.Discard); err == nil {
			t.Errorf("magpie %v succeeded", bad)
		}
	}
}
