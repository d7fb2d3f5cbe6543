package fcm_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/push/fcm"
	"github.com/magpie-im/magpie/push/provider"
	"github.com/magpie-im/magpie/push/pushtest"
)

// edit returns the service account sa with the fields of set changed (a
// nil value deletes the field).
func edit(t *testing.T, sa []byte, set map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(sa, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ecKeyPEM(t *testing.T) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestParseCredential(t *testing.T) {
	m := pushtest.NewFCM(t)
	good := m.ServiceAccountJSON()
	tests := []struct {
		name    string
		json    []byte
		wantErr string // "" means accepted
	}{
		{"good", good, ""},
		{"not JSON", []byte("hello"), "not a valid JSON key file"},
		{"JSON array", []byte("[1,2]"), "not a valid JSON key file"},
		{"empty", nil, "not a valid JSON key file"},
		{"oversized", append(append([]byte(nil), good[:len(good)-1]...), []byte(`,"pad":"`+strings.Repeat("x", fcm.MaxCredentialBytes)+`"}`)...), "more than 16384"},
		{"wrong type", edit(t, good, map[string]any{"type": "authorized_user"}), `type is "authorized_user"`},
		{"type not a string", edit(t, good, map[string]any{"type": 7}), "not a valid JSON key file"},
		{"no project id", edit(t, good, map[string]any{"project_id": nil}), "project_id is missing"},
		{"bad project id", edit(t, good, map[string]any{"project_id": "a/b"}), "not a Google Cloud project id"},
		{"no client email", edit(t, good, map[string]any{"client_email": nil}), "client_email"},
		{"no private key", edit(t, good, map[string]any{"private_key": nil}), "private_key is missing"},
		{"private key not PEM", edit(t, good, map[string]any{"private_key": "MIIEvQ"}), "not a PEM private key"},
		{"private key garbage", edit(t, good, map[string]any{"private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}), "cannot be parsed"},
		{"private key EC", edit(t, good, map[string]any{"private_key": ecKeyPEM(t)}), "not an RSA key"},
		{"no token uri", edit(t, good, map[string]any{"token_uri": nil}), "token_uri is missing"},
		{"http token uri", edit(t, good, map[string]any{"token_uri": "http://127.0.0.1/token"}), "not an https URL"},
		{"token uri not a URL", edit(t, good, map[string]any{"token_uri": "oauth2"}), "not an https URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := fcm.ParseCredential(tt.json)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseCredential = %v, want nil", err)
				}
				if c.ProjectID != pushtest.FCMProject || c.TokenURI != m.TokenURL() || !strings.Contains(c.ClientEmail, "@") {
					t.Errorf("ParseCredential = %+v, want the file's fields", c)
				}
				return
			}
			if !errors.Is(err, provider.ErrCredential) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseCredential = %v, want ErrCredential saying %q", err, tt.wantErr)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	m := pushtest.NewFCM(t)
	o := fcm.Options{Endpoint: m.URL(), RootCAs: m.RootCAs()}
	c, err := fcm.ParseCredential(m.ServiceAccountJSON())
	if err != nil {
		t.Fatal(err)
	}
	if err := fcm.Check(t.Context(), c, o); err != nil {
		t.Errorf("Check(good) = %v, want nil", err)
	}
	if n := m.TokenRequests(); n != 1 {
		t.Errorf("token requests = %d, want 1", n)
	}
	if n := len(m.Requests()); n != 0 {
		t.Errorf("Check sent %d messages, want none", n)
	}

	foreign, err := fcm.ParseCredential(foreignAccount(t, m))
	if err != nil {
		t.Fatal(err)
	}
	err = fcm.Check(t.Context(), foreign, o)
	if !errors.Is(err, provider.ErrCredential) || !strings.Contains(err.Error(), "refused the service account") {
		t.Errorf("Check(key the endpoint does not know) = %v, want ErrCredential", err)
	}

	// A token endpoint that cannot be reached is not the credential's
	// fault.
	unreachable, err := fcm.ParseCredential(edit(t, m.ServiceAccountJSON(), map[string]any{"token_uri": "https://127.0.0.1:1/token"}))
	if err != nil {
		t.Fatal(err)
	}
	err = fcm.Check(t.Context(), unreachable, o)
	if err == nil || errors.Is(err, provider.ErrCredential) {
		t.Errorf("Check(unreachable token endpoint) = %v, want a plain error", err)
	}

	bad := c
	bad.JSON = []byte("{}")
	if err := fcm.Check(t.Context(), bad, o); !errors.Is(err, provider.ErrCredential) {
		t.Errorf("Check(malformed JSON) = %v, want ErrCredential", err)
	}
	if _, err := fcm.New(t.Context(), bad, o); !errors.Is(err, provider.ErrCredential) {
		t.Errorf("New(malformed JSON) = %v, want ErrCredential", err)
	}
}
