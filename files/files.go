// Package files owns the files and images users share in conversations:
// uploads (streamed into a blob.Store under the app's per-upload size limit
// and allowed media types, the declared type checked against the content),
// their metadata in the app-scoped store, expiring signed download URLs,
// and deletion (by the uploader, the app's backend, or with the user who
// uploaded them when the user is erased).
//
// Every file is shared to one conversation: its uploader must be a member
// (or, for a one-to-one conversation not started yet, one of its two
// users), only that conversation's members may get a URL for it, and only
// messages of that conversation may reference it ("magpie-file:<id>", see
// package messaging). A URL is a capability that expires (one hour by
// default, seven days at most); a URL made for a user also stops working
// as soon as the user leaves the conversation, is blocked or deleted.
//
// A Service is safe for concurrent use.
package files

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/magpie-im/magpie/internal/blob"
	"github.com/magpie-im/magpie/internal/store"
)

// Error codes of files. They are stable: clients switch on them.
const (
	// CodeFileTooLarge: the upload exceeds the app's max_upload_bytes.
	CodeFileTooLarge = "file_too_large"
	// CodeUnsupportedType: the app does not accept uploads of this media
	// type (its upload_types).
	CodeUnsupportedType = "unsupported_file_type"
	// CodeTypeMismatch: the declared media type contradicts the content
	// (a "PNG" that is a PDF, an "image" that is HTML).
	CodeTypeMismatch = "file_type_mismatch"
	// CodeEmptyFile: the upload has no content.
	CodeEmptyFile = "empty_file"
	// CodeInvalidUpload: the upload request is malformed (a multipart body
	// cut short, no file part, two files).
	CodeInvalidUpload = "invalid_upload"
	// CodeInvalidArgument: a parameter is missing or out of range.
	CodeInvalidArgument = "invalid_argument"
	// CodeForbidden: the user may not share to or read from the
	// conversation, or delete the file.
	CodeForbidden = "forbidden"
	// CodeFileNotFound: the app has no file with this id.
	CodeFileNotFound = "file_not_found"
	// CodeURLExpired: the signed URL's expiry has passed.
	CodeURLExpired = "url_expired"
	// CodeBadURLSignature: the URL is not one the server signed (a
	// parameter is missing, malformed or changed).
	CodeBadURLSignature = "bad_url_signature"
	// CodeAppDisabled: the app is disabled.
	CodeAppDisabled = "app_disabled"
)

// Error is a refusal the caller caused; Code is one of the codes above and
// Field, for invalid_argument, the parameter at fault.
type Error struct {
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalid(field, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidArgument, Message: field + ": " + fmt.Sprintf(format, args...), Field: field}
}

// Lifetimes of signed URLs.
const (
	// DefaultURLTTL is a URL's lifetime when the request names none.
	DefaultURLTTL = time.Hour
	// MaxURLTTL is the longest lifetime of a URL.
	MaxURLTTL = 7 * 24 * time.Hour
)

// MaxNameBytes bounds a file's name.
const MaxNameBytes = 255

// ContentPath is the path of file id's content under the API's base URL.
func ContentPath(id string) string { return "/v1/files/" + id + "/content" }

// Access decides who may share files to a conversation and read them.
// messaging.Service implements it.
type Access interface {
	// CanShare reports whether the user may share files to the
	// conversation and read the files shared to it.
	CanShare(ctx context.Context, appID, userID, convID string) (bool, error)
}

// Apps reads apps (tenant.Service does).
type Apps interface {
	GetApp(ctx context.Context, id string) (store.App, error)
}

// Config configures a Service.
type Config struct {
	// MAC signs URLs: the HMAC-SHA256 of data under a key derived from the
	// installation's master key for the app and purpose
	// (tenant.Service.MAC). Required.
	MAC func(appID, purpose string, data []byte) []byte
	// Apps reads the app of a download, which a disabled app refuses.
	// Required.
	Apps Apps
	// PublicURL is the base URL clients reach the API at, such as
	// https://im.example.com; signed URLs are absolute under it. Empty
	// makes them relative ("/v1/files/…"): clients resolve them against
	// the URL they call the API at.
	PublicURL string
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives operational logs (a content that could not be
	// deleted). Nil discards them.
	Logger *slog.Logger
}

// Service manages files on top of a store and a blob store.
type Service struct {
	store  store.Store
	blobs  blob.Store
	access Access
	cfg    Config
	log    *slog.Logger
	base   string // PublicURL without a trailing slash
}

// New returns a Service keeping metadata in st and contents in blobs.
func New(st store.Store, blobs blob.Store, access Access, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, blobs: blobs, access: access, cfg: cfg, log: log, base: strings.TrimRight(cfg.PublicURL, "/")}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// newFileID returns "f_" and 16 random bytes in hex.
func newFileID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "f_" + hex.EncodeToString(b[:])
}

// ValidFileID reports whether id may name a file: 3 to 64 characters of
// [A-Za-z0-9_-] (the server's ids are "f_" and 32 hex digits).
func ValidFileID(id string) bool {
	if len(id) < 3 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// blobKey is where a file's content is stored: under the app id, then a
// two-character shard of the file id (so that no directory of a local
// store grows past a few thousand entries per app and shard).
func blobKey(appID, fileID string) string {
	shard := fileID[len(fileID)-2:]
	return appID + "/" + shard + "/" + fileID
}

// Get returns a file of an app.
func (s *Service) Get(ctx context.Context, appID, id string) (store.File, error) {
	if !ValidFileID(id) {
		return store.File{}, errorf(CodeFileNotFound, "no file %q in this app", id)
	}
	f, err := s.store.App(appID).GetFile(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.File{}, errorf(CodeFileNotFound, "no file %q in this app", id)
	}
	return f, err
}

// List returns up to q.Limit files of an app (see store.FileQuery).
func (s *Service) List(ctx context.Context, appID string, q store.FileQuery) ([]store.File, error) {
	return s.store.App(appID).ListFiles(ctx, q)
}

// readingUser returns the user if it may read the file: it exists, is not
// blocked and may read the files of the file's conversation.
func (s *Service) readingUser(ctx context.Context, appID, userID string, f store.File) (store.User, error) {
	u, err := s.store.App(appID).GetUser(ctx, userID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.User{}, errorf(CodeForbidden, "user %q does not exist", userID)
	case err != nil:
		return store.User{}, err
	case u.Blocked:
		return store.User{}, errorf(CodeForbidden, "user %q is blocked", userID)
	}
	return u, s.canShare(ctx, appID, userID, f.ConvID)
}

// canShare asks Access, turning a refusal into a forbidden Error.
func (s *Service) canShare(ctx context.Context, appID, userID, convID string) error {
	ok, err := s.access.CanShare(ctx, appID, userID, convID)
	if err != nil {
		return err
	}
	if !ok {
		return errorf(CodeForbidden, "user %q is not a member of conversation %q", userID, convID)
	}
	return nil
}

// Delete deletes a file: its content, then its metadata (so that a failure
// half-way leaves a file whose deletion can be retried). byUser, if not
// empty, must be the file's uploader.
func (s *Service) Delete(ctx context.Context, appID, id, byUser string) error {
	f, err := s.Get(ctx, appID, id)
	if err != nil {
		return err
	}
	if byUser != "" && f.UploaderID != byUser {
		return errorf(CodeForbidden, "only the uploader may delete file %q", id)
	}
	return s.delete(ctx, appID, f.ID)
}

func (s *Service) delete(ctx context.Context, appID, id string) error {
	if err := s.blobs.Delete(ctx, blobKey(appID, id)); err != nil {
		return fmt.Errorf("delete content of file %s: %w", id, err)
	}
	err := s.store.App(appID).DeleteFile(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("delete file %s: %w", id, err)
	}
	return nil
}

// eraseBatch is the page size of UserDeleted.
const eraseBatch = 200

// UserDeleted deletes, contents and metadata, the files that must not
// outlive a user: those shared to its system conversation (which goes with
// it) and, when its messages are erased, every file it uploaded. Files it
// uploaded to other conversations otherwise stay, as its messages do, in
// its peers' history. It returns how many files it deleted.
func (s *Service) UserDeleted(ctx context.Context, appID, userID string, erase bool) (int, error) {
	n, err := s.deleteAll(ctx, appID, store.FileQuery{ConvID: "s:" + userID})
	if err != nil || !erase {
		return n, err
	}
	m, err := s.deleteAll(ctx, appID, store.FileQuery{UploaderID: userID})
	return n + m, err
}

func (s *Service) deleteAll(ctx context.Context, appID string, q store.FileQuery) (int, error) {
	n := 0
	q.Limit = eraseBatch
	for {
		fs, err := s.store.App(appID).ListFiles(ctx, q)
		if err != nil {
			return n, fmt.Errorf("list files: %w", err)
		}
		for _, f := range fs {
			if err := s.delete(ctx, appID, f.ID); err != nil {
				return n, err
			}
			n++
		}
		if len(fs) < q.Limit {
			return n, nil
		}
		q.After = fs[len(fs)-1].ID
	}
}

// SignedURL is a file's download URL and its expiry.
type SignedURL struct {
	URL       string
	ExpiresAt time.Time
}

// URLTTL checks a requested URL lifetime: 0 means DefaultURLTTL; more than
// MaxURLTTL, or less than a second, is refused.
func URLTTL(ttl time.Duration) (time.Duration, error) {
	switch {
	case ttl == 0:
		return DefaultURLTTL, nil
	case ttl < time.Second || ttl > MaxURLTTL:
		return 0, invalid("ttl_seconds", "must be 1 to %d (7 days), or 0 for %d", int64(MaxURLTTL/time.Second), int64(DefaultURLTTL/time.Second))
	}
	return ttl, nil
}

// URL returns a signed URL of a file, valid for ttl (see URLTTL). With a
// user, the URL works only while that user may read the file (checked now
// and at every download), and only for this user: one deleted and created
// again under the same id (a new user) cannot use it. Without a user, it
// works for anyone who has it until it expires.
func (s *Service) URL(ctx context.Context, appID string, f store.File, userID string, ttl time.Duration) (SignedURL, error) {
	ttl, err := URLTTL(ttl)
	if err != nil {
		return SignedURL{}, err
	}
	var born int64
	if userID != "" {
		u, err := s.readingUser(ctx, appID, userID, f)
		if err != nil {
			return SignedURL{}, err
		}
		born = u.CreatedAt.UnixMilli()
	}
	exp := s.cfg.Now().Add(ttl).Unix()
	q := url.Values{}
	q.Set("app", appID)
	q.Set("expires", strconv.FormatInt(exp, 10))
	if userID != "" {
		q.Set("user", userID)
		q.Set("user_created", strconv.FormatInt(born, 10))
	}
	q.Set("sig", s.sign(appID, f.ID, userID, born, exp))
	return SignedURL{URL: s.base + ContentPath(f.ID) + "?" + q.Encode(), ExpiresAt: time.Unix(exp, 0).UTC()}, nil
}

// urlPurpose separates the MAC keys of file URLs from other MACs.
const urlPurpose = "file-url"

// sign returns a URL's signature: the MAC of the file, the user and its
// creation time (0 for none: the URL names a user incarnation, not just an
// id) and the expiry, under the app's key.
func (s *Service) sign(appID, fileID, userID string, born, exp int64) string {
	data := "v1\n" + fileID + "\n" + userID + "\n" + strconv.FormatInt(born, 10) + "\n" + strconv.FormatInt(exp, 10)
	return base64.RawURLEncoding.EncodeToString(s.cfg.MAC(appID, urlPurpose, []byte(data)))
}

// Download is a file being downloaded; the caller closes Content.
type Download struct {
	File    store.File
	Content blob.Object
	// ExpiresAt is the URL's expiry: how long the response may be cached.
	ExpiresAt time.Time
}

// Open checks a signed URL of file id (its query q) and opens the file's
// content. The signature is checked first, in constant time, and before
// anything is read from the store; then the expiry, the app (not
// disabled), the file and, for a URL made for a user, that the user may
// still read it and is the user the URL was made for (user_created: not
// another one created under the same id since).
func (s *Service) Open(ctx context.Context, id string, q url.Values) (Download, error) {
	appID, userID, sig := q.Get("app"), q.Get("user"), q.Get("sig")
	exp, err := strconv.ParseInt(q.Get("expires"), 10, 64)
	var born int64
	if userID != "" && err == nil {
		born, err = strconv.ParseInt(q.Get("user_created"), 10, 64)
	}
	if err != nil || appID == "" || sig == "" || !ValidFileID(id) || len(appID) > 64 || len(userID) > 64 {
		return Download{}, errorf(CodeBadURLSignature, "not a signed file URL: app, expires and sig are required")
	}
	if !hmac.Equal([]byte(s.sign(appID, id, userID, born, exp)), []byte(sig)) {
		return Download{}, errorf(CodeBadURLSignature, "the URL's signature does not match; get a new URL")
	}
	now := s.cfg.Now()
	if now.Unix() >= exp {
		return Download{}, errorf(CodeURLExpired, "the URL expired at %s; get a new URL", time.Unix(exp, 0).UTC().Format(time.RFC3339))
	}
	app, err := s.cfg.Apps.GetApp(ctx, appID)
	if errors.Is(err, store.ErrNotFound) {
		return Download{}, errorf(CodeFileNotFound, "no such file")
	}
	if err != nil {
		return Download{}, err
	}
	if app.Disabled {
		return Download{}, errorf(CodeAppDisabled, "the app is disabled")
	}
	f, err := s.Get(ctx, appID, id)
	if err != nil {
		return Download{}, err
	}
	if userID != "" {
		u, err := s.readingUser(ctx, appID, userID, f)
		if err != nil {
			return Download{}, err
		}
		if u.CreatedAt.UnixMilli() != born {
			return Download{}, errorf(CodeForbidden, "the URL was made for a user %q deleted since", userID)
		}
	}
	o, err := s.blobs.Open(ctx, blobKey(appID, id))
	if errors.Is(err, blob.ErrNotFound) {
		// Its deletion is under way.
		return Download{}, errorf(CodeFileNotFound, "no such file")
	}
	if err != nil {
		return Download{}, err
	}
	return Download{File: f, Content: o, ExpiresAt: time.Unix(exp, 0)}, nil
}
