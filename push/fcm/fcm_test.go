package fcm_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/push/fcm"
	"github.com/magpie-im/magpie/push/provider"
	"github.com/magpie-im/magpie/push/pushtest"
)

// newSender returns a mock FCM and a Sender pointed at it.
func newSender(t *testing.T) (*pushtest.FCM, *fcm.Sender) {
	t.Helper()
	m := pushtest.NewFCM(t)
	return m, senderFor(t, m, m.ServiceAccountJSON())
}

// senderFor returns a Sender to m with the service account sa.
func senderFor(t *testing.T, m *pushtest.FCM, sa []byte) *fcm.Sender {
	t.Helper()
	c, err := fcm.ParseCredential(sa)
	if err != nil {
		t.Fatalf("ParseCredential = %v", err)
	}
	s, err := fcm.New(t.Context(), c, fcm.Options{Endpoint: m.URL(), RootCAs: m.RootCAs()})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// sendOne sends n and returns the one request the mock got.
func sendOne(t *testing.T, m *pushtest.FCM, s *fcm.Sender, tg provider.Target, n provider.Notification) pushtest.FCMRequest {
	t.Helper()
	before := len(m.Requests())
	if err := s.Send(t.Context(), tg, n); err != nil {
		t.Fatalf("Send = %v, want nil", err)
	}
	reqs := m.Requests()
	if len(reqs) != before+1 {
		t.Fatalf("mock got %d requests, want %d", len(reqs), before+1)
	}
	return reqs[before]
}

// get returns the value at a dotted path of a decoded JSON object.
func get(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

func checkFields(t *testing.T, msg map[string]any, want map[string]any) {
	t.Helper()
	for path, w := range want {
		if got := get(msg, path); got != w {
			t.Errorf("message.%s = %#v, want %#v", path, got, w)
		}
	}
}

func TestSendAlert(t *testing.T) {
	m, s := newSender(t)
	badge := 4
	r := sendOne(t, m, s, provider.Target{Token: "dev-1"}, provider.Notification{
		ID: "n-1", Title: "Ada", Body: "hello", Badge: &badge, CollapseID: "conv-9", ThreadID: "conv-9",
		MutableContent: true, Data: map[string]string{"conv_id": "conv-9"}, Expiration: time.Now().Add(time.Hour),
	})
	if r.Method != "POST" || r.Path != "/v1/projects/"+pushtest.FCMProject+"/messages:send" {
		t.Errorf("request %s %s, want POST /v1/projects/%s/messages:send", r.Method, r.Path, pushtest.FCMProject)
	}
	if !r.BearerOK || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ya29.mock-") {
		t.Errorf("authorization %q not an access token the mock issued", r.Header.Get("Authorization"))
	}
	checkFields(t, r.Message, map[string]any{
		"token": "dev-1", "notification.title": "Ada", "notification.body": "hello",
		"data.conv_id": "conv-9", "data.badge": "4",
		"android.priority": "high", "android.collapse_key": "conv-9",
		"android.notification.sound": "default", "android.notification.tag": "conv-9",
		"apns.headers.apns-priority": "10", "apns.headers.apns-push-type": "alert",
		"apns.headers.apns-collapse-id": "conv-9",
		"apns.payload.aps.badge":        4.0, "apns.payload.aps.sound": "default",
		"apns.payload.aps.mutable-content": 1.0, "apns.payload.aps.thread-id": "conv-9",
		"webpush.headers.Urgency": "high",
	})
	if ttl, _ := get(r.Message, "android.ttl").(string); !strings.HasSuffix(ttl, "s") || ttl == "0s" {
		t.Errorf("android.ttl = %q, want about 3600s", ttl)
	}
	if get(r.Message, "apns.headers.apns-expiration") == nil {
		t.Errorf("apns-expiration missing: %s", r.Raw)
	}
}

func TestSendSilent(t *testing.T) {
	m, s := newSender(t)
	badge := 2
	r := sendOne(t, m, s, provider.Target{Token: "dev-1"}, provider.Notification{
		ID: "n-2", Silent: true, Badge: &badge, Data: map[string]string{"k": "v"},
	})
	checkFields(t, r.Message, map[string]any{
		"data.k": "v", "data.badge": "2", "android.priority": "normal",
		"apns.headers.apns-priority": "5", "apns.headers.apns-push-type": "background",
		"apns.payload.aps.content-available": 1.0, "webpush.headers.Urgency": "normal",
	})
	for _, p := range []string{"notification", "android.notification", "apns.payload.aps.badge", "apns.payload.aps.sound", "android.ttl"} {
		if v := get(r.Message, p); v != nil {
			t.Errorf("silent message has %s = %v", p, v)
		}
	}
}

func TestSendReusesAccessToken(t *testing.T) {
	m, s := newSender(t)
	for i := range 3 {
		sendOne(t, m, s, provider.Target{Token: "dev-" + strconv.Itoa(i)}, provider.Notification{ID: "n", Body: "b"})
	}
	if n := m.TokenRequests(); n != 1 {
		t.Errorf("token requests = %d, want 1 for 3 sends", n)
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		res        pushtest.Response
		want       provider.Error
		credential bool
	}{
		{"404 unregistered", pushtest.Response{Status: 404, Reason: "UNREGISTERED"},
			provider.Error{Status: 404, Reason: "UNREGISTERED", InvalidToken: true}, false},
		{"400 invalid argument", pushtest.Response{Status: 400, Reason: "INVALID_ARGUMENT"},
			provider.Error{Status: 400, Reason: "INVALID_ARGUMENT", InvalidToken: true}, false},
		{"403 sender id mismatch", pushtest.Response{Status: 403, Reason: "SENDER_ID_MISMATCH"},
			provider.Error{Status: 403, Reason: "SENDER_ID_MISMATCH", InvalidToken: true}, false},
		{"429 with retry-after", pushtest.Response{Status: 429, Reason: "QUOTA_EXCEEDED", RetryAfter: "7"},
			provider.Error{Status: 429, Reason: "QUOTA_EXCEEDED", Retryable: true, RetryAfter: 7 * time.Second}, false},
		{"500", pushtest.Response{Status: 500, Reason: "INTERNAL"},
			provider.Error{Status: 500, Reason: "INTERNAL", Retryable: true}, false},
		{"503", pushtest.Response{Status: 503, Reason: "UNAVAILABLE", RetryAfter: "3"},
			provider.Error{Status: 503, Reason: "UNAVAILABLE", Retryable: true, RetryAfter: 3 * time.Second}, false},
		{"401 third-party auth", pushtest.Response{Status: 401, Reason: "THIRD_PARTY_AUTH_ERROR"},
			provider.Error{Status: 401, Reason: "THIRD_PARTY_AUTH_ERROR"}, true},
		{"400 without details", pushtest.Response{Status: 409, Reason: "-"},
			provider.Error{Status: 409, Reason: "UNKNOWN"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s := newSender(t)
			// A second scripted 200 would let a retry succeed: Send must
			// not make one.
			m.Respond("dev-1", tt.res, pushtest.Response{Status: 200})
			err := s.Send(t.Context(), provider.Target{Token: "dev-1"}, provider.Notification{ID: "n", Body: "b"})
			checkError(t, err, tt.want)
			if got := errors.Is(err, provider.ErrCredential); got != tt.credential {
				t.Errorf("errors.Is(%v, ErrCredential) = %v, want %v", err, got, tt.credential)
			}
			if errors.Is(err, context.Canceled) {
				t.Errorf("Send = %v, which claims a cancelled context", err)
			}
			if n := len(m.Requests()); n != 1 {
				t.Errorf("mock got %d requests, want 1 (no retry by firebase)", n)
			}
		})
	}
}

// checkError checks that err is a *provider.Error like want (Provider
// "fcm", Err ignored).
func checkError(t *testing.T, err error, want provider.Error) {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("Send = %v, want a *provider.Error", err)
	}
	got := *pe
	got.Err = nil
	want.Provider = "fcm"
	if got != want {
		t.Errorf("Send = %+v, want %+v", got, want)
	}
}

func TestSendPayloadTooLarge(t *testing.T) {
	m, s := newSender(t)
	err := s.Send(t.Context(), provider.Target{Token: "dev-1"}, provider.Notification{ID: "n", Body: strings.Repeat("x", 4097)})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Reason != "PayloadTooLarge" || pe.Retryable || pe.InvalidToken {
		t.Fatalf("Send of 4097 bytes = %v, want a permanent PayloadTooLarge", err)
	}
	if n := len(m.Requests()) + m.TokenRequests(); n != 0 {
		t.Errorf("mock got %d requests, want none", n)
	}
}

func TestSendNetworkError(t *testing.T) {
	m := pushtest.NewFCM(t)
	c, err := fcm.ParseCredential(m.ServiceAccountJSON())
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 of the loopback: nothing listens there, the dial is refused.
	// firebase would retry a network error 4 times over 7 s; Send must not.
	s, err := fcm.New(t.Context(), c, fcm.Options{Endpoint: "https://127.0.0.1:1", RootCAs: m.RootCAs()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	err = s.Send(t.Context(), provider.Target{Token: "dev-1"}, provider.Notification{ID: "n", Body: "b"})
	var pe *provider.Error
	if !errors.As(err, &pe) || !pe.Retryable || pe.Status != 0 || pe.Err == nil || errors.Is(err, context.Canceled) {
		t.Fatalf("Send to a closed port = %v, want a retryable network error", err)
	}
	// Not a timing assertion: firebase's first backoff alone is 1 s, so a
	// retry would show as a Send of over a second on any machine.
	t.Logf("Send took %v", time.Since(start))
}

func TestSendCredentialRefused(t *testing.T) {
	m := pushtest.NewFCM(t)
	s := senderFor(t, m, foreignAccount(t, m))
	err := s.Send(t.Context(), provider.Target{Token: "dev-1"}, provider.Notification{ID: "n", Body: "b"})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Retryable || pe.InvalidToken || !errors.Is(err, provider.ErrCredential) {
		t.Fatalf("Send with a refused credential = %v, want a permanent ErrCredential", err)
	}
	if n := len(m.Requests()); n != 0 {
		t.Errorf("mock got %d send requests, want none", n)
	}
	if n := m.TokenRequests(); n != 1 {
		t.Errorf("token requests = %d, want 1 (no retry)", n)
	}
}

func TestSendCanceled(t *testing.T) {
	m, s := newSender(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Send(ctx, provider.Target{Token: "dev-1"}, provider.Notification{ID: "n", Body: "b"})
	var pe *provider.Error
	if !errors.Is(err, context.Canceled) || errors.As(err, &pe) {
		t.Fatalf("Send with a canceled context = %v, want a bare context.Canceled", err)
	}
	if n := len(m.Requests()); n != 0 {
		t.Errorf("mock got %d requests, want none", n)
	}
}

func TestSendConcurrent(t *testing.T) {
	m, s := newSender(t)
	const n = 20
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- s.Send(t.Context(), provider.Target{Token: "dev-" + strconv.Itoa(i)}, provider.Notification{ID: strconv.Itoa(i), Body: "b"})
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Send = %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if _, err := m.WaitRequests(ctx, n); err != nil {
		t.Fatal(err)
	}
}

// foreignAccount returns a service account whose token_uri is m's but
// whose key m does not know: m refuses its assertions.
func foreignAccount(t *testing.T, m *pushtest.FCM) []byte {
	t.Helper()
	var sa map[string]any
	if err := json.Unmarshal(pushtest.NewFCM(t).ServiceAccountJSON(), &sa); err != nil {
		t.Fatal(err)
	}
	sa["token_uri"] = m.TokenURL()
	b, err := json.Marshal(sa)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
