// The management API client: every request the console makes goes through
// here, to /manage/v1 on the console's own origin, with the session token.

const KEY = "magpie.console.session";

/** An error answered by the API: its HTTP status, code, message, field and request id. */
export class ApiError extends Error {
  constructor(status, body, requestId) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "http_" + status;
    this.field = e.field || "";
    this.requestId = e.request_id || requestId || "";
  }
}

export function token() {
  return sessionStorage.getItem(KEY) || "";
}

export function setToken(t) {
  if (t) sessionStorage.setItem(KEY, t);
  else sessionStorage.removeItem(KEY);
}

/** Called with the error when a request answers 401 (the session ended). */
let onUnauthenticated = () => {};
export function whenSignedOut(fn) {
  onUnauthenticated = fn;
}

/** Calls the management API; resolves to the parsed JSON body (or null for 204). */
export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  const init = { method, headers, credentials: "omit", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch("/manage/v1" + path, init);
  } catch (err) {
    throw new ApiError(0, { error: { code: "network", message: "the server could not be reached: " + err.message } });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: { message: text.slice(0, 200) } };
    }
  }
  if (!res.ok) {
    const err = new ApiError(res.status, data, res.headers.get("X-Request-Id"));
    if (res.status === 401 && t && path !== "/sessions") onUnauthenticated(err);
    throw err;
  }
  return data;
}

export const enc = encodeURIComponent;

export const api = {
  login: (email, password, tenantId) => call("POST", "/sessions", { email, password, tenant_id: tenantId || "" }),
  logout: () => call("DELETE", "/sessions/current"),
  me: () => call("GET", "/me"),
  changePassword: (current, next) => call("POST", "/me/password", { current_password: current, new_password: next }),
  tenants: (after) => call("GET", "/tenants?limit=100" + (after ? "&after=" + enc(after) : "")),
  createTenant: (name) => call("POST", "/tenants", { name }),
  apps: (tid, after) => call("GET", `/tenants/${enc(tid)}/apps?limit=50` + (after ? "&after=" + enc(after) : "")),
  createApp: (tid, name) => call("POST", `/tenants/${enc(tid)}/apps`, { name }),
  app: (id) => call("GET", `/apps/${enc(id)}`),
  updateApp: (id, patch) => call("PATCH", `/apps/${enc(id)}`, patch),
  secrets: (id) => call("GET", `/apps/${enc(id)}/secrets`),
  createSecret: (id) => call("POST", `/apps/${enc(id)}/secrets`),
  revokeSecret: (id, sid) => call("DELETE", `/apps/${enc(id)}/secrets/${enc(sid)}`),
  members: (tid) => call("GET", `/tenants/${enc(tid)}/members`),
  addMember: (tid, m) => call("POST", `/tenants/${enc(tid)}/members`, m),
  updateMember: (tid, mid, patch) => call("PATCH", `/tenants/${enc(tid)}/members/${enc(mid)}`, patch),
  removeMember: (tid, mid) => call("DELETE", `/tenants/${enc(tid)}/members/${enc(mid)}`),
  endSessions: (tid, mid) => call("DELETE", `/tenants/${enc(tid)}/members/${enc(mid)}/sessions`),
  resetPassword: (tid, mid) => call("POST", `/tenants/${enc(tid)}/members/${enc(mid)}:reset-password`),
  users: (app, { prefix = "", cursor = "", limit = 20 } = {}) =>
    call("GET", `/apps/${enc(app)}/users?limit=${limit}` + (prefix ? "&prefix=" + enc(prefix) : "") + (cursor ? "&cursor=" + enc(cursor) : "")),
  user: (app, id) => call("GET", `/apps/${enc(app)}/users/${enc(id)}`),
  userDevices: (app, id) => call("GET", `/apps/${enc(app)}/users/${enc(id)}/devices`),
  userConversations: (app, id, cursor) => call("GET", `/apps/${enc(app)}/users/${enc(id)}/conversations?limit=20` + (cursor ? "&cursor=" + enc(cursor) : "")),
  blockUser: (app, id, block) => call("POST", `/apps/${enc(app)}/users/${enc(id)}:${block ? "block" : "unblock"}`),
  revokeTokens: (app, id) => call("POST", `/apps/${enc(app)}/users/${enc(id)}/tokens:revoke`),
  testToken: (app, id) => call("POST", `/apps/${enc(app)}/users/${enc(id)}/tokens`),
  deleteUser: (app, id, erase) => call("DELETE", `/apps/${enc(app)}/users/${enc(id)}?erase_messages=${erase ? "true" : "false"}`),
  messages: (app, conv, q) => call("GET", `/apps/${enc(app)}/conversations/${enc(conv)}/messages?` + new URLSearchParams(q).toString()),
  recall: (app, conv, seq) => call("POST", `/apps/${enc(app)}/conversations/${enc(conv)}/messages/${seq}:recall`),
  sendSystem: (app, m) => call("POST", `/apps/${enc(app)}/messages`, m),
  webhooks: (app) => call("GET", `/apps/${enc(app)}/webhooks`),
  createWebhook: (app, w) => call("POST", `/apps/${enc(app)}/webhooks`, w),
  updateWebhook: (app, id, patch) => call("PATCH", `/apps/${enc(app)}/webhooks/${enc(id)}`, patch),
  deleteWebhook: (app, id) => call("DELETE", `/apps/${enc(app)}/webhooks/${enc(id)}`),
  rotateWebhookSecret: (app, id, overlap) => call("POST", `/apps/${enc(app)}/webhooks/${enc(id)}:rotate-secret`, { overlap_seconds: overlap }),
  revokeWebhookSecret: (app, id, sid) => call("DELETE", `/apps/${enc(app)}/webhooks/${enc(id)}/secrets/${enc(sid)}`),
  testWebhook: (app, id) => call("POST", `/apps/${enc(app)}/webhooks/${enc(id)}:test`),
  webhookAttempts: (app, id, before) => call("GET", `/apps/${enc(app)}/webhooks/${enc(id)}/attempts?limit=20` + (before ? "&before=" + enc(before) : "")),
  replayWebhookEvent: (app, id, ev) => call("POST", `/apps/${enc(app)}/webhooks/${enc(id)}/events/${enc(ev)}:replay`),
  keywords: (app) => call("GET", `/apps/${enc(app)}/moderation/keywords`),
  setKeywords: (app, rules) => call("PUT", `/apps/${enc(app)}/moderation/keywords`, { rules }),
  pushCredentials: (app) => call("GET", `/apps/${enc(app)}/push/credentials`),
  setPushCredential: (app, provider, body) => call("PUT", `/apps/${enc(app)}/push/credentials/${enc(provider)}`, body),
  deletePushCredential: (app, provider) => call("DELETE", `/apps/${enc(app)}/push/credentials/${enc(provider)}`),
  checkPushCredential: (app, provider) => call("POST", `/apps/${enc(app)}/push/credentials/${enc(provider)}:check`),
  pushLog: (app, q) => call("GET", `/apps/${enc(app)}/push/log?` + new URLSearchParams({ limit: "20", ...q }).toString()),
  pushOutbox: (app, q) => call("GET", `/apps/${enc(app)}/push/outbox?` + new URLSearchParams({ limit: "20", ...q }).toString()),
  usage: (app) => call("GET", `/apps/${enc(app)}/usage`),
  searchMessages: (app, user, q) => call("GET", `/apps/${enc(app)}/users/${enc(user)}/messages/search?` + new URLSearchParams(q).toString()),
  agents: (app) => call("GET", `/apps/${enc(app)}/support/agents`),
  putAgent: (app, user, a) => call("PUT", `/apps/${enc(app)}/support/agents/${enc(user)}`, a),
  deleteAgent: (app, user) => call("DELETE", `/apps/${enc(app)}/support/agents/${enc(user)}`),
  supportSessions: (app, state) => call("GET", `/apps/${enc(app)}/support/sessions?state=${enc(state)}&limit=500`),
  transferSession: (app, id, to) => call("POST", `/apps/${enc(app)}/support/sessions/${enc(id)}:transfer`, to),
  closeSession: (app, id) => call("POST", `/apps/${enc(app)}/support/sessions/${enc(id)}:close`),
  rooms: (app, cursor, limit) => call("GET", `/apps/${enc(app)}/rooms?limit=${limit}` + (cursor ? "&cursor=" + enc(cursor) : "")),
  closeRoom: (app, id) => call("DELETE", `/apps/${enc(app)}/rooms/${enc(id)}`),
};
