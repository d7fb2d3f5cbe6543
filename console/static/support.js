// The app's Customer service page: its agents (skills, capacity, load,
// whether they are available and online), the waiting queue in order and
// the open sessions; owners and admins add and change agents, transfer a
// session to an agent or a skill queue, and close it. Every change goes
// through the same support service as the server API's, so the visitor and
// the agents are told by system messages and the app's webhooks hear of it.
import { api } from "./api.js";
import { h, field, fmtTime } from "./dom.js";
import { actionButton, appSubnav, confirmDialog, heading, onSubmit, toast } from "./ui.js";

const yesNo = (v, yes, no) => h(v ? "span.badge.on" : "span.badge.off", v ? yes : no);

export async function supportPage(appId, manage) {
  const { app } = await api.app(appId);
  const out = [
    appSubnav(app, "support"),
    ...heading("Customer service", `${app.name}'s agents, the visitors waiting for one and the open sessions. A new session goes to the least-loaded available, online agent with its skill (or to the app's routing webhook); with none free the visitor waits.`),
  ];
  const slot = h("div");
  const agentsBody = h("tbody");
  const queueBody = h("tbody");
  const openBody = h("tbody");
  const noAgents = h("p.muted", { hidden: true }, "No agents yet.");
  const noQueue = h("p.muted", { hidden: true }, "Nobody is waiting.");
  const noOpen = h("p.muted", { hidden: true }, "No open sessions.");
  let agents = [];

  /** Where a session can go: an agent (with room) or a skill's queue. */
  const targetSelect = (ss) => {
    const skills = [...new Set(["", ...agents.flatMap((a) => a.skills)])];
    return h(
      "select",
      { name: "to", "aria-label": `Transfer session ${ss.id} to` },
      agents.filter((a) => a.user_id !== ss.agent_id).map((a) => h("option", { value: "agent:" + a.user_id }, `${a.user_id} (${a.active}/${a.capacity}${a.online ? ", online" : ""})`)),
      skills.map((s) => h("option", { value: "skill:" + s }, s ? `queue: ${s}` : "queue: default")),
    );
  };
  const sessionActions = (ss, rowSlot) => {
    const to = targetSelect(ss);
    return h(
      "td",
      h(
        "div.rowform",
        to,
        actionButton(ss.state === "waiting" ? "Assign" : "Transfer", rowSlot, async () => {
          const [kind, v] = [to.value.slice(0, to.value.indexOf(":")), to.value.slice(to.value.indexOf(":") + 1)];
          const { session } = await api.transferSession(app.id, ss.id, kind === "agent" ? { agent_id: v } : { skill: v });
          toast(session.agent_id ? `Session ${ss.id} is now ${session.agent_id}'s` : `Session ${ss.id} waits in the queue`);
          await load();
        }),
        actionButton("Close", rowSlot, async () => {
          if (!(await confirmDialog(`Close session ${ss.id}?`, `The visitor ${ss.visitor_id}${ss.agent_id ? " and the agent " + ss.agent_id : ""} are told it closed.`, "Close session"))) return;
          await api.closeSession(app.id, ss.id);
          toast(`Session ${ss.id} closed`);
          await load();
        }, "danger"),
      ),
      rowSlot,
    );
  };
  const sessionRow = (ss, cells) => {
    const rowSlot = h("div");
    return h("tr", { "data-session": ss.id }, cells, manage ? sessionActions(ss, rowSlot) : null);
  };

  const agentForm = h(
    "form.card",
    { "aria-labelledby": "agent-form-title", novalidate: true },
    h("h2#agent-form-title", "Add or change an agent"),
    h("p.muted", "Any user of the app can be an agent. An agent that becomes available takes the waiting visitors of its skills at once."),
    h(
      "div.grid",
      field("Agent user id", h("input", { name: "user", autocomplete: "off", required: true, "data-field": "user" })),
      field("Skills", h("input", { name: "skills", autocomplete: "off", "data-field": "skills" }), "Comma-separated, such as billing, vip. Every agent serves the default queue."),
      field("Capacity", h("input", { name: "capacity", type: "number", min: 1, max: 1000, value: 1, required: true, "data-field": "capacity" }), "Open sessions at once."),
    ),
    h("div.check", h("input#agent-available", { name: "available", type: "checkbox", checked: true }), h("label.inline", { for: "agent-available" }, "Available for new sessions")),
    h("div.actions", h("button.primary", { type: "submit" }, "Save agent")),
  );
  onSubmit(agentForm, async (fd) => {
    const user = String(fd.get("user") || "").trim();
    if (!user) {
      const err = new Error("user: enter the agent's user id");
      err.field = "user";
      throw err;
    }
    const skills = String(fd.get("skills") || "").split(",").map((s) => s.trim()).filter(Boolean);
    const { agent } = await api.putAgent(app.id, user, { skills, capacity: Number(fd.get("capacity")), available: fd.get("available") === "on" });
    toast(`Agent ${agent.user_id} saved`);
    await load();
  });
  const edit = (a) => {
    agentForm.elements.user.value = a.user_id;
    agentForm.elements.skills.value = a.skills.join(", ");
    agentForm.elements.capacity.value = String(a.capacity);
    agentForm.elements.available.checked = a.available;
    agentForm.elements.user.focus();
  };

  const load = async () => {
    const [ag, waiting, active] = await Promise.all([api.agents(app.id), api.supportSessions(app.id, "waiting"), api.supportSessions(app.id, "active")]);
    agents = ag.agents;
    agentsBody.replaceChildren(
      ...agents.map((a) => {
        const rowSlot = h("div");
        return h(
          "tr",
          { "data-agent": a.user_id },
          h("td", h("code", a.user_id)),
          h("td", a.skills.length ? a.skills.join(", ") : h("span.muted", "default only")),
          h("td", { "data-load": a.user_id }, `${a.active} of ${a.capacity}`),
          h("td", yesNo(a.available, "available", "away")),
          h("td", { "data-online": a.user_id }, yesNo(a.online, "online", "offline")),
          manage
            ? h(
                "td",
                h("button.small", { type: "button", on: { click: () => edit(a) } }, "Edit"),
                actionButton("Remove", rowSlot, async () => {
                  if (!(await confirmDialog(`Remove agent ${a.user_id}?`, "The user stays; only an agent without open sessions can be removed.", "Remove agent"))) return;
                  await api.deleteAgent(app.id, a.user_id);
                  toast(`Agent ${a.user_id} removed`);
                  await load();
                }, "danger small"),
                rowSlot,
              )
            : null,
        );
      }),
    );
    noAgents.hidden = agents.length > 0;
    queueBody.replaceChildren(
      ...waiting.sessions.map((ss, i) =>
        sessionRow(ss, [h("td", String(i + 1)), h("td", h("code", ss.id)), h("td", h("code", ss.visitor_id)), h("td", ss.skill || "default"), h("td", fmtTime(ss.created_at))]),
      ),
    );
    noQueue.hidden = waiting.sessions.length > 0;
    openBody.replaceChildren(
      ...active.sessions.map((ss) =>
        sessionRow(ss, [h("td", h("code", ss.id)), h("td", h("code", ss.visitor_id)), h("td", { "data-agent-of": ss.id }, h("code", ss.agent_id)), h("td", ss.skill || "default"), h("td", fmtTime(ss.assigned_at))]),
      ),
    );
    noOpen.hidden = active.sessions.length > 0;
  };
  await load();

  const table = (titleId, cols, body) =>
    h("table", { "aria-labelledby": titleId }, h("thead", h("tr", [...cols, ...(manage ? ["Actions"] : [])].map((c) => h("th", { scope: "col" }, c)))), body);
  out.push(
    h("div.actions", actionButton("Refresh", slot, load)),
    slot,
    h("section.card", { "aria-labelledby": "agents-title" }, h("h2#agents-title", "Agents"), table("agents-title", ["User", "Skills", "Open sessions", "Status", "Presence"], agentsBody), noAgents),
    manage ? agentForm : null,
    h("section.card", { "aria-labelledby": "queue-title" }, h("h2#queue-title", "Waiting queue"), table("queue-title", ["Position", "Session", "Visitor", "Skill", "Waiting since"], queueBody), noQueue),
    h("section.card", { "aria-labelledby": "open-title" }, h("h2#open-title", "Open sessions"), table("open-title", ["Session", "Visitor", "Agent", "Skill", "Assigned"], openBody), noOpen),
  );
  return out;
}
