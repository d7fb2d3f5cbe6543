package apns

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"fmt"

	"github.com/sideshow/apns2/token"

	"github.com/magpie-im/magpie/push/provider"
)

// MaxKeyBytes is the largest .p8 key ParseCredential accepts. Apple's keys
// are about 250 bytes.
const MaxKeyBytes = 8 << 10

// MaxTopicBytes is the longest topic (bundle id) ParseCredential accepts.
const MaxTopicBytes = 255

// idLen is the length of Apple's key ids and team ids.
const idLen = 10

// Credential is an app's APNs token-authentication credential: the .p8
// signing key Apple issued, its key id, the team id of the developer
// account, and the app's bundle id. Make one with ParseCredential.
type Credential struct {
	// Key is the .p8 file: a PEM "PRIVATE KEY" block holding a PKCS#8
	// ECDSA P-256 key.
	Key []byte
	// KeyID is the 10-character id Apple gave the key.
	KeyID string
	// TeamID is the 10-character id of the Apple developer team.
	TeamID string
	// Topic is the app's bundle id, the default apns-topic.
	Topic string
}

// ParseCredential checks the parts of an APNs credential and returns it.
// Every error wraps provider.ErrCredential and says what to fix.
func ParseCredential(key []byte, keyID, teamID, topic string) (Credential, error) {
	c := Credential{Key: key, KeyID: keyID, TeamID: teamID, Topic: topic}
	if _, err := parseKey(key); err != nil {
		return Credential{}, err
	}
	if err := checkID("key id", keyID); err != nil {
		return Credential{}, err
	}
	if err := checkID("team id", teamID); err != nil {
		return Credential{}, err
	}
	if err := checkTopic(topic); err != nil {
		return Credential{}, err
	}
	return c, nil
}

// Check validates c as far as it can without sending a push: it parses the
// key and signs a provider token (JWT) with it. Apple alone can say whether
// the key is still valid for the team and topic.
func Check(c Credential) error {
	if _, err := ParseCredential(c.Key, c.KeyID, c.TeamID, c.Topic); err != nil {
		return err
	}
	tok, err := newToken(c)
	if err != nil {
		return err
	}
	if _, err := tok.Generate(); err != nil {
		return fmt.Errorf("%w: sign a provider token with the key: %w", provider.ErrCredential, err)
	}
	return nil
}

// newToken returns the apns2 provider token of c.
func newToken(c Credential) (*token.Token, error) {
	k, err := parseKey(c.Key)
	if err != nil {
		return nil, err
	}
	return &token.Token{AuthKey: k, KeyID: c.KeyID, TeamID: c.TeamID}, nil
}

// parseKey decodes a .p8 key: PEM, PKCS#8, ECDSA on P-256.
func parseKey(key []byte) (*ecdsa.PrivateKey, error) {
	switch {
	case len(key) == 0:
		return nil, fmt.Errorf("%w: key is empty: paste the contents of the .p8 file", provider.ErrCredential)
	case len(key) > MaxKeyBytes:
		return nil, fmt.Errorf("%w: key is %d bytes, more than %d: it is not a .p8 file", provider.ErrCredential, len(key), MaxKeyBytes)
	}
	block, _ := pem.Decode(key)
	if block == nil {
		return nil, fmt.Errorf("%w: key is not a PEM .p8 private key (it should begin with -----BEGIN PRIVATE KEY-----)", provider.ErrCredential)
	}
	if block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: key is a PEM %q block, not a .p8 private key (PRIVATE KEY)", provider.ErrCredential, block.Type)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: key is not a PKCS#8 private key: %w", provider.ErrCredential, err)
	}
	ec, ok := parsed.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: key is not an ECDSA P-256 key (it is %T): download the APNs key (.p8) from Apple", provider.ErrCredential, parsed)
	}
	if ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%w: key is not an ECDSA P-256 key (its curve is %s)", provider.ErrCredential, ec.Curve.Params().Name)
	}
	return ec, nil
}

// checkID checks an Apple key id or team id: 10 uppercase letters or
// digits.
func checkID(what, id string) error {
	if len(id) != idLen {
		return fmt.Errorf("%w: %s must be 10 characters (uppercase letters and digits, as Apple shows it), got %d", provider.ErrCredential, what, len(id))
	}
	for _, r := range id {
		if (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return fmt.Errorf("%w: %s must be 10 characters of uppercase letters and digits, got %q", provider.ErrCredential, what, id)
		}
	}
	return nil
}

// checkTopic checks a bundle id: non-empty, at most MaxTopicBytes, of
// letters, digits, '.', '-' and '_'.
func checkTopic(topic string) error {
	switch {
	case topic == "":
		return fmt.Errorf("%w: topic is empty: set it to the app's bundle id (com.example.app)", provider.ErrCredential)
	case len(topic) > MaxTopicBytes:
		return fmt.Errorf("%w: topic is %d bytes, more than %d", provider.ErrCredential, len(topic), MaxTopicBytes)
	}
	for _, r := range topic {
		if !isTopicRune(r) {
			return fmt.Errorf("%w: topic %q is not a bundle id: only letters, digits, '.', '-' and '_' are allowed", provider.ErrCredential, topic)
		}
	}
	return nil
}

func isTopicRune(r rune) bool {
	return (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '.' || r == '-' || r == '_'
}
