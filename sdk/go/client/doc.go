// Package client is the Go client SDK of Magpie: it keeps one user's device
// connected to the gateway over a WebSocket and implements the client side
// of the reliability contract (sdk/proto/magpie/v1/magpie.proto).
//
// A Client
//
//   - logs in with a token from the app's TokenProvider, sends heartbeats,
//     and reconnects with exponential backoff and full jitter after network
//     errors and reconnect-range close codes (4000-4099, among them
//     reauthenticate, 4006: the session's token expired or its secret was
//     revoked); it stops on terminal codes (4100-4199), except token_expired
//     (4101). It asks the TokenProvider for a token before every connection
//     attempt, so a reconnect after 4006 or 4101 logs in with a fresh one;
//   - after every login, fetches what it missed: the conversation list, then
//     every message after its cursor in each conversation;
//   - delivers every message exactly once per Client, in seq order within a
//     conversation: it deduplicates by (conversation, seq), holds back
//     messages that arrive ahead of a gap, fills gaps with SyncMessages, and
//     skips a seq the server confirms does not exist (a failed send);
//   - reports cursors to the server (DeliverAck) in batches, only ever up to
//     the last message the app has taken, so never past a gap;
//   - sends messages with a client message id kept across retransmissions,
//     pipelined: up to Config.SendWindow (32) per recipient in flight at
//     once, in the order the app queued them, which is the order of their
//     seqs; again after timeouts, retryable errors and reconnects, until a
//     deadline (see Sending);
//   - registers the device for offline push notifications and sends the
//     registration again after every login (see Push).
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
// # Sending
//
// Send and SendAsync queue a message; the client keeps one queue per
// recipient, in call order, and transmits its head on the connection, up
// to Config.SendWindow messages in flight (sent, not yet acknowledged), so
// that a burst to one recipient goes at the connection's pace rather than
// one message per round trip. The server numbers one connection's sends
// to a conversation in the order it reads them, and pushes back (stops
// reading) instead of refusing when the app's send rate is exceeded, so
// the messages to one recipient get seqs in the order of the calls.
//
// The client keeps that order through failures:
//
//   - after a reconnect it sends every message of a queue not yet
//     acknowledged again, from the head and in order, before any newer
//     one; the server answers those it had stored (their acknowledgement
//     was lost) with their original seq, as duplicates (SendResult);
//   - a connection that answers no send for Config.RequestTimeout while
//     one is in flight is dropped and the queue sent again on a new one,
//     rather than a single message retransmitted behind later ones;
//   - a refusal that is final (forbidden, user_not_found, invalid_message,
//     ...) fails that message alone; the server refuses it before reading
//     further, so the messages after it keep their order;
//   - an overload refusal (unavailable with a retry hint) sends the client
//     back to the refused message: after the hint, it and every message
//     sent after it are sent again in order on the same connection (the
//     server refuses everything after it until it comes again);
//   - any other retryable error (unavailable, internal, rate_limited) for
//     a message with later messages of its queue in flight ends the
//     connection, and the queue is sent again in order on the next one;
//     for the last message in flight, it is retried in place after a
//     backoff, holding the later ones back. The current server answers
//     such an error only while it shuts down, when it refuses the later
//     sends as well; on other failures that are not the client's it closes
//     the connection with a reconnect code. An older server answered
//     rate_limited and went on reading; there, a later message it stored
//     before the error keeps its earlier seq, which only SendWindow 1
//     avoids.
//
// A message that reaches Config.SendDeadline without an acknowledgement
// fails with ErrSendTimeout; the server may still have stored it, in its
// place.
//
// # Push
//
// While a device is offline, the server tells it about new messages with a
// push notification through APNs or FCM. The app hands the client the
// provider's token with RegisterDevice, after the user's first login on
// the device, at every start, and whenever the provider issues a new
// token. The client remembers the last registration the server accepted
// and sends it again after every login, so that a server that lost it, or
// a new one, has it. Close keeps the registration: notifications go on
// while the app is closed. Logout, for a user who signs out, removes it
// (UnregisterDevice) and closes the client.
//
// SetPushSettings sets the user's preferences (notifications off,
// do-not-disturb hours), MuteConversation mutes one conversation
// (Conversation.Muted), and WithPush gives one message its notification
// options (a title, silent, no notification at all, ...):
//
//	err := c.RegisterDevice(ctx, client.Device{Platform: "ios", Provider: "apns", Token: hexToken})
//	res, err := c.Send(ctx, "bob", "text", "ping", client.WithPush(client.PushOptions{Silent: true}))
//
// A request the server refuses fails with an *Error whose Code is one of
// the wire.Code* constants: wire.CodeInvalidArgument (the message names the
// field), wire.CodeTooManyDevices (20 devices registered), wire.CodeNotFound
// (a conversation the user is not in), or wire.CodeUnavailable (a server
// without push).
//
// # Groups
//
// A group is a conversation ("g:" and the group id) whose members have a
// role (RoleOwner, RoleAdmin, RoleMember); the user acts with its own role
// (docs/groups.md). CreateGroup, UpdateGroup, AddGroupMembers, JoinGroup,
// JoinRequests, ResolveJoinRequest, SetGroupRole, MuteGroupMember and the
// other group calls manage groups; SendToGroup and SendToGroupAsync send to
// one, in order per group, like Send, and WithMentions and WithMentionAll
// mention members. A group message has no receipts per member: GroupReads
// counts who read it. Changes arrive as messages of type "notice" (JSON)
// in the group's conversation.
//
//	g, err := c.CreateGroup(ctx, client.NewGroup{Name: "Hiking club", MemberIDs: []string{"bob", "carol"}})
//	res, err := c.SendToGroup(ctx, g.ID, "text", "@bob Saturday?", client.WithMentions("bob"))
//	reads, err := c.GroupReads(ctx, g.ID, res.Seq)
//
// Message.GroupID and Message.Mentioned tell a group message and whether
// it mentions the user; Conversation.GroupID, Conversation.MentionSeq and
// Conversation.HasUnreadMention describe a group's conversation. Refusals
// are *Error with codes such as wire.CodeForbidden, wire.CodeGroupNotFound,
// wire.CodeGroupFull, wire.CodeMemberMuted and wire.CodeGroupMuted.
//
// # Files
//
// Photos, voice notes and documents go over HTTP, not the WebSocket:
// UploadFile streams a file to the server (POST /v1/client/files, with a
// token from the TokenProvider), shared to a conversation of the user,
// and returns its id; a message references it with FileRef(id) in an
// ImageContent (or File, Audio, Video) URL:
//
//	f, err := c.UploadFile(ctx, client.FileUpload{ConvID: c.ConvIDWith("bob"), Name: "beach.jpg", Body: file})
//	_, err = c.SendTyped(ctx, "bob", client.ImageContent{URL: client.FileRef(f.ID), Width: 1024, Height: 768,
//		Size: f.Size, MIME: f.ContentType})
//
// A receiver gets a signed download URL with FileURL (FileID tells whether
// a content URL references an uploaded file); it needs no token (it works
// in an <img src>), expires (an hour by default), and stops working when
// the user leaves the conversation. Keep file ids, not URLs. See
// docs/files.md.
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
// gap filler, an acknowledger and a push registration sender) has stopped.
// Close stops Run and waits for it. Requests (Conversations, History,
// SearchMessages, MarkRead, RegisterDevice, UnregisterDevice, SetPushSettings,
// MuteConversation) wait for a connection until their context ends, and
// fail with ErrNotRunning once Run has returned. Send and SendAsync queue
// messages whether or not the client is connected.
//
// Push registration requests (RegisterDevice, UnregisterDevice and the
// registration sent again after a login) take turns, one in flight at a
// time, so that the server applies them in the order they were made. The
// turn (Client.pushTurn, a channel) is taken before Client.mu and waited
// for without holding a lock.
//
// Lock order: receiver.mu before eventQueue.mu; every other lock (Client.mu,
// session.mu, outbox.mu, acker.mu) is taken alone. No lock is held while
// writing to the network or calling the Store or the TokenProvider.
package client
