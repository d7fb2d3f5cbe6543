package webhook

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Errors of Verify and VerifyRequest, returned wrapped with detail; test for
// them with errors.Is.
var (
	// ErrMissingHeaders: webhook-id, webhook-timestamp or webhook-signature
	// is absent or empty.
	ErrMissingHeaders = errors.New("webhook: missing signature headers")
	// ErrHeaders: a header is malformed or too long, such as a webhook-id
	// that is not printable ASCII or a header given twice.
	ErrHeaders = errors.New("webhook: malformed signature headers")
	// ErrTimestamp: webhook-timestamp is not an integer or is outside the
	// tolerance.
	ErrTimestamp = errors.New("webhook: bad timestamp")
	// ErrSignature: no v1 signature matches any of the verifier's keys.
	ErrSignature = errors.New("webhook: no matching signature")
	// ErrBodyTooLarge: VerifyRequest's body is larger than its limit.
	ErrBodyTooLarge = errors.New("webhook: body too large")
)

// DefaultTolerance is a Verifier's tolerance when its Tolerance is zero.
const DefaultTolerance = 5 * time.Minute

// DefaultMaxBody is VerifyRequest's body limit when maxBody is zero or
// negative, in bytes.
const DefaultMaxBody = 1 << 20

// MaxSignatureHeaderLen bounds webhook-signature (all its values together),
// in bytes: room for dozens of signatures.
const MaxSignatureHeaderLen = 4096

// maxTimestampLen bounds webhook-timestamp, in digits.
const maxTimestampLen = 12

// Verifier checks the signatures of deliveries against one or two secrets:
// two while the receiver rotates its endpoint's secret.
//
// A Verifier is safe for concurrent use as long as its fields are not
// changed while it verifies.
type Verifier struct {
	// Tolerance is how far a delivery's timestamp may be from Now, in
	// either direction. Zero or negative means DefaultTolerance (5 minutes).
	Tolerance time.Duration
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time

	keys [][]byte
}

// NewVerifier returns a Verifier that accepts deliveries signed with any of
// secrets, of which there must be one or two. Its errors wrap ErrSecret.
func NewVerifier(secrets ...string) (*Verifier, error) {
	if len(secrets) == 0 || len(secrets) > 2 {
		return nil, fmt.Errorf("%w: got %d secrets, want 1 or 2", ErrSecret, len(secrets))
	}
	v := &Verifier{keys: make([][]byte, len(secrets))}
	for i, s := range secrets {
		key, err := ParseSecret(s)
		if err != nil {
			return nil, fmt.Errorf("secret %d: %w", i+1, err)
		}
		v.keys[i] = key
	}
	return v, nil
}

// signed holds a delivery's checked webhook-id and webhook-timestamp and
// its raw signature list.
type signed struct {
	id, timestamp, signatures string
}

// Verify checks that h carries a valid signature of body: all three headers
// present, a webhook-id per ValidID, a webhook-timestamp in Unix seconds
// within the tolerance of Now, and at least one "v1," entry in the
// space-separated webhook-signature that matches one of the keys. Entries of
// other versions are ignored. The error wraps ErrMissingHeaders, ErrHeaders,
// ErrTimestamp or ErrSignature.
func (v *Verifier) Verify(h http.Header, body []byte) error {
	s, err := v.checkHeaders(h)
	if err != nil {
		return err
	}
	return v.checkSignature(s, body)
}

// VerifyRequest reads r's body, up to maxBody bytes, and verifies it with
// r's headers as Verify does. It returns the body if the signature is good.
// Zero or negative maxBody means DefaultMaxBody (1 MiB). It checks the
// headers and timestamp before reading the body, fails with ErrBodyTooLarge
// for a longer body, and does not close r.Body.
func (v *Verifier) VerifyRequest(r *http.Request, maxBody int64) ([]byte, error) {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	s, err := v.checkHeaders(r.Header)
	if err != nil {
		return nil, err
	}
	var body []byte
	if r.Body != nil {
		body, err = io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil {
			return nil, fmt.Errorf("webhook: read body: %w", err)
		}
	}
	if int64(len(body)) > maxBody {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrBodyTooLarge, maxBody)
	}
	if err := v.checkSignature(s, body); err != nil {
		return nil, err
	}
	return body, nil
}

// checkHeaders checks the presence and form of the three headers and the
// timestamp's tolerance.
func (v *Verifier) checkHeaders(h http.Header) (signed, error) {
	ids, tss, sigs := h.Values(HeaderID), h.Values(HeaderTimestamp), h.Values(HeaderSignature)
	if len(ids) == 0 || len(tss) == 0 || len(sigs) == 0 || ids[0] == "" || tss[0] == "" {
		return signed{}, ErrMissingHeaders
	}
	if len(ids) > 1 || len(tss) > 1 {
		return signed{}, fmt.Errorf("%w: %s or %s given more than once", ErrHeaders, HeaderID, HeaderTimestamp)
	}
	n := len(sigs) - 1
	for _, s := range sigs {
		n += len(s)
	}
	if n > MaxSignatureHeaderLen {
		return signed{}, fmt.Errorf("%w: %s longer than %d bytes", ErrHeaders, HeaderSignature, MaxSignatureHeaderLen)
	}
	if strings.TrimSpace(strings.Join(sigs, "")) == "" {
		return signed{}, ErrMissingHeaders
	}
	if !ValidID(ids[0]) {
		return signed{}, fmt.Errorf("%w: %s not 1 to %d bytes of printable ASCII", ErrHeaders, HeaderID, MaxIDLen)
	}
	if err := v.checkTimestamp(tss[0]); err != nil {
		return signed{}, err
	}
	return signed{id: ids[0], timestamp: tss[0], signatures: strings.Join(sigs, " ")}, nil
}

// checkTimestamp checks that ts is Unix seconds in plain decimal digits
// within the tolerance of now.
func (v *Verifier) checkTimestamp(ts string) error {
	if len(ts) > maxTimestampLen {
		return fmt.Errorf("%w: more than %d digits", ErrTimestamp, maxTimestampLen)
	}
	for i := 0; i < len(ts); i++ {
		if ts[i] < '0' || ts[i] > '9' {
			return fmt.Errorf("%w: not an integer", ErrTimestamp)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTimestamp, err)
	}
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	tol := v.Tolerance
	if tol <= 0 {
		tol = DefaultTolerance
	}
	skew := now().Sub(time.Unix(sec, 0))
	if skew > tol || skew < -tol {
		return fmt.Errorf("%w: %s from now, outside the tolerance of %s", ErrTimestamp, skew.Round(time.Second), tol)
	}
	return nil
}

// checkSignature reports whether any v1 entry of s.signatures is the MAC of
// s and body under any key, comparing in constant time.
func (v *Verifier) checkSignature(s signed, body []byte) error {
	macs := make([][]byte, len(v.keys))
	for i, key := range v.keys {
		macs[i] = mac(key, s.id, s.timestamp, body)
	}
	for entry := range strings.FieldsSeq(s.signatures) {
		enc, ok := strings.CutPrefix(entry, signaturePrefix)
		if !ok {
			continue // another version, or not a signature at all
		}
		got, err := base64.StdEncoding.DecodeString(enc)
		if err != nil {
			continue
		}
		for _, want := range macs {
			if hmac.Equal(got, want) {
				return nil
			}
		}
	}
	return ErrSignature
}
