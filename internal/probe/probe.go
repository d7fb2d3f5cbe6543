// Package probe is a synthetic end-to-end check of a Magpie installation,
// run by `magpie probe`. Its chat scenario creates two users through the server API,
// connects both with the Go client SDK, exchanges messages both ways, takes
// one user offline and back, and verifies that every message arrived exactly
// once, in order, with delivery and stored receipts. On-call engineers run
// it as a canary; it exits non-zero when anything did not hold. Its push
// scenario checks offline push: one notification per message, pushed to a
// registered device (or recorded in the outbox) exactly once. Its webhook
// scenario checks signed post events and the pre-send hook. Its group
// scenario checks a group chat's fan-out: every member gets every message
// exactly once, in seq order.
package probe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

// Config configures a probe run.
type Config struct {
	// URL is the installation's base URL. Required.
	URL string
	// MoreURLs are the base URLs of other gateways of the same
	// installation (cluster mode). The probe's clients connect to URL and
	// these in turn, one connection each, so that users on different
	// gateways exchange messages; the server API goes to URL. Empty means
	// every client connects to URL.
	MoreURLs []string
	// AppKey and AppSecret sign the server API calls. Required.
	AppKey, AppSecret string
	// Messages is how many messages each user sends in the online phase;
	// the offline phase sends a quarter as many (at least 3). Zero means 20.
	// The group scenario: how many each sender sends (zero: 20).
	Messages int
	// Members is the size of the group scenario's group, from
	// MinGroupMembers to MaxGroupMembers. Zero means DefaultGroupMembers.
	Members int
	// Senders is how many of the group's members send, at once. Zero
	// means min(Members, 5); at most Members.
	Senders int
	// ConnectRate is how many members per second the group scenario
	// connects. Zero means DefaultConnectRate; negative means all at once.
	ConnectRate float64
	// Timeout bounds the whole run. Zero means 60 * time.Second, to which
	// the group scenario adds the time its members take to connect at
	// ConnectRate.
	Timeout time.Duration
	// Logger receives progress logs. Nil discards them.
	Logger *slog.Logger
	// Scenario is ScenarioChat (the default, empty), ScenarioPush,
	// ScenarioWebhook or ScenarioGroup. The push scenario sends Messages
	// messages (zero: 5), one at a time.
	Scenario string
	// PushDevice is the device the push scenario registers; see
	// PushDevice for the zero value.
	PushDevice PushDevice
	// Console configures the app through the management API: the
	// webhook scenario needs it.
	Console Console

	// drop, when set, discards received messages it returns true for
	// before the probe checks them; tests use it to prove that the probe
	// notices a lost message.
	drop func(user string, m client.Message) bool
}

// Result is what a probe run observed.
type Result struct {
	Sent       int           // messages sent and acknowledged
	Received   int           // messages received by their recipients
	Duplicates int           // messages received more than once
	Reordered  int           // messages received after a later one
	Missing    int           // acknowledged messages never received
	Delivered  bool          // every sender got a DELIVERED receipt for its last message
	Stored     bool          // the sender got a STORED receipt while its peer was offline
	P50, P99   time.Duration // send-to-receive latency of the online phase
	Failures   []string      // what did not hold, in words
	// Push is set by the push scenario: Received then counts messages
	// pushed exactly once, and P50 and P99 are send-to-push times.
	Push bool
	// Webhook is set by the webhook scenario: Received then counts
	// message.created deliveries that verified and held the expected
	// content, and P50 and P99 are send-to-delivery times.
	Webhook bool
	// Group is set by the group scenario: Received then counts deliveries
	// (a member got a message, once, in order), Missing, Duplicates and
	// Reordered count deliveries too, and P50 and P99 are send-to-receive
	// times of the members who did not send the message.
	Group            bool
	Members, Senders int           // the group's size and how many of its members sent
	Setup            time.Duration // users, group and connections
	Duration         time.Duration // from the first send until every member had every message
}

// OK reports whether everything held.
func (r Result) OK() bool { return len(r.Failures) == 0 }

// String is the one-line summary `magpie probe` prints.
func (r Result) String() string {
	status := "ok"
	if !r.OK() {
		status = "FAILED"
	}
	s := fmt.Sprintf("probe %s sent=%d received=%d duplicates=%d reordered=%d missing=%d delivered_receipts=%t stored_receipts=%t p50=%s p99=%s",
		status, r.Sent, r.Received, r.Duplicates, r.Reordered, r.Missing, r.Delivered, r.Stored,
		r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond))
	if r.Push {
		s = fmt.Sprintf("probe push %s sent=%d pushed=%d duplicates=%d missing=%d p50=%s p99=%s",
			status, r.Sent, r.Received, r.Duplicates, r.Missing, r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond))
	}
	if r.Group {
		s = fmt.Sprintf("probe group %s members=%d senders=%d sent=%d deliveries=%d duplicates=%d reordered=%d missing=%d setup=%s duration=%s p50=%s p99=%s",
			status, r.Members, r.Senders, r.Sent, r.Received, r.Duplicates, r.Reordered, r.Missing,
			r.Setup.Round(time.Millisecond), r.Duration.Round(time.Millisecond), r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond))
	}
	if r.Webhook {
		s = fmt.Sprintf("probe webhook %s sent=%d delivered=%d missing=%d p50=%s p99=%s",
			status, r.Sent, r.Received, r.Missing, r.P50.Round(10*time.Microsecond), r.P99.Round(10*time.Microsecond))
	}
	if !r.OK() {
		s += " failures=" + fmt.Sprintf("%q", strings.Join(r.Failures, "; "))
	}
	return s
}

func (r *Result) failf(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

// Run runs the probe. It returns an error when the probe could not run at
// all (bad credentials, server unreachable); otherwise the Result says what
// held.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if cfg.URL == "" || cfg.AppKey == "" || cfg.AppSecret == "" {
		return Result{}, errors.New("probe: URL, app key and app secret are required")
	}
	if cfg.Messages <= 0 {
		cfg.Messages = 20
		if cfg.Scenario == ScenarioPush {
			cfg.Messages = 5
		}
	}
	if cfg.Scenario == ScenarioGroup {
		if cfg.Members == 0 {
			cfg.Members = DefaultGroupMembers
		}
		if cfg.Members < MinGroupMembers || cfg.Members > MaxGroupMembers {
			return Result{}, fmt.Errorf("probe: %d group members: want %d to %d", cfg.Members, MinGroupMembers, MaxGroupMembers)
		}
		if cfg.Senders == 0 {
			cfg.Senders = min(cfg.Members, 5)
		}
		if cfg.Senders < 1 || cfg.Senders > cfg.Members {
			return Result{}, fmt.Errorf("probe: %d group senders: want 1 to the %d members", cfg.Senders, cfg.Members)
		}
		if cfg.ConnectRate == 0 {
			cfg.ConnectRate = DefaultConnectRate
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
		if cfg.Scenario == ScenarioGroup && cfg.ConnectRate > 0 {
			cfg.Timeout += time.Duration(float64(cfg.Members) / cfg.ConnectRate * float64(time.Second))
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.Timeout, errors.New("probe timed out"))
	defer cancel()
	api, err := serverapi.New(cfg.URL, cfg.AppKey, cfg.AppSecret)
	if err != nil {
		return Result{}, err
	}
	run := &runner{cfg: cfg, api: api, prefix: "probe-" + randomHex(4)}
	switch cfg.Scenario {
	case "", ScenarioChat:
		return run.run(ctx)
	case ScenarioPush:
		return run.push(ctx, cfg.Messages)
	case ScenarioWebhook:
		return run.webhook(ctx)
	case ScenarioGroup:
		return run.group(ctx)
	}
	return Result{}, fmt.Errorf("probe: unknown scenario %q: want %q, %q, %q or %q", cfg.Scenario, ScenarioChat, ScenarioPush, ScenarioWebhook, ScenarioGroup)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

type runner struct {
	cfg    Config
	conns  int // connections made, to spread them over the gateways
	api    *serverapi.Client
	prefix string
	res    Result
	lat    []time.Duration
	// failures counts the group scenario's failures, listed or not.
	failures int
}

func (r *runner) run(ctx context.Context) (Result, error) {
	a, b := r.prefix+"-a", r.prefix+"-b"
	for _, u := range []string{a, b} {
		if _, err := r.api.CreateUser(ctx, serverapi.UserInput{ID: u, Name: "Magpie probe"}); err != nil {
			return Result{}, fmt.Errorf("probe: create user %s: %w", u, err)
		}
	}
	sa, err := r.connect(ctx, a, client.NewMemoryStore())
	if err != nil {
		return Result{}, err
	}
	defer sa.stop()
	bStore := client.NewMemoryStore()
	sb, err := r.connect(ctx, b, bStore)
	if err != nil {
		return Result{}, err
	}
	if err := r.online(ctx, sa, sb); err != nil {
		sb.stop()
		return r.finish(), err
	}
	sb.stop()
	err = r.offline(ctx, sa, b, bStore)
	return r.finish(), err
}

func (r *runner) finish() Result {
	if len(r.lat) > 0 {
		slices.Sort(r.lat)
		r.res.P50 = r.lat[len(r.lat)/2]
		r.res.P99 = r.lat[min(len(r.lat)-1, len(r.lat)*99/100)]
	}
	return r.res
}

// online has both users send to each other at once, then checks what each
// received.
func (r *runner) online(ctx context.Context, sa, sb *side) error {
	n := r.cfg.Messages
	errs := make(chan error, 2)
	var sentA, sentB []sent
	go func() { var err error; sentA, err = r.sendAll(ctx, sa, sb.user, "online", n); errs <- err }()
	go func() { var err error; sentB, err = r.sendAll(ctx, sb, sa.user, "online", n); errs <- err }()
	err := errors.Join(<-errs, <-errs) // wait for both senders
	r.res.Sent += len(sentA) + len(sentB)
	if err != nil {
		return err
	}
	for _, p := range []struct {
		from, to *side
		sent     []sent
	}{{sa, sb, sentA}, {sb, sa, sentB}} {
		if err := r.check(ctx, p.from, p.to, p.sent, true); err != nil {
			return err
		}
	}
	r.res.Delivered = true
	return nil
}

// offline sends to a user with no device online, expects a STORED receipt,
// then brings the user back and checks it gets everything.
func (r *runner) offline(ctx context.Context, sa *side, b string, bStore client.Store) error {
	k := max(r.cfg.Messages/4, 3)
	sent, err := r.sendAll(ctx, sa, b, "offline", k)
	r.res.Sent += len(sent)
	if err != nil {
		return err
	}
	last := sent[len(sent)-1].seq
	if !sa.waitReceipt(ctx, client.ReceiptStored, last) {
		r.res.failf("no STORED receipt for seq %d while %s was offline", last, b)
		return context.Cause(ctx)
	}
	r.res.Stored = true
	sb, err := r.connect(ctx, b, bStore)
	if err != nil {
		return err
	}
	defer sb.stop()
	return r.check(ctx, sa, sb, sent, false)
}

type sent struct {
	content string
	conv    string
	seq     int64
	at      time.Time
}

// sendAll sends n messages in order and returns them once acknowledged.
func (r *runner) sendAll(ctx context.Context, from *side, to, phase string, n int) ([]sent, error) {
	out := make([]sent, 0, n)
	for i := range n {
		content := fmt.Sprintf("%s %s %s %d", r.prefix, from.user, phase, i)
		at := time.Now()
		res, err := from.c.Send(ctx, to, "text", content)
		if err != nil {
			return out, fmt.Errorf("probe: %s send %d: %w", from.user, i, err)
		}
		out = append(out, sent{content: content, conv: res.ConvID, seq: res.Seq, at: at})
	}
	return out, nil
}

// check waits until the sender holds a DELIVERED receipt for its last
// message (the recipient's SDK reports delivery only for messages its app
// has taken) and the recipient's collector has processed that message, then
// compares what the recipient received with what was sent.
func (r *runner) check(ctx context.Context, from, to *side, msgs []sent, latency bool) error {
	last := msgs[len(msgs)-1]
	if !from.waitReceipt(ctx, client.ReceiptDelivered, last.seq) {
		r.res.failf("%s got no DELIVERED receipt for seq %d", from.user, last.seq)
		r.compare(from, to, msgs, false)
		return context.Cause(ctx)
	}
	if !to.waitTaken(ctx, last.conv, last.seq) {
		r.res.failf("%s never took seq %d of %s from its SDK", to.user, last.seq, last.conv)
		r.compare(from, to, msgs, false)
		return context.Cause(ctx)
	}
	r.compare(from, to, msgs, latency)
	return nil
}

func (r *runner) compare(from, to *side, msgs []sent, latency bool) {
	got := to.received(from.user)
	count := make(map[string]int)
	pos := make(map[string]int)
	for i, m := range got {
		count[m.content]++
		if _, ok := pos[m.content]; !ok {
			pos[m.content] = i
		}
	}
	prev := -1
	for _, s := range msgs {
		switch c := count[s.content]; {
		case c == 0:
			r.res.Missing++
			r.res.failf("%s never received %q (seq %d)", to.user, s.content, s.seq)
			continue
		case c > 1:
			r.res.Duplicates += c - 1
			r.res.failf("%s received %q %d times", to.user, s.content, c)
		}
		r.res.Received++
		if pos[s.content] < prev {
			r.res.Reordered++
			r.res.failf("%s received %q out of order", to.user, s.content)
		}
		prev = pos[s.content]
		if latency {
			r.lat = append(r.lat, got[pos[s.content]].at.Sub(s.at))
		}
	}
}

// nextURL returns the gateway for the next connection: URL and MoreURLs in
// turn.
func (r *runner) nextURL() string {
	urls := append([]string{r.cfg.URL}, r.cfg.MoreURLs...)
	u := urls[r.conns%len(urls)]
	r.conns++
	return u
}
