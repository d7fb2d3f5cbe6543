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
// in the app's push outbox in the store, which the console shows. In
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
// # What comes next
//
// Issue 14 adds the push providers: APNs with token (.p8) authentication and
// FCM HTTP v1, with per-app credentials and device tokens. The worker will
// then send the notification to the user's registered devices through the
// app's provider and record the outcome; the outbox stays where a
// notification ends when an app has no provider configured.
package push
