package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/magpie-im/magpie/sdk/go/webhook"
)

// signed returns a request of body signed with secret under id.
func signed(t *testing.T, secret, id, body string) *http.Request {
	t.Helper()
	key, err := webhook.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader([]byte(body)))
	for k, v := range webhook.Headers([][]byte{key}, id, time.Now(), []byte(body)) {
		r.Header[k] = v
	}
	return r
}

func TestEventsVerifyAndDedup(t *testing.T) {
	secret, _ := webhook.NewSecret()
	v, _ := webhook.NewVerifier(secret)
	h := events(v, newSeen(time.Minute))
	body := `{"id":"evt_1","type":"message.created","app_id":"a","timestamp":"2026-11-30T12:00:00Z","data":{"conv_id":"c","seq":1,"type":"text","content":"hi","created_at":"2026-11-30T12:00:00Z"}}`
	for i, want := range []int{http.StatusNoContent, http.StatusNoContent} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, signed(t, secret, "evt_1", body))
		if w.Code != want {
			t.Errorf("delivery %d: %d, want %d", i, w.Code, want)
		}
	}
	other, _ := webhook.NewSecret()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, signed(t, other, "evt_2", body))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("wrongly signed delivery: %d", w.Code)
	}
}

func TestPreSendVerdicts(t *testing.T) {
	secret, _ := webhook.NewSecret()
	v, _ := webhook.NewVerifier(secret)
	h := preSend(v)
	for content, want := range map[string]webhook.Verdict{
		"hello":         webhook.Allow(),
		"a forbidden x": webhook.Reject("forbidden_word", "this word is not allowed here"),
		"buy spam":      webhook.Drop(),
		"shout:hey":     webhook.Modify("HEY"),
	} {
		data, _ := json.Marshal(webhook.PreSend{ToUserID: "b", ConvID: "c", ClientMsgID: "m", Type: "text", Content: content})
		body, _ := json.Marshal(map[string]any{"id": "pre_1", "type": webhook.EventPreSend, "app_id": "a", "timestamp": time.Now(), "data": json.RawMessage(data)})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, signed(t, secret, "pre_1", string(body)))
		var got webhook.Verdict
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || got.Action != want.Action || got.Code != want.Code ||
			(want.Content != nil && (got.Content == nil || *got.Content != *want.Content)) {
			t.Errorf("%q: %d %s, want %+v", content, w.Code, w.Body, want)
		}
	}
}
