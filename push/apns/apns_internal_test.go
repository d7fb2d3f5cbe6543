package apns

import (
	"net/http"
	"testing"
	"time"

	"github.com/sideshow/apns2"

	"github.com/magpie-im/magpie/push/provider"
	"github.com/magpie-im/magpie/push/pushtest"
)

func TestHostByEnvironment(t *testing.T) {
	mc := pushtest.NewAPNs(t).Credential()
	c, err := ParseCredential(mc.Key, mc.KeyID, mc.TeamID, mc.Topic)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(c, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct{ env, want string }{
		{"", apns2.HostProduction},
		{EnvProduction, apns2.HostProduction},
		{EnvSandbox, apns2.HostDevelopment},
	}
	for _, tt := range tests {
		if got := s.client(provider.Target{Environment: tt.env}).Host; got != tt.want {
			t.Errorf("host of environment %q = %q, want %q", tt.env, got, tt.want)
		}
	}
	o, err := New(c, Options{Host: "https://127.0.0.1:9"})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	if got := o.client(provider.Target{Environment: EnvSandbox}).Host; got != "https://127.0.0.1:9" {
		t.Errorf("host with Options.Host = %q, want the override", got)
	}
}

func TestAPNsID(t *testing.T) {
	if got := apnsID(""); got != "" {
		t.Errorf(`apnsID("") = %q, want ""`, got)
	}
	a, b := apnsID("n-1"), apnsID("n-1")
	if a != b || len(a) != 36 || a[14] != '4' {
		t.Errorf(`apnsID("n-1") = %q, %q, want one version-4 UUID`, a, b)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		v    string
		want time.Duration
	}{
		{"", 0}, {"7", 7 * time.Second}, {"-3", 0}, {"x", 0},
		{"99999999999", maxRetryAfter},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.v, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.v, got, tt.want)
		}
	}
}
