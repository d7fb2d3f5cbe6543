// Package bus carries Magpie's internal traffic between processes, behind
// one interface, Bus, with two implementations: Local for embedded mode (one
// process, jobs persisted in SQLite) and RabbitMQ for cluster mode. Both pass
// the conformance suite in bustest.
//
// # Three kinds of traffic
//
// Durable jobs are work for workers (offline handling, push, webhooks):
// Publish returns once the job is durable; Consume hands each job to a
// handler and acknowledges it only after the handler returned nil. Node
// relays carry live deliveries from one gateway node to another (a gateway
// never dials another): one queue per node, not durable, since a lost relay
// is recovered when the client syncs. Broadcast control events (invalidate
// a cache, close sessions on block, revoke, delete or app disable) reach
// every subscribed node.
//
// # Delivery contract for jobs
//
// Delivery is at least once. A job is handled again when its handler's
// acknowledgement is lost (a consumer stopped or a connection dropped after
// the side effect), or when a publish is retried after an ambiguous failure.
// Handlers must be idempotent, keyed on Job.ID.
//
// A handler error is a failed attempt: the job comes back after a backoff
// (ConsumeOptions.MinBackoff doubling up to MaxBackoff) with Attempt one
// higher and LastError set. After MaxAttempts failed attempts the job is a
// dead letter: it leaves the queue, so a poison job never blocks the jobs
// behind it, and DeadLetters lists it with its last error. A panic in a
// handler is a failed attempt too (its stack is logged).
//
// A delivery is abandoned when the consumer stops mid-handler: its context
// was cancelled, the bus closed, the connection dropped, or the process
// crashed. The job comes back at once, with the same Attempt. Abandoned
// deliveries are bounded as well: a job abandoned MaxAttempts times in one
// attempt goes to the dead letters without running again, so a job that
// crashes its process cannot loop forever. (Local counts abandonment in
// memory: a crash of its own process is not counted.)
//
// Jobs are not ordered: handlers run concurrently and retries overtake.
//
// # Metrics
//
// With a telemetry.Metrics in its config, a bus counts every Publish by
// result (magpie_bus_publishes_total; ok means durable: committed, or
// confirmed by the broker) and records, each time a consumer starts an
// attempt, the time since the job was published
// (magpie_bus_job_lag_seconds): the bus stamps each job with its
// publication time in the reserved header magpie-published, which retries
// keep, so a retry's lag counts from the original publish. Handlers never
// see that header. QueueDepth reports a queue's backlog; a process exposes
// it as magpie_bus_queue_depth through QueueDepths.
//
// # Concurrency contract
//
// A Bus is safe for concurrent use. Handlers run on goroutines the bus
// owns: up to ConsumeOptions.Concurrency job handlers at once per consumer;
// relay and broadcast handlers one at a time per consumer, in order. A
// consumer runs until its context is cancelled (abrupt: running handlers
// are cancelled and their jobs abandoned), Consumer.Close is called
// (graceful: running handlers finish and their jobs are settled), or the bus
// closes (abrupt). Consumer.Wait and Close return only after every handler
// the consumer started has returned; handlers must honour their context.
//
// # Embedded: Local
//
// Jobs live in a table of their own in an SQLite file of their own (SQLite
// has one writer per file; the bus does not share the message store's).
// Publishes, acknowledgements, retries and dead letters are group-committed:
// one transaction for everything that arrived while the previous one ran. A
// worker does not wait for its acknowledgement to commit (Close does): if
// the process dies first, the job runs again.
// Pending jobs are also held in memory, where consumers take them; the file
// is read only at OpenLocal, to load the jobs a previous run left. A retry
// is a due time on the job's row, a dead letter a status; the publication
// time is kept in the row's headers. Relays and
// broadcasts are in-memory fan-out within the process, through bounded
// buffers that make a sender wait (as long as its context allows) when a
// consumer falls behind.
//
// # RabbitMQ topology
//
// Every name starts with RabbitMQConfig.Prefix (P below, "magpie" by
// default); each kind of name has its own name space. Queues are declared
// when first used on a connection.
//
//	P.job.<queue>          quorum queue, durable: the work queue. Arguments:
//	                       x-queue-type=quorum, x-dead-letter-exchange="",
//	                       x-dead-letter-routing-key=P.dead.<queue>,
//	                       x-dead-letter-strategy=at-least-once,
//	                       x-overflow=reject-publish
//	P.retry.<N>ms.<queue>  quorum queue, durable, no consumers: holds retries
//	                       for N ms. Arguments: x-message-ttl=N and
//	                       dead-lettering (at least once) to P.job.<queue>
//	P.dead.<queue>         quorum queue, durable: the dead letters
//	P.relay                direct exchange, durable
//	P.node.<node id>       classic queue, durable, bound to P.relay with the
//	                       node id as key. Arguments: x-queue-type=classic,
//	                       x-expires=RelayQueueExpiry
//	P.broadcast            fanout exchange, durable
//	P.sub.<random>         classic queue, exclusive, auto-delete: one per
//	                       subscriber, bound to P.broadcast
//
// A job is a persistent message to P.job.<queue> through the default
// exchange: the message id is Job.ID, the type Job.Type; the headers hold
// magpie-app-id, magpie-attempt, magpie-error, magpie-published (Unix
// milliseconds) and the job's own headers, such as traceparent. Every job publish waits for the publisher
// confirmation, which a quorum queue sends once a majority of its replicas
// have the message. Relays and broadcasts are transient messages; broadcasts
// are confirmed, relays are not.
//
// # RabbitMQ retries and dead letters
//
// A consumer's channel has a prefetch of ConsumeOptions.Concurrency and
// acknowledges manually. After a failed attempt the consumer publishes a
// copy of the job, with its attempt and error, to the delay queue for that
// attempt's backoff and waits for the confirmation; only then does it
// acknowledge the delivery. The delay queue's TTL expires the copy, and the
// broker dead-letters it, at least once, back to the work queue. Each delay
// has its own queue with a per-queue TTL, so every message in a delay queue
// expires in order and a long delay never holds back a short one (a single
// delay queue with per-message expiration would: RabbitMQ expires messages
// only at the head). The delays are powers of two of MinBackoff up to
// MaxBackoff, so a work queue has a handful of delay queues. There is no
// jitter, since each distinct delay needs a queue.
//
// After the last attempt the consumer publishes the job to P.dead.<queue>,
// confirmed, then acknowledges it. If either publish fails, the delivery is
// returned to the work queue instead, and nothing is lost. DeadLetters reads
// the dead-letter queue with basic.get without acknowledging, and closing
// its channel puts the messages back. Abandoned deliveries are counted by
// the quorum queue's x-delivery-count header. The work queue's own
// dead-lettering to P.dead.<queue> is a backstop for limits the broker
// enforces (RabbitMQ 4 gives quorum queues a default delivery limit).
//
// # RabbitMQ connection recovery
//
// amqp091-go does not reconnect by default (its opt-in recovery is not
// used: it retries at a fixed interval, a bounded number of times, and
// redeclares topology and consumers behind the caller's back). A RabbitMQ
// holds one connection, and a supervisor goroutine watches it. When it is
// lost the supervisor redials after MinReconnectDelay (5 ms), doubling after
// each failed attempt up to MaxReconnectDelay (1 s), with jitter, and starts
// over once a connection has lasted MaxReconnectDelay. Meanwhile Publish,
// Relay, Broadcast and DeadLetters wait for the new connection as long as
// their context allows and then fail with ErrUnavailable (wrapping the
// context's error and the last connection error). A publish cut off before
// its confirmation is sent again on the new connection: a possible
// duplicate, never a loss. Consumers resubscribe on the new connection; the
// broker gave their unacknowledged deliveries back when the old one died,
// and handlers still running on it are cancelled, since their
// acknowledgements can no longer arrive. Broadcast events sent while a
// subscriber was disconnected are lost to it: its exclusive queue died with
// the connection. A node's relay queue outlives a short outage
// (RelayQueueExpiry).
//
// # Limits
//
// A queue's arguments are fixed when it is first declared: a queue
// declared with other arguments makes Publish and Consume fail with the
// broker's PRECONDITION_FAILED. Declarations are remembered per
// connection, so a work queue deleted by hand while the bus runs swallows
// publishes until the next reconnection. AMQP cannot list queues, so
// QueueDepth counts the delay queues whose delay this process knows: the
// backoffs of its consumers of the queue and the delays it used since it
// started; jobs waiting out a RetryAfter delay that only another process
// (or a previous run) used are not counted. A handler running longer than
// the broker's consumer_timeout (30 minutes by default) has its channel
// closed and its job redelivered; keep HandlerTimeout below it.
package bus
