// Package serverapi is the Go SDK for Magpie's server API, for use by a
// customer's backend: it manages an app's users, issues the client tokens
// their apps present to the WebSocket gateway, sends messages on their
// behalf, and manages push notifications (device registrations, push
// settings, conversation mutes, the push log and outbox) and files
// (uploads on behalf of a user or nobody, signed download URLs, listing,
// deletion; see docs/files.md).
//
// Every request is signed with the app key and secret as described in package
// [github.com/magpie-im/magpie/sdk/go/signing]. Keep the secret on the
// server; hand end users only the tokens.
//
// Usage:
//
//	c, err := serverapi.New("https://api.magpie.example", appKey, appSecret)
//	if err != nil {
//		return err
//	}
//	u, err := c.CreateUser(ctx, serverapi.UserInput{ID: "alice", Name: "Alice"},
//		serverapi.IdempotencyKey("signup-alice"))
//	var apiErr *serverapi.Error
//	if errors.As(err, &apiErr) && apiErr.Retryable() {
//		// try again after apiErr.RetryAfter
//	}
//	tok, err := c.MintToken(u.ID, time.Hour) // local, no network
//
// Calls fail with a *[Error] when the server answers with an error status, and
// with a wrapped transport or context error otherwise. Responses are decoded
// leniently: fields this version does not know are ignored.
//
// A [Client] is safe for concurrent use by multiple goroutines.
package serverapi
