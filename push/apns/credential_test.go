package apns_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/push/apns"
	"github.com/magpie-im/magpie/push/provider"
	"github.com/magpie-im/magpie/push/pushtest"
)

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func p384Key(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

func rsaKey(t *testing.T) []byte {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

func sec1Key(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("EC PRIVATE KEY", der)
}

func TestParseCredential(t *testing.T) {
	good := pushtest.NewAPNs(t).Credential()
	oversized := append([]byte(nil), good.Key...)
	oversized = append(oversized, strings.Repeat("\n", apns.MaxKeyBytes)...)
	tests := []struct {
		name          string
		key           []byte
		keyID, teamID string
		topic         string
		wantErr       string // "" means accepted
	}{
		{"good", good.Key, good.KeyID, good.TeamID, good.Topic, ""},
		{"good topic with dash and underscore", good.Key, good.KeyID, good.TeamID, "com.ex-ample.app_1", ""},
		{"empty key", nil, good.KeyID, good.TeamID, good.Topic, "key is empty"},
		{"not PEM", []byte("not a key"), good.KeyID, good.TeamID, good.Topic, "not a PEM .p8 private key"},
		{"SEC1 EC key", sec1Key(t), good.KeyID, good.TeamID, good.Topic, `"EC PRIVATE KEY" block`},
		{"garbage in PEM", pemBlock("PRIVATE KEY", []byte("garbage")), good.KeyID, good.TeamID, good.Topic, "not a PKCS#8 private key"},
		{"RSA key", rsaKey(t), good.KeyID, good.TeamID, good.Topic, "not an ECDSA P-256 key"},
		{"P-384 key", p384Key(t), good.KeyID, good.TeamID, good.Topic, "not an ECDSA P-256 key"},
		{"oversized key", oversized, good.KeyID, good.TeamID, good.Topic, "more than 8192"},
		{"short key id", good.Key, "ABC", good.TeamID, good.Topic, "key id must be 10 characters"},
		{"lowercase key id", good.Key, "abcdefghij", good.TeamID, good.Topic, "key id must be 10 characters"},
		{"empty team id", good.Key, good.KeyID, "", good.Topic, "team id must be 10 characters"},
		{"team id with a dash", good.Key, good.KeyID, "ABCDE-GHIJ", good.Topic, "team id must be 10 characters"},
		{"empty topic", good.Key, good.KeyID, good.TeamID, "", "topic is empty"},
		{"topic with a space", good.Key, good.KeyID, good.TeamID, "com.example app", "is not a bundle id"},
		{"topic too long", good.Key, good.KeyID, good.TeamID, strings.Repeat("a", 256), "more than 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := apns.ParseCredential(tt.key, tt.keyID, tt.teamID, tt.topic)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseCredential = %v, want nil", err)
				}
				if c.KeyID != tt.keyID || c.TeamID != tt.teamID || c.Topic != tt.topic || string(c.Key) != string(tt.key) {
					t.Errorf("ParseCredential = %+v, want the given parts", c)
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
	good := pushtest.NewAPNs(t).Credential()
	c, err := apns.ParseCredential(good.Key, good.KeyID, good.TeamID, good.Topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := apns.Check(c); err != nil {
		t.Errorf("Check(good) = %v, want nil", err)
	}
	bad := c
	bad.Key = rsaKey(t)
	if err := apns.Check(bad); !errors.Is(err, provider.ErrCredential) {
		t.Errorf("Check(RSA key) = %v, want ErrCredential", err)
	}
	bad = c
	bad.TeamID = "short"
	if err := apns.Check(bad); !errors.Is(err, provider.ErrCredential) {
		t.Errorf("Check(short team id) = %v, want ErrCredential", err)
	}
	if _, err := apns.New(bad, apns.Options{}); !errors.Is(err, provider.ErrCredential) {
		t.Errorf("New(short team id) = %v, want ErrCredential", err)
	}
}
