/**
 * Errors of the Magpie client.
 *
 * @module
 */

/**
 * An `Error` frame the server answered a request with, or pushed
 * unsolicited. Switch on {@link MagpieError.code}; `message` is English
 * detail for logs.
 */
export class MagpieError extends Error {
  /** The stable error code, such as `"user_not_found"` (docs/protocol.md, Error codes). */
  readonly code: string;
  /** Whether the same request may succeed later. The client retries these itself where it can. */
  readonly retryable: boolean;
  /** For code `message_rejected`: the moderation rule's or webhook's own code; empty otherwise. */
  readonly reason: string;
  /** The server's human-readable detail. */
  readonly detail: string;

  /** Creates an error from an Error frame's fields. */
  constructor(code: string, detail: string, retryable = false, reason = "") {
    super(reason ? `magpie: ${code} (${reason}): ${detail}` : `magpie: ${code}: ${detail}`);
    this.name = "MagpieError";
    this.code = code;
    this.detail = detail;
    this.retryable = retryable;
    this.reason = reason;
  }
}

/**
 * Error codes of the protocol (docs/protocol.md, Error codes), for
 * comparing with {@link MagpieError.code}. The server may add codes: treat
 * an unknown one by its {@link MagpieError.retryable} flag.
 */
export const ErrorCode = {
  /** A malformed field; the message names it. */
  InvalidArgument: "invalid_argument",
  /** A bad message type or content; the message names the field. */
  InvalidMessage: "invalid_message",
  /** Content over the server's `maxMessageBytes`. */
  MessageTooLarge: "message_too_large",
  /** The app has no such user. */
  UserNotFound: "user_not_found",
  /** The app's moderation refused the message; {@link MagpieError.reason} says which rule. */
  MessageRejected: "message_rejected",
  /** A read in a conversation that has no messages yet. */
  ConversationNotFound: "conversation_not_found",
  /** No such thing for the user: a conversation, a friend, a request, a support session. */
  NotFound: "not_found",
  /** The user may not do this. */
  Forbidden: "forbidden",
  /** Too many frames: retry later. */
  RateLimited: "rate_limited",
  /** The request contradicts the current state: rating a support session that is still open, say. */
  Conflict: "conflict",
  /** The user has the most registered push devices. */
  TooManyDevices: "too_many_devices",
  /** The app has no such group, or it was dismissed. */
  GroupNotFound: "group_not_found",
  /** A group id the app has or had. */
  GroupExists: "group_exists",
  /** The group would grow past the app's largest group. */
  GroupFull: "group_full",
  /** A group send from a muted member, or a room message from a user muted in the room. */
  MemberMuted: "member_muted",
  /** A group send from a plain member while the group is muted. */
  GroupMuted: "group_muted",
  /** A one-to-one send to a user who blocks the sender: {@link BlockedError}. */
  Blocked: "blocked",
  /** A one-to-one send between users who are not friends while the app lets only friends message: {@link NotFriendsError}. */
  NotFriends: "not_friends",
  /** Becoming friends would give one of the two users too many friends. */
  TooManyFriends: "too_many_friends",
  /** No such message in the conversation. */
  MessageNotFound: "message_not_found",
  /** A recall after the app's recall window. */
  RecallWindowPassed: "recall_window_passed",
  /** An edit after the app's edit window. */
  EditWindowPassed: "edit_window_passed",
  /** An edit of, or a reaction to, a recalled message. */
  MessageRecalled: "message_recalled",
  /** A 21st distinct emoji on a message. */
  TooManyReactions: "too_many_reactions",
  /** No such room, or (for a room message) one the connection has not joined. */
  RoomNotFound: "room_not_found",
  /** The room is at its member limit. */
  RoomFull: "room_full",
  /** A join of a room the app's backend banned the user from: {@link RoomBannedError}. */
  RoomBanned: "room_banned",
  /** No such file. */
  FileNotFound: "file_not_found",
  /** The server is overloaded or lacks the service: retry later. */
  Unavailable: "unavailable",
  /** An unexpected server error: retry later. */
  Internal: "internal",
} as const;

/**
 * A one-to-one send refused because the recipient blocks the sender
 * (code `"blocked"`); nothing was stored. It fails again until the
 * recipient unblocks the sender.
 */
export class BlockedError extends MagpieError {
  /** Creates the error from an Error frame's detail. */
  constructor(detail: string) {
    super(ErrorCode.Blocked, detail);
    this.name = "BlockedError";
  }
}

/**
 * A one-to-one send refused because the app lets only friends message each
 * other and the two users are not friends (code `"not_friends"`); nothing
 * was stored.
 */
export class NotFriendsError extends MagpieError {
  /** Creates the error from an Error frame's detail. */
  constructor(detail: string) {
    super(ErrorCode.NotFriends, detail);
    this.name = "NotFriendsError";
  }
}

/**
 * A room join refused because the app's backend banned the user from the
 * room (code `"room_banned"`). It fails again, on every device and after
 * reconnects, until the backend lifts the ban; the client does not join the
 * room again by itself meanwhile.
 */
export class RoomBannedError extends MagpieError {
  /** Creates the error from an Error frame's detail. */
  constructor(detail: string) {
    super(ErrorCode.RoomBanned, detail);
    this.name = "RoomBannedError";
  }
}

/**
 * Returns the error of an Error frame's fields: a {@link BlockedError}, a
 * {@link NotFriendsError} or a {@link RoomBannedError} for those codes, a
 * {@link MagpieError} otherwise.
 */
export function errorFromCode(code: string, detail: string, retryable = false, reason = ""): MagpieError {
  switch (code) {
    case ErrorCode.Blocked:
      return new BlockedError(detail);
    case ErrorCode.NotFriends:
      return new NotFriendsError(detail);
    case ErrorCode.RoomBanned:
      return new RoomBannedError(detail);
  }
  return new MagpieError(code, detail, retryable, reason);
}

/**
 * Why the server closed the connection: the code of its `Close` frame, which
 * is also the WebSocket close code (docs/protocol.md, Close codes).
 */
export class CloseError extends Error {
  /** The close code, such as {@link CloseCode.TokenRevoked}. */
  readonly code: number;
  /** The server's human-readable reason, for logs. */
  readonly reason: string;

  /** Creates the error for a close code and reason. */
  constructor(code: number, reason = "") {
    super(`magpie: connection closed (${code})${reason ? ": " + reason : ""}`);
    this.name = "CloseError";
    this.code = code;
    this.reason = reason;
  }

  /**
   * Whether the client reconnects by itself after this close: true outside
   * the terminal range 4100-4199, and for token_expired (4101), after which
   * it asks the token provider for a fresh token.
   */
  get temporary(): boolean {
    return this.code < 4100 || this.code >= 4200 || this.code === CloseCode.TokenExpired;
  }
}

/** A send the server did not acknowledge before the send deadline. The message may still have been stored. */
export class SendTimeoutError extends Error {
  /** The client message id of the send. */
  readonly clientMsgId: string;
  /** The last error of the send, if any. */
  override readonly cause: unknown;

  /** Creates the error for a send that timed out after `cause`. */
  constructor(clientMsgId: string, cause?: unknown) {
    super(
      `magpie: send ${clientMsgId} not acknowledged before the deadline` +
        (cause instanceof Error ? `: ${cause.message}` : ""),
    );
    this.name = "SendTimeoutError";
    this.clientMsgId = clientMsgId;
    this.cause = cause;
  }
}

/** Returned by every operation once {@link MagpieClient.close} was called. */
export class ClientClosedError extends Error {
  /** Creates the error. */
  constructor() {
    super("magpie: client closed");
    this.name = "ClientClosedError";
  }
}

/** The connection ended before a reply arrived, or could not be opened. */
export class ConnectionLostError extends Error {
  /** The WebSocket close code, if any (1006 for a dropped network). */
  readonly closeCode: number | undefined;

  /** Creates the error. */
  constructor(message: string, closeCode?: number) {
    super(`magpie: connection lost: ${message}`);
    this.name = "ConnectionLostError";
    this.closeCode = closeCode;
  }
}

/** No reply to a request arrived within the request timeout. */
export class RequestTimeoutError extends Error {
  /** Creates the error for a request named `what`. */
  constructor(what: string) {
    super(`magpie: ${what}: request timed out`);
    this.name = "RequestTimeoutError";
  }
}

/** Close codes of the protocol (docs/protocol.md, Close codes). */
export const CloseCode = {
  /** The node is shutting down: reconnect. */
  ServerShutdown: 4000,
  /** Rate limit or overload: reconnect with backoff. */
  Overload: 4001,
  /** No frame for 2.5 heartbeat intervals: reconnect. */
  HeartbeatTimeout: 4002,
  /** The outbound queue overflowed: reconnect and resync. */
  SlowConsumer: 4003,
  /** No Login in time: reconnect. */
  LoginTimeout: 4004,
  /** A server error: reconnect with backoff. */
  InternalError: 4005,
  /** The session's token expired or its secret was revoked: reconnect with a fresh token. */
  Reauthenticate: 4006,
  /** Token malformed, badly signed, of an unknown app or user: terminal. */
  BadToken: 4100,
  /** The token had expired at login: the client gets a fresh token and reconnects. */
  TokenExpired: 4101,
  /** The user's tokens were revoked: terminal. */
  TokenRevoked: 4102,
  /** Another session took this device slot: terminal. */
  Kicked: 4103,
  /** The app is disabled: terminal. */
  AppDisabled: 4104,
  /** The user is blocked or deleted: terminal. */
  UserBlocked: 4105,
  /** Undecodable frame, bad device id, origin not allowed: terminal. */
  ProtocolError: 4106,
  /** Device limit reached with policy refuse: terminal. */
  TooManyDevices: 4107,
  /** Neither subprotocol was offered or accepted: terminal. */
  UnsupportedSubprotocol: 4108,
} as const;

/** Whether a request that failed with `err` may be sent again. */
export function isRetryable(err: unknown): boolean {
  if (err instanceof MagpieError) return err.retryable;
  return err instanceof ConnectionLostError || err instanceof RequestTimeoutError;
}

/** Whether `err` ends {@link MagpieClient.run} instead of causing a reconnect. */
export function isTerminal(err: unknown): boolean {
  return err instanceof ClientClosedError || (err instanceof CloseError && !err.temporary);
}
