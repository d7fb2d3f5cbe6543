package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	sdk "github.com/magpie-im/magpie/sdk/go/webhook"
	"github.com/magpie-im/magpie/webhook/keyword"
	"github.com/magpie-im/magpie/webhook/ssrf"
)

// EventPreSend is the type of the pre-send hook's requests.
const EventPreSend = "message.pre_send"

// Codes of the rejections the Moderator makes itself (a hook's own codes
// pass through).
const (
	// CodeKeywordBlocked: the message contains a word of a block rule.
	CodeKeywordBlocked = "keyword_blocked"
	// CodeHookUnavailable: the pre-send hook failed or timed out and the
	// app fails closed.
	CodeHookUnavailable = "moderation_unavailable"
	// CodeRejected is a rejection whose hook gave no valid code.
	CodeRejected = "rejected"
)

// maxHookAnswer bounds a pre-send hook's answer, in bytes.
const maxHookAnswer = 256 << 10

// Connections to the hooks (pre-send and routing), kept for reuse.
const (
	// hookConns bounds the connections to one hook's host: the calls it
	// answers at once. At 1 ms an answer that is 500,000 calls a second;
	// a hook slower than its load waits its callers, who are its own
	// app's messages.
	hookConns = 512
	// maxIdleHookConns bounds the idle connections to every hook.
	maxIdleHookConns = 4096
)

// ModeratorConfig configures a Moderator. The zero value is usable.
type ModeratorConfig struct {
	// Policy says where hooks may connect (see package ssrf).
	Policy ssrf.Policy
	// Transport, if set, replaces the transport built from Policy (tests).
	Transport http.RoundTripper
	// TTL is how long an app's moderation settings are trusted before
	// they are read again (Forget drops them at once). Zero means 10
	// seconds.
	TTL time.Duration
	// Logger receives a warning per failed hook call. Nil discards.
	Logger *slog.Logger
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Moderator is the messaging core's moderation (messaging.Moderator): an
// app's keyword rules, then its pre-send hook, called synchronously with
// the hook's timeout and the app's fail-open or fail-closed policy. It
// caches each app's settings; it is safe for concurrent use.
type Moderator struct {
	store  Store
	keys   Sealer
	cfg    ModeratorConfig
	client *http.Client

	mu   sync.Mutex // guards apps
	apps map[string]*appModeration
}

var _ messaging.Moderator = (*Moderator)(nil)

// appModeration is one app's moderation, as cached.
type appModeration struct {
	appID   string
	filter  *keyword.Filter // nil: no rules
	hook    *preSendHook    // nil: no enabled hook
	routing *preSendHook    // the enabled routing hook; nil: none
	loaded  time.Time
	m       *Moderator
}

// preSendHook is an app's enabled pre-send endpoint, secrets opened.
type preSendHook struct {
	id        string
	url       string
	secrets   []string
	timeout   time.Duration
	failOpen  bool
	serverAPI bool
}

// NewModerator returns a Moderator reading apps' settings from st and
// opening hook secrets with keys.
func NewModerator(st Store, keys Sealer, cfg ModeratorConfig) *Moderator {
	if cfg.TTL <= 0 {
		cfg.TTL = 10 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.Policy.Client(MaxHookTimeout)
	if cfg.Transport != nil {
		client.Transport = cfg.Transport
	} else {
		t := client.Transport.(*http.Transport)
		// Hooks are called concurrently, a request per connection (HTTP/1.1):
		// keep every connection a hook's load needs for reuse, so that the
		// calls do not dial (and the hook accept) one each. The transport's
		// default keeps 100 idle in all, so above 100 calls at once most
		// calls paid a connection of their own. Past hookConns at once,
		// calls wait for a connection of their hook, within their timeout.
		t.MaxConnsPerHost = hookConns
		t.MaxIdleConnsPerHost = hookConns
		t.MaxIdleConns = maxIdleHookConns
	}
	return &Moderator{store: st, keys: keys, cfg: cfg, client: client, apps: make(map[string]*appModeration)}
}

// Forget drops an app's cached settings: they changed.
func (m *Moderator) Forget(appID string) {
	m.mu.Lock()
	delete(m.apps, appID)
	m.mu.Unlock()
}

// Policy implements messaging.Moderator.
func (m *Moderator) Policy(ctx context.Context, appID string, serverAPI bool) (messaging.Policy, error) {
	a, err := m.app(ctx, appID)
	if err != nil {
		return nil, err
	}
	hook := a.hook
	if hook != nil && serverAPI && !hook.serverAPI {
		hook = nil
	}
	switch {
	case a.filter == nil && hook == nil:
		return nil, nil
	case hook == a.hook:
		return a, nil
	}
	return &appModeration{appID: appID, filter: a.filter, routing: a.routing, loaded: a.loaded, m: m}, nil
}

// app returns the app's moderation, reading it when not fresh.
func (m *Moderator) app(ctx context.Context, appID string) (*appModeration, error) {
	now := m.cfg.Now()
	m.mu.Lock()
	a, ok := m.apps[appID]
	m.mu.Unlock()
	if ok && now.Sub(a.loaded) <= m.cfg.TTL {
		return a, nil
	}
	a, err := m.load(ctx, appID, now)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if len(m.apps) >= maxCachedApps {
		clear(m.apps)
	}
	m.apps[appID] = a
	m.mu.Unlock()
	return a, nil
}

func (m *Moderator) load(ctx context.Context, appID string, now time.Time) (*appModeration, error) {
	st := m.store.App(appID)
	a := &appModeration{appID: appID, loaded: now, m: m}
	rules, err := st.GetKeywordRules(ctx)
	if err != nil {
		return nil, fmt.Errorf("moderation of %s: %w", appID, err)
	}
	if len(rules.Rules) > 0 {
		ks := make([]keyword.Rule, len(rules.Rules))
		for i, r := range rules.Rules {
			ks[i] = keyword.Rule{Word: r.Word, Action: keyword.Action(r.Action)}
		}
		if a.filter, err = keyword.Compile(ks); err != nil {
			// Stored rules were checked when set; a rule that no longer
			// compiles (a newer limit) must not stop the app's messages.
			m.cfg.Logger.WarnContext(ctx, "keyword rules do not compile; ignored", "app_id", appID, "err", err)
			a.filter = nil
		}
	}
	hooks, err := st.ListWebhooks(ctx)
	if err != nil {
		return nil, fmt.Errorf("moderation of %s: %w", appID, err)
	}
	for _, h := range hooks {
		if (h.Kind != store.WebhookPreSend && h.Kind != store.WebhookRouting) || !h.Enabled {
			continue
		}
		secrets, err := openSecrets(m.keys, appID, h, now)
		if err != nil {
			return nil, fmt.Errorf("moderation of %s: %w", appID, err)
		}
		timeout := h.Timeout
		if timeout <= 0 {
			timeout = DefaultHookTimeout
		}
		hook := &preSendHook{id: h.ID, url: h.URL, secrets: secrets, timeout: min(timeout, MaxHookTimeout),
			failOpen: h.FailOpen, serverAPI: h.ServerAPI}
		if h.Kind == store.WebhookRouting {
			a.routing = hook
		} else {
			a.hook = hook
		}
	}
	return a, nil
}

// Filter implements messaging.Policy: the keyword rules, on text
// messages.
func (a *appModeration) Filter(c messaging.Candidate) messaging.Verdict {
	if a.filter == nil || c.Type != "text" {
		return messaging.Verdict{Action: messaging.Allow}
	}
	r := a.filter.Apply(c.Content)
	switch {
	case r.Blocked:
		return messaging.Verdict{Action: messaging.Reject, Code: CodeKeywordBlocked, Message: "the message contains a blocked word"}
	case r.Masked > 0:
		return messaging.Verdict{Action: messaging.Modify, Content: r.Text}
	}
	return messaging.Verdict{Action: messaging.Allow}
}

// HasHook implements messaging.Policy.
func (a *appModeration) HasHook() bool { return a.hook != nil }

// hookAnswer is what a pre-send hook answers (the SDK's Verdict).
type hookAnswer = sdk.Verdict

var codeRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// maxRejectMessage bounds a rejection's message passed to the sender.
const maxRejectMessage = 256

// Hook implements messaging.Policy: it asks the pre-send hook, within its
// timeout, and applies the app's failure policy.
func (a *appModeration) Hook(ctx context.Context, c messaging.Candidate) messaging.Verdict {
	h := a.hook
	if h == nil {
		return messaging.Verdict{Action: messaging.Allow}
	}
	v, err := a.m.callHook(ctx, a.appID, h, c)
	if err == nil {
		return v
	}
	a.m.cfg.Logger.WarnContext(ctx, "pre-send hook failed", "app_id", a.appID, "webhook_id", h.id, "err", err, "fail_open", h.failOpen)
	if h.failOpen {
		return messaging.Verdict{Action: messaging.Allow}
	}
	return messaging.Verdict{Action: messaging.Reject, Code: CodeHookUnavailable, Message: "the app's moderation did not answer; try again later"}
}

func (m *Moderator) callHook(ctx context.Context, appID string, h *preSendHook, c messaging.Candidate) (messaging.Verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	now := m.cfg.Now().UTC().Truncate(time.Millisecond)
	sum := sha256.Sum256([]byte(appID + "\x00" + c.SenderID + "\x00" + c.ClientMsgID + "\x00" + c.Content))
	id := "pre_" + idEncoding.EncodeToString(sum[:16])
	body, err := json.Marshal(envelope{ID: id, Type: EventPreSend, AppID: appID, Timestamp: now, Data: sdk.PreSend{
		SenderID: c.SenderID, ToUserID: c.ToUserID, ToGroupID: c.ToGroupID, ConvID: c.ConvID, ClientMsgID: c.ClientMsgID, Type: c.Type, Content: c.Content, ServerAPI: c.ServerAPI,
	}})
	if err != nil {
		return messaging.Verdict{}, fmt.Errorf("encode pre-send request: %w", err)
	}
	r := post(ctx, m.client, h.url, h.secrets, id, body, now, maxHookAnswer)
	if r.err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return messaging.Verdict{}, errTimeout
		}
		return messaging.Verdict{}, r.err
	}
	return decodeAnswer(r.response)
}

// decodeAnswer reads a pre-send hook's answer. An empty body allows.
func decodeAnswer(b []byte) (messaging.Verdict, error) {
	if len(b) == 0 {
		return messaging.Verdict{Action: messaging.Allow}, nil
	}
	var ans hookAnswer
	if err := json.Unmarshal(b, &ans); err != nil {
		return messaging.Verdict{}, fmt.Errorf("malformed answer: %w", err)
	}
	switch ans.Action {
	case "allow", "":
		return messaging.Verdict{Action: messaging.Allow}, nil
	case "drop":
		return messaging.Verdict{Action: messaging.Drop}, nil
	case "modify":
		if ans.Content == nil {
			return messaging.Verdict{}, errors.New("malformed answer: modify without content")
		}
		return messaging.Verdict{Action: messaging.Modify, Content: *ans.Content}, nil
	case "reject":
		code := ans.Code
		if !codeRe.MatchString(code) {
			code = CodeRejected
		}
		msg := ans.Message
		if len(msg) > maxRejectMessage {
			msg = msg[:maxRejectMessage]
		}
		return messaging.Verdict{Action: messaging.Reject, Code: code, Message: strings.ToValidUTF8(msg, "")}, nil
	}
	return messaging.Verdict{}, fmt.Errorf("malformed answer: unknown action %q", ans.Action)
}

// EventRoute is the type of the customer-service routing hook's requests.
const EventRoute = "support.route"

// ErrNoHook means the app has no enabled hook of the kind asked for.
var ErrNoHook = errors.New("no enabled hook")

// Route asks the app's routing hook about a new support session: it posts
// data (signed, as a support.route request identified by id) and returns
// the answer's body. ErrNoHook if the app has no enabled routing hook; any
// other error is the hook's failure (status, timeout, size), which the
// caller answers with its built-in router.
func (m *Moderator) Route(ctx context.Context, appID, id string, data any) ([]byte, error) {
	a, err := m.app(ctx, appID)
	if err != nil {
		return nil, err
	}
	h := a.routing
	if h == nil {
		return nil, ErrNoHook
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	now := m.cfg.Now().UTC().Truncate(time.Millisecond)
	body, err := json.Marshal(envelope{ID: id, Type: EventRoute, AppID: appID, Timestamp: now, Data: data})
	if err != nil {
		return nil, fmt.Errorf("encode routing request: %w", err)
	}
	r := post(ctx, m.client, h.url, h.secrets, id, body, now, maxHookAnswer)
	if r.err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, errTimeout
		}
		return nil, r.err
	}
	return r.response, nil
}
