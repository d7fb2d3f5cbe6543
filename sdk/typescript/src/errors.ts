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
