// Package users owns the users of an app as the server API manages them:
// creating and importing them with their profiles, reading, listing and
// updating them, blocking and unblocking, deleting (with or without
// erasing their messages), revoking their tokens and issuing client
// tokens. It validates its inputs, writes through the app-scoped store and
// reports every change that must end live sessions (block, token
// revocation, deletion) through Events, so that every gateway node
// re-checks the user's sessions.
//
// A Service is safe for concurrent use.
package users

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// Errors returned by Service besides *ValidationError; other errors come
// from the store.
var (
	// ErrNotFound means the app has no user with the id.
	ErrNotFound = errors.New("no user with this id")
	// ErrExists means the app already has a user with the id.
	ErrExists = errors.New("a user with this id already exists")
	// ErrBlocked means the user is blocked and may not get a token.
	ErrBlocked = errors.New("the user is blocked")
)

// ValidationError is an input the service refuses; Field names it as the
// server API does ("id", "users[3].name", "ttl_seconds").
type ValidationError struct {
	Field  string
	Reason string // for people: what a valid value looks like
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

func invalid(field, reason string) *ValidationError {
	return &ValidationError{Field: field, Reason: reason}
}

// Events is told about changes that must reach every gateway node: the
// user's live sessions are re-checked there (closed if the user is gone,
// blocked or its token revoked).
type Events interface {
	UserChanged(ctx context.Context, appID, userID string, deleted bool) error
}

// Config configures a Service. The zero value is usable.
type Config struct {
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Logger receives operational logs (an event that could not be
	// published). Nil discards them.
	Logger *slog.Logger
	// Events is told about blocked and deleted users and revoked tokens.
	// Nil tells no one: sessions are then re-checked at their next login
	// only.
	Events Events
	// Files deletes the files that go with a deleted user (see Delete).
	// Nil deletes none.
	Files Files
}

// Files deletes a deleted user's files, contents and metadata
// (files.Service does): those of its system conversation, and with erase
// every file it uploaded. It returns how many it deleted.
type Files interface {
	UserDeleted(ctx context.Context, appID, userID string, erase bool) (int, error)
}

// Service manages the users of apps on top of a store.
type Service struct {
	store store.Store
	cfg   Config
	log   *slog.Logger
}

// New returns a Service.
func New(st store.Store, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{store: st, cfg: cfg, log: log}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Millisecond) }

// changed publishes a change of the user. The change is stored; if the
// event cannot be published, the sessions elsewhere are re-checked at their
// next login only (within a minute, while a gateway remembers the user for
// logins), which is logged.
func (s *Service) changed(ctx context.Context, appID, userID string, deleted bool) {
	if s.cfg.Events == nil {
		return
	}
	if err := s.cfg.Events.UserChanged(ctx, appID, userID, deleted); err != nil {
		s.log.ErrorContext(ctx, "publish user change", "err", err, "app_id", appID)
	}
}

// Create adds a user to an app.
func (s *Service) Create(ctx context.Context, appID string, in Input) (store.User, error) {
	if err := in.validate(""); err != nil {
		return store.User{}, err
	}
	now := s.now()
	u := in.user(now)
	err := s.store.App(appID).CreateUser(ctx, u)
	if errors.Is(err, store.ErrConflict) {
		return store.User{}, ErrExists
	}
	if err != nil {
		return store.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// MaxImport is how many users Import takes at once.
const MaxImport = 100

// Import statuses.
const (
	Created = "created" // the user was added
	Existed = "exists"  // a user with the id existed; left untouched
	Failed  = "error"   // see ImportResult.Err
)

// ImportResult is the outcome of one user of an Import.
type ImportResult struct {
	ID     string
	Status string // Created, Existed or Failed
	// Err says why the user failed: a *ValidationError (with the field
	// prefixed by "users[i].") or a store error.
	Err error
}

// Import adds up to MaxImport users in one store call: existing ids are
// reported and left untouched, invalid entries are reported and skipped.
// The error is for the whole batch; per-user failures are in the results.
func (s *Service) Import(ctx context.Context, appID string, in []Input) ([]ImportResult, error) {
	if len(in) == 0 || len(in) > MaxImport {
		return nil, invalid("users", "must hold 1-100 users")
	}
	now := s.now()
	results := make([]ImportResult, len(in))
	var valid []store.User
	var slots []int
	for i, u := range in {
		results[i].ID = u.ID
		if err := u.validate(fmt.Sprintf("users[%d].", i)); err != nil {
			results[i].Status, results[i].Err = Failed, err
			continue
		}
		valid = append(valid, u.user(now))
		slots = append(slots, i)
	}
	errs, err := s.store.App(appID).CreateUsers(ctx, valid)
	if err != nil {
		return nil, fmt.Errorf("import users: %w", err)
	}
	for j, e := range errs {
		r := &results[slots[j]]
		switch {
		case e == nil:
			r.Status = Created
		case errors.Is(e, store.ErrConflict):
			r.Status = Existed
		default:
			r.Status, r.Err = Failed, e
		}
	}
	return results, nil
}

// Get returns a user of an app.
func (s *Service) Get(ctx context.Context, appID, id string) (store.User, error) {
	if err := CheckID(id); err != nil {
		return store.User{}, err
	}
	u, err := s.store.App(appID).GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, ErrNotFound
	}
	if err != nil {
		return store.User{}, fmt.Errorf("get user: %w", err)
	}
	return u, nil
}

// List returns up to limit users of an app, in id order, after the id
// after ("" for the first page).
func (s *Service) List(ctx context.Context, appID, after string, limit int) ([]store.User, error) {
	us, err := s.store.App(appID).ListUsers(ctx, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// Update applies p to a user's profile and returns the user.
func (s *Service) Update(ctx context.Context, appID, id string, p Patch) (store.User, error) {
	var md map[string]string
	if p.Metadata != nil {
		md = *p.Metadata
	}
	if err := validateProfile("", p.Name, p.AvatarURL, md); err != nil {
		return store.User{}, err
	}
	u, err := s.Get(ctx, appID, id)
	if err != nil {
		return store.User{}, err
	}
	if p.Name != nil {
		u.Name = *p.Name
	}
	if p.AvatarURL != nil {
		u.AvatarURL = *p.AvatarURL
	}
	if p.Metadata != nil {
		u.Metadata = md
	}
	u.UpdatedAt = s.now()
	if err := s.store.App(appID).UpdateUser(ctx, u); err != nil {
		return store.User{}, fmt.Errorf("update user: %w", err)
	}
	return u, nil
}

// SetBlocked blocks or unblocks a user and returns it. A blocked user's
// sessions end on every node, and it gets no new tokens.
func (s *Service) SetBlocked(ctx context.Context, appID, id string, blocked bool) (store.User, error) {
	u, err := s.Get(ctx, appID, id)
	if err != nil {
		return store.User{}, err
	}
	now := s.now()
	if err := s.store.App(appID).SetUserBlocked(ctx, id, blocked, now); err != nil {
		return store.User{}, fmt.Errorf("set user blocked: %w", err)
	}
	u.Blocked, u.UpdatedAt = blocked, now
	// An unblock too: the gateways remember users for logins.
	s.changed(ctx, appID, id, false)
	return u, nil
}

// Delete deletes a user, its tokens and its conversation entries (and,
// with eraseMessages, the messages it sent and the files it uploaded); its
// sessions end on every node. The files go first, contents and metadata
// (Config.Files), so that a failure leaves the user in place and the call
// can be retried; they are swept once more after the user is gone, for
// an upload that raced with the deletion.
func (s *Service) Delete(ctx context.Context, appID, id string, eraseMessages bool) error {
	if _, err := s.Get(ctx, appID, id); err != nil {
		return err
	}
	if s.cfg.Files != nil {
		if _, err := s.cfg.Files.UserDeleted(ctx, appID, id, eraseMessages); err != nil {
			return fmt.Errorf("delete user: files: %w", err)
		}
	}
	err := s.store.App(appID).DeleteUser(ctx, id, store.UserDeletion{At: s.now(), EraseMessages: eraseMessages})
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if s.cfg.Files != nil {
		if _, err := s.cfg.Files.UserDeleted(ctx, appID, id, eraseMessages); err != nil {
			s.log.ErrorContext(ctx, "delete the files of a deleted user", "err", err, "app_id", appID)
		}
	}
	s.changed(ctx, appID, id, true)
	return nil
}
