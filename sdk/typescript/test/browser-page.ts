// The harness that runs inside a Chromium page: one MagpieClient on the
// browser's own WebSocket, driven from Node through page.evaluate. It is
// served as an ES module next to the built SDK (browser-env.ts maps
// "../src/index.js" to dist/), so the page runs the SDK as published. Every
// answer is plain data (dates as epoch ms, errors as PageError), since it
// crosses the DevTools protocol.
import { CloseError, MagpieClient, MagpieError, SendTimeoutError, type ClientEvent, type EventIterator, type Message, type Outgoing } from "../src/index.js";

/** An error as the page reports it. */
export interface PageError {
  /** The class: CloseError, MagpieError, ConnectionLostError, ... */
  name: string;
  message: string;
  /** The close code of a CloseError, the error code of a MagpieError. */
  code?: number | string;
  /** The client message id of a SendTimeoutError. */
  clientMsgId?: string;
}

/** A message as the page reports it. */
export type PageMessage = Omit<Message, "createdAt"> & { createdAt: number };

/** A receipt as the page reports it. */
export interface PageReceipt {
  kind: string;
  convId: string;
  seq: number;
  userId: string;
  at?: number;
}

/** A send's acknowledgement as the page reports it. */
export interface PageSendResult {
  clientMsgId: string;
  convId: string;
  seq: number;
  sentAt: number;
  duplicate: boolean;
}

/** An event as the page reports it: the iterator's {type, value}, in plain data. */
export type PageEvent =
  | { type: "message"; value: PageMessage }
  | { type: "receipt"; value: PageReceipt }
  | { type: "connected"; value: { userId: string; sessionId: string } }
  | { type: "disconnected"; value: { error: PageError; willRetry: boolean } }
  | { type: Exclude<ClientEvent["type"], "message" | "receipt" | "connected" | "disconnected">; value: unknown };

/** What the test sets for the page's client. */
export interface PageOptions {
  url: string;
  deviceId: string;
  encoding?: "proto" | "json";
  sendDeadlineMs?: number;
}

/** The outcome of one send: its acknowledgement or its error. */
export type PageOutcome = { ok: PageSendResult } | { err: PageError };

function plainError(err: unknown): PageError {
  if (!(err instanceof Error)) return { name: typeof err, message: String(err) };
  const out: PageError = { name: err.name, message: err.message };
  if (err instanceof CloseError || err instanceof MagpieError) out.code = err.code;
  if (err instanceof SendTimeoutError) out.clientMsgId = err.clientMsgId;
  return out;
}

function plainEvent(ev: ClientEvent): PageEvent {
  switch (ev.type) {
    case "message":
      return { type: "message", value: { ...ev.value, createdAt: ev.value.createdAt.getTime() } };
    case "receipt":
      return { type: "receipt", value: { ...ev.value, at: ev.value.at?.getTime() } };
    case "connected":
      return { type: "connected", value: { userId: ev.value.session.userId, sessionId: ev.value.session.sessionId } };
    case "disconnected":
      return { type: "disconnected", value: { error: plainError(ev.value.error), willRetry: ev.value.willRetry } };
    default:
      return { type: ev.type, value: ev.type === "serverError" ? plainError(ev.value) : ev.value };
  }
}

/** Waits for p at most ms, failing with what it waited for. */
async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`page: timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves when cond holds, checked after every event of the client; rejects after ms. */
class Watch {
  private waiters: { cond: () => boolean; resolve: () => void }[] = [];

  /** Rechecks the waiters. */
  poke(): void {
    this.waiters = this.waiters.filter((w) => {
      if (!w.cond()) return true;
      w.resolve();
      return false;
    });
  }

  until(cond: () => boolean, ms: number, what: string): Promise<void> {
    if (cond()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w = {
        cond,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`page: timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      this.waiters.push(w);
    });
  }
}

declare global {
  interface Window {
    /** Asks Node for the user's next token (page.exposeFunction). */
    magpieToken(): Promise<string>;
    harness: Harness;
  }
}

/** The page's client and what it saw. */
export class Harness {
  private c: MagpieClient | undefined;
  private it: EventIterator | undefined;
  private readonly watch = new Watch();
  private runEnd: Promise<PageError | null> | undefined;
  private readonly outgoing = new Map<string, Promise<PageOutcome>>();
  /** Every message the client reported, in order. */
  readonly messages: PageMessage[] = [];
  /** Every receipt the client reported, in order. */
  readonly receipts: PageReceipt[] = [];

  private get client(): MagpieClient {
    if (!this.c) throw new Error("page: no client: call open first");
    return this.c;
  }

  /** Creates the client; its token provider asks Node. */
  open(o: PageOptions): void {
    const c = new MagpieClient({
      url: o.url,
      deviceId: o.deviceId,
      tokenProvider: () => window.magpieToken(),
      encoding: o.encoding,
      sendDeadlineMs: o.sendDeadlineMs,
      backoffMinMs: 5,
      backoffMaxMs: 100,
      requestTimeoutMs: 5000,
    });
    this.c = c;
    this.it = c.events();
    c.on("message", (m) => {
      this.messages.push(plainEvent({ type: "message", value: m }).value as PageMessage);
      this.watch.poke();
    });
    c.on("receipt", (r) => {
      this.receipts.push(plainEvent({ type: "receipt", value: r }).value as PageReceipt);
      this.watch.poke();
    });
  }

  /** Starts (or restarts) the client's run. */
  run(): void {
    this.runEnd = this.client.run().then(
      () => null,
      (err: unknown) => plainError(err),
    );
  }

  /** How the last run ended: null if by close, else its error. */
  done(ms: number): Promise<PageError | null> {
    if (!this.runEnd) throw new Error("page: not run");
    return within(ms, "the run to end", this.runEnd);
  }

  /** The next event of type from the client's iterator, skipping others, within ms. */
  async next(type: PageEvent["type"], ms: number): Promise<PageEvent["value"]> {
    const deadline = Date.now() + ms;
    for (;;) {
      const r = await within(Math.max(deadline - Date.now(), 1), `a ${type} event`, this.it!.next());
      if (r.done) throw new Error(`page: events ended while waiting for ${type}`);
      if (r.value.type === type) return plainEvent(r.value).value;
    }
  }

  /** Waits until the client reported n messages in all, and returns them all. */
  async waitMessages(n: number, ms: number): Promise<PageMessage[]> {
    await this.watch.until(() => this.messages.length >= n, ms, `${n} messages (have ${this.messages.length})`);
    return this.messages.slice();
  }

  /** Waits for a receipt of kind by user covering seq, and returns it. */
  async waitReceipt(kind: string, user: string, seq: number, ms: number): Promise<PageReceipt> {
    const find = () => this.receipts.find((r) => r.kind === kind && r.userId === user && r.seq >= seq);
    await this.watch.until(() => find() !== undefined, ms, `a ${kind} receipt of ${user} for ${seq}`);
    return find()!;
  }

  /** Sends and waits for the acknowledgement. */
  async send(to: string, content: string, clientMsgId?: string): Promise<PageSendResult> {
    return plainResult(await this.client.send(to, "text", content, { clientMsgId }));
  }

  /**
   * Queues one message per content at once, pipelined, and returns their
   * client message ids; {@link Harness.outcomes} waits for them.
   */
  sendAsync(to: string, contents: string[]): string[] {
    return contents.map((content) => {
      const o: Outgoing = this.client.sendAsync(to, "text", content);
      this.outgoing.set(
        o.clientMsgId,
        o.result.then(
          (res) => ({ ok: plainResult(res) }),
          (err: unknown) => ({ err: plainError(err) }),
        ),
      );
      return o.clientMsgId;
    });
  }

  /** The outcomes of sends queued by {@link Harness.sendAsync}, in the order of ids. */
  outcomes(ids: string[], ms: number): Promise<PageOutcome[]> {
    const all = Promise.all(ids.map((id) => this.outgoing.get(id) ?? Promise.reject(new Error(`page: unknown send ${id}`))));
    return within(ms, `${ids.length} sends`, all);
  }

  /** Moves the user's read cursor. */
  markRead(convId: string, seq: number): Promise<void> {
    return this.client.markRead(convId, seq);
  }

  /** The user's conversations, as the tests compare them. */
  async conversations(): Promise<{ convId: string; maxSeq: number; peerReadSeq: number }[]> {
    const convs = await this.client.conversations();
    return convs.map((c) => ({ convId: c.id, maxSeq: c.maxSeq, peerReadSeq: c.peerReadSeq }));
  }

  /** The client's counters. */
  stats(): { pendingSends: number; connected: boolean } {
    return this.client.stats();
  }

  /** Closes the client. */
  close(): Promise<void> {
    return this.c?.close() ?? Promise.resolve();
  }
}

function plainResult(r: { clientMsgId: string; convId: string; seq: number; sentAt: Date; duplicate: boolean }): PageSendResult {
  return { clientMsgId: r.clientMsgId, convId: r.convId, seq: r.seq, sentAt: r.sentAt.getTime(), duplicate: r.duplicate };
}

window.harness = new Harness();
