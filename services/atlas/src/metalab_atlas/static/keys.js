"use strict";
// Search modal and keyboard shortcuts (uses app.js's el, api, enc, fmt).
// `/` search · `g e` experiments · `g r` the current (or last visited) experiment's runs ·
// `g p` / `g c` / `g h` its plot, curves, histogram · `?` this list · Esc closes a dialog.
// Dialogs are modal: focus moves into them, Tab stays inside, Esc closes and gives focus back.

(() => {
  const SHORTCUTS = [
    ["/", "search experiments and runs (id, name, param values)"],
    ["g e", "experiments"],
    ["g r", "runs of the current experiment"],
    ["g p", "plot of the current experiment"],
    ["g c", "learning curves of the current experiment"],
    ["g h", "histogram of the current experiment"],
    ["?", "this list of shortcuts"],
    ["Esc", "close the dialog"],
    ["↑ ↓ Enter", "in search: move through the results, open one"],
  ];
  let open = null; // {box, restore}
  let pendingG = 0;
  let lastExperiment = null;

  const typing = (t) => t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName));
  const focusable = (box) => [...box.querySelectorAll("a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])")]
    .filter((e) => !e.disabled && e.offsetParent !== null && e.getAttribute("tabindex") !== "-1");

  function currentExperiment() {
    const parts = location.hash.replace(/^#/, "").split("?")[0].split("/").filter(Boolean);
    return parts[0] === "e" && parts[1] ? decodeURIComponent(parts[1]) : null;
  }

  function dialog(id, title, ...body) {
    close();
    const heading = el("h2", { id: `${id}-title` }, title);
    const shut = el("button", { type: "button", class: "dialog-close", "aria-label": "close", on: { click: close } }, "×");
    const box = el("div", { id, class: "dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": `${id}-title` },
      el("div", { class: "dialog-head" }, heading, shut), ...body);
    const backdrop = el("div", { class: "backdrop", id: `${id}-backdrop`, on: { mousedown: (e) => { if (e.target === backdrop) close(); } } }, box);
    open = { box, backdrop, restore: document.activeElement };
    document.body.append(backdrop);
    document.getElementById("main").setAttribute("aria-hidden", "true");
    return box;
  }

  function close() {
    if (!open) return;
    const { backdrop, restore } = open;
    open = null;
    backdrop.remove();
    document.getElementById("main").removeAttribute("aria-hidden");
    if (restore && restore.isConnected && typeof restore.focus === "function") restore.focus();
  }

  function trap(e) {
    if (!open || e.key !== "Tab") return;
    const items = focusable(open.box);
    if (!items.length) { e.preventDefault(); return; }
    const first = items[0], last = items[items.length - 1];
    if (e.shiftKey && (document.activeElement === first || !open.box.contains(document.activeElement))) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && (document.activeElement === last || !open.box.contains(document.activeElement))) { e.preventDefault(); first.focus(); }
  }

  function showShortcuts() {
    const box = dialog("shortcuts", "Keyboard shortcuts",
      el("table", { id: "shortcut-list" }, SHORTCUTS.map(([k, what]) =>
        el("tr", {}, el("td", {}, k.split(" ").flatMap((part, i) => [i ? " " : null, el("kbd", {}, part)])), el("td", {}, what)))));
    box.querySelector(".dialog-close").focus();
  }

  const paramsText = (run) => Object.entries(run.params || {}).slice(0, 6)
    .map(([k, v]) => `${k}=${fmt(v, (run.floats || []).includes(`params.${k}`))}`).join(" ");

  function showSearch() {
    const input = el("input", { id: "search-input", type: "search", placeholder: "experiment, run id, param value…", "aria-label": "search",
      autocomplete: "off", "aria-controls": "search-results" });
    const status = el("p", { id: "search-status", class: "muted", role: "status", "aria-live": "polite" }, "Type to search.");
    const list = el("ul", { id: "search-results", role: "listbox", "aria-label": "results" });
    dialog("search-dialog", "Search", input, status, list);
    input.focus();
    let controller = null, timer = null, active = -1;
    const items = () => [...list.querySelectorAll("a")];
    const mark = (n) => {
      const links = items();
      active = links.length ? (n + links.length) % links.length : -1;
      links.forEach((a, k) => a.setAttribute("aria-selected", String(k === active)));
      if (active >= 0) input.setAttribute("aria-activedescendant", links[active].id);
      else input.removeAttribute("aria-activedescendant");
    };
    const run = async () => {
      const q = input.value.trim();
      if (controller) controller.abort();
      if (!q) { list.replaceChildren(); status.textContent = "Type to search."; return; }
      controller = new AbortController();
      const url = new URL("/api/search", location.origin);
      url.searchParams.set("q", q);
      let data;
      try {
        const response = await fetch(url, { credentials: "same-origin", signal: controller.signal, headers: { Accept: "application/json" } });
        data = await response.json();
        if (!response.ok) throw new Error(data.error || response.statusText);
      } catch (error) {
        if (error.name !== "AbortError") status.textContent = `Error: ${error.message}`;
        return;
      }
      let n = 0;
      const option = (href, kind, ...text) => el("li", { role: "presentation" },
        el("a", { href, id: `search-result-${n++}`, role: "option", "data-kind": kind, "aria-selected": "false", tabindex: "-1",
          on: { click: () => close() } }, ...text));
      list.replaceChildren(
        ...data.experiments.map((e) => option(`#/e/${enc(e.experiment_id)}`, "experiment",
          el("span", { class: "search-kind" }, "experiment"), " ", e.name, " ", el("span", { class: "muted" }, `${e.runs} runs · ${e.operation || ""}`))),
        ...data.runs.map((r) => option(`#/e/${enc(r.experiment_id)}/r/${r.run_id}`, "run",
          el("span", { class: "search-kind" }, "run"), " ", el("code", {}, r.run_id), " ",
          el("span", { class: `status ${r.status}` }, r.status), " ", el("span", { class: "muted" }, `${r.experiment_name} · ${paramsText(r)}`))));
      const count = data.experiments.length + data.runs.length;
      status.textContent = count
        ? `${data.experiments.length} experiment${data.experiments.length === 1 ? "" : "s"}, ${data.runs.length} run${data.runs.length === 1 ? "" : "s"}${data.truncated ? " (the first ones)" : ""}`
        : `Nothing matches “${q}”.`;
      mark(0);
    };
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(run, 150); });
    input.addEventListener("keydown", (e) => {
      if (e.key === "ArrowDown") { e.preventDefault(); mark(active + 1); }
      else if (e.key === "ArrowUp") { e.preventDefault(); mark(active - 1); }
      else if (e.key === "Enter" && active >= 0) { e.preventDefault(); const a = items()[active]; close(); location.hash = a.getAttribute("href"); }
    });
  }

  function go(where) {
    if (where === "e") { location.hash = "#/"; return; }
    const id = currentExperiment() || lastExperiment;
    if (!id) { showSearch(); return; }
    const tail = { r: "", p: "/plot", c: "/curves", h: "/histogram" }[where];
    location.hash = `#/e/${enc(id)}${tail}`;
  }

  document.addEventListener("keydown", (e) => {
    trap(e);
    if (e.key === "Escape" && open) { e.preventDefault(); close(); return; }
    if (open || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
    if (pendingG && Date.now() - pendingG < 1500 && ["e", "r", "p", "c", "h"].includes(e.key)) {
      pendingG = 0; e.preventDefault(); go(e.key); return;
    }
    pendingG = 0;
    if (e.key === "/") { e.preventDefault(); showSearch(); }
    else if (e.key === "?") { e.preventDefault(); showShortcuts(); }
    else if (e.key === "g") pendingG = Date.now();
  });
  window.addEventListener("hashchange", () => { lastExperiment = currentExperiment() || lastExperiment; });
  window.addEventListener("DOMContentLoaded", () => {
    lastExperiment = currentExperiment();
    const button = document.getElementById("search-button");
    if (button) button.addEventListener("click", showSearch);
    const help = document.getElementById("keys-button");
    if (help) help.addEventListener("click", showShortcuts);
  });
  window.AtlasKeys = { showSearch, showShortcuts, close };
})();
