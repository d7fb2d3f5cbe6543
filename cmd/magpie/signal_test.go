package main

import (
	"bufio"
	"context"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

// startBinary starts the built magpie binary with `dev` (and extra flags)
// and returns the key=value lines it printed and the running command.
func startBinary(t testing.TB, bin, dir string, extra ...string) (map[string]string, *exec.Cmd) {
	t.Helper()
	args := append([]string{"dev", "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--data", dir, "--log-level", "warn"}, extra...)
	cmd := exec.Command(bin, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	lines := map[string]string{}
	// A start that hangs before printing fails the test instead of
	// hanging it: the process is killed, which ends its output.
	timer := time.AfterFunc(startTimeout, func() { _ = cmd.Process.Kill() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			lines[k] = v
			if k == "app_secret" || (k == "app_key" && lines["operator_password"] == "") {
				break
			}
		}
	}
	if !timer.Stop() {
		t.Fatalf("magpie dev printed no credentials within %v: %v", startTimeout, lines)
	}
	return lines, cmd
}

// terminate sends SIGTERM and waits for a clean exit.
func terminate(t testing.TB, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("magpie dev exited after SIGTERM with %v, want status 0", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("magpie dev did not exit within 20s of SIGTERM")
	}
}

func TestSIGTERMAndRestartKeepData(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := magpieBinary(t)
	dir := t.TempDir()
	ctx := context.Background()
	lines, cmd := startBinary(t, bin, dir)
	api, err := serverapi.New(lines["api_url"], lines["app_key"], lines["app_secret"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.CreateUser(ctx, serverapi.UserInput{ID: "survivor", Name: "Still here"}); err != nil {
		t.Fatal(err)
	}
	terminate(t, cmd)

	again, cmd := startBinary(t, bin, dir)
	defer terminate(t, cmd)
	api, err = serverapi.New(again["api_url"], again["app_key"], lines["app_secret"])
	if err != nil {
		t.Fatal(err)
	}
	u, err := api.GetUser(ctx, "survivor")
	if err != nil || u.Name != "Still here" {
		t.Fatalf("after restart GetUser(survivor) = %+v, %v", u, err)
	}
}
