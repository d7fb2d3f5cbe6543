package webhook_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	sdk "github.com/magpie-im/magpie/sdk/go/webhook"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/ssrf"
	"github.com/magpie-im/magpie/webhook/webhooktest"
)

// preSendEnv is an env with app A's pre-send hook on the receiver at
// /pre, configured by in, and a Moderator.
func preSendEnv(t *testing.T, in webhook.Input) (*env, *webhook.Moderator) {
	t.Helper()
	e := newEnv(t)
	url := e.recv.URL() + "/pre"
	in.Kind, in.URL = store.WebhookPreSend, &url
	_, secret, err := e.svc.Create(t.Context(), "A", in)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.recv.SetSecrets(secret); err != nil {
		t.Fatal(err)
	}
	return e, webhook.NewModerator(e.store, e.keys, webhook.ModeratorConfig{Policy: ssrf.Policy{AllowLoopback: true}})
}

func candidate(content string) messaging.Candidate {
	return messaging.Candidate{AppID: "A", SenderID: "alice", ToUserID: "bob", ConvID: "p2p:alice:bob", ClientMsgID: "c1", Type: "text", Content: content}
}

func answer(v any) func(webhooktest.Request) webhooktest.Response {
	b, _ := json.Marshal(v)
	return func(webhooktest.Request) webhooktest.Response { return webhooktest.Response{Body: b} }
}

// TestPreSendVerdicts: the hook's answers become verdicts; the request is
// signed and carries the message.
func TestPreSendVerdicts(t *testing.T) {
	e, mod := preSendEnv(t, webhook.Input{})
	pol, err := mod.Policy(t.Context(), "A", false)
	if err != nil || pol == nil || !pol.HasHook() {
		t.Fatalf("Policy = %v, %v", pol, err)
	}
	cases := []struct {
		name   string
		answer func(webhooktest.Request) webhooktest.Response
		want   messaging.Verdict
	}{
		{"allow", answer(sdk.Allow()), messaging.Verdict{Action: messaging.Allow}},
		{"empty body", func(webhooktest.Request) webhooktest.Response { return webhooktest.Response{Status: 204} }, messaging.Verdict{Action: messaging.Allow}},
		{"reject", answer(sdk.Reject("spam", "no links")), messaging.Verdict{Action: messaging.Reject, Code: "spam", Message: "no links"}},
		{"reject with a bad code", answer(sdk.Reject("Not A Code!", "x")), messaging.Verdict{Action: messaging.Reject, Code: webhook.CodeRejected, Message: "x"}},
		{"modify", answer(sdk.Modify("hello ***")), messaging.Verdict{Action: messaging.Modify, Content: "hello ***"}},
		{"drop", answer(sdk.Drop()), messaging.Verdict{Action: messaging.Drop}},
		// Failures: the app fails closed (the default).
		{"500", func(webhooktest.Request) webhooktest.Response { return webhooktest.Response{Status: 500} }, unavailable},
		{"malformed", func(webhooktest.Request) webhooktest.Response { return webhooktest.Response{Body: []byte("{nope")} }, unavailable},
		{"unknown action", answer(map[string]string{"action": "explode"}), unavailable},
		{"modify without content", answer(map[string]string{"action": "modify"}), unavailable},
		{"oversized", func(webhooktest.Request) webhooktest.Response {
			return webhooktest.Response{Body: []byte(`{"action":"allow","pad":"` + strings.Repeat("x", 300<<10) + `"}`)}
		}, unavailable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.recv.Respond(c.answer)
			got := pol.Hook(t.Context(), candidate("hello darn"))
			if got.Action != c.want.Action || got.Code != c.want.Code || got.Content != c.want.Content ||
				(c.want.Message != "" && got.Message != c.want.Message) {
				t.Errorf("Hook = %+v, want %+v", got, c.want)
			}
		})
	}
	r := e.recv.Requests()[0]
	ev, err := sdk.ParseEvent(r.Body)
	if err != nil || r.Verified != nil {
		t.Fatalf("request %s: %v, verified %v", r.Body, err, r.Verified)
	}
	p, err := ev.PreSend()
	if err != nil || ev.Type != webhook.EventPreSend || p.Content != "hello darn" || p.SenderID != "alice" || p.ToUserID != "bob" || p.ServerAPI {
		t.Errorf("pre-send request = %+v, %v", p, err)
	}
}

var unavailable = messaging.Verdict{Action: messaging.Reject, Code: webhook.CodeHookUnavailable}

// TestPreSendTimeout: a hook slower than its timeout fails open or closed
// as the app chose, within the timeout.
func TestPreSendTimeout(t *testing.T) {
	for _, open := range []bool{false, true} {
		timeout := 200 * time.Millisecond
		e, mod := preSendEnv(t, webhook.Input{Timeout: &timeout, FailOpen: &open})
		release := make(chan struct{})
		e.recv.Respond(func(webhooktest.Request) webhooktest.Response { return webhooktest.Response{Hold: release} })
		pol, err := mod.Policy(t.Context(), "A", false)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got := pol.Hook(t.Context(), candidate("slow"))
		took := time.Since(start)
		close(release)
		want := unavailable
		if open {
			want = messaging.Verdict{Action: messaging.Allow}
		}
		if got.Action != want.Action || got.Code != want.Code {
			t.Errorf("fail_open=%t: Hook = %+v, want %+v", open, got, want)
		}
		if took > 3*time.Second {
			t.Errorf("fail_open=%t: Hook took %v with a 200ms timeout", open, took)
		}
	}
}

// TestPreSendServerAPI: server API messages skip the hook unless the app
// asked otherwise; an app without rules or hook has no policy; a disabled
// hook is not called.
func TestPreSendServerAPI(t *testing.T) {
	e, mod := preSendEnv(t, webhook.Input{})
	if pol, err := mod.Policy(t.Context(), "A", true); err != nil || pol != nil {
		t.Errorf("server API Policy = %v, %v, want none", pol, err)
	}
	if pol, err := mod.Policy(t.Context(), "B", false); err != nil || pol != nil {
		t.Errorf("app B Policy = %v, %v, want none", pol, err)
	}
	hooks, _ := e.svc.List(t.Context(), "A")
	on, off := true, false
	if _, err := e.svc.Update(t.Context(), "A", hooks[0].ID, webhook.Input{ServerAPI: &on}); err != nil {
		t.Fatal(err)
	}
	mod.Forget("A")
	if pol, err := mod.Policy(t.Context(), "A", true); err != nil || pol == nil || !pol.HasHook() {
		t.Errorf("server API Policy with server_api = %v, %v", pol, err)
	}
	if _, err := e.svc.Update(t.Context(), "A", hooks[0].ID, webhook.Input{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	mod.Forget("A")
	if pol, err := mod.Policy(t.Context(), "A", false); err != nil || pol != nil {
		t.Errorf("Policy with the hook disabled = %v, %v, want none", pol, err)
	}
}

// TestKeywordFilter: block rules reject text messages, mask rules star the
// words out, custom messages pass, and the rules apply without a hook.
func TestKeywordFilter(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.SetKeywords(t.Context(), "A", []store.KeywordRule{{Word: "casino", Action: "block"}, {Word: "darn", Action: "mask"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetKeywords(t.Context(), "A", []store.KeywordRule{{Word: "x", Action: "explode"}}); err == nil {
		t.Error("SetKeywords with an unknown action succeeded")
	}
	mod := webhook.NewModerator(e.store, e.keys, webhook.ModeratorConfig{})
	pol, err := mod.Policy(t.Context(), "A", true)
	if err != nil || pol == nil || pol.HasHook() {
		t.Fatalf("Policy = %v, %v", pol, err)
	}
	for _, c := range []struct {
		typ, content string
		want         messaging.Verdict
	}{
		{"text", "hello", messaging.Verdict{Action: messaging.Allow}},
		{"text", "Win at the CASINO", messaging.Verdict{Action: messaging.Reject, Code: webhook.CodeKeywordBlocked}},
		{"text", "Darn it, darn", messaging.Verdict{Action: messaging.Modify, Content: "**** it, ****"}},
		{"custom", `{"t":"casino"}`, messaging.Verdict{Action: messaging.Allow}},
	} {
		cand := candidate(c.content)
		cand.Type = c.typ
		got := pol.Filter(cand)
		if got.Action != c.want.Action || got.Code != c.want.Code || got.Content != c.want.Content {
			t.Errorf("Filter(%q) = %+v, want %+v", c.content, got, c.want)
		}
	}
	if pol, _ := mod.Policy(t.Context(), "B", false); pol != nil {
		t.Error("app B got app A's keyword rules")
	}
}
