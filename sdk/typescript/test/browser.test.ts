// The SDK in a real browser: headless Chromium loads the built ES modules
// (dist/) with an import map, connects to a real server with the browser's
// own WebSocket, and chats with a Node client; one browser serves the
// file, a page each test. Needs a Chromium binary
// ($MAGPIE_TEST_CHROMIUM, or chromium / chromium-browser on the PATH) and
// the built SDK (npm run build); without Chromium the test is skipped,
// except in CI (CI=true), where it fails: CI installs Chromium.
import { after, before, test } from "node:test";
import * as assert from "node:assert/strict";
import type { Server as HTTPServer } from "node:http";
import type { Browser } from "playwright-core";
import { assertReady, baseURL, launchChromium, serveSDK, skipReason } from "./browser-env.js";
import { Env, next, within } from "./env.js";

let browser: Browser | undefined;
let http: HTTPServer | undefined;

before(async () => {
  if (skipReason !== false) return;
  try {
    assertReady();
  } catch {
    return; // each test fails on it
  }
  http = await serveSDK();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  http?.close();
});

for (const encoding of ["proto", "json"] as const) {
  test(`a browser client chats with a Node client (${encoding})`, { skip: skipReason }, async (t) => {
    assertReady();
    assert.ok(browser && http, "Chromium did not start");
    const e = await Env.start(t, "alice", "bob");
    const tab = await browser.newPage();
    t.after(() => tab.close());
    const browserErrors: string[] = [];
    tab.on("pageerror", (err) => browserErrors.push(String(err)));
    await tab.exposeFunction("aliceToken", () => e.server.api.issueToken("alice"));
    await tab.goto(`${baseURL(http)}/`);
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
