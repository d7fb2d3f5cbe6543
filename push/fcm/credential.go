package fcm

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"

	"github.com/magpie-im/magpie/push/provider"
)

// MaxCredentialBytes is the largest service-account JSON ParseCredential
// accepts. Google's key files are about 2.3 KiB.
const MaxCredentialBytes = 16 << 10

// Scope is the OAuth2 scope of FCM's HTTP v1 API.
const Scope = "https://www.googleapis.com/auth/firebase.messaging"

// maxProjectID bounds a project id (Google's are at most 30 characters;
// older "domain:project" ids are longer).
const maxProjectID = 100

// Credential is an app's FCM credential: the key file of a Google service
// account allowed to send through the Firebase project. Make one with
// ParseCredential.
type Credential struct {
	// JSON is the service-account key file, as downloaded.
	JSON []byte
	// ProjectID, ClientEmail and TokenURI are the file's project_id,
	// client_email and token_uri.
	ProjectID   string
	ClientEmail string
	TokenURI    string
}

// serviceAccount is the part of a key file ParseCredential checks.
type serviceAccount struct {
	Type        string `json:"type"`
	ProjectID   string `json:"project_id"`
	PrivateKey  string `json:"private_key"`
	ClientEmail string `json:"client_email"`
	TokenURI    string `json:"token_uri"`
}

// ParseCredential checks a service-account key file and returns it as a
// Credential. Every error wraps provider.ErrCredential and says what to
// fix.
func ParseCredential(serviceAccountJSON []byte) (Credential, error) {
	if len(serviceAccountJSON) > MaxCredentialBytes {
		return Credential{}, credErr("service-account JSON is %d bytes, more than %d: it is not a key file", len(serviceAccountJSON), MaxCredentialBytes)
	}
	var sa serviceAccount
	if err := json.Unmarshal(serviceAccountJSON, &sa); err != nil {
		return Credential{}, credErr("service-account key is not a valid JSON key file (%v): upload the .json key file from the Firebase console", err)
	}
	if sa.Type != "service_account" {
		return Credential{}, credErr(`type is %q, want "service_account": upload a service-account key (Project settings > Service accounts > Generate new private key)`, sa.Type)
	}
	if err := checkProjectID(sa.ProjectID); err != nil {
		return Credential{}, err
	}
	if sa.ClientEmail == "" || !strings.Contains(sa.ClientEmail, "@") {
		return Credential{}, credErr("client_email %q is not the service account's email", sa.ClientEmail)
	}
	if err := checkPrivateKey(sa.PrivateKey); err != nil {
		return Credential{}, err
	}
	if err := checkTokenURI(sa.TokenURI); err != nil {
		return Credential{}, err
	}
	return Credential{
		JSON:        append([]byte(nil), serviceAccountJSON...),
		ProjectID:   sa.ProjectID,
		ClientEmail: sa.ClientEmail,
		TokenURI:    sa.TokenURI,
	}, nil
}

func credErr(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{provider.ErrCredential}, args...)...)
}

// checkProjectID checks a project id: present, bounded, of the characters
// Google allows (lowercase letters, digits, '-', and '.' and ':' in
// domain-scoped ids), since it goes into the FCM URL.
func checkProjectID(id string) error {
	if id == "" {
		return credErr("project_id is missing")
	}
	if len(id) > maxProjectID {
		return credErr("project_id is %d bytes, more than %d", len(id), maxProjectID)
	}
	for _, r := range id {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '.' && r != ':' {
			return credErr("project_id %q is not a Google Cloud project id", id)
		}
	}
	return nil
}

// checkPrivateKey checks private_key: a PEM RSA key, PKCS#8 or PKCS#1.
func checkPrivateKey(key string) error {
	if key == "" {
		return credErr("private_key is missing")
	}
	block, _ := pem.Decode([]byte(key))
	if block == nil {
		return credErr("private_key is not a PEM private key (it should begin with -----BEGIN PRIVATE KEY-----)")
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		rk, err1 := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err1 != nil {
			return credErr("private_key cannot be parsed: %w", err)
		}
		parsed = rk
	}
	if _, ok := parsed.(*rsa.PrivateKey); !ok {
		return credErr("private_key is not an RSA key (it is %T)", parsed)
	}
	return nil
}

// checkTokenURI checks token_uri: an https URL with a host.
func checkTokenURI(uri string) error {
	if uri == "" {
		return credErr("token_uri is missing")
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return credErr("token_uri %q is not an https URL", uri)
	}
	return nil
}

// Check validates c without sending a push: it asks c's token endpoint for
// an FCM access token. The error wraps provider.ErrCredential when the
// endpoint refuses the credential (a 4xx: revoked key, deleted account);
// other errors (network, 5xx) are not the credential's fault.
func Check(ctx context.Context, c Credential, o Options) error {
	if _, err := ParseCredential(c.JSON); err != nil {
		return err
	}
	o = o.withDefaults()
	ts, err := tokenSource(ctx, c, newHTTPClient(newTransport(o.RootCAs), o.Timeout))
	if err != nil {
		return err
	}
	if _, err := ts.Token(); err != nil {
		return tokenError(err)
	}
	return nil
}

// tokenSource returns a caching source of c's access tokens that fetches
// them with hc. The source outlives ctx's cancellation (it refreshes tokens
// for the Sender's lifetime) but keeps its values.
func tokenSource(ctx context.Context, c Credential, hc *http.Client) (oauth2.TokenSource, error) {
	cfg, err := google.JWTConfigFromJSON(c.JSON, Scope)
	if err != nil {
		return nil, credErr("read service account: %w", err)
	}
	ctx = context.WithValue(context.WithoutCancel(ctx), oauth2.HTTPClient, hc)
	return cfg.TokenSource(ctx), nil
}

// tokenError describes a failure to get an access token, wrapping
// provider.ErrCredential when the token endpoint refused the credential.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500 {
		desc := re.ErrorCode
		if re.ErrorDescription != "" {
			desc += ": " + re.ErrorDescription
		}
		return fmt.Errorf("%w: the token endpoint refused the service account (%d %s), the key may be revoked or the account deleted: %w",
			provider.ErrCredential, re.Response.StatusCode, desc, err)
	}
	return fmt.Errorf("fetch access token: %w", err)
}
