// Package webhook is Magpie's webhook component: how customer backends
// take part in an app's conversations.
//
//   - [Service] manages an app's endpoints (post-event endpoints, the
//     pre-send hook, the customer-service routing hook), their secrets
//     and rotation, the delivery log, replays, test events and the app's
//     keyword rules; the management API is its HTTP face.
//   - [Emitter] runs in gateways: it turns stored, recalled and read
//     messages and users coming online or going offline into events, and
//     publishes those some endpoint subscribed to, batched per app, as
//     durable bus jobs.
//   - [Worker] runs in workers: it stores each event (for replay), fans it
//     out to the subscribed endpoints, and delivers each signed ([Sign],
//     Standard Webhooks style, with [WithTraceparent]), retrying on an
//     exponential schedule with jitter for a day, logging every attempt,
//     and disabling endpoints that keep failing.
//   - [Moderator] is the messaging core's moderation: the keyword rules
//     (package webhook/keyword), then the synchronous pre-send hook with
//     its timeout and fail-open or fail-closed policy.
//
// Every request leaves through the guard of package webhook/ssrf, which
// keeps deliveries away from loopback, private, link-local and metadata
// addresses unless the operator allows them. Package webhook/webhooktest
// is a receiver for tests and probes. docs/webhooks.md is the user's
// reference.
package webhook
