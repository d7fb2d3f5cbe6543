package serverapi

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// User is an end user of the app, as stored by Magpie.
type User struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	AvatarURL string            `json:"avatar_url"`
	Metadata  map[string]string `json:"metadata"`
	// Blocked is set by Client.BlockUser and cleared by Client.UnblockUser.
	Blocked   bool      `json:"blocked"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// UserInput describes a user to create. ID is required (1 to 64 characters
// from [A-Za-z0-9_.@-]); empty fields are not sent.
type UserInput struct {
	ID        string            `json:"id"`
	Name      string            `json:"name,omitempty"`
	AvatarURL string            `json:"avatar_url,omitempty"`
	Metadata  map[string]string `json:"metadata,omitempty"`
}

// UserUpdate describes changes to a user. A nil field is left unchanged; a
// non-nil one is sent, so a pointer to "" clears Name or AvatarURL and a
// non-nil empty Metadata map is sent as {}.
type UserUpdate struct {
	Name      *string           `json:"name,omitempty"`
	AvatarURL *string           `json:"avatar_url,omitempty"`
	Metadata  map[string]string `json:"metadata,omitzero"`
}

// ImportStatus is the outcome of importing one user.
type ImportStatus string

// Import outcomes.
const (
	ImportCreated ImportStatus = "created" // the user was created
	ImportExists  ImportStatus = "exists"  // a user with this id already existed
	ImportFailed  ImportStatus = "error"   // see ImportResult.Error
)

// ImportResult is the outcome of importing the user with ID.
type ImportResult struct {
	ID     string       `json:"id"`
	Status ImportStatus `json:"status"`
	// Error says why the import failed; nil unless Status is ImportFailed.
	Error *ImportError `json:"error,omitempty"`
}

// ImportError is why one user of an import failed.
type ImportError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Field names the invalid field, such as "users[2].id", when known.
	Field string `json:"field,omitempty"`
}

// Error implements error.
func (e *ImportError) Error() string {
	return "magpie: import: " + e.Code + ": " + e.Message
}

// userResponse is the body of calls that return one user.
type userResponse struct {
	User User `json:"user"`
}

// errEmptyID is returned, before any request, for an empty user id.
var errEmptyID = errors.New("magpie: empty user id")

// userPath returns the escaped path of user id followed by suffix.
func userPath(id, suffix string) (string, error) {
	if id == "" {
		return "", errEmptyID
	}
	return "/v1/users/" + url.PathEscape(id) + suffix, nil
}

// CreateUser creates a user (POST /v1/users) and returns it as stored.
func (c *Client) CreateUser(ctx context.Context, in UserInput, opts ...CallOption) (User, error) {
	var resp userResponse
	if err := c.do(ctx, request{method: http.MethodPost, path: "/v1/users", in: in, out: &resp, header: callHeader(opts)}); err != nil {
		return User{}, err
	}
	return resp.User, nil
}

// ImportUsers creates many users in one call (POST /v1/users:import) and
// returns the outcome for each. A user that cannot be imported is reported in
// its ImportResult, not as an error; the error is for the call as a whole.
func (c *Client) ImportUsers(ctx context.Context, users []UserInput) ([]ImportResult, error) {
	if users == nil {
		users = []UserInput{}
	}
	in := struct {
		Users []UserInput `json:"users"`
	}{users}
	var resp struct {
		Results []ImportResult `json:"results"`
	}
	if err := c.do(ctx, request{method: http.MethodPost, path: "/v1/users:import", in: in, out: &resp}); err != nil {
		return nil, err
	}
	return resp.Results, nil
}

// GetUser returns the user with id (GET /v1/users/{id}).
func (c *Client) GetUser(ctx context.Context, id string) (User, error) {
	return c.userCall(ctx, http.MethodGet, id, "", nil)
}

// UpdateUser applies upd to the user with id (PATCH /v1/users/{id}) and
// returns the updated user.
func (c *Client) UpdateUser(ctx context.Context, id string, upd UserUpdate) (User, error) {
	return c.userCall(ctx, http.MethodPatch, id, "", upd)
}

// DeleteUser deletes the user with id (DELETE /v1/users/{id}): its
// sessions, tokens, cursors and conversation entries go with it, and a user
// created later with the same id starts empty. Its messages stay in its
// peers' history unless EraseMessages is given.
func (c *Client) DeleteUser(ctx context.Context, id string, opts ...DeleteOption) error {
	path, err := userPath(id, "")
	if err != nil {
		return err
	}
	var o deleteOptions
	for _, opt := range opts {
		opt(&o)
	}
	var q url.Values
	if o.erase {
		q = url.Values{"erase_messages": {"true"}}
	}
	return c.do(ctx, request{method: http.MethodDelete, path: path, query: q})
}

// DeleteOption configures DeleteUser.
type DeleteOption func(*deleteOptions)

type deleteOptions struct{ erase bool }

// EraseMessages makes DeleteUser erase every message the user sent, for
// everyone (the messages show as recalled, without content).
func EraseMessages() DeleteOption { return func(o *deleteOptions) { o.erase = true } }

// ListUsers returns a page of users (GET /v1/users) and the cursor of the
// next page, empty after the last. Pass an empty cursor for the first page
// and a limit of 0 for the server's default page size.
func (c *Client) ListUsers(ctx context.Context, cursor string, limit int) ([]User, string, error) {
	if limit < 0 {
		return nil, "", errors.New("magpie: negative limit")
	}
	q := pageQuery(cursor, limit)
	var resp struct {
		Users      []User `json:"users"`
		NextCursor string `json:"next_cursor"`
	}
	err := c.do(ctx, request{method: http.MethodGet, path: "/v1/users", query: q, out: &resp})
	if err != nil {
		return nil, "", err
	}
	return resp.Users, resp.NextCursor, nil
}

// BlockUser blocks the user with id (POST /v1/users/{id}:block) and returns
// the updated user.
func (c *Client) BlockUser(ctx context.Context, id string) (User, error) {
	return c.userCall(ctx, http.MethodPost, id, ":block", nil)
}

// UnblockUser lifts a block on the user with id (POST
// /v1/users/{id}:unblock) and returns the updated user.
func (c *Client) UnblockUser(ctx context.Context, id string) (User, error) {
	return c.userCall(ctx, http.MethodPost, id, ":unblock", nil)
}

// userCall sends method to the path of user id plus suffix, with body in
// (nil for none), and decodes a {"user": …} response.
func (c *Client) userCall(ctx context.Context, method, id, suffix string, in any) (User, error) {
	path, err := userPath(id, suffix)
	if err != nil {
		return User{}, err
	}
	var resp userResponse
	if err := c.do(ctx, request{method: method, path: path, in: in, out: &resp}); err != nil {
		return User{}, err
	}
	return resp.User, nil
}
