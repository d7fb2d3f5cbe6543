// Events the client reports, as callbacks and as an async iterator.
import type { ContactNotice } from "./contacts.js";
import type { Conversation } from "./conversations.js";
import type { MagpieError } from "./errors.js";
import type { Edit, Reaction } from "./rich.js";
import type { Presence } from "./presence.js";
import type { RoomLeft, RoomMemberCount, RoomMessage } from "./rooms.js";

/**
 * A message of a conversation. The client reports every message of every
 * conversation of the user exactly once per client, in seq order within
 * each conversation: messages from others, messages the user sent from
 * other devices, and the messages this client sent, once the server
 * acknowledged them.
 */
export interface Message {
  /** The conversation id. Do not parse it: the members are in {@link Message.members}. */
  convId: string;
  /** The message's sequence number in the conversation, from 1. */
  seq: number;
  /** The user who sent the message. */
  senderId: string;
  /** The id the sender's SDK gave the message. */
  clientMsgId: string;
  /** The kind of content: `"text"`, `"custom"`, a typed content's (`"image"`, ...; see {@link decodeContent}) or `"notice"`. */
  type: string;
  /** The text, or a JSON document for the other types; empty if recalled. */
  content: string;
  /** When the server accepted the message. */
  createdAt: Date;
  /** Set if the sender recalled the message. */
  recalled: boolean;
  /**
   * The conversation's members, sorted, from its state. Empty for a group's
   * conversation: {@link MagpieClient.groupMembers} lists them.
   */
  members: string[];
  /** Set if this client's user sent the message, from this device or another. */
  own: boolean;
  /** The group of a group message's conversation; empty for other conversations. */
  groupId: string;
  /** The members a group message mentions; empty otherwise. */
  mentions: string[];
  /** Set if a group message mentions every member. */
  mentionAll: boolean;
  /** When the sender last edited the message; undefined if never. */
  editedAt?: Date;
}

/**
 * Whether a message mentions `userId`, by id or by mentioning everyone.
 * Pass the client's user ({@link SessionInfo.userId}) to find the messages
 * that mention the user.
 */
export function isMentioned(m: Pick<Message, "mentions" | "mentionAll">, userId: string): boolean {
  return m.mentionAll || m.mentions.includes(userId);
}

/** Returns the id of a group's conversation: `"g:"` and the group id. */
export function groupConvId(groupId: string): string {
  return "g:" + groupId;
}

/** Returns the group of a group's conversation id, or `""` for other conversations. */
export function groupIdOf(convId: string): string {
  return convId.startsWith("g:") ? convId.slice(2) : "";
}

/** What a {@link Receipt} reports. */
export type ReceiptKind = "delivered" | "stored" | "read";

/**
 * Another user's progress in a conversation, or a read on another of the
 * user's devices (`userId` is then the client's user). Receipts are
 * cumulative: they cover every message up to and including `seq`. Receipts
 * derived from the conversation states fetched after a login have no `at`.
 */
export interface Receipt {
  /** What happened. */
  kind: ReceiptKind;
  /** The conversation id. */
  convId: string;
  /** The last seq covered, inclusive. */
  seq: number;
  /** The user whose device received, or who read, the messages. */
  userId: string;
  /** When it happened, if known. */
  at?: Date;
}

/** A message already reported was recalled by its sender; its content is gone. */
export interface Recall {
  /** The conversation id. */
  convId: string;
  /** The recalled message's seq. */
  seq: number;
}

/**
 * Another member of a conversation is typing (or stopped): an ephemeral
 * signal, never replayed after a reconnect. Show the indicator for about 6
 * seconds after the last one with `typing` true.
 */
export interface Typing {
  /** The conversation id. */
  convId: string;
  /** The member who types. */
  userId: string;
  /** False when the member stopped. */
  typing: boolean;
  /** When the server relayed it. */
  at: Date;
}

/** A logged-in connection. */
export interface SessionInfo {
  /** The user the token belongs to. */
  userId: string;
  /** The connection's id in the server's logs. */
  sessionId: string;
  /** The server's clock at login. */
  serverTime: Date;
  /** How often the client pings the server, in milliseconds. */
  heartbeatIntervalMs: number;
  /** The largest content, in UTF-8 bytes, the server accepts. */
  maxMessageBytes: number;
}

/** A login succeeded; what was missed follows as messages. */
export interface Connected {
  /** The session. */
  session: SessionInfo;
}

/** A connection ended, or an attempt to connect failed. */
export interface Disconnected {
  /** Why: a {@link CloseError}, a connection error, a token provider error, or {@link ClientClosedError}. */
  error: unknown;
  /** Set if the client reconnects by itself after `retryInMs`. */
  willRetry: boolean;
  /** The backoff delay before the next attempt, in milliseconds. */
  retryInMs: number;
}

/** The events of a client, by name, with their payloads. */
export interface ClientEvents {
  /** A message, in seq order within its conversation, exactly once. */
  message: Message;
  /** A receipt: delivered, stored or read. */
  receipt: Receipt;
  /** A recall of a message already reported. */
  recall: Recall;
  /** A successful login; the session's other events (its pushed messages included) come after it. */
  connected: Connected;
  /** The end of a connection, or a failed attempt. */
  disconnected: Disconnected;
  /** An Error frame the server pushed unsolicited (not the reply to a request). */
  serverError: MagpieError;
  /** Another member is typing, or stopped. */
  typing: Typing;
  /** An edit of a message already reported. */
  edit: Edit;
  /** A member added or removed an emoji on a message (not reported to the device that acted). */
  reaction: Reaction;
  /**
   * The user's settings of a conversation changed on this client
   * ({@link MagpieClient.setConversation}): its state after the change.
   * The user's other devices see the change at their next
   * {@link MagpieClient.conversations} (the server does not push it).
   */
  conversationState: Conversation;
  /** Another user acted on the user's contacts (after the notice's `message` event). */
  contact: ContactNotice;
  /** A message of a joined room, each seq at most once, in seq order per room. */
  roomMessage: RoomMessage;
  /** A joined room's member count changed. */
  roomMemberCount: RoomMemberCount;
  /** The client is no longer in a room. */
  roomLeft: RoomLeft;
  /**
   * A watched user came online or went offline; also each watched user's
   * state after a reconnect ({@link MagpieClient.subscribePresence}).
   */
  presence: Presence;
}

/** An event as the async iterator yields it: its name in `type`, its payload in `value`. */
export type ClientEvent = {
  [K in keyof ClientEvents]: { type: K; value: ClientEvents[K] };
}[keyof ClientEvents];

/** A listener of events named K. */
export type Listener<K extends keyof ClientEvents> = (value: ClientEvents[K]) => void;

/** Dispatches events to listeners and to async iterators. */
export class Emitter {
  private readonly listeners = new Map<keyof ClientEvents, Set<(v: never) => void>>();
  private readonly iterators = new Set<EventIterator>();
  /** Called with errors thrown by listeners. */
  onListenerError: (err: unknown) => void = () => {};

  /** Adds a listener and returns a function that removes it. */
  on<K extends keyof ClientEvents>(name: K, fn: Listener<K>): () => void {
    let set = this.listeners.get(name);
    if (!set) {
      set = new Set();
      this.listeners.set(name, set);
    }
    set.add(fn);
    return () => this.off(name, fn);
  }

  /** Removes a listener. */
  off<K extends keyof ClientEvents>(name: K, fn: Listener<K>): void {
    this.listeners.get(name)?.delete(fn);
  }

  /** Dispatches an event to the listeners, synchronously, and queues it for the iterators. */
  emit<K extends keyof ClientEvents>(name: K, value: ClientEvents[K]): void {
    const set = this.listeners.get(name);
    if (set) {
      for (const fn of [...set]) {
        try {
          (fn as Listener<K>)(value);
        } catch (err) {
          this.onListenerError(err);
        }
      }
    }
    for (const it of this.iterators) it.push({ type: name, value } as ClientEvent);
  }

  /** Returns an iterator of the events from now on. */
  iterate(signal?: AbortSignal): EventIterator {
    const it = new EventIterator(() => this.iterators.delete(it), signal);
    this.iterators.add(it);
    return it;
  }

  /** Ends every iterator once its queued events are read. */
  end(): void {
    for (const it of this.iterators) it.finish();
  }
}

/**
 * An async iterator of a client's events, from its creation on. Unread
 * events wait in memory. End it with `return()` (a `break` out of a
 * `for await` loop does), its abort signal, or by closing the client.
 */
export class EventIterator implements AsyncIterableIterator<ClientEvent> {
  private readonly queue: ClientEvent[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<ClientEvent>) => void) | undefined;
  private done = false;

  /** @internal */
  constructor(
    private readonly detach: () => void,
    signal?: AbortSignal,
  ) {
    signal?.addEventListener("abort", () => void this.return(), { once: true });
  }

  /** @internal */
  push(ev: ClientEvent): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: ev, done: false });
      return;
    }
    this.queue.push(ev);
  }

  /** @internal Ends the iterator once its queue is read. */
  finish(): void {
    this.done = true;
    this.detach();
    if (this.waiter && this.head >= this.queue.length) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: undefined, done: true });
    }
  }

  /** Returns the next event, waiting for one. */
  next(): Promise<IteratorResult<ClientEvent>> {
    if (this.head < this.queue.length) {
      const value = this.queue[this.head++];
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Stops the iterator and drops its queued events. */
  return(): Promise<IteratorResult<ClientEvent>> {
    this.queue.length = 0;
    this.head = 0;
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Returns the iterator itself. */
  [Symbol.asyncIterator](): AsyncIterableIterator<ClientEvent> {
    return this;
  }
}
