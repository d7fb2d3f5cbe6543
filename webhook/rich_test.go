package webhook_test

import (
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
	sdk "github.com/magpie-im/magpie/sdk/go/webhook"
	"github.com/magpie-im/magpie/webhook"
)

// TestMessageEditedEvent: an edit is a message.edited event with the new
// content and edited_at.
func TestMessageEditedEvent(t *testing.T) {
	e := newEnv(t)
	e.endpoint(t, "A", "/all")
	e.worker(t, webhook.WorkerConfig{})
	em := e.emitter(t)

	edited := t0.Add(time.Minute)
	em.MessageEdited("A", store.Message{ConvID: "p:ann:bob", Seq: 3, SenderID: "ann", ClientMsgID: "m3", Type: "text",
		Body: []byte("hello"), CreatedAt: t0, EditedAt: edited}, []string{"ann", "bob"})
	reqs := e.waitN(t, 1)
	ev, err := sdk.ParseEvent(reqs[0].Body)
	if err != nil || ev.Type != sdk.EventMessageEdited {
		t.Fatalf("event = %+v, %v", ev, err)
	}
	m, err := ev.Message()
	if err != nil || m.Content != "hello" || m.EditedAt == nil || !m.EditedAt.Equal(edited) || m.Seq != 3 {
		t.Errorf("message.edited = %+v, %v", m, err)
	}
}
