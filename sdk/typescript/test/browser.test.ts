// The SDK in a real browser: headless Chromium loads the built ES modules
// (dist/) with an import map, connects to a real server with the browser's
// own WebSocket, and chats with a Node client. Needs a Chromium binary
// ($MAGPIE_TEST_CHROMIUM, or chromium / chromium-browser on the PATH) and
// the built SDK (npm run build); without Chromium the test is skipped,
// except in CI (CI=true), where it fails: CI installs Chromium.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer, type Server as HTTPServer } from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "playwright-core";
import { Env, next, within } from "./env.js";

const sdkRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

function findChromium(): string | undefined {
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

const page = `<!doctype html>
<meta charset="utf-8">
<script type="importmap">
{"imports": {
  "@magpie-im/client": "/dist/index.js",
  "@bufbuild/protobuf": "/protobuf/index.js",
  "@bufbuild/protobuf/codegenv2": "/protobuf/codegenv2/index.js"
}}
</script>
<script type="module">
import * as sdk from "@magpie-im/client";
window.sdk = sdk;
</script>`;

/** Serves the test page, the built SDK and its dependency on a loopback port. */
async function serveSDK(): Promise<HTTPServer> {
  const protobuf = path.join(sdkRoot, "node_modules/@bufbuild/protobuf/dist/esm");
  const srv = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    let file: string | undefined;
    if (url.pathname.startsWith("/dist/")) file = path.join(sdkRoot, path.normalize(url.pathname));
    else if (url.pathname.startsWith("/protobuf/")) file = path.join(protobuf, path.normalize(url.pathname.slice("/protobuf/".length)));
    if (url.pathname === "/") {
      res.writeHead(200, { "Content-Type": "text/html" }).end(page);
      return;
    }
    try {
      if (!file || !file.startsWith(sdkRoot)) throw new Error("not found");
      const data = await readFile(file);
      res.writeHead(200, { "Content-Type": file.endsWith(".js") ? "text/javascript" : "application/octet-stream" }).end(data);
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return srv;
}

const exe = findChromium();
const inCI = process.env.CI === "true";

for (const encoding of ["proto", "json"] as const) {
  test(`a browser client chats with a Node client (${encoding})`, { skip: exe || inCI ? false : "no Chromium found" }, async (t) => {
    assert.ok(exe, "CI=true: no Chromium found (install Debian's chromium, or set MAGPIE_TEST_CHROMIUM)");
    assert.ok(existsSync(path.join(sdkRoot, "dist/index.js")), "build the SDK first (npm run build)");
    const e = await Env.start(t, "alice", "bob");
    const http = await serveSDK();
    t.after(() => http.close());
    const browser: Browser = await within(
      30_000,
      "Chromium to start",
      chromium.launch({
        executablePath: exe!,
        args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
      }),
    );
    t.after(() => browser.close());
    const tab = await browser.newPage();
    const browserErrors: string[] = [];
    tab.on("pageerror", (err) => browserErrors.push(String(err)));
    await tab.exposeFunction("aliceToken", () => e.server.api.issueToken("alice"));
    await tab.goto(`http://127.0.0.1:${(http.address() as AddressInfo).port}/`);
    await tab.waitForFunction(() => (window as unknown as { sdk?: unknown }).sdk !== undefined, undefined, { timeout: 10_000 });

    const bob = e.client("bob", "bob-phone");
    bob.run();
    await next(bob, "connected");

    // In the page: connect as alice, send to bob, wait for bob's reply.
    const inPage = tab.evaluate(
      async ({ url, encoding }) => {
        type SDK = typeof import("../src/index.js");
        const w = window as unknown as { sdk: SDK; aliceToken: () => Promise<string> };
        const c = new w.sdk.MagpieClient({ url, deviceId: "alice-browser", tokenProvider: () => w.aliceToken(), encoding });
        const reply = new Promise<string>((resolve) => c.on("message", (m) => !m.own && resolve(m.content)));
        const connected = new Promise<string>((resolve) => c.on("connected", (ev) => resolve(ev.session.userId)));
        c.start();
        const user = await connected;
        const sent = await c.send("bob", "text", "hello from the browser");
        const text = await reply;
        await c.close();
        return { user, seq: sent.seq, reply: text };
      },
      { url: e.server.url, encoding },
    );
    const m = await next(bob, "message", 15_000);
    assert.equal(m.content, "hello from the browser");
    assert.equal(m.senderId, "alice");
    await within(10_000, "bob's reply", bob.c.send("alice", "text", "hello from node"));
    const res = await within(15_000, "the page", inPage);
    assert.deepEqual(res, { user: "alice", seq: 1, reply: "hello from node" });
    assert.deepEqual(browserErrors, []);
  });
}
