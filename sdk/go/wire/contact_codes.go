package wire

// Error codes of contacts (docs/contacts.md). None is retryable.
const (
	// CodeBlocked: the recipient of a one-to-one message blocks the
	// sender; the message was not stored.
	CodeBlocked = "blocked"
	// CodeNotFriends: the app lets only friends message each other, and
	// the two users are not friends; the message was not stored.
	CodeNotFriends = "not_friends"
	// CodeTooManyFriends: one of the two users has the most friends a
	// user may have.
	CodeTooManyFriends = "too_many_friends"
)
