"use strict";
// Atlas UI: hash routes over the JSON API (/api/openapi.json). No framework, no build step.
// Every value from the store goes into the page through textContent, never as HTML.

const main = () => document.getElementById("main");
const COLORS = ["#2f6fde", "#d0582a", "#23864a", "#8e44ad", "#c98a06", "#16a2b8", "#c4372f", "#555"];
let refreshTimer = null;
const tables = {}; // per-experiment runs-table state

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value; // CSSOM: allowed by the CSP
    else if (value !== undefined && value !== null && value !== false) node.setAttribute(key, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svgEl(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return node;
}

async function api(path, params) {
  const url = new URL(path, location.origin);
  for (const [key, value] of params || []) url.searchParams.append(key, value);
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function fmt(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toPrecision(5).replace(/\.?0+(e|$)/, "$1");
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function when(iso) {
  if (!iso) return "";
  const seconds = (Date.now() - Date.parse(iso)) / 1000;
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return iso.slice(0, 16).replace("T", " ");
}

const statusBadge = (status) => el("span", { class: `status ${status}` }, status);
const enc = encodeURIComponent;

function show(...nodes) {
  main().replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined));
}

function fail(error) {
  show(el("p", { class: "error", id: "error" }, `Error: ${error.message}`));
}

// ---- overview ----
async function overview() {
  const data = await api("/api/experiments");
  const rows = data.experiments.map((e) =>
    el("tr", { "data-experiment": e.experiment_id },
      el("td", {}, el("a", { href: `#/e/${enc(e.experiment_id)}` }, e.name)),
      el("td", {}, Object.entries(e.counts).sort().map(([s, n]) => [statusBadge(`${s}`), ` ${n} `])),
      el("td", {}, el("span", { class: "bar", title: e.progress === null ? "" : `${Math.round(e.progress * 100)}%` },
        el("span", { style: `width:${Math.round((e.progress || 0) * 100)}%` })),
        ` ${e.runs}/${e.total_runs}`),
      el("td", { class: "muted" }, e.operation),
      el("td", { title: e.last_activity || "" }, when(e.last_activity))));
  show(el("h1", {}, "Experiments"),
    rows.length ? el("table", { id: "experiments" },
      el("tr", {}, ["Experiment", "Runs by status", "Progress", "Operation", "Last activity"].map((h) => el("th", {}, h))),
      rows) : el("p", { class: "muted" }, "No experiments in this store yet."));
  const active = data.experiments.some((e) => (e.counts.running || 0) > 0);
  schedule(active ? 3000 : 15000, overview);
}

function schedule(ms, fn) {
  clearTimeout(refreshTimer);
  const hash = location.hash;
  refreshTimer = setTimeout(() => { if (location.hash === hash) fn().catch(fail); }, ms);
}

// ---- runs table ----
function tableState(id, fields) {
  if (!tables[id]) {
    tables[id] = { where: [], status: [], q: "", sort: "", order: "asc", offset: 0, limit: 50,
      columns: [...fields.params.map((p) => `params.${p}`), ...fields.metrics.map((m) => `metrics.${m}`)].slice(0, 12),
      selected: new Set() };
  }
  return tables[id];
}

function queryParams(state) {
  const params = state.where.map((w) => ["where", w]);
  if (state.status.length) params.push(["status", state.status.join(",")]);
  if (state.q) params.push(["q", state.q]);
  return params;
}

function experimentTabs(id, active) {
  const tab = (name, href) => el("a", { href, class: active === name ? "active" : "", id: `tab-${name}` }, name);
  return el("p", { class: "tabs" }, tab("runs", `#/e/${enc(id)}`), tab("plot", `#/e/${enc(id)}/plot`),
    tab("compare", `#/e/${enc(id)}/compare`));
}

async function experimentPage(id) {
  const exp = await api(`/api/experiments/${enc(id)}`);
  const state = tableState(id, exp.fields);
  const allFields = [...exp.fields.core, ...exp.fields.params.map((p) => `params.${p}`),
    ...exp.fields.metrics.map((m) => `metrics.${m}`)];
  const body = el("div", { id: "runs-body" });
  const render = () => renderRuns(id, state, body, allFields).catch((e) => body.replaceChildren(el("p", { class: "error", id: "error" }, e.message)));
  const field = el("select", { id: "filter-field" }, allFields.map((f) => el("option", { value: f }, f)));
  const op = el("select", { id: "filter-op" }, ["eq", "lt", "gt", "contains"].map((o) => el("option", { value: o }, { eq: "=", lt: "<", gt: ">", contains: "contains" }[o])));
  const value = el("input", { id: "filter-value", placeholder: "value", size: 10 });
  const addFilter = () => {
    state.where.push(`${field.value}:${op.value}:${value.value}`);
    state.offset = 0; value.value = ""; chips(); render();
  };
  value.addEventListener("keydown", (e) => { if (e.key === "Enter") addFilter(); });
  const chipBox = el("span", { id: "filters" });
  const chips = () => chipBox.replaceChildren(...state.where.map((w, i) => el("span", { class: "chip" }, w,
    el("button", { title: "remove", on: { click: () => { state.where.splice(i, 1); state.offset = 0; chips(); render(); } } }, "×"))));
  chips();
  const search = el("input", { id: "search", type: "search", placeholder: "search", value: state.q });
  search.addEventListener("input", debounce(() => { state.q = search.value; state.offset = 0; render(); }, 250));
  const statuses = ["running", "lost", "completed", "success", "failed", "cancelled"].map((s) => {
    const box = el("input", { type: "checkbox", value: s, id: `status-${s}` });
    box.checked = state.status.includes(s);
    box.addEventListener("change", () => {
      state.status = [...document.querySelectorAll("input[id^=status-]:checked")].map((b) => b.value);
      state.offset = 0; render();
    });
    return el("label", {}, box, s);
  });
  const columnList = el("div", { id: "column-list", class: "hidden" },
    allFields.filter((f) => f.includes(".")).map((f) => {
      const box = el("input", { type: "checkbox", value: f });
      box.checked = state.columns.includes(f);
      box.addEventListener("change", () => {
        state.columns = allFields.filter((c) => c === f ? box.checked : state.columns.includes(c));
        render();
      });
      return el("label", {}, box, f);
    }));
  const columns = el("span", { id: "columns" },
    el("button", { id: "column-button", on: { click: () => columnList.classList.toggle("hidden") } }, "Columns"), columnList);
  const compare = el("button", { id: "compare-button", on: { click: () => {
    location.hash = `#/e/${enc(id)}/compare?runs=${[...state.selected].join(",")}`;
  } } }, "Compare selected");
  show(el("h1", {}, exp.name, " ", el("span", { class: "muted" }, exp.operation)), experimentTabs(id, "runs"),
    el("div", { class: "controls" }, search, statuses, columns, compare),
    el("div", { class: "controls" }, "Filter:", field, op, value, el("button", { id: "filter-add", on: { click: addFilter } }, "Add"), chipBox),
    body);
  await render();
  // While runs are in flight, refresh the table only (the controls keep focus and input).
  const tick = async () => {
    await render();
    const now = await api(`/api/experiments/${enc(id)}`);
    if ((now.counts.running || 0) > 0) schedule(5000, tick);
  };
  if ((exp.counts.running || 0) > 0) schedule(5000, tick);
}

function debounce(fn, ms) {
  let timer;
  return (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
}

async function renderRuns(id, state, body, allFields) {
  const params = queryParams(state);
  if (state.sort) params.push(["sort", state.sort], ["order", state.order]);
  params.push(["offset", state.offset], ["limit", state.limit]);
  const data = await api(`/api/experiments/${enc(id)}/runs`, params);
  const cols = ["run_id", "status", ...state.columns, "duration_s"];
  const header = el("tr", {}, el("th", {}, ""), cols.map((c) => {
    const sorted = state.sort === c;
    return el("th", { class: `sortable${sorted ? " sorted" : ""}${sorted && state.order === "desc" ? " desc" : ""}`,
      "data-field": c, on: { click: () => {
        state.order = sorted && state.order === "asc" ? "desc" : "asc";
        state.sort = c; state.offset = 0; renderRuns(id, state, body, allFields).catch(fail);
      } } }, c.replace(/^(params|metrics)\./, ""));
  }));
  const value = (run, c) => c.startsWith("params.") ? run.params[c.slice(7)]
    : c.startsWith("metrics.") ? run.metrics[c.slice(8)] : run[c];
  const rows = data.runs.map((run) => {
    const box = el("input", { type: "checkbox", "data-run": run.run_id });
    box.checked = state.selected.has(run.run_id);
    box.addEventListener("change", () => box.checked ? state.selected.add(run.run_id) : state.selected.delete(run.run_id));
    return el("tr", { "data-run": run.run_id }, el("td", {}, box), cols.map((c) => {
      const v = value(run, c);
      if (c === "run_id") return el("td", {}, el("a", { href: `#/e/${enc(id)}/r/${run.run_id}` }, v));
      if (c === "status") return el("td", {}, statusBadge(v));
      return el("td", { class: typeof v === "number" ? "num" : "", "data-field": c }, fmt(v));
    }));
  });
  const last = Math.min(data.total, state.offset + state.limit);
  const pager = el("div", { class: "controls", id: "pager" },
    el("button", { id: "prev", disabled: state.offset === 0 ? "disabled" : null,
      on: { click: () => { state.offset = Math.max(0, state.offset - state.limit); renderRuns(id, state, body, allFields).catch(fail); } } }, "‹ Prev"),
    el("span", { id: "range" }, data.total ? `${state.offset + 1}–${last} of ${data.total}` : "no runs match"),
    el("button", { id: "next", disabled: last >= data.total ? "disabled" : null,
      on: { click: () => { state.offset += state.limit; renderRuns(id, state, body, allFields).catch(fail); } } }, "Next ›"));
  body.replaceChildren(el("table", { id: "runs" }, header, rows), pager);
}

// ---- run detail ----
async function runPage(id, runId) {
  const [detail, steps] = await Promise.all([
    api(`/api/experiments/${enc(id)}/runs/${runId}`),
    api(`/api/experiments/${enc(id)}/runs/${runId}/steps`)]);
  const run = detail.run;
  const kv = (obj, idName) => el("table", { id: idName }, Object.entries(obj || {}).sort().map(([k, v]) =>
    el("tr", {}, el("th", {}, k), el("td", { class: typeof v === "number" ? "num" : "" }, fmt(v)))));
  const facts = el("table", { id: "facts" }, ["status", "attempt", "seed", "host", "created_at", "started_at", "finished_at", "duration_s"]
    .map((k) => el("tr", {}, el("th", {}, k), el("td", {}, k === "status" ? statusBadge(run.status) : fmt(run[k])))));
  const curves = Object.entries(steps.steps).map(([name, points]) =>
    el("div", { class: "card" }, el("h2", {}, name), lineChart(points, name)));
  const logs = Object.keys(detail.log_sizes).map((stream) => {
    const pre = el("pre", { id: `log-${stream}` }, detail.log_sizes[stream] ? "loading…" : "(empty)");
    if (detail.log_sizes[stream]) {
      fetch(`/api/experiments/${enc(id)}/runs/${runId}/logs/${enc(stream)}`, { credentials: "same-origin" })
        .then((r) => r.text()).then((t) => { pre.textContent = t; });
    }
    return el("div", {}, el("h2", {}, stream), pre);
  });
  const preview = el("div", { id: "preview" });
  const artifacts = detail.artifacts.map((a) => {
    const url = `/api/experiments/${enc(id)}/runs/${runId}/artifacts/${a.path.split("/").map(enc).join("/")}`;
    return el("tr", {}, el("td", {}, el("a", { href: "#", on: { click: (e) => { e.preventDefault(); previewArtifact(a, url, preview); } } }, a.path)),
      el("td", { class: "num" }, a.size), el("td", {}, a.type), el("td", {}, el("a", { href: `${url}?download=true` }, "download")));
  });
  show(el("h1", {}, el("a", { href: `#/e/${enc(id)}` }, id), " / run ", el("span", { id: "run-id" }, runId)),
    el("div", { class: "grid" },
      el("div", {}, el("h2", {}, "Run"), facts),
      el("div", {}, el("h2", {}, "Params"), kv(run.params, "params")),
      el("div", {}, el("h2", {}, "Metrics"), kv(run.metrics, "metrics"))),
    run.error ? el("div", {}, el("h2", {}, "Error"), el("p", { class: "error" }, run.error)) : null,
    run.traceback ? el("pre", { id: "traceback" }, run.traceback) : null,
    curves.length ? el("div", {}, el("h2", {}, "Step metrics"), el("div", { class: "grid", id: "curves" }, curves)) : null,
    el("h2", {}, "Artifacts"),
    artifacts.length ? el("table", { id: "artifacts" }, artifacts) : el("p", { class: "muted" }, "none"),
    preview, logs);
  if (run.status === "running") schedule(5000, () => runPage(id, runId));
}

async function previewArtifact(artifact, url, box) {
  if (artifact.type.startsWith("image/")) {
    box.replaceChildren(el("h2", {}, artifact.path), el("img", { src: url, alt: artifact.path, id: "artifact-image" }));
    return;
  }
  if (artifact.type === "text/plain" || artifact.type === "application/json") {
    const text = await (await fetch(url, { credentials: "same-origin" })).text();
    let shown = text.slice(0, 200000);
    if (artifact.type === "application/json") {
      try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* show as is */ }
    }
    box.replaceChildren(el("h2", {}, artifact.path), el("pre", { id: "artifact-text" }, shown));
    return;
  }
  box.replaceChildren(el("p", { class: "muted" }, `${artifact.path}: no preview for ${artifact.type}`));
}

// ---- charts (SVG) ----
function scales(xs, ys, width, height, pad) {
  const range = (v) => { let lo = Math.min(...v), hi = Math.max(...v); if (lo === hi) { lo -= 1; hi += 1; } return [lo, hi]; };
  const [x0, x1] = range(xs), [y0, y1] = range(ys);
  return { x: (v) => pad + (v - x0) / (x1 - x0) * (width - 2 * pad), y: (v) => height - pad - (v - y0) / (y1 - y0) * (height - 2 * pad),
    x0, x1, y0, y1 };
}

function axes(svg, s, width, height, pad, xLabel, yLabel) {
  svg.append(svgEl("line", { x1: pad, y1: height - pad, x2: width - pad, y2: height - pad, stroke: "#999" }),
    svgEl("line", { x1: pad, y1: pad, x2: pad, y2: height - pad, stroke: "#999" }),
    svgEl("text", { x: pad, y: height - pad + 14 }, fmt(s.x0)), svgEl("text", { x: width - pad, y: height - pad + 14, "text-anchor": "end" }, fmt(s.x1)),
    svgEl("text", { x: pad - 4, y: height - pad, "text-anchor": "end" }, fmt(s.y0)), svgEl("text", { x: pad - 4, y: pad + 4, "text-anchor": "end" }, fmt(s.y1)),
    svgEl("text", { x: width / 2, y: height - 6, "text-anchor": "middle" }, xLabel), svgEl("text", { x: 6, y: pad - 8 }, yLabel));
}

function lineChart(points, name) {
  const width = 360, height = 200, pad = 40;
  const numeric = points.filter((p) => typeof p[1] === "number");
  const svg = svgEl("svg", { width, height, class: "curve", "data-metric": name });
  if (!numeric.length) return svg;
  const s = scales(numeric.map((p) => p[0]), numeric.map((p) => p[1]), width, height, pad);
  axes(svg, s, width, height, pad, "step", name);
  svg.append(svgEl("polyline", { fill: "none", stroke: COLORS[0], "stroke-width": 1.5,
    points: numeric.map((p) => `${s.x(p[0])},${s.y(p[1])}`).join(" ") }));
  return svg;
}

// ---- plot ----
async function plotPage(id, search) {
  const exp = await api(`/api/experiments/${enc(id)}`);
  const state = tableState(id, exp.fields);
  const pick = (name, options, chosen, blank) => el("select", { id: `plot-${name}` },
    blank ? el("option", { value: "" }, "(none)") : null,
    options.map((o) => el("option", { value: o, selected: o === chosen ? "selected" : null }, o)));
  const params = exp.fields.params.map((p) => `params.${p}`);
  const numeric = [...exp.fields.metrics.map((m) => `metrics.${m}`), ...params, "duration_s"];
  const x = pick("x", params, search.get("x") || params[0]);
  const y = pick("y", numeric, search.get("y") || numeric[0]);
  const group = pick("group", params, search.get("group") || params[1] || "", true);
  const chart = el("div", { id: "plot" });
  const draw = async () => {
    const query = [...queryParams(state), ["x", x.value], ["y", y.value]];
    if (group.value) query.push(["group", group.value]);
    const data = await api(`/api/experiments/${enc(id)}/plot`, query);
    chart.replaceChildren(groupedChart(data.series, x.value, y.value));
  };
  for (const s of [x, y, group]) s.addEventListener("change", () => draw().catch(fail));
  show(el("h1", {}, exp.name), experimentTabs(id, "plot"),
    el("div", { class: "controls" }, "x", x, "y", y, "group by", group,
      state.where.length || state.status.length || state.q ? el("span", { class: "muted" }, "(runs-table filters apply)") : null),
    chart);
  if (params.length && numeric.length) await draw();
}

function groupedChart(series, xName, yName) {
  const width = 720, height = 400, pad = 50;
  const svg = svgEl("svg", { width, height, id: "plot-svg" });
  const all = series.flatMap((g) => g.points);
  const numericX = all.every((p) => typeof p.x === "number");
  const labels = numericX ? [] : [...new Set(all.map((p) => fmt(p.x)))];
  const xOf = (p) => numericX ? p.x : labels.indexOf(fmt(p.x));
  if (!all.length) { svg.append(svgEl("text", { x: width / 2, y: height / 2, "text-anchor": "middle" }, "no numeric values")); return svg; }
  const s = scales(all.map(xOf), all.flatMap((p) => [p.mean - p.std, p.mean + p.std]), width, height, pad);
  axes(svg, s, width, height, pad, xName, yName);
  series.forEach((g, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = g.points.map((p) => [s.x(xOf(p)), s.y(p.mean), p]);
    svg.append(svgEl("polyline", { fill: "none", stroke: color, "stroke-width": 1.5, points: pts.map((p) => `${p[0]},${p[1]}`).join(" ") }));
    for (const [px, py, p] of pts) {
      svg.append(svgEl("line", { x1: px, x2: px, y1: s.y(p.mean - p.std), y2: s.y(p.mean + p.std), stroke: color, class: "errorbar" }),
        svgEl("circle", { cx: px, cy: py, r: 3.5, fill: color, class: "point" },
          svgEl("title", {}, `${fmt(p.x)}: ${fmt(p.mean)} ± ${fmt(p.std)} (n=${p.n})`)));
    }
    const legend = svgEl("text", { x: width - pad - 116, y: pad + 14 * i, class: "legend" },
      g.group === null ? yName : `${fmt(g.group)}`);
    legend.style.fill = color; // CSSOM, allowed by the CSP (inline style attributes are not)
    svg.append(legend);
  });
  labels.forEach((label, i) => svg.append(svgEl("text", { x: s.x(i), y: height - pad + 28, "text-anchor": "middle" }, label)));
  return svg;
}

// ---- compare ----
async function comparePage(id, search) {
  const ids = (search.get("runs") || "").split(",").filter(Boolean);
  const head = [el("h1", {}, id), experimentTabs(id, "compare")];
  if (ids.length < 2) {
    show(...head, el("p", { class: "muted" }, "Select two or more runs in the runs table, then press “Compare selected”."));
    return;
  }
  const data = await api(`/api/experiments/${enc(id)}/compare`, ids.map((r) => ["run", r]));
  const rows = [];
  const section = (name, getter, keys, differs) => {
    rows.push(el("tr", {}, el("th", { colspan: ids.length + 1 }, name)));
    for (const key of keys) {
      rows.push(el("tr", { class: differs.includes(key) ? "diff" : "" }, el("td", {}, key),
        data.runs.map((r) => el("td", {}, fmt(getter(r)[key])))));
    }
  };
  const keys = (s) => [...new Set(data.runs.flatMap((r) => Object.keys(r[s] || {})))].sort();
  section("run", (r) => r, ["status", "attempt", "seed", "host", "duration_s", "error"], data.differs.core);
  section("params", (r) => r.params || {}, keys("params"), data.differs.params);
  section("metrics", (r) => r.metrics || {}, keys("metrics"), data.differs.metrics);
  show(...head, el("table", { id: "compare" },
    el("tr", {}, el("th", {}, ""), data.runs.map((r) => el("th", {}, el("a", { href: `#/e/${enc(id)}/r/${r.run_id}` }, r.run_id)))),
    rows));
}

// ---- services ----
async function servicesPage() {
  const data = await api("/api/services");
  if (!data.found) { show(el("h1", {}, "Services"), el("p", { class: "muted" }, data.detail)); return; }
  const b = data.bundle;
  const facts = ["project", "environment", "backend", "state", "job_id", "expires_at", "store_locator"]
    .filter((k) => b[k] !== undefined && b[k] !== "").map((k) => el("tr", {}, el("th", {}, k), el("td", {}, fmt(b[k]))));
  const services = Object.entries(b.services || {}).map(([name, h]) => el("tr", { "data-service": name },
    el("td", {}, name), el("td", {}, h.url || `${h.host}:${h.port}`), el("td", {}, fmt(h.pid)),
    el("td", {}, fmt(h.job_id || b.job_id)), el("td", {}, fmt(h.started_at))));
  show(el("h1", {}, "Services"), el("table", { id: "bundle" }, facts),
    el("h2", {}, "Processes"), el("table", { id: "services" },
      el("tr", {}, ["service", "where", "pid", "job", "started"].map((h) => el("th", {}, h))), services));
}

// ---- router ----
async function route() {
  clearTimeout(refreshTimer);
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  const search = new URLSearchParams(query || "");
  const parts = (path || "/").split("/").filter(Boolean).map(decodeURIComponent);
  try {
    if (parts[0] === "services") await servicesPage();
    else if (parts[0] === "e" && parts[2] === "r") await runPage(parts[1], parts[3]);
    else if (parts[0] === "e" && parts[2] === "plot") await plotPage(parts[1], search);
    else if (parts[0] === "e" && parts[2] === "compare") await comparePage(parts[1], search);
    else if (parts[0] === "e") await experimentPage(parts[1]);
    else await overview();
  } catch (error) {
    fail(error);
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  api("/api/health").then((h) => { document.getElementById("store").textContent = `${h.store_kind}: ${h.store}`; }).catch(() => {});
  route();
});
