package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/embedded"
	"github.com/magpie-im/magpie/internal/embedded/embeddedtest"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/ssrf"
)

// TestProbeWebhook: against an embedded server that allows loopback
// webhooks, the webhook scenario passes: two messages delivered as signed
// events (one modified by the hook), one rejected with the hook's reason.
// It leaves no endpoint behind.
func TestProbeWebhook(t *testing.T) {
	srv := embeddedtest.Start(t, embedded.Config{Webhooks: webhook.Options{Policy: ssrf.Policy{AllowLoopback: true}}})
	b := srv.Bootstrap
	cfg := Config{URL: srv.URL, AppKey: b.AppKey, AppSecret: b.AppSecret, Timeout: 30 * time.Second, Scenario: ScenarioWebhook,
		Console: Console{Email: b.OperatorEmail, Password: b.OperatorPassword, AppID: b.AppID}}
	res, err := Run(context.Background(), cfg)
	if err != nil || !res.OK() {
		t.Fatalf("Run = %v, %v", res, err)
	}
	if res.Sent != 2 || res.Received != 2 || !strings.HasPrefix(res.String(), "probe webhook ok sent=2 delivered=2 missing=0") {
		t.Fatalf("result = %v", res)
	}
	if hooks, err := srv.Webhooks.List(context.Background(), b.AppID); err != nil || len(hooks) != 0 {
		t.Errorf("endpoints left behind: %v, %v", hooks, err)
	}

	// Without console credentials the scenario cannot run.
	cfg.Console.Password = ""
	if _, err := Run(context.Background(), cfg); err == nil {
		t.Error("Run without a console password succeeded")
	}
}
