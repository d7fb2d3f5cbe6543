package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/client"
	sdk "github.com/magpie-im/magpie/sdk/go/webhook"
	"github.com/magpie-im/magpie/sdk/go/wire"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/webhooktest"
)

// TestModeration: the app's keyword rules and pre-send hook, as the SDK
// meets them: a blocked word fails the send with the rule's reason, a
// masked one reaches the recipient masked, the hook's rejection carries
// its own code, and a dropped message succeeds for the sender and reaches
// nobody.
func TestModeration(t *testing.T) {
	e := startEnv(t, "alice", "bob")
	ctx := context.Background()
	app := e.srv.Bootstrap.AppID
	if _, err := e.srv.Webhooks.SetKeywords(ctx, app, []store.KeywordRule{{Word: "casino", Action: "block"}, {Word: "darn", Action: "mask"}}); err != nil {
		t.Fatal(err)
	}
	hook, err := webhooktest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = hook.Close() }()
	hook.Respond(func(r webhooktest.Request) webhooktest.Response {
		ev, _ := sdk.ParseEvent(r.Body)
		p, _ := ev.PreSend()
		v := sdk.Allow()
		switch p.Content {
		case "buy pills":
			v = sdk.Reject("spam", "no ads here")
		case "spam spam":
			v = sdk.Drop()
		}
		b, _ := json.Marshal(v)
		return webhooktest.Response{Body: b}
	})
	url := hook.URL() + "/pre"
	if _, _, err := e.srv.Webhooks.Create(ctx, app, webhook.Input{Kind: store.WebhookPreSend, URL: &url}); err != nil {
		t.Fatal(err)
	}
	alice := e.newClient("alice", "alice-phone", "", nil)
	bob := e.newClient("bob", "bob-phone", "", nil)
	run(t, alice)
	run(t, bob)

	for _, c := range []struct{ content, reason string }{{"play CASINO now", "keyword_blocked"}, {"buy pills", "spam"}} {
		_, err := alice.Send(ctx, "bob", "text", c.content)
		var ce *client.Error
		if !errors.As(err, &ce) || ce.Code != wire.CodeMessageRejected || ce.Reason != c.reason || ce.Retryable {
			t.Errorf("Send(%q) = %v, want message_rejected with reason %s", c.content, err, c.reason)
		}
	}
	dropped, err := alice.Send(ctx, "bob", "text", "spam spam")
	if err != nil || dropped.Seq != 0 {
		t.Errorf("dropped Send = %+v, %v, want success with seq 0", dropped, err)
	}
	if _, err := alice.Send(ctx, "bob", "text", "darn it"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.Send(ctx, "bob", "text", "bye"); err != nil {
		t.Fatal(err)
	}
	got := lines(nextMessages(t, bob, 2))
	if len(got) != 2 || got[0] != (line{1, "alice", "**** it"}) || got[1] != (line{2, "alice", "bye"}) {
		t.Errorf("bob sees %v, want the masked message then bye, seqs 1 and 2", got)
	}
	if n := len(hook.Requests()); n != 4 {
		t.Errorf("the hook was asked %d times, want 4 (the blocked message never reaches it)", n)
	}
}
