// Headless Chromium for the browser tests: finding and launching it, a
// loopback server for the built SDK and the page harness (browser-page.ts),
// and a test's world of pages, one page per client, driven with
// page.evaluate while the server side (restarts, revocations, proxies) stays
// in Node. Needs a Chromium binary ($MAGPIE_TEST_CHROMIUM, or chromium /
// chromium-browser on the PATH) and the built SDK (npm run build); without
// Chromium the tests are skipped, except in CI (CI=true), where they fail:
// CI installs Chromium.
import * as assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server as HTTPServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import type { TestContext } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { Harness, PageError, PageEvent, PageMessage, PageOptions, PageReceipt } from "./browser-page.js";
import { Env, within } from "./env.js";

/** The SDK's folder (this file runs from sdk/typescript/dist-test/test). */
export const sdkRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Returns the Chromium binary: $MAGPIE_TEST_CHROMIUM, or chromium / chromium-browser on the PATH. */
export function findChromium(): string | undefined {
  const given = process.env.MAGPIE_TEST_CHROMIUM;
  if (given) return given;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    for (const name of ["chromium", "chromium-browser"]) {
      const p = path.join(dir, name);
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

/** The Chromium binary, if any. */
export const chromiumPath = findChromium();

/** Why the browser tests skip: only without Chromium, and never in CI. */
export const skipReason: string | false = chromiumPath || process.env.CI === "true" ? false : "no Chromium found";

/** Fails unless Chromium and the built SDK are there (CI=true runs the tests without Chromium to fail here). */
export function assertReady(): void {
  assert.ok(chromiumPath, "CI=true: no Chromium found (install Debian's chromium, or set MAGPIE_TEST_CHROMIUM)");
  assert.ok(existsSync(path.join(sdkRoot, "dist/index.js")), "build the SDK first (npm run build)");
}

/** Launches headless Chromium with the flags of issue 18. */
export function launchChromium(): Promise<Browser> {
  return within(
    30_000,
    "Chromium to start",
    chromium.launch({
      executablePath: chromiumPath!,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    }),
  );
}

const importMap = `<script type="importmap">
{"imports": {
  "@magpie-im/client": "/dist/index.js",
  "@bufbuild/protobuf": "/protobuf/index.js",
  "@bufbuild/protobuf/codegenv2": "/protobuf/codegenv2/index.js"
}}
</script>`;

/** The page that puts the SDK on window.sdk. */
const sdkPage = `<!doctype html>
<meta charset="utf-8">
${importMap}
<script type="module">
import * as sdk from "@magpie-im/client";
window.sdk = sdk;
</script>`;

/** The page that runs the harness (window.harness); its import of ../src/index.js loads dist/. */
const harnessPage = `<!doctype html>
<meta charset="utf-8">
${importMap}
<script type="module" src="/test/browser-page.js"></script>`;

/**
 * Serves on a loopback port: the SDK page at /, the harness page at
 * /harness, the built SDK at /dist/ and /src/, the compiled harness at
 * /test/, and the protobuf runtime at /protobuf/.
 */
export async function serveSDK(): Promise<HTTPServer> {
  const dirs: Record<string, string> = {
    "/dist/": path.join(sdkRoot, "dist"),
    "/src/": path.join(sdkRoot, "dist"),
    "/test/": path.join(sdkRoot, "dist-test/test"),
    "/protobuf/": path.join(sdkRoot, "node_modules/@bufbuild/protobuf/dist/esm"),
  };
  const srv = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname === "/" || url.pathname === "/harness") {
      res.writeHead(200, { "Content-Type": "text/html" }).end(url.pathname === "/" ? sdkPage : harnessPage);
      return;
    }
    const file = fileOf(dirs, url.pathname);
    if (file === undefined) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (data) =>
        // Cached, so that the pages of one browser context load the modules once.
        res
          .writeHead(200, {
            "Content-Type": file.endsWith(".js") ? "text/javascript" : "application/octet-stream",
            "Cache-Control": "max-age=3600",
          })
          .end(data),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return srv;
}

/** The file that serves pathname from dirs (URL path prefix to directory), if it is inside one. */
function fileOf(dirs: Record<string, string>, pathname: string): string | undefined {
  const prefix = Object.keys(dirs).find((p) => pathname.startsWith(p));
  if (prefix === undefined) return undefined;
  const dir = dirs[prefix];
  const file = path.join(dir, path.normalize(pathname.slice(prefix.length)));
  return file.startsWith(dir + path.sep) ? file : undefined;
}

/** The base URL of a server started by {@link serveSDK}. */
export function baseURL(srv: HTTPServer): string {
  return `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
}

/** The Harness methods the tests call. */
type Method = { [K in keyof Harness]: Harness[K] extends (...args: never[]) => unknown ? K : never }[keyof Harness];

/** The value of an event of type K, as the page reports it. */
export type PageEventValue<K extends PageEvent["type"]> = Extract<PageEvent, { type: K }>["value"];

/** One client in its own page: user on device, running the SDK on Chromium's WebSocket. */
export class BrowserClient {
  /** Returns the next token for the client (the page asks it through magpieToken); a fresh one from the server API by default. */
  tokens: () => Promise<string> | string;

  constructor(
    readonly user: string,
    readonly page: Page,
    tokens: () => Promise<string> | string,
  ) {
    this.tokens = tokens;
  }

  /** Calls the page harness's method with args, in the page. */
  call<K extends Method>(method: K, ...args: Parameters<Harness[K]>): Promise<Awaited<ReturnType<Harness[K]>>> {
    return this.page.evaluate(
      ({ method, args }) => (window.harness[method] as (...a: unknown[]) => unknown)(...args),
      { method, args },
    ) as Promise<Awaited<ReturnType<Harness[K]>>>;
  }

  /** Starts (or restarts) the client's run. */
  run(): Promise<void> {
    return this.call("run");
  }

  /** The next event of type from the client's iterator, skipping others. */
  async next<K extends PageEvent["type"]>(type: K, ms = 10_000): Promise<PageEventValue<K>> {
    return (await this.call("next", type, ms)) as PageEventValue<K>;
  }

  /** Waits until the client reported n messages in all, and returns all it reported. */
  messages(n: number, ms = 10_000): Promise<PageMessage[]> {
    return this.call("waitMessages", n, ms);
  }

  /** Waits for a receipt of kind by user covering seq. */
  receiptFrom(kind: string, user: string, seq: number, ms = 10_000): Promise<PageReceipt> {
    return this.call("waitReceipt", kind, user, seq, ms);
  }

  /** Sends text to the user `to` and waits for the acknowledgement. */
  send(to: string, content: string, clientMsgId?: string) {
    return this.call("send", to, content, clientMsgId);
  }

  /** Queues one message per content, pipelined; returns their client message ids. */
  sendAsync(to: string, ...contents: string[]): Promise<string[]> {
    return this.call("sendAsync", to, contents);
  }

  /** Waits for the outcomes of queued sends. */
  outcomes(ids: string[], ms = 15_000) {
    return this.call("outcomes", ids, ms);
  }

  /** How the last run ended: null if by close, else its error. */
  done(ms = 10_000): Promise<PageError | null> {
    return this.call("done", ms);
  }
}

/** A page of a {@link Pages} pool and the client it serves now, if any. */
interface Slot {
  page: Page;
  client: BrowserClient | undefined;
  /** Receives the errors thrown in the page while it serves client. */
  onError: ((err: Error) => void) | undefined;
}

/**
 * The pages of one browser context, kept across tests: a new page costs a
 * renderer process (about a second of CPU), a fresh load of the harness in
 * a page that served an earlier test about a quarter of that. Each client
 * has a page to itself, loaded afresh for it (a new JavaScript realm, and
 * the modules from the HTTP cache).
 */
export class Pages {
  private readonly idle: Slot[] = [];
  private loads = 0;

  private constructor(
    private readonly ctx: BrowserContext,
    private readonly base: string,
  ) {}

  /** Opens a browser context on browser for the harness served by sdk. */
  static async open(browser: Browser, sdk: HTTPServer): Promise<Pages> {
    return new Pages(await browser.newContext(), baseURL(sdk));
  }

  /** Returns a page with the harness freshly loaded, serving the client that client(page) makes. */
  async take(client: (page: Page) => BrowserClient, onError: (err: Error) => void): Promise<Slot> {
    let slot = this.idle.pop();
    if (!slot) {
      const s: Slot = { page: await this.ctx.newPage(), client: undefined, onError: undefined };
      s.page.on("pageerror", (err) => s.onError?.(err));
      await s.page.exposeFunction("magpieToken", () => {
        if (!s.client) throw new Error("magpieToken: the page serves no client");
        return s.client.tokens();
      });
      slot = s;
    }
    slot.client = client(slot.page);
    slot.onError = onError;
    await slot.page.goto(`${this.base}/harness?load=${++this.loads}`);
    await slot.page.waitForFunction(() => window.harness !== undefined, undefined, { timeout: 10_000 });
    return slot;
  }

  /** Takes back a page whose client was closed. */
  give(slot: Slot): void {
    slot.client = undefined;
    slot.onError = undefined;
    this.idle.push(slot);
  }

  /** Closes the context and its pages. */
  async close(): Promise<void> {
    await this.ctx.close();
  }
}

/** A test's world: a server (in Node) and a page per client, from a {@link Pages} pool. */
export class World {
  readonly env = new Env();
  private readonly slots: Slot[] = [];
  private readonly pageErrors: string[] = [];

  private constructor(private readonly pages: Pages) {}

  /**
   * Starts a server with the given users; at the end of the test closes the
   * clients, gives their pages back and stops the server, and fails the
   * test if a page threw.
   */
  static async start(t: TestContext, pages: Pages, ...users: string[]): Promise<World> {
    const w = new World(pages);
    t.after(() => w.close());
    await w.env.server.start();
    for (const u of users) await w.env.server.api.createUser(u);
    return w;
  }

  /** The server. */
  get server() {
    return this.env.server;
  }

  /**
   * Loads a page for user on device with a client not yet running, for the
   * server or, if set, options.url (a proxy's).
   */
  async client(user: string, device: string, options: Partial<PageOptions> = {}): Promise<BrowserClient> {
    const slot = await this.pages.take(
      (page) => new BrowserClient(user, page, () => this.server.api.issueToken(user)),
      (err) => this.pageErrors.push(`${user}/${device}: ${String(err)}`),
    );
    this.slots.push(slot);
    const c = slot.client!;
    await c.call("open", { url: this.server.url, deviceId: device, ...options });
    return c;
  }

  /** Loads a client's page and runs it. */
  async running(user: string, device: string, options: Partial<PageOptions> = {}): Promise<BrowserClient> {
    const c = await this.client(user, device, options);
    await c.run();
    return c;
  }

  private async close(): Promise<void> {
    const users = this.slots.map((s) => s.client!.user);
    // Whatever a page reported up to the end, late ones included: every
    // conversation's seqs from 1 on, each once.
    const logs = await Promise.all(
      this.slots.map((s) => within(10_000, "a page's messages", s.client!.call("waitMessages", 0, 0)).catch(() => undefined)),
    );
    const closed = await Promise.all(
      this.slots.map((s) =>
        within(10_000, "a page's client to close", s.client!.call("close")).then(
          () => true,
          () => false,
        ),
      ),
    );
    // A page whose client did not close is left out of the pool.
    this.slots.forEach((s, i) => {
      if (closed[i]) this.pages.give(s);
      else s.page.close().catch(() => {});
    });
    await this.env.close();
    assert.deepEqual(this.pageErrors, [], "errors thrown in the pages");
    logs.forEach((log, i) => {
      if (log === undefined) return; // the page is gone: the test failed already
      assert.deepEqual(gapsAndRepeats(log), [], `${users[i]}'s page reported messages out of order or twice`);
    });
  }
}

/** The messages of msgs that do not follow the one before in their conversation by exactly one seq, from 1. */
export function gapsAndRepeats(msgs: PageMessage[]): string[] {
  const last = new Map<string, number>();
  const bad: string[] = [];
  for (const m of msgs) {
    const prev = last.get(m.convId) ?? 0;
    if (m.seq !== prev + 1) bad.push(`${m.convId} seq ${m.seq} after ${prev}`);
    last.set(m.convId, m.seq);
  }
  return bad;
}

/** Messages as the tests compare them: seq, sender, content. */
export function lines(msgs: PageMessage[]): string[] {
  return msgs.map((m) => `${m.seq} ${m.senderId} ${m.content}`);
}
