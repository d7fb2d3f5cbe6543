// The browser side of the example: connect as a user, show the conversation
// with a peer, send, mark read. Tokens come from the backend (server.mjs).
import { MagpieClient } from "@magpie-im/client";

const $ = (id) => document.getElementById(id);
let client;

function line(text, cls = "") {
  const div = document.createElement("div");
  div.className = cls;
  div.textContent = text;
  $("log").append(div);
  $("log").scrollTop = $("log").scrollHeight;
}

$("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const me = $("me").value.trim();
  const peer = $("peer").value.trim();
  if (client) await client.close();

  // A stable device id per browser and user, so that delivery cursors survive reloads.
  const key = `magpie-device-${me}`;
  const deviceId = localStorage.getItem(key) ?? `web-${crypto.randomUUID()}`;
  localStorage.setItem(key, deviceId);

  const res = await fetch(`/config`);
  const { magpieURL } = await res.json();
  client = new MagpieClient({
    url: magpieURL,
    deviceId,
    // Called at every connection attempt: after a token expires the client gets a fresh one.
    tokenProvider: async () => {
      const r = await fetch(`/token?user=${encodeURIComponent(me)}`, { method: "POST" });
      if (!r.ok) throw new Error(`token: HTTP ${r.status}`);
      return (await r.json()).token;
    },
  });
  client.on("connected", ({ session }) => {
    $("status").textContent = `connected as ${session.userId}`;
    $("text").disabled = $("compose").querySelector("button").disabled = false;
  });
  client.on("disconnected", ({ error, willRetry, retryInMs }) => {
    $("status").textContent = willRetry ? `reconnecting in ${retryInMs} ms (${error})` : `disconnected: ${error}`;
  });
  client.on("message", (m) => {
    if (!m.members.includes(peer)) return;
    line(`${m.senderId}: ${m.content}`, m.own ? "own" : "");
    if (!m.own && document.visibilityState === "visible") client.markRead(m.convId, m.seq).catch(() => {});
  });
  client.on("receipt", (r) => {
    if (r.userId === peer) line(`${r.kind} up to #${r.seq}`, "meta");
  });
  client.start();
});

$("compose").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("text").value;
  if (!text || !client) return;
  $("text").value = "";
  // Queued at once; sent in order, retransmitted across reconnects with the same id.
  client.send($("peer").value.trim(), "text", text).catch((err) => line(`not sent: ${err.message}`, "meta"));
});
