// A real magpie dev server on a loopback port, headless Chromium, and a
// management API client for the console's browser tests.
import { execFileSync, spawn } from "node:child_process";
import { createHash, createHmac, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../../..");
/** Where the tests write screenshots ($MAGPIE_TEST_ARTIFACTS, or console/e2e/artifacts). */
export const artifacts = process.env.MAGPIE_TEST_ARTIFACTS || path.resolve(here, "../artifacts");

/** Returns the magpie binary: $MAGPIE_BIN, or one built from the repository. */
export function magpieBinary() {
  if (process.env.MAGPIE_BIN) return process.env.MAGPIE_BIN;
  const bin = path.resolve(here, "../magpie");
  if (!existsSync(bin)) {
    const tmp = `${bin}.${process.pid}`;
    execFileSync("go", ["build", "-o", tmp, "./cmd/magpie"], { cwd: repoRoot, stdio: "inherit" });
    renameSync(tmp, bin);
  }
  return bin;
}

/** Returns a Chromium binary: $MAGPIE_TEST_CHROMIUM, or chromium / chromium-browser on the PATH. */
export function findChromium() {
  if (process.env.MAGPIE_TEST_CHROMIUM) return process.env.MAGPIE_TEST_CHROMIUM;
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    for (const name of ["chromium", "chromium-browser"]) {
      const p = path.join(dir, name);
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

export const chromiumArgs = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"];

/** Waits for a promise at most ms, failing with what it waited for. */
export async function within(ms, what, p) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts `magpie dev` on 127.0.0.1:0 with a fresh data directory and
 * resolves to the fields it prints (api_url, console_url, operator_email,
 * operator_password, app_id, app_key, app_secret) and a stop function.
 */
export async function startMagpie() {
  const dir = mkdtempSync(path.join(tmpdir(), "magpie-console-"));
  const proc = spawn(
    magpieBinary(),
    ["dev", "--addr", "127.0.0.1:0", "--data", dir, "--admin-addr", "", "--log-level", "warn", "--shutdown-timeout", "5s", "--usage-flush-interval", "50ms"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  proc.stderr.on("data", (d) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise((resolve) => proc.once("exit", resolve));
  const fields = {};
  await within(
    20_000,
    "magpie dev to print its address",
    new Promise((resolve, reject) => {
      let buf = "";
      proc.stdout.on("data", (d) => {
        buf += d.toString();
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const eq = line.indexOf("=");
          if (eq > 0 && !line.startsWith("#")) fields[line.slice(0, eq)] = line.slice(eq + 1);
          if (fields.api_url && fields.console_url && fields.operator_password && fields.app_secret) resolve();
        }
      });
      proc.once("exit", (code) => reject(new Error(`magpie exited with ${code}: ${stderr}`)));
    }),
  );
  return {
    ...fields,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGTERM");
      await within(10_000, "magpie to exit", exited).catch(() => proc.kill("SIGKILL"));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A management API client: call(method, path, body) resolves to {status, body}. */
export function manageClient(base, token = "") {
  const call = async (method, p, body) => {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(base + "/manage/v1" + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
  return {
    call,
    async login(email, password) {
      const r = await call("POST", "/sessions", { email, password });
      if (r.status !== 201) throw new Error(`login ${email}: ${r.status} ${JSON.stringify(r.body)}`);
      return manageClient(base, r.body.token);
    },
    token,
  };
}

/**
 * A signed server API client (docs/signing.md) for an app: call(method,
 * path, body) resolves to {status, body}. Paths carry no query string.
 */
export function serverClient(base, appKey, secret) {
  return async (method, p, body) => {
    const raw = body === undefined ? "" : JSON.stringify(body);
    const ts = String(Math.floor(Date.now() / 1000));
    const nonce = randomBytes(16).toString("hex");
    const bodyHash = createHash("sha256").update(raw).digest("hex");
    const sig = createHmac("sha256", secret).update([method, p, "", ts, nonce, bodyHash].join("\n")).digest("hex");
    const headers = { "X-Magpie-App-Key": appKey, "X-Magpie-Timestamp": ts, "X-Magpie-Nonce": nonce, "X-Magpie-Signature": sig };
    if (raw) headers["Content-Type"] = "application/json";
    const res = await fetch(base + p, { method, headers, body: raw || undefined });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };
}

/**
 * Loads url in tab from scratch (from about:blank, so the shell, every
 * module and the page's API calls) until ready() resolves, tries times,
 * and returns the fastest load in ms. The best of a few tries measures the
 * console, not the other jobs of a busy shared machine.
 */
export async function fastestLoad(tab, url, ready, tries = 3) {
  let best = Infinity;
  for (let i = 0; i < tries; i++) {
    await tab.goto("about:blank");
    const start = Date.now();
    await tab.goto(url);
    await ready();
    best = Math.min(best, Date.now() - start);
    if (best < 500) break;
  }
  return best;
}

export function ensureDir(p) {
  mkdirSync(p, { recursive: true });
  return p;
}

/**
 * Runs in the page: lists the visible text whose contrast with the
 * background behind it is under WCAG AA (4.5:1, or 3:1 for large text);
 * disabled controls are exempt.
 */
export function lowContrast() {
  const parse = (c) => {
    const m = c.match(/rgba?\(([\d.]+)[ ,]+([\d.]+)[ ,]+([\d.]+)(?:[ ,/]+([\d.]+))?\)/);
    return m ? [Number(m[1]), Number(m[2]), Number(m[3]), m[4] === undefined ? 1 : Number(m[4])] : [0, 0, 0, 0];
  };
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const bg = parse(getComputedStyle(e).backgroundColor);
      if (bg[3] > 0.5) return bg;
    }
    return [255, 255, 255, 1];
  };
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || !el || el.closest("[hidden], dialog:not([open]), .toast:not(.show), :disabled")) continue;
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height) continue;
    const st = getComputedStyle(el);
    if (st.visibility === "hidden" || Number(st.opacity) === 0) continue;
    const fg = parse(st.color);
    const bg = background(el);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(st.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(st.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`${n.textContent.trim().slice(0, 40)}: ${ratio.toFixed(2)} (${st.color} on rgb(${bg.slice(0, 3)}))`);
  }
  return out;
}
