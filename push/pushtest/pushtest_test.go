package pushtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/push/pushtest"
)

func post(t *testing.T, c *http.Client, u, contentType, body string, header map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func TestAPNsRefusesBadProviderToken(t *testing.T) {
	m := pushtest.NewAPNs(t)
	res := post(t, m.Client(), m.URL()+"/3/device/tok", "application/json", `{"aps":{}}`,
		map[string]string{"authorization": "bearer not.a.jwt", "apns-topic": pushtest.APNsTopic})
	var body struct{ Reason string }
	_ = json.NewDecoder(res.Body).Decode(&body)
	if res.StatusCode != http.StatusForbidden || body.Reason != "InvalidProviderToken" {
		t.Errorf("answer = %d %q, want 403 InvalidProviderToken", res.StatusCode, body.Reason)
	}
	r := m.Requests()
	if len(r) != 1 || r[0].JWTOK || r[0].JWTError == "" || r[0].Token != "tok" {
		t.Errorf("requests = %+v, want one with a refused token", r)
	}
}

func TestFCMRefusesUnknownBearer(t *testing.T) {
	m := pushtest.NewFCM(t)
	res := post(t, m.Client(), m.URL()+"/v1/projects/"+pushtest.FCMProject+"/messages:send", "application/json",
		`{"message":{"token":"d"}}`, map[string]string{"Authorization": "Bearer forged"})
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", res.StatusCode)
	}
	if r := m.Requests(); len(r) != 1 || r[0].BearerOK || r[0].Token != "d" {
		t.Errorf("requests = %+v, want one with a refused bearer", r)
	}
}

func TestFCMTokenEndpointRefusesGrant(t *testing.T) {
	m := pushtest.NewFCM(t)
	form := url.Values{"grant_type": {"client_credentials"}}.Encode()
	res := post(t, m.Client(), m.TokenURL(), "application/x-www-form-urlencoded", form, nil)
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("status = %d, want 400", res.StatusCode)
	}
	form = url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"x.y.z"}}.Encode()
	res = post(t, m.Client(), m.TokenURL(), "application/x-www-form-urlencoded", form, nil)
	var body struct{ Error string }
	_ = json.NewDecoder(res.Body).Decode(&body)
	if res.StatusCode != http.StatusBadRequest || body.Error != "invalid_grant" {
		t.Errorf("answer = %d %q, want 400 invalid_grant", res.StatusCode, body.Error)
	}
	if n := m.TokenRequests(); n != 2 {
		t.Errorf("TokenRequests = %d, want 2", n)
	}
}

func TestWaitRequests(t *testing.T) {
	m := pushtest.NewFCM(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := m.WaitRequests(ctx, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("WaitRequests(canceled, 1) = %v, want context.Canceled", err)
	}
	got := make(chan int, 1)
	go func() {
		r, err := m.WaitRequests(t.Context(), 2)
		if err != nil {
			t.Error(err)
		}
		got <- len(r)
	}()
	for range 2 {
		post(t, m.Client(), m.URL()+"/v1/projects/x/messages:send", "application/json", `{}`, nil)
	}
	if n := <-got; n != 2 {
		t.Errorf("WaitRequests(2) returned %d requests", n)
	}
}
