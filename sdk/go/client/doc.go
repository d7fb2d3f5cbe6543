// Package client is the Go client SDK of Magpie: it keeps one user's device
// connected to the gateway over a WebSocket and implements the client side
// of the reliability contract (sdk/proto/magpie/v1/magpie.proto).
//
// A Client
//
//   - logs in with a token from the app's TokenProvider, sends heartbeats,
//     and reconnects with exponential backoff and full jitter after network
//     errors and reconnect-range close codes (4000-4099); it stops on
//     terminal codes (4100-4199), except token_expired (4101), after which it
//     asks the TokenProvider for a fresh token;
//   - after every login, fetches what it missed: the conversation list, then
//     every message after its cursor in each conversation;
//   - delivers every message exactly once per Client, in seq order within a
//     conversation: it deduplicates by (conversation, seq), holds back
//     messages that arrive ahead of a gap, fills gaps with SyncMessages, and
//     skips a seq the server confirms does not exist (a failed send);
//   - reports cursors to the server (DeliverAck) in batches, only ever up to
//     the last message the app has taken, so never past a gap;
//   - sends messages with a client message id kept across retransmissions,
//     one at a time per recipient so that they keep their order, again after
//     timeouts, retryable errors and reconnects, until a deadline.
//
// # Usage
//
//	c, err := client.New(client.Config{
//		URL:           "https://im.example.com",
//		DeviceID:      deviceID, // stable per installation
//		TokenProvider: func(ctx context.Context) (string, error) { return backend.Token(ctx) },
//	})
//	if err != nil {
//		return err
//	}
//	defer c.Close()
//	go c.Run(ctx) // or in an errgroup
//
//	res, err := c.Send(ctx, "bob", "text", "hello")
//
//	for {
//		ev, err := c.Next(ctx)
//		if err != nil {
//			return err
//		}
//		switch ev := ev.(type) {
//		case client.Message:
//			fmt.Println(ev.ConvID, ev.Seq, ev.SenderID, ev.Content)
//		case client.Receipt:
//			fmt.Println(ev.Kind, ev.ConvID, ev.Seq, ev.UserID)
//		case client.Disconnected:
//			if !ev.WillRetry {
//				return ev.Err
//			}
//		}
//	}
//
// # Events
//
// The app pulls events with Next: Message, Recall, Receipt, Connected and
// Disconnected. The client never calls into the app, so app code runs on the
// app's goroutines and never under the client's locks. Events wait in a
// queue bounded by Config.EventBuffer: while it is full, new messages are
// left on the server and fetched again once the app has caught up, so a slow
// app delays messages but loses none and never stalls the connection.
//
// A message counts as received when Next returns it: only then does its
// cursor move, get saved to the Store and reported to the server. A Client
// therefore returns each message once; a new Client of the same device
// resumes after the cursors of its Store (by default in memory: from the
// beginning), so messages taken but not yet saved when a process dies are
// returned again by the next process.
//
// # Concurrency
//
// A Client is safe for concurrent use by multiple goroutines. Run blocks; at
// most one Run is active at a time, and it returns only after every
// goroutine it started (per connection: a reader, a heartbeat, a sender, a
// gap filler and an acknowledger) has stopped. Close stops Run and waits for
// it. Requests (Conversations, History, MarkRead) wait for a connection
// until their context ends, and fail with ErrNotRunning once Run has
// returned. Send and SendAsync queue messages whether or not the client is
// connected.
//
// Lock order: receiver.mu before eventQueue.mu; every other lock (Client.mu,
// session.mu, outbox.mu, acker.mu) is taken alone. No lock is held while
// writing to the network or calling the Store or the TokenProvider.
package client
