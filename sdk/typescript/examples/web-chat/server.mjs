// The example's backend: serves the page and the SDK, and hands out client
// tokens minted through Magpie's signed server API (docs/signing.md). In a
// real app, authenticate your user before handing out a token for them: this
// demo gives anyone a token for any user id.
//
//   cd sdk/typescript && npm ci && npm run build
//   MAGPIE_URL=http://127.0.0.1:8080 MAGPIE_APP_KEY=mk_... MAGPIE_APP_SECRET=msk_... \
//     node examples/web-chat/server.mjs
//   open http://127.0.0.1:3000 in two windows, as alice and as bob
import { createHash, createHmac, randomBytes } from "node:crypto";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const magpieURL = process.env.MAGPIE_URL ?? "http://127.0.0.1:8080";
const appKey = process.env.MAGPIE_APP_KEY;
const appSecret = process.env.MAGPIE_APP_SECRET;
const port = Number(process.env.PORT ?? 3000);
if (!appKey || !appSecret) {
  console.error("set MAGPIE_APP_KEY and MAGPIE_APP_SECRET (printed by `magpie dev` on its first start)");
  process.exit(2);
}

/** Sends a signed server API request (no query string) and returns the HTTP status and JSON body. */
async function magpie(method, path, body) {
  const text = body === undefined ? "" : JSON.stringify(body);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomBytes(16).toString("hex");
  const bodyHash = createHash("sha256").update(text).digest("hex");
  const toSign = [method, path, "", timestamp, nonce, bodyHash].join("\n");
  const res = await fetch(magpieURL + path, {
    method,
    headers: {
      "Content-Type": "application/json",
      "X-Magpie-App-Key": appKey,
      "X-Magpie-Timestamp": timestamp,
      "X-Magpie-Nonce": nonce,
      "X-Magpie-Signature": createHmac("sha256", appSecret).update(toSign).digest("hex"),
    },
    body: text || undefined,
  });
  return { status: res.status, json: await res.json().catch(() => undefined) };
}

/** Creates the user if needed and issues a one-hour token. */
async function token(user) {
  const created = await magpie("POST", "/v1/users", { id: user, name: user });
  if (created.status !== 201 && created.status !== 409) throw new Error(`create user: HTTP ${created.status}`);
  const res = await magpie("POST", `/v1/users/${encodeURIComponent(user)}/tokens`, { ttl_seconds: 3600 });
  if (res.status !== 201) throw new Error(`issue token: HTTP ${res.status}`);
  return res.json.token;
}

const here = fileURLToPath(new URL(".", import.meta.url));
const sdkRoot = join(here, "../..");
const types = { ".html": "text/html", ".js": "text/javascript", ".json": "application/json", ".map": "application/json" };

createServer(async (req, res) => {
  const url = new URL(req.url, "http://localhost");
  try {
    if (url.pathname === "/token" && req.method === "POST") {
      const user = url.searchParams.get("user") ?? "";
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token: await token(user) }));
      return;
    }
    if (url.pathname === "/config") {
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ magpieURL }));
      return;
    }
    // Static files: the page, and under /sdk/ the built SDK and its dependency.
    let file;
    if (url.pathname.startsWith("/sdk/dist/") || url.pathname.startsWith("/sdk/node_modules/@bufbuild/protobuf/")) {
      file = join(sdkRoot, normalize(url.pathname.slice("/sdk/".length)));
    } else {
      file = join(here, url.pathname === "/" ? "index.html" : normalize(url.pathname));
    }
    if (!file.startsWith(sdkRoot)) throw Object.assign(new Error("not found"), { code: "ENOENT" });
    const data = await readFile(file);
    res.writeHead(200, { "Content-Type": types[extname(file)] ?? "application/octet-stream" }).end(data);
  } catch (err) {
    res.writeHead(err.code === "ENOENT" ? 404 : 500).end(String(err.message ?? err));
  }
}).listen(port, "127.0.0.1", () => console.log(`web chat on http://127.0.0.1:${port}`));
