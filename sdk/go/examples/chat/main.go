// Command chat is a runnable example of Magpie's Go SDKs. With the server
// SDK it creates two users, alice and bob, and issues their tokens, as an
// app's backend does; with the client SDK it connects a device for each,
// exchanges a few messages both ways, and prints what each side sees: the
// messages with their seq, and the delivery and read receipts.
//
// Usage:
//
//	chat [--url http://127.0.0.1:8080] --app-key KEY --app-secret SECRET [--messages 3]
//
// The app key and secret may also come from MAGPIE_APP_KEY and
// MAGPIE_APP_SECRET, the URL from MAGPIE_URL. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}

type config struct {
	url, appKey, appSecret string
	messages               int
	interval               time.Duration
	timeout                time.Duration
}

func parseConfig(args []string) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("chat", flag.ContinueOnError)
	fs.StringVar(&cfg.url, "url", envOr("MAGPIE_URL", "http://127.0.0.1:8080"), "server base URL (env MAGPIE_URL)")
	fs.StringVar(&cfg.appKey, "app-key", os.Getenv("MAGPIE_APP_KEY"), "app key (env MAGPIE_APP_KEY)")
	fs.StringVar(&cfg.appSecret, "app-secret", os.Getenv("MAGPIE_APP_SECRET"), "app secret (env MAGPIE_APP_SECRET)")
	fs.IntVar(&cfg.messages, "messages", 3, "messages each user sends")
	fs.DurationVar(&cfg.interval, "interval", 0, "pause between rounds, to stretch the conversation (try 1s and restart the server meanwhile)")
	fs.DurationVar(&cfg.timeout, "timeout", 0, "how long the whole exchange may take (default: 30s plus twice the rounds' pauses)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.timeout == 0 {
		cfg.timeout = 30*time.Second + 2*time.Duration(cfg.messages)*cfg.interval
	}
	switch {
	case cfg.appKey == "" || cfg.appSecret == "":
		return cfg, errors.New("--app-key and --app-secret (or MAGPIE_APP_KEY and MAGPIE_APP_SECRET) are required")
	case cfg.messages < 1:
		return cfg, errors.New("--messages must be at least 1")
	}
	return cfg, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg, err := parseConfig(args)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	api, err := serverapi.New(cfg.url, cfg.appKey, cfg.appSecret)
	if err != nil {
		return err
	}
	for _, id := range []string{"alice", "bob"} {
		if err := ensureUser(ctx, api, id); err != nil {
			return err
		}
	}
	alice, err := newClient(cfg.url, api, "alice")
	if err != nil {
		return err
	}
	bob, err := newClient(cfg.url, api, "bob")
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait() // deferred first, so it runs after the Closes
	for _, c := range []*client.Client{alice, bob} {
		wg.Go(func() { _ = c.Run(ctx) }) // a terminal error shows up as a Disconnected event
		defer func() { _ = c.Close() }()
	}
	// A mobile app would also register the device for offline push
	// notifications here, with the token APNs or FCM gave it, and again on
	// every new token; the client sends it again after each reconnect, and
	// Logout (not Close) removes it:
	//
	//	err := alice.RegisterDevice(ctx, client.Device{Platform: "ios", Provider: "apns", Token: apnsToken})
	return chat(ctx, out, cfg.messages, cfg.interval, alice, bob)
}

// ensureUser creates a user, unless it exists.
func ensureUser(ctx context.Context, api *serverapi.Client, id string) error {
	_, err := api.CreateUser(ctx, serverapi.UserInput{ID: id, Name: id})
	var apiErr *serverapi.Error
	if errors.As(err, &apiErr) && apiErr.Code == "user_exists" {
		return nil
	}
	if err != nil {
		return fmt.Errorf("create user %s: %w", id, err)
	}
	return nil
}

// newClient returns a client for user whose tokens come from the server
// API; a real app would ask its own backend instead.
func newClient(url string, api *serverapi.Client, user string) (*client.Client, error) {
	return client.New(client.Config{
		URL:      url,
		DeviceID: "chat-example-" + user,
		TokenProvider: func(ctx context.Context) (string, error) {
			tok, err := api.IssueToken(ctx, user, time.Hour)
			return tok.Token, err
		},
	})
}

// side is one user's client and what it has seen.
type side struct {
	name string
	c    *client.Client
	out  io.Writer
}

func chat(ctx context.Context, out io.Writer, n int, interval time.Duration, alice, bob *client.Client) error {
	a, b := &side{"alice", alice, out}, &side{"bob", bob, out}
	for _, s := range []*side{a, b} {
		if err := s.waitConnected(ctx); err != nil {
			return err
		}
	}
	sent := make(map[string]bool) // client msg ids of this run
	var last client.SendResult
	send := func(from *side, to, text string) error {
		res, err := from.c.Send(ctx, to, "text", text)
		if err != nil {
			return fmt.Errorf("%s sends: %w", from.name, err)
		}
		sent[res.ClientMsgID], last = true, res
		fmt.Fprintf(out, "%-5s -> %-5s seq=%-3d %q (stored at %s)\n", from.name, to, res.Seq, text, res.SentAt.Format(time.TimeOnly))
		return nil
	}
	for i := 1; i <= n; i++ {
		if i > 1 && interval > 0 {
			select { // pacing for people watching, not synchronisation
			case <-time.After(interval):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := send(a, "bob", fmt.Sprintf("hello bob, this is message %d", i)); err != nil {
			return err
		}
		if err := send(b, "alice", fmt.Sprintf("hello alice, this is reply %d", i)); err != nil {
			return err
		}
	}
	// Sending moves the sender's own read cursor, so bob's read receipt
	// must be for a message he did not send: alice has the last word.
	if err := send(a, "bob", "bye"); err != nil {
		return err
	}
	for _, s := range []*side{a, b} {
		if err := s.readMessages(ctx, sent); err != nil {
			return err
		}
	}
	if err := bob.MarkRead(ctx, last.ConvID, last.Seq); err != nil {
		return fmt.Errorf("bob marks read: %w", err)
	}
	fmt.Fprintf(out, "[bob] marked read up to seq %d\n", last.Seq)
	return a.waitReceipt(ctx, client.ReceiptRead, "bob", last.Seq)
}

func (s *side) waitConnected(ctx context.Context) error {
	for {
		ev, err := s.c.Next(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		switch ev := ev.(type) {
		case client.Connected:
			fmt.Fprintf(s.out, "[%s] connected as %s (session %s)\n", s.name, ev.Session.UserID, ev.Session.SessionID)
			return nil
		case client.Disconnected:
			if !ev.WillRetry {
				return fmt.Errorf("%s: %w", s.name, ev.Err)
			}
			fmt.Fprintf(s.out, "[%s] connection failed, retrying in %s: %v\n", s.name, ev.RetryIn.Round(time.Millisecond), ev.Err)
		}
	}
}

// readMessages prints events until every message of this run has arrived;
// messages of earlier runs are counted, not printed.
func (s *side) readMessages(ctx context.Context, sent map[string]bool) error {
	missing, earlier := len(sent), 0
	for missing > 0 {
		ev, err := s.c.Next(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		m, ok := ev.(client.Message)
		if !ok {
			s.print(ev)
			continue
		}
		if !sent[m.ClientMsgID] {
			earlier++
			continue
		}
		missing--
		s.print(m)
	}
	if earlier > 0 {
		fmt.Fprintf(s.out, "[%s] (and %d messages of earlier runs)\n", s.name, earlier)
	}
	return nil
}

// waitReceipt prints events until a receipt of kind by user covers seq.
func (s *side) waitReceipt(ctx context.Context, kind client.ReceiptKind, user string, seq int64) error {
	for {
		ev, err := s.c.Next(ctx)
		if err != nil {
			return fmt.Errorf("%s: waiting for the %s receipt: %w", s.name, kind, err)
		}
		if _, ok := ev.(client.Message); ok {
			continue
		}
		s.print(ev)
		if r, ok := ev.(client.Receipt); ok && r.Kind == kind && r.UserID == user && r.Seq >= seq {
			return nil
		}
	}
}

func (s *side) print(ev client.Event) {
	switch ev := ev.(type) {
	case client.Message:
		own := ""
		if ev.Own {
			own = " (own)"
		}
		fmt.Fprintf(s.out, "[%s] %s seq=%-3d from %s%s: %q\n", s.name, ev.ConvID, ev.Seq, ev.SenderID, own, ev.Content)
	case client.Receipt:
		fmt.Fprintf(s.out, "[%s] receipt: %s by %s up to seq %d\n", s.name, ev.Kind, ev.UserID, ev.Seq)
	case client.Disconnected:
		fmt.Fprintf(s.out, "[%s] disconnected (retry %v): %v\n", s.name, ev.WillRetry, ev.Err)
	case client.Connected:
		fmt.Fprintf(s.out, "[%s] reconnected (session %s)\n", s.name, ev.Session.SessionID)
	}
}
