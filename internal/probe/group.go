package probe

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/sdk/go/signing"
	"golang.org/x/time/rate"
)

// ScenarioGroup creates a group of probe users through the server API,
// connects every member with the Go SDK (over the gateways in turn), has
// several members send at once, and checks that every member got every
// message exactly once, in seq order, with the same seqs as everyone else.
// It dismisses the group and deletes its users afterwards.
const ScenarioGroup = "group"

// Sizes of the group scenario's group.
const (
	MinGroupMembers     = 3
	MaxGroupMembers     = 2000
	DefaultGroupMembers = 20
	// DefaultConnectRate is how many members per second the group
	// scenario connects: under a gateway's default login limit for one
	// client address (50 per second, burst 100), which the probe's
	// members share unless the gateway exempts the probe's address
	// (--unlimited-addresses).
	DefaultConnectRate = 40
)

const (
	importBatch = 100 // users one POST /v1/users:import takes
	memberBatch = 500 // users one group call adds
	maxListed   = 20  // failures listed one by one; the rest are counted
)

// member is one group member's client and what it observed.
type member struct {
	user   string
	c      *client.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	connected bool
	got       []groupMsg // the group's chat messages, in arrival order
	taken     int64      // highest seq of the group's conversation taken from Next, notices and dropped ones included
	changed   chan struct{}
}

type groupMsg struct {
	seq             int64
	sender, content string
	own             bool
	at              time.Time
}

// groupSent is one message a sender sent.
type groupSent struct {
	sender, content string
	at              time.Time
	o               *client.Outgoing
	seq             int64
}

// groupRun is what the group scenario made, for the cleanup.
type groupRun struct {
	api       *signedAPI
	gid       string
	created   []string // the users created
	groupMade bool
	members   []*member // the clients started
}

// group runs the group scenario.
func (r *runner) group(ctx context.Context) (Result, error) {
	r.res.Group, r.res.Members, r.res.Senders = true, r.cfg.Members, r.cfg.Senders
	g := &groupRun{gid: r.prefix + "-group", api: &signedAPI{base: strings.TrimRight(r.cfg.URL, "/"),
		key: r.cfg.AppKey, secret: r.cfg.AppSecret, http: &http.Client{Timeout: 30 * time.Second}}}
	err := r.groupRun(ctx, g)
	r.cleanupGroup(g)
	r.endFailures()
	return r.finish(), err
}

func (r *runner) groupRun(ctx context.Context, g *groupRun) error {
	start := time.Now()
	log := r.cfg.Logger
	users := make([]string, r.cfg.Members)
	for i := range users {
		users[i] = fmt.Sprintf("%s-m%04d", r.prefix, i)
	}
	gid, api, conv := g.gid, g.api, client.GroupConvID(g.gid)
	var err error
	g.created, err = r.importUsers(ctx, users)
	if err != nil {
		return err
	}
	log.Debug("probe: users created", "n", len(g.created))
	first := users[1:min(len(users), memberBatch+1)]
	err = retry429(ctx, func() error {
		return api.do(ctx, http.MethodPost, "/v1/groups", map[string]any{"id": gid, "name": "Magpie probe " + r.prefix,
			"owner_id": users[0], "member_ids": first}, nil)
	})
	if err != nil {
		return fmt.Errorf("probe: create group %s: %w", gid, err)
	}
	g.groupMade = true
	for rest := users[1+len(first):]; len(rest) > 0; {
		batch := rest[:min(len(rest), memberBatch)]
		rest = rest[len(batch):]
		var out struct {
			Added []struct {
				UserID string `json:"user_id"`
			} `json:"added"`
		}
		err := retry429(ctx, func() error {
			return api.do(ctx, http.MethodPost, "/v1/groups/"+url.PathEscape(gid)+"/members", map[string]any{"user_ids": batch}, &out)
		})
		if err != nil {
			return fmt.Errorf("probe: add %d members to group %s: %w", len(batch), gid, err)
		}
		if len(out.Added) != len(batch) {
			return fmt.Errorf("probe: added %d members of %d to group %s", len(out.Added), len(batch), gid)
		}
	}
	log.Debug("probe: group created", "group_id", gid, "members", len(users))

	var pace *rate.Limiter
	if r.cfg.ConnectRate > 0 {
		pace = rate.NewLimiter(rate.Limit(r.cfg.ConnectRate), max(int(r.cfg.ConnectRate), 1))
	}
	for _, u := range users {
		if pace != nil {
			if err := pace.Wait(ctx); err != nil {
				return fmt.Errorf("probe: connect %s: %w", u, err)
			}
		}
		m, err := r.connectMember(ctx, u, conv)
		if err != nil {
			return err
		}
		g.members = append(g.members, m)
	}
	members := g.members
	for _, m := range members {
		if !m.wait(ctx, func() bool { return m.connected }) {
			return fmt.Errorf("probe: %s did not connect: %w", m.user, context.Cause(ctx))
		}
	}
	r.res.Setup = time.Since(start)
	log.Debug("probe: members connected", "n", len(members), "setup", r.res.Setup)

	sendStart := time.Now()
	sent := r.sendToGroup(ctx, members[:r.cfg.Senders], gid)
	last := int64(0)
	for _, s := range sent {
		last = max(last, s.seq)
	}
	if last > 0 {
		for _, m := range members {
			if !m.wait(ctx, func() bool { return m.taken >= last }) {
				r.gfail("%s never took seq %d of %s from its SDK", m.user, last, conv)
			}
		}
	}
	r.res.Duration = time.Since(sendStart)
	r.verifyGroup(members, sent)
	if last > 0 {
		r.waitDelivered(ctx, members, conv, last)
	}
	return nil
}

// waitDelivered waits until the server has recorded that every member's
// device holds the group's conversation up to seq last. Only then may the
// members disconnect: the server otherwise takes an unacknowledged message
// for undelivered, and looks for the (deleted) user to push it to.
func (r *runner) waitDelivered(ctx context.Context, members []*member, conv string, last int64) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	todo := make(chan *member)
	for range min(len(members), 32) {
		wg.Go(func() {
			for m := range todo {
				if at, err := delivered(ctx, m.c, conv, last); err != nil {
					mu.Lock()
					r.gfail("the server never recorded that %s got seq %d of %s (its cursor is at %d): %v", m.user, last, conv, at, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, m := range members {
		todo <- m
	}
	close(todo)
	wg.Wait()
}

// delivered asks the server for c's delivery cursor of conv until it
// reaches seq (the SDK reports cursors within its AckDelay, at most every AckInterval), or ctx ends,
// and returns the last cursor seen.
func delivered(ctx context.Context, c *client.Client, conv string, seq int64) (int64, error) {
	at := int64(0)
	for {
		cs, err := c.Conversations(ctx)
		if err != nil {
			return at, err
		}
		for _, cv := range cs {
			if cv.ID == conv {
				at = cv.DeliveredSeq
			}
		}
		if at >= seq {
			return at, nil
		}
		select {
		case <-ctx.Done():
			return at, context.Cause(ctx)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// importUsers creates users through the server API, importBatch at a time,
// and returns those it created.
func (r *runner) importUsers(ctx context.Context, users []string) ([]string, error) {
	var created []string
	for rest := users; len(rest) > 0; {
		batch := rest[:min(len(rest), importBatch)]
		rest = rest[len(batch):]
		in := make([]serverapi.UserInput, len(batch))
		for i, u := range batch {
			in[i] = serverapi.UserInput{ID: u, Name: "Magpie probe"}
		}
		var res []serverapi.ImportResult
		err := retry429(ctx, func() error {
			var err error
			res, err = r.api.ImportUsers(ctx, in)
			return err
		})
		if err != nil {
			return created, fmt.Errorf("probe: create %d users: %w", len(batch), err)
		}
		for _, x := range res {
			switch x.Status {
			case serverapi.ImportCreated:
				created = append(created, x.ID)
			case serverapi.ImportFailed:
				return created, fmt.Errorf("probe: create user %s: %w", x.ID, x.Error)
			default:
				return created, fmt.Errorf("probe: create user %s: %s", x.ID, x.Status)
			}
		}
	}
	return created, nil
}

// connectMember starts a client for a member and its collector. Its
// tokens are minted locally: a thousand members logging in must not spend
// the app's server API budget.
func (r *runner) connectMember(ctx context.Context, user, conv string) (*member, error) {
	cfg := r.clientConfig(user, client.NewMemoryStore())
	cfg.TokenProvider = func(context.Context) (string, error) {
		tok, err := r.api.MintToken(user, 10*time.Minute)
		return tok.Token, err
	}
	c, err := client.New(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	m := &member{user: user, c: c, cancel: cancel, changed: make(chan struct{}, 1)}
	m.wg.Go(func() { _ = c.Run(ctx) })
	m.wg.Go(func() { m.collect(ctx, conv, r.cfg.drop) })
	return m, nil
}

func (m *member) collect(ctx context.Context, conv string, drop func(string, client.Message) bool) {
	for {
		ev, err := m.c.Next(ctx)
		if err != nil {
			return
		}
		m.mu.Lock()
		switch ev := ev.(type) {
		case client.Connected:
			m.connected = true
		case client.Message:
			if ev.ConvID != conv {
				break // the user's system conversation
			}
			m.taken = max(m.taken, ev.Seq)
			if ev.Type != "notice" && (drop == nil || !drop(m.user, ev)) {
				m.got = append(m.got, groupMsg{seq: ev.Seq, sender: ev.SenderID, content: ev.Content, own: ev.Own, at: time.Now()})
			}
		}
		m.mu.Unlock()
		select {
		case m.changed <- struct{}{}:
		default:
		}
	}
}

// wait waits until cond, called with m.mu held, is true, or ctx ends.
func (m *member) wait(ctx context.Context, cond func() bool) bool {
	for {
		m.mu.Lock()
		ok := cond()
		m.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-m.changed:
		case <-ctx.Done():
			return false
		}
	}
}

// sendToGroup has each sender queue its messages at once, without waiting
// for one before the next, and returns those the server acknowledged.
func (r *runner) sendToGroup(ctx context.Context, senders []*member, gid string) []groupSent {
	var (
		mu   sync.Mutex
		out  []groupSent
		errs []string
		wg   sync.WaitGroup
	)
	for _, m := range senders {
		wg.Go(func() {
			mine := make([]groupSent, 0, r.cfg.Messages)
			for i := range r.cfg.Messages {
				content := fmt.Sprintf("%s %s group %d", r.prefix, m.user, i)
				at := time.Now()
				o, err := m.c.SendToGroupAsync(gid, "text", content)
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("%s could not queue message %d: %v", m.user, i, err))
					mu.Unlock()
					break
				}
				mine = append(mine, groupSent{sender: m.user, content: content, at: at, o: o})
			}
			prev := int64(0)
			for i := range mine {
				res, err := mine[i].o.Wait(ctx)
				mu.Lock()
				switch {
				case err != nil:
					errs = append(errs, fmt.Sprintf("%s: send %d: %v", m.user, i, err))
				case res.Seq == 0:
					errs = append(errs, fmt.Sprintf("%s: send %d was accepted but not delivered (seq 0)", m.user, i))
				default:
					mine[i].seq = res.Seq
					out = append(out, mine[i])
					if res.Seq <= prev {
						r.res.Reordered++
						errs = append(errs, fmt.Sprintf("%s: send %d got seq %d, after seq %d for the one before", m.user, i, res.Seq, prev))
					}
					prev = res.Seq
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, e := range errs {
		r.gfail("%s", e)
	}
	r.res.Sent = len(out)
	slices.SortFunc(out, func(a, b groupSent) int { return cmp.Compare(a.seq, b.seq) })
	for i := 1; i < len(out); i++ {
		switch d := out[i].seq - out[i-1].seq; {
		case d == 0:
			r.gfail("seq %d given to two messages: %q and %q", out[i].seq, out[i-1].content, out[i].content)
		case d > 1:
			// Nothing but the probe posts into its group while it sends.
			r.gfail("the group's seqs jump from %d to %d while the probe sent", out[i-1].seq, out[i].seq)
		}
	}
	return out
}

// verifyGroup compares what each member received with what was sent:
// every message once, in seq order, with its sender and content.
func (r *runner) verifyGroup(members []*member, sent []groupSent) {
	bySeq := make(map[int64]groupSent, len(sent))
	for _, s := range sent {
		bySeq[s.seq] = s
	}
	for _, m := range members {
		m.mu.Lock()
		got := slices.Clone(m.got)
		m.mu.Unlock()
		count := make(map[int64]int, len(got))
		prev := int64(0)
		for _, g := range got {
			s, ok := bySeq[g.seq]
			switch {
			case !ok:
				r.gfail("%s received seq %d (%q from %s), which no sender was acknowledged", m.user, g.seq, g.content, g.sender)
				continue
			case g.sender != s.sender || g.content != s.content:
				r.gfail("%s received seq %d as %q from %s, want %q from %s", m.user, g.seq, g.content, g.sender, s.content, s.sender)
			}
			count[g.seq]++
			if count[g.seq] > 1 {
				r.res.Duplicates++
				r.gfail("%s received seq %d more than once", m.user, g.seq)
				continue
			}
			if g.seq < prev {
				r.res.Reordered++
				r.gfail("%s received seq %d after seq %d", m.user, g.seq, prev)
			}
			prev = max(prev, g.seq)
			if !g.own {
				r.lat = append(r.lat, g.at.Sub(s.at))
			}
		}
		for _, s := range sent {
			if count[s.seq] == 0 {
				r.res.Missing++
				r.gfail("%s never received seq %d (%q)", m.user, s.seq, s.content)
			} else {
				r.res.Received++
			}
		}
	}
}

// gfail records a failure; past maxListed of them it only counts.
func (r *runner) gfail(format string, args ...any) {
	r.failures++
	if r.failures <= maxListed {
		r.res.failf(format, args...)
	}
}

// endFailures says how many failures gfail did not list.
func (r *runner) endFailures() {
	if r.failures > maxListed {
		r.res.failf("and %d more", r.failures-maxListed)
	}
}

// cleanupGroup disconnects the members, dismisses the group and deletes
// the probe's users, on a context of its own: the probe's may have ended.
// What it could not undo is a failure.
func (r *runner) cleanupGroup(g *groupRun) {
	var wg sync.WaitGroup
	for _, m := range g.members {
		m.cancel()
		wg.Go(func() {
			_ = m.c.Close()
			m.wg.Wait()
		})
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), max(r.cfg.Timeout, 30*time.Second))
	defer cancel()
	if g.groupMade {
		err := retry429(ctx, func() error { return g.api.do(ctx, http.MethodDelete, "/v1/groups/"+url.PathEscape(g.gid), nil, nil) })
		if err != nil {
			r.res.failf("cleanup: dismiss group %s: %v", g.gid, err)
		}
	}
	var mu sync.Mutex
	var left []string
	var firstErr error
	todo := make(chan string)
	for range 8 {
		wg.Go(func() {
			for u := range todo {
				err := retry429(ctx, func() error { return r.api.DeleteUser(ctx, u) })
				if err != nil {
					mu.Lock()
					left = append(left, u)
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	for _, u := range g.created {
		todo <- u
	}
	close(todo)
	wg.Wait()
	if len(left) > 0 {
		r.res.failf("cleanup: %d probe users left behind (%s...): %v", len(left), left[0], firstErr)
	}
	r.cfg.Logger.Debug("probe: cleaned up", "group_id", g.gid, "users", len(g.created)-len(left))
}

// retry429 calls f until it does not fail with 429 Too Many Requests,
// waiting as the server asks, or ctx ends.
func retry429(ctx context.Context, f func() error) error {
	for {
		err := f()
		var ae *serverapi.Error
		if !errors.As(err, &ae) || ae.Status != http.StatusTooManyRequests {
			return err
		}
		wait := min(max(ae.RetryAfter, 50*time.Millisecond), 5*time.Second)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}

// signedAPI makes signed server API calls that the server SDK has no
// method for (groups).
type signedAPI struct {
	base, key, secret string
	http              *http.Client
}

// do sends a signed request with in as its JSON body (nil: none) and
// decodes the answer into out (nil: discard). An error answer is a
// *serverapi.Error.
func (a *signedAPI) do(ctx context.Context, method, path string, in, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := signing.SignRequest(req, a.key, a.secret, body, time.Now(), signing.NewNonce()); err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &serverapi.Error{Status: resp.StatusCode, Message: http.StatusText(resp.StatusCode), RequestID: resp.Header.Get("X-Request-Id")}
		var eb struct {
			Error struct {
				Code, Message, Field string
				RequestID            string `json:"request_id"`
			} `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			e.Code, e.Message, e.Field = eb.Error.Code, eb.Error.Message, eb.Error.Field
			if eb.Error.RequestID != "" {
				e.RequestID = eb.Error.RequestID
			}
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
			e.RetryAfter = time.Duration(s) * time.Second
		}
		return e
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode the answer: %w", method, path, err)
	}
	return nil
}
