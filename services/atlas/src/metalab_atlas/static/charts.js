"use strict";
// Charts on uPlot (static/vendor/): readable axes (tick labels measured, never clipped),
// the Okabe–Ito colour-blind-safe palette with a dash pattern per series, and a legend of
// our own that highlights a series on hover and hides it on click. Exposes window.Charts.

(() => {
  // Okabe & Ito (2008), yellow last: it reads worst on white.
  const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"];
  const DASHES = [[], [8, 4], [2, 3], [10, 3, 2, 3]];
  const FONT = "12px system-ui, sans-serif";
  const INTEGER_STEPS = [1, 2, 5].flatMap((m) => [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8].map((p) => m * p)).sort((a, b) => a - b);
  const color = (i) => PALETTE[i % PALETTE.length];
  const dash = (i) => DASHES[i % DASHES.length]; // with 8 colours: 8 distinct pairs
  const fade = (hex, alpha) => hex + Math.round(alpha * 255).toString(16).padStart(2, "0");

  function tick(value) {
    if (value === null || value === undefined) return "";
    const abs = Math.abs(value);
    if (abs !== 0 && (abs >= 1e5 || abs < 1e-3)) return value.toExponential(2).replace(/\.?0+e/, "e");
    return String(Number(value.toPrecision(6)));
  }

  // 1, 2, …, 9 times a power of ten: the log axis labels those (not its range's ends).
  function decadeMultiple(v) {
    if (!(v > 0)) return false;
    const m = v / Math.pow(10, Math.floor(Math.log10(v) + 1e-9));
    return Math.abs(m - Math.round(m)) < 1e-6;
  }

  // The axis's width in px: its widest tick label plus tick and gap (uPlot asks per redraw).
  function axisSize(u, values, axisIdx, cycleNum) {
    const axis = u.axes[axisIdx];
    if (axis.side % 2 === 0) return axis.ticks.size + axis.gap + 18 + (axis.label ? 22 : 0); // horizontal
    if (cycleNum > 1) return axis._size;
    let size = axis.ticks.size + axis.gap + (axis.label ? 22 : 0);
    const longest = (values || []).reduce((a, v) => (String(v).length > a.length ? String(v) : a), "");
    if (longest) {
      u.ctx.font = axis.font[0];
      size += u.ctx.measureText(longest).width / devicePixelRatio;
    }
    return Math.ceil(size) + 4;
  }

  function svgSwatch(i) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("width", "28"); svg.setAttribute("height", "10"); svg.setAttribute("class", "swatch");
    const line = document.createElementNS(ns, "line");
    for (const [k, v] of Object.entries({ x1: 1, y1: 5, x2: 27, y2: 5, stroke: color(i), "stroke-width": 3 })) line.setAttribute(k, v);
    if (dash(i).length) line.setAttribute("stroke-dasharray", dash(i).join(" "));
    svg.append(line);
    return svg;
  }

  // entries: [{label, seriesIdx: [uPlot series indexes], colorIdx}]; valueOf(entry, dataIdx) -> text
  function legend(u, entries, valueOf) {
    const box = document.createElement("div");
    box.className = "legend";
    const items = entries.map((entry, n) => {
      const value = document.createElement("span");
      value.className = "legend-value";
      const label = document.createElement("span");
      label.className = "legend-label";
      label.textContent = entry.label;
      const item = document.createElement("span");
      item.className = "legend-item";
      item.dataset.entry = String(n);
      item.dataset.label = entry.label;
      item.append(svgSwatch(entry.colorIdx), label, value);
      item.addEventListener("mouseenter", () => { u.atlasLegendHover = true; focus(n); });
      item.addEventListener("mouseleave", () => { u.atlasLegendHover = false; focus(null); });
      item.addEventListener("click", () => {
        const off = !item.classList.toggle("off");
        for (const s of entry.seriesIdx) u.setSeries(s, { show: off });
        u.redraw();
      });
      box.append(item);
      return { item, value };
    });
    function focus(n) {
      items.forEach((it, k) => it.item.classList.toggle("focused", n === k));
      box.classList.toggle("focusing", n !== null);
      u.series.forEach((s, idx) => {
        if (idx === 0) return;
        const owner = entries.findIndex((e) => e.seriesIdx.includes(idx));
        s.alpha = n === null || owner === n ? 1 : 0.15;
      });
      u.redraw(false);
    }
    u.atlasFocus = focus;
    u.atlasLegendUpdate = (dataIdx) => items.forEach((it, n) => {
      it.value.textContent = dataIdx === null || dataIdx === undefined ? "" : valueOf(entries[n], dataIdx);
    });
    return box;
  }

  // Makes a chart in `host` (a div): opts.x {label, values?, splits?, log?, range?},
  // opts.y {label, log}, opts.series [{label, data, colorIdx, width, alpha, points, band,
  // fill (an opacity), steps (a histogram's outline: each value held to the next x)}],
  // opts.entries for the legend, opts.valueOf, opts.hooks (extra uPlot hooks), opts.height.
  // host.sharedRanges {x: [min, max], y: [min, max]}: fixed axes shared with other charts
  // (small multiples).
  function chart(host, opts) {
    const width = Math.max(320, host.clientWidth || 720);
    const fixed = host.sharedRanges || null;
    const series = [{ label: opts.x.label }];
    const bands = [];
    const data = [opts.xs];
    for (const s of opts.series) {
      const idx = series.length;
      series.push({
        label: s.label,
        stroke: s.stroke === null ? undefined : fade(color(s.colorIdx), s.alpha === undefined ? 1 : s.alpha),
        width: s.width === undefined ? 2 : s.width,
        dash: s.dash === false ? undefined : dash(s.colorIdx),
        spanGaps: true,
        points: s.points ? { show: true, size: 7, fill: color(s.colorIdx), stroke: color(s.colorIdx) } : { show: false },
        fill: s.fill ? fade(color(s.colorIdx), s.fill) : undefined,
        paths: s.steps ? uPlot.paths.stepped({ align: 1 }) : undefined,
      });
      data.push(s.data);
      if (s.bandWith !== undefined) bands.push({ series: [idx, s.bandWith], fill: fade(color(s.colorIdx), 0.18) });
    }
    const yLog = !!opts.y.log;
    const options = {
      width,
      height: opts.height || 380,
      series,
      bands,
      legend: { show: false },
      cursor: { drag: { x: true, y: true, uni: 40 }, focus: { prox: 24 }, points: { size: 7 } },
      focus: { alpha: 0.2 },
      scales: {
        x: { time: false, distr: opts.x.log ? 3 : 1, range: fixed ? fixed.x : opts.x.range },
        // log: the data's own range (uPlot would widen it to whole decades)
        y: yLog ? { distr: 3, range: fixed ? fixed.y : (_u, min, max) => [min / 1.15, max * 1.15] }
          : { distr: 1, range: fixed ? fixed.y : undefined },
      },
      axes: [
        { label: opts.x.label, font: FONT, labelFont: FONT, size: axisSize, labelSize: 22, space: 60, gap: 6,
          incrs: opts.x.integer ? INTEGER_STEPS : undefined,
          values: opts.x.values || ((_u, splits) => splits.map(tick)), splits: opts.x.splits,
          grid: { stroke: "#e3e7ec" } },
        { label: opts.y.label, font: FONT, labelFont: FONT, size: axisSize, labelSize: 22, space: 32, gap: 6,
          incrs: opts.y.integer ? INTEGER_STEPS : undefined,
          values: (_u, splits) => splits.map((v) => (yLog && !decadeMultiple(v) ? "" : tick(v))),
          grid: { stroke: "#e3e7ec" } },
      ],
      hooks: {
        setCursor: [(u) => { if (u.atlasLegendUpdate) u.atlasLegendUpdate(u.cursor.idx); }],
        setSeries: [(u, idx) => { // the cursor came near a line: mark its legend entry
          if (!u.atlasFocus || u.atlasLegendHover) return;
          const owner = idx === null ? null : opts.entries.findIndex((e) => e.seriesIdx.includes(idx));
          const box = u.root.parentElement.querySelector(".legend");
          box.querySelectorAll(".legend-item").forEach((el, k) => el.classList.toggle("focused", owner === k));
          box.classList.toggle("focusing", owner !== null && owner >= 0);
        }],
        ...(opts.hooks || {}),
      },
    };
    host.replaceChildren();
    const wrap = document.createElement("div");
    wrap.className = "chart";
    host.append(wrap);
    const u = new uPlot(options, data, wrap);
    wrap.append(legend(u, opts.entries, opts.valueOf || (() => "")));
    host.uplot = u;
    return u;
  }

  window.Charts = { PALETTE, color, dash, tick, chart, fade };
})();
