package pushtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// APNsTopic is the topic of the credential an APNs mock accepts.
const APNsTopic = "im.magpie.test"

// apnsMaxPayload is APNs's payload limit.
const apnsMaxPayload = 4096

// APNs is a mock of Apple's push service: an HTTP/2 server over TLS on
// 127.0.0.1. It verifies the provider token of each request with the
// public key of its Credential, records the request, and answers from its
// script (Respond), else with 200. Requests it refuses before the script
// (a bad path or method, a bad provider token, a missing topic, a payload
// over 4096 bytes) are recorded too.
type APNs struct {
	srv    *httptestServer
	cred   APNsCredential
	pub    *ecdsa.PublicKey
	reqs   *recorder[APNsRequest]
	script *script
}

// APNsCredential is what an APNs mock accepts: a .p8 key (PEM PKCS#8
// ECDSA P-256), its key id, the team id and the topic. Pass its fields to
// apns.ParseCredential.
type APNsCredential struct {
	Key    []byte
	KeyID  string
	TeamID string
	Topic  string
}

// APNsRequest is one request an APNs mock received.
type APNsRequest struct {
	// Method, Host, Path and Proto are the request's ("POST",
	// "127.0.0.1:port", "/3/device/<token>", "HTTP/2.0").
	Method, Host, Path, Proto string
	// Token is the device token of the path.
	Token string
	// Header holds the request's headers (apns-topic, apns-push-type,
	// apns-priority, apns-collapse-id, apns-id, apns-expiration,
	// authorization).
	Header http.Header
	// Raw is the request body; Payload is it decoded, nil if it is not a
	// JSON object.
	Raw     []byte
	Payload map[string]any
	// JWTOK reports whether the authorization header held a provider token
	// signed (ES256) by the credential's key, with its key id and team
	// id; JWTError says why not.
	JWTOK    bool
	JWTError string
	// At is when the request arrived.
	At time.Time
}

// Aps returns the payload's "aps" dictionary, nil if there is none.
func (r APNsRequest) Aps() map[string]any {
	aps, _ := r.Payload["aps"].(map[string]any)
	return aps
}

// NewAPNs starts an APNs mock with a freshly generated credential. It is
// closed when tb ends.
func NewAPNs(tb testing.TB) *APNs {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("generate APNs key: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("encode APNs key: %v", err)
	}
	m := &APNs{
		cred: APNsCredential{
			Key:    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
			KeyID:  randomID(10, upperAlnum),
			TeamID: randomID(10, upperAlnum),
			Topic:  APNsTopic,
		},
		pub:    &key.PublicKey,
		reqs:   newRecorder[APNsRequest](),
		script: newScript(),
	}
	m.srv = startServer(tb, http.HandlerFunc(m.serveHTTP), true)
	return m
}

// Credential returns the credential the mock accepts.
func (m *APNs) Credential() APNsCredential {
	c := m.cred
	c.Key = append([]byte(nil), c.Key...)
	return c
}

// URL returns the mock's base URL, https://127.0.0.1:port.
func (m *APNs) URL() string { return m.srv.URL }

// CertPEM returns the mock's certificate in PEM: the CA file of a process
// that reaches the mock (magpie's --push-ca-file).
func (m *APNs) CertPEM() []byte { return m.srv.certPEM() }

// RootCAs returns a pool that trusts the mock's certificate.
func (m *APNs) RootCAs() *x509.CertPool { return m.srv.roots }

// Client returns an HTTP client that trusts the mock.
func (m *APNs) Client() *http.Client { return m.srv.Client() }

// Respond queues responses for the device token: each request for it
// takes the next one; when none is left the mock answers 200.
func (m *APNs) Respond(token string, rs ...Response) {
	m.script.push(token, rs)
}

// Requests returns the requests received so far, in order.
func (m *APNs) Requests() []APNsRequest { return m.reqs.all() }

// WaitRequests blocks until the mock has received at least n requests and
// returns them, or returns ctx's error.
func (m *APNs) WaitRequests(ctx context.Context, n int) ([]APNsRequest, error) {
	return m.reqs.wait(ctx, n)
}

func (m *APNs) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	req := APNsRequest{
		Method: r.Method, Host: r.Host, Path: r.URL.Path, Proto: r.Proto,
		Token:  strings.TrimPrefix(r.URL.Path, "/3/device/"),
		Header: r.Header.Clone(),
		Raw:    body,
		At:     time.Now(),
	}
	_ = json.Unmarshal(body, &req.Payload)
	if err := m.verifyJWT(r.Header.Get("Authorization")); err != nil {
		req.JWTError = err.Error()
	} else {
		req.JWTOK = true
	}
	res := m.answer(req)
	m.reqs.add(req) // before answering: a Send that returned is recorded
	res.hold(r)
	m.write(w, req, res)
}

// answer decides the response to req: a refusal of a malformed request,
// else the script's next response for the token, else 200.
func (m *APNs) answer(req APNsRequest) Response {
	switch {
	case req.Method != http.MethodPost:
		return Response{Status: http.StatusMethodNotAllowed, Reason: "MethodNotAllowed"}
	case !strings.HasPrefix(req.Path, "/3/device/") || req.Token == "" || strings.Contains(req.Token, "/"):
		return Response{Status: http.StatusNotFound, Reason: "BadPath"}
	case !req.JWTOK:
		return Response{Status: http.StatusForbidden, Reason: "InvalidProviderToken"}
	case req.Header.Get("apns-topic") == "":
		return Response{Status: http.StatusBadRequest, Reason: "MissingTopic"}
	case len(req.Raw) > apnsMaxPayload:
		return Response{Status: http.StatusRequestEntityTooLarge, Reason: "PayloadTooLarge"}
	case req.Payload == nil:
		return Response{Status: http.StatusBadRequest, Reason: "PayloadEmpty"}
	}
	if res, ok := m.script.pop(req.Token); ok {
		return res
	}
	return Response{Status: http.StatusOK}
}

// write sends res as APNs would: an apns-id header, and for an error a
// JSON body with the reason (and a timestamp for 410).
func (m *APNs) write(w http.ResponseWriter, req APNsRequest, res Response) {
	id := req.Header.Get("apns-id")
	if id == "" {
		id = randomUUID()
	}
	w.Header().Set("apns-id", id)
	if res.RetryAfter != "" {
		w.Header().Set("Retry-After", res.RetryAfter)
	}
	status := res.Status
	if status == 0 {
		status = http.StatusOK
	}
	if status == http.StatusOK {
		w.WriteHeader(status)
		return
	}
	reason := res.Reason
	if reason == "" {
		reason = apnsReason(status)
	}
	body := map[string]any{"reason": reason}
	if status == http.StatusGone {
		body["timestamp"] = time.Now().UnixMilli()
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// apnsReason returns APNs's usual reason for an error status.
func apnsReason(status int) string {
	switch status {
	case http.StatusGone:
		return "Unregistered"
	case http.StatusTooManyRequests:
		return "TooManyRequests"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailable"
	case http.StatusForbidden:
		return "InvalidProviderToken"
	}
	if status >= 500 {
		return "InternalServerError"
	}
	return "BadRequest" + strconv.Itoa(status)
}

// verifyJWT checks an authorization header: "bearer <JWT>", signed ES256
// by the credential's key, kid the key id, iss the team id, iat present.
func (m *APNs) verifyJWT(authz string) error {
	raw, ok := strings.CutPrefix(authz, "bearer ")
	if !ok {
		return errors.New(`authorization is not "bearer <JWT>"`)
	}
	claims := jwt.MapClaims{}
	tok, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return m.pub, nil },
		jwt.WithValidMethods([]string{"ES256"}))
	if err != nil {
		return fmt.Errorf("verify provider token: %w", err)
	}
	if kid, _ := tok.Header["kid"].(string); kid != m.cred.KeyID {
		return fmt.Errorf("provider token kid %q, want %q", kid, m.cred.KeyID)
	}
	if iss, _ := claims["iss"].(string); iss != m.cred.TeamID {
		return fmt.Errorf("provider token iss %q, want %q", iss, m.cred.TeamID)
	}
	if _, ok := claims["iat"].(float64); !ok {
		return errors.New("provider token has no iat")
	}
	return nil
}

// randomUUID returns a random version-4 UUID.
func randomUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}
