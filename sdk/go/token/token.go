// Package token mints and verifies Magpie client tokens: the JWTs that
// authorise one end user of one app on the WebSocket gateway.
//
// A client token is signed HS256 with one of the app's secrets and carries
// these claims:
//
//	iss  the app key
//	sub  the user id (see ValidUserID)
//	aud  "magpie"
//	iat  issue time, Unix seconds
//	exp  expiry time, Unix seconds
//	jti  16 random bytes, hex
//
// The header has no "kid": a verifier calls [PeekAppKey] to learn which app
// the token claims, then [Parse] with that app's active secrets, so a
// secret can be rotated without invalidating tokens signed with the old one
// ([ParseFor] does both, decoding the token once).
//
// All functions are safe for concurrent use.
package token

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Audience is the "aud" claim of every client token.
const Audience = "magpie"

// MaxTTL is the longest lifetime Mint accepts.
const MaxTTL = 30 * 24 * time.Hour

// MaxUserIDLen is the longest user id, in bytes.
const MaxUserIDLen = 64

// maxTokenLen bounds the input Parse and PeekAppKey will decode; minted
// tokens are about 300 bytes.
const maxTokenLen = 4096

// Errors returned by Parse and PeekAppKey, wrapped with detail; test for them
// with errors.Is.
var (
	// ErrMalformed means the token is not a well-formed client token: bad
	// encoding, bad JSON, or a required claim missing or invalid.
	ErrMalformed = errors.New("token: malformed")
	// ErrSignature means no given secret verifies the signature, or the
	// token is signed with an algorithm other than HS256 (including "none").
	ErrSignature = errors.New("token: invalid signature")
	// ErrExpired means the token's expiry is at or before the current time.
	ErrExpired = errors.New("token: expired")
	// ErrWrongApp means the token was issued for another app, or for an
	// audience other than Magpie.
	ErrWrongApp = errors.New("token: wrong app")
)

// Claims are the verified contents of a client token.
type Claims struct {
	AppKey    string    // "iss"
	UserID    string    // "sub"
	IssuedAt  time.Time // "iat"
	ExpiresAt time.Time // "exp"
	ID        string    // "jti"; empty if the token has none
}

// ValidUserID reports whether id is a valid user id: 1 to 64 characters from
// [A-Za-z0-9_.@-], other than "." and ".." (which URL paths would resolve).
func ValidUserID(id string) bool {
	if id == "" || len(id) > MaxUserIDLen || id == "." || id == ".." {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case c == '_', c == '.', c == '@', c == '-':
		default:
			return false
		}
	}
	return true
}

// Mint returns a client token for userID of the app appKey, signed with
// secret, issued at now and valid for ttl, together with its expiry. ttl must
// be positive and at most MaxTTL; it is rounded up to a whole second.
func Mint(appKey, secret, userID string, ttl time.Duration, now time.Time) (string, time.Time, error) {
	switch {
	case appKey == "":
		return "", time.Time{}, errors.New("mint token: empty app key")
	case secret == "":
		return "", time.Time{}, errors.New("mint token: empty app secret")
	case !ValidUserID(userID):
		return "", time.Time{}, fmt.Errorf("mint token: invalid user id %q", userID)
	case ttl <= 0 || ttl > MaxTTL:
		return "", time.Time{}, fmt.Errorf("mint token: ttl %s outside (0, %s]", ttl, MaxTTL)
	}
	iat := now.Unix()
	exp := iat + int64((ttl+time.Second-1)/time.Second)
	var id [16]byte
	rand.Read(id[:]) // never fails; see crypto/rand.Read
	claims := jwt.MapClaims{
		"iss": appKey,
		"sub": userID,
		"aud": Audience,
		"iat": iat,
		"exp": exp,
		"jti": hex.EncodeToString(id[:]),
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("mint token: %w", err)
	}
	return tok, time.Unix(exp, 0), nil
}

// Parse verifies tok as a client token of the app appKey and returns its
// claims. The signature must verify with one of secrets (empty ones are
// skipped), the algorithm must be HS256, iss must equal appKey, aud must be
// Audience, and now must be before exp, with no leeway. The errors wrap
// ErrMalformed, ErrSignature, ErrWrongApp or ErrExpired; the signature is
// checked before the claims.
func Parse(tok, appKey string, secrets []string, now time.Time) (Claims, error) {
	if len(tok) > maxTokenLen {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	keys := make([]jwt.VerificationKey, 0, len(secrets))
	for _, s := range secrets {
		if s != "" {
			keys = append(keys, []byte(s))
		}
	}
	if len(keys) == 0 {
		return Claims{}, fmt.Errorf("%w: no secret to verify with", ErrSignature)
	}
	var rc jwt.RegisteredClaims
	_, err := parser().ParseWithClaims(tok, &rc, func(*jwt.Token) (any, error) {
		return jwt.VerificationKeySet{Keys: keys}, nil
	})
	// jwt's errors are formatted with %v, not wrapped, so that callers depend
	// on this package's sentinels only.
	switch {
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return Claims{}, fmt.Errorf("%w: %v", ErrSignature, err) //nolint:errorlint // see above
	case err != nil:
		return Claims{}, fmt.Errorf("%w: %v", ErrMalformed, err) //nolint:errorlint // see above
	}
	return checkClaims(&rc, appKey, now)
}

// checkClaims converts rc, verified, and checks it is a client token of
// the app appKey, for Magpie, not expired at now.
func checkClaims(rc *jwt.RegisteredClaims, appKey string, now time.Time) (Claims, error) {
	c, err := claimsFrom(rc)
	if err != nil {
		return Claims{}, err
	}
	if c.AppKey != appKey {
		return Claims{}, fmt.Errorf("%w: issued by %q", ErrWrongApp, c.AppKey)
	}
	if !slices.Equal(rc.Audience, jwt.ClaimStrings{Audience}) {
		return Claims{}, fmt.Errorf("%w: audience %q", ErrWrongApp, []string(rc.Audience))
	}
	if !now.Before(c.ExpiresAt) {
		return Claims{}, fmt.Errorf("%w: at %s", ErrExpired, c.ExpiresAt.UTC().Format(time.RFC3339))
	}
	return c, nil
}

// ParseFor verifies tok as Parse does, against the secrets of the app it
// claims to be issued for: secrets is called with the token's "iss" once
// the token is decoded (and only if it is well formed and says HS256),
// so the token is decoded once, where PeekAppKey then Parse decode it
// twice. It returns the claims and the secret that verified the
// signature. An error of secrets is returned as it is, wrapped; the
// other errors are Parse's.
func ParseFor(tok string, now time.Time, secrets func(appKey string) ([]string, error)) (Claims, string, error) {
	if len(tok) > maxTokenLen {
		return Claims{}, "", fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	var rc jwt.RegisteredClaims
	var keys []string
	var lookupErr error
	t, err := parser().ParseWithClaims(tok, &rc, func(*jwt.Token) (any, error) {
		if rc.Issuer == "" {
			return nil, fmt.Errorf("%w: no issuer", ErrMalformed)
		}
		ss, err := secrets(rc.Issuer)
		if err != nil {
			lookupErr = err
			return nil, err
		}
		set := jwt.VerificationKeySet{}
		for _, s := range ss {
			if s != "" {
				keys = append(keys, s)
				set.Keys = append(set.Keys, []byte(s))
			}
		}
		if len(keys) == 0 {
			return nil, errNoSecret
		}
		return set, nil
	})
	switch {
	case lookupErr != nil:
		return Claims{}, "", fmt.Errorf("token: secrets of %q: %w", rc.Issuer, lookupErr)
	case errors.Is(err, ErrMalformed):
		return Claims{}, "", fmt.Errorf("%w: no issuer", ErrMalformed)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return Claims{}, "", fmt.Errorf("%w: %v", ErrSignature, err) //nolint:errorlint // as in Parse
	case err != nil:
		return Claims{}, "", fmt.Errorf("%w: %v", ErrMalformed, err) //nolint:errorlint // as in Parse
	}
	c, err := checkClaims(&rc, rc.Issuer, now)
	if err != nil {
		return Claims{}, "", err
	}
	// The key set verified the signature with one of keys: which one (a
	// second HMAC, only while an app has two secrets).
	used := keys[0]
	if len(keys) > 1 {
		signing := tok[:strings.LastIndexByte(tok, '.')]
		for _, k := range keys {
			if jwt.SigningMethodHS256.Verify(signing, t.Signature, []byte(k)) == nil {
				used = k
				break
			}
		}
	}
	return c, used, nil
}

// errNoSecret is the key function's error when an app has no secret.
var errNoSecret = errors.New("no secret to verify with")

// PeekAppKey returns the "iss" claim of tok, the app key it claims to be
// issued for, WITHOUT verifying anything. Use it only to choose the secrets
// to pass to Parse. Its errors wrap ErrMalformed.
func PeekAppKey(tok string) (string, error) {
	if len(tok) > maxTokenLen {
		return "", fmt.Errorf("%w: longer than %d bytes", ErrMalformed, maxTokenLen)
	}
	// Only the claims are decoded, and of them only iss: a gateway peeks
	// at every login, and Parse decodes the whole token afterwards.
	_, rest, ok := strings.Cut(tok, ".")
	payload, sig, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || strings.Contains(sig, ".") {
		return "", fmt.Errorf("%w: not three segments", ErrMalformed)
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(payload)
	if err != nil {
		return "", fmt.Errorf("%w: claims: %v", ErrMalformed, err) //nolint:errorlint // detail, not API
	}
	var c struct {
		Issuer string `json:"iss"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return "", fmt.Errorf("%w: claims: %v", ErrMalformed, err) //nolint:errorlint // detail, not API
	}
	if c.Issuer == "" {
		return "", fmt.Errorf("%w: no issuer", ErrMalformed)
	}
	return c.Issuer, nil
}

// parser returns a JWT parser accepting HS256 only, with strict base64, that
// leaves claims validation to Parse.
func parser() *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithStrictDecoding(),
		jwt.WithoutClaimsValidation(),
	)
}

// claimsFrom checks that rc holds every claim a client token needs and
// converts it.
func claimsFrom(rc *jwt.RegisteredClaims) (Claims, error) {
	switch {
	case rc.Issuer == "":
		return Claims{}, fmt.Errorf("%w: no issuer", ErrMalformed)
	case !ValidUserID(rc.Subject):
		return Claims{}, fmt.Errorf("%w: invalid subject %q", ErrMalformed, rc.Subject)
	case rc.IssuedAt == nil:
		return Claims{}, fmt.Errorf("%w: no issued-at", ErrMalformed)
	case rc.ExpiresAt == nil:
		return Claims{}, fmt.Errorf("%w: no expiry", ErrMalformed)
	}
	return Claims{
		AppKey:    rc.Issuer,
		UserID:    rc.Subject,
		IssuedAt:  rc.IssuedAt.Time,
		ExpiresAt: rc.ExpiresAt.Time,
		ID:        rc.ID,
	}, nil
}
