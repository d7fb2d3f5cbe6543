package users

import (
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/token"
)

// Limits on user fields.
const (
	maxNameLen      = 128
	maxAvatarURLLen = 1024
	maxMetadataKeys = 32
	maxMetaKeyLen   = 64
	maxMetaValueLen = 1024
)

// Input is a user to create.
type Input struct {
	ID        string
	Name      string
	AvatarURL string
	Metadata  map[string]string
}

// Patch changes a user's profile; nil fields are left as they are.
type Patch struct {
	Name      *string
	AvatarURL *string
	Metadata  *map[string]string
}

func (in Input) validate(prefix string) error {
	if !token.ValidUserID(in.ID) {
		return invalid(prefix+"id", idRule)
	}
	return validateProfile(prefix, &in.Name, &in.AvatarURL, in.Metadata)
}

func (in Input) user(now time.Time) store.User {
	return store.User{ID: in.ID, Name: in.Name, AvatarURL: in.AvatarURL, Metadata: in.Metadata, CreatedAt: now, UpdatedAt: now}
}

// idRule says what a valid user id is.
const idRule = "must be 1-64 characters of A-Z a-z 0-9 _ . @ -, not . or .."

// CheckID returns a *ValidationError for the field "id" unless id is a
// valid user id.
func CheckID(id string) error {
	if !token.ValidUserID(id) {
		return invalid("id", idRule)
	}
	return nil
}

func validateProfile(prefix string, name, avatar *string, md map[string]string) error {
	if name != nil && (utf8.RuneCountInString(*name) > maxNameLen || !utf8.ValidString(*name)) {
		return invalid(prefix+"name", "must be valid UTF-8 of at most 128 characters")
	}
	if avatar != nil && *avatar != "" {
		u, err := url.Parse(*avatar)
		if err != nil || len(*avatar) > maxAvatarURLLen || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return invalid(prefix+"avatar_url", "must be an http(s) URL of at most 1024 bytes")
		}
	}
	if len(md) > maxMetadataKeys {
		return invalid(prefix+"metadata", "at most 32 keys")
	}
	for k, v := range md {
		if k == "" || len(k) > maxMetaKeyLen || len(v) > maxMetaValueLen || !utf8.ValidString(k) || !utf8.ValidString(v) {
			return invalid(prefix+"metadata", "keys must be 1-64 bytes and values at most 1024 bytes of UTF-8")
		}
	}
	return nil
}
