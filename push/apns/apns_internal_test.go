package apns

import (
	"testing"

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
