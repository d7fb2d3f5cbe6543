// A real Magpie server for one test: the magpie binary in dev mode on a free
// loopback port, with a fresh data directory; and helpers to wait on events.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, renameSync, rmSync, existsSync } from "node:fs";
import * as net from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";
import WebSocket from "ws";
import {
  MagpieClient,
  type ClientEvents,
  type ClientOptions,
  type EventIterator,
  type Message,
  type Receipt,
  type ReceiptKind,
} from "../src/index.js";
import { ServerAPI } from "./signing.js";

const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root (this file runs from sdk/typescript/dist-test/test). */
export const repoRoot = path.resolve(here, "../../../..");

/** Returns the magpie binary: $MAGPIE_BIN, or one built from the repository. */
export function magpieBinary(): string {
  const given = process.env.MAGPIE_BIN;
  if (given) return given;
  const bin = path.resolve(here, "../magpie");
  if (!existsSync(bin)) {
    const tmp = `${bin}.${process.pid}`;
    execFileSync("go", ["build", "-o", tmp, "./cmd/magpie"], { cwd: repoRoot, stdio: "inherit" });
    renameSync(tmp, bin);
  }
  return bin;
}

/** Waits for a promise at most ms, failing with what it waited for. */
export async function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A magpie dev process. */
export class Server {
  url = "";
  key = "";
  secret = "";
  appId = "";
  operatorEmail = "";
  operatorPassword = "";
  api!: ServerAPI;
  private proc: ChildProcess | undefined;
  private exited: Promise<void> | undefined;
  private addr = "127.0.0.1:0";
  private stderr = "";
  readonly dir: string;

  constructor() {
    this.dir = mkdtempSync(path.join(tmpdir(), "magpie-ts-"));
  }

  /** Starts the server (on the same port again after the first start) and waits until it listens. */
  async start(): Promise<void> {
    const proc = spawn(
      magpieBinary(),
      ["dev", "--addr", this.addr, "--data", this.dir, "--admin-addr", "", "--log-level", "warn", "--shutdown-timeout", "5s"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    proc.stderr.on("data", (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    const fields: Record<string, string> = {};
    await within(
      20_000,
      "the server to print its address",
      new Promise<void>((resolve, reject) => {
        let buf = "";
        proc.stdout.on("data", (d: Buffer) => {
          buf += d.toString();
          let nl: number;
          while ((nl = buf.indexOf("\n")) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            const eq = line.indexOf("=");
            if (eq > 0 && !line.startsWith("#")) fields[line.slice(0, eq)] = line.slice(eq + 1);
            if (fields.app_key && (this.secret || fields.app_secret)) resolve();
          }
        });
        proc.once("exit", (code) => reject(new Error(`magpie exited with ${code}: ${this.stderr}`)));
      }),
    );
    this.url = fields.api_url!;
    this.key = fields.app_key!;
    this.appId = fields.app_id!;
    if (fields.app_secret) this.secret = fields.app_secret;
    if (fields.operator_email) this.operatorEmail = fields.operator_email;
    if (fields.operator_password) this.operatorPassword = fields.operator_password;
    this.addr = new URL(this.url).host;
    this.api = new ServerAPI(this.url, this.key, this.secret);
  }

  /** Stops the server with SIGTERM (a graceful shutdown: clients get close 4000) and waits for it to exit. */
  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill("SIGTERM");
      try {
        await within(15_000, "the server to exit", this.exited!);
      } catch {
        proc.kill("SIGKILL");
        await this.exited;
      }
    }
  }

  /** Stops the server, runs between, and starts it again on the same data directory and port. */
  async restart(between: () => void | Promise<void>): Promise<void> {
    await this.stop();
    await between();
    await this.start();
  }

  /** Sets the app's per-connection send rate and burst (management API, operator's Basic credentials). */
  async setSendLimit(rate: number, burst: number): Promise<void> {
    const auth = Buffer.from(`${this.operatorEmail}:${this.operatorPassword}`).toString("base64");
    const res = await fetch(`${this.url}/manage/v1/apps/${this.appId}`, {
      method: "PATCH",
      headers: { Authorization: `Basic ${auth}`, "Content-Type": "application/json" },
      body: JSON.stringify({ limits: { send_rate: rate, send_burst: burst } }),
      signal: AbortSignal.timeout(10_000),
    });
    if (!res.ok) throw new Error(`update app: HTTP ${res.status}: ${await res.text()}`);
  }

  /** Removes the data directory. */
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A client under test, with an iterator of its events from its creation on. */
export interface TestClient {
  c: MagpieClient;
  it: EventIterator;
  /** Settles when the client's run ends. */
  done: Promise<unknown>;
  /** Starts (or restarts) the run. */
  run(): void;
}

/** One test's world: a server, its users, clients and proxies, all cleaned up at the end. */
export class Env {
  readonly server = new Server();
  private readonly clients: TestClient[] = [];
  private readonly proxies: Proxy[] = [];

  /** Starts a server with the given users. */
  static async start(t: TestContext, ...users: string[]): Promise<Env> {
    const e = new Env();
    t.after(() => e.close());
    await e.server.start();
    for (const u of users) await e.server.api.createUser(u);
    return e;
  }

  /** A token provider that asks the server API for a fresh token at every call. */
  tokens(user: string): ClientOptions["tokenProvider"] {
    return () => this.server.api.issueToken(user);
  }

  /** A client of user on device, for url (the server itself if empty), not yet running. */
  client(user: string, device: string, url = "", tweak?: Partial<ClientOptions>): TestClient {
    const c = new MagpieClient({
      url: url || this.server.url,
      deviceId: device,
      tokenProvider: this.tokens(user),
      WebSocket: WebSocket as unknown as ClientOptions["WebSocket"],
      backoffMinMs: 5,
      backoffMaxMs: 100,
      requestTimeoutMs: 5000,
      ...tweak,
    });
    const tc: TestClient = {
      c,
      it: c.events(),
      done: Promise.resolve(),
      run() {
        tc.done = c.run().then(
          () => undefined,
          (err: unknown) => err,
        );
      },
    };
    this.clients.push(tc);
    return tc;
  }

  /** A proxy to the server. */
  async proxy(): Promise<Proxy> {
    const p = new Proxy(new URL(this.server.url).host);
    await p.listen();
    this.proxies.push(p);
    return p;
  }

  /** Closes the clients and proxies and stops the server. */
  async close(): Promise<void> {
    await Promise.all(this.clients.map((tc) => within(10_000, "client close", tc.c.close())));
    for (const p of this.proxies) p.close();
    await this.server.stop();
    this.server.cleanup();
  }
}

/** The next event of type K from the iterator, skipping others, within ms. */
export async function next<K extends keyof ClientEvents>(tc: TestClient, type: K, ms = 10_000): Promise<ClientEvents[K]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    const r = await within(Math.max(left, 1), `a ${type} event`, tc.it.next());
    if (r.done) throw new Error(`events ended while waiting for ${type}`);
    const ev = r.value;
    if (ev.type === type) return ev.value as ClientEvents[K];
  }
}

/** The next n messages. */
export async function nextMessages(tc: TestClient, n: number, ms = 10_000): Promise<Message[]> {
  const out: Message[] = [];
  const deadline = Date.now() + ms;
  while (out.length < n) out.push(await next(tc, "message", Math.max(deadline - Date.now(), 1)));
  return out;
}

/** Waits for a receipt of kind by user covering seq. */
export async function receiptFrom(tc: TestClient, kind: ReceiptKind, user: string, seq: number, ms = 10_000): Promise<Receipt> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await next(tc, "receipt", Math.max(deadline - Date.now(), 1));
    if (r.kind === kind && r.userId === user && r.seq >= seq) return r;
  }
}

/** A message as the tests compare it: seq, sender, content. */
export function lines(msgs: Message[]): string[] {
  return msgs.map((m) => `${m.seq} ${m.senderId} ${m.content}`);
}

/**
 * A loopback TCP proxy that can drop what the server sends (blackhole),
 * sever its connections, and refuse new ones (down), to break a client's
 * connection at a chosen point.
 */
export class Proxy {
  private readonly srv: net.Server;
  private readonly conns = new Set<net.Socket>();
  private blackhole = false;
  private down = false;
  port = 0;

  constructor(private readonly target: string) {
    this.srv = net.createServer((client) => this.accept(client));
  }

  /** The proxy's base URL. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.srv.listen(0, "127.0.0.1", resolve));
    this.port = (this.srv.address() as net.AddressInfo).port;
  }

  private accept(client: net.Socket): void {
    if (this.down) {
      client.destroy();
      return;
    }
    const [host, port] = [this.target.slice(0, this.target.lastIndexOf(":")), Number(this.target.slice(this.target.lastIndexOf(":") + 1))];
    const upstream = net.connect(port, host);
    this.conns.add(client);
    this.conns.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.conns.delete(client);
      this.conns.delete(upstream);
    };
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => {
      if (!this.blackhole) client.write(d);
    });
    for (const s of [client, upstream]) {
      s.on("error", drop);
      s.on("close", drop);
    }
  }

  /** Drops (or stops dropping) everything the server sends. */
  setBlackhole(on: boolean): void {
    this.blackhole = on;
  }

  /** Severs every connection through the proxy. */
  sever(): void {
    for (const s of this.conns) s.destroy();
    this.conns.clear();
  }

  /** Severs every connection and refuses new ones, or accepts them again. */
  setDown(on: boolean): void {
    this.down = on;
    if (on) this.sever();
  }

  close(): void {
    this.sever();
    this.srv.close();
  }
}


// ---- helpers of the API parity tests (conversations, contacts, rich messages, rooms, support)

/** The next event of type K from the iterator that satisfies ok, skipping others, within ms. */
export async function nextWhere<K extends keyof ClientEvents>(
  tc: TestClient,
  type: K,
  ok: (v: ClientEvents[K]) => boolean,
  ms = 10_000,
): Promise<ClientEvents[K]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await next(tc, type, Math.max(deadline - Date.now(), 1));
    if (ok(v)) return v;
  }
}

/** Calls the management API as the operator (Basic credentials) and returns the decoded JSON answer. */
export async function manage(server: Server, method: string, target: string, body?: unknown): Promise<unknown> {
  const auth = Buffer.from(`${server.operatorEmail}:${server.operatorPassword}`).toString("base64");
  const res = await fetch(`${server.url}/manage/v1${target}`, {
    method,
    headers: { Authorization: `Basic ${auth}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${target}: HTTP ${res.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
}

/** Changes the app's settings (`PATCH /manage/v1/apps/{id}` with `{settings}`). */
export async function setAppSettings(server: Server, settings: Record<string, unknown>): Promise<void> {
  await manage(server, "PATCH", `/apps/${server.appId}`, { settings });
}
