// The app's Usage page: per UTC day, messages, active users, peak
// concurrent connections, server API calls, pushes and webhook deliveries,
// with a bar chart of the last 30 days drawn here as inline SVG (no
// library, no request elsewhere) and the same figures as a table.
import { api } from "./api.js";
import { h, field } from "./dom.js";
import { actionButton, appSubnav, heading } from "./ui.js";

export const METRICS = [
  ["messages", "Messages"],
  ["active_users", "Active users"],
  ["peak_connections", "Peak connections"],
  ["api_calls", "API calls"],
  ["pushes", "Pushes"],
  ["webhook_deliveries", "Webhook deliveries"],
];

const SVG = "http://www.w3.org/2000/svg";

/** s("tag", {attrs}, ...children): an SVG element. */
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

/** A whole step for the value axis: 1, 2 or 5 times a power of ten, about 4 ticks up to max. */
function niceStep(max) {
  const raw = Math.max(max, 4) / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((st) => st >= raw);
}

const fmt = new Intl.NumberFormat("en");

/** A bar chart of one metric over days, as an accessible SVG image. */
export function chart(days, key, label) {
  const W = 720, H = 260, L = 56, R = 12, T = 16, B = 40;
  const values = days.map((d) => d[key] || 0);
  const step = niceStep(Math.max(...values, 0));
  const top = step * Math.max(1, Math.ceil(Math.max(...values, 0) / step));
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const bw = (W - L - R) / days.length;
  const total = values.reduce((a, b) => a + b, 0);
  const titleId = "chart-title-" + key;
  const descId = "chart-desc-" + key;
  const svg = s(
    "svg",
    { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": `${titleId} ${descId}`, class: "chart", "data-metric": key },
    s("title", { id: titleId }, `${label} per day`),
    s("desc", { id: descId }, `${days.length} days from ${days[0]?.day} to ${days.at(-1)?.day}; ${fmt.format(total)} in all, at most ${fmt.format(Math.max(...values, 0))} a day. The table below lists every value.`),
  );
  for (let v = 0; v <= top; v += step) {
    svg.append(s("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }), s("text", { x: L - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, fmt.format(v)));
  }
  days.forEach((d, i) => {
    const v = values[i];
    const x = L + i * bw;
    const bar = s("rect", { x: x + bw * 0.15, y: y(v), width: bw * 0.7, height: Math.max(0, H - B - y(v)), class: "bar", "data-day": d.day, "data-value": v });
    bar.append(s("title", {}, `${d.day}: ${fmt.format(v)}`));
    svg.append(bar);
    if (i % 5 === 0 || i === days.length - 1) svg.append(s("text", { x: x + bw / 2, y: H - B + 16, class: "axis", "text-anchor": "middle" }, d.day.slice(5)));
  });
  svg.append(s("line", { x1: L, x2: W - R, y1: H - B, y2: H - B, class: "baseline" }));
  return svg;
}

export async function usagePage(appId) {
  const { app } = await api.app(appId);
  const out = [appSubnav(app, "usage"), ...heading("Usage", `What ${app.name} used each day of the last 30 (UTC). Counts reach this page within about 10 seconds.`)];
  const slot = h("div");
  const chartSlot = h("div.chart-wrap");
  const totals = h("dl.kv.totals");
  const tbody = h("tbody");
  const metric = h("select#usage-metric", { name: "metric" }, METRICS.map(([k, l]) => h("option", { value: k }, l)));
  let days = [];
  const draw = () => {
    const label = METRICS.find(([k]) => k === metric.value)[1];
    chartSlot.replaceChildren(chart(days, metric.value, label));
  };
  const load = async () => {
    ({ days } = await api.usage(app.id));
    draw();
    totals.replaceChildren(
      ...METRICS.flatMap(([k, l]) => {
        const vs = days.map((d) => d[k]);
        const v = k === "peak_connections" || k === "active_users" ? Math.max(...vs) : vs.reduce((a, b) => a + b, 0);
        return [h("dt", k === "peak_connections" || k === "active_users" ? `${l} (busiest day)` : `${l} (30 days)`), h("dd", { "data-total": k }, fmt.format(v))];
      }),
    );
    tbody.replaceChildren(
      ...days
        .slice()
        .reverse()
        .map((d) => h("tr", { "data-day": d.day }, h("th", { scope: "row" }, d.day), ...METRICS.map(([k]) => h("td", { "data-metric": k }, fmt.format(d[k]))))),
    );
  };
  metric.addEventListener("change", draw);
  await load();
  out.push(
    h(
      "section.card",
      { "aria-labelledby": "usage-chart-title" },
      h("h2#usage-chart-title", "Last 30 days"),
      h("div.rowform", field("Show", metric), actionButton("Refresh", slot, load)),
      chartSlot,
      totals,
      slot,
    ),
    h(
      "section.card",
      { "aria-labelledby": "usage-table-title" },
      h("h2#usage-table-title", "By day"),
      h("p.muted", "Peak connections add up each gateway's own peak: with several gateways, an upper bound."),
      h(
        "table",
        { "aria-labelledby": "usage-table-title" },
        h("thead", h("tr", h("th", { scope: "col" }, "Day"), ...METRICS.map(([, l]) => h("th", { scope: "col" }, l)))),
        tbody,
      ),
    ),
  );
  return out;
}
