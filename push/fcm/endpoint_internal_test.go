package fcm

import (
	"context"
	"net"
	"net/url"
	"testing"

	"github.com/magpie-im/magpie/push/provider"
	"github.com/magpie-im/magpie/push/pushtest"
)

// TestProductionEndpoint: without Options.Endpoint a Sender posts to
// https://fcm.googleapis.com/v1/..., with no rewrite. Every dial goes to
// the mock instead of the network, so the mock sees the request as Google
// would.
func TestProductionEndpoint(t *testing.T) {
	m := pushtest.NewFCM(t)
	c, err := ParseCredential(m.ServiceAccountJSON())
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(t.Context(), c, Options{RootCAs: m.RootCAs()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := url.Parse(m.URL())
	if err != nil {
		t.Fatal(err)
	}
	var d net.Dialer
	s.transport.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, u.Host)
	}
	// The mock's certificate is for 127.0.0.1, not fcm.googleapis.com.
	s.transport.TLSClientConfig.InsecureSkipVerify = true
	if err := s.Send(t.Context(), provider.Target{Token: "dev-1"}, provider.Notification{ID: "n", Body: "b"}); err != nil {
		t.Fatalf("Send = %v", err)
	}
	r := m.Requests()
	if len(r) != 1 || r[0].Host != "fcm.googleapis.com" || r[0].Path != "/v1/projects/"+pushtest.FCMProject+"/messages:send" {
		t.Fatalf("mock requests = %+v, want one to fcm.googleapis.com/v1/projects/%s/messages:send", r, pushtest.FCMProject)
	}
}
