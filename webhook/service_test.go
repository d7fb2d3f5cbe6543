package webhook_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/ssrf"
)

// fakeDNS resolves every name to the addresses in it.
type fakeDNS map[string][]netip.Addr

func (f fakeDNS) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, errors.New("no such host")
}

func ptr[T any](v T) *T { return &v }

// TestCreateRefusesBadInput: malformed and unsafe URLs, unknown events,
// options of another kind and out-of-range timeouts are refused with the
// field named, and nothing is stored.
func TestCreateRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	dns := fakeDNS{
		"hooks.example.com":    {netip.MustParseAddr("93.184.215.14")},
		"internal.example.com": {netip.MustParseAddr("10.1.2.3")},
		"meta.example.com":     {netip.MustParseAddr("169.254.169.254")},
	}
	svc := webhook.NewService(e.store, e.keys, e.bus, webhook.ServiceConfig{Resolver: dns})
	cases := []struct {
		name  string
		in    webhook.Input
		field string
	}{
		{"no url", webhook.Input{}, "url"},
		{"not a url", webhook.Input{URL: ptr("::nope")}, "url"},
		{"ftp", webhook.Input{URL: ptr("ftp://hooks.example.com/x")}, "url"},
		{"plain http", webhook.Input{URL: ptr("http://hooks.example.com/x")}, "url"},
		{"user info", webhook.Input{URL: ptr("https://u:p@hooks.example.com/x")}, "url"},
		{"loopback", webhook.Input{URL: ptr("https://127.0.0.1/x")}, "url"},
		{"localhost", webhook.Input{URL: ptr("https://localhost/x")}, "url"},
		{"private by name", webhook.Input{URL: ptr("https://internal.example.com/x")}, "url"},
		{"metadata", webhook.Input{URL: ptr("https://meta.example.com/latest")}, "url"},
		{"unresolvable", webhook.Input{URL: ptr("https://nowhere.example.com/x")}, "url"},
		{"unknown event", webhook.Input{URL: ptr("https://hooks.example.com/x"), Events: &[]string{"message.exploded"}}, "events"},
		{"long description", webhook.Input{URL: ptr("https://hooks.example.com/x"), Description: ptr(strings.Repeat("d", 600))}, "description"},
		{"timeout on events", webhook.Input{URL: ptr("https://hooks.example.com/x"), Timeout: ptr(time.Second)}, "timeout_ms"},
		{"fail open on events", webhook.Input{URL: ptr("https://hooks.example.com/x"), FailOpen: ptr(true)}, "fail_open"},
		{"hook timeout too long", webhook.Input{Kind: store.WebhookPreSend, URL: ptr("https://hooks.example.com/x"), Timeout: ptr(6 * time.Second)}, "timeout_ms"},
		{"events on a hook", webhook.Input{Kind: store.WebhookPreSend, URL: ptr("https://hooks.example.com/x"), Events: &[]string{"message.created"}}, "events"},
		{"unknown kind", webhook.Input{Kind: "carrier_pigeon", URL: ptr("https://hooks.example.com/x")}, "kind"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := svc.Create(t.Context(), "A", c.in)
			var ve *webhook.ValidationError
			if !errors.As(err, &ve) || ve.Field != c.field {
				t.Errorf("Create = %v, want a validation error on %s", err, c.field)
			}
		})
	}
	if ws, _ := svc.List(t.Context(), "A"); len(ws) != 0 {
		t.Errorf("%d endpoints stored after refusals", len(ws))
	}
	w, secret, err := svc.Create(t.Context(), "A", webhook.Input{URL: ptr("https://hooks.example.com/x"), Events: &[]string{"message.read", "message.created", "message.read"}})
	if err != nil || !strings.HasPrefix(secret, "whsec_") || strings.Join(w.Events, ",") != "message.created,message.read" {
		t.Fatalf("Create(good) = %+v, %q, %v", w, secret, err)
	}
	// The operator can allow a private network.
	priv := webhook.NewService(e.store, e.keys, e.bus, webhook.ServiceConfig{Resolver: dns,
		Policy: ssrf.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}}})
	if _, _, err := priv.Create(t.Context(), "A", webhook.Input{URL: ptr("https://internal.example.com/x")}); err != nil {
		t.Errorf("Create(allowed private) = %v", err)
	}
}

// TestLimitsAndTenancy: one pre-send hook per app; app B cannot read,
// change, rotate, test or delete app A's endpoints.
func TestLimitsAndTenancy(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	url := e.recv.URL() + "/hook"
	h, _, err := e.svc.Create(ctx, "A", webhook.Input{Kind: store.WebhookPreSend, URL: &url, FailOpen: ptr(true)})
	if err != nil || h.Timeout != webhook.DefaultHookTimeout || !h.FailOpen {
		t.Fatalf("Create(pre_send) = %+v, %v", h, err)
	}
	if _, _, err := e.svc.Create(ctx, "A", webhook.Input{Kind: store.WebhookPreSend, URL: &url}); !errors.Is(err, webhook.ErrLimit) {
		t.Errorf("second pre-send hook = %v, want ErrLimit", err)
	}
	if _, _, err := e.svc.Create(ctx, "B", webhook.Input{Kind: store.WebhookPreSend, URL: &url}); err != nil {
		t.Errorf("app B's own pre-send hook = %v", err)
	}
	if _, err := e.svc.Get(ctx, "B", h.ID); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("B Get(A's) = %v", err)
	}
	if _, err := e.svc.Update(ctx, "B", h.ID, webhook.Input{Enabled: ptr(false)}); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("B Update(A's) = %v", err)
	}
	if _, _, err := e.svc.RotateSecret(ctx, "B", h.ID, 0); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("B RotateSecret(A's) = %v", err)
	}
	if _, err := e.svc.SendTest(ctx, "B", h.ID); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("B SendTest(A's) = %v", err)
	}
	if _, err := e.svc.Attempts(ctx, "B", store.WebhookAttemptQuery{WebhookID: h.ID, Limit: 5}); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("B Attempts(A's) = %v", err)
	}
	if err := e.svc.Delete(ctx, "B", h.ID); !errors.Is(err, webhook.ErrNotFound) {
		t.Errorf("B Delete(A's) = %v", err)
	}
	if got, err := e.svc.Get(ctx, "A", h.ID); err != nil || !got.Enabled {
		t.Errorf("A's endpoint after B's attempts = %+v, %v", got, err)
	}
}

// TestSendTest: the test action delivers a signed webhook.test event.
func TestSendTest(t *testing.T) {
	e := newEnv(t)
	w, _ := e.endpoint(t, "A", "/t")
	e.worker(t, webhook.WorkerConfig{})
	id, err := e.svc.SendTest(t.Context(), "A", w.ID)
	if err != nil {
		t.Fatal(err)
	}
	r := e.waitN(t, 1)[0]
	if r.ID != id || r.Verified != nil || !strings.Contains(string(r.Body), `"type":"webhook.test"`) {
		t.Errorf("test delivery = %s %s %v", r.ID, r.Body, r.Verified)
	}
}
