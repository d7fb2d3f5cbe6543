package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/magpie-im/magpie/internal/loadgen"
)

// benchScenarios are the scenarios of magpie bench.
var benchScenarios = []string{"one-to-one", "group", "idle", "ramp"}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	scenario := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		scenario, args = args[0], args[1:]
	}
	fs := newFlagSet("bench", "Generate load against a running installation and measure it: raw protocol clients\n"+
		"log in over WebSockets, send on fixed schedules with random phases (catching up when late,\n"+
		"so overload shows as latency), acknowledge deliveries as the SDK does, and account for every\n"+
		"message. Scenarios (magpie bench <scenario> or --scenario):\n"+
		"  one-to-one  --users in pairs, each sending to its partner, --rate msgs/s in all, for --duration\n"+
		"  group       one group of --members, all online; --senders of them send --rate msgs/s in all\n"+
		"  idle        --conns authenticated idle connections opened at --connect-rate; RSS per connection\n"+
		"  ramp        one-to-one at --from, --from+--step, ... --to msgs/s, --step-duration each; the highest that held\n"+
		"              (each step starts with the connections the server closed or still refused logged in again)\n"+
		"A run holds when every message was delivered once and in order, at least 98% of the offered\n"+
		"rate was delivered, p99 stayed under 1 s and no send was refused; the exit status is 1 otherwise.\n"+
		"Progress goes to stderr every second; the summary to stdout (--json: one JSON object).", stderr)
	var cfg loadgen.Config
	fs.StringVar(&scenario, "scenario", scenario, "one-to-one, group, idle or ramp (or give it as the first argument)")
	fs.Func("url", "base URL of a gateway (default http://127.0.0.1:8080); repeat it to spread the users over gateways", func(v string) error {
		cfg.URLs = append(cfg.URLs, v)
		return nil
	})
	fs.StringVar(&cfg.AppKey, "app-key", "", "app key (required)")
	fs.StringVar(&cfg.AppSecret, "app-secret", "", "app secret (required; tokens are minted locally with it)")
	users := fs.Int("users", 1000, "one-to-one, ramp: users, an even number (each a connection)")
	rate := fs.Float64("rate", 2000, "one-to-one, group: messages per second in all")
	duration := fs.Duration("duration", 20*time.Second, "one-to-one, group: how long the schedule runs")
	fs.IntVar(&cfg.Size, "size", 100, "message content size in bytes")
	members := fs.Int("members", 1000, "group: members, all connected")
	senders := fs.Int("senders", 4, "group: members who send")
	conns := fs.Int("conns", 5000, "idle: connections")
	perUser := fs.Int("per-user", 5, "idle: connections (devices) per user, within the app's max_devices_per_user")
	hold := fs.Duration("hold", 5*time.Second, "idle: how long the connections stay open before the server's RSS is read")
	from := fs.Float64("from", 2000, "ramp: first rate, msgs/s")
	step := fs.Float64("step", 2000, "ramp: rate increment, msgs/s")
	to := fs.Float64("to", 30000, "ramp: last rate, msgs/s")
	stepDuration := fs.Duration("step-duration", 10*time.Second, "ramp: duration of each step")
	keepGoing := fs.Bool("keep-going", false, "ramp: run every step even after one failed")
	fs.Float64Var(&cfg.ConnectRate, "connect-rate", 500, "logins per second in all: a gateway allows 50/s per client address unless it lists the address in --unlimited-addresses, and the app's conn_rate (200/s by default) in all")
	fs.IntVar(&cfg.LoginConcurrency, "login-concurrency", 64, "logins in flight at most (dialed, not yet answered): with logins taking L seconds, the tool cannot exceed this/L logins per second")
	fs.BoolVar(&cfg.FrameLogin, "frame-login", false, "log in with a Login frame after the upgrade, as browsers do, instead of in the upgrade request's headers, as the Go SDK does")
	fs.IntVar(&cfg.SourceAddrs, "source-addrs", 4, "loopback source addresses (127.0.0.2, ...) client sockets spread over when the server is on loopback")
	fs.IntVar(&cfg.Window, "window", 32, "sends a connection keeps in flight at most (written, not yet answered), as the SDK's send window; -1 for no limit")
	fs.DurationVar(&cfg.Cutoff, "cutoff", 5*time.Second, "how long after the schedule's end a message may arrive before it counts as lost")
	fs.IntVar(&cfg.ServerPID, "server-pid", 0, "the server's process id, on this machine: report its CPU (/proc/PID/stat) and RSS (/proc/PID/status)")
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	cpuProfile := fs.String("cpu-profile", "", "write a CPU profile of this process (the load generator, not the server) for the whole run to this file")
	raise := fs.Bool("raise-limits", false, "first lift the app's limits (conn_rate, devices per user, send and API rates) through the management API with --operator-email and --operator-password")
	opEmail := fs.String("operator-email", "", "with --raise-limits: an operator's email")
	opPassword := fs.String("operator-password", "", "with --raise-limits or --presend-hook-latency: the operator's password (better from $MAGPIE_OPERATOR_PASSWORD)")
	hookDelay := fs.Duration("presend-hook-latency", 0, "run a pre-send hook in this process, on a loopback port, that answers every message allow after this delay, registered as the app's pre-send hook for the run (with --operator-email and --operator-password; the server must allow loopback hooks, as magpie dev does); 0 for none")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 { // the scenario after some flags: parse the flags after it too
		if scenario != "" && scenario != fs.Arg(0) {
			return fmt.Errorf("bench: two scenarios, %q and %q", scenario, fs.Arg(0))
		}
		scenario = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return fmt.Errorf("bench: unexpected arguments %q", fs.Args())
		}
	}
	if len(cfg.URLs) == 0 {
		cfg.URLs = []string{"http://127.0.0.1:8080"}
	}
	if cfg.AppKey == "" || cfg.AppSecret == "" {
		return errors.New("bench: --app-key and --app-secret are required")
	}
	cfg.Progress = stderr
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer stop()
	}
	if *raise {
		if *opEmail == "" || *opPassword == "" {
			return errors.New("bench: --raise-limits needs --operator-email and --operator-password")
		}
		if err := loadgen.RaiseLimits(ctx, cfg.URLs[0], *opEmail, *opPassword, cfg.AppKey); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	var hook *loadgen.PresendHook
	if *hookDelay > 0 {
		if *opEmail == "" || *opPassword == "" {
			return errors.New("bench: --presend-hook-latency needs --operator-email and --operator-password")
		}
		var err error
		if hook, err = loadgen.StartPresendHook(ctx, cfg.URLs[0], *opEmail, *opPassword, cfg.AppKey, *hookDelay); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer func() { _ = hook.Close(context.WithoutCancel(ctx)) }()
	}
	var res loadgen.Result
	var err error
	switch scenario {
	case "one-to-one":
		res, err = loadgen.OneToOne(ctx, cfg, loadgen.OneToOneConfig{Users: *users, Rate: *rate, Duration: *duration})
	case "group":
		res, err = loadgen.Group(ctx, cfg, loadgen.GroupConfig{Members: *members, Senders: *senders, Rate: *rate, Duration: *duration})
	case "idle":
		res, err = loadgen.Idle(ctx, cfg, loadgen.IdleConfig{Conns: *conns, PerUser: *perUser, Hold: *hold})
	case "ramp":
		res, err = loadgen.Ramp(ctx, cfg, loadgen.RampConfig{Users: *users, From: *from, Step: *step, To: *to,
			StepDuration: *stepDuration, KeepGoing: *keepGoing})
	case "":
		fs.Usage()
		return fmt.Errorf("bench: name a scenario: %s", strings.Join(benchScenarios, ", "))
	default:
		return fmt.Errorf("bench: unknown scenario %q (want %s)", scenario, strings.Join(benchScenarios, ", "))
	}
	if err != nil && res.Scenario == "" {
		return fmt.Errorf("bench: %w", err)
	}
	if hook != nil {
		res.PresendHookMs, res.HookCalls = float64(hookDelay.Microseconds())/1000, hook.Calls()
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		printBench(stdout, res)
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if !res.Held {
		return errors.New("bench: the run did not hold")
	}
	return nil
}

// startCPUProfile profiles this process's CPU into path until stop is
// called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// printBench prints a result as text.
func printBench(w io.Writer, r loadgen.Result) {
	fmt.Fprintf(w, "scenario     %s against %s\n", r.Scenario, strings.Join(r.URLs, ", "))
	if r.Conns > 0 {
		fmt.Fprintf(w, "connections  %d of %d logged in at %.0f/s (login p50 %.1f ms, p99 %.1f ms) from %d source addresses",
			r.Connected, r.Conns, r.ConnectRatePerS, r.LoginP50Ms, r.LoginP99Ms, r.SourceAddrs)
		if r.ConnectLoadGenCPUUsPerLogin > 0 {
			fmt.Fprintf(w, "; CPU per login: load generator %.0f µs", r.ConnectLoadGenCPUUsPerLogin)
			if r.ConnectServerCPUUsPerLogin > 0 {
				fmt.Fprintf(w, ", server %.0f µs", r.ConnectServerCPUUsPerLogin)
			}
		}
		if len(r.LoginRefusals) > 0 {
			fmt.Fprintf(w, "; refused/failed attempts: %s", loadgen.ErrorText(r.LoginRefusals))
		}
		fmt.Fprintln(w)
	}
	if r.Scenario == "idle" {
		fmt.Fprintf(w, "closed       %d while held (%s)\n", r.ConnsClosed, loadgen.ErrorText(r.ClosedBy))
		if r.RSSAfterKiB > 0 {
			fmt.Fprintf(w, "server RSS   %d KiB before, %d KiB after: %.1f KiB per connection\n", r.RSSBeforeKiB, r.RSSAfterKiB, r.RSSPerConnKiB)
		}
		fmt.Fprintf(w, "outcome      %s\n", map[bool]string{true: "held", false: "FAILED"}[r.Held])
		return
	}
	for _, st := range r.Steps {
		fmt.Fprintf(w, "step %6.0f msgs/s  %s cpu=%.0f%%\n", st.OfferedRate, loadgen.StepLine(st), st.ServerCPUPercent)
	}
	if r.Scenario == "ramp" {
		if r.HeldRate == 0 {
			fmt.Fprintln(w, "outcome      no step held")
			return
		}
		fmt.Fprintf(w, "highest rate that held: %.0f msgs/s; its figures:\n", r.HeldRate)
	}
	fmt.Fprintf(w, "offered      %.0f msgs/s for %.0f s, %d-byte messages", r.OfferedRate, r.DurationS, r.Size)
	if r.Members > 0 {
		fmt.Fprintf(w, ", %d members, %d senders", r.Members, r.Senders)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "messages     sent %d (%.0f/s), refused %d\n", r.Sent, r.SentPerS, r.Refused)
	if r.PresendHookMs > 0 {
		fmt.Fprintf(w, "pre-send     a hook answering after %.1f ms, asked %d times\n", r.PresendHookMs, r.HookCalls)
	}
	fmt.Fprintf(w, "deliveries   expected %d, delivered %d (%.0f/s), lost %d (acknowledged, never delivered), unconfirmed %d (no reply, not delivered), duplicated %d, reordered %d\n",
		r.Expected, r.Delivered, r.RatePerS, r.Lost, r.Unconfirmed, r.Duplicated, r.Reordered)
	fmt.Fprintf(w, "latency      p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, p99.9 %.1f ms, max %.1f ms (send schedule to delivery)\n",
		r.P50Ms, r.P90Ms, r.P99Ms, r.P999Ms, r.MaxMs)
	fmt.Fprintf(w, "send ack     p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", r.AckP50Ms, r.AckP99Ms, r.AckMaxMs)
	fmt.Fprintf(w, "from write   p50 %.1f ms, p99 %.1f ms, max %.1f ms (the send's last write to delivery)\n", r.WriteP50Ms, r.WriteP99Ms, r.WriteMaxMs)
	fmt.Fprintf(w, "errors       %s; overload go-backs %d; acks refused %d; connections closed %d (%s)\n", loadgen.ErrorText(r.Errors), r.GoBacks, r.AcksRefused, r.ConnsClosed, loadgen.ErrorText(r.ClosedBy))
	if r.ServerRSSKiB > 0 {
		fmt.Fprintf(w, "server       CPU %.0f%% of one core, RSS %d KiB\n", r.ServerCPUPercent, r.ServerRSSKiB)
	}
	if r.LoadGenCPUPercent > 0 {
		fmt.Fprintf(w, "load gen     CPU %.0f%% of one core (this process)\n", r.LoadGenCPUPercent)
	}
	fmt.Fprintf(w, "outcome      %s\n", map[bool]string{true: "held", false: "FAILED"}[r.Held])
}
