// Request signing of the server API (docs/signing.md) and client token
// minting (docs/protocol.md, Client tokens), for the tests and the example
// backend. Node only.
import { createHash, createHmac, randomBytes } from "node:crypto";

const unreserved = /[A-Za-z0-9\-_.~]/;

/** Percent-encodes per RFC 3986, every byte but the unreserved characters, with upper-case hex. */
function encode(s: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(s)) {
    const c = String.fromCharCode(b);
    out += b < 0x80 && unreserved.test(c) ? c : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

/** Percent-decodes one query component, `+` meaning a space; throws on a malformed escape. */
function decode(s: string): string {
  const bytes: number[] = [];
  const src = new TextEncoder().encode(s);
  for (let i = 0; i < src.length; i++) {
    const b = src[i];
    if (b === 0x2b) bytes.push(0x20);
    else if (b === 0x25) {
      const hex = String.fromCharCode(src[i + 1] ?? 0, src[i + 2] ?? 0);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new Error(`malformed escape in ${JSON.stringify(s)}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(b);
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

/** The canonical form of a raw query string (without `?`). */
export function canonicalQuery(raw: string): string {
  const params: [string, string][] = [];
  for (const seg of raw.split("&")) {
    if (seg === "") continue;
    const eq = seg.indexOf("=");
    const name = eq < 0 ? seg : seg.slice(0, eq);
    const value = eq < 0 ? "" : seg.slice(eq + 1);
    params.push([encode(decode(name)), encode(decode(value))]);
  }
  // The encoded forms are ASCII, so UTF-16 order is byte order.
  params.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return params.map(([n, v]) => `${n}=${v}`).join("&");
}

/** The string to sign of a request; target is the request line's path and query. */
export function stringToSign(method: string, target: string, body: string | Uint8Array, timestamp: string, nonce: string): string {
  const q = target.indexOf("?");
  const path = (q < 0 ? target : target.slice(0, q)) || "/";
  const query = q < 0 ? "" : canonicalQuery(target.slice(q + 1));
  const bodyHash = createHash("sha256").update(body).digest("hex");
  return [method.toUpperCase(), path, query, timestamp, nonce, bodyHash].join("\n");
}

/** The signature (64 lower-case hex digits) of a string to sign under an app secret. */
export function sign(secret: string, toSign: string): string {
  return createHmac("sha256", Buffer.from(secret, "utf8")).update(toSign, "utf8").digest("hex");
}

/** The four X-Magpie-* headers of a signed request, at the current time with a fresh nonce unless given. */
export function signedHeaders(
  key: string,
  secret: string,
  method: string,
  target: string,
  body: string,
  now = new Date(),
  nonce = randomBytes(16).toString("hex"),
): Record<string, string> {
  const timestamp = String(Math.floor(now.getTime() / 1000));
  return {
    "X-Magpie-App-Key": key,
    "X-Magpie-Timestamp": timestamp,
    "X-Magpie-Nonce": nonce,
    "X-Magpie-Signature": sign(secret, stringToSign(method, target, body, timestamp, nonce)),
  };
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

/** Claims of a client token. */
export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  exp: number;
  jti?: string;
}

/** Mints a client token (HS256 JWT) with the app secret, without calling the server. */
export function mintToken(secret: string, claims: TokenClaims): string {
  const input = `${b64url(JSON.stringify({ alg: "HS256", typ: "JWT" }))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac("sha256", Buffer.from(secret, "utf8")).update(input).digest("base64url")}`;
}

/** A signed server API client for one app. */
export class ServerAPI {
  constructor(
    readonly baseURL: string,
    readonly key: string,
    readonly secret: string,
  ) {}

  /** Sends a signed request and returns the decoded JSON answer; throws on a non-2xx status. */
  async call(method: string, target: string, body?: unknown): Promise<unknown> {
    const text = body === undefined ? "" : JSON.stringify(body);
    const headers: Record<string, string> = signedHeaders(this.key, this.secret, method, target, text);
    if (text) headers["Content-Type"] = "application/json";
    const res = await fetch(this.baseURL + target, {
      method,
      headers,
      body: text || undefined,
      signal: AbortSignal.timeout(10_000),
    });
    const out = await res.text();
    if (!res.ok) throw new Error(`${method} ${target}: HTTP ${res.status}: ${out}`);
    return out ? JSON.parse(out) : undefined;
  }

  /** Creates a user. */
  async createUser(id: string): Promise<void> {
    await this.call("POST", "/v1/users", { id, name: id });
  }

  /** Issues a client token for user. */
  async issueToken(user: string, ttlSeconds = 0): Promise<string> {
    const body = ttlSeconds > 0 ? { ttl_seconds: ttlSeconds } : {};
    const res = (await this.call("POST", `/v1/users/${encodeURIComponent(user)}/tokens`, body)) as { token: string };
    return res.token;
  }

  /** Revokes every token of user issued so far; their sessions end with 4102. */
  async revokeTokens(user: string): Promise<void> {
    await this.call("POST", `/v1/users/${encodeURIComponent(user)}/tokens:revoke`);
  }
}
