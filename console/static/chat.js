// The in-browser test chat of the Messages page: an admin picks two users
// of the app, the console gets a test token for each through the
// management API and opens two WebSockets to /v1/connect speaking the real
// client protocol in its JSON form (subprotocol magpie.v1.json, see
// docs/protocol.md), logs both in, and lets the admin send from either side
// and watch each message go sent → delivered → read.
import { api } from "./api.js";
import { h, field } from "./dom.js";
import { errorBox, onSubmit, toast } from "./ui.js";

const SUBPROTOCOL = "magpie.v1.json";

/** The WebSocket URL of the client protocol on the console's own origin. */
function connectURL() {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/v1/connect";
}

function randomId(prefix) {
  const b = new Uint8Array(8);
  crypto.getRandomValues(b);
  return prefix + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/**
 * One side of the test chat: a logged-in WebSocket session of userId,
 * talking to peerId, with its own panel.
 */
class Side {
  constructor(appId, userId, peerId, label) {
    this.appId = appId;
    this.userId = userId;
    this.peerId = peerId;
    this.nextId = 1;
    this.waiting = new Map(); // request id -> {resolve, reject}
    this.sent = new Map(); // seq -> status element of a message this side sent
    this.bySendId = new Map(); // client_msg_id -> status element, until its SendAck
    this.lastReceived = 0; // the highest seq received from the peer
    this.conv = "";
    this.log = h("ol.chat-log", { "aria-live": "polite", "aria-label": `Messages seen by ${userId}` });
    this.state = h("span.badge", "connecting");
    this.slot = h("div");
    this.panel = this.buildPanel(label);
  }

  buildPanel(label) {
    const input = h("input", { name: "content", autocomplete: "off", required: true, "aria-label": `Message from ${this.userId} to ${this.peerId}` });
    const form = h("form.chat-send", { novalidate: true }, input, h("button.primary", { type: "submit" }, "Send"));
    onSubmit(form, async (fd) => {
      const content = String(fd.get("content") || "");
      if (!content.trim()) {
        const err = new Error("content: type a message");
        err.field = "content";
        throw err;
      }
      input.value = "";
      await this.send(content);
      input.focus();
    });
    const read = h("button", { type: "button" }, "Mark as read");
    read.addEventListener("click", () => this.markRead().catch((err) => this.slot.replaceChildren(errorBox(err))));
    return h(
      "section.card.chat-side",
      { "aria-label": `${label}: ${this.userId}`, "data-user": this.userId },
      h("h3", label, ": ", h("code", this.userId), " ", this.state),
      this.log,
      form,
      h("div.actions", read),
      this.slot,
    );
  }

  note(text, cls = "") {
    this.log.append(h("li.chat-note" + cls, text));
  }

  /** Sends a request frame and resolves to the reply frame (or rejects with its Error). */
  request(body) {
    const id = String(this.nextId++);
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, ...body }));
    });
  }

  async start() {
    const { token } = await api.testToken(this.appId, this.userId);
    this.ws = new WebSocket(connectURL(), SUBPROTOCOL);
    await new Promise((resolve, reject) => {
      this.ws.addEventListener("open", resolve, { once: true });
      this.ws.addEventListener("error", () => reject(new Error(`the WebSocket of ${this.userId} could not be opened`)), { once: true });
    });
    this.ws.addEventListener("message", (ev) => this.onFrame(JSON.parse(ev.data)));
    this.ws.addEventListener("close", (ev) => {
      this.state.textContent = "closed";
      this.state.className = "badge off";
      if (!this.stopping) this.note(`Connection closed: ${ev.code} ${ev.reason}`, ".chat-error");
      for (const w of this.waiting.values()) w.reject(new Error(`connection closed (${ev.code} ${ev.reason})`));
      this.waiting.clear();
      clearInterval(this.pinger);
    });
    const res = await this.request({ login: { token, device_id: randomId("console-"), platform: "web", sdk_version: "magpie-console/1" } });
    const lr = res.login_result;
    this.state.textContent = "online";
    this.state.className = "badge on";
    const beat = Number(lr.heartbeat_interval_ms || 25000);
    this.pinger = setInterval(() => this.request({ ping: {} }).catch(() => {}), beat);
  }

  onFrame(f) {
    if (f.id && this.waiting.has(f.id)) {
      const w = this.waiting.get(f.id);
      this.waiting.delete(f.id);
      if (f.error) {
        const err = new Error(`${f.error.code}: ${f.error.message || ""}` + (f.error.reason ? ` (${f.error.reason})` : ""));
        err.code = f.error.code;
        w.reject(err);
      } else w.resolve(f);
      return;
    }
    if (f.deliver) this.onDeliver(f.deliver.messages || []);
    else if (f.receipt) this.onReceipt(f.receipt);
    else if (f.error) this.note(`Error ${f.error.code}: ${f.error.message || ""}`, ".chat-error");
    else if (f.close) this.note(`Closing: ${f.close.code} ${f.close.reason || ""}`, ".chat-error");
  }

  async send(content) {
    const cid = randomId("c-");
    const status = h("span.badge", { "data-status": "sending" }, "sending");
    const item = h("li.chat-mine", h("span.chat-who", this.userId), " ", h("span.chat-text", content), " ", status);
    this.log.append(item);
    this.bySendId.set(cid, status);
    try {
      const { send_ack: ack } = await this.request({ send: { client_msg_id: cid, to_user_id: this.peerId, type: "text", content } });
      const seq = Number(ack.seq || 0);
      this.conv = ack.conv_id || this.conv;
      if (!seq) return setStatus(status, "dropped", "off");
      item.dataset.seq = String(seq);
      this.sent.set(seq, status);
      if (status.dataset.status === "sending") setStatus(status, "sent", "");
    } catch (err) {
      setStatus(status, "refused: " + err.message, "off");
    } finally {
      this.bySendId.delete(cid);
    }
  }

  onDeliver(msgs) {
    let top = 0;
    for (const m of msgs) {
      const seq = Number(m.seq || 0);
      this.conv = m.conv_id;
      top = Math.max(top, seq);
      if (m.sender_id === this.userId) continue; // our own, from another device
      this.lastReceived = Math.max(this.lastReceived, seq);
      this.log.append(h("li.chat-theirs", { "data-seq": String(seq) }, h("span.chat-who", m.sender_id), " ", h("span.chat-text", m.recalled ? "(recalled)" : m.content)));
    }
    if (top) this.request({ deliver_ack: { cursors: [{ conv_id: this.conv, seq: String(top) }] } }).catch((err) => this.note("ack: " + err.message, ".chat-error"));
  }

  onReceipt(r) {
    const seq = Number(r.seq || 0);
    const kind = { KIND_DELIVERED: "delivered", KIND_READ: "read", KIND_STORED: "stored (recipient offline)" }[r.kind];
    if (!kind || r.user_id === this.userId) return;
    const rank = { sending: 0, sent: 1, "stored (recipient offline)": 2, delivered: 3, read: 4 };
    for (const [s, status] of this.sent) {
      // Receipts are cumulative: they cover every message up to seq.
      if (s <= seq && (rank[status.dataset.status] ?? 0) < rank[kind]) setStatus(status, kind, kind === "read" || kind === "delivered" ? "on" : "");
    }
  }

  async markRead() {
    if (!this.lastReceived) {
      toast(`${this.userId} has received nothing to read yet`);
      return;
    }
    await this.request({ read: { conv_id: this.conv, seq: String(this.lastReceived) } });
    this.note(`Read up to ${this.lastReceived}`);
  }

  stop() {
    this.stopping = true;
    clearInterval(this.pinger);
    this.ws?.close(1000, "test chat ended");
  }
}

function setStatus(el, text, cls) {
  el.textContent = text;
  el.dataset.status = text;
  el.className = "badge" + (cls ? " " + cls : "");
}

/** The test chat section: pick two users, start, chat, end. */
export function testChatSection(app) {
  const list = h("datalist#chat-users");
  api.users(app.id, { limit: 100 }).then(
    (page) => list.replaceChildren(...page.users.map((u) => h("option", { value: u.id }, u.name || u.id))),
    () => {}, // suggestions only: the ids can be typed
  );
  const sides = h("div.chat-sides");
  let active = [];
  const stop = () => {
    active.forEach((s) => s.stop());
    active = [];
  };
  window.addEventListener("hashchange", stop, { once: true });
  const end = h("button", { type: "button", hidden: true }, "End test chat");
  end.addEventListener("click", () => {
    stop();
    end.hidden = true;
    toast("Test chat ended");
  });
  const form = h(
    "form.inline-form",
    { novalidate: true, "aria-label": "Start a test chat" },
    field("First user", h("input", { name: "a", list: "chat-users", required: true, autocomplete: "off", "data-field": "a" })),
    field("Second user", h("input", { name: "b", list: "chat-users", required: true, autocomplete: "off", "data-field": "b" })),
    h("div.actions", h("button.primary", { type: "submit" }, "Start test chat"), end),
    list,
  );
  onSubmit(form, async (fd) => {
    const a = String(fd.get("a") || "").trim();
    const b = String(fd.get("b") || "").trim();
    for (const [k, v] of [["a", a], ["b", b]]) {
      if (!v) {
        const err = new Error(`${k}: enter a user id`);
        err.field = k;
        throw err;
      }
    }
    stop();
    const next = [new Side(app.id, a, b, "First user"), new Side(app.id, b, a, "Second user")];
    sides.replaceChildren(...next.map((s) => s.panel));
    active = next;
    try {
      await Promise.all(next.map((s) => s.start()));
    } catch (err) {
      stop();
      throw err;
    }
    end.hidden = false;
    next[0].panel.querySelector("input").focus();
  });
  return h(
    "section.card",
    { "aria-labelledby": "chat-title" },
    h("h2#chat-title", "Test chat"),
    h(
      "p.muted",
      "Logs two users in from this browser with test tokens, over the real client protocol (WebSocket /v1/connect, JSON frames), so you can send from either side and watch each message become sent, delivered and read. Their other devices see these messages too.",
    ),
    form,
    sides,
  );
}
