package fcm

import (
	"net/http"
	"testing"
	"time"

	"github.com/magpie-im/magpie/push/provider"
)

func TestMessageTTL(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		exp  time.Time
		want string // android TTL; "-" means none
		web  string // webpush TTL header
	}{
		{"none", time.Time{}, "-", ""},
		{"in 90 s", now.Add(90 * time.Second), "1m30s", "90"},
		{"passed", now.Add(-time.Minute), "0s", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := message(provider.Target{Token: "d"}, provider.Notification{Body: "b", Expiration: tt.exp}, now)
			if err != nil {
				t.Fatal(err)
			}
			got := "-"
			if m.Android.TTL != nil {
				got = m.Android.TTL.String()
			}
			if got != tt.want || m.Webpush.Headers["TTL"] != tt.web {
				t.Errorf("TTL = %s, web %q, want %s, %q", got, m.Webpush.Headers["TTL"], tt.want, tt.web)
			}
		})
	}
}

func TestMessagePriority(t *testing.T) {
	tests := []struct {
		n       provider.Notification
		android string
		apns    string
	}{
		{provider.Notification{Body: "b"}, "high", "10"},
		{provider.Notification{Body: "b", Priority: provider.PriorityNormal}, "normal", "5"},
		{provider.Notification{Silent: true}, "normal", "5"},
		{provider.Notification{Silent: true, Priority: provider.PriorityHigh}, "high", "5"},
	}
	for _, tt := range tests {
		m, err := message(provider.Target{Token: "d"}, tt.n, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if m.Android.Priority != tt.android || m.APNS.Headers["apns-priority"] != tt.apns {
			t.Errorf("message(%+v) priorities = %s, %s, want %s, %s", tt.n, m.Android.Priority, m.APNS.Headers["apns-priority"], tt.android, tt.apns)
		}
	}
}

func TestReason(t *testing.T) {
	tests := []struct {
		body string
		want string
	}{
		{`{"error":{"status":"NOT_FOUND","details":[{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}`, "UNREGISTERED"},
		{`{"error":{"status":"NOT_FOUND"}}`, "NOT_FOUND"},
		{`<html>`, "Not Found"},
	}
	for _, tt := range tests {
		if got := reason(http.StatusNotFound, []byte(tt.body)); got != tt.want {
			t.Errorf("reason(%s) = %q, want %q", tt.body, got, tt.want)
		}
	}
}
