package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/telemetry"
	sdk "github.com/magpie-im/magpie/sdk/go/webhook"
)

// TestSignVectors signs the SDK's test vectors, computed independently in
// Python, as the server would.
func TestSignVectors(t *testing.T) {
	b, err := os.ReadFile("../sdk/go/webhook/testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Cases []struct {
			Note      string   `json:"note"`
			Secrets   []string `json:"secrets"`
			ID        string   `json:"id"`
			Timestamp int64    `json:"timestamp"`
			Body      string   `json:"body"`
			Signature string   `json:"signature"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	for _, tc := range v.Cases {
		t.Run(tc.Note, func(t *testing.T) {
			h, err := Sign(tc.Secrets, tc.ID, time.Unix(tc.Timestamp, 0), []byte(tc.Body))
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if got := h.Get(sdk.HeaderSignature); got != tc.Signature {
				t.Errorf("Sign: %s = %q, want %q", sdk.HeaderSignature, got, tc.Signature)
			}
		})
	}
}

// TestSignVerify checks the server's headers with the SDK's Verifier, as a
// customer's backend would, before and during a rotation.
func TestSignVerify(t *testing.T) {
	newest, oldest := newSecret(t), newSecret(t)
	ts := time.Unix(1767225600, 0)
	body := []byte(`{"type":"message.created"}`)
	h, err := Sign([]string{newest, oldest}, "msg_1", ts, body)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	for _, secret := range []string{newest, oldest} {
		v, err := sdk.NewVerifier(secret)
		if err != nil {
			t.Fatal(err)
		}
		v.Now = func() time.Time { return ts }
		if err := v.Verify(h, body); err != nil {
			t.Errorf("Verify with one of the two secrets = %v, want nil", err)
		}
	}
	if got := len(strings.Fields(h.Get(sdk.HeaderSignature))); got != 2 {
		t.Errorf("%s has %d signatures, want 2", sdk.HeaderSignature, got)
	}
}

func TestSignErrors(t *testing.T) {
	good := newSecret(t)
	for _, tc := range []struct {
		name    string
		secrets []string
		id      string
		secret  bool // want an error wrapping sdk.ErrSecret
	}{
		{"no secrets", nil, "msg_1", false},
		{"three secrets", []string{good, good, good}, "msg_1", false},
		{"malformed secret", []string{good, "whsec_c2VjcmV0"}, "msg_1", true},
		{"unprefixed secret", []string{"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_1", true},
		{"empty id", []string{good}, "", false},
		{"id with a space", []string{good}, "msg 1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := Sign(tc.secrets, tc.id, time.Now(), nil)
			if err == nil || h != nil {
				t.Fatalf("Sign = %v, %v; want an error", h, err)
			}
			if tc.secret != errors.Is(err, sdk.ErrSecret) {
				t.Errorf("Sign error = %v; wraps ErrSecret = %v, want %v", err, !tc.secret, tc.secret)
			}
			if strings.Contains(err.Error(), "c2VjcmV0") || strings.Contains(err.Error(), "MfKQ9r8G") {
				t.Errorf("Sign error %q holds the secret", err)
			}
		})
	}
}

func TestWithTraceparent(t *testing.T) {
	t.Run("tracing off", func(t *testing.T) {
		h := WithTraceparent(context.Background(), http.Header{})
		if len(h) != 0 {
			t.Errorf("WithTraceparent(tracing off) = %v, want no headers", h)
		}
	})
	t.Run("tracing on", func(t *testing.T) {
		_, restore := telemetry.InstallSpanRecorder(telemetry.ModeWorker)
		defer restore()
		ctx, span := telemetry.StartSpan(context.Background(), "webhook.deliver")
		defer span.End()
		sc := span.SpanContext()
		h := http.Header{}
		h.Set(sdk.HeaderID, "msg_1")
		h = WithTraceparent(ctx, h)
		want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
		if got := h.Get("traceparent"); got != want {
			t.Errorf("traceparent = %q, want %q", got, want)
		}
		if got := h.Get(sdk.HeaderID); got != "msg_1" {
			t.Errorf("%s = %q after WithTraceparent, want it kept", sdk.HeaderID, got)
		}
	})
}

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := sdk.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}
