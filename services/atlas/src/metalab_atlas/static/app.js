"use strict";
// Atlas UI: hash routes over the JSON API (/api/openapi.json). No framework, no build step.
// Every value from the store goes into the page through textContent, never as HTML.

const main = () => document.getElementById("main");
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

async function api(path, params) {
  const url = new URL(path, location.origin);
  for (const [key, value] of params || []) url.searchParams.append(key, value);
  const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

// `float`: the store recorded a float (the API lists such fields in a run's `floats`), which
// JSON parsing turns into an integer: shown as 1.0, not 1.
function fmt(value, float) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") {
    if (!Number.isInteger(value)) return value.toPrecision(5).replace(/\.?0+(e|$)/, "$1");
    return float && Math.abs(value) < 1e16 ? value.toFixed(1) : String(value);
  }
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
const OVERVIEW_BADGES = 50; // SLURM badges asked for on the overview (the first experiments)

// A directory of stores (multi-store): a row per store above the table, each a link that
// shows only its experiments (`#/?store=KEY`, "." the root's own); "all stores" shows every one.
function storePicker(stores, chosen) {
  const link = (key, label, n, runs) => el("a", {
    href: key === null ? "#/" : `#/?store=${enc(key || ".")}`, class: chosen === key ? "store chosen" : "store",
    "data-store": key === null ? "*" : key || ".",
  }, label, el("span", { class: "muted" }, ` ${n} experiment${n === 1 ? "" : "s"}, ${runs} run${runs === 1 ? "" : "s"}`));
  const total = (k) => stores.stores.reduce((n, st) => n + st[k], 0);
  return el("p", { id: "stores", class: "stores" }, el("span", { class: "muted" }, `${stores.stores.length} stores:`), " ",
    link(null, "all stores", total("experiments"), total("runs")),
    stores.stores.map((st) => [" · ", link(st.key, st.key ? st.path : "(root)", st.experiments, st.runs)]),
    stores.truncated ? el("span", { class: "muted" }, ` (the first ${stores.limits.stores})`) : null);
}

async function overview(search) {
  const [data, stores] = await Promise.all([api("/api/experiments"), api("/api/stores")]);
  const multi = stores.stores.length > 1;
  const wanted = search && search.get("store");
  const chosen = wanted === null || wanted === undefined ? null : wanted === "." ? "" : wanted;
  const shown = chosen === null ? data.experiments : data.experiments.filter((e) => (e.store || "") === chosen);
  const badges = [];
  const rows = shown.map((e, i) => {
    const badge = el("span", { class: "slurm-badge hidden", "data-badge": e.experiment_id });
    if (i < OVERVIEW_BADGES) badges.push(() => slurmBadge(e.experiment_id, badge).catch(() => {}));
    return el("tr", { "data-experiment": e.experiment_id },
      el("td", {}, el("a", { href: `#/e/${enc(e.experiment_id)}` }, e.name), " ", badge),
      multi ? el("td", { class: "muted", "data-store": e.store || "." }, e.store ? stores.stores.find((st) => st.key === e.store).path : "(root)") : null,
      el("td", {}, Object.entries(e.counts).sort().map(([s, n]) => [statusBadge(`${s}`), ` ${n} `])),
      el("td", {}, el("span", { class: "bar", title: e.progress === null ? "" : `${Math.round(e.progress * 100)}%` },
        el("span", { style: `width:${Math.round((e.progress || 0) * 100)}%` })),
        ` ${e.runs}/${e.total_runs}`),
      el("td", { class: "muted" }, e.operation),
      el("td", { title: e.last_activity || "" }, when(e.last_activity)));
  });
  const heads = ["Experiment", multi ? "Store" : null, "Runs by status", "Progress", "Operation", "Last activity"];
  show(el("h1", {}, "Experiments"), multi ? storePicker(stores, chosen) : null,
    rows.length ? el("table", { id: "experiments" },
      el("tr", {}, heads.filter(Boolean).map((h) => el("th", {}, h))),
      rows) : el("p", { class: "muted" }, "No experiments in this store yet."));
  badges.forEach((load) => load());
  const active = data.experiments.some((e) => (e.counts.running || 0) > 0);
  schedule(active ? 3000 : 15000, () => overview(search));
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
  // an experiment of a nested store (multi-store): a way back to that store's experiments
  const store = id.includes("::") ? id.slice(0, id.lastIndexOf("::")) : null;
  return el("p", { class: "tabs" }, store === null ? null : el("a", { href: `#/?store=${enc(store)}`, id: "tab-store", class: "muted" }, `store ${store}`),
    tab("runs", `#/e/${enc(id)}`), tab("plot", `#/e/${enc(id)}/plot`),
    tab("curves", `#/e/${enc(id)}/curves`), tab("histogram", `#/e/${enc(id)}/histogram`),
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
  const exportLink = (format) => {
    const link = el("a", { id: `export-${format}`, class: "button", download: "" }, format.toUpperCase());
    const refresh = () => { link.href = exportUrl(id, state, format); };
    link.addEventListener("mouseenter", refresh);
    link.addEventListener("focus", refresh);
    refresh();
    return link;
  };
  const exports = el("span", { id: "export" }, "Export:", exportLink("csv"), exportLink("json"), exportLink("parquet"));
  const badge = el("span", { id: "slurm-badge", class: "hidden" });
  const loadBadge = () => slurmBadge(id, badge).catch(() => {});
  show(el("h1", {}, exp.name, " ", el("span", { class: "muted" }, exp.operation), " ", badge), experimentTabs(id, "runs"),
    el("div", { class: "controls" }, search, statuses, columns, compare, exports),
    el("div", { class: "controls" }, "Filter:", field, op, value, el("button", { id: "filter-add", on: { click: addFilter } }, "Add"), chipBox),
    body);
  await render();
  loadBadge();
  // While runs are in flight, refresh the table only (the controls keep focus and input).
  const tick = async () => {
    await render();
    loadBadge();
    const now = await api(`/api/experiments/${enc(id)}`);
    if ((now.counts.running || 0) > 0) schedule(5000, tick);
  };
  if ((exp.counts.running || 0) > 0) schedule(5000, tick);
}

// SLURM: the experiment's jobs and how many of their tasks squeue lists in each state; once
// none is queued, their final states from sacct (or "finished" where accounting is off).
async function slurmBadge(id, badge) {
  const data = await api(`/api/experiments/${enc(id)}/slurm`);
  if (!data.slurm) { badge.classList.add("hidden"); return; }
  const jobs = data.jobs.length > 3 ? `${data.jobs.slice(0, 3).join(", ")} +${data.jobs.length - 3}` : data.jobs.join(", ");
  const stateSpan = ([s, n]) => el("span", { class: `slurm-state ${s.toLowerCase()}`, "data-state": s }, `${n} ${s.toLowerCase()}`);
  const states = Object.entries(data.queued ? data.states : data.finished || {}).map(stateSpan);
  const idle = !data.squeue ? "squeue unavailable" : data.queued || states.length ? null : "finished";
  badge.replaceChildren(el("span", { class: "slurm-label" }, "SLURM"), `job ${jobs}`, ...states,
    ...(idle ? [el("span", { class: "muted slurm-idle" }, idle)] : []));
  const ended = data.queued ? "" : data.sacct === false ? "; final states unknown (sacct unavailable: no accounting storage)" : "; final states from sacct";
  badge.title = `${data.jobs.length} job(s), recorded in the ${data.source === "manifest" ? "submission manifest" : "run records"}${ended}`;
  badge.classList.remove("hidden");
}

function runSlurm(s) {
  const state = s.state || s.final;
  const label = s.state ? state.toLowerCase() : s.final ? `finished: ${s.final.toLowerCase()}` : s.squeue ? "finished" : "squeue unavailable";
  return el("td", { id: "run-slurm", title: s.state || !s.squeue ? "" : s.sacct ? "final state from sacct" : "sacct unavailable: no accounting storage" },
    el("span", { class: "slurm-label" }, "job"), ` ${s.job} `,
    state ? el("span", { class: `slurm-state ${state.toLowerCase()}`, "data-state": state }, label) : el("span", { class: "muted" }, label));
}

function exportUrl(id, state, format) {
  const url = new URL(`/api/experiments/${enc(id)}/export`, location.origin);
  for (const [key, value] of [...queryParams(state), ["format", format]]) url.searchParams.append(key, value);
  if (state.sort) { url.searchParams.append("sort", state.sort); url.searchParams.append("order", state.order); }
  return url.pathname + url.search;
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
    const floats = new Set(run.floats || []);
    box.addEventListener("change", () => box.checked ? state.selected.add(run.run_id) : state.selected.delete(run.run_id));
    return el("tr", { "data-run": run.run_id }, el("td", {}, box), cols.map((c) => {
      const v = value(run, c);
      if (c === "run_id") return el("td", {}, el("a", { href: `#/e/${enc(id)}/r/${run.run_id}` }, v));
      if (c === "status") return el("td", {}, statusBadge(v));
      return el("td", { class: typeof v === "number" ? "num" : "", "data-field": c }, fmt(v, floats.has(c)));
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
  const floats = new Set(run.floats || []);
  const kv = (obj, idName) => el("table", { id: idName }, Object.entries(obj || {}).sort().map(([k, v]) =>
    el("tr", {}, el("th", {}, k), el("td", { class: typeof v === "number" ? "num" : "" }, fmt(v, floats.has(`${idName}.${k}`))))));
  const facts = el("table", { id: "facts" }, ["status", "attempt", "seed", "host", "created_at", "started_at", "finished_at", "duration_s"]
    .map((k) => el("tr", {}, el("th", {}, k), el("td", {}, k === "status" ? statusBadge(run.status) : fmt(run[k])))),
    detail.slurm ? el("tr", {}, el("th", {}, "SLURM"), runSlurm(detail.slurm)) : null);
  const curves = Object.entries(steps.steps).map(([name]) =>
    el("div", { class: "card" }, el("h2", {}, name), el("div", { class: "curve", "data-metric": name })));
  const logs = Object.keys(detail.log_sizes).map((stream) => {
    const pre = el("pre", { id: `log-${stream}` }, detail.log_sizes[stream] ? "loading…" : "(empty)");
    if (detail.log_sizes[stream]) {
      fetch(`/api/experiments/${enc(id)}/runs/${runId}/logs/${enc(stream)}`, { credentials: "same-origin" })
        .then((r) => r.text()).then((t) => { pre.textContent = t; });
    }
    return el("div", {}, el("h2", {}, stream), pre);
  });
  const preview = el("div", { id: "preview" });
  const arraysBox = el("div", { id: "arrays" });
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
    preview, arraysBox, logs);
  loadArrays(id, runId, arraysBox).catch((e) => arraysBox.replaceChildren(el("p", { class: "error" }, e.message)));
  for (const card of curves) {
    const host = card.querySelector(".curve");
    const points = steps.steps[host.dataset.metric].filter((p) => typeof p[1] === "number");
    Charts.chart(host, { height: 220, xs: points.map((p) => p[0]), x: { label: "step", integer: true }, y: { label: host.dataset.metric },
      series: [{ label: host.dataset.metric, data: points.map((p) => p[1]), colorIdx: 0 }],
      entries: [{ label: host.dataset.metric, seriesIdx: [1], colorIdx: 0 }],
      valueOf: (_e, i) => `step ${points[i][0]}: ${fmt(points[i][1])}` });
  }
  if (run.status === "running") schedule(5000, () => runPage(id, runId));
}

// ---- arrays: a run's captured arrays, 1-D as a line, 2-D as a heatmap (server-reduced) ----
const ARRAYS_DRAWN = 4; // drawn on load; the others on "show"

async function loadArrays(id, runId, box) {
  const listed = (await api(`/api/experiments/${enc(id)}/runs/${runId}/arrays`)).arrays;
  if (!listed.length) { box.replaceChildren(); return; }
  const cards = listed.map((a, i) => {
    const host = el("div", { class: "array-chart" });
    const params = a.source === "result" ? [["result", a.name]] : [["artifact", a.path], ...(a.key ? [["key", a.key]] : [])];
    const load = () => api(`/api/experiments/${enc(id)}/runs/${runId}/array`, params)
      .then((data) => drawArray(host, data))
      .catch((e) => host.replaceChildren(el("p", { class: "error" }, e.message)));
    const button = el("button", { type: "button", on: { click: () => { button.remove(); load(); } } }, "show");
    const shape = a.shape ? a.shape.join(" × ") : "size unknown";
    const card = el("div", { class: "card array", "data-array": a.name },
      el("h3", {}, a.name, " ", el("span", { class: "muted" }, `${shape}${a.dtype ? ` ${a.dtype}` : ""} · ${a.source === "result" ? "capture.data" : "artifact"}`)),
      i < ARRAYS_DRAWN ? null : button, host);
    return { card, load, i };
  });
  box.replaceChildren(el("h2", {}, "Arrays"), el("div", { class: "grid arrays" }, cards.map((c) => c.card)));
  cards.filter((c) => c.i < ARRAYS_DRAWN).forEach((c) => c.load());
}

function drawArray(host, data) {
  const note = data.downsampled ? el("p", { class: "muted array-note" }, `shape ${data.shape.join(" × ")}, drawn as block means`) : null;
  host.dataset.kind = data.kind;
  if (data.kind === "line") {
    const chartHost = el("div", { class: "array-line" });
    host.replaceChildren(...[chartHost, note].filter(Boolean));
    Charts.chart(chartHost, { height: 220, xs: data.index, x: { label: "index" }, y: { label: data.name },
      series: [{ label: data.name, data: data.values, colorIdx: 0 }],
      entries: [{ label: data.name, seriesIdx: [1], colorIdx: 0 }],
      valueOf: (_e, i) => `[${fmt(data.index[i])}]: ${fmt(data.values[i])}` });
    return;
  }
  host.replaceChildren(...[heatmap(data), note].filter(Boolean));
}

// Viridis (perceptually uniform, colour-blind safe), 9 stops interpolated.
const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]
  .map((h) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16)));
function viridis(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
  return VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * f));
}

function heatmap(data) {
  const rows = data.values.length, cols = data.values[0].length;
  const cells = data.values.flat().filter((v) => v !== null);
  const low = Math.min(...cells), high = Math.max(...cells);
  const canvas = el("canvas", { width: cols, height: rows, class: "heatmap", "data-rows": rows, "data-cols": cols });
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(cols, rows);
  data.values.forEach((row, r) => row.forEach((v, c) => {
    const [red, green, blue] = v === null ? [255, 255, 255] : viridis(high > low ? (v - low) / (high - low) : 0.5);
    image.data.set([red, green, blue, 255], (r * cols + c) * 4);
  }));
  ctx.putImageData(image, 0, 0);
  const scale = Math.min(420 / cols, 320 / rows); // fits 420 × 320 px; cells stay square
  canvas.style.width = `${cols * scale}px`;
  canvas.style.height = `${rows * scale}px`;
  const readout = el("span", { class: "muted heatmap-value" }, "");
  canvas.addEventListener("mousemove", (e) => {
    const box = canvas.getBoundingClientRect();
    const c = Math.min(cols - 1, Math.floor((e.clientX - box.left) / box.width * cols));
    const r = Math.min(rows - 1, Math.floor((e.clientY - box.top) / box.height * rows));
    readout.textContent = `[${data.rows[r]}, ${data.cols[c]}]: ${fmt(data.values[r][c])}`;
  });
  const bar = el("span", { class: "colorbar", style: `background: linear-gradient(to right, ${VIRIDIS.map((c) => `rgb(${c.join(",")})`).join(", ")})` });
  return el("div", {}, canvas,
    el("p", { class: "heatmap-scale" }, el("span", { class: "heatmap-min" }, fmt(low)), bar, el("span", { class: "heatmap-max" }, fmt(high)), " ", readout));
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
  const facet = pick("facet", params, search.get("facet") || "", true);
  const chart = el("div", { id: "plot" });
  const draw = async () => {
    const query = [...queryParams(state), ["x", x.value], ["y", y.value]];
    if (group.value) query.push(["group", group.value]);
    if (facet.value) query.push(["facet", facet.value]);
    const data = await api(`/api/experiments/${enc(id)}/plot`, query);
    if (!data.facet) { groupedChart(chart, data.series, x.value, y.value, group.value, logX.checked, logY.checked); return; }
    const scope = data.facets.flatMap((f) => f.series.flatMap((g) => g.points));
    facetGrid(chart, data, (host, f, colours) => groupedChart(host, f.series, x.value, y.value, group.value, logX.checked, logY.checked, scope, colours));
  };
  const logX = el("input", { type: "checkbox", id: "plot-logx" });
  const logY = el("input", { type: "checkbox", id: "plot-logy" });
  for (const s of [x, y, group, facet, logX, logY]) s.addEventListener("change", () => draw().catch(fail));
  show(el("h1", {}, exp.name), experimentTabs(id, "plot"),
    el("div", { class: "controls" }, "x", x, "y", y, "group by", group, "facet by", facet,
      el("label", {}, logX, "log x"), el("label", {}, logY, "log y"),
      state.where.length || state.status.length || state.q ? el("span", { class: "muted" }, "(runs-table filters apply)") : null),
    chart);
  if (params.length && numeric.length) await draw();
}

// One line per group with error bars (mean ± sample std). Groups are nudged apart along x
// (a few pixels' worth) so that overlapping points and bars stay visible. `scope`: the points
// of every facet, when this is one of several charts on shared axes.
function groupedChart(host, series, xName, yName, groupName, logX, logY, scope, colours) {
  const short = groupName.replace(/^(params|metrics)\./, "");
  const name = (g) => (g.group === null ? yName : `${short} = ${fmt(g.group)}`);
  const all = series.flatMap((g) => g.points);
  if (!all.length) { host.replaceChildren(el("p", { class: "muted", id: "plot-empty" }, "no numeric values")); return; }
  const every = scope || all;
  const numericX = every.every((p) => typeof p.x === "number") && !(logX && every.some((p) => p.x <= 0));
  const labels = numericX ? [] : [...new Set(every.map((p) => fmt(p.x)))];
  const base = (p) => numericX ? p.x : labels.indexOf(fmt(p.x));
  const values = [...new Set(every.map(base))].sort((a, b) => a - b);
  const span = values.length > 1 ? values[values.length - 1] - values[0] : 1;
  const n = series.length;
  const nudge = (v, i) => {
    const k = i - (n - 1) / 2;
    if (!numericX) return v + k * 0.05;
    return logX ? v * Math.pow(10, k * 0.006 * Math.max(1, Math.log10(values[values.length - 1] / values[0]))) : v + k * span * 0.008;
  };
  const cells = new Map(); // x -> [group index, point]
  series.forEach((g, i) => g.points.forEach((p) => cells.set(nudge(base(p), i), [i, p])));
  const xs = [...cells.keys()].sort((a, b) => a - b);
  const data = series.map((_g, i) => xs.map((x) => { const c = cells.get(x); return c && c[0] === i ? c[1].mean : null; }));
  const bars = {
    draw: [(u) => {
      const ctx = u.ctx;
      ctx.save();
      ctx.lineWidth = 1.5 * devicePixelRatio;
      xs.forEach((x) => {
        const [i, p] = cells.get(x);
        if (!u.series[i + 1].show || !p.std) return;
        const px = u.valToPos(x, "x", true);
        const lo = logY && p.mean - p.std <= 0 ? u.scales.y.min : p.mean - p.std;
        const top = u.valToPos(p.mean + p.std, "y", true), bottom = u.valToPos(lo, "y", true);
        ctx.strokeStyle = Charts.color(colourOf(colours, series[i].group, i));
        ctx.globalAlpha = u.series[i + 1].alpha === undefined ? 1 : u.series[i + 1].alpha;
        ctx.beginPath();
        ctx.moveTo(px, top); ctx.lineTo(px, bottom);
        ctx.moveTo(px - 4 * devicePixelRatio, top); ctx.lineTo(px + 4 * devicePixelRatio, top);
        ctx.moveTo(px - 4 * devicePixelRatio, bottom); ctx.lineTo(px + 4 * devicePixelRatio, bottom);
        ctx.stroke();
      });
      ctx.restore();
    }],
  };
  const lows = every.map((p) => p.mean - p.std), highs = every.map((p) => p.mean + p.std);
  const yMin = logY ? Math.min(...every.map((p) => p.mean).filter((v) => v > 0)) : Math.min(...lows);
  const yMax = Math.max(...highs);
  const pad = (yMax - yMin) * 0.06 || 1;
  const u = Charts.chart(host, {
    xs,
    x: numericX
      ? { label: xName, log: logX, range: logX ? undefined : [values[0] - span * 0.05, values[values.length - 1] + span * 0.05] }
      : { label: xName, range: [-0.5, labels.length - 0.5], splits: () => labels.map((_l, i) => i),
        values: (_u, splits) => splits.map((v) => labels[v] === undefined ? "" : labels[v]) },
    y: { label: yName, log: logY },
    series: series.map((g, i) => ({ label: name(g), data: data[i], colorIdx: colourOf(colours, g.group, i), points: true })),
    entries: series.map((g, i) => ({ label: name(g), seriesIdx: [i + 1], colorIdx: colourOf(colours, g.group, i) })),
    valueOf: (entry, idx) => {
      const c = cells.get(xs[idx]);
      if (!c || c[0] !== entry.seriesIdx[0] - 1) return "";
      return `${fmt(c[1].x)}: ${fmt(c[1].mean)} ± ${fmt(c[1].std)} (n=${c[1].n})`;
    },
    hooks: bars,
  });
  if (!logY && !host.sharedRanges) u.setScale("y", { min: yMin - pad, max: yMax + pad });
  host.dataset.series = String(series.length);
}

// ---- facets: small multiples, one chart per value of a param, on shared axes ----
function facetGrid(host, data, drawOne) {
  const short = data.facet.replace(/^(params|metrics)\./, "");
  const colours = groupColours(data.facets.flatMap((f) => (f.groups || f.series).map((g) => g.group)));
  const cards = data.facets.map((f) => {
    const chartHost = el("div", { class: "facet-chart" });
    return { f, chartHost, card: el("div", { class: "facet card", "data-facet": f.facet }, el("h3", {}, `${short} = ${f.facet}`), chartHost) };
  });
  delete host.dataset.shared;
  host.replaceChildren(...[el("div", { class: "facets", "data-facets": String(cards.length) }, cards.map((c) => c.card)),
    data.facets_total > cards.length ? el("p", { class: "muted", id: "facets-more" }, `the first ${cards.length} of ${data.facets_total} values of ${short}`) : null,
    cards.length ? null : el("p", { class: "muted", id: "facets-empty" }, `no run has a value of ${short}`)].filter(Boolean));
  cards.forEach((c) => drawOne(c.chartHost, c.f, colours));
  // uPlot sets its scales once its first draw is committed (a microtask later): then each
  // chart is drawn again on the union of their ranges.
  setTimeout(() => {
    const ranges = unionRanges(cards.map((c) => c.chartHost.uplot).filter(Boolean));
    if (!ranges || !cards.every((c) => c.chartHost.isConnected)) return;
    cards.forEach((c) => { c.chartHost.sharedRanges = ranges; drawOne(c.chartHost, c.f, colours); });
    host.dataset.shared = "true";
  }, 0);
}

// Small multiples colour alike: a group (a value of "colour by"/"group by") keeps one colour
// in every facet, its place among all facets' groups (numbers by value, then text, then
// none); each facet's legend lists only its own groups.
const groupKey = (g) => (g === null || g === undefined ? "" : typeof g === "string" ? g : JSON.stringify(g));
function groupColours(groups) {
  const rank = (k) => { const n = k === "" ? NaN : Number(k); return Number.isFinite(n) ? [0, n, ""] : [k === "" ? 2 : 1, 0, k]; };
  const keys = [...new Set(groups.map(groupKey))].sort((a, b) => {
    const [ra, rb] = [rank(a), rank(b)];
    return ra[0] - rb[0] || ra[1] - rb[1] || (ra[2] < rb[2] ? -1 : ra[2] > rb[2] ? 1 : 0);
  });
  return new Map(keys.map((k, i) => [k, i]));
}
const colourOf = (colours, group, i) => (colours ? colours.get(groupKey(group)) : i);

// One x and one y range covering what every chart drew on its own (null: nothing to share).
function unionRanges(charts) {
  if (charts.length < 2) return null;
  const ranges = {};
  for (const key of ["x", "y"]) {
    const lows = charts.map((u) => u.scales[key].min).filter(Number.isFinite);
    const highs = charts.map((u) => u.scales[key].max).filter(Number.isFinite);
    if (!lows.length || !highs.length) return null;
    ranges[key] = [Math.min(...lows), Math.max(...highs)];
  }
  return ranges;
}

// ---- learning curves ----
// EMA smoothing as TensorBoard does it (debiased, so the first points are not pulled to 0).
function ema(values, weight) {
  if (!weight) return values;
  let last = 0, k = 0;
  return values.map((v) => {
    if (v === null || v === undefined) return null;
    last = last * weight + (1 - weight) * v; k += 1;
    return last / (1 - Math.pow(weight, k));
  });
}

async function curvesPage(id, search) {
  const exp = await api(`/api/experiments/${enc(id)}`);
  const state = tableState(id, exp.fields);
  const params = exp.fields.params.map((p) => `params.${p}`);
  const metric = el("select", { id: "curves-metric" });
  const group = el("select", { id: "curves-group" }, el("option", { value: "" }, "(none)"),
    params.map((p) => el("option", { value: p }, p)));
  group.value = search.get("group") || params[0] || "";
  const facet = el("select", { id: "curves-facet" }, el("option", { value: "" }, "(none)"),
    params.map((p) => el("option", { value: p }, p)));
  facet.value = search.get("facet") || "";
  const mode = el("select", { id: "curves-mode" }, el("option", { value: "mean" }, "mean ± std"),
    el("option", { value: "range" }, "mean, min–max"), el("option", { value: "runs" }, "every run"));
  const smooth = el("input", { type: "range", id: "curves-smooth", min: "0", max: "0.99", step: "0.01", value: search.get("smooth") || "0" });
  const smoothText = el("span", { id: "curves-smooth-value" }, smooth.value);
  const logY = el("input", { type: "checkbox", id: "curves-log" });
  const runsCap = el("input", { type: "number", id: "curves-runs", min: "1", max: "1000", value: search.get("runs") || "200", size: 5 });
  const reset = el("button", { id: "curves-reset", type: "button" }, "Reset zoom");
  const info = el("p", { class: "muted", id: "curves-info" });
  const chart = el("div", { id: "curves-chart" });
  let data = null;
  const load = async () => {
    const query = [...queryParams(state), ["runs", runsCap.value || "200"]];
    if (metric.value) query.push(["metric", metric.value]);
    else if (search.get("metric")) query.push(["metric", search.get("metric")]);
    if (group.value) query.push(["group", group.value]);
    if (facet.value) query.push(["facet", facet.value]);
    data = await api(`/api/experiments/${enc(id)}/curves`, query);
    const runCount = data.facet ? data.facets.reduce((n, f) => n + f.runs.length, 0) : data.runs.length;
    const groupCount = new Set((data.facet ? data.facets.flatMap((f) => f.groups) : data.groups).map((g) => g.group)).size;
    metric.replaceChildren(...data.metrics.map((m) => el("option", { value: m }, m)));
    if (data.metric && !data.metrics.includes(data.metric)) metric.append(el("option", { value: data.metric }, data.metric));
    metric.value = data.metric || "";
    info.textContent = data.metric
      ? `${runCount} runs with ${data.metric} · ${groupCount} group${groupCount === 1 ? "" : "s"}` +
        (data.facet ? ` · ${data.facets.length} facet${data.facets.length === 1 ? "" : "s"}` : "") + " · " +
        `${data.selected} of ${data.matched} matching runs read${data.truncated ? ` (first ${data.selected}; at most ${data.limits.runs})` : ""}` +
        " · drag to zoom, double-click to reset"
      : "No stepped metrics in these runs.";
    draw();
  };
  const draw = () => {
    smoothText.textContent = Number(smooth.value).toFixed(2);
    if (!data || !data.metric) { chart.replaceChildren(); return; }
    if (!data.facet) { curvesChart(chart, data, mode.value, Number(smooth.value), logY.checked); return; }
    facetGrid(chart, data, (host, f, colours) => curvesChart(host, { ...data, ...f }, mode.value, Number(smooth.value), logY.checked, 300, colours));
  };
  for (const control of [metric, group, facet, runsCap]) control.addEventListener("change", () => load().catch(fail));
  for (const control of [mode, logY]) control.addEventListener("change", draw);
  smooth.addEventListener("input", draw);
  reset.addEventListener("click", draw);
  show(el("h1", {}, exp.name), experimentTabs(id, "curves"),
    el("div", { class: "controls" }, "metric", metric, "colour by", group, "facet by", facet, "show", mode,
      el("label", {}, "smoothing ", smooth, " ", smoothText), el("label", {}, logY, "log y"),
      el("label", {}, "runs ", runsCap), reset,
      state.where.length || state.status.length || state.q ? el("span", { class: "muted" }, "(runs-table filters apply)") : null),
    info, chart);
  await load();
  const tick = async () => {
    const now = await api(`/api/experiments/${enc(id)}`);
    if ((now.counts.running || 0) > 0) { await load(); schedule(5000, tick); }
  };
  if ((exp.counts.running || 0) > 0) schedule(5000, tick);
}

function curvesChart(host, data, mode, weight, logY, height, colours) {
  const positive = (v) => (logY && v !== null && v <= 0 ? null : v);
  const groupIndex = new Map(data.groups.map((g, i) => [g.group, i]));
  const label = (g) => (g === null ? data.metric : `${data.group.replace(/^params\./, "")} = ${g}`);
  const series = [], entries = [], valueAt = [];
  let xs;
  if (mode === "runs") {
    xs = [...new Set(data.runs.flatMap((r) => r.steps))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    data.groups.forEach((g, i) => entries.push({ label: label(g.group), seriesIdx: [], colorIdx: colourOf(colours, g.group, i), runs: 0 }));
    for (const run of data.runs) {
      const i = groupIndex.get(run.group);
      const row = new Array(xs.length).fill(null);
      const smoothed = ema(run.values, weight);
      run.steps.forEach((s, k) => { row[at.get(s)] = positive(smoothed[k]); });
      series.push({ label: run.run_id, data: row, colorIdx: entries[i].colorIdx, width: 1.25, alpha: 0.75 });
      entries[i].seriesIdx.push(series.length);
      entries[i].runs += 1;
    }
    entries.forEach((e) => { e.label = `${e.label} (${e.runs} run${e.runs === 1 ? "" : "s"})`; });
    valueAt.push((entry, idx) => {
      const vals = entry.seriesIdx.map((s) => series[s - 1].data[idx]).filter((v) => v !== null);
      return vals.length ? `step ${xs[idx]}: ${vals.map(fmt).join(", ")}` : "";
    });
  } else {
    xs = [...new Set(data.groups.flatMap((g) => g.steps))].sort((a, b) => a - b);
    const at = new Map(xs.map((x, i) => [x, i]));
    data.groups.forEach((g, n) => {
      const i = colourOf(colours, g.group, n);
      const place = (values) => { const row = new Array(xs.length).fill(null); g.steps.forEach((s, k) => { row[at.get(s)] = positive(values[k]); }); return row; };
      const mean = ema(g.mean, weight);
      const hi = mode === "range" ? ema(g.max, weight) : mean.map((m, k) => m === null ? null : m + ema(g.std, weight)[k]);
      const lo = mode === "range" ? ema(g.min, weight) : mean.map((m, k) => m === null ? null : m - ema(g.std, weight)[k]);
      const first = series.length + 1;
      series.push({ label: label(g.group), data: place(mean), colorIdx: i, width: 2.25 });
      series.push({ label: `${label(g.group)} upper`, data: place(hi), colorIdx: i, width: 0, dash: false, bandWith: first + 2 });
      series.push({ label: `${label(g.group)} lower`, data: place(lo), colorIdx: i, width: 0, dash: false });
      entries.push({ label: `${label(g.group)} (${g.runs} run${g.runs === 1 ? "" : "s"})`, seriesIdx: [first, first + 1, first + 2], colorIdx: i, group: g });
    });
    valueAt.push((entry, idx) => {
      const mean = series[entry.seriesIdx[0] - 1].data[idx];
      if (mean === null) return "";
      const hi = series[entry.seriesIdx[1] - 1].data[idx], lo = series[entry.seriesIdx[2] - 1].data[idx];
      return `step ${xs[idx]}: ${fmt(mean)} [${fmt(lo)}, ${fmt(hi)}]`;
    });
  }
  Charts.chart(host, { xs, x: { label: "step", integer: true }, y: { label: data.metric, log: logY }, series, entries, valueOf: valueAt[0], height: height || 420 });
  host.dataset.series = String(entries.length);
  host.dataset.lines = String(mode === "runs" ? series.length : entries.length);
}

// ---- histogram and distributions ----
async function histogramPage(id, search) {
  const exp = await api(`/api/experiments/${enc(id)}`);
  const state = tableState(id, exp.fields);
  const params = exp.fields.params.map((p) => `params.${p}`);
  const numeric = [...exp.fields.metrics.map((m) => `metrics.${m}`), ...params, "duration_s"];
  const pick = (name, options, chosen, blank) => el("select", { id: `histogram-${name}` },
    blank ? el("option", { value: "" }, "(none)") : null,
    options.map((o) => el("option", { value: o, selected: o === chosen ? "selected" : null }, o)));
  const field = pick("field", numeric, search.get("field") || numeric[0]);
  const group = pick("group", params, search.get("group") || "", true);
  const facet = pick("facet", params, search.get("facet") || "", true);
  const bins = el("input", { type: "number", id: "histogram-bins", min: "1", max: "200", size: 4, value: search.get("bins") || "20" });
  const share = el("input", { type: "checkbox", id: "histogram-share" });
  const info = el("p", { class: "muted", id: "histogram-info" });
  const chart = el("div", { id: "histogram" });
  const stats = el("div", { id: "histogram-cards" });
  let data = null;
  const load = async () => {
    const query = [...queryParams(state), ["field", field.value], ["bins", bins.value || "20"]];
    if (group.value) query.push(["group", group.value]);
    if (facet.value) query.push(["facet", facet.value]);
    data = await api(`/api/experiments/${enc(id)}/histogram`, query);
    const total = data.facet ? data.facets.reduce((n, f) => n + f.total, 0) : data.total;
    const missing = data.matched - total;
    info.textContent = `${total} of ${data.matched} matching runs have a number in ${data.field}` +
      (data.facet ? ` and a value of ${data.facet}` : "") + (missing ? ` (${missing} without)` : "");
    draw();
  };
  const draw = () => {
    if (data && data.facet) {
      const label = (f) => `${data.facet.replace(/^(params|metrics)\./, "")} = ${f.facet}`;
      const colours = groupColours(data.facets.flatMap((f) => f.series.map((g) => g.group)));
      facetGrid(chart, data, (host, f) => f.series.length ? histogramChart(host, { ...data, ...f }, share.checked, 260, colours) : null);
      stats.replaceChildren(...data.facets.flatMap((f) => [el("h3", {}, label(f)), distributionTable({ ...data, ...f }, `distributions-${f.facet}`, colours)]));
      return;
    }
    if (!data || !data.series.length) { chart.replaceChildren(el("p", { class: "muted", id: "histogram-empty" }, "no numeric values")); stats.replaceChildren(); return; }
    histogramChart(chart, data, share.checked);
    stats.replaceChildren(distributionTable(data));
  };
  for (const control of [field, group, facet, bins]) control.addEventListener("change", () => load().catch(fail));
  share.addEventListener("change", draw);
  show(el("h1", {}, exp.name), experimentTabs(id, "histogram"),
    el("div", { class: "controls" }, "field", field, "group by", group, "facet by", facet, el("label", {}, "bins ", bins),
      el("label", {}, share, "share of each group"),
      state.where.length || state.status.length || state.q ? el("span", { class: "muted" }, "(runs-table filters apply)") : null),
    info, chart, el("h2", {}, "Distributions"), stats);
  await load();
}

// One stepped outline per group over shared bins, lightly filled so that overlaps show.
function histogramChart(host, data, share, chartHeight, colours) {
  const short = (data.group || "").replace(/^(params|metrics)\./, "");
  const label = (g) => (g.group === null ? data.field : `${short} = ${g.group}`);
  const height = (g) => g.counts.map((c) => (share ? c / g.n : c));
  const series = data.series.map((g, i) => {
    const ys = height(g);
    return { label: label(g), data: [...ys, ys[ys.length - 1]], colorIdx: colourOf(colours, g.group, i), steps: true, fill: 0.18, width: 2 };
  });
  Charts.chart(host, {
    xs: data.edges, x: { label: data.field }, y: { label: share ? "share of runs" : "runs", integer: !share }, height: chartHeight || 360,
    series,
    entries: data.series.map((g, i) => ({ label: `${label(g)} (n=${g.n})`, seriesIdx: [i + 1], colorIdx: colourOf(colours, g.group, i) })),
    valueOf: (entry, idx) => {
      if (idx >= data.edges.length - 1) return "";
      const g = data.series[entry.seriesIdx[0] - 1];
      return `[${fmt(data.edges[idx])}, ${fmt(data.edges[idx + 1])}): ${g.counts[idx]}`;
    },
  });
  host.dataset.series = String(data.series.length);
}

function distributionTable(data, tableId, colours) {
  const columns = ["n", "mean", "std", "min", "q1", "median", "q3", "max"];
  return el("table", { id: tableId || "distributions", class: "distributions" },
    el("tr", {}, el("th", {}, data.group ? data.group.replace(/^(params|metrics)\./, "") : ""), columns.map((c) => el("th", {}, c))),
    data.series.map((g, i) => el("tr", { "data-group": g.group === null ? "" : g.group },
      el("td", {}, el("span", { class: "dot", style: `background:${Charts.color(colourOf(colours, g.group, i))}` }), g.group === null ? data.field : g.group),
      columns.map((c) => el("td", { class: "num", "data-stat": c }, fmt(g[c]))))));
}

// ---- compare ----
// Runs side by side; rows whose values differ are highlighted, numbers show their difference
// from the baseline run (click a run's "baseline" button to change it); "only differences"
// hides the rows where every run agrees.
async function comparePage(id, search) {
  const ids = (search.get("runs") || "").split(",").filter(Boolean);
  const head = [el("h1", {}, id), experimentTabs(id, "compare")];
  if (ids.length < 2) {
    show(...head, el("p", { class: "muted" }, "Select two or more runs in the runs table, then press “Compare selected”."));
    return;
  }
  const query = ids.map((r) => ["run", r]);
  if (search.get("baseline")) query.push(["baseline", search.get("baseline")]);
  const data = await api(`/api/experiments/${enc(id)}/compare`, query);
  const only = el("input", { type: "checkbox", id: "compare-only" });
  only.checked = search.get("only") === "1";
  const table = el("table", { id: "compare" });
  const rebase = (runId) => {
    const next = new URLSearchParams(search);
    next.set("baseline", runId);
    location.hash = `#/e/${enc(id)}/compare?${next}`;
  };
  const render = () => {
    const rows = [];
    const section = (name, getter, keys, differs, deltas) => {
      const shown = only.checked ? keys.filter((k) => differs.includes(k)) : keys;
      if (!shown.length) return;
      rows.push(el("tr", { class: "section" }, el("th", { colspan: ids.length + 1 }, name)));
      for (const key of shown) {
        const change = deltas[key] || [];
        rows.push(el("tr", { class: differs.includes(key) ? "diff" : "", "data-key": `${name}.${key}` }, el("td", {}, key),
          data.runs.map((r, i) => {
            const d = change[i];
            return el("td", { class: typeof getter(r)[key] === "number" ? "num" : "" },
              fmt(getter(r)[key], (r.floats || []).includes(`${name}.${key}`)),
              d ? el("span", { class: `delta ${d > 0 ? "up" : "down"}` }, ` (${d > 0 ? "+" : "−"}${fmt(Math.abs(d))})`) : null);
          })));
      }
    };
    const keys = (s) => [...new Set(data.runs.flatMap((r) => Object.keys(r[s] || {})))].sort();
    section("run", (r) => r, ["status", "attempt", "seed", "host", "duration_s", "error"], data.differs.core, data.deltas.core);
    section("params", (r) => r.params || {}, keys("params"), data.differs.params, data.deltas.params);
    section("metrics", (r) => r.metrics || {}, keys("metrics"), data.differs.metrics, data.deltas.metrics);
    table.replaceChildren(
      el("tr", {}, el("th", {}, ""), data.runs.map((r) => el("th", { class: r.run_id === data.baseline ? "baseline" : "" },
        el("a", { href: `#/e/${enc(id)}/r/${r.run_id}` }, r.run_id), " ",
        r.run_id === data.baseline ? el("span", { class: "muted", id: "baseline" }, "baseline")
          : el("button", { class: "rebase", "data-run": r.run_id, on: { click: () => rebase(r.run_id) } }, "baseline")))),
      ...rows);
  };
  only.addEventListener("change", render);
  render();
  show(...head, el("div", { class: "controls" }, el("label", {}, only, "only differences"),
    el("span", { class: "muted" }, `${data.runs.length} runs; differences from ${data.baseline}`)), table);
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
    else if (parts[0] === "e" && parts[2] === "curves") await curvesPage(parts[1], search);
    else if (parts[0] === "e" && parts[2] === "compare") await comparePage(parts[1], search);
    else if (parts[0] === "e" && parts[2] === "histogram") await histogramPage(parts[1], search);
    else if (parts[0] === "e") await experimentPage(parts[1]);
    else await overview(search);
  } catch (error) {
    fail(error);
  }
}

// ---- header: project, environment, store kind; the (redacted) locator one click away ----
async function header() {
  const about = await api("/api/about");
  const put = (id, label, value) => {
    document.getElementById(id).replaceChildren(...(value ? [el("span", { class: "muted" }, label), " ", value] : []));
  };
  put("project", "project", about.project);
  put("environment", "env", about.environment);
  put("store-kind", "store", about.store_kind === "postgres" ? "PostgreSQL" : "files");
  const locator = document.getElementById("store");
  locator.textContent = about.store;
  const button = document.getElementById("store-button");
  button.textContent = "locator";
  button.addEventListener("click", () => {
    const open = !locator.classList.toggle("hidden");
    button.setAttribute("aria-expanded", String(open));
  });
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  header().catch(() => {});
  route();
});
