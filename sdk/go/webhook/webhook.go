// Package webhook implements the signing scheme of Magpie's webhooks, in the
// style of Standard Webhooks (https://www.standardwebhooks.com): Magpie
// signs each delivery with [Headers], and a customer's backend checks it
// with a [Verifier].
//
// A delivery carries three headers:
//
//	webhook-id:        msg_2mZ4dKqYwB1nVx7pH3sLtE
//	webhook-timestamp: 1767225600
//	webhook-signature: v1,bfrdhDsVHIrNxCCGzHpKFKd2uXMX3KBZNVSfxczjx1Y=
//
// The signature is "v1," and the standard base64 of the HMAC-SHA256, keyed
// with the endpoint secret's decoded bytes, of
//
//	webhook-id + "." + webhook-timestamp + "." + body
//
// While an endpoint's secret is being rotated, both the new and the old
// secret sign each delivery, and webhook-signature lists both signatures,
// newest first, separated by a space. A receiver accepts a delivery when any
// "v1," entry matches any of its keys; entries of other versions are ignored.
//
// Secrets are "whsec_" followed by the standard base64 of MinKeyLen to
// MaxKeyLen random bytes (see [NewSecret] and [ParseSecret]).
//
// # Replays
//
// A [Verifier] refuses deliveries whose timestamp is further than its
// Tolerance from its clock, so an intercepted delivery can be replayed only
// within that window. To refuse those replays too, and to process a
// delivery once even when Magpie retries it, a receiver remembers the
// webhook-id of each delivery it has accepted for at least twice the
// tolerance (a timestamp can be up to Tolerance in the past or the future)
// and ignores, with a 2xx answer, a delivery whose id it has seen. The id
// is the same on every retry of a delivery; the timestamp and signature are
// new on each attempt.
//
// All functions, and the methods of a Verifier whose fields are not being
// changed, are safe for concurrent use.
package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Names of the headers that carry a delivery's signature. HTTP header
// names are case-insensitive; net/http writes these as Webhook-Id and so on.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every endpoint secret.
const SecretPrefix = "whsec_"

// Bounds on the length of a secret's key, in bytes after base64 decoding.
const (
	MinKeyLen = 24
	MaxKeyLen = 64
)

// newKeyLen is the length of the keys made by NewSecret, in bytes.
const newKeyLen = 32

// MaxIDLen is the longest webhook-id a Verifier accepts, in bytes.
const MaxIDLen = 256

// signaturePrefix starts every signature of the scheme's version 1.
const signaturePrefix = "v1,"

// ErrSecret is returned, wrapped, by ParseSecret and NewVerifier for a
// malformed secret. Its messages never contain the secret.
var ErrSecret = errors.New("webhook secret")

// NewSecret returns a new secret: SecretPrefix and the base64 of 32 random
// bytes.
func NewSecret() (string, error) {
	key := make([]byte, newKeyLen)
	if _, err := rand.Read(key); err != nil {
		return "", fmt.Errorf("new webhook secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key), nil
}

// ParseSecret returns the key of secret, SecretPrefix followed by the
// standard base64 (with padding) of MinKeyLen to MaxKeyLen bytes. Its errors
// wrap ErrSecret.
func ParseSecret(secret string) ([]byte, error) {
	enc, ok := strings.CutPrefix(secret, SecretPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: missing %q prefix", ErrSecret, SecretPrefix)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("%w: not standard base64 after the prefix", ErrSecret)
	}
	if len(key) < MinKeyLen || len(key) > MaxKeyLen {
		return nil, fmt.Errorf("%w: key of %d bytes, want %d to %d", ErrSecret, len(key), MinKeyLen, MaxKeyLen)
	}
	return key, nil
}

// Sign returns the version 1 signature, "v1," and the standard base64 of
// the HMAC-SHA256 keyed with key of id + "." + ts in Unix seconds + "." +
// body.
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	return signaturePrefix + base64.StdEncoding.EncodeToString(mac(key, id, strconv.FormatInt(ts.Unix(), 10), body))
}

// mac returns the raw HMAC-SHA256 of id.timestamp.body under key.
func mac(key []byte, id, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Headers returns the three headers of a delivery of body with id, signed
// at ts with each of keys: webhook-signature lists one signature per key,
// in the order given (newest key first), separated by a space. With no keys
// webhook-signature is empty and no receiver accepts the delivery.
func Headers(keys [][]byte, id string, ts time.Time, body []byte) http.Header {
	sigs := make([]string, len(keys))
	for i, key := range keys {
		sigs[i] = Sign(key, id, ts, body)
	}
	h := make(http.Header, 3)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, strings.Join(sigs, " "))
	return h
}

// ValidID reports whether id can be a webhook-id: 1 to MaxIDLen bytes of
// printable ASCII without spaces (0x21 to 0x7E).
func ValidID(id string) bool {
	if id == "" || len(id) > MaxIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
