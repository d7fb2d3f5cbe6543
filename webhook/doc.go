// Package webhook is Magpie's webhook component. It will own customers'
// webhook endpoints, the delivery of events to them with retries,
// moderation hooks and customer-service routing (issue 15).
//
// Today it holds the signing of deliveries: [Sign] builds the
// webhook-id, webhook-timestamp and webhook-signature headers of the scheme
// in sdk/go/webhook and docs/webhooks.md, and [WithTraceparent] adds the
// trace context so a delivery joins the trace of the event that caused it.
// Package webhook/ssrf is the guard that keeps deliveries away from
// loopback, private, link-local and metadata addresses.
package webhook
