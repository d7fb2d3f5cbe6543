// The WebSocket the client runs on: the platform's, or the `ws` package on Node.

/** The subset of the WHATWG WebSocket the client uses; browsers' and `ws`'s both fit. */
export interface WebSocketLike {
  /** The subprotocol the server selected. */
  readonly protocol: string;
  /** The connection state (0 connecting, 1 open, 2 closing, 3 closed). */
  readonly readyState: number;
  /** How binary messages are presented; the client sets `"arraybuffer"`. */
  binaryType: string;
  /** Queues a message. */
  send(data: string | Uint8Array): void;
  /** Starts the close handshake. */
  close(code?: number, reason?: string): void;
  /** Called when the connection opened. */
  onopen: ((ev: unknown) => void) | null;
  /** Called for every message. */
  onmessage: ((ev: { data: unknown }) => void) | null;
  /** Called when the connection closed. */
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  /** Called on a connection error; a close follows. */
  onerror: ((ev: unknown) => void) | null;
}

/** A WebSocket constructor: the global `WebSocket`, or `ws`'s default export. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

let cached: WebSocketConstructor | undefined;

/**
 * Returns the WebSocket implementation to use: `given` if set, else the
 * global `WebSocket` (browsers, Node 22+), else the `ws` package (Node 20,
 * an optional peer dependency).
 */
export async function resolveWebSocket(given?: WebSocketConstructor): Promise<WebSocketConstructor> {
  if (given) return given;
  if (cached) return cached;
  const g = (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (typeof g === "function") {
    cached = g;
    return g;
  }
  // A variable module name keeps bundlers for the browser from pulling ws in.
  const name = "ws";
  try {
    const mod = (await import(name)) as { default?: unknown; WebSocket?: unknown };
    const ctor = (mod.WebSocket ?? mod.default) as WebSocketConstructor;
    cached = ctor;
    return ctor;
  } catch (err) {
    throw new Error(
      "magpie: no WebSocket implementation: install the `ws` package on Node before 22, or pass options.WebSocket",
      { cause: err },
    );
  }
}
