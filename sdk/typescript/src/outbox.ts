// The messages not yet acknowledged, one queue per recipient (user or group), and what to transmit when.
import type { PushOptions } from "./gen/magpie/v1/magpie_pb.js";
import { RequestTimeoutError, SendTimeoutError } from "./errors.js";
import { retryDelay } from "./backoff.js";
import type { Session } from "./session.js";

/** A message the server acknowledged: it is durably stored. */
export interface SendResult {
  /** The id the client gave the message. */
  clientMsgId: string;
  /** The conversation the message belongs to. */
  convId: string;
  /** Its seq in the conversation; 0 if the app's moderation accepted but dropped it (nobody receives it). */
  seq: number;
  /** When the server accepted the message. */
  sentAt: Date;
  /** Set if the server had already accepted a message with this id; the fields then describe that message. */
  duplicate: boolean;
}

/** A queued message, until the server acknowledges it or the send fails. */
export class Outgoing {
  /** Settles with the outcome of the send. */
  readonly result: Promise<SendResult>;
  /** @internal */ order = 0;
  /** @internal */ finished = false;
  /** @internal The session of the last attempt; undefined before the first and while backing off. */
  sess: Session | undefined;
  /** @internal */ req = 0;
  /** @internal */ sentAt = 0;
  /** @internal */ notBefore = 0;
  /** @internal */ retries = 0;
  /** @internal */ lastErr: unknown;
  /** @internal */ deadline: ReturnType<typeof setTimeout> | undefined;
  /** @internal */ settle!: (res: SendResult | undefined, err?: unknown) => void;

  /** @internal The outbox queue of the message: its recipient's, or its group's ("g:" and the id; user ids hold no ':'). */
  readonly queue: string;

  /** @internal */
  constructor(
    /** The message's client message id, kept for every retransmission. */
    readonly clientMsgId: string,
    /** The recipient: a user id, or a group id if {@link Outgoing.group} is set. */
    readonly to: string,
    /** The kind of content. */
    readonly type: string,
    /** The content. */
    readonly content: string,
    /** @internal */ readonly push: PushOptions | undefined,
    /** Set if the message is for the group `to` ({@link MagpieClient.sendToGroupAsync}). */
    readonly group = false,
    /** The members the group message mentions. */
    readonly mentions: readonly string[] = [],
    /** Set if the group message mentions every member. */
    readonly mentionAll = false,
  ) {
    this.queue = group ? "g:" + to : to;
    this.result = new Promise<SendResult>((resolve, reject) => {
      this.settle = (res, err) => (res !== undefined ? resolve(res) : reject(err));
    });
    // The app may never look at the outcome: an unobserved failure is not an error.
    this.result.catch(() => {});
  }
}

/** An attempt to transmit on a session, with its request id. */
export interface Attempt {
  o: Outgoing;
  id: number;
}

/**
 * The queues of messages not yet acknowledged.
 *
 * Ordering rule: the server gives a connection's sends to one conversation
 * seqs in the order it reads them, so on a session the messages in flight
 * are always a prefix of their queue (at most window of them), transmitted
 * in queue order, and nothing is transmitted while a message before it
 * waits for its turn. A session that ends takes nothing with it: the next
 * one transmits each queue again from its head (the server answers those
 * it had stored as duplicates, with their seq). Whatever could put a later
 * message ahead of an earlier one ends the session instead.
 */
export class Outbox {
  private readonly queues = new Map<string, Outgoing[]>();
  private order = 0;
  private closedErr: Error | undefined;
  private replySess: Session | undefined;
  private replyAt = 0;
  /** Called when something is due or finished. */
  wake: () => void = () => {};

  constructor(
    private readonly window: number,
    private readonly backoffMinMs: number,
    private readonly backoffMaxMs: number,
  ) {}

  /** Queues o and starts its deadline. */
  add(o: Outgoing, deadlineMs: number): void {
    if (this.closedErr !== undefined) throw this.closedErr;
    o.order = ++this.order;
    let q = this.queues.get(o.queue);
    if (!q) {
      q = [];
      this.queues.set(o.queue, q);
    }
    q.push(o);
    o.deadline = setTimeout(() => this.finish(o, undefined, new SendTimeoutError(o.clientMsgId, o.lastErr)), deadlineMs);
    this.wake();
  }

  /** Ends the send o with its outcome, unless it already ended; returns whether it did. */
  finish(o: Outgoing, res: SendResult | undefined, err?: unknown): boolean {
    if (o.finished) return false;
    o.finished = true;
    clearTimeout(o.deadline);
    const q = this.queues.get(o.queue) ?? [];
    if (q[0] === o) q.shift();
    else {
      const i = q.indexOf(o);
      if (i >= 0) q.splice(i, 1);
    }
    if (q.length === 0) this.queues.delete(o.queue);
    o.settle(res, err);
    this.wake();
    return true;
  }

  /** Notes that session s answered a send. */
  replied(s: Session): void {
    this.replySess = s;
    this.replyAt = Date.now();
  }

  /**
   * Handles a retryable failure of the attempt req of o on session s. If a
   * later message of o's queue is in flight on s, returns true: the session
   * must end, for the server may store that message before o. Otherwise o
   * is sent again on s after a backoff, and the messages after it wait.
   */
  retry(o: Outgoing, s: Session, req: number, err: unknown): boolean {
    if (o.finished || o.sess !== s || o.req !== req) return false;
    o.lastErr = err;
    const q = this.queues.get(o.queue) ?? [];
    const i = q.indexOf(o);
    if (i >= 0 && q.slice(i + 1).some((x) => x.sess === s)) return true;
    o.sess = undefined;
    o.notBefore = Date.now() + retryDelay(this.backoffMinMs, this.backoffMaxMs, o.retries);
    o.retries++;
    this.wake();
    return false;
  }

  /**
   * Handles an overload refusal, with a retry hint, of the attempt req of o
   * on session s; other attempts are ignored. The server refuses every send
   * of s after o's until o comes again, so o and every message transmitted
   * on s after it (a later request id) are marked not sent, to be sent again
   * from the queues' heads once the hint (plus jitter) has passed: in their
   * original order, o first.
   */
  goBack(o: Outgoing, s: Session, req: number, afterMs: number, err: unknown): void {
    if (o.finished || o.sess !== s || o.req !== req) return;
    const at = Date.now() + afterMs + Math.random() * (afterMs / 4);
    for (const q of this.queues.values()) {
      for (const x of q) {
        if (x.sess === s && x.req >= req) {
          x.sess = undefined;
          x.lastErr = err;
          x.notBefore = at;
        }
      }
    }
    this.wake();
  }

  /**
   * Returns the messages to transmit now on session s, in queue order,
   * marked in flight on s, and how long until something is due again (-1:
   * nothing pending). Throws a RequestTimeoutError if s answered no send
   * for timeoutMs while one was in flight: the session must end.
   */
  due(s: Session, timeoutMs: number): { batch: Attempt[]; waitMs: number } {
    const now = Date.now();
    const out: Outgoing[] = [];
    let wait = -1;
    const later = (d: number) => {
      if (wait < 0 || d < wait) wait = d;
    };
    const replyAt = this.replySess === s ? this.replyAt : 0;
    for (const q of this.queues.values()) {
      for (let i = 0; i < q.length && i < this.window; i++) {
        const o = q[i];
        if (o.sess === s) {
          const overdue = Math.max(o.sentAt, replyAt) + timeoutMs;
          if (now >= overdue) {
            o.lastErr = new RequestTimeoutError(`send ${o.clientMsgId}`);
            throw o.lastErr;
          }
          later(overdue - now);
          continue;
        }
        if (o.sess === undefined && o.notBefore > now) {
          later(o.notBefore - now);
          break;
        }
        out.push(o);
      }
    }
    out.sort((a, b) => a.order - b.order);
    const batch = out.map((o) => {
      const id = s.newId();
      o.sess = s;
      o.req = id;
      o.sentAt = now;
      return { o, id };
    });
    if (batch.length > 0) later(timeoutMs);
    return { batch, waitMs: wait };
  }

  /** The number of queued messages. */
  pending(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /** Fails every queued message with err and refuses new ones. */
  close(err: Error): void {
    this.closedErr = err;
    const all = [...this.queues.values()].flat();
    for (const o of all) this.finish(o, undefined, err);
  }
}
