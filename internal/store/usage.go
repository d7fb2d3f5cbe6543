package store

import "context"

// UsageStore keeps an app's daily usage: counters per UTC day (messages,
// server API calls, pushes, webhook deliveries, peak connections) and the
// set of users active each day, written by the usage collectors of every
// process in periodic batches. It is part of AppStore, so every method is
// scoped to one app.
type UsageStore interface {
	// AddUsage adds u to the app's usage of day u.Day: the additive
	// counters are added to the stored ones (each an upsert), the peak
	// of node u.Node is raised to u.PeakConnections if that is larger,
	// and every key of u.ActiveUsers is recorded as active that day
	// (each once, however often it is added). A call that fails may have
	// applied part of u.
	AddUsage(ctx context.Context, u UsageDelta) error
	// ListUsage returns the app's usage of the days from..to (inclusive,
	// "2006-01-02" UTC dates), by day; a day without any usage is left
	// out. PeakConnections is the sum of the nodes' peaks of the day.
	ListUsage(ctx context.Context, from, to string) ([]UsageDay, error)
}

// UsageCounts are the counters of one app and day.
type UsageCounts struct {
	Messages          int64 // messages stored
	APICalls          int64 // authenticated server API requests
	Pushes            int64 // notifications sent to a provider or recorded in the outbox
	WebhookDeliveries int64 // webhook delivery attempts
	// PeakConnections is the most logged-in connections the app had at
	// once: per node in a UsageDelta, summed over nodes in a UsageDay.
	PeakConnections int64
}

// UsageDelta is what one process adds to an app's usage of one day.
type UsageDelta struct {
	Day  string // "2006-01-02", UTC
	Node string // the process whose peak PeakConnections is
	UsageCounts
	// ActiveUsers are opaque keys of the users active that day (the
	// collector's digests of user ids, not the ids themselves).
	ActiveUsers []string
}

// UsageDay is an app's usage of one day.
type UsageDay struct {
	Day string
	UsageCounts
	// ActiveUsers is how many distinct users were active that day.
	ActiveUsers int64
}
