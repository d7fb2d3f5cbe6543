package pushtest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// FCMProject is the project id of the service account an FCM mock
// accepts.
const FCMProject = "magpie-test"

// FCMScope is the OAuth2 scope an FCM mock requires of an assertion.
const FCMScope = "https://www.googleapis.com/auth/firebase.messaging"

// jwtBearerGrant is the OAuth2 grant type of a service-account assertion.
const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

// FCM is a mock of Firebase Cloud Messaging's HTTP v1 API and of Google's
// OAuth2 token endpoint, on one HTTPS server on 127.0.0.1.
//
// POST /token takes a JWT-bearer assertion, verifies its RS256 signature
// with the public key of the mock's service account (and its iss, aud and
// scope) and issues an access token. POST
// /v1/projects/{project}/messages:send requires a bearer access token it
// issued, records the message, and answers from its script (Respond), else
// with 200 and a message name.
type FCM struct {
	srv    *httptestServer
	key    *rsa.PrivateKey
	keyID  string
	email  string
	reqs   *recorder[FCMRequest]
	script *script

	mu          sync.Mutex      // guards the following fields
	issued      map[string]bool // access tokens given out
	tokenReqs   int             // requests to /token, refused ones too
	nextMessage int             // number of the next message name
}

// FCMRequest is one request an FCM mock received at its send endpoint.
type FCMRequest struct {
	// Method, Host and Path are the request's ("POST", "127.0.0.1:port",
	// "/v1/projects/magpie-test/messages:send").
	Method, Host, Path string
	// Project is the project id of the path.
	Project string
	// Header holds the request's headers.
	Header http.Header
	// BearerOK reports whether the authorization header held an access
	// token the mock issued.
	BearerOK bool
	// Raw is the request body; Message is its "message" decoded, nil if
	// the body is not FCM's JSON.
	Raw     []byte
	Message map[string]any
	// Token is the message's device token.
	Token string
	// At is when the request arrived.
	At time.Time
}

// NewFCM starts an FCM mock with a freshly generated service account. It
// is closed when tb ends.
func NewFCM(tb testing.TB) *FCM {
	tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		tb.Fatalf("generate service-account key: %v", err)
	}
	m := &FCM{
		key:    key,
		keyID:  strings.ToLower(randomID(40, upperAlnum)),
		email:  "magpie-push@" + FCMProject + ".iam.gserviceaccount.com",
		reqs:   newRecorder[FCMRequest](),
		script: newScript(),
		issued: make(map[string]bool),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", m.serveToken)
	mux.HandleFunc("/v1/", m.serveSend)
	m.srv = startServer(tb, mux, true)
	return m
}

// ServiceAccountJSON returns the service-account key file the mock
// accepts, with token_uri pointing at the mock.
func (m *FCM) ServiceAccountJSON() []byte {
	der, err := x509.MarshalPKCS8PrivateKey(m.key)
	if err != nil {
		panic(err) // an RSA key always marshals
	}
	b, err := json.MarshalIndent(map[string]string{
		"type":                        "service_account",
		"project_id":                  FCMProject,
		"private_key_id":              m.keyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                m.email,
		"client_id":                   "100000000000000000001",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   m.TokenURL(),
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}

// URL returns the mock's base URL, https://127.0.0.1:port: the FCM
// endpoint is URL()+"/v1".
func (m *FCM) URL() string { return m.srv.URL }

// TokenURL returns the mock's OAuth2 token endpoint.
func (m *FCM) TokenURL() string { return m.srv.URL + "/token" }

// CertPEM returns the mock's certificate in PEM: the CA file of a process
// that reaches the mock (magpie's --push-ca-file).
func (m *FCM) CertPEM() []byte { return m.srv.certPEM() }

// RootCAs returns a pool that trusts the mock's certificate.
func (m *FCM) RootCAs() *x509.CertPool { return m.srv.roots }

// Client returns an HTTP client that trusts the mock.
func (m *FCM) Client() *http.Client { return m.srv.Client() }

// Respond queues responses for the device token: each message to it takes
// the next one; when none is left the mock answers 200. An error response
// has FCM's JSON body, its FcmError errorCode the Response's Reason (or
// the usual one for the status).
func (m *FCM) Respond(token string, rs ...Response) {
	m.script.push(token, rs)
}

// Requests returns the send requests received so far, in order.
func (m *FCM) Requests() []FCMRequest { return m.reqs.all() }

// WaitRequests blocks until the mock has received at least n send
// requests and returns them, or returns ctx's error.
func (m *FCM) WaitRequests(ctx context.Context, n int) ([]FCMRequest, error) {
	return m.reqs.wait(ctx, n)
}

// TokenRequests returns how many requests the token endpoint received.
func (m *FCM) TokenRequests() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.tokenReqs
}

func (m *FCM) serveToken(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.tokenReqs++
	m.mu.Unlock()
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if g := r.PostForm.Get("grant_type"); g != jwtBearerGrant {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type "+g)
		return
	}
	if err := m.verifyAssertion(r.PostForm.Get("assertion")); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", err.Error())
		return
	}
	tok := "ya29.mock-" + randomID(32, upperAlnum)
	m.mu.Lock()
	m.issued[tok] = true
	m.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": 3600})
}

// verifyAssertion checks a service-account assertion: RS256 by the
// account's key, iss its email, aud the token endpoint, the FCM scope.
func (m *FCM) verifyAssertion(raw string) error {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return &m.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(m.email), jwt.WithAudience(m.TokenURL()),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		return fmt.Errorf("invalid JWT signature or claims: %w", err)
	}
	scope, _ := claims["scope"].(string)
	if !strings.Contains(" "+scope+" ", " "+FCMScope+" ") {
		return fmt.Errorf("scope %q lacks %s", scope, FCMScope)
	}
	return nil
}

func (m *FCM) serveSend(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	req := FCMRequest{Method: r.Method, Host: r.Host, Path: r.URL.Path, Header: r.Header.Clone(), Raw: body, At: time.Now()}
	req.Project, _ = strings.CutSuffix(strings.TrimPrefix(r.URL.Path, "/v1/projects/"), "/messages:send")
	var env struct {
		Message map[string]any `json:"message"`
	}
	if json.Unmarshal(body, &env) == nil {
		req.Message = env.Message
		req.Token, _ = env.Message["token"].(string)
	}
	bearer, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	m.mu.Lock()
	req.BearerOK = m.issued[bearer]
	m.mu.Unlock()
	res := m.answer(req)
	m.reqs.add(req) // before answering: a Send that returned is recorded
	res.hold(r)
	if res.Status == 0 || res.Status == http.StatusOK {
		writeJSON(w, http.StatusOK, map[string]string{"name": m.messageName()})
		return
	}
	fcmError(w, res)
}

// noDetails is a Reason for a refusal without an FcmError detail.
const noDetails = "-"

// answer decides the response to req: a refusal of a malformed or
// unauthenticated request, else the script's next response for the
// token, else 200.
func (m *FCM) answer(req FCMRequest) Response {
	switch {
	case req.Method != http.MethodPost:
		return Response{Status: http.StatusMethodNotAllowed, Reason: noDetails}
	case !strings.HasSuffix(req.Path, "/messages:send") || req.Project != FCMProject:
		return Response{Status: http.StatusNotFound, Reason: noDetails}
	case !req.BearerOK:
		return Response{Status: http.StatusUnauthorized, Reason: noDetails}
	case req.Message == nil || req.Token == "":
		return Response{Status: http.StatusBadRequest, Reason: "INVALID_ARGUMENT"}
	}
	res, _ := m.script.pop(req.Token)
	return res
}

func (m *FCM) messageName() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.nextMessage++
	return fmt.Sprintf("projects/%s/messages/%d", FCMProject, m.nextMessage)
}

// fcmStatus maps an HTTP status to the google.rpc status FCM reports, and
// the FcmError errorCode it usually comes with.
func fcmStatus(status int) (rpc, code string) {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT", "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR"
	case http.StatusForbidden:
		return "PERMISSION_DENIED", "SENDER_ID_MISMATCH"
	case http.StatusNotFound:
		return "NOT_FOUND", "UNREGISTERED"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE", "UNAVAILABLE"
	}
	if status >= 500 {
		return "INTERNAL", "INTERNAL"
	}
	return "UNKNOWN", ""
}

// fcmError writes res as FCM's error JSON:
// {"error":{"code":404,"message":"...","status":"NOT_FOUND","details":[{"@type":
// "type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"UNREGISTERED"}]}}.
func fcmError(w http.ResponseWriter, res Response) {
	rpc, code := fcmStatus(res.Status)
	if res.Reason != "" {
		code = res.Reason
	}
	e := map[string]any{"code": res.Status, "message": "mock FCM: " + http.StatusText(res.Status), "status": rpc}
	if code != noDetails && code != "" {
		e["details"] = []map[string]string{{
			"@type":     "type.googleapis.com/google.firebase.fcm.v1.FcmError",
			"errorCode": code,
		}}
	}
	if res.RetryAfter != "" {
		w.Header().Set("Retry-After", res.RetryAfter)
	}
	writeJSON(w, res.Status, map[string]any{"error": e})
}

// oauthError writes an OAuth2 error response (RFC 6749 section 5.2).
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
