// The client: one user's device, connected, with the protocol's guarantees.
import { create } from "@bufbuild/protobuf";
import {
  AddGroupMembersSchema,
  AddReactionSchema,
  AnswerFriendRequestSchema,
  BlockUserSchema,
  CancelFriendRequestSchema,
  CloseSupportSessionSchema,
  EditMessageSchema,
  GetReactionsSchema,
  JoinRoomSchema,
  LeaveRoomSchema,
  ListBlockedSchema,
  ListFriendRequestsSchema,
  ListFriendsSchema,
  OpenSupportSessionSchema,
  RateSupportSessionSchema,
  RecallMessageSchema,
  RemoveFriendSchema,
  RemoveReactionSchema,
  RoomLeft_Reason,
  SendFriendRequestSchema,
  SendRoomMessageSchema,
  SetConversationSchema,
  SetFriendRemarkSchema,
  TypingSchema,
  SubscribePresenceSchema,
  UnsubscribePresenceSchema,
  UnblockUserSchema,
  CreateGroupSchema,
  CursorSchema,
  DeleteFileSchema,
  DeliverAckSchema,
  DismissGroupSchema,
  GetFileUrlSchema,
  GetGroupReadsSchema,
  GetGroupSchema,
  JoinGroupSchema,
  LeaveGroupSchema,
  ListGroupMembersSchema,
  ListJoinRequestsSchema,
  MuteConversationSchema,
  PushOptionsSchema,
  ReadSchema,
  RegisterDeviceSchema,
  RemoveGroupMembersSchema,
  ResolveJoinRequestSchema,
  SearchMessagesSchema,
  SendSchema,
  SetGroupMemberSchema,
  SetPushSettingsSchema,
  SyncConversationsSchema,
  SyncMessagesSchema,
  TransferGroupSchema,
  UnregisterDeviceSchema,
  UpdateGroupSchema,
  type ConversationState,
  type Frame,
  type Message as WireMessage,
  type Group as WireGroup,
  type GroupMembersResult as WireGroupMembersResult,
  type PushOptions as WirePushOptions,
} from "./gen/magpie/v1/magpie_pb.js";
import { Backoff, retryDelay, sleep } from "./backoff.js";
import type { Encoding } from "./codec.js";
import {
  ClientClosedError,
  ConnectionLostError,
  ErrorCode,
  MagpieError,
  isRetryable,
  isTerminal,
} from "./errors.js";
import {
  Emitter,
  groupIdOf,
  type ClientEvent,
  type ClientEvents,
  type EventIterator,
  type Listener,
  type Message,
} from "./events.js";
import {
  toGroup,
  toGroupMember,
  toJoinRequest,
  toMembersResult,
  type Group,
  type GroupMember,
  type GroupMemberPage,
  type GroupReads,
  type GroupRole,
  type GroupUpdate,
  type JoinRequestPage,
  type MembersResult,
  type NewGroup,
} from "./groups.js";
import {
  contactNoticeOf,
  toBlockedUser,
  toFriend,
  toFriendRequest,
  type BlockedPage,
  type Friend,
  type FriendPage,
  type FriendRequestPage,
  type FriendStatus,
} from "./contacts.js";
import { directConvId, toConversation, type Conversation, type ConversationPrefs } from "./conversations.js";
import { encodeContent, toReaction, type Reaction, type ReactionCount, type TypedContent } from "./rich.js";
import {
  Rooms,
  RoomLeftReason,
  toRoomAck,
  toRoomInfo,
  toRoomMessage,
  type RoomAck,
  type RoomJoin,
} from "./rooms.js";
import { toSupportSession, type SupportSession } from "./support.js";
import { PresenceSubs, toPresence, toPresenceSubscription, type PresenceSubscription } from "./presence.js";
import { HTTPError, fromFileLink, httpBase, postFile, type FileInfo, type FileUpload } from "./files.js";
import { newClientMsgId, randomHex } from "./ids.js";
import { Outbox, Outgoing, type Attempt, type SendResult } from "./outbox.js";
import { Receiver, toMessage, toReceipt } from "./receiver.js";
import { Session, errorOf, type Body, type Pusher } from "./session.js";
import { resolveWebSocket, type WebSocketConstructor } from "./transport.js";

/** The SDK version, sent at login as `magpie-ts/<version>`. */
export const VERSION = "0.1.0";

/**
 * Keeps the per-conversation cursors (the last message reported) across
 * restarts of the app. Without one, a new client starts from the beginning
 * of every conversation.
 */
export interface CursorStore {
  /** Returns the saved cursors, by conversation id. */
  load(): Promise<Record<string, number>>;
  /** Saves moved cursors (a subset of the conversations). */
  save(cursors: Record<string, number>): Promise<void>;
}

/** Options of a {@link MagpieClient}. `url`, `deviceId` and `tokenProvider` are required. */
export interface ClientOptions {
  /** The server's base URL, such as `"https://im.example.com"`; http(s) becomes ws(s), and `/v1/connect` is appended. */
  url: string;
  /**
   * Returns a client token for the user, normally from the app's backend.
   * Called before every connection attempt, so a session closed because its
   * token expired (4006, or 4101 at login) reconnects with a fresh one. A
   * failure is retried with backoff and reported as a `disconnected` event.
   */
  tokenProvider: (signal: AbortSignal) => Promise<string> | string;
  /** Identifies this installation: 1 to 128 bytes, stable across restarts. Delivery cursors are per device. */
  deviceId: string;
  /** `"ios"`, `"android"`, `"web"`, `"macos"`, `"windows"`, `"linux"` or `"server"`. Default: `"web"` in a browser, after the OS on Node. */
  platform?: string;
  /** The frame encoding. Default `"proto"` (binary, subprotocol `magpie.v1.proto`); `"json"` for `magpie.v1.json`. */
  encoding?: Encoding;
  /** The first reconnect and retry delay bound, in ms; it doubles up to `backoffMaxMs`, and each delay is drawn from [0, bound]. Default 250. */
  backoffMinMs?: number;
  /** The largest delay bound, in ms. Default 30000. */
  backoffMaxMs?: number;
  /** How long a send is retried, from the call that queued it, before it fails with {@link SendTimeoutError}. Default 120000. */
  sendDeadlineMs?: number;
  /** How many messages to one recipient may be in flight at once (pipelined, in order). Default 32. */
  sendWindow?: number;
  /** How long to wait for the reply to a request (and for connect and login) before retrying or reconnecting, in ms. Default 10000. */
  requestTimeoutMs?: number;
  /** How long delivery cursors are gathered before one `DeliverAck`, in ms. Default 50. */
  ackDelayMs?: number;
  /**
   * The least time between the starts of two `DeliverAck`s, in ms: a device receiving a steady
   * stream (a busy group) reports its cursors about four times a second, one receiving a message
   * now and then still after `ackDelayMs`. Default 250.
   */
  ackIntervalMs?: number;
  /** Keeps the cursors across restarts. Default: in memory. */
  store?: CursorStore;
  /** The WebSocket implementation. Default: the global `WebSocket`, else the `ws` package. */
  WebSocket?: WebSocketConstructor;
  /** Receives the client's diagnostics. Default: none. */
  logger?: (level: "debug" | "info" | "warn", msg: string, fields?: Record<string, unknown>) => void;
}

/** Options of {@link MagpieClient.searchMessages}. */
export interface SearchOptions {
  /** One conversation to search (the user must be a member); all by default. */
  convId?: string;
  /** Only messages from this user. */
  senderId?: string;
  /** Only messages of these types ("text", "file", ...; at most 8). */
  types?: string[];
  /** Only messages sent at or after this time. */
  from?: Date;
  /** Only messages sent at or before this time. */
  to?: Date;
  /** `nextCursor` of the previous page. */
  cursor?: string;
  /** Page size: 20 by default, at most 100. */
  limit?: number;
}

/** Options of one send. */
export interface SendOptions {
  /**
   * The client message id (1 to 128 bytes) instead of one the client makes; a resend with the same id is
   * stored once. Ids that grow with time (a version 7 UUID, say) are stored faster than random ones.
   */
  clientMsgId?: string;
  /** The message's offline notification options. */
  push?: PushOptions;
}

/**
 * Options of one send to a group. Mentions are for group messages only: a
 * one-to-one send with them throws `invalid_argument`.
 */
export interface GroupSendOptions extends SendOptions {
  /**
   * Members the message mentions (at most 100): each one's
   * {@link Conversation.mentionSeq} moves to the message.
   */
  mentions?: string[];
  /** Mention every member of the group (the owner and admins only; the server refuses it from other members with `forbidden`). */
  mentionAll?: boolean;
}

/** Push options of one message (docs/protocol.md, Push options of a message). */
export interface PushOptions {
  /** Send no notification for this message. */
  skip?: boolean;
  /** Replace the notification title. */
  title?: string;
  /** Replace the notification body. */
  body?: string;
  /** A background notification: no alert, no sound. */
  silent?: boolean;
  /** A newer notification with the same id replaces an older one. */
  collapseId?: string;
  /** `"high"` or `"normal"`. */
  priority?: string;
  /** Leave the text out of the notification. */
  hideContent?: boolean;
  /** String pairs delivered with the notification. */
  data?: Record<string, string>;
}

/** A device registration for offline push notifications. */
export interface Device {
  /** `"ios"`, `"android"` or `"web"`. */
  platform: string;
  /** `"apns"` or `"fcm"`. */
  provider: string;
  /** The provider's device token. */
  token: string;
  /** APNs topic. */
  topic?: string;
  /** APNs `"sandbox"` or `"production"`. */
  environment?: string;
  /** BCP 47 locale. */
  locale?: string;
  /** IANA time zone. */
  timeZone?: string;
}

/** The user's push preferences. */
export interface PushSettings {
  /** Turn every notification off. */
  disabled?: boolean;
  /** Do-not-disturb start, minutes after midnight. */
  dndStart?: number;
  /** Do-not-disturb end, minutes after midnight. */
  dndEnd?: number;
  /** IANA time zone of the hours. */
  timeZone?: string;
}

/** Counters of a client. */
export interface ClientStats {
  /** Messages queued and not yet acknowledged. */
  pendingSends: number;
  /** Whether a session is logged in. */
  connected: boolean;
}

/** Thrown by requests made after {@link MagpieClient.run} ended, until it runs again. */
export class NotRunningError extends Error {
  /** Creates the error. */
  constructor(cause?: unknown) {
    super("magpie: client not running", { cause });
    this.name = "NotRunningError";
  }
}

const ackBatch = 64;
const maxAckCursors = 256;
const stableSessionMs = 10_000;
const conversationPage = 100;
const maxStateIds = 100;
const maxMentions = 100;

/** Wakes one async loop; a wake with nobody waiting is kept for the next wait. */
class Wake {
  private pending = false;
  private waiter: (() => void) | undefined;
  notify(): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w();
    } else this.pending = true;
  }
  wait(): Promise<void> {
    if (this.pending) {
      this.pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => (this.waiter = resolve));
  }
}

interface SessionWaiter {
  dead: Session | undefined;
  resolve: (s: Session) => void;
  reject: (err: unknown) => void;
}

/**
 * A connection to Magpie for one user on one device.
 *
 * Start it with {@link MagpieClient.run} (or {@link MagpieClient.start}),
 * listen with {@link MagpieClient.on} or iterate {@link MagpieClient.events},
 * send with {@link MagpieClient.send}, and stop with
 * {@link MagpieClient.close}. It reconnects by itself, resyncs after every
 * login, retransmits unacknowledged sends in order with their ids, reports
 * every message once in seq order per conversation, and acknowledges
 * delivery without ever passing a gap.
 */
export class MagpieClient {
  private readonly opts: Required<Omit<ClientOptions, "store" | "WebSocket" | "logger">> &
    Pick<ClientOptions, "store" | "WebSocket">;
  private readonly url: string;
  private readonly log: NonNullable<ClientOptions["logger"]>;
  private readonly emitter = new Emitter();
  private readonly receiver: Receiver;
  private readonly outbox: Outbox;
  private session: Session | undefined;
  private fillWake = new Wake();
  private user = "";
  private maxBytes = 0;
  private running = false;
  private closed = false;
  private loaded = false;
  private runAbort: AbortController | undefined;
  private runDone: Promise<void> | undefined;
  private runErr: Error | undefined;
  private sessionWaiters: SessionWaiter[] = [];
  private pumpQueued = false;
  private pumpTimer: ReturnType<typeof setTimeout> | undefined;
  // Delivery cursors: the last message reported per conversation, and those
  // not yet acknowledged to the server or saved to the store.
  private readonly cursors = new Map<string, number>();
  private unacked = new Map<string, number>();
  private unsaved = new Map<string, number>();
  private ackTimer: ReturnType<typeof setTimeout> | undefined;
  private lastAckAt = -Infinity; // when the last DeliverAck report began (Date.now())
  private flushing = false;
  private flushAgain = false;
  private device: Device | undefined;
  private readonly rooms = new Rooms();
  private readonly presence = new PresenceSubs();

  /** Creates a client; it does not connect until {@link MagpieClient.run}. Throws on invalid options. */
  constructor(options: ClientOptions) {
    this.url = connectURL(options.url);
    if (typeof options.tokenProvider !== "function") throw new TypeError("magpie: options.tokenProvider is required");
    const idBytes = new TextEncoder().encode(options.deviceId ?? "").length;
    if (!options.deviceId || idBytes > 128) throw new TypeError("magpie: options.deviceId must be 1-128 bytes");
    if (options.encoding && options.encoding !== "proto" && options.encoding !== "json") {
      throw new TypeError(`magpie: unknown encoding ${String(options.encoding)}`);
    }
    this.opts = {
      url: options.url,
      tokenProvider: options.tokenProvider,
      deviceId: options.deviceId,
      platform: options.platform || defaultPlatform(),
      encoding: options.encoding ?? "proto",
      backoffMinMs: options.backoffMinMs || 250,
      backoffMaxMs: options.backoffMaxMs || 30_000,
      sendDeadlineMs: options.sendDeadlineMs || 120_000,
      sendWindow: options.sendWindow || 32,
      requestTimeoutMs: options.requestTimeoutMs || 10_000,
      ackDelayMs: options.ackDelayMs || 50,
      ackIntervalMs: options.ackIntervalMs || 250,
      store: options.store,
      WebSocket: options.WebSocket,
    };
    if (this.opts.backoffMinMs > this.opts.backoffMaxMs) throw new TypeError("magpie: backoffMinMs exceeds backoffMaxMs");
    this.log = options.logger ?? (() => {});
    this.emitter.onListenerError = (err) => this.log("warn", "event listener threw", { err });
    this.receiver = new Receiver({
      message: (m) => {
        this.emitter.emit("message", m);
        this.handed(m.convId, m.seq);
        const n = contactNoticeOf(m, this.user);
        if (n) this.emitter.emit("contact", n);
      },
      recall: (convId, seq) => this.emitter.emit("recall", { convId, seq }),
      edit: (m) => this.emitter.emit("edit", { message: m }),
      receipt: (r) => this.emitter.emit("receipt", r),
    });
    this.outbox = new Outbox(this.opts.sendWindow, this.opts.backoffMinMs, this.opts.backoffMaxMs);
    this.outbox.wake = () => this.schedulePump();
  }

  // ---- events

  /**
   * Calls fn for every event named name, synchronously as it happens, and
   * returns a function that removes it. A `message` counts as received once
   * it was dispatched: its cursor then moves and is acknowledged.
   */
  on<K extends keyof ClientEvents>(name: K, fn: Listener<K>): () => void {
    return this.emitter.on(name, fn);
  }

  /** Removes a listener added with {@link MagpieClient.on}. */
  off<K extends keyof ClientEvents>(name: K, fn: Listener<K>): void {
    this.emitter.off(name, fn);
  }

  /**
   * Returns an async iterator of the events from now on, as
   * `{type, value}` pairs; it ends when the client is closed (after its
   * queued events) or signal aborts.
   */
  events(signal?: AbortSignal): EventIterator {
    return this.emitter.iterate(signal);
  }

  /** Iterates the events from now on; see {@link MagpieClient.events}. */
  [Symbol.asyncIterator](): AsyncIterator<ClientEvent> {
    return this.emitter.iterate();
  }

  // ---- running

  /**
   * Connects and keeps the client connected until {@link MagpieClient.close},
   * or until the server closes with a terminal code (4100-4199 except 4101).
   * It reconnects with exponential backoff and full jitter, asks the token
   * provider for a token before every attempt, and after every login
   * resyncs and retransmits the unacknowledged sends in order.
   *
   * Add the listeners (or create the iterators) before: a message is
   * reported once, to the listeners and iterators there are when it comes.
   *
   * Resolves when the client is closed; rejects with the {@link CloseError}
   * of a terminal close, after which the app may fix the cause (a new token
   * after token_revoked) and call run again: queued sends and cursors are
   * kept.
   */
  run(): Promise<void> {
    if (this.closed) return Promise.reject(new ClientClosedError());
    if (this.running) return Promise.reject(new Error("magpie: client already running"));
    this.running = true;
    this.runErr = undefined;
    const ac = new AbortController();
    this.runAbort = ac;
    const p = this.loop(ac.signal).finally(() => {
      this.running = false;
      this.runAbort = undefined;
      this.saveCursors();
    });
    this.runDone = p.then(
      () => {},
      () => {},
    );
    p.then(
      () => this.endRun(new NotRunningError()),
      (err) => this.endRun(new NotRunningError(err)),
    );
    return p;
  }

  /**
   * Starts {@link MagpieClient.run} in the background; a terminal close is
   * reported only as a `disconnected` event with `willRetry` false.
   */
  start(): void {
    this.run().catch((err) => this.log("warn", "run ended", { err }));
  }

  private endRun(err: Error): void {
    this.runErr = err;
    const ws = this.sessionWaiters;
    this.sessionWaiters = [];
    for (const w of ws) w.reject(this.closed ? new ClientClosedError() : err);
  }

  private async loop(signal: AbortSignal): Promise<void> {
    if (!this.loaded && this.opts.store) {
      const saved = await this.opts.store.load();
      this.receiver.load(saved);
      for (const [id, seq] of Object.entries(saved)) this.cursors.set(id, Math.max(this.cursors.get(id) ?? 0, seq));
    }
    this.loaded = true;
    const ctor = await resolveWebSocket(this.opts.WebSocket);
    const bo = new Backoff(this.opts.backoffMinMs, this.opts.backoffMaxMs);
    for (;;) {
      let err: unknown;
      try {
        let token: string;
        try {
          token = await this.opts.tokenProvider(signal);
        } catch (e) {
          throw new Error(`magpie: token provider: ${(e as Error)?.message ?? String(e)}`, { cause: e });
        }
        if (signal.aborted) break;
        const s = await Session.open(
          ctor,
          this.url,
          this.opts.encoding,
          token,
          { deviceId: this.opts.deviceId, platform: this.opts.platform, sdkVersion: `magpie-ts/${VERSION}` },
          this.opts.requestTimeoutMs,
          this.pusher,
          signal,
        );
        const start = Date.now();
        err = await this.serve(s, signal);
        if (Date.now() - start >= stableSessionMs) bo.reset();
      } catch (e) {
        err = e;
      }
      if (signal.aborted) break;
      if (isTerminal(err)) {
        this.log("warn", "disconnected for good", { err });
        this.emitter.emit("disconnected", { error: err, willRetry: false, retryInMs: 0 });
        throw err;
      }
      const delay = bo.next();
      this.log("info", "disconnected", { err, retryInMs: delay });
      this.emitter.emit("disconnected", { error: err, willRetry: true, retryInMs: delay });
      if (!(await sleep(delay, signal))) break;
    }
    this.emitter.emit("disconnected", { error: new ClientClosedError(), willRetry: false, retryInMs: 0 });
  }

  /** Serves a logged-in session until it ends; returns why it ended. */
  private async serve(s: Session, signal: AbortSignal): Promise<Error> {
    const onAbort = () => s.end(new ClientClosedError(), false);
    if (signal.aborted) onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.session = s;
    this.user = s.info.userId;
    this.maxBytes = s.info.maxMessageBytes;
    this.fillWake = new Wake();
    const wake = this.fillWake;
    this.log("info", "connected", { userId: s.info.userId, sessionId: s.info.sessionId });
    this.emitter.emit("connected", { session: s.info });
    s.start(); // the session's pushes, after the connected event
    const waiters = this.sessionWaiters;
    this.sessionWaiters = [];
    for (const w of waiters) {
      if (s.closed) this.sessionWaiters.push(w);
      else w.resolve(s);
    }
    void this.fillLoop(s, wake);
    this.schedulePump();
    if (this.device) void this.sendDevice(s, this.device);
    if (this.rooms.ids().length > 0) void this.rejoinRooms(s);
    void this.resubscribePresence(s);
    const err = await s.ended;
    signal.removeEventListener("abort", onAbort);
    if (this.session === s) this.session = undefined;
    wake.notify(); // ends the session's filler
    return err;
  }

  /**
   * Stops the client: ends {@link MagpieClient.run}, fails the queued sends
   * with {@link ClientClosedError}, and ends the event iterators after their
   * queued events. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.runAbort?.abort();
    if (this.runDone) await this.runDone;
    clearTimeout(this.pumpTimer);
    clearTimeout(this.ackTimer);
    this.outbox.close(new ClientClosedError());
    this.endRun(new ClientClosedError());
    this.emitter.end();
  }

  /** Returns the client's counters. */
  stats(): ClientStats {
    return { pendingSends: this.outbox.pending(), connected: this.session !== undefined && !this.session.closed };
  }

  // ---- pushes

  private readonly pusher: Pusher = {
    onDeliver: (s, msgs) => {
      if (this.receiver.add(msgs.map((m) => toMessage(m, s.info.userId)))) this.fillWake.notify();
    },
    onReceipt: (s, r) => {
      const rc = toReceipt(r);
      if (rc) this.receiver.receipt(rc, s.info.userId);
    },
    onServerError: (_s, e) => {
      this.emitter.emit("serverError", errorOf(e));
    },
    onTyping: (_s, t) => {
      this.emitter.emit("typing", { convId: t.convId, userId: t.userId, typing: t.typing, at: new Date(Number(t.atMs)) });
    },
    onReaction: (_s, u) => {
      this.emitter.emit("reaction", toReaction(u));
    },
    onPresence: (_s, p) => {
      this.emitter.emit("presence", toPresence(p));
    },
    onRoom: (_s, f) => {
      switch (f.body.case) {
        case "roomMessages":
          for (const m of this.rooms.fresh(f.body.value.messages.map(toRoomMessage))) this.emitter.emit("roomMessage", m);
          break;
        case "roomMemberCount":
          this.emitter.emit("roomMemberCount", { roomId: f.body.value.roomId, count: Number(f.body.value.count) });
          break;
        case "roomLeft": {
          const l = f.body.value;
          this.rooms.forget(l.roomId);
          const reason =
            l.reason === RoomLeft_Reason.KICKED
              ? RoomLeftReason.Kicked
              : l.reason === RoomLeft_Reason.BANNED
                ? RoomLeftReason.Banned
                : RoomLeftReason.Closed;
          this.emitter.emit("roomLeft", { roomId: l.roomId, reason });
          break;
        }
      }
    },
  };

  // ---- sending

  /**
   * Queues a message for the user `to` and returns at once; the returned
   * {@link Outgoing}'s `result` settles with the outcome. `type` is
   * `"text"` or `"custom"` (content is then a JSON document).
   *
   * Messages to one recipient are transmitted in call order, pipelined (up
   * to `sendWindow` in flight), and get seqs in that order. A message is
   * retransmitted with the same client message id after a reconnect or a
   * retryable error until `sendDeadlineMs`, then fails with
   * {@link SendTimeoutError}. A refusal that is final (user_not_found,
   * message_rejected, ...) fails that message alone, with a
   * {@link MagpieError}. Throws at once for what the server would refuse: an
   * empty recipient, type or content, content over the server's limit, or
   * mentions (group messages only: {@link MagpieClient.sendToGroupAsync}).
   */
  sendAsync(to: string, type: string, content: string, options: SendOptions = {}): Outgoing {
    return this.enqueue(to, false, type, content, options);
  }

  /** Queues a message like {@link MagpieClient.sendAsync} and resolves with its outcome. */
  send(to: string, type: string, content: string, options?: SendOptions): Promise<SendResult> {
    try {
      return this.sendAsync(to, type, content, options).result;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Queues a message for a group and returns at once, as
   * {@link MagpieClient.sendAsync} does for a user: the messages queued for
   * one group are transmitted in call order, pipelined, in a queue of their
   * own, with the same retransmission rules. The user must be a member of
   * the group: otherwise the send fails with `forbidden` (`member_muted`
   * and `group_muted` while the user or the group is muted,
   * `group_not_found` for a group that does not exist or was dismissed).
   */
  sendToGroupAsync(groupId: string, type: string, content: string, options: GroupSendOptions = {}): Outgoing {
    return this.enqueue(groupId, true, type, content, options);
  }

  /** Queues a message for a group like {@link MagpieClient.sendToGroupAsync} and resolves with its outcome. */
  sendToGroup(groupId: string, type: string, content: string, options?: GroupSendOptions): Promise<SendResult> {
    try {
      return this.sendToGroupAsync(groupId, type, content, options).result;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Sends a typed message ({@link TypedContent}: text, custom JSON, image,
   * file, audio, video or location) to the user `to`, like
   * {@link MagpieClient.send}. The server checks a typed content's fields
   * and refuses a bad one with `invalid_message`, naming the field.
   */
  sendTyped(to: string, content: TypedContent, options?: SendOptions): Promise<SendResult> {
    try {
      const c = encodeContent(content);
      return this.send(to, c.type, c.content, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Sends a typed message to a group, like {@link MagpieClient.sendToGroup}. */
  sendTypedToGroup(groupId: string, content: TypedContent, options?: GroupSendOptions): Promise<SendResult> {
    try {
      const c = encodeContent(content);
      return this.sendToGroup(groupId, c.type, c.content, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private enqueue(to: string, group: boolean, type: string, content: string, options: GroupSendOptions): Outgoing {
    if (this.closed) throw new ClientClosedError();
    const id = options.clientMsgId ?? newClientMsgId();
    const enc = new TextEncoder();
    const mentions = options.mentions ?? [];
    const mentionAll = options.mentionAll ?? false;
    if (!to) throw new MagpieError("invalid_argument", group ? "empty group id" : "empty recipient");
    if (!type) throw new MagpieError("invalid_message", "empty type");
    if (!content) throw new MagpieError("invalid_message", "empty content");
    const size = enc.encode(content).length;
    if (this.maxBytes > 0 && size > this.maxBytes) {
      throw new MagpieError("message_too_large", `content is ${size} bytes; the limit is ${this.maxBytes}`);
    }
    const idBytes = enc.encode(id).length;
    if (idBytes < 1 || idBytes > 128) throw new MagpieError("invalid_argument", "client message id must be 1-128 bytes");
    if (!group && (mentions.length > 0 || mentionAll)) throw new MagpieError("invalid_argument", "mentions are for group messages");
    if (mentions.length > maxMentions) throw new MagpieError("invalid_argument", `at most ${maxMentions} mentions`);
    const push = options.push ? toWirePush(options.push) : undefined;
    const o = new Outgoing(id, to, type, content, push, group, [...mentions], mentionAll);
    this.outbox.add(o, this.opts.sendDeadlineMs);
    return o;
  }

  private schedulePump(): void {
    if (this.pumpQueued) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /** Transmits what is due on the current session. */
  private pump(): void {
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    const s = this.session;
    if (!s || s.closed) return;
    let due: ReturnType<Outbox["due"]>;
    try {
      due = this.outbox.due(s, this.opts.requestTimeoutMs);
    } catch (err) {
      // A stuck connection: reconnect and send the queues again in order.
      s.end(err as Error);
      return;
    }
    for (const a of due.batch) {
      if (s.closed) return; // the rest counts as not sent: the next session sends it
      this.transmit(s, a);
    }
    if (due.waitMs >= 0) this.pumpTimer = setTimeout(() => this.pump(), due.waitMs);
  }

  private transmit(s: Session, a: Attempt): void {
    const o = a.o;
    const body: Body = {
      case: "send",
      value: create(SendSchema, {
        clientMsgId: o.clientMsgId,
        toUserId: o.group ? "" : o.to,
        toGroupId: o.group ? o.to : "",
        type: o.type,
        content: o.content,
        push: o.push,
        mentions: [...o.mentions],
        mentionAll: o.mentionAll,
      }),
    };
    try {
      s.send(a.id, body, (r) => this.sendReply(s, a, r));
    } catch (err) {
      if (err instanceof ConnectionLostError) s.end(err);
      else this.outbox.finish(o, undefined, err);
    }
  }

  /**
   * Handles the reply to a send attempt. A retryable error for a message
   * with later messages of its queue in flight ends the session, so that
   * every unacknowledged message is sent again, in order, on the next one.
   */
  private sendReply(s: Session, a: Attempt, r: Frame): void {
    const o = a.o;
    this.outbox.replied(s);
    let retryErr: unknown;
    if (r.body.case === "sendAck") {
      const ack = r.body.value;
      const res: SendResult = {
        clientMsgId: o.clientMsgId,
        convId: ack.convId,
        seq: Number(ack.seq),
        sentAt: new Date(Number(ack.serverTimeMs)),
        duplicate: ack.duplicate,
      };
      this.outbox.finish(o, res);
      if (res.seq !== 0) this.sent(s, o, res);
      return;
    } else if (r.body.case === "error") {
      const e = r.body.value;
      const err = errorOf(e);
      if (!err.retryable) {
        this.outbox.finish(o, undefined, err);
        return;
      }
      if (e.retryAfterMs > 0) {
        // Overload: the server refuses every later send of the session
        // until this one comes again; go back to it.
        this.outbox.goBack(o, s, a.id, e.retryAfterMs, err);
        return;
      }
      retryErr = err;
    } else {
      retryErr = new Error(`magpie: unexpected reply ${r.body.case} to send`);
    }
    if (this.outbox.retry(o, s, a.id, retryErr)) {
      s.end(new ConnectionLostError(`send ${o.clientMsgId}: ${(retryErr as Error).message}; reconnecting to send the later messages again in order`));
    }
  }

  /** Puts an acknowledged message in its place in the conversation. */
  private sent(s: Session, o: Outgoing, res: SendResult): void {
    const me = s.info.userId;
    let gap: boolean;
    if (res.duplicate) {
      // Its content may differ from this send's: fetch it.
      gap = this.receiver.noteSeq(res.convId, res.seq);
    } else {
      // A group's conversation state lists no members.
      this.receiver.learn(res.convId, o.group ? [] : [...new Set([me, o.to])].sort());
      gap = this.receiver.add([
        {
          convId: res.convId,
          seq: res.seq,
          senderId: me,
          clientMsgId: o.clientMsgId,
          type: o.type,
          content: o.content,
          createdAt: res.sentAt,
          recalled: false,
          members: [],
          own: true,
          groupId: groupIdOf(res.convId),
          mentions: [...o.mentions],
          mentionAll: o.mentionAll,
        },
      ]);
    }
    if (gap) this.fillWake.notify();
  }

  // ---- sync and gap filling

  private async fillLoop(s: Session, wake: Wake): Promise<void> {
    try {
      await this.resync(s);
    } catch (err) {
      if (!s.closed) s.end(new ConnectionLostError(`resync: ${(err as Error).message}`));
      return;
    }
    this.flushSoon();
    const refused = new Set<string>();
    while (!s.closed) {
      const ids = this.receiver.unknown();
      try {
        if (ids.length > 0) await this.fetchStates(s, ids);
      } catch (err) {
        if (!s.closed) s.end(new ConnectionLostError(`fetch conversation states: ${(err as Error).message}`));
        return;
      }
      this.receiver.advanceAll();
      for (const id of this.receiver.gaps()) {
        if (refused.has(id) || s.closed) continue;
        try {
          await this.fill(s, id);
        } catch (err) {
          if (s.closed) return;
          this.log("warn", "fetch messages", { convId: id, err });
          refused.add(id);
        }
      }
      await wake.wait();
    }
  }

  /** Pages through the conversations, noting each one's last seq and this device's server-side cursor. */
  private async resync(s: Session): Promise<void> {
    let cursor = "";
    for (;;) {
      const r = await this.callSession(s, {
        case: "syncConversations",
        value: create(SyncConversationsSchema, { cursor, limit: conversationPage }),
      });
      if (r.body.case !== "conversationPage") throw new Error(`unexpected reply ${r.body.case}`);
      for (const st of r.body.value.conversations) this.takeState(s, st);
      cursor = r.body.value.nextCursor;
      if (!cursor) return;
    }
  }

  private takeState(s: Session, st: ConversationState): void {
    this.receiver.state(st, s.info.userId);
    // Report again a cursor the server lost (an ack lost with a connection).
    const cur = this.cursors.get(st.convId) ?? 0;
    if (cur > Number(st.deliveredSeq)) {
      this.unacked.set(st.convId, cur);
      this.scheduleAck();
    }
  }

  /** Fetches the states of conversations whose messages came before their members were known. */
  private async fetchStates(s: Session, ids: string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += maxStateIds) {
      const batch = ids.slice(i, i + maxStateIds);
      const r = await this.callSession(s, {
        case: "syncConversations",
        value: create(SyncConversationsSchema, { convIds: batch }),
      });
      if (r.body.case === "conversationPage") for (const st of r.body.value.conversations) this.takeState(s, st);
      // One the server does not list gets no members, so its messages are not held back for ever.
      for (const id of batch) this.receiver.learn(id, []);
    }
  }

  /** Fetches the gaps of one conversation until it has none. */
  private async fill(s: Session, convId: string): Promise<void> {
    for (;;) {
      const range = this.receiver.fillRange(convId);
      if (!range) return;
      const [from, to] = range;
      const r = await this.callSession(s, {
        case: "syncMessages",
        value: create(SyncMessagesSchema, { convId, fromSeq: BigInt(from), toSeq: BigInt(to), limit: s.pageLimit() }),
      });
      if (r.body.case !== "messagePage") throw new Error(`unexpected reply ${r.body.case} to sync_messages`);
      const page = r.body.value;
      const msgs = page.messages.map((m) => toMessage(m, s.info.userId));
      if (!this.receiver.resolve(convId, from, to, msgs, page.hasMore)) return;
    }
  }

  /** Sends a request on s, retrying timeouts and retryable errors with backoff; fails when s ends. */
  private async callSession(s: Session, body: Body): Promise<Frame> {
    for (let retry = 0; ; retry++) {
      try {
        return await s.call(body);
      } catch (err) {
        if (err instanceof ConnectionLostError || !isRetryable(err) || s.closed) throw err;
      }
      await sleep(retryDelay(this.opts.backoffMinMs, this.opts.backoffMaxMs, retry));
    }
  }

  // ---- delivery acknowledgements

  /** Records that a message was reported, so that its cursor moves. */
  private handed(convId: string, seq: number): void {
    if (seq <= (this.cursors.get(convId) ?? 0)) return;
    this.cursors.set(convId, seq);
    this.unacked.set(convId, seq);
    this.unsaved.set(convId, seq);
    this.scheduleAck();
  }

  private scheduleAck(): void {
    if (this.unacked.size >= ackBatch) {
      this.flushSoon();
      return;
    }
    if (this.ackTimer === undefined) {
      const wait = Math.max(this.opts.ackDelayMs, this.lastAckAt + this.opts.ackIntervalMs - Date.now());
      this.ackTimer = setTimeout(() => {
        this.ackTimer = undefined;
        void this.flushAcks();
      }, wait);
    }
  }

  private flushSoon(): void {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    queueMicrotask(() => void this.flushAcks());
  }

  /** Saves the moved cursors and reports them to the server; what fails is kept for later. */
  private async flushAcks(): Promise<void> {
    if (this.flushing) {
      this.flushAgain = true; // after this flush: a flush waits for its replies
      return;
    }
    const s = this.session;
    this.flushing = true;
    try {
      this.saveCursors();
      if (!s || s.closed || this.unacked.size === 0) return;
      // This report takes every cursor waiting: a timer set for them (a
      // flushSoon came first) would only report the next ones early.
      clearTimeout(this.ackTimer);
      this.ackTimer = undefined;
      this.lastAckAt = Date.now();
      const unacked = this.unacked;
      this.unacked = new Map();
      const ids = [...unacked.keys()].sort();
      for (let i = 0; i < ids.length; i += maxAckCursors) {
        const batch = ids.slice(i, i + maxAckCursors);
        const ack = create(DeliverAckSchema, {
          cursors: batch.map((id) => create(CursorSchema, { convId: id, seq: BigInt(unacked.get(id)!) })),
        });
        try {
          await s.call({ case: "deliverAck", value: ack });
        } catch (err) {
          if (err instanceof MagpieError && !err.retryable) {
            this.log("warn", "delivery ack refused", { err });
            continue;
          }
          for (const id of ids.slice(i)) this.unacked.set(id, Math.max(this.unacked.get(id) ?? 0, unacked.get(id)!));
          return; // the next session, or the next move, retries
        }
      }
    } finally {
      this.flushing = false;
      if (this.flushAgain) {
        this.flushAgain = false;
        if (this.unacked.size > 0 || this.unsaved.size > 0) this.scheduleAck();
      }
    }
  }

  private saveCursors(): void {
    const store = this.opts.store;
    if (!store || this.unsaved.size === 0) return;
    const unsaved = this.unsaved;
    this.unsaved = new Map();
    store.save(Object.fromEntries(unsaved)).catch((err) => {
      this.log("warn", "save cursors", { err });
      for (const [id, seq] of unsaved) this.unsaved.set(id, Math.max(this.unsaved.get(id) ?? 0, seq));
    });
  }

  // ---- requests

  /** Returns the logged-in session, other than dead, waiting for one. */
  private waitSession(signal: AbortSignal | undefined, dead: Session | undefined): Promise<Session> {
    if (this.closed) return Promise.reject(new ClientClosedError());
    const s = this.session;
    if (s && s !== dead && !s.closed) return Promise.resolve(s);
    if (!this.running && this.runErr !== undefined) return Promise.reject(this.runErr);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<Session>((resolve, reject) => {
      const w: SessionWaiter = {
        dead,
        resolve: (s) => {
          signal?.removeEventListener("abort", onAbort);
          resolve(s);
        },
        reject: (err) => {
          signal?.removeEventListener("abort", onAbort);
          reject(err);
        },
      };
      const onAbort = () => {
        this.sessionWaiters = this.sessionWaiters.filter((x) => x !== w);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.sessionWaiters.push(w);
    });
  }

  /**
   * Sends an idempotent request and returns its reply: it waits for a
   * connection, sends again on the next connection if one drops, and retries
   * timeouts and retryable errors with backoff, until signal aborts.
   */
  private async request(body: Body, signal?: AbortSignal): Promise<Frame> {
    let dead: Session | undefined;
    for (let retry = 0; ; ) {
      const s = await this.waitSession(signal, dead);
      try {
        return await s.call(body, signal);
      } catch (err) {
        if (signal?.aborted || !isRetryable(err)) throw err;
        if (err instanceof ConnectionLostError) {
          dead = s;
          continue;
        }
      }
      if (!(await sleep(retryDelay(this.opts.backoffMinMs, this.opts.backoffMaxMs, retry++), signal))) {
        throw signal?.reason ?? new ClientClosedError();
      }
    }
  }

  /** Returns the states of all the user's conversations. */
  async conversations(signal?: AbortSignal): Promise<Conversation[]> {
    const out: Conversation[] = [];
    let cursor = "";
    for (;;) {
      const r = await this.request(
        { case: "syncConversations", value: create(SyncConversationsSchema, { cursor, limit: conversationPage }) },
        signal,
      );
      if (r.body.case !== "conversationPage") throw new Error(`magpie: unexpected reply ${r.body.case}`);
      for (const st of r.body.value.conversations) out.push(toConversation(st, this.user));
      cursor = r.body.value.nextCursor;
      if (!cursor) return out;
    }
  }

  /**
   * Returns up to `limit` (default 50, at most 200) messages of a
   * conversation before seq `beforeSeq` (0: the newest), oldest first, and
   * whether older ones exist. History does not move cursors or emit events.
   */
  async history(
    convId: string,
    beforeSeq = 0,
    limit = 50,
    signal?: AbortSignal,
  ): Promise<{ messages: Message[]; hasMore: boolean }> {
    if (beforeSeq === 1) return { messages: [], hasMore: false };
    const r = await this.request(
      {
        case: "syncMessages",
        value: create(SyncMessagesSchema, {
          convId,
          fromSeq: 0n,
          toSeq: BigInt(beforeSeq > 0 ? beforeSeq - 1 : 0),
          limit,
          desc: true,
        }),
      },
      signal,
    );
    if (r.body.case !== "messagePage") throw new Error(`magpie: unexpected reply ${r.body.case}`);
    const members = this.receiver.membersOf(convId);
    const messages = r.body.value.messages.map((m) => ({ ...toMessage(m, this.user), members })).reverse();
    return { messages, hasMore: r.body.value.hasMore };
  }

  /**
   * Finds the messages of the user's conversations that match `query`,
   * newest first (docs/search.md): messages it may read (since it joined,
   * after the history it cleared), not recalled, edited ones by their
   * current text. Every word must match, as the start of a word, ignoring
   * case and accents; Chinese, Japanese and Korean text matches from one
   * character; punctuation only separates words. Pass `nextCursor` back as
   * `options.cursor`, with the same query and options, for the next page
   * ("" when there is no more). A query with no word to search for, or
   * over 256 bytes, is refused with a MagpieError "invalid_argument".
   */
  async searchMessages(
    query: string,
    options: SearchOptions = {},
    signal?: AbortSignal,
  ): Promise<{ messages: Message[]; nextCursor: string }> {
    const r = await this.request(
      {
        case: "searchMessages",
        value: create(SearchMessagesSchema, {
          query,
          convId: options.convId ?? "",
          senderId: options.senderId ?? "",
          types: options.types ?? [],
          fromMs: BigInt(options.from?.getTime() ?? 0),
          toMs: BigInt(options.to?.getTime() ?? 0),
          cursor: options.cursor ?? "",
          limit: options.limit ?? 0,
        }),
      },
      signal,
    );
    if (r.body.case !== "searchResult") throw new Error(`magpie: unexpected reply ${r.body.case}`);
    const messages = r.body.value.messages.map((m) => ({
      ...toMessage(m, this.user),
      members: this.receiver.membersOf(m.convId),
    }));
    return { messages, nextCursor: r.body.value.nextCursor };
  }

  /**
   * Moves the user's read cursor of a conversation to seq (only forward);
   * the other members and the user's other devices get a read receipt.
   */
  async markRead(convId: string, seq: number, signal?: AbortSignal): Promise<void> {
    await this.request({ case: "read", value: create(ReadSchema, { convId, seq: BigInt(seq) }) }, signal);
  }

  /**
   * Pins or unpins a conversation, keeps its draft, or clears its history,
   * for the user on all its devices, and returns the conversation after the
   * change; it is also reported as a `conversationState` event. Clearing
   * the history hides every message sent so far from the user (not from the
   * other members) and reads them. The user's other devices see a pin or a
   * draft at their next {@link MagpieClient.conversations}. Fails with
   * `conversation_not_found` for a conversation the user is not in, and
   * `invalid_argument` for a draft over 4096 bytes.
   */
  async setConversation(convId: string, prefs: ConversationPrefs, signal?: AbortSignal): Promise<Conversation> {
    if (!convId) throw new TypeError("magpie: setConversation: empty conversation id");
    const r = await this.request(
      {
        case: "setConversation",
        value: create(SetConversationSchema, {
          convId,
          pinned: prefs.pinned,
          draft: prefs.draft,
          clearHistory: prefs.clearHistory ?? false,
        }),
      },
      signal,
    );
    if (r.body.case !== "conversationState") throw unexpected(r);
    const st = r.body.value;
    // A cleared history moves the first seq past what was cleared.
    if (this.receiver.state(st, this.user)) this.fillWake.notify();
    const cv = toConversation(st, this.user);
    this.emitter.emit("conversationState", cv);
    return cv;
  }

  /**
   * Tells the other members of a conversation that the user is typing
   * (`typing` true; send it again every few seconds while the user types)
   * or stopped. It is an ephemeral signal: their online devices get a
   * `typing` event; it is never stored, and groups of more than 100
   * members get none. A non-member is refused with `forbidden`.
   */
  async setTyping(convId: string, typing: boolean, signal?: AbortSignal): Promise<void> {
    if (!convId) throw new TypeError("magpie: setTyping: empty conversation id");
    await this.request({ case: "typing", value: create(TypingSchema, { convId, typing }) }, signal);
  }

  /**
   * Returns the id of the user's one-to-one conversation with `peer` (for
   * {@link FileUpload.convId} before a first message, or
   * {@link MagpieClient.setConversation}). It needs the user: call it once
   * the client logged in, or use {@link directConvId}.
   */
  convIdWith(peer: string): string {
    if (!this.user) throw new Error("magpie: convIdWith: the client has not logged in yet");
    return directConvId(this.user, peer);
  }

  /** Mutes (or unmutes) a conversation for the user, on every device: no notifications for its messages. */
  async muteConversation(convId: string, muted: boolean, signal?: AbortSignal): Promise<void> {
    await this.request({ case: "muteConversation", value: create(MuteConversationSchema, { convId, muted }) }, signal);
  }

  /**
   * Registers this device for offline push notifications; the client sends
   * the registration again after every login.
   */
  async registerDevice(device: Device, signal?: AbortSignal): Promise<void> {
    await this.request({ case: "registerDevice", value: create(RegisterDeviceSchema, device) }, signal);
    this.device = { ...device };
  }

  /** Removes this device's push registration (when the user logs out). */
  async unregisterDevice(signal?: AbortSignal): Promise<void> {
    this.device = undefined;
    await this.request({ case: "unregisterDevice", value: create(UnregisterDeviceSchema) }, signal);
  }

  /**
   * Signs the user out on this device: removes the device's push
   * registration, then closes the client as {@link MagpieClient.close}
   * does, whether or not the unregistration succeeded, and rethrows the
   * unregistration's error. The unregistration is sent even when this
   * client registered nothing, since the server may hold a registration of
   * an earlier run of the app. It waits for a connection until `signal`
   * aborts: give it a timeout, such as `AbortSignal.timeout(5000)`.
   *
   * {@link MagpieClient.close} alone keeps the registration: the user goes
   * on getting notifications while the app is closed.
   */
  async logout(signal?: AbortSignal): Promise<void> {
    try {
      await this.unregisterDevice(signal);
    } finally {
      await this.close();
    }
  }

  /** Replaces the user's push preferences, for every device. */
  async setPushSettings(settings: PushSettings, signal?: AbortSignal): Promise<void> {
    await this.request({ case: "setPushSettings", value: create(SetPushSettingsSchema, settings) }, signal);
  }

  // ---- groups

  /**
   * Creates a group owned by the user and returns it. Fails with a
   * {@link MagpieError} with codes such as `invalid_argument`,
   * `group_exists`, `user_not_found` (a member) and `group_full`.
   *
   * Like every request, it is sent again after a lost connection, and may
   * then find the group it created: with `group.id` set, createGroup
   * returns the existing group instead of failing with `group_exists` if
   * the user owns it and it has the same name. Without an id it picks one
   * itself, for the same reason.
   */
  async createGroup(group: NewGroup, signal?: AbortSignal): Promise<Group> {
    const id = group.id || "grp_" + randomHex(10);
    const req = create(CreateGroupSchema, {
      id,
      name: group.name,
      avatarUrl: group.avatarUrl ?? "",
      notice: group.notice ?? "",
      metadata: group.metadata ?? {},
      joinPolicy: group.joinPolicy ?? "",
      historyVisible: group.historyVisible ?? false,
      memberIds: group.memberIds ?? [],
    });
    let r: Frame;
    try {
      r = await this.request({ case: "createGroup", value: req }, signal);
    } catch (err) {
      if (err instanceof MagpieError && err.code === "group_exists") {
        let got: Group | undefined;
        try {
          got = await this.getGroup(id, signal);
        } catch {
          // the original error says more
        }
        if (got && got.ownerId === this.user && got.name === group.name) return got;
      }
      throw err;
    }
    return toGroup(groupInfo(r));
  }

  /** Returns a group's profile; any user of the app may read it. Fails with `group_not_found`. */
  async getGroup(groupId: string, signal?: AbortSignal): Promise<Group> {
    const r = await this.request({ case: "getGroup", value: create(GetGroupSchema, { groupId }) }, signal);
    return toGroup(groupInfo(r));
  }

  /** Changes a group's profile and settings (the owner and admins may) and returns the group. */
  async updateGroup(groupId: string, update: GroupUpdate, signal?: AbortSignal): Promise<Group> {
    const req = create(UpdateGroupSchema, {
      groupId,
      name: update.name,
      avatarUrl: update.avatarUrl,
      notice: update.notice,
      joinPolicy: update.joinPolicy,
      historyVisible: update.historyVisible,
      muteAll: update.muteAll,
    });
    if (update.metadata !== undefined) {
      req.metadata = { ...update.metadata };
      req.setMetadata = true;
    }
    const r = await this.request({ case: "updateGroup", value: req }, signal);
    return toGroup(groupInfo(r));
  }

  /** Ends a group (the owner may); its members leave it, and later requests fail with `group_not_found`. */
  async dismissGroup(groupId: string, signal?: AbortSignal): Promise<void> {
    await this.request({ case: "dismissGroup", value: create(DismissGroupSchema, { groupId }) }, signal);
  }

  /**
   * Adds users to a group: the owner and admins always, members when the
   * group is {@link JoinPolicy.Open}; under {@link JoinPolicy.Approval} a
   * member's invitations wait for an admin ({@link MembersResult.pending}).
   */
  async addGroupMembers(groupId: string, userIds: string[], signal?: AbortSignal): Promise<MembersResult> {
    const r = await this.request({ case: "addGroupMembers", value: create(AddGroupMembersSchema, { groupId, userIds }) }, signal);
    return toMembersResult(membersResult(r));
  }

  /** Removes members: the owner may remove anyone but itself, admins plain members. */
  async removeGroupMembers(groupId: string, userIds: string[], signal?: AbortSignal): Promise<MembersResult> {
    const r = await this.request(
      { case: "removeGroupMembers", value: create(RemoveGroupMembersSchema, { groupId, userIds }) },
      signal,
    );
    return toMembersResult(membersResult(r));
  }

  /**
   * Joins a group: at once when it is {@link JoinPolicy.Open}, as a join
   * request ({@link MembersResult.pending}) with `message` for the admins
   * when it is {@link JoinPolicy.Approval}; an {@link JoinPolicy.Invite}
   * group refuses with `forbidden`.
   */
  async joinGroup(groupId: string, message = "", signal?: AbortSignal): Promise<MembersResult> {
    const r = await this.request({ case: "joinGroup", value: create(JoinGroupSchema, { groupId, message }) }, signal);
    return toMembersResult(membersResult(r));
  }

  /**
   * Leaves a group: the user gets none of its later messages. The owner
   * transfers the group ({@link MagpieClient.transferGroup}) or dismisses
   * it instead.
   */
  async leaveGroup(groupId: string, signal?: AbortSignal): Promise<void> {
    await this.request({ case: "leaveGroup", value: create(LeaveGroupSchema, { groupId }) }, signal);
  }

  /**
   * Returns a page of a group's members by user id (members may list them)
   * and the cursor of the next page (empty on the last). `cursor` is the
   * previous page's; `limit` 0 means 100, at most 500.
   */
  async groupMembers(groupId: string, cursor = "", limit = 0, signal?: AbortSignal): Promise<GroupMemberPage> {
    const r = await this.request(
      { case: "listGroupMembers", value: create(ListGroupMembersSchema, { groupId, cursor, limit }) },
      signal,
    );
    if (r.body.case !== "groupMemberPage") throw unexpected(r);
    return { members: r.body.value.members.map(toGroupMember), nextCursor: r.body.value.nextCursor };
  }

  /** Makes a member an admin ({@link GroupRole.Admin}) or a plain member ({@link GroupRole.Member}); the owner may. */
  async setGroupRole(groupId: string, userId: string, role: GroupRole, signal?: AbortSignal): Promise<GroupMember> {
    const r = await this.request(
      { case: "setGroupMember", value: create(SetGroupMemberSchema, { groupId, userId, role }) },
      signal,
    );
    if (r.body.case !== "groupMember") throw unexpected(r);
    return toGroupMember(r.body.value);
  }

  /**
   * Keeps a member from sending for `durationMs`, in whole seconds (0
   * unmutes, at most 366 days): the owner may mute anyone but itself,
   * admins plain members. The member's sends fail with `member_muted`.
   */
  async muteGroupMember(groupId: string, userId: string, durationMs: number, signal?: AbortSignal): Promise<GroupMember> {
    const muteSeconds = BigInt(Math.max(0, Math.floor(durationMs / 1000)));
    const r = await this.request(
      { case: "setGroupMember", value: create(SetGroupMemberSchema, { groupId, userId, muteSeconds }) },
      signal,
    );
    if (r.body.case !== "groupMember") throw unexpected(r);
    return toGroupMember(r.body.value);
  }

  /** Makes another member the owner (the owner may); the user stays as an admin. Returns the group. */
  async transferGroup(groupId: string, userId: string, signal?: AbortSignal): Promise<Group> {
    const r = await this.request({ case: "transferGroup", value: create(TransferGroupSchema, { groupId, userId }) }, signal);
    return toGroup(groupInfo(r));
  }

  /**
   * Returns a page of a group's join requests and invitations waiting for
   * an admin (the owner and admins may list them), and the cursor of the
   * next page (empty on the last). `limit` 0 means 100.
   */
  async joinRequests(groupId: string, cursor = "", limit = 0, signal?: AbortSignal): Promise<JoinRequestPage> {
    const r = await this.request(
      { case: "listJoinRequests", value: create(ListJoinRequestsSchema, { groupId, cursor, limit }) },
      signal,
    );
    if (r.body.case !== "joinRequestPage") throw unexpected(r);
    return { requests: r.body.value.requests.map(toJoinRequest), nextCursor: r.body.value.nextCursor };
  }

  /**
   * Approves (adding the user) or declines a join request (the owner and
   * admins may). Fails with `not_found` if there is no such request.
   */
  async resolveJoinRequest(groupId: string, userId: string, approve: boolean, signal?: AbortSignal): Promise<MembersResult> {
    const r = await this.request(
      { case: "resolveJoinRequest", value: create(ResolveJoinRequestSchema, { groupId, userId, approve }) },
      signal,
    );
    return toMembersResult(membersResult(r));
  }

  /** Returns how many members read each of the group messages `seqs` (1 to 100 of them), in order. */
  async groupReads(groupId: string, seqs: number[], signal?: AbortSignal): Promise<GroupReads[]> {
    const r = await this.request(
      { case: "getGroupReads", value: create(GetGroupReadsSchema, { groupId, seqs: seqs.map((x) => BigInt(x)) }) },
      signal,
    );
    if (r.body.case !== "groupReadCounts") throw unexpected(r);
    return r.body.value.reads.map((rd) => ({ seq: Number(rd.seq), read: rd.read, of: rd.of }));
  }

  /**
   * Uploads a file over HTTP (`POST <url>/v1/client/files`) with a token
   * from the token provider, shared to a conversation of the user, and
   * returns it with a URL for the user. Reference it in a message with
   * `fileRef(file.id)`. It needs no connection. A refusal throws an
   * {@link HTTPError}: `file_too_large` (413), `unsupported_file_type`
   * and `file_type_mismatch` (415), `forbidden` (403, not a member),
   * `rate_limited` (429), `files_unavailable` (503). An upload refused for
   * an expired token is sent once more with a fresh one.
   */
  async uploadFile(body: Blob | ArrayBuffer | Uint8Array, upload: FileUpload, signal?: AbortSignal): Promise<FileInfo> {
    if (!upload.convId) throw new TypeError("magpie: uploadFile: convId is required");
    const base = httpBase(this.opts.url);
    const abort = signal ?? new AbortController().signal;
    for (let attempt = 0; ; attempt++) {
      const token = await this.opts.tokenProvider(abort);
      try {
        return await postFile(base, token, body, upload, signal);
      } catch (err) {
        if (!(err instanceof HTTPError && err.status === 401 && attempt === 0)) throw err;
      }
    }
  }

  /**
   * Returns a file shared to a conversation of the user and a fresh
   * download URL (`GetFileUrl`), valid for `ttlMs` (0: an hour; at most 7
   * days) and only while the user stays a member. Keep file ids, not URLs.
   * Throws {@link MagpieError} `file_not_found`, `forbidden`, `invalid_argument`.
   */
  async fileUrl(fileId: string, ttlMs = 0, signal?: AbortSignal): Promise<FileInfo> {
    const r = await this.request(
      { case: "getFileUrl", value: create(GetFileUrlSchema, { fileId, ttlSeconds: BigInt(Math.ceil(ttlMs / 1000)) }) },
      signal,
    );
    if (r.body.case !== "fileLink") throw unexpected(r);
    return fromFileLink(httpBase(this.opts.url), r.body.value);
  }

  /** Deletes a file the user uploaded (`DeleteFile`); messages that reference it stay, its URLs stop working. */
  async deleteFile(fileId: string, signal?: AbortSignal): Promise<void> {
    await this.request({ case: "deleteFile", value: create(DeleteFileSchema, { fileId }) }, signal);
  }

  // ---- contacts

  /**
   * Asks `userId` to be friends, with an optional message (at most 512
   * bytes), replacing an earlier request to the same user. Returns
   * {@link FriendStatus.Requested}, or {@link FriendStatus.Friends} when
   * `userId` had asked already (or they were friends). Fails with
   * `user_not_found`, `forbidden` (one of the two blocks the other),
   * `too_many_friends` and `invalid_argument`.
   */
  async sendFriendRequest(userId: string, message = "", signal?: AbortSignal): Promise<FriendStatus> {
    const r = await this.request(
      { case: "sendFriendRequest", value: create(SendFriendRequestSchema, { userId, message }) },
      signal,
    );
    if (r.body.case !== "friendRequestResult") throw unexpected(r);
    return r.body.value.status as FriendStatus;
  }

  /** Accepts `fromId`'s friend request: the two are friends. Fails with `not_found` if there is none. */
  async acceptFriendRequest(fromId: string, signal?: AbortSignal): Promise<void> {
    await this.request(
      { case: "answerFriendRequest", value: create(AnswerFriendRequestSchema, { userId: fromId, accept: true }) },
      signal,
    );
  }

  /** Declines `fromId`'s friend request; `fromId` is not told. Fails with `not_found` if there is none. */
  async declineFriendRequest(fromId: string, signal?: AbortSignal): Promise<void> {
    await this.request(
      { case: "answerFriendRequest", value: create(AnswerFriendRequestSchema, { userId: fromId, accept: false }) },
      signal,
    );
  }

  /** Withdraws the user's friend request to `toId`. Fails with `not_found` if there is none. */
  async cancelFriendRequest(toId: string, signal?: AbortSignal): Promise<void> {
    await this.request({ case: "cancelFriendRequest", value: create(CancelFriendRequestSchema, { userId: toId }) }, signal);
  }

  /**
   * Returns a page of the user's pending friend requests: received
   * (`outgoing` false, by sender) or sent (`outgoing` true, by recipient),
   * and the cursor of the next page (empty on the last). `limit` 0 means
   * 100, at most 500.
   */
  async friendRequests(outgoing = false, cursor = "", limit = 0, signal?: AbortSignal): Promise<FriendRequestPage> {
    const r = await this.request(
      { case: "listFriendRequests", value: create(ListFriendRequestsSchema, { outgoing, cursor, limit }) },
      signal,
    );
    if (r.body.case !== "friendRequestPage") throw unexpected(r);
    return { requests: r.body.value.requests.map(toFriendRequest), nextCursor: r.body.value.nextCursor };
  }

  /** Returns a page of the user's friends by id, and the cursor of the next page. `limit` 0 means 100. */
  async friends(cursor = "", limit = 0, signal?: AbortSignal): Promise<FriendPage> {
    const r = await this.request({ case: "listFriends", value: create(ListFriendsSchema, { cursor, limit }) }, signal);
    if (r.body.case !== "friendPage") throw unexpected(r);
    return { friends: r.body.value.friends.map((f) => toFriend(f)), nextCursor: r.body.value.nextCursor };
  }

  /**
   * Sets the user's own name for a friend (at most 64 bytes; empty clears
   * it); the friend never sees it. Fails with `not_found` if the two are
   * not friends.
   */
  async setFriendRemark(friendId: string, remark: string, signal?: AbortSignal): Promise<Friend> {
    const r = await this.request(
      { case: "setFriendRemark", value: create(SetFriendRemarkSchema, { userId: friendId, remark }) },
      signal,
    );
    if (r.body.case !== "friendInfo") throw unexpected(r);
    return toFriend(r.body.value);
  }

  /** Ends a friendship, both sides. Fails with `not_found` if the two are not friends. */
  async removeFriend(friendId: string, signal?: AbortSignal): Promise<void> {
    await this.request({ case: "removeFriend", value: create(RemoveFriendSchema, { userId: friendId }) }, signal);
  }

  /**
   * Blocks a user: its one-to-one messages to the user fail with
   * {@link BlockedError}, and friend requests between the two with
   * `forbidden`. A friendship stays. Blocking again changes nothing.
   */
  async block(userId: string, signal?: AbortSignal): Promise<void> {
    await this.request({ case: "blockUser", value: create(BlockUserSchema, { userId }) }, signal);
  }

  /** Removes a block. Fails with `not_found` if there is none. */
  async unblock(userId: string, signal?: AbortSignal): Promise<void> {
    await this.request({ case: "unblockUser", value: create(UnblockUserSchema, { userId }) }, signal);
  }

  /** Returns a page of the users the user blocks, by id, and the cursor of the next page. `limit` 0 means 100. */
  async blocked(cursor = "", limit = 0, signal?: AbortSignal): Promise<BlockedPage> {
    const r = await this.request({ case: "listBlocked", value: create(ListBlockedSchema, { cursor, limit }) }, signal);
    if (r.body.case !== "blockedPage") throw unexpected(r);
    return { users: r.body.value.users.map(toBlockedUser), nextCursor: r.body.value.nextCursor };
  }

  // ---- rich messages

  /**
   * Recalls a message the user sent, within the app's recall window (120
   * seconds by default), and returns it recalled (content empty). The
   * members' online devices, this one included, report a `recall` event.
   * Fails with `forbidden` (not the sender, or recalls disabled),
   * `recall_window_passed` and `message_not_found`.
   */
  async recallMessage(convId: string, seq: number, signal?: AbortSignal): Promise<Message> {
    const r = await this.request(
      { case: "recallMessage", value: create(RecallMessageSchema, { convId, seq: BigInt(seq) }) },
      signal,
    );
    return this.replyMessage(r);
  }

  /**
   * Replaces the content of a `text` or `custom` message the user sent,
   * within the app's edit window (900 seconds by default), and returns the
   * new version ({@link Message.editedAt} set). The members' online devices
   * report an `edit` event. Fails with `forbidden` (not the sender, or edits
   * disabled), `edit_window_passed`, `message_recalled`, `invalid_message`
   * (another type, or a bad content) and `message_rejected` (moderation).
   */
  async editMessage(convId: string, seq: number, content: string, signal?: AbortSignal): Promise<Message> {
    const r = await this.request(
      { case: "editMessage", value: create(EditMessageSchema, { convId, seq: BigInt(seq), content }) },
      signal,
    );
    return this.replyMessage(r);
  }

  private replyMessage(r: Frame): Message {
    if (r.body.case !== "message") throw unexpected(r);
    const m: WireMessage = r.body.value;
    return { ...toMessage(m, this.user), members: this.receiver.membersOf(m.convId) };
  }

  /**
   * Puts the user's emoji (1 to 32 bytes, no whitespace) on a message and
   * returns the emoji's new count; the other members' online devices report
   * a `reaction` event. Adding it again changes nothing. Fails with
   * `forbidden` (not a member), `invalid_argument` (the emoji),
   * `message_not_found`, `message_recalled` and `too_many_reactions` (20
   * distinct emoji per message).
   */
  async addReaction(convId: string, seq: number, emoji: string, signal?: AbortSignal): Promise<Reaction> {
    const r = await this.request(
      { case: "addReaction", value: create(AddReactionSchema, { convId, seq: BigInt(seq), emoji }) },
      signal,
    );
    if (r.body.case !== "reactionUpdate") throw unexpected(r);
    return toReaction(r.body.value);
  }

  /** Takes the user's emoji off a message and returns the emoji's new count. */
  async removeReaction(convId: string, seq: number, emoji: string, signal?: AbortSignal): Promise<Reaction> {
    const r = await this.request(
      { case: "removeReaction", value: create(RemoveReactionSchema, { convId, seq: BigInt(seq), emoji }) },
      signal,
    );
    if (r.body.case !== "reactionUpdate") throw unexpected(r);
    return toReaction(r.body.value);
  }

  /**
   * Returns the reactions of messages of a conversation (1 to 100 seqs), by
   * seq; messages without reactions are left out. Each message's emoji are
   * in the order they were first put. Reaction updates are not kept for
   * offline devices: ask when showing messages.
   */
  async reactions(convId: string, seqs: number[], signal?: AbortSignal): Promise<Map<number, ReactionCount[]>> {
    const r = await this.request(
      { case: "getReactions", value: create(GetReactionsSchema, { convId, seqs: seqs.map((x) => BigInt(x)) }) },
      signal,
    );
    if (r.body.case !== "reactionPage") throw unexpected(r);
    const out = new Map<number, ReactionCount[]>();
    for (const m of r.body.value.messages) {
      out.set(
        Number(m.seq),
        m.reactions.map((rc) => ({ emoji: rc.emoji, count: Number(rc.count), reacted: rc.reacted })),
      );
    }
    return out;
  }

  // ---- chat rooms

  /**
   * Joins a room, and after every reconnect joins it again, until
   * {@link MagpieClient.leaveRoom} or a `roomLeft` event. Returns the room
   * and up to `historyLimit` of its recent messages (0: the room's history
   * size), oldest first; the room's later messages come as `roomMessage`
   * events. Fails with `room_not_found`, `room_full` and `room_banned`
   * (`RoomBannedError`: the app's backend banned the user from the
   * room).
   */
  async joinRoom(roomId: string, historyLimit = 0, signal?: AbortSignal): Promise<RoomJoin> {
    if (!roomId) throw new TypeError("magpie: joinRoom: empty room id");
    const known = this.rooms.has(roomId);
    this.rooms.join(roomId);
    let r: Frame;
    try {
      r = await this.request({ case: "joinRoom", value: create(JoinRoomSchema, { roomId, historyLimit }) }, signal);
      if (r.body.case !== "roomJoined") throw unexpected(r);
    } catch (err) {
      // A refusal ends the membership (the room is gone, or full); an
      // abort keeps a room the client was in.
      if (!known || err instanceof MagpieError) this.rooms.forget(roomId);
      throw err;
    }
    const messages = r.body.value.messages.map(toRoomMessage);
    this.rooms.saw(roomId, messages);
    return { room: toRoomInfo(r.body.value.room), messages };
  }

  /** Leaves a room: its messages stop. Leaving a room the client is not in is not an error. */
  async leaveRoom(roomId: string, signal?: AbortSignal): Promise<void> {
    this.rooms.forget(roomId);
    await this.request({ case: "leaveRoom", value: create(LeaveRoomSchema, { roomId }) }, signal);
  }

  /**
   * Sends a message to a room the client joined. It is acknowledged once
   * the room accepted it, and reaches the members online at most once (the
   * sender's own `roomMessage` event included). Sent again after a lost
   * connection, it keeps its client message id, and the room answers the
   * first acknowledgement. Fails with `room_not_found` (not joined),
   * `member_muted`, `invalid_message`, `message_too_large`; `rate_limited`
   * (the room's limit, or the room shedding load) is retried until
   * `signal` aborts.
   */
  async sendToRoom(roomId: string, type: string, content: string, signal?: AbortSignal): Promise<RoomAck> {
    const r = await this.request(
      {
        case: "sendRoomMessage",
        value: create(SendRoomMessageSchema, { roomId, clientMsgId: newClientMsgId(), type, content }),
      },
      signal,
    );
    if (r.body.case !== "roomSendAck") throw unexpected(r);
    return toRoomAck(r.body.value);
  }

  /** Joins the client's rooms again on a new session and reports the messages of their history it has not seen. */
  private async rejoinRooms(s: Session): Promise<void> {
    for (const roomId of this.rooms.ids()) {
      let r: Frame;
      try {
        r = await this.callSession(s, { case: "joinRoom", value: create(JoinRoomSchema, { roomId }) });
      } catch (err) {
        if (!(err instanceof MagpieError) || s.closed) return; // the session ended; the next one tries again
        // The room is gone or full, or the user was banned from it while
        // away: the client is no longer in it.
        if (this.rooms.has(roomId)) {
          this.rooms.forget(roomId);
          const reason = err.code === ErrorCode.RoomBanned ? RoomLeftReason.Banned : RoomLeftReason.Closed;
          this.emitter.emit("roomLeft", { roomId, reason });
        }
        continue;
      }
      if (r.body.case !== "roomJoined" || !this.rooms.has(roomId)) continue;
      const history = r.body.value.messages.map(toRoomMessage);
      this.rooms.restarted(roomId, history);
      for (const m of this.rooms.fresh(history)) this.emitter.emit("roomMessage", m);
    }
  }

  // ---- presence

  /**
   * Watches the presence of `userIds` and, with `friends`, of all the
   * user's friends (the first 1,000, as of now: friends added later need
   * another call). Returns the present state of every watched user and the
   * requested ids that are not watched: a user may watch only its friends
   * who do not block it; anyone else (a stranger, an unknown user) is
   * refused alike. Each later change comes as a `presence` event. The
   * client watches the same users again after every reconnect and reports
   * their state as `presence` events. A connection watches at most 1,000
   * users; more ids in one call, or an empty one, are refused with
   * `invalid_argument`.
   */
  async subscribePresence(userIds: readonly string[], friends = false, signal?: AbortSignal): Promise<PresenceSubscription> {
    const r = await this.request(
      { case: "subscribePresence", value: create(SubscribePresenceSchema, { userIds: [...userIds], friends }) },
      signal,
    );
    if (r.body.case !== "presencePage") throw unexpected(r);
    const page = toPresenceSubscription(r.body.value);
    this.presence.added(page, friends);
    return page;
  }

  /** Stops watching `userIds`, or every user with `all`. */
  async unsubscribePresence(userIds: readonly string[], all = false, signal?: AbortSignal): Promise<void> {
    this.presence.removed(userIds, all);
    await this.request(
      { case: "unsubscribePresence", value: create(UnsubscribePresenceSchema, { userIds: [...userIds], all }) },
      signal,
    );
  }

  /** Watches the client's users again on a new session and reports their state. */
  private async resubscribePresence(s: Session): Promise<void> {
    const again = this.presence.again();
    if (!again) return;
    let r: Frame;
    try {
      r = await this.callSession(s, { case: "subscribePresence", value: create(SubscribePresenceSchema, again) });
    } catch (err) {
      this.log("warn", "subscribe presence again", { err: String(err) });
      return;
    }
    if (r.body.case !== "presencePage") return;
    for (const p of r.body.value.users) this.emitter.emit("presence", toPresence(p));
  }

  // ---- customer service

  /**
   * Asks customer service for an agent, the user being the visitor, in the
   * queue of `skill` (`""` for the general queue). The session goes to an
   * agent at once or waits; the agent's messages come as one-to-one
   * messages, and the steps (queued, assigned, closed) as `custom` messages
   * in the user's system conversation (docs/support.md). A user with an
   * open session gets that one.
   */
  async openSupportSession(skill = "", signal?: AbortSignal): Promise<SupportSession> {
    const r = await this.request({ case: "openSupportSession", value: create(OpenSupportSessionSchema, { skill }) }, signal);
    return supportSession(r);
  }

  /** Closes a support session the user is the visitor or the agent of. Fails with `not_found` for anyone else's. */
  async closeSupportSession(sessionId: string, signal?: AbortSignal): Promise<SupportSession> {
    const r = await this.request(
      { case: "closeSupportSession", value: create(CloseSupportSessionSchema, { sessionId }) },
      signal,
    );
    return supportSession(r);
  }

  /** Rates a closed support session of the user, as its visitor: 1 to 5, once, with an optional comment. */
  async rateSupportSession(sessionId: string, rating: number, comment = "", signal?: AbortSignal): Promise<SupportSession> {
    const r = await this.request(
      { case: "rateSupportSession", value: create(RateSupportSessionSchema, { sessionId, rating, comment }) },
      signal,
    );
    return supportSession(r);
  }

  private async sendDevice(s: Session, device: Device): Promise<void> {
    try {
      await this.callSession(s, { case: "registerDevice", value: create(RegisterDeviceSchema, device) });
    } catch (err) {
      this.log("warn", "register device again", { err });
    }
  }
}

function supportSession(r: Frame): SupportSession {
  if (r.body.case !== "supportSession") throw unexpected(r);
  return toSupportSession(r.body.value);
}

function unexpected(r: Frame): Error {
  return new Error(`magpie: unexpected reply ${r.body.case}`);
}

function groupInfo(r: Frame): WireGroup {
  if (r.body.case !== "groupInfo") throw unexpected(r);
  return r.body.value;
}

function membersResult(r: Frame): WireGroupMembersResult {
  if (r.body.case !== "groupMembersResult") throw unexpected(r);
  return r.body.value;
}

function toWirePush(p: PushOptions): WirePushOptions {
  return create(PushOptionsSchema, p);
}


function defaultPlatform(): string {
  const g = globalThis as { window?: unknown; document?: unknown; process?: { platform?: string } };
  if (g.window !== undefined && g.document !== undefined) return "web";
  switch (g.process?.platform) {
    case "linux":
      return "linux";
    case "darwin":
      return "macos";
    case "win32":
      return "windows";
  }
  return "server";
}

/** Returns the WebSocket URL of the connect endpoint under base. */
export function connectURL(base: string): string {
  let u: URL;
  try {
    u = new URL(base);
  } catch {
    throw new TypeError(`magpie: options.url ${JSON.stringify(base)} is not a URL`);
  }
  switch (u.protocol) {
    case "http:":
    case "ws:":
      u.protocol = "ws:";
      break;
    case "https:":
    case "wss:":
      u.protocol = "wss:";
      break;
    default:
      throw new TypeError(`magpie: options.url ${JSON.stringify(base)}: scheme must be http, https, ws or wss`);
  }
  if (!u.pathname.endsWith("/v1/connect")) u.pathname = u.pathname.replace(/\/+$/, "") + "/v1/connect";
  return u.toString();
}
