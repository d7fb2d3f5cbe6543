package loadgen

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/embedded"
	"github.com/magpie-im/magpie/internal/embedded/embeddedtest"
	"github.com/magpie-im/magpie/sdk/go/wire"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/ssrf"
)

// TestScenariosAgainstAnEmbeddedServer runs every scenario briefly against
// a real server and checks that nothing was lost, duplicated or reordered.
func TestScenariosAgainstAnEmbeddedServer(t *testing.T) {
	srv, cfg := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	boot := srv.Bootstrap
	if err := RaiseLimits(ctx, srv.URL, boot.OperatorEmail, "wrong", boot.AppKey); err == nil {
		t.Fatal("raised the limits with a wrong password")
	}
	check := func(name string, r Result, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if r.Lost != 0 || r.Duplicated != 0 || r.Reordered != 0 || len(r.Errors) != 0 || r.ConnsClosed != 0 {
			t.Fatalf("%s: %s", name, StepLine(r))
		}
	}

	one, err := OneToOne(ctx, cfg, OneToOneConfig{Users: 20, Rate: 200, Duration: time.Second})
	check("one-to-one", one, err)
	// 20 users at 10 msgs/s each over 1 s: 10 each, whatever the phase.
	if one.Sent != 200 || one.Delivered != 200 || !one.Held || one.P99Ms <= 0 || one.MaxMs < one.P50Ms || one.AckP50Ms <= 0 {
		t.Fatalf("one-to-one: %+v", one)
	}
	if one.Connected != 20 || one.SourceAddrs != 4 {
		t.Fatalf("one-to-one connections: %d from %d addresses", one.Connected, one.SourceAddrs)
	}

	grp, err := Group(ctx, cfg, GroupConfig{Members: 20, Senders: 2, Rate: 40, Duration: time.Second})
	check("group", grp, err)
	if grp.Sent != 40 || grp.Expected != 40*19 || grp.Delivered != 40*19 || !grp.Held {
		t.Fatalf("group: %+v", grp)
	}

	idle, err := Idle(ctx, cfg, IdleConfig{Conns: 50, Hold: 100 * time.Millisecond})
	if err != nil || idle.Connected != 50 || idle.ConnectFailed != 0 || !idle.Held || idle.ConnectRatePerS <= 0 {
		t.Fatalf("idle: %+v, %v", idle, err)
	}

	// Logins by a Login frame, as browsers make them, work as well.
	frameCfg := cfg
	frameCfg.FrameLogin = true
	idle, err = Idle(ctx, frameCfg, IdleConfig{Conns: 20, Hold: 10 * time.Millisecond})
	if err != nil || idle.Connected != 20 || idle.ConnectFailed != 0 || !idle.Held {
		t.Fatalf("idle, logins by frames: %+v, %v", idle, err)
	}
	// A refused login is an error with the server's close code, either way.
	refused := func() {
		t.Helper()
		for _, frame := range []bool{false, true} {
			d := NewDialer(srv.URL, 1)
			d.FrameLogin = frame
			c, err := Login(ctx, d, srv.URL, "nobody", "not-a-jwt", "dev")
			if le := (*LoginError)(nil); !errors.As(err, &le) || le.CloseCode != int(wire.CloseBadToken) {
				t.Fatalf("login by frame %v with a bad token = %v, %v; want close code %d", frame, c, err, wire.CloseBadToken)
			}
			d.Close()
		}
	}
	refused()

	// The other path (TLS targets, systems without the tool's own loop):
	// sockets from net.Dialer, logged in on them and then read by nbio.
	if haveLoop {
		ownLoop = false
		other, err := OneToOne(ctx, frameCfg, OneToOneConfig{Users: 20, Rate: 200, Duration: time.Second})
		check("one-to-one, net.Dialer and nbio", other, err)
		if other.Delivered != 200 || other.Connected != 20 {
			t.Fatalf("one-to-one, net.Dialer and nbio: %+v", other)
		}
		refused()
		ownLoop = true
	}

	ramp, err := Ramp(ctx, cfg, RampConfig{Users: 10, From: 50, Step: 50, To: 100, StepDuration: 500 * time.Millisecond})
	check("ramp", ramp, err)
	if len(ramp.Steps) != 2 || ramp.HeldRate != 100 || !ramp.Held {
		t.Fatalf("ramp: held %v over %d steps", ramp.HeldRate, len(ramp.Steps))
	}
	for _, st := range ramp.Steps {
		if st.LateFromEarlierStep != 0 || st.Delivered != st.Sent || st.Lost != 0 {
			t.Fatalf("ramp step: %s", StepLine(st))
		}
	}

	// With a pre-send hook: every message is asked about once. A second
	// hook takes the first's place; closed, it is gone from the app.
	if _, err := StartPresendHook(ctx, srv.URL, boot.OperatorEmail, "wrong", boot.AppKey, time.Millisecond); err == nil {
		t.Fatal("registered a hook with a wrong password")
	}
	first, err := StartPresendHook(ctx, srv.URL, boot.OperatorEmail, boot.OperatorPassword, boot.AppKey, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	defer first.srv.Close()
	hook, err := StartPresendHook(ctx, srv.URL, boot.OperatorEmail, boot.OperatorPassword, boot.AppKey, time.Millisecond)
	if err != nil {
		t.Fatalf("a second hook: %v", err)
	}
	hooked, err := OneToOne(ctx, cfg, OneToOneConfig{Users: 20, Rate: 200, Duration: time.Second})
	check("one-to-one with a hook", hooked, err)
	if hooked.Delivered != 200 || hook.Calls() != 200 || first.Calls() != 0 {
		t.Fatalf("one-to-one with a hook: %d delivered, the hook asked %d times (the replaced one %d), want 200, 200, 0",
			hooked.Delivered, hook.Calls(), first.Calls())
	}
	if err := hook.Close(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := OneToOne(ctx, cfg, OneToOneConfig{Users: 20, Rate: 200, Duration: time.Second})
	check("one-to-one after the hook", after, err)
	if hook.Calls() != 200 {
		t.Fatalf("the hook was asked %d times after it was removed", hook.Calls()-200)
	}
}

// startServer starts a server as magpie dev does, with the app's limits
// raised for the load generator, and returns it and a Config for it.
func startServer(t *testing.T) (*embedded.Server, Config) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a server")
	}
	// As magpie dev: the load generator's hook is on loopback.
	srv := embeddedtest.Start(t, embedded.Config{Webhooks: webhook.Options{Policy: ssrf.Policy{AllowLoopback: true}}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	boot := srv.Bootstrap
	if err := RaiseLimits(ctx, srv.URL, boot.OperatorEmail, boot.OperatorPassword, boot.AppKey); err != nil {
		t.Fatal(err)
	}
	return srv, Config{URLs: []string{srv.URL}, AppKey: boot.AppKey, AppSecret: boot.AppSecret, ConnectRate: 200,
		Cutoff: 5 * time.Second, Seed: 1}
}

// TestStepsStartReconnected: before a ramp's next step, the connections
// the server closed and those whose sender gave up (which the server may
// go on refusing) log in again, and the step gets every message through
// them; the load generator's own closes are not counted as the server's.
func TestStepsStartReconnected(t *testing.T) {
	_, cfg := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cfg.defaults(); err != nil {
		t.Fatal(err)
	}
	s, cur, closed, done, err := connectPairs(ctx, cfg, 10)
	if err != nil {
		t.Fatal(err)
	}
	defer done()
	first := s.oneToOnePhase(ctx, cur, 1, 100, 300*time.Millisecond, "ramp")
	if first.Sent == 0 || first.Delivered != first.Sent || len(first.Errors) != 0 || first.SendersGaveUp != 0 {
		t.Fatalf("first step: %s, %d senders gave up", StepLine(first), first.SendersGaveUp)
	}
	// Connection 3 ends as if the server had closed it; the sender of
	// connection 6 is taken to have given up.
	old3, old6 := s.conns[3], s.conns[6]
	old3.Close()
	select {
	case <-s.readers[3].ended:
	case <-ctx.Done():
		t.Fatal("connection 3's reader did not end")
	}
	s.gaveUp = []int{6}
	n, err := s.restore(ctx)
	if err != nil || n != 2 {
		t.Fatalf("restore = %d, %v; want 2 connections", n, err)
	}
	if s.conns[3] == old3 || s.conns[6] == old6 || s.ended(3) || s.ended(6) {
		t.Fatal("connections 3 and 6 were not replaced by open ones")
	}
	var closedFirst Result
	closed.take(&closedFirst)
	if closedFirst.ConnsClosed != 1 {
		t.Fatalf("%d connections counted as closed by the server, want 1 (the restore's own close is not)", closedFirst.ConnsClosed)
	}
	second := s.oneToOnePhase(ctx, cur, 2, 100, 300*time.Millisecond, "ramp")
	closed.take(&second)
	if second.Sent == 0 || second.Delivered != second.Sent || len(second.Errors) != 0 || second.ConnsClosed != 0 {
		t.Fatalf("second step: %s, %d closed", StepLine(second), second.ConnsClosed)
	}
	if n, err := s.restore(ctx); err != nil || n != 0 {
		t.Fatalf("restore after a clean step = %d, %v", n, err)
	}
}

// TestRefusesConnectionsThatCannotFit: the open-files check comes before
// anything touches the server.
func TestRefusesConnectionsThatCannotFit(t *testing.T) {
	cfg := Config{URLs: []string{"http://127.0.0.1:1"}, AppKey: "k", AppSecret: "s", MaxFiles: 100}
	if _, err := Idle(context.Background(), cfg, IdleConfig{Conns: 1000}); err == nil {
		t.Fatal("1,000 connections fit in 100 open files")
	}
	if _, err := OneToOne(context.Background(), cfg, OneToOneConfig{Users: 3, Rate: 1, Duration: time.Second}); err == nil {
		t.Fatal("an odd number of users was accepted")
	}
}
