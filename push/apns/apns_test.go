package apns_test

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/magpie-im/magpie/push/apns"
	"github.com/magpie-im/magpie/push/provider"
	"github.com/magpie-im/magpie/push/pushtest"
)

// newSender returns a mock APNs and a Sender pointed at it.
func newSender(t *testing.T) (*pushtest.APNs, *apns.Sender) {
	t.Helper()
	m := pushtest.NewAPNs(t)
	return m, senderFor(t, m, m.Credential())
}

// senderFor returns a Sender to m signing with mc.
func senderFor(t *testing.T, m *pushtest.APNs, mc pushtest.APNsCredential) *apns.Sender {
	t.Helper()
	c, err := apns.ParseCredential(mc.Key, mc.KeyID, mc.TeamID, mc.Topic)
	if err != nil {
		t.Fatalf("ParseCredential of the mock's credential = %v", err)
	}
	s, err := apns.New(c, apns.Options{Host: m.URL(), RootCAs: m.RootCAs()})
	if err != nil {
		t.Fatalf("New = %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// sendOne sends n to token and returns the one request the mock got.
func sendOne(t *testing.T, m *pushtest.APNs, s *apns.Sender, tg provider.Target, n provider.Notification) pushtest.APNsRequest {
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

func checkHeaders(t *testing.T, r pushtest.APNsRequest, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestSendAlert(t *testing.T) {
	m, s := newSender(t)
	badge := 3
	exp := time.Unix(1_900_000_000, 0)
	r := sendOne(t, m, s, provider.Target{Token: "abc123"}, provider.Notification{
		ID: "n-1", Title: "Ada", Body: "hello", Badge: &badge,
		CollapseID: "conv-9", ThreadID: "conv-9", MutableContent: true,
		Data: map[string]string{"conv_id": "conv-9", "seq": "42"}, Expiration: exp,
	})
	if r.Method != "POST" || r.Path != "/3/device/abc123" || r.Proto != "HTTP/2.0" {
		t.Errorf("request %s %s %s, want POST /3/device/abc123 HTTP/2.0", r.Method, r.Path, r.Proto)
	}
	if !r.JWTOK {
		t.Errorf("provider token refused: %s", r.JWTError)
	}
	checkHeaders(t, r, map[string]string{
		"apns-topic": pushtest.APNsTopic, "apns-push-type": "alert", "apns-priority": "10",
		"apns-collapse-id": "conv-9", "apns-expiration": strconv.FormatInt(exp.Unix(), 10),
	})
	if id := r.Header.Get("apns-id"); !uuidV4.MatchString(id) {
		t.Errorf("apns-id = %q, not a version-4 UUID", id)
	}
	aps := r.Aps()
	alert, _ := aps["alert"].(map[string]any)
	if alert["title"] != "Ada" || alert["body"] != "hello" {
		t.Errorf("aps.alert = %v, want title Ada, body hello", aps["alert"])
	}
	want := map[string]any{"badge": 3.0, "sound": "default", "mutable-content": 1.0, "thread-id": "conv-9"}
	for k, v := range want {
		if aps[k] != v {
			t.Errorf("aps[%q] = %v, want %v", k, aps[k], v)
		}
	}
	if _, ok := aps["content-available"]; ok {
		t.Errorf("alert has content-available: %v", aps)
	}
	if r.Payload["conv_id"] != "conv-9" || r.Payload["seq"] != "42" {
		t.Errorf("payload = %s, want the data keys at the top level", r.Raw)
	}
}

func TestSendSilent(t *testing.T) {
	m, s := newSender(t)
	badge := 7
	r := sendOne(t, m, s, provider.Target{Token: "abc123"}, provider.Notification{
		ID: "n-2", Silent: true, Badge: &badge, Priority: provider.PriorityHigh,
		Data: map[string]string{"conv_id": "c"},
	})
	checkHeaders(t, r, map[string]string{"apns-push-type": "background", "apns-priority": "5", "apns-expiration": "", "apns-collapse-id": ""})
	aps := r.Aps()
	if aps["content-available"] != 1.0 {
		t.Errorf("aps.content-available = %v, want 1", aps["content-available"])
	}
	for _, k := range []string{"alert", "sound", "badge"} {
		if _, ok := aps[k]; ok {
			t.Errorf("silent notification has aps.%s: %s", k, r.Raw)
		}
	}
	if r.Payload["badge"] != "7" || r.Payload["conv_id"] != "c" {
		t.Errorf("payload = %s, want badge 7 and conv_id in the data", r.Raw)
	}
}

func TestSendOptions(t *testing.T) {
	m, s := newSender(t)
	r := sendOne(t, m, s, provider.Target{Token: "t1", Topic: "com.example.other", Environment: apns.EnvSandbox},
		provider.Notification{ID: "n-3", Body: "hi", Sound: "ping.caf", Priority: provider.PriorityNormal})
	checkHeaders(t, r, map[string]string{"apns-topic": "com.example.other", "apns-priority": "5", "apns-push-type": "alert"})
	if got := r.Aps()["sound"]; got != "ping.caf" {
		t.Errorf("aps.sound = %v, want ping.caf", got)
	}
}

func TestAPNsIDDeterministic(t *testing.T) {
	m, s := newSender(t)
	tg := provider.Target{Token: "t1"}
	a := sendOne(t, m, s, tg, provider.Notification{ID: "same", Body: "x"})
	b := sendOne(t, m, s, tg, provider.Notification{ID: "same", Body: "x"})
	c := sendOne(t, m, s, tg, provider.Notification{ID: "other", Body: "x"})
	ida, idb, idc := a.Header.Get("apns-id"), b.Header.Get("apns-id"), c.Header.Get("apns-id")
	if ida == "" || ida != idb {
		t.Errorf("apns-id of two sends of one notification = %q, %q, want equal", ida, idb)
	}
	if idc == ida {
		t.Errorf("apns-id of two notifications = %q, want different", ida)
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name       string
		res        pushtest.Response
		want       provider.Error
		credential bool
	}{
		{"410 unregistered", pushtest.Response{Status: 410, Reason: "Unregistered"},
			provider.Error{Status: 410, Reason: "Unregistered", InvalidToken: true}, false},
		{"400 bad device token", pushtest.Response{Status: 400, Reason: "BadDeviceToken"},
			provider.Error{Status: 400, Reason: "BadDeviceToken", InvalidToken: true}, false},
		{"400 not for topic", pushtest.Response{Status: 400, Reason: "DeviceTokenNotForTopic"},
			provider.Error{Status: 400, Reason: "DeviceTokenNotForTopic", InvalidToken: true}, false},
		{"429 with retry-after", pushtest.Response{Status: 429, Reason: "TooManyRequests", RetryAfter: "7"},
			provider.Error{Status: 429, Reason: "TooManyRequests", Retryable: true, RetryAfter: 7 * time.Second}, false},
		{"500", pushtest.Response{Status: 500, Reason: "InternalServerError"},
			provider.Error{Status: 500, Reason: "InternalServerError", Retryable: true}, false},
		{"503", pushtest.Response{Status: 503, Reason: "ServiceUnavailable"},
			provider.Error{Status: 503, Reason: "ServiceUnavailable", Retryable: true}, false},
		{"400 other", pushtest.Response{Status: 400, Reason: "BadCollapseId"},
			provider.Error{Status: 400, Reason: "BadCollapseId"}, false},
		{"403 provider token", pushtest.Response{Status: 403, Reason: "ExpiredProviderToken"},
			provider.Error{Status: 403, Reason: "ExpiredProviderToken"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, s := newSender(t)
			m.Respond("tok", tt.res)
			err := s.Send(t.Context(), provider.Target{Token: "tok"}, provider.Notification{ID: "n", Body: "b"})
			checkError(t, err, tt.want)
			if got := errors.Is(err, provider.ErrCredential); got != tt.credential {
				t.Errorf("errors.Is(%v, ErrCredential) = %v, want %v", err, got, tt.credential)
			}
			if n := len(m.Requests()); n != 1 {
				t.Errorf("mock got %d requests, want 1 (no retry)", n)
			}
		})
	}
}

// checkError checks that err is a *provider.Error like want (Provider
// "apns", Err ignored).
func checkError(t *testing.T, err error, want provider.Error) {
	t.Helper()
	var pe *provider.Error
	if !errors.As(err, &pe) {
		t.Fatalf("Send = %v, want a *provider.Error", err)
	}
	got := *pe
	got.Err = nil
	want.Provider = "apns"
	if got != want {
		t.Errorf("Send = %+v, want %+v", got, want)
	}
}

func TestSendWrongKey(t *testing.T) {
	m := pushtest.NewAPNs(t)
	other := pushtest.NewAPNs(t)
	mc := other.Credential()
	mc.KeyID = m.Credential().KeyID
	s := senderFor(t, m, mc)
	err := s.Send(t.Context(), provider.Target{Token: "tok"}, provider.Notification{ID: "n", Body: "b"})
	checkError(t, err, provider.Error{Status: 403, Reason: "InvalidProviderToken"})
	if !errors.Is(err, provider.ErrCredential) {
		t.Errorf("Send = %v, want it to wrap ErrCredential", err)
	}
	if r := m.Requests(); len(r) != 1 || r[0].JWTOK {
		t.Errorf("mock requests = %+v, want one with a refused token", r)
	}
}

func TestSendPayloadTooLarge(t *testing.T) {
	m, s := newSender(t)
	err := s.Send(t.Context(), provider.Target{Token: "tok"}, provider.Notification{ID: "n", Body: strings.Repeat("x", 4097)})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Reason != "PayloadTooLarge" || pe.Retryable || pe.InvalidToken || pe.Status != 0 {
		t.Fatalf("Send of 4097 bytes = %v, want a permanent PayloadTooLarge", err)
	}
	if n := len(m.Requests()); n != 0 {
		t.Errorf("mock got %d requests, want none", n)
	}
}

func TestSendReservedDataKey(t *testing.T) {
	m, s := newSender(t)
	err := s.Send(t.Context(), provider.Target{Token: "tok"}, provider.Notification{ID: "n", Body: "b", Data: map[string]string{"aps": "x"}})
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Reason != "InvalidData" || pe.Retryable {
		t.Fatalf("Send with data key aps = %v, want a permanent InvalidData", err)
	}
	if n := len(m.Requests()); n != 0 {
		t.Errorf("mock got %d requests, want none", n)
	}
}

func TestSendNetworkError(t *testing.T) {
	m := pushtest.NewAPNs(t)
	mc := m.Credential()
	c, err := apns.ParseCredential(mc.Key, mc.KeyID, mc.TeamID, mc.Topic)
	if err != nil {
		t.Fatal(err)
	}
	// Port 1 of the loopback: nothing listens there, the dial is refused.
	s, err := apns.New(c, apns.Options{Host: "https://127.0.0.1:1", RootCAs: m.RootCAs()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Send(t.Context(), provider.Target{Token: "tok"}, provider.Notification{ID: "n", Body: "b"})
	var pe *provider.Error
	if !errors.As(err, &pe) || !pe.Retryable || pe.Status != 0 || pe.Err == nil {
		t.Fatalf("Send to a closed port = %v, want a retryable network error", err)
	}
}

func TestSendCanceled(t *testing.T) {
	m, s := newSender(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Send(ctx, provider.Target{Token: "tok"}, provider.Notification{ID: "n", Body: "b"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a canceled context = %v, want context.Canceled", err)
	}
	var pe *provider.Error
	if errors.As(err, &pe) {
		t.Errorf("Send with a canceled context = %v, want a bare context error", err)
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
			errs <- s.Send(t.Context(), provider.Target{Token: "tok" + strconv.Itoa(i)}, provider.Notification{ID: strconv.Itoa(i), Body: "b"})
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
