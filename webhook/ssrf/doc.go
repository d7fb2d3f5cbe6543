// Package ssrf owns the server-side request forgery guard for webhook
// deliveries: which destination addresses Magpie may connect to when it POSTs
// to a customer-configured URL.
//
// A [Policy] refuses loopback, private, link-local, cloud metadata and other
// special-purpose addresses unless the operator allows them. It is applied
// twice:
//
//   - when a webhook URL is configured, [Policy.CheckURL] validates the URL and
//     resolves its host, so an administrator gets an actionable error early;
//   - when a delivery connects, the dialer from [Policy.Dialer] (used by
//     [Policy.Transport] and [Policy.Client]) checks the address actually
//     being connected to, after DNS resolution. This defeats DNS rebinding,
//     where a name resolves to a public address at configuration time and to
//     an internal one at delivery time.
//
// Refusals wrap [ErrForbidden]; malformed URLs wrap [ErrInvalidURL].
//
// A Policy is a value; its methods do not modify it and are safe for
// concurrent use as long as the Allowed slice is not mutated.
package ssrf
