// A real magpie dev server on a loopback port, headless Chromium, and a
// management API client for the console's browser tests.
import { execFileSync, spawn } from "node:child_process";
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
    ["dev", "--addr", "127.0.0.1:0", "--data", dir, "--admin-addr", "", "--log-level", "warn", "--shutdown-timeout", "5s"],
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

export function ensureDir(p) {
  mkdirSync(p, { recursive: true });
  return p;
}
