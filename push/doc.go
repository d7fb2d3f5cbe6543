// Package push owns Magpie's offline notifications: what happens to a
// message whose recipient has no online device (or whose devices did not
// acknowledge it in time).
//
// The messaging core reports such a message to an OfflineNotifier on its
// fan-out stage. Notifier is that notifier: it turns the report into a
// durable job on the bus queue QueueOffline and returns once the bus holds
// it. Worker consumes the queue: it checks that the app, the recipient's
// membership and the message still hold (a deleted user's, or a recalled
// message's, job is acknowledged and dropped) and records the notification
// in the app's push outbox in the store, which the console shows (see
// Providers for an app with credentials). In
// embedded mode the bus is the in-process bus.Local and the worker runs in
// the same process; in cluster mode the bus is RabbitMQ and the workers run
// in `magpie worker` processes. The code is the same.
//
// # Delivery and idempotency
//
// Jobs are delivered at least once, and one message may be reported twice
// (by the fan-out and by the delivery watch when a device does not
// acknowledge in time). A job's id is therefore derived from the app, the
// user, the conversation and the seq (OfflineJobID), and the outbox entry is
// keyed by it: however often a notification is published or handled, the
// outbox holds it once. A job whose body cannot be decoded fails with
// ErrMalformed; the bus retries it and then moves it to the queue's dead
// letters, so it never blocks the jobs behind it.
//
// # Providers
//
// When an app has provider credentials (APNs token auth, FCM service
// account; see Service), the worker sends each notification to the user's
// registered devices through a send job per device (QueueSend), with the
// user's unread count as badge, the app's templates per message type and
// locale, and the message's own push options. Muted conversations, push
// turned off and do-not-disturb hours suppress it; a provider's "invalid
// token" removes the registration; throttling and server errors are
// retried after the provider's Retry-After. Every step goes to the app's
// push log. Providers live behind provider.Sender (packages apns and fcm),
// so that vendor channels can be added beside them. An app without
// credentials keeps the outbox: developers see what would have been sent.
package push
