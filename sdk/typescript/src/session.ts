// One logged-in WebSocket connection: login, requests and their replies, pushes, heartbeats.
import { create } from "@bufbuild/protobuf";
import {
  FrameSchema,
  LoginSchema,
  PingSchema,
  type Close,
  type Frame,
  type Message as WireMessage,
  type Receipt as WireReceipt,
  type Error as WireError,
  type ReactionUpdate as WireReactionUpdate,
  type TypingEvent as WireTypingEvent,
  type UserPresence as WireUserPresence,
} from "./gen/magpie/v1/magpie_pb.js";
import { decodeFrame, encodeFrame, subprotocol, type Encoding } from "./codec.js";
import { CloseCode, CloseError, ConnectionLostError, MagpieError, RequestTimeoutError, errorFromCode } from "./errors.js";
import type { SessionInfo } from "./events.js";
import type { WebSocketConstructor, WebSocketLike } from "./transport.js";

/** A frame body, as the generated Frame's oneof. */
export type Body = Frame["body"];

/** Receives a session's unsolicited frames. */
export interface Pusher {
  onDeliver(s: Session, msgs: WireMessage[]): void;
  onReceipt(s: Session, r: WireReceipt): void;
  onServerError(s: Session, e: WireError): void;
  onTyping(s: Session, t: WireTypingEvent): void;
  onReaction(s: Session, u: WireReactionUpdate): void;
  /** A room push: room_messages, room_member_count or room_left. */
  onRoom(s: Session, f: Frame): void;
  /** A watched user's presence changed. */
  onPresence(s: Session, p: WireUserPresence): void;
}

/** What a login sends besides the token. */
export interface LoginFields {
  deviceId: string;
  platform: string;
  sdkVersion: string;
}

interface Waiter {
  reply: (f: Frame) => void;
  fail?: (err: Error) => void;
}

/** Converts an Error frame into a MagpieError (or one of its typed subclasses). */
export function errorOf(e: WireError): MagpieError {
  return errorFromCode(e.code, e.message, e.retryable, e.reason);
}

/** Returns the error for a WebSocket that closed with code and reason, after the server's Close frame (if any). */
function closeErr(closing: Close | undefined, code: number, reason: string): Error {
  if (closing) return new CloseError(closing.code, closing.reason);
  if (code >= 4000 && code < 5000) return new CloseError(code, reason);
  return new ConnectionLostError(`WebSocket closed with ${code}${reason ? " " + reason : ""}`, code);
}

/** A logged-in connection. Create it with {@link Session.open}. */
export class Session {
  info!: SessionInfo;
  /** Resolves with the reason the connection ended. */
  readonly ended: Promise<Error>;
  closed = false;
  heardAt = Date.now();
  private endWith!: (err: Error) => void;
  private lastId = 1;
  private readonly waiters = new Map<number, Waiter>();
  private closing: Close | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  private pinging = false;
  private pusher: Pusher | undefined;
  /**
   * The pushes that came before {@link Session.start}, in order; undefined
   * once started. A push can follow the login's answer in the same read of
   * the socket (the server writes what it has for a new session at once),
   * and then reaches the socket's handler before the code awaiting
   * {@link Session.open} runs: it waits here so that the client's
   * `connected` event comes before the session's other events.
   */
  private held: Frame[] | undefined = [];

  private constructor(
    private readonly ws: WebSocketLike,
    readonly encoding: Encoding,
    readonly requestTimeoutMs: number,
  ) {
    this.ended = new Promise((resolve) => (this.endWith = resolve));
  }

  /**
   * Opens a WebSocket to url and logs in with token, within timeoutMs. It
   * fails with a CloseError when the server refuses the login with a Close
   * frame, a MagpieError for an Error reply, or a ConnectionLostError.
   */
  static open(
    ctor: WebSocketConstructor,
    url: string,
    enc: Encoding,
    token: string,
    fields: LoginFields,
    timeoutMs: number,
    pusher: Pusher,
    signal?: AbortSignal,
  ): Promise<Session> {
    const proto = subprotocol(enc);
    const ws = new ctor(url, [proto]);
    ws.binaryType = "arraybuffer";
    const s = new Session(ws, enc, timeoutMs);
    return new Promise<Session>((resolve, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        s.closed = true;
        s.endWith(err);
        try {
          ws.close(1000);
        } catch {
          // closing a socket that never opened
        }
        reject(err);
      };
      const timer = setTimeout(() => fail(new RequestTimeoutError("connect and login")), timeoutMs);
      const onAbort = () => fail(new ConnectionLostError("client stopping"));
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) onAbort();
      ws.onerror = () => {}; // a close follows
      ws.onclose = (ev) => fail(closeErr(s.closing, ev.code, ev.reason));
      ws.onopen = () => {
        if (ws.protocol !== proto) {
          fail(new CloseError(CloseCode.UnsupportedSubprotocol, `server did not accept ${proto}`));
          return;
        }
        const login = create(LoginSchema, { token, ...fields });
        try {
          s.write(1, { case: "login", value: login });
        } catch (err) {
          fail(err as Error);
        }
      };
      ws.onmessage = (ev) => {
        let f: Frame;
        try {
          f = decodeFrame(enc, ev.data);
        } catch (err) {
          fail(new ConnectionLostError(`decode frame: ${(err as Error).message}`));
          return;
        }
        switch (f.body.case) {
          case "loginResult": {
            const r = f.body.value;
            s.info = {
              userId: r.userId,
              sessionId: r.sessionId,
              serverTime: new Date(Number(r.serverTimeMs)),
              heartbeatIntervalMs: Number(r.heartbeatIntervalMs),
              maxMessageBytes: Number(r.maxMessageBytes),
            };
            settled = true;
            clearTimeout(timer);
            signal?.removeEventListener("abort", onAbort);
            s.attach(pusher);
            resolve(s);
            return;
          }
          case "close":
            s.closing = f.body.value;
            return;
          case "error":
            if (f.id === 1n) fail(errorOf(f.body.value));
            return;
        }
      };
    });
  }

  /**
   * Hands the pushes held since the login to the pusher, in order, and
   * every later one as it comes. Call it once the client is ready for the
   * session's events.
   */
  start(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const f of held) this.dispatch(f);
  }

  /** Hands a push to the pusher. */
  private dispatch(f: Frame): void {
    const p = this.pusher!;
    switch (f.body.case) {
      case "deliver":
        p.onDeliver(this, f.body.value.messages);
        break;
      case "receipt":
        p.onReceipt(this, f.body.value);
        break;
      case "typingEvent":
        p.onTyping(this, f.body.value);
        break;
      case "reactionUpdate":
        p.onReaction(this, f.body.value);
        break;
      case "roomMessages":
      case "roomMemberCount":
      case "roomLeft":
        p.onRoom(this, f);
        break;
      case "userPresence":
        p.onPresence(this, f.body.value);
        break;
      case "error":
        p.onServerError(this, f.body.value);
        break;
    }
  }

  /** Switches the socket to the logged-in handlers and starts the heartbeat. */
  private attach(p: Pusher): void {
    this.pusher = p;
    this.heardAt = Date.now();
    this.ws.onclose = (ev) => this.end(closeErr(this.closing, ev.code, ev.reason), false);
    this.ws.onmessage = (ev) => {
      let f: Frame;
      try {
        f = decodeFrame(this.encoding, ev.data);
      } catch (err) {
        this.end(new ConnectionLostError(`decode frame: ${(err as Error).message}`), true);
        return;
      }
      this.heardAt = Date.now();
      if (f.id !== 0n) {
        const id = Number(f.id);
        const w = this.waiters.get(id);
        if (w) {
          this.waiters.delete(id);
          w.reply(f);
        }
        return;
      }
      if (f.body.case === "close") {
        this.closing = f.body.value;
        return;
      }
      if (this.held) this.held.push(f);
      else this.dispatch(f);
    };
    const interval = this.info.heartbeatIntervalMs > 0 ? this.info.heartbeatIntervalMs : 25000;
    this.heartbeatTimer = setInterval(() => void this.heartbeat(), interval);
  }

  /**
   * Ends the session with err: requests waiting for a reply fail with a
   * ConnectionLostError, and the socket closes (at once if abort).
   */
  end(err: Error, abort = true): void {
    if (this.closed) return;
    // The server's Close frame came first: its code is why the session
    // ends, whatever a write then found (a socket already closing).
    if (this.closing && err instanceof ConnectionLostError) err = new CloseError(this.closing.code, this.closing.reason);
    this.closed = true;
    clearInterval(this.heartbeatTimer);
    const lost = new ConnectionLostError(err.message);
    const waiters = [...this.waiters.values()];
    this.waiters.clear();
    for (const w of waiters) w.fail?.(lost);
    this.endWith(err);
    try {
      const t = this.ws as WebSocketLike & { terminate?: () => void };
      if (abort && typeof t.terminate === "function") t.terminate();
      else this.ws.close(1000, abort ? "" : "client stopping");
    } catch {
      // already closed
    }
  }

  /** Returns a new request id. */
  newId(): number {
    return ++this.lastId;
  }

  /** Encodes and writes one frame; throws a ConnectionLostError if the socket is not open. */
  write(id: number, body: Body): void {
    if (this.ws.readyState !== 1) throw new ConnectionLostError("socket not open");
    this.ws.send(encodeFrame(this.encoding, create(FrameSchema, { id: BigInt(id), body })));
  }

  /**
   * Sends a request with id (from newId) and has reply called with its
   * reply frame, if one comes on this session. Throws a ConnectionLostError
   * if the session ended.
   */
  send(id: number, body: Body, reply: (f: Frame) => void): void {
    if (this.closed) throw new ConnectionLostError("session ended");
    this.waiters.set(id, { reply });
    try {
      this.write(id, body);
    } catch (err) {
      this.waiters.delete(id);
      throw err;
    }
  }

  /**
   * Sends a request and returns its reply, within the request timeout. An
   * Error reply rejects with a MagpieError.
   */
  call(body: Body, signal?: AbortSignal): Promise<Frame> {
    if (this.closed) return Promise.reject(new ConnectionLostError("session ended"));
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error("aborted"));
    const id = this.newId();
    return new Promise<Frame>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = () => {
        this.waiters.delete(id);
        done();
        reject(signal!.reason ?? new Error("aborted"));
      };
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        done();
        reject(new RequestTimeoutError(body.case ?? "request"));
      }, this.requestTimeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiters.set(id, {
        reply: (f) => {
          done();
          if (f.body.case === "error") reject(errorOf(f.body.value));
          else resolve(f);
        },
        fail: (err) => {
          done();
          reject(err);
        },
      });
      try {
        this.write(id, body);
      } catch (err) {
        this.waiters.delete(id);
        done();
        reject(err);
      }
    });
  }

  /**
   * Pings the server. A ping unanswered within the request timeout while
   * nothing else came from the server either ends the session: the
   * connection is dead. (The server stops reading while it paces a burst of
   * sends, so a late pong among other frames is no sign of a dead link.)
   */
  private async heartbeat(): Promise<void> {
    if (this.pinging || this.closed) return;
    this.pinging = true;
    try {
      await this.call({ case: "ping", value: create(PingSchema) });
    } catch (err) {
      if (err instanceof RequestTimeoutError && Date.now() - this.heardAt >= this.requestTimeoutMs) {
        this.end(new ConnectionLostError("heartbeat: no reply from the server"));
      }
    } finally {
      this.pinging = false;
    }
  }

  /** How many messages to ask for per page, so that a page of the largest messages stays within 4 MiB. */
  pageLimit(): number {
    let per = Math.max(this.info.maxMessageBytes, 1);
    if (this.encoding === "json") per *= 6;
    return Math.min(Math.max(Math.floor((4 << 20) / per), 1), 200);
  }
}
