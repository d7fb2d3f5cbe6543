package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

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
		"password from MAGPIE_CONSOLE_PASSWORD).\n"+
		"Prints one summary line; exits 0 only when everything held.", stderr)
	var urls []string
	fs.Func("url", "base URL of the installation (default http://127.0.0.1:8080); given more than once (cluster mode), the probe's users connect to the gateways in turn", func(v string) error {
		urls = append(urls, v)
		return nil
	})
	fs.StringVar(&cfg.AppKey, "app-key", "", "app key of the app to probe (required)")
	fs.StringVar(&cfg.AppSecret, "app-secret", "", "app secret of the app to probe (required)")
	fs.IntVar(&cfg.Messages, "messages", 0, "chat: messages each user sends while both are online (0: 20); push: messages sent (0: 5)")
	fs.DurationVar(&cfg.Timeout, "timeout", time.Minute, "deadline for the whole probe")
	fs.BoolVar(&verbose, "v", false, "log the SDK's progress to stderr")
	fs.StringVar(&cfg.Scenario, "scenario", probe.ScenarioChat, `"chat": two users exchange messages, one going offline and back; "push": a user who never connects gets --messages (default 5) messages, each pushed exactly once to its registered device, or recorded in the app's outbox with the right badge; "webhook": a receiver on a loopback port gets signed message.created events, and the pre-send hook rejects and modifies messages (needs --console-email, --app-id and MAGPIE_CONSOLE_PASSWORD)`)
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
