package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/magpie-im/magpie/internal/probe"
)

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg probe.Config
	var verbose bool
	fs := newFlagSet("probe", "Run a synthetic end-to-end check against a running installation: create two\n"+
		"probe users, connect both with the Go SDK, exchange messages both ways, take one\n"+
		"offline and back, and verify every message arrived exactly once, in order, with\n"+
		"receipts (--scenario chat, the default). --scenario push checks offline push instead;\n"+
		"--scenario webhook checks signed webhooks and the pre-send hook (it reads the console\n"+
		"password from MAGPIE_CONSOLE_PASSWORD); --scenario group checks a group chat's fan-out\n"+
		"to --members connected members.\n"+
		"Prints one summary line; exits 0 only when everything held.", stderr)
	var urls []string
	fs.Func("url", "base URL of the installation (default http://127.0.0.1:8080); given more than once (cluster mode), the probe's users connect to the gateways in turn", func(v string) error {
		urls = append(urls, v)
		return nil
	})
	fs.StringVar(&cfg.AppKey, "app-key", "", "app key of the app to probe (required)")
	fs.StringVar(&cfg.AppSecret, "app-secret", "", "app secret of the app to probe (required)")
	fs.IntVar(&cfg.Messages, "messages", 0, "chat: messages each user sends while both are online (0: 20); push: messages sent (0: 5); group: messages each sender sends (0: 20)")
	fs.IntVar(&cfg.Members, "members", probe.DefaultGroupMembers, fmt.Sprintf("group scenario: members of the probe's group, %d to %d, each connected with its own WebSocket (mind the open files limit)", probe.MinGroupMembers, probe.MaxGroupMembers))
	fs.IntVar(&cfg.Senders, "senders", 0, "group scenario: members who send --messages each, at once (0: the first 5, or all of a smaller group)")
	connectRate := fs.Float64("connect-rate", probe.DefaultConnectRate, "group scenario: members connected per second, under a gateway's login limit for one address (50/s); 0 connects all at once, for a gateway that lists the probe's address in --unlimited-addresses")
	fs.DurationVar(&cfg.Timeout, "timeout", 0, "deadline for the whole probe (0: 1m, plus, for the group scenario, the time its members take to connect at --connect-rate)")
	fs.BoolVar(&verbose, "v", false, "log the SDK's progress to stderr")
	fs.StringVar(&cfg.Scenario, "scenario", probe.ScenarioChat, `"chat": two users exchange messages, one going offline and back; "push": a user who never connects gets --messages (default 5) messages, each pushed exactly once to its registered device, or recorded in the app's outbox with the right badge; "webhook": a receiver on a loopback port gets signed message.created events, and the pre-send hook rejects and modifies messages (needs --console-email, --app-id and MAGPIE_CONSOLE_PASSWORD); "group": a group of --members probe users, all connected (over the --url gateways in turn), where --senders members send --messages each at once, and every member must get every message exactly once, in seq order; the group and its users are deleted afterwards`)
	fs.StringVar(&cfg.PushDevice.Provider, "push-provider", "", "push scenario: the device's provider, apns or fcm; empty registers an FCM device with a made-up token (right for an app without credentials, or provider stand-ins)")
	fs.StringVar(&cfg.PushDevice.Platform, "push-platform", "", "push scenario: the device's platform, ios, android or web")
	fs.StringVar(&cfg.PushDevice.Token, "push-token", "", "push scenario: a real device's token, for an app with real credentials")
	fs.StringVar(&cfg.PushDevice.Topic, "push-topic", "", "push scenario: the APNs topic (bundle id); empty means the credential's")
	fs.StringVar(&cfg.PushDevice.Environment, "push-environment", "", "push scenario: the APNs environment, sandbox or production")
	fs.StringVar(&cfg.Console.Email, "console-email", "", "webhook scenario: a console member's email (an admin of the app's tenant, or an operator)")
	fs.StringVar(&cfg.Console.AppID, "app-id", "", "webhook scenario: the app's id")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg.ConnectRate = *connectRate
	if cfg.ConnectRate <= 0 {
		cfg.ConnectRate = -1 // all at once
	}
	cfg.Console.Password = os.Getenv("MAGPIE_CONSOLE_PASSWORD")
	if cfg.AppKey == "" || cfg.AppSecret == "" {
		return errors.New("probe: --app-key and --app-secret are required")
	}
	switch {
	case len(urls) == 0:
		cfg.URL = "http://127.0.0.1:8080"
	default:
		cfg.URL, cfg.MoreURLs = urls[0], urls[1:]
	}
	if verbose {
		cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	res, err := probe.Run(ctx, cfg)
	if err != nil && res.Sent == 0 {
		return err
	}
	fmt.Fprintln(stdout, res)
	if !res.OK() {
		return errors.New("probe failed")
	}
	return err
}
