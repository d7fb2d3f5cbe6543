// The console's Webhooks, Push and Usage pages and the Messages page's test
// chat in headless Chromium against a real `magpie dev`: an endpoint
// created from the console receives a signed delivery at a local HTTP
// receiver started here, shows in the delivery log and is replayed; a
// keyword rule refuses a message; APNs and FCM credential files (made here)
// are uploaded and checked; the usage page counts the messages sent; two
// users chat both ways in the browser and see delivered and read; a viewer
// sees no write action. Screenshots go to the artifacts directory. Without
// Chromium the test is skipped, except in CI (CI=true), where it fails.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { chromium } from "playwright-core";
import { artifacts, chromiumArgs, ensureDir, findChromium, lowContrast, manageClient, serverClient, startMagpie, within } from "./env.mjs";

const exe = findChromium();
const inCI = process.env.CI === "true";

/** A webhook receiver on 127.0.0.1:0 that answers 200 and keeps what it got. */
async function startReceiver() {
  const got = [];
  let notify = () => {};
  const srv = createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      got.push({ id: req.headers["webhook-id"], signature: req.headers["webhook-signature"], body: JSON.parse(body) });
      res.writeHead(200, { "Content-Type": "text/plain" }).end("ok");
      notify();
    });
  });
  await new Promise((resolve) => srv.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${srv.address().port}/hooks`,
    got,
    /** Resolves once the receiver holds n requests matching pred (bounded by within). */
    until(n, pred, what) {
      return within(15_000, what, new Promise((resolve) => {
        const check = () => {
          const m = got.filter(pred);
          if (m.length >= n) resolve(m);
        };
        notify = check;
        check();
      }));
    },
    close: () => new Promise((resolve) => srv.close(resolve)),
  };
}

/** Polls fn (an async predicate) until it holds, at most ms. */
async function eventually(ms, what, fn) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50)); // polling interval, not synchronisation
  }
}

test("the console's webhooks, push, usage and test chat", { skip: exe || inCI ? false : "no Chromium found", timeout: 110_000 }, async (t) => {
  assert.ok(exe, "CI=true: no Chromium found (install Debian's chromium, or set MAGPIE_TEST_CHROMIUM)");
  const shots = ensureDir(artifacts);
  const files = mkdtempSync(path.join(tmpdir(), "magpie-panels-"));
  t.after(() => rmSync(files, { recursive: true, force: true }));
  const srv = await startMagpie();
  t.after(() => srv.stop());
  const receiver = await startReceiver();
  t.after(() => receiver.close());
  const base = srv.api_url;
  const appId = srv.app_id;
  const op = await manageClient(base).login(srv.operator_email, srv.operator_password);
  const { body: tenants } = await op.call("GET", "/tenants");
  const tenant = tenants.tenants[0];
  const server = serverClient(base, srv.app_key, srv.app_secret);
  for (const id of ["alice", "bob"]) {
    const r = await server("POST", "/v1/users", { id, name: id });
    assert.equal(r.status, 201, `create ${id}: ${JSON.stringify(r.body)}`);
  }
  const viewer = { email: "viewer@panels.test", password: "viewer password 1" };
  assert.equal((await op.call("POST", `/tenants/${tenant.id}/members`, { ...viewer, role: "viewer" })).status, 201);

  const browser = await within(30_000, "Chromium to start", chromium.launch({ executablePath: exe, args: chromiumArgs }));
  t.after(() => browser.close());
  const problems = [];
  const wsBase = base.replace(/^http/, "ws") + "/";
  async function newTab(who) {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
    const tab = await ctx.newPage();
    tab.setDefaultTimeout(10_000);
    tab.on("pageerror", (err) => problems.push(`${who}: page error: ${err}`));
    tab.on("console", (msg) => msg.type() === "error" && !/status of (4\d\d|502)/.test(msg.text()) && problems.push(`${who}: console: ${msg.text()}`));
    tab.on("request", (req) => !req.url().startsWith(base + "/") && !req.url().startsWith(wsBase) && problems.push(`${who}: request to another origin: ${req.url()}`));
    tab.on("websocket", (ws) => !ws.url().startsWith(wsBase) && problems.push(`${who}: websocket to another origin: ${ws.url()}`));
    return tab;
  }
  const shot = (tab, name) => tab.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
  async function signIn(tab, email, password) {
    await tab.goto(srv.console_url);
    await tab.getByLabel("Email", { exact: true }).fill(email);
    await tab.getByLabel("Password", { exact: true }).fill(password);
    await tab.getByRole("button", { name: "Sign in" }).click();
    await tab.getByRole("heading", { level: 1, name: "Apps" }).waitFor();
  }
  const appURL = (p) => `${srv.console_url}#/apps/${appId}/${p}`;
  const tab = await newTab("operator");
  await signIn(tab, srv.operator_email, srv.operator_password);

  let hookId;
  await t.test("webhooks: create an endpoint, its secret once, a delivery, the log, a replay", async () => {
    await tab.goto(`${srv.console_url}#/apps/${appId}`);
    await tab.getByRole("main").getByRole("link", { name: "Webhooks", exact: true }).first().click();
    await tab.getByRole("heading", { level: 1, name: "Webhooks and moderation" }).waitFor();
    const form = tab.locator("form", { has: tab.getByRole("heading", { name: "Add an endpoint" }) });
    await form.getByLabel("URL").fill(receiver.url);
    await form.getByLabel("Description").fill("e2e receiver");
    await form.getByLabel("message.created").check();
    await form.getByRole("button", { name: "Add endpoint" }).click();
    const secret = await tab.getByTestId("webhook-secret").textContent();
    assert.match(secret, /^whsec_/);
    await tab.getByRole("button", { name: "Copy signing secret" }).click();
    assert.equal(await tab.evaluate(() => navigator.clipboard.readText()), secret);
    hookId = await tab.locator("tr[data-webhook]").getAttribute("data-webhook");
    await shot(tab, "20-webhooks-created");

    // A message from the server API: the receiver gets message.created.
    const sent = await server("POST", "/v1/messages", { from_user_id: "alice", to_user_id: "bob", type: "text", content: "hello hooks" });
    assert.equal(sent.status, 201, JSON.stringify(sent.body));
    const [first] = await receiver.until(1, (r) => r.body.type === "message.created", "the message.created delivery");
    assert.ok(first.signature && first.id, "the delivery is signed and has a webhook-id");

    // The receiver answers before the server records the attempt: the log
    // is opened once the API shows it (and again for the replay below).
    const recorded = (n) =>
      eventually(10_000, `${n} attempt(s) recorded`, async () => {
        const { status, body } = await op.call("GET", `/apps/${appId}/webhooks/${hookId}/attempts?limit=20`);
        assert.equal(status, 200, JSON.stringify(body));
        return body.attempts.filter((a) => a.event_id === first.id).length >= n;
      });
    await recorded(1);
    await tab.locator(`tr[data-webhook="${hookId}"]`).getByRole("button", { name: "Delivery log" }).click();
    await tab.getByRole("heading", { name: /Delivery log of/ }).waitFor();
    const row = tab.locator(`tr[data-event="${first.id}"]`);
    await row.first().waitFor();
    assert.match(await row.first().innerText(), /message\.created[\s\S]*succeeded[\s\S]*200/);
    await row.first().getByRole("button", { name: "Replay" }).click();
    const again = await receiver.until(2, (r) => r.id === first.id, "the replayed delivery");
    assert.equal(again[1].body.type, "message.created");
    await recorded(2);
    await tab.getByRole("button", { name: "Refresh" }).first().click();
    await eventually(10_000, "the replay in the delivery log", async () => (await tab.locator(`tr[data-event="${first.id}"]`).count()) >= 2);
    const logText = await tab.locator("section", { has: tab.getByRole("heading", { name: /Delivery log of/ }) }).innerText();
    assert.doesNotMatch(logText, /\b(null|undefined|NaN)\b/, logText);
    await shot(tab, "21-webhooks-log");

    // The event filter, edited in a dialog.
    await tab.locator(`tr[data-webhook="${hookId}"]`).getByRole("button", { name: "Edit events" }).click();
    const dlg = tab.getByRole("dialog", { name: /Events sent to/ });
    await dlg.getByLabel("message.read", { exact: true }).check();
    await dlg.getByRole("button", { name: "Save events" }).click();
    await tab.getByText("Event filter saved").waitFor();
    assert.match(await tab.locator(`tr[data-webhook="${hookId}"]`).innerText(), /message\.created, message\.read/);

    // Rotate with an hour's overlap (the new secret shown once), then
    // revoke the old one at once.
    const hookRow = tab.locator(`tr[data-webhook="${hookId}"]`);
    await hookRow.getByLabel(/Overlap of the old secret/).selectOption("3600");
    await hookRow.getByRole("button", { name: "Rotate secret" }).click();
    // The creation's secret stays on screen until the rotation answers.
    let rotated = "";
    await eventually(10_000, "the rotated secret shown", async () => {
      rotated = (await tab.getByTestId("webhook-secret").textContent()) ?? "";
      return rotated !== secret;
    });
    assert.ok(rotated.startsWith("whsec_"), "a new secret is shown");
    await hookRow.getByText(/old, signs until/).waitFor();
    await hookRow.getByRole("button", { name: "Revoke now" }).click();
    await tab.getByRole("dialog").getByRole("button", { name: "Revoke secret" }).click();
    await tab.getByText(/Secret …\S+ revoked/).waitFor();
    assert.equal(await tab.locator(`tr[data-webhook="${hookId}"] ul.plain li`).count(), 1);
  });

  await t.test("webhooks: the pre-send hook policy, and an API error shown with its request id", async () => {
    const form = tab.locator("form", { has: tab.getByRole("heading", { name: "Add an endpoint" }) });
    await form.getByLabel("Kind").selectOption("pre_send");
    await form.getByLabel("URL").fill(receiver.url);
    await form.getByLabel("Timeout (milliseconds)").fill("99999");
    await form.getByRole("button", { name: "Add endpoint" }).click();
    const err = form.locator(".error");
    await err.waitFor();
    assert.match(await err.innerText(), /timeout_ms[\s\S]*code validation_failed[\s\S]*request id/);
    assert.ok((await err.locator("code.reqid").textContent()).length > 0);
    assert.equal(await form.getByLabel("Timeout (milliseconds)").getAttribute("aria-invalid"), "true");
    await form.getByLabel("Timeout (milliseconds)").fill("800");
    await form.getByRole("button", { name: "Add endpoint" }).click();
    const policy = tab.locator("section", { has: tab.getByRole("heading", { name: "Pre-send hook policy" }) });
    await policy.waitFor();
    await policy.getByLabel("Fail open: send it unmoderated").check();
    await policy.getByLabel(/server API/).check();
    await policy.getByRole("button", { name: "Save policy" }).click();
    await tab.getByText("Pre-send hook policy saved").waitFor();
    const { body } = await op.call("GET", `/apps/${appId}/webhooks`);
    const pre = body.webhooks.find((w) => w.kind === "pre_send");
    assert.deepEqual([pre.timeout_ms, pre.fail_open, pre.server_api], [800, true, true]);
    // Remove it again: the receiver answers 200 with no verdict, and the
    // rest of the test sends messages.
    await op.call("DELETE", `/apps/${appId}/webhooks/${pre.id}`);
  });

  await t.test("keyword rule: added in the console, it refuses a message", async () => {
    await tab.goto(appURL("webhooks"));
    const kw = tab.locator("section", { has: tab.getByRole("heading", { name: "Keyword rules" }) });
    await kw.getByLabel("Word", { exact: true }).fill("casino");
    await kw.getByLabel("Action", { exact: true }).selectOption("block");
    await kw.getByRole("button", { name: "Add rule" }).click();
    await kw.locator('tr[data-word="casino"]').waitFor();
    const r = await server("POST", "/v1/messages", { from_user_id: "alice", to_user_id: "bob", type: "text", content: "casino night" });
    assert.equal(r.body?.error?.code, "message_rejected", JSON.stringify(r.body));
    await shot(tab, "22-keywords");
  });

  await t.test("push: upload APNs and FCM credential files, check them", async () => {
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const p8 = path.join(files, "AuthKey_ABC123DEFG.p8");
    writeFileSync(p8, ec.privateKey.export({ type: "pkcs8", format: "pem" }));
    const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const sa = path.join(files, "service-account.json");
    writeFileSync(sa, JSON.stringify({
      type: "service_account", project_id: "magpie-e2e", private_key_id: "k1",
      private_key: rsa.privateKey.export({ type: "pkcs8", format: "pem" }),
      client_email: "push@magpie-e2e.iam.gserviceaccount.com", token_uri: "https://127.0.0.1:9/token",
    }));

    await tab.goto(appURL("push"));
    await tab.getByRole("heading", { level: 1, name: "Push" }).waitFor();
    const apns = tab.locator("form", { has: tab.getByRole("heading", { name: "Upload an APNs key" }) });
    await apns.getByRole("button", { name: "Save APNs key" }).click();
    await apns.locator(".error").waitFor(); // no file chosen: said in the form
    await apns.getByLabel("Key file (.p8)").setInputFiles(p8);
    await apns.getByLabel("Key id").fill("ABC123DEFG");
    await apns.getByLabel("Team id").fill("TEAM123456");
    await apns.getByLabel("Topic (bundle id)").fill("com.example.chat");
    await apns.getByRole("button", { name: "Save APNs key" }).click();
    const apnsRow = tab.locator('tr[data-provider="apns"]');
    await apnsRow.waitFor();
    assert.match(await apnsRow.innerText(), /ABC123DEFG[\s\S]*TEAM123456/);
    await apnsRow.getByRole("button", { name: "Check" }).click();
    await tab.getByTestId("check-apns").getByText("works").waitFor();

    const fcm = tab.locator("form", { has: tab.getByRole("heading", { name: "Upload an FCM service account" }) });
    await fcm.getByLabel("Service account key file (JSON)").setInputFiles(sa);
    await fcm.getByRole("button", { name: "Save FCM service account" }).click();
    const fcmRow = tab.locator('tr[data-provider="fcm"]');
    await fcmRow.waitFor();
    assert.match(await fcmRow.innerText(), /magpie-e2e/);
    // Google cannot be reached from here (the token endpoint is a closed
    // loopback port): the check's error is shown with its request id.
    await fcmRow.getByRole("button", { name: "Check" }).click();
    const err = tab.locator("section", { has: tab.getByRole("heading", { name: "Credentials" }) }).locator(".error, [data-testid=check-fcm] .badge");
    await err.first().waitFor();
    await shot(tab, "23-push");
    const { body } = await op.call("GET", `/apps/${appId}/push/credentials`);
    assert.deepEqual(body.credentials.map((c) => c.provider), ["apns", "fcm"]);
  });

  await t.test("push: the push log and the outbox list the offline notifications", async () => {
    // Bob has no session: the earlier messages went to the push pipeline.
    await tab.goto(appURL("push"));
    const log = tab.getByTestId("push-log");
    await eventually(15_000, "a push log entry for bob", async () => {
      await log.getByRole("button", { name: "Refresh" }).click();
      return (await log.locator("tbody tr", { hasText: "bob" }).count()) > 0;
    });
    await shot(tab, "24-push-log");
  });

  await t.test("test chat: two users chat both ways, delivered and read", async () => {
    await tab.goto(appURL("messages"));
    const chat = tab.locator("section", { has: tab.getByRole("heading", { name: "Test chat" }) });
    await chat.getByLabel("First user").fill("alice");
    await chat.getByLabel("Second user").fill("bob");
    await chat.getByRole("button", { name: "Start test chat" }).click();
    const a = chat.locator('.chat-side[data-user="alice"]');
    const b = chat.locator('.chat-side[data-user="bob"]');
    await a.getByText("online").waitFor();
    await b.getByText("online").waitFor();

    await a.getByLabel("Message from alice to bob").fill("hi bob, from the console");
    await a.getByRole("button", { name: "Send" }).click();
    await b.locator(".chat-theirs", { hasText: "hi bob, from the console" }).waitFor();
    const aStatus = a.locator(".chat-mine", { hasText: "hi bob" }).locator(".badge");
    await a.locator('.chat-mine [data-status="delivered"]').waitFor();
    await b.getByRole("button", { name: "Mark as read" }).click();
    await a.locator('.chat-mine [data-status="read"]').waitFor();
    assert.equal(await aStatus.textContent(), "read");

    await b.getByLabel("Message from bob to alice").fill("hello alice");
    await b.getByLabel("Message from bob to alice").press("Enter");
    await a.locator(".chat-theirs", { hasText: "hello alice" }).waitFor();
    await b.locator('.chat-mine [data-status="delivered"]').waitFor();
    await shot(tab, "25-test-chat");
    await chat.getByRole("button", { name: "End test chat" }).click();
    await a.getByText("closed").waitFor();
  });

  await t.test("usage: the day's messages, users and API calls are shown", async () => {
    const { body: before } = await op.call("GET", `/apps/${appId}/usage`);
    const today = before.to;
    // Counts are flushed every 50 ms (--usage-flush-interval): wait for them.
    const day = await eventually(15_000, "today's usage to count the messages", async () => {
      const { body } = await op.call("GET", `/apps/${appId}/usage`);
      const d = body.days.find((x) => x.day === today);
      return d.messages >= 3 && d.active_users >= 2 && d.webhook_deliveries >= 2 ? d : null;
    });
    assert.ok(day.api_calls >= 4 && day.peak_connections >= 2, JSON.stringify(day));
    await tab.goto(appURL("usage"));
    await tab.getByRole("heading", { level: 1, name: "Usage" }).waitFor();
    const cell = tab.locator(`tr[data-day="${today}"] td[data-metric="messages"]`);
    assert.equal(Number(await cell.textContent()), day.messages);
    const bar = tab.locator(`svg.chart rect[data-day="${today}"]`);
    assert.equal(Number(await bar.getAttribute("data-value")), day.messages);
    assert.ok(Number(await bar.getAttribute("height")) > 0);
    await tab.getByLabel("Show").selectOption("active_users");
    await tab.locator('svg.chart[data-metric="active_users"]').waitFor();
    await shot(tab, "26-usage");
  });

  await t.test("a viewer sees no write action on the new pages, and the API refuses them", async () => {
    const vt = await newTab("viewer");
    await signIn(vt, viewer.email, viewer.password);
    await vt.goto(appURL("webhooks"));
    await vt.locator(`tr[data-webhook="${hookId}"]`).waitFor();
    for (const name of ["Add endpoint", "Rotate secret", "Delete", "Disable", "Edit events", "Send test event", "Add rule", "Remove"]) {
      assert.equal(await vt.getByRole("button", { name, exact: true }).count(), 0, `viewer sees ${name}`);
    }
    await vt.locator(`tr[data-webhook="${hookId}"]`).getByRole("button", { name: "Delivery log" }).click();
    await vt.getByRole("heading", { name: /Delivery log of/ }).waitFor();
    assert.equal(await vt.getByRole("button", { name: "Replay" }).count(), 0);
    await shot(vt, "27-viewer-webhooks");
    await vt.goto(appURL("push"));
    await vt.locator('tr[data-provider="apns"]').waitFor();
    for (const name of ["Save APNs key", "Save FCM service account", "Remove"]) {
      assert.equal(await vt.getByRole("button", { name }).count(), 0, `viewer sees ${name}`);
    }
    await vt.goto(appURL("messages"));
    await vt.getByRole("heading", { level: 1, name: "Messages" }).waitFor();
    assert.equal(await vt.getByRole("heading", { name: "Test chat" }).count(), 0);
    await vt.goto(appURL("usage"));
    await vt.locator("svg.chart").waitFor();

    const v = await manageClient(base).login(viewer.email, viewer.password);
    for (const [method, p, body] of [
      ["POST", `/apps/${appId}/webhooks`, { url: receiver.url }],
      ["PATCH", `/apps/${appId}/webhooks/${hookId}`, { enabled: false }],
      ["POST", `/apps/${appId}/webhooks/${hookId}:rotate-secret`, {}],
      ["PUT", `/apps/${appId}/moderation/keywords`, { rules: [] }],
      ["DELETE", `/apps/${appId}/push/credentials/apns`, undefined],
      ["POST", `/apps/${appId}/users/alice/tokens`, undefined],
    ]) {
      const r = await v.call(method, p, body);
      assert.equal(r.status, 403, `${method} ${p} as viewer: ${JSON.stringify(r.body)}`);
    }
  });

  await t.test("keyboard and contrast on the new pages", async () => {
    await tab.goto(appURL("webhooks"));
    await tab.getByRole("heading", { level: 1, name: "Webhooks and moderation" }).waitFor();
    await tab.waitForLoadState("networkidle");
    const seen = new Set();
    // Focus starts at the page heading: Tab runs through the page (the
    // event checkboxes too), wraps to the header and reaches the subnav.
    for (let i = 0; i < 80; i++) {
      await tab.keyboard.press("Tab");
      const f = await tab.evaluate(() => {
        const el = document.activeElement;
        if (!el || el === document.body) return null;
        const st = getComputedStyle(el);
        return { tag: el.tagName.toLowerCase(), text: (el.textContent || el.getAttribute("name") || "").trim().slice(0, 30), outline: st.outlineStyle !== "none" && parseFloat(st.outlineWidth) >= 2 };
      });
      if (!f) continue;
      assert.ok(f.outline, `focus on ${f.tag} "${f.text}" has no visible outline`);
      seen.add(`${f.tag}:${f.text}`);
    }
    for (const want of ["a:Webhooks", "a:Push", "a:Usage", "button:Delivery log", "button:Rotate secret"]) {
      assert.ok(seen.has(want), `Tab never reached ${want}: ${[...seen].join(", ")}`);
    }
    for (const page of ["webhooks", "push", "usage", "messages"]) {
      await tab.goto(appURL(page));
      await tab.locator("main h1").waitFor();
      await tab.waitForLoadState("networkidle");
      assert.deepEqual(await tab.evaluate(lowContrast), [], `${page}: text below AA contrast`);
      const text = await tab.locator("body").innerText();
      assert.doesNotMatch(text, /\b(null|undefined|NaN|\[object Object\])\b/, `${page}: ${text}`);
    }
  });

  assert.deepEqual(problems, []);
});
