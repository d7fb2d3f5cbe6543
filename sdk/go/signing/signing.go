// Package signing implements the request-signing scheme of Magpie's server
// API, shared by the server, which verifies requests, and the server SDKs,
// which sign them.
//
// A signed request carries four headers: the app key, a Unix timestamp in
// decimal seconds, a single-use nonce of 16 to 64 characters from
// [A-Za-z0-9_-], and the signature. The signature is the lower-case hex
// HMAC-SHA256, keyed with the app secret's UTF-8 bytes, of
//
//	METHOD + "\n" + PATH + "\n" + QUERY + "\n" + TIMESTAMP + "\n" + NONCE + "\n" + hex(SHA-256(body))
//
// where PATH is the path exactly as sent on the request line (escaped, without
// the query) and QUERY is [CanonicalQuery] of the raw query.
//
// A client signs with [SignRequest]. A server rebuilds the string to sign from
// the request it received with [CanonicalQuery] and [StringToSign], checks it
// with [Verify], and also checks the timestamp with [CheckTimestamp] and that
// the nonce, valid per [ValidNonce], was not seen within [Window].
//
// All functions are safe for concurrent use.
package signing

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Names of the headers that carry a request's signature.
const (
	HeaderAppKey    = "X-Magpie-App-Key"
	HeaderTimestamp = "X-Magpie-Timestamp"
	HeaderNonce     = "X-Magpie-Nonce"
	HeaderSignature = "X-Magpie-Signature"
)

// Bounds on the length of a nonce, in characters.
const (
	MinNonceLen = 16
	MaxNonceLen = 64
)

// Window is how far a request's timestamp may be from the server's clock, in
// either direction. To stop replays a server must remember each app's nonces
// until their timestamp has left the window: up to 2 × Window after it first
// sees one.
const Window = 300 * time.Second

// newNonceLen is the length of the nonces made by NewNonce.
const newNonceLen = 32

// StringToSign returns the string whose HMAC is a request's signature.
// method is the request method as sent ("GET"), path the escaped path as sent
// on the request line without the query, canonicalQuery the output of
// [CanonicalQuery], timestamp and nonce the header values, and body the
// request body exactly as sent (nil for none).
func StringToSign(method, path, canonicalQuery, timestamp, nonce string, body []byte) string {
	sum := sha256.Sum256(body)
	return StringToSignHash(method, path, canonicalQuery, timestamp, nonce, hex.EncodeToString(sum[:]))
}

// StringToSignHash is [StringToSign] for a body known by its hash:
// bodySHA256 is the lower-case hex SHA-256 of the body. It serves bodies
// streamed rather than held in memory, such as file uploads: the signer
// hashes the file, the server hashes what it receives.
func StringToSignHash(method, path, canonicalQuery, timestamp, nonce, bodySHA256 string) string {
	return strings.Join([]string{method, path, canonicalQuery, timestamp, nonce, bodySHA256}, "\n")
}

// Sign returns the signature of stringToSign: the lower-case hex HMAC-SHA256
// keyed with secret's UTF-8 bytes.
func Sign(secret, stringToSign string) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(stringToSign))
	return hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether signature is the signature of stringToSign under
// secret. It compares in constant time and returns false for anything but
// 64 lower-case hex digits.
func Verify(secret, stringToSign, signature string) bool {
	want := Sign(secret, stringToSign)
	return subtle.ConstantTimeCompare([]byte(want), []byte(signature)) == 1
}

// SignRequest signs r, setting the four signature headers. The path is taken
// from r.URL as it will be sent on the request line and the query from
// r.URL.RawQuery; body must be the exact bytes r will send. now is the
// signing time and nonce a fresh value from [NewNonce].
//
// SignRequest fails if appKey or secret is empty, the nonce is invalid, or
// the query holds a malformed percent escape.
func SignRequest(r *http.Request, appKey, secret string, body []byte, now time.Time, nonce string) error {
	sum := sha256.Sum256(body)
	return SignRequestHash(r, appKey, secret, hex.EncodeToString(sum[:]), now, nonce)
}

// SignRequestHash is [SignRequest] for a body known by its hash, the
// lower-case hex SHA-256 of the exact bytes r will send.
func SignRequestHash(r *http.Request, appKey, secret, bodySHA256 string, now time.Time, nonce string) error {
	if appKey == "" {
		return errors.New("sign request: empty app key")
	}
	if secret == "" {
		return errors.New("sign request: empty app secret")
	}
	if !ValidNonce(nonce) {
		return fmt.Errorf("sign request: invalid nonce %q", nonce)
	}
	query, err := CanonicalQuery(r.URL.RawQuery)
	if err != nil {
		return fmt.Errorf("sign request: %w", err)
	}
	ts := strconv.FormatInt(now.Unix(), 10)
	sts := StringToSignHash(r.Method, requestPath(r), query, ts, nonce, bodySHA256)
	r.Header.Set(HeaderAppKey, appKey)
	r.Header.Set(HeaderTimestamp, ts)
	r.Header.Set(HeaderNonce, nonce)
	r.Header.Set(HeaderSignature, Sign(secret, sts))
	return nil
}

// requestPath returns the path net/http will write on r's request line: the
// escaped path, or "/" when it is empty.
func requestPath(r *http.Request) string {
	path, _, _ := strings.Cut(r.URL.RequestURI(), "?")
	return path
}

// NewNonce returns a random 32-character nonce drawn from [A-Za-z0-9_-].
func NewNonce() string {
	var b [newNonceLen * 3 / 4]byte
	rand.Read(b[:]) // never fails; see crypto/rand.Read
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// ValidNonce reports whether nonce has MinNonceLen to MaxNonceLen characters,
// all from [A-Za-z0-9_-].
func ValidNonce(nonce string) bool {
	if len(nonce) < MinNonceLen || len(nonce) > MaxNonceLen {
		return false
	}
	for i := 0; i < len(nonce); i++ {
		switch c := nonce[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return true
}

// CheckTimestamp parses timestamp, a header value of Unix seconds written as
// plain decimal digits, and reports an error if it is malformed or further
// than Window from now.
func CheckTimestamp(timestamp string, now time.Time) error {
	if timestamp == "" || len(timestamp) > 18 {
		return fmt.Errorf("timestamp %q: malformed", timestamp)
	}
	for i := 0; i < len(timestamp); i++ {
		if timestamp[i] < '0' || timestamp[i] > '9' {
			return fmt.Errorf("timestamp %q: malformed", timestamp)
		}
	}
	sec, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return fmt.Errorf("timestamp %q: %w", timestamp, err)
	}
	skew := now.Unix() - sec
	if skew > int64(Window/time.Second) || -skew > int64(Window/time.Second) {
		return fmt.Errorf("timestamp %q: %ds from server time, outside the %s window", timestamp, skew, Window)
	}
	return nil
}
